//! `lmdiskann shard plan | build | merge`: the steps of a partitioned build as separate
//! processes, and what each refuses.

use std::process::Stdio;

use crate::util::{text, Workdir};

/// A budget that forces 20,000 x 32 vectors into partitions (a one-shot build needs ~15 MiB).
const SMALL_BUDGET: &str = "12MiB";

fn files(w: &Workdir, dir: &str) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(w.path(dir)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn the_steps_run_as_separate_processes_write_the_file_the_one_command_build_writes() {
    let w = Workdir::new();
    w.dataset(20_000, 32, 0);
    w.ok(&["build", "--input", "vectors.parquet", "-o", "one.lmd", "--max-memory", SMALL_BUDGET, "--threads", "2"]);

    let parts = w.ok(&["shard", "plan", "plan", "--input", "vectors.parquet", "--max-memory", SMALL_BUDGET, "--threads", "1"]);
    let parts: Vec<&str> = parts.lines().collect();
    assert!(parts.len() > 3, "{parts:?}");
    assert_eq!(parts, (0..parts.len()).map(|p| p.to_string()).collect::<Vec<_>>());
    let planned = files(&w, "plan");
    assert!(planned.contains(&"plan.json".to_string()) && planned.iter().all(|f| !f.ends_with(".graph")), "{planned:?}");

    // Every partition in its own process, two at a time, with different thread counts, in reverse.
    for pair in parts.rchunks(2) {
        let children: Vec<_> = pair
            .iter()
            .enumerate()
            .map(|(i, part)| {
                w.cmd(&["shard", "build", "plan", "--part", part, "--threads", if i == 0 { "1" } else { "2" }])
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(text(&out.stderr).starts_with("built partition "), "{}", text(&out.stderr));
        }
    }
    w.ok(&["shard", "merge", "plan", "-o", "two.lmd", "--report", "merge.json"]);
    assert!(std::fs::read(w.path("one.lmd")).unwrap() == std::fs::read(w.path("two.lmd")).unwrap(), "the steps wrote another file");
    w.ok(&["validate", "--index", "two.lmd", "--against", "vectors.parquet"]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("merge.json")).unwrap()).unwrap();
    assert_eq!(report["partitions"].as_u64(), Some(parts.len() as u64), "{report}");
    assert_eq!(report["vectors"].as_u64(), Some(20_000), "{report}");

    // The merge leaves the folder as the workers left it, and can run again.
    let mut built = planned.clone();
    built.extend(parts.iter().map(|p| format!("part-{p}.graph")));
    built.sort();
    assert_eq!(files(&w, "plan"), built);
    w.ok(&["shard", "merge", "plan", "-o", "three.lmd"]);
    assert!(std::fs::read(w.path("one.lmd")).unwrap() == std::fs::read(w.path("three.lmd")).unwrap());
}

#[test]
fn each_step_refuses_what_does_not_belong_to_its_plan_and_writes_nothing() {
    let w = Workdir::new();
    w.dataset(3_000, 16, 0);
    // A plan splits even when one piece would fit: at least 3 partitions.
    let parts = w.ok(&["shard", "plan", "a", "--input", "vectors.parquet"]).lines().count();
    assert!(parts >= 3, "{parts} partitions");
    let stderr = w.fails(&["shard", "plan", "a", "--input", "vectors.parquet"]);
    assert!(stderr.contains("a: already exists"), "{stderr}");
    let stderr = w.fails(&["shard", "plan", "b", "--input", "missing.parquet"]);
    assert!(stderr.contains("missing.parquet"), "{stderr}");
    assert!(!w.path("b").exists(), "a failed plan left its folder");
    let stderr = w.fails(&["shard", "build", "nowhere", "--part", "0"]);
    assert!(stderr.contains("nowhere/plan.json: no plan here"), "{stderr}");

    let last = (parts - 1).to_string();
    let stderr = w.fails(&["shard", "build", "a", "--part", &parts.to_string()]);
    assert!(stderr.contains(&format!("--part {parts}: the plan in a has partitions 0 to {last} only")), "{stderr}");
    for part in 1..parts {
        w.ok(&["shard", "build", "a", "--part", &part.to_string()]);
    }
    w.ok(&["build", "--input", "vectors.parquet", "-o", "x.lmd"]);
    let before = std::fs::read(w.path("x.lmd")).unwrap();
    let stderr = w.fails(&["shard", "merge", "a", "-o", "x.lmd"]);
    assert!(stderr.contains("a/part-0.graph: partition 0 has no graph yet; build it (`lmdiskann shard build a --part 0`)"), "{stderr}");
    assert!(std::fs::read(w.path("x.lmd")).unwrap() == before);

    // A vector file damaged on its way to a worker.
    let vectors = w.path("a/part-0.f32");
    let good = std::fs::read(&vectors).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    std::fs::write(&vectors, &bad).unwrap();
    let stderr = w.fails(&["shard", "build", "a", "--part", "0"]);
    assert!(stderr.contains("a/part-0.f32: its vectors are not the plan's"), "{stderr}");
    std::fs::write(&vectors, &bad[..bad.len() - 4]).unwrap();
    let stderr = w.fails(&["shard", "build", "a", "--part", "0"]);
    assert!(stderr.contains("a/part-0.f32: holds"), "{stderr}");
    assert!(!w.path("a/part-0.graph").exists());
    std::fs::write(&vectors, &good).unwrap();

    // A graph a killed worker cut short, then one built for another plan (another seed).
    w.ok(&["shard", "build", "a", "--part", "0"]);
    let graph = std::fs::read(w.path("a/part-0.graph")).unwrap();
    std::fs::write(w.path("a/part-0.graph"), &graph[..graph.len() / 2]).unwrap();
    let stderr = w.fails(&["shard", "merge", "a", "-o", "x.lmd"]);
    assert!(stderr.contains("a/part-0.graph: is cut short"), "{stderr}");
    w.ok(&["shard", "plan", "c", "--input", "vectors.parquet", "--seed", "7"]);
    w.ok(&["shard", "build", "c", "--part", "0"]);
    std::fs::copy(w.path("c/part-0.graph"), w.path("a/part-0.graph")).unwrap();
    let stderr = w.fails(&["shard", "merge", "a", "-o", "x.lmd"]);
    assert!(stderr.contains("a/part-0.graph: was built for another plan"), "{stderr}");
    assert!(std::fs::read(w.path("x.lmd")).unwrap() == before, "a failed merge changed the index");
    assert!(files(&w, "a").iter().all(|f| f != "graph.u32" && f != "codes.bytes"), "a failed merge left its files");

    // An existing index is replaced only by a merge that succeeds.
    std::fs::write(w.path("a/part-0.graph"), &graph).unwrap();
    w.ok(&["shard", "merge", "a", "-o", "x.lmd"]);
    assert!(std::fs::read(w.path("x.lmd")).unwrap() != before);
    w.ok(&["validate", "--index", "x.lmd", "--against", "vectors.parquet"]);
}
