//! What commands report and where they write: validate's extra rows, stats' numbers,
//! build's memory figures, the demo's index.

use lmdiskann::io::write_vectors_parquet;
use serde_json::Value;

use crate::util::{text, Workdir};

#[test]
fn validate_against_lists_the_smallest_extra_rows() {
    let w = Workdir::new();
    let (base, _) = w.dataset(300, 8, 1);
    w.ok(&["build", "--input", "vectors.parquet"]);
    // The table without seven of the index's rows.
    let gone = [3, 40, 41, 100, 150, 200, 299];
    let mut table = base.clone();
    table.rowids.clear();
    table.data.clear();
    for (i, rowid) in base.rowids.iter().enumerate().filter(|(_, r)| !gone.contains(r)) {
        table.rowids.push(*rowid);
        table.data.extend_from_slice(base.vector(i));
    }
    write_vectors_parquet(&w.path("table.parquet"), &table, true).unwrap();
    let out = w.cmd(&["validate", "--against", "table.parquet", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["against"]["extra"], 7, "{report}");
    let problems: Vec<&str> = report["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let listed: Vec<&str> = problems.iter().copied().filter(|p| p.ends_with("of the index is not in the input")).collect();
    // The five smallest extra rowids are listed, in order.
    let expected: Vec<String> = gone[..5].iter().map(|r| format!("rowid {r} of the index is not in the input")).collect();
    assert_eq!(listed, expected, "{problems:?}");
    assert!(problems.contains(&"... 2 more extra rows"), "{problems:?}");
}

#[test]
fn stats_json_prints_f32_settings_as_written() {
    let w = Workdir::new();
    w.dataset(200, 8, 1);
    w.ok(&["build", "--input", "vectors.parquet", "--store", "i8", "--alpha", "1.3"]);
    let json = w.ok(&["stats", "--json"]);
    assert!(json.contains("\"alpha\": 1.3,"), "{json}");
    let stats: Value = serde_json::from_str(&json).unwrap();
    let scale = stats["element_scale"].as_f64().expect("an i8 index has a scale");
    let printed = json.lines().find(|l| l.contains("\"element_scale\"")).unwrap().trim().trim_end_matches(',').to_string();
    assert_eq!(printed, format!("\"element_scale\": {}", scale as f32), "the f32's shortest decimal: {json}");
}

#[test]
fn build_reports_its_own_memory_apart_from_file_pages() {
    let w = Workdir::new();
    w.dataset(2000, 32, 1);
    let out = w.cmd(&["build", "--input", "vectors.parquet", "--report", "build.json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stderr);
    assert!(line.contains("peak memory ") && line.contains(" of file pages)"), "{line}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(w.path("build.json")).unwrap()).unwrap();
    let field = |name: &str| report[name].as_u64().unwrap_or_else(|| panic!("{name} missing: {report}"));
    let (rss, anon, file) = (field("peak_rss_bytes"), field("peak_anon_rss_bytes"), field("peak_file_rss_bytes"));
    // The 2000 vectors alone hold 250 KiB; the sampled peaks are parts of the whole peak.
    assert!(anon > 256 << 10 && file > 0, "{report}");
    assert!(anon <= rss && file <= rss, "{report}");
}

#[test]
fn demo_writes_its_index_where_index_says() {
    let w = Workdir::new();
    let out = w.ok(&["demo", "--n", "300", "--dims", "8", "--queries", "10", "--dir", "d", "--index", "mine.lmd"]);
    assert!(out.contains("built mine.lmd"), "{out}");
    assert!(!w.path("d/index.lmd").exists(), "the index went to the demo folder");
    let stats: Value = serde_json::from_str(&w.ok(&["stats", "--index", "mine.lmd", "--json"])).unwrap();
    assert_eq!(stats["live"], 300);
    // LMDISKANN_INDEX names the user's own index: the demo leaves it alone.
    let out = w
        .cmd(&["demo", "--n", "300", "--dims", "8", "--queries", "10", "--dir", "e"])
        .env("LMDISKANN_INDEX", "theirs.lmd")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(w.path("e/index.lmd").exists() && !w.path("theirs.lmd").exists());
}
