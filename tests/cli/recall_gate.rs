//! Ground truth, the recall gate and tune, through the CLI.

use std::path::Path;

use lmdiskann::io::{read_groundtruth, write_fvecs, write_vectors_parquet};
use lmdiskann::rng::Rng;
use lmdiskann::VectorSet;
use serde_json::Value;

use crate::util::{text, Workdir};

/// Integer-valued vectors with repeats, under rowids in shuffled order: exact ties are
/// common, so the tie rule (smaller rowid first) is exercised.
fn tie_heavy_set(n: usize, dims: usize, seed: u64) -> VectorSet {
    let mut rng = Rng::new(seed);
    let mut data: Vec<f32> = (0..n * dims).map(|_| rng.below(7) as f32 - 3.0).collect();
    // Every vector is nonzero (cosine needs it), and a fifth of them are repeats.
    for v in data.chunks_mut(dims) {
        v[0] = v[0].abs() + 1.0;
    }
    let repeats = n / 5;
    data.copy_within(0..repeats * dims, (n - repeats) * dims);
    let mut rowids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1000).collect();
    rng.shuffle(&mut rowids);
    VectorSet { dims, rowids, data, ..Default::default() }
}

/// The obvious algorithm in f64: every distance, a full sort by (distance, rowid).
fn naive(base: &VectorSet, q: &[f32], metric: &str) -> Vec<(u64, f64)> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let mut all: Vec<(f64, u64)> = (0..base.len())
        .map(|j| {
            let v = base.vector(j);
            let dot: f64 = q.iter().zip(v).map(|(a, b)| *a as f64 * *b as f64).sum();
            let d = match metric {
                "l2" => q.iter().zip(v).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>().sqrt(),
                "cosine" => 1.0 - dot / (norm(q) * norm(v)),
                _ => -dot,
            };
            (d, base.rowids[j])
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().map(|(d, r)| (r, d)).collect()
}

/// (query, rank, rowid, distance) rows of a hits CSV.
fn csv_rows(path: &Path) -> Vec<(usize, usize, u64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn groundtruth_equals_a_naive_reference_for_every_metric() {
    let w = Workdir::new();
    let base = tie_heavy_set(800, 12, 1);
    let queries = VectorSet { dims: 12, rowids: (0..15).collect(), data: tie_heavy_set(15, 12, 2).data, ..Default::default() };
    write_vectors_parquet(&w.path("base.parquet"), &base, true).unwrap();
    write_fvecs(&w.path("q.fvecs"), &queries).unwrap();
    let k = 30;
    for metric in ["l2", "cosine", "ip"] {
        let ks = k.to_string();
        w.ok(&["groundtruth", "--input", "base.parquet", "--query", "q.fvecs", "-k", &ks, "--metric", metric, "-o", "gt.csv"]);
        w.ok(&["groundtruth", "--input", "base.parquet", "--query", "q.fvecs", "-k", &ks, "--metric", metric, "-o", "gt.ivecs"]);
        let rows = csv_rows(&w.path("gt.csv"));
        assert_eq!(rows.len(), 15 * k, "{metric}");
        let ivecs = read_groundtruth(&w.path("gt.ivecs")).unwrap();
        for (q, ivecs_row) in ivecs.iter().enumerate() {
            let expected = naive(&base, queries.vector(q), metric);
            let got: Vec<(u64, f64)> = rows.iter().filter(|r| r.0 == q).map(|r| (r.2, r.3)).collect();
            assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), *ivecs_row, "{metric} query {q}: ivecs and csv agree");
            let true_distance = |rowid: u64| expected.iter().find(|e| e.0 == rowid).unwrap().1;
            for (rank, ((rowid, distance), (want_rowid, want))) in got.iter().zip(&expected).enumerate() {
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
                assert!(close(*distance, *want), "{metric} query {q} rank {rank}: distance {distance} vs {want}");
                assert!(close(true_distance(*rowid), *want), "{metric} query {q} rank {rank}: rowid {rowid} is not at distance {want}");
                // Where no other row is within rounding of this distance, the row is fixed;
                // where only repeats of one vector are, they must come in rowid order. (Rows
                // that differ, such as v and 2v under cosine, may round either way.)
                let vector = |rowid: u64| base.vector(base.rowids.iter().position(|&r| r == rowid).unwrap());
                let all_repeats = expected.iter().filter(|e| close(e.1, *want)).all(|e| vector(e.0) == vector(*want_rowid));
                if all_repeats {
                    assert_eq!(rowid, want_rowid, "{metric} query {q} rank {rank}");
                }
            }
        }
    }
}

#[test]
fn groundtruth_rowids_line_up_with_a_shuffled_parquet_export() {
    let w = Workdir::new();
    let (base, _) = w.dataset(3000, 16, 40);
    // The same table exported in another order (as `ORDER BY random()` would): rowids
    // travel with their vectors.
    let mut order: Vec<usize> = (0..base.len()).collect();
    Rng::new(9).shuffle(&mut order);
    let shuffled = VectorSet {
        dims: base.dims,
        rowids: order.iter().map(|&i| base.rowids[i]).collect(),
        data: order.iter().flat_map(|&i| base.vector(i).to_vec()).collect(),
        ..Default::default()
    };
    write_vectors_parquet(&w.path("shuffled.parquet"), &shuffled, true).unwrap();
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "10", "-o", "gt.parquet"]);
    w.ok(&["groundtruth", "--input", "shuffled.parquet", "--query", "q.fvecs", "-k", "10", "-o", "gt-shuffled.parquet"]);
    assert_eq!(read_groundtruth(&w.path("gt.parquet")).unwrap(), read_groundtruth(&w.path("gt-shuffled.parquet")).unwrap());
    // An index of the shuffled export is judged correctly by ground truth of the original.
    w.ok(&["build", "--input", "shuffled.parquet"]);
    let out = w.cmd(&["search", "--query", "q.fvecs", "--groundtruth", "gt.parquet", "--min-recall", "0.9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "with --groundtruth and no --output, hits are not printed");
}

/// Runs `search` with ground truth; returns (exit code, stderr, report).
fn gated_search(w: &Workdir, extra: &[&str]) -> (i32, String, Value) {
    let mut args = vec!["search", "--query", "q.fvecs", "--report", "report.json"];
    args.extend_from_slice(extra);
    let out = w.cmd(&args).output().unwrap();
    let report = serde_json::from_str(&std::fs::read_to_string(w.path("report.json")).unwrap()).unwrap();
    (out.status.code().unwrap(), text(&out.stderr), report)
}

#[test]
fn the_recall_gate_passes_and_fails_with_exit_codes_and_messages() {
    let w = Workdir::new();
    w.dataset(3000, 16, 50);
    w.ok(&["build", "--input", "vectors.parquet"]);
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "20", "-o", "gt.ivecs"]);

    let (code, stderr, report) = gated_search(&w, &["--groundtruth", "gt.ivecs", "--min-recall", "0.9"]);
    let recall = report["recall"].as_f64().unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(recall >= 0.9 && report["passed"] == true, "{report}");
    assert!(stderr.contains(&format!("recall@10 {recall:.4}")) && stderr.contains("p99"), "{stderr}");
    let latency = &report["latency_ms"];
    let (p50, p95, p99) = (latency["p50"].as_f64().unwrap(), latency["p95"].as_f64().unwrap(), latency["p99"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99, "{latency}");

    // Ground truth of a different table (every rowid moved) finds nothing: the gate fails.
    let (base, _) = w.dataset(3000, 16, 50);
    let moved = VectorSet { rowids: base.rowids.iter().map(|r| r + 1_000_000).collect(), ..base };
    write_vectors_parquet(&w.path("moved.parquet"), &moved, true).unwrap();
    w.ok(&["groundtruth", "--input", "moved.parquet", "--query", "q.fvecs", "-k", "10", "-o", "moved.parquet.gt.parquet"]);
    let (code, stderr, report) = gated_search(&w, &["--groundtruth", "moved.parquet.gt.parquet", "--min-recall", "0.5"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("recall@10 0.0000 is below --min-recall 0.5"), "{stderr}");
    assert_eq!(report["passed"], false);

    // A bar at the measured recall passes, just above it fails.
    let (_, _, report) = gated_search(&w, &["--groundtruth", "gt.ivecs", "-L", "12", "-k", "20"]);
    let recall = report["recall"].as_f64().unwrap();
    assert!(recall < 1.0, "L=12 for k=20 should miss some neighbours: {recall}");
    let bar = format!("{recall}");
    let (code, _, _) = gated_search(&w, &["--groundtruth", "gt.ivecs", "-L", "12", "-k", "20", "--min-recall", &bar]);
    assert_eq!(code, 0);
    let bar = format!("{}", recall + 1e-6);
    let (code, stderr, _) = gated_search(&w, &["--groundtruth", "gt.ivecs", "-L", "12", "-k", "20", "--min-recall", &bar]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("recall@20 {recall:.4} is below --min-recall {bar}")), "{stderr}");

    // Ground truth that cannot judge the search is an error (exit 2), not a low recall.
    let err = w.fails(&["search", "--query", "q.fvecs", "--groundtruth", "gt.ivecs", "-k", "21"]);
    assert!(err.contains("gt.ivecs") && err.contains("fewer than -k 21"), "{err}");
    write_fvecs(&w.path("q5.fvecs"), &w.dataset(3000, 16, 5).1).unwrap();
    let err = w.fails(&["search", "--query", "q5.fvecs", "--groundtruth", "gt.ivecs"]);
    assert!(err.contains("ground truth has 50 queries but q5.fvecs has 5"), "{err}");
    let err = w.fails(&["search", "--query", "q.fvecs", "--groundtruth", "gt.ivecs", "--min-recall", "95"]);
    assert!(err.contains("--min-recall 95 is not a recall"), "{err}");
    let err = w.fails(&["search", "--query", "q.fvecs", "--groundtruth", "q.fvecs"]);
    assert!(err.contains("not usable as ground truth"), "{err}");
}

#[test]
fn tune_finds_the_smallest_passing_list_and_save_makes_it_the_default() {
    let w = Workdir::new();
    w.dataset(3000, 16, 50);
    w.ok(&["build", "--input", "vectors.parquet"]);
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "10", "-o", "gt.parquet"]);
    let before = std::fs::read(w.path("index.lmd")).unwrap();
    let table =
        w.ok(&["tune", "--query", "q.fvecs", "--groundtruth", "gt.parquet", "--target-recall", "0.97", "--save", "--report", "tune.json"]);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(w.path("tune.json")).unwrap()).unwrap();
    let sweep = report["sweep"].as_array().unwrap();
    let chosen = report["chosen_search_list"].as_u64().unwrap();
    let (last, earlier) = sweep.split_last().unwrap();
    assert_eq!(last["search_list"].as_u64(), Some(chosen));
    assert!(last["recall"].as_f64().unwrap() >= 0.97, "{report}");
    assert!(earlier.iter().all(|s| s["recall"].as_f64().unwrap() < 0.97), "the sweep stops at the first pass: {report}");
    assert!(table.contains(&format!("smallest L with recall@10 >= 0.97: {chosen}")), "{table}");
    assert_eq!(table.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).count(), sweep.len(), "{table}");

    // Only the header changed, and searches without -L now use the saved list.
    let after = std::fs::read(w.path("index.lmd")).unwrap();
    assert_eq!(before.len(), after.len());
    assert_eq!(before[4096..], after[4096..], "node blocks untouched");
    assert!(!w.path("index.lmd.tmp").exists() && !w.path("index.lmd-journal").exists());
    assert!(w.ok(&["stats"]).contains(&format!("search default   L {chosen}")));
    let (code, _, report) = gated_search(&w, &["--groundtruth", "gt.parquet", "--min-recall", "0.97"]);
    assert_eq!((code, report["search_list"].as_u64()), (0, Some(chosen)));

    // A target no list reaches: exit 1, the best named, the header left alone.
    let out = w
        .cmd(&["tune", "--query", "q.fvecs", "--groundtruth", "gt.parquet", "--target-recall", "1", "--lists", "10", "--save"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no search list up to 10 reaches recall@10 1 (best"), "{stderr}");
    assert_eq!(std::fs::read(w.path("index.lmd")).unwrap(), after);
}

#[test]
fn groundtruth_refuses_what_it_cannot_answer() {
    let w = Workdir::new();
    w.dataset(300, 8, 4);
    write_fvecs(&w.path("q9.fvecs"), &VectorSet { dims: 9, rowids: vec![0], data: vec![1.0; 9], ..Default::default() }).unwrap();
    let err = w.fails(&["groundtruth", "--input", "vectors.parquet", "--query", "q9.fvecs", "-o", "gt.ivecs"]);
    assert!(err.contains("vectors.parquet") && err.contains("8 dims but the queries have 9"), "{err}");
    let big = VectorSet { dims: 8, rowids: vec![5_000_000_000], data: vec![1.0; 8], ..Default::default() };
    write_vectors_parquet(&w.path("big.parquet"), &big, true).unwrap();
    let err = w.fails(&["groundtruth", "--input", "big.parquet", "--query", "q.fvecs", "-o", "gt.ivecs"]);
    assert!(err.contains("5000000000") && err.contains("parquet"), "{err}");
    assert!(!w.path("gt.ivecs").exists() && !w.path("gt.ivecs.tmp").exists());
    let zero = VectorSet { dims: 8, rowids: vec![7, 8], data: [[1.0; 8], [0.0; 8]].concat(), ..Default::default() };
    write_vectors_parquet(&w.path("zero.parquet"), &zero, true).unwrap();
    let err = w.fails(&["groundtruth", "--input", "zero.parquet", "--query", "q.fvecs", "--metric", "cosine", "-o", "gt.parquet"]);
    assert!(err.contains("row 1 (counting from 0; rowid 8) is a zero vector"), "{err}");
    let err = w.fails(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-o", "gt.txt"]);
    assert!(err.contains("gt.txt") && err.contains(".ivecs"), "{err}");
}

#[test]
fn bvecs_input_builds_searches_and_gives_the_same_ground_truth_as_fvecs() {
    let w = Workdir::new();
    let (base, queries) = w.dataset(2000, 16, 30);
    // Byte vectors, as SIFT1B ships: the same clustered data scaled into 0..=255.
    let to_bytes = |set: &VectorSet| -> Vec<u8> { set.data.iter().map(|x| (x * 40.0 + 128.0).clamp(0.0, 255.0).round() as u8).collect() };
    let write = |name: &str, set: &VectorSet| {
        let mut file = Vec::new();
        for v in to_bytes(set).chunks(set.dims) {
            file.extend((set.dims as i32).to_le_bytes());
            file.extend(v);
        }
        std::fs::write(w.path(name), file).unwrap();
        let floats = to_bytes(set).into_iter().map(f32::from).collect();
        write_fvecs(&w.path(&name.replace(".bvecs", ".fvecs")), &VectorSet { data: floats, ..set.clone() }).unwrap();
    };
    write("base.bvecs", &base);
    write("qb.bvecs", &queries);
    w.ok(&["groundtruth", "--input", "base.bvecs", "--query", "qb.bvecs", "-k", "10", "-o", "gt-b.ivecs"]);
    w.ok(&["groundtruth", "--input", "base.fvecs", "--query", "qb.fvecs", "-k", "10", "-o", "gt-f.ivecs"]);
    assert_eq!(std::fs::read(w.path("gt-b.ivecs")).unwrap(), std::fs::read(w.path("gt-f.ivecs")).unwrap());
    w.ok(&["build", "--input", "base.bvecs"]);
    let out = w.cmd(&["search", "--query", "qb.bvecs", "--groundtruth", "gt-b.ivecs", "--min-recall", "0.9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
