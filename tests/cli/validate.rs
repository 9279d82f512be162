//! `lmdiskann validate`: sound files pass, every kind of damage is listed with exit 1,
//! files that are not indexes exit 2, and validate never changes a file.

use lmdiskann::io::write_vectors_parquet;
use serde_json::Value;

use crate::util::{text, Workdir};

/// Runs validate with `args` (plus `--json`) and returns its exit code and report.
fn validate(w: &Workdir, index: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["validate", "--index", index, "--json"];
    all.extend(args);
    let out = w.cmd(&all).output().expect("run lmdiskann");
    let stdout = text(&out.stdout);
    assert!(!text(&out.stderr).contains("panicked"), "validate panicked: {}", text(&out.stderr));
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("validate --json printed no JSON ({e}): {stdout}"));
    (out.status.code().expect("exit code"), report)
}

fn problems(report: &Value) -> Vec<String> {
    report["problems"].as_array().expect("problems").iter().map(|p| p.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_sound_index_passes_against_its_input_with_good_sampled_recall() {
    let w = Workdir::new();
    w.dataset(2000, 16, 1);
    w.ok(&["build", "--input", "vectors.parquet", "--store", "f16"]);
    let (code, report) = validate(&w, "index.lmd", &["--against", "vectors.parquet", "--recall-sample", "200"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["sound"], true);
    assert_eq!(report["live"], 2000);
    assert_eq!(report["unreachable"], 0);
    let against = &report["against"];
    assert_eq!(
        (against["rows"].as_u64(), against["missing"].as_u64(), against["differing"].as_u64(), against["extra"].as_u64()),
        (Some(2000), Some(0), Some(0), Some(0)),
        "{report}"
    );
    let recall = report["recall_sample"]["recall"].as_f64().unwrap();
    assert_eq!(report["recall_sample"]["queries"], 200);
    assert!(recall >= 0.95, "sampled recall@10 {recall}");
    let text = w.ok(&["validate", "--index", "index.lmd"]);
    assert!(text.trim_end().ends_with("sound"), "{text}");
}

#[test]
fn against_lists_missing_differing_and_extra_rows() {
    let w = Workdir::new();
    let (mut base, _) = w.dataset(600, 8, 1);
    w.ok(&["build", "--input", "vectors.parquet", "--store", "f16"]);
    w.ok(&["delete", "--rowids", "5,6,7"]);
    // The table as the index should now hold it, with one vector changed by more than f16
    // rounding and one by less (the same f16 value: not a difference).
    base.data[10 * 8] += 0.5;
    base.data[11 * 8] += 1e-6;
    let mut rows = base.clone();
    rows.rowids = base.rowids.iter().copied().filter(|r| ![5, 6, 7, 20].contains(r)).collect();
    rows.data =
        base.rowids.iter().zip(base.data.chunks(8)).filter(|(r, _)| ![5, 6, 7, 20].contains(*r)).flat_map(|(_, v)| v.to_vec()).collect();
    rows.rowids.push(9999);
    rows.data.extend_from_slice(base.vector(0));
    write_vectors_parquet(&w.path("table.parquet"), &rows, true).unwrap();
    let (code, report) = validate(&w, "index.lmd", &["--against", "table.parquet"]);
    assert_eq!(code, 1, "{report}");
    let against = &report["against"];
    assert_eq!(against["missing"], 1, "{report}");
    assert_eq!(against["differing"], 1, "{report}");
    assert_eq!(against["extra"], 1, "{report}");
    let listed = problems(&report).join("\n");
    for expected in [
        "rowid 9999 of the input is not in the index",
        "rowid 10: the stored vector differs",
        "1 live row of the index is not in the input",
    ] {
        assert!(listed.contains(expected), "{expected:?} not in {listed}");
    }
}

#[test]
fn damage_is_listed_with_exit_1_and_the_file_is_left_as_it_was() {
    let w = Workdir::new();
    w.dataset(500, 8, 1);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let stats: Value = serde_json::from_str(&w.ok(&["stats", "--json"])).unwrap();
    let block = stats["block_size"].as_u64().unwrap() as usize;
    let original = std::fs::read(w.path("index.lmd")).unwrap();
    // (what, byte offset, expected problem)
    let cases = [
        ("header field", 50, "header checksum mismatch"),
        ("node vector", block * 4 + 40, "slot 3: block checksum mismatch"),
        ("last block", original.len() - 7, "block checksum mismatch"),
    ];
    for (what, at, expected) in cases {
        let mut damaged = original.clone();
        damaged[at] ^= 0x10;
        std::fs::write(w.path("damaged.lmd"), &damaged).unwrap();
        let (code, report) = validate(&w, "damaged.lmd", &[]);
        assert_eq!(code, 1, "{what}: {report}");
        assert_eq!(report["sound"], false, "{what}");
        assert!(problems(&report).iter().any(|p| p.contains(expected)), "{what}: {expected:?} not in {report}");
        assert!(std::fs::read(w.path("damaged.lmd")).unwrap() == damaged, "{what}: validate changed the file");
    }
    // A truncated file: its geometry no longer adds up.
    std::fs::write(w.path("short.lmd"), &original[..original.len() - block]).unwrap();
    let (code, report) = validate(&w, "short.lmd", &[]);
    assert_eq!(code, 1, "{report}");
    assert!(problems(&report).iter().any(|p| p.contains("truncated")), "{report}");
}

#[test]
fn files_that_are_not_indexes_exit_2() {
    let w = Workdir::new();
    w.dataset(50, 4, 1);
    std::fs::write(w.path("empty.lmd"), b"").unwrap();
    for index in ["missing.lmd", "vectors.parquet", "empty.lmd"] {
        let err = w.fails(&["validate", "--index", index]);
        assert!(err.contains(index), "{err}");
    }
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_stats_and_validate_quietly() {
    let w = Workdir::new();
    w.dataset(300, 8, 1);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    for args in [&["stats", "--index", "x.lmd"][..], &["stats", "--index", "x.lmd", "--json"], &["validate", "--index", "x.lmd"]] {
        // The read end closes before the command has opened the index, so its first write
        // meets a closed pipe (`lmdiskann stats | head -0`).
        let mut child = w.cmd(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked") && out.status.code() != Some(101), "{args:?}: {stderr}");
    }
}
