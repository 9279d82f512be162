//! Builds within a memory budget: `--max-memory`, and the plan `--dry-run` shows for it.

use crate::util::{text, Workdir};

#[test]
fn max_memory_takes_sizes_in_common_units_and_refuses_anything_else() {
    let w = Workdir::new();
    w.dataset(300, 16, 1);
    for bad in ["lots", "12XB", "0", "-1GiB", "1e9"] {
        let flag = format!("--max-memory={bad}");
        let out = w.cmd(&["build", "--input", "vectors.parquet", &flag]).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--max-memory") && stderr.contains("512MiB"), "{bad}: {stderr}");
        assert!(!w.path("index.lmd").exists(), "{bad}: built anyway");
    }
    for good in ["64MiB", "1.5GB", "2g", "300000000"] {
        let plan = w.ok(&["build", "--input", "vectors.parquet", "--dry-run", "--max-memory", good]);
        assert!(plan.contains("(--max-memory)") && plan.contains("strategy       one-shot"), "{good}: {plan}");
    }
}

#[test]
fn dry_run_budgets_half_the_available_memory_by_default() {
    let w = Workdir::new();
    w.dataset(300, 16, 1);
    let plan = w.ok(&["build", "--input", "vectors.parquet", "--dry-run"]);
    assert!(plan.contains("memory budget") && plan.contains("half of what is available now"), "{plan}");
    assert!(plan.contains("strategy       one-shot: every vector and the whole graph in memory"), "{plan}");
}
