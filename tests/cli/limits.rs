//! Arguments far beyond what an index holds: -k and -L are clamped to the index, memory
//! stays small, and values no index could hold are refused naming the flag.

use std::process::Command;

use lmdiskann::io::read_groundtruth;
use serde_json::Value;

use crate::util::{check_failure, parse_hits, text, Workdir};

/// Address space a limited run may take: far above what these commands need, far below
/// what a buffer sized by a huge k or L would.
const ADDRESS_SPACE_KIB: u64 = 1 << 20;
/// The peak resident memory allowed.
const PEAK_RSS: u64 = 200 << 20;

/// `lmdiskann ARGS` in `w` with its address space limited, so that a buffer sized by an
/// argument fails at once rather than only when touched.
fn limited(w: &Workdir, args: &[&str]) -> Command {
    let plain = w.cmd(args);
    let mut cmd = Command::new("sh");
    cmd.current_dir(w.root())
        .args(["-c", &format!("ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\"")])
        .arg(plain.get_program())
        .args(plain.get_args())
        .env_remove("LMDISKANN_INDEX")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    cmd
}

/// Runs `args` limited and expects success; returns stdout.
fn ok_limited(w: &Workdir, args: &[&str]) -> String {
    let out = limited(w, args).output().expect("run lmdiskann");
    assert!(out.status.success(), "lmdiskann {args:?}: {:?}\nstderr: {}", out.status, text(&out.stderr));
    text(&out.stdout)
}

/// A 100-row index of 8 dims and 5 queries.
fn small_index() -> Workdir {
    let w = Workdir::new();
    w.dataset(100, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet"]);
    w
}

#[test]
fn k_and_l_beyond_the_index_return_every_row_in_little_memory() {
    let w = small_index();
    let all = parse_hits(&w.ok(&["search", "--query", "q.fvecs", "-k", "100", "-L", "100"]));
    assert!(all.iter().all(|hits| hits.len() == 100), "a 100-row index returns 100 hits");
    for args in [["-k", "100000000"], ["-k", "10000000"], ["-L", "10000000"], ["-k", "1000"]] {
        let mut all_args = vec!["search", "--query", "q.fvecs", "--report", "report.json", "--threads", "2"];
        all_args.extend(args);
        let hits = parse_hits(&ok_limited(&w, &all_args));
        let report: Value = serde_json::from_str(&std::fs::read_to_string(w.path("report.json")).unwrap()).unwrap();
        let peak = report["peak_rss_bytes"].as_u64().expect("peak_rss_bytes");
        assert!(peak < PEAK_RSS, "{args:?}: peak RSS {peak} bytes");
        if args[0] == "-k" {
            assert_eq!(hits.len(), 5, "{args:?}");
            assert_eq!(hits, all, "{args:?}: every row, in the order -k 100 -L 100 gives");
            assert_eq!((report["k"].as_u64(), report["search_list"].as_u64()), (Some(100), Some(100)), "{args:?}: {report}");
        } else {
            assert!(hits.iter().all(|h| h.len() == 10), "{args:?}");
            assert_eq!(report["search_list"], 100, "{args:?}: {report}");
        }
    }
}

#[test]
fn groundtruth_and_tune_with_huge_k_and_lists_stay_small() {
    let w = small_index();
    ok_limited(&w, &["groundtruth", "--input", "vectors.parquet", "-q", "q.fvecs", "-k", "100000000", "-o", "gt.ivecs"]);
    let truth = read_groundtruth(&w.path("gt.ivecs")).unwrap();
    assert_eq!(truth.len(), 5);
    assert!(truth.iter().all(|row| row.len() == 100), "every query lists all 100 rows");
    let out = ok_limited(&w, &["tune", "-q", "q.fvecs", "--groundtruth", "gt.ivecs", "--lists", "100000000,300", "--report", "tune.json"]);
    assert!(out.contains("smallest L with recall@10 >= 0.95: 100"), "{out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(w.path("tune.json")).unwrap()).unwrap();
    assert_eq!(report["sweep"].as_array().map(Vec::len), Some(1), "both lists are the whole index: run once: {report}");
    // Recall at -k 1000 is judged on the 100 rows there are.
    let out = w.cmd(&["search", "-q", "q.fvecs", "--groundtruth", "gt.ivecs", "-k", "1000"]).output().unwrap();
    assert!(out.status.success() && text(&out.stderr).contains("recall@100 1.0000"), "{}", text(&out.stderr));
}

#[test]
fn counts_no_index_can_hold_are_refused_naming_the_flag() {
    let w = small_index();
    let before = std::fs::read(w.path("index.lmd")).unwrap();
    let huge = "5000000000";
    for (args, flag) in [
        (vec!["search", "-q", "q.fvecs", "-k", huge], "-k"),
        (vec!["search", "-q", "q.fvecs", "-L", huge], "--search-list"),
        (vec!["search", "-q", "q.fvecs", "--beam-width", huge], "--beam-width"),
        (vec!["tune", "-q", "q.fvecs", "--groundtruth", "gt.ivecs", "--lists", &format!("8,{huge}")], "--lists"),
        (vec!["tune", "-q", "q.fvecs", "--groundtruth", "gt.ivecs", "-k", huge], "-k"),
        (vec!["groundtruth", "--input", "vectors.parquet", "-q", "q.fvecs", "-k", huge, "-o", "gt.ivecs"], "-k"),
    ] {
        let out = limited(&w, &args).output().unwrap();
        check_failure(&out, &args);
        let err = text(&out.stderr);
        assert!(err.starts_with(&format!("lmdiskann: {flag} {huge} is more than any index can hold")), "{args:?}: {err}");
        assert_eq!(std::fs::read(w.path("index.lmd")).unwrap(), before, "{args:?} changed the index");
        assert!(!w.path("gt.ivecs").exists(), "{args:?} wrote a file");
    }
}
