//! Stored element types, neighbour-code kinds and the planner, through the CLI: every
//! type and kind builds, searches and shows in `stats`; conversions say what they cost.

use lmdiskann::io::{write_fvecs, write_vectors_parquet};
use lmdiskann::rng::Rng;
use lmdiskann::VectorSet;
use serde_json::Value;

use crate::util::{parse_hits, text, write_npy, Workdir};

const TYPES: [&str; 5] = ["f32", "f16", "bf16", "i8", "u8"];
const KINDS: [&str; 7] = ["f32", "f16", "int8", "4bit", "2bit", "ternary", "1bit"];

/// Integer vectors in 1..=100 (every stored type holds them exactly) in a few clusters.
fn small_integer_set(n: usize, dims: usize, seed: u64) -> VectorSet {
    let mut rng = Rng::new(seed);
    let centres: Vec<Vec<f32>> = (0..8).map(|_| (0..dims).map(|_| 20.0 + rng.below(60) as f32).collect()).collect();
    let data = (0..n).flat_map(|i| centres[i % 8].iter().map(|c| c + rng.below(21) as f32 - 10.0).collect::<Vec<_>>()).collect();
    VectorSet { dims, rowids: (0..n as u64).map(|i| i * 7 + 3).collect(), data, ..Default::default() }
}

fn stats(w: &Workdir, index: &str) -> Value {
    serde_json::from_str(&w.ok(&["stats", "--index", index, "--json"])).unwrap()
}

/// Runs a gated search and returns its JSON report.
fn gated(w: &Workdir, index: &str, truth: &str, list: &str) -> Value {
    let report = format!("{index}.json");
    w.ok(&["search", "--index", index, "--query", "q.fvecs", "-k", "10", "-L", list, "--groundtruth", truth, "--report", &report]);
    serde_json::from_str(&std::fs::read_to_string(w.path(&report)).unwrap()).unwrap()
}

/// Under cosine, float types store the normalised vector (no longer integers, so f16
/// and bf16 round it); integer types store the integers and normalise after reading.
#[test]
fn every_stored_type_holds_integer_vectors_exactly_and_answers_like_f32() {
    let w = Workdir::new();
    let base = small_integer_set(1500, 20, 1);
    let queries = small_integer_set(25, 20, 2);
    write_vectors_parquet(&w.path("base.parquet"), &base, true).unwrap();
    write_fvecs(&w.path("q.fvecs"), &queries).unwrap();
    for metric in ["l2", "cosine"] {
        let mut answers = Vec::new();
        for store in TYPES {
            let index = format!("{store}-{metric}.lmd");
            let out =
                w.cmd(&["build", "--input", "base.parquet", "--output", &index, "--metric", metric, "--store", store]).output().unwrap();
            let stderr = text(&out.stderr);
            assert!(out.status.success(), "{store}: {stderr}");
            let rounds = metric == "cosine" && (store == "f16" || store == "bf16");
            assert_eq!(stderr.contains("warning"), rounds, "{store} {metric}: {stderr}");
            let s = stats(&w, &index);
            assert_eq!(s["element_type"], store);
            if store == "i8" || store == "u8" {
                assert_eq!(s["element_scale"], 1.0, "{store}");
            }
            // A list as long as the index expands every node: the answer is the exact one,
            // whatever graph this type's block size (and so its R) led to.
            let hits = parse_hits(&w.ok(&["search", "--index", &index, "--query", "q.fvecs", "-k", "5", "-L", "1500"]));
            // At the default list, each type's own graph finds nearly all of them.
            let approximate = parse_hits(&w.ok(&["search", "--index", &index, "--query", "q.fvecs", "-k", "5"]));
            let found: usize = approximate.iter().zip(&hits).map(|(a, e)| a.iter().filter(|x| e.iter().any(|y| y.0 == x.0)).count()).sum();
            assert!(found * 100 >= 96 * 5 * queries.len(), "{store} {metric}: {found} of the exact top 5 at the default L");
            if !rounds {
                answers.push((store, s["block_size"].as_u64().unwrap(), hits));
            }
        }
        let (_, _, f32_hits) = &answers[0];
        for (store, _, hits) in &answers[1..] {
            assert_eq!(hits.len(), f32_hits.len());
            for (q, (a, b)) in hits.iter().zip(f32_hits).enumerate() {
                let rowids = |h: &Vec<(u64, f32)>| h.iter().map(|x| x.0).collect::<Vec<_>>();
                assert_eq!(rowids(a), rowids(b), "{store} {metric}: query {q} differs from f32");
                for (x, y) in a.iter().zip(b) {
                    assert!((x.1 - y.1).abs() <= 1e-4 * (1.0 + y.1.abs()), "{store} {metric}: distance {} vs {}", x.1, y.1);
                }
            }
        }
        // Smaller elements make smaller blocks (or the same block with more edges).
        let f32_block = answers[0].1;
        assert!(answers.iter().all(|a| a.1 <= f32_block), "{metric}: {:?}", answers.iter().map(|a| a.1).collect::<Vec<_>>());
    }
}

#[test]
fn lossy_conversions_warn_once_and_keep_recall() {
    let w = Workdir::new();
    w.dataset(2000, 24, 40);
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "10", "-o", "gt.ivecs"]);
    for store in ["f16", "bf16", "i8"] {
        let index = format!("{store}.lmd");
        let out = w.cmd(&["build", "--input", "vectors.parquet", "--output", &index, "--store", store]).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{store}: {stderr}");
        assert_eq!(stderr.matches("warning").count(), 1, "{store}: {stderr}");
        assert!(
            stderr.contains(&format!("storing f32 values as {store} changed them by up to")) && stderr.contains("--store f32"),
            "{stderr}"
        );
        let recall = gated(&w, &index, "gt.ivecs", "64")["recall"].as_f64().unwrap();
        assert!(recall >= 0.9, "{store}: recall {recall}");
        assert_eq!(stats(&w, &index)["element_type"], store);
    }
    // u8 cannot hold the negative values: one line naming the row, and no file.
    let err = w.fails(&["build", "--input", "vectors.parquet", "--output", "u8.lmd", "--store", "u8"]);
    assert!(err.contains("vectors.parquet") && err.contains("row ") && err.contains("--store i8"), "{err}");
    assert!(!w.path("u8.lmd").exists());
}

#[test]
fn the_input_type_picks_the_stored_type() {
    let w = Workdir::new();
    let base = small_integer_set(600, 16, 3);
    let as_i8 = VectorSet { data: base.data.iter().map(|x| x - 50.0).collect(), ..base.clone() };
    write_npy(&w.path("u8.npy"), "|u1", &base, |x| vec![x as u8]);
    write_npy(&w.path("i8.npy"), "|i1", &as_i8, |x| vec![x as i8 as u8]);
    write_npy(&w.path("f16.npy"), "<f2", &base, |x| half::f16::from_f32(x).to_le_bytes().to_vec());
    write_npy(&w.path("f64.npy"), "<f8", &base, |x| f64::from(x).to_le_bytes().to_vec());
    let mut bvecs = Vec::new();
    for v in base.data.chunks(16) {
        bvecs.extend(16i32.to_le_bytes());
        bvecs.extend(v.iter().map(|x| *x as u8));
    }
    std::fs::write(w.path("v.bvecs"), bvecs).unwrap();
    for (input, stored) in [("u8.npy", "u8"), ("i8.npy", "i8"), ("f16.npy", "f16"), ("f64.npy", "f32"), ("v.bvecs", "u8")] {
        let index = format!("{input}.lmd");
        let out = w.cmd(&["build", "--input", input, "--output", &index]).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{input}: {stderr}");
        assert_eq!(stats(&w, &index)["element_type"], stored, "{input}");
        assert_eq!(stderr.contains("f64 values are stored as f32"), input == "f64.npy", "{input}: {stderr}");
        assert!(!stderr.contains("warning"), "{input}: {stderr}");
    }
}

#[test]
fn every_code_kind_builds_searches_and_shows_in_stats() {
    let w = Workdir::new();
    w.dataset(2000, 32, 40);
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "10", "-o", "gt.ivecs"]);
    let mut blocks = Vec::new();
    for kind in KINDS {
        for metric in ["l2", "cosine", "ip"] {
            let index = format!("{kind}-{metric}.lmd");
            w.ok(&["build", "--input", "vectors.parquet", "--output", &index, "--codes", kind, "--metric", metric, "-R", "24"]);
            let s = stats(&w, &index);
            assert_eq!((s["codes"].as_str(), s["max_degree"].as_u64()), (Some(kind), Some(24)), "{kind} {metric}");
            if metric == "l2" {
                let recall = gated(&w, &index, "gt.ivecs", "48")["recall"].as_f64().unwrap();
                assert!(recall >= 0.9, "{kind}: recall@10 {recall} at L 48");
                blocks.push(s["block_size"].as_u64().unwrap());
            } else {
                let hits = parse_hits(&w.ok(&["search", "--index", &index, "--query", "q.fvecs", "-k", "10"]));
                assert!(hits.len() == 40 && hits.iter().all(|h| h.len() == 10), "{kind} {metric}");
            }
        }
    }
    // The kinds are listed from the largest code to the smallest: blocks never grow.
    assert!(blocks.windows(2).all(|b| b[0] >= b[1]), "{blocks:?}");
}

#[test]
fn dry_run_prints_the_plan_the_build_then_follows_without_writing() {
    let w = Workdir::new();
    w.dataset(3000, 48, 1);
    let plan = w.ok(&["build", "--input", "vectors.parquet", "--dry-run", "--store", "f16", "--codes", "ternary"]);
    assert!(!w.path("index.lmd").exists(), "a dry run wrote the index");
    for line in [
        "3000 vectors x 48 dims, f32",
        "stored as      f16 (96 B per vector)",
        "codes          ternary (20 B per neighbour)",
        "build memory",
        "search memory",
        "build time",
    ] {
        assert!(plan.contains(line), "missing {line:?} in:\n{plan}");
    }
    w.ok(&["build", "--input", "vectors.parquet", "--store", "f16", "--codes", "ternary"]);
    let s = stats(&w, "index.lmd");
    let block = format!("block          {} B, R {} ", s["block_size"], s["max_degree"]);
    assert!(plan.contains(&block), "plan {plan} does not say {block:?}");
    let file = format!("({:.0} B per vector", s["file_bytes"].as_f64().unwrap() / 3000.0);
    assert!(plan.contains(&file), "plan {plan} does not say {file:?}");
}

#[test]
fn block_size_gives_the_most_edges_that_fit_and_must_be_sector_aligned() {
    let w = Workdir::new();
    w.dataset(500, 64, 1);
    w.ok(&["build", "--input", "vectors.parquet", "--block-size", "2560", "--codes", "1bit"]);
    let s = stats(&w, "index.lmd");
    // 16-byte node header + 256-byte vector, then per edge a 4-byte id and a code of
    // 8 sign bytes + 8 bytes of floats.
    assert_eq!((s["block_size"].as_u64(), s["max_degree"].as_u64()), (Some(2560), Some((2560 - 16 - 256) / 20)));
    let err = w.fails(&["build", "--input", "vectors.parquet", "--output", "odd.lmd", "--block-size", "1000"]);
    assert!(err.contains("--block-size 1000") && err.contains("multiple of 512"), "{err}");
}
