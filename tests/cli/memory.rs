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

/// A budget that forces 20,000 x 32 vectors into partitions (a one-shot build needs ~15 MiB).
const SMALL_BUDGET: &str = "12MiB";

fn report(w: &Workdir, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(w.path(name)).unwrap()).unwrap()
}

#[test]
fn a_build_beyond_its_budget_runs_in_partitions_sound_the_same_for_any_thread_count_and_leaves_nothing() {
    let w = Workdir::new();
    w.dataset(20_000, 32, 50);
    let plan = w.ok(&["build", "--input", "vectors.parquet", "--dry-run", "--max-memory", SMALL_BUDGET]);
    assert!(plan.contains("strategy       partitioned:") && plan.contains("temporary disk"), "{plan}");
    for (threads, out) in [("1", "one.lmd"), ("2", "two.lmd")] {
        let report_name = format!("{out}.json");
        w.ok(&[
            "build",
            "--input",
            "vectors.parquet",
            "-o",
            out,
            "--max-memory",
            SMALL_BUDGET,
            "--threads",
            threads,
            "--report",
            &report_name,
        ]);
        let r = report(&w, &report_name);
        assert!(r["partitions"].as_u64().unwrap() > 1, "{r}");
        // Each partition's graph measured on codes of its rows, read from the mapped points.
        let measures = r["graph_distances"].as_array().unwrap();
        assert_eq!(measures.len() as u64, r["partitions"].as_u64().unwrap(), "{r}");
        assert!(measures.iter().all(|m| m.as_str().unwrap().contains("-bit codes in steps of")), "{r}");
        assert!(r["temp_bytes"].as_u64().unwrap() > 0, "{r}");
        for phase in ["read", "sample", "partition", "partition graphs", "merge", "write"] {
            assert!(r["phase_seconds"][phase].as_f64().is_some(), "no {phase} in {r}");
        }
        // The process's own memory as sampled (a lower bound of its true peak) within the budget.
        let peak = r["peak_anon_rss_bytes"].as_u64().unwrap();
        assert!(peak <= 12 << 20, "peak own memory {peak} over the 12 MiB budget");
    }
    assert!(std::fs::read(w.path("one.lmd")).unwrap() == std::fs::read(w.path("two.lmd")).unwrap(), "threads changed the file");
    w.ok(&["validate", "--index", "one.lmd", "--against", "vectors.parquet"]);
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "10", "--output", "gt.ivecs"]);
    w.ok(&[
        "search",
        "--index",
        "one.lmd",
        "--query",
        "q.fvecs",
        "-k",
        "10",
        "-L",
        "64",
        "--groundtruth",
        "gt.ivecs",
        "--min-recall",
        "0.95",
        "-o",
        "/dev/null",
        "--format",
        "csv",
    ]);
    let mut left: Vec<String> =
        std::fs::read_dir(w.root()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["gt.ivecs", "one.lmd", "one.lmd.json", "q.fvecs", "two.lmd", "two.lmd.json", "vectors.parquet"]);
}

#[test]
fn a_partitioned_build_killed_midway_leaves_the_old_index_and_the_next_build_removes_its_folder() {
    let w = Workdir::new();
    w.dataset(20_000, 32, 50);
    w.ok(&["build", "--input", "q.fvecs", "-o", "x.lmd"]);
    let before = std::fs::read(w.path("x.lmd")).unwrap();
    let mut child = w
        .cmd(&["build", "--input", "vectors.parquet", "-o", "x.lmd", "--max-memory", SMALL_BUDGET])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once its graphs are being built: the folder then holds the spilled vectors.
    let folder = w.path("x.lmd.build");
    let started = std::time::Instant::now();
    while !folder.join("part-0.ids").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the build ended before it could be killed");
        assert!(started.elapsed().as_secs() < 120, "no partition files after 2 minutes");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(std::fs::read(w.path("x.lmd")).unwrap() == before, "a killed build changed the index");
    assert!(folder.exists(), "kill -9 cannot clean up: the folder should still be there");
    let out = w.cmd(&["build", "--input", "q.fvecs", "-o", "x.lmd"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("removed") && text(&out.stderr).contains("x.lmd.build"), "{}", text(&out.stderr));
    assert!(!folder.exists(), "the next build left the folder");
}
