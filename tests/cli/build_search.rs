//! Build, search and stats through the CLI, on seeded data.

use lmdiskann::exact::{exact_knn, recall_at_k};
use lmdiskann::Metric;

use crate::util::{parse_hits, write_npy, Workdir};

#[test]
fn build_then_search_prints_csv_hits_that_match_brute_force() {
    let w = Workdir::new();
    let (base, queries) = w.dataset(3000, 24, 30);
    w.ok(&["build", "--input", "vectors.parquet"]);
    assert!(w.path("index.lmd").exists(), "build writes ./index.lmd by default");
    let hits = parse_hits(&w.ok(&["search", "--query", "q.fvecs", "-k", "10"]));
    assert_eq!(hits.len(), 30);
    let truth = exact_knn(&base, &queries, Metric::L2, 10).unwrap();
    for (q, found) in hits.iter().enumerate() {
        assert_eq!(found.len(), 10, "query {q}");
        assert!(found.windows(2).all(|p| p[0].1 <= p[1].1), "query {q}: distances not ascending: {found:?}");
        // A hit that is also an exact neighbour must report the exact distance.
        for (rowid, distance) in found {
            if let Some((_, exact)) = truth[q].iter().find(|(r, _)| r == rowid) {
                assert!((distance - exact).abs() <= 1e-4 * exact.max(1.0), "query {q} rowid {rowid}: {distance} vs {exact}");
            }
        }
    }
    let found: Vec<Vec<u64>> = hits.iter().map(|h| h.iter().map(|x| x.0).collect()).collect();
    let truth: Vec<Vec<u64>> = truth.iter().map(|t| t.iter().map(|x| x.0).collect()).collect();
    let recall = recall_at_k(&found, &truth, 10);
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn index_flag_and_environment_override_the_default_path() {
    let w = Workdir::new();
    w.dataset(500, 8, 3);
    w.ok(&["build", "--input", "vectors.parquet", "--output", "other.lmd"]);
    assert!(!w.path("index.lmd").exists());
    let by_flag = w.ok(&["search", "--index", "other.lmd", "--query", "q.fvecs", "-k", "3"]);
    let out = w.cmd(&["search", "--query", "q.fvecs", "-k", "3"]).env("LMDISKANN_INDEX", "other.lmd").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), by_flag);
    // --index also picks where build writes.
    w.ok(&["build", "--input", "vectors.parquet", "--index", "third.lmd"]);
    assert!(w.path("third.lmd").exists());
    let err = w.fails(&["search", "--query", "q.fvecs"]);
    assert!(err.contains("index.lmd") && err.contains("cannot open"), "{err}");
}

#[test]
fn output_format_follows_the_extension_or_the_flag() {
    let w = Workdir::new();
    w.dataset(400, 8, 4);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let csv = w.ok(&["search", "--query", "q.fvecs", "-k", "2"]);
    w.ok(&["search", "--query", "q.fvecs", "-k", "2", "--output", "hits.tsv"]);
    let tsv = std::fs::read_to_string(w.path("hits.tsv")).unwrap();
    assert_eq!(tsv, csv.replace(',', "\t"));
    w.ok(&["search", "--query", "q.fvecs", "-k", "2", "--output", "hits.jsonl"]);
    let jsonl = std::fs::read_to_string(w.path("hits.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    let csv_first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first["rowid"].to_string(), csv_first[2]);
    assert_eq!(jsonl.lines().count(), 8);
    w.ok(&["search", "--query", "q.fvecs", "-k", "2", "--output", "hits.out", "--format", "csv"]);
    assert_eq!(std::fs::read_to_string(w.path("hits.out")).unwrap(), csv);
    w.ok(&["search", "--query", "q.fvecs", "-k", "2", "--output", "hits.parquet"]);
    assert_eq!(&std::fs::read(w.path("hits.parquet")).unwrap()[..4], b"PAR1");
    let err = w.fails(&["search", "--query", "q.fvecs", "--output", "hits.xyz"]);
    assert!(err.contains("hits.xyz") && err.contains("--format"), "{err}");
}

#[test]
fn same_input_and_seed_give_a_byte_identical_file_on_1_and_2_threads() {
    let w = Workdir::new();
    w.dataset(3000, 16, 1);
    w.ok(&["build", "--input", "vectors.parquet", "--threads", "1", "--output", "one.lmd"]);
    w.ok(&["build", "--input", "vectors.parquet", "--threads", "2", "--output", "two.lmd"]);
    let one = std::fs::read(w.path("one.lmd")).unwrap();
    let two = std::fs::read(w.path("two.lmd")).unwrap();
    assert!(one == two, "files differ between --threads 1 and --threads 2");
    // The seed does matter: a different one gives a different graph.
    w.ok(&["build", "--input", "vectors.parquet", "--threads", "2", "--seed", "7", "--output", "seven.lmd"]);
    assert!(std::fs::read(w.path("seven.lmd")).unwrap() != one);
}

#[test]
fn stats_reports_counts_sizes_and_degrees() {
    let w = Workdir::new();
    w.dataset(1500, 32, 1);
    w.ok(&["build", "--input", "vectors.parquet", "--metric", "cosine"]);
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["stats", "--json"])).unwrap();
    assert_eq!(json["live"], 1500);
    assert_eq!(json["slots"].as_u64().unwrap(), 1500 + json["map_pages"].as_u64().unwrap());
    assert_eq!(json["tombstoned"], 0);
    assert_eq!(json["dims"], 32);
    assert_eq!(json["metric"], "cosine");
    assert_eq!(json["codes"], "4bit");
    assert_eq!(json["format_version"], "2.0");
    let file_bytes = std::fs::metadata(w.path("index.lmd")).unwrap().len();
    assert_eq!(json["file_bytes"], file_bytes);
    let histogram: Vec<u64> = json["degree_histogram"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(histogram.iter().sum::<u64>(), 1500);
    assert_eq!(histogram.len() as u64, json["max_degree"].as_u64().unwrap() + 1);
    assert_eq!(histogram[0], 0, "no node is left without edges");
    let text = w.ok(&["stats"]);
    assert!(text.contains("1500 live") && text.contains("metric cosine") && text.contains("degree histogram"), "{text}");
}

#[test]
fn fvecs_input_numbers_rows_and_parquet_queries_work() {
    let w = Workdir::new();
    let (base, _) = w.dataset(800, 12, 5);
    lmdiskann::io::write_fvecs(&w.path("base.fvecs"), &base).unwrap();
    lmdiskann::io::write_vectors_parquet(&w.path("q.parquet"), &base, false).unwrap();
    w.ok(&["build", "--input", "base.fvecs"]);
    // Querying with the base vectors themselves: each finds its own row first.
    let hits = parse_hits(&w.ok(&["search", "--query", "q.parquet", "-k", "1"]));
    let selves = hits.iter().enumerate().filter(|(q, h)| h[0].0 == *q as u64).count();
    assert!(selves >= 790, "only {selves} of 800 vectors found themselves");
}

#[test]
fn a_damaged_block_is_reported_as_corrupted() {
    let w = Workdir::new();
    w.dataset(300, 8, 2);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let mut bytes = std::fs::read(w.path("index.lmd")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["stats", "--json"])).unwrap();
    let block = json["block_size"].as_u64().unwrap() as usize;
    // Damage the entry node's block, which every search reads.
    let entry = json["entry_slot"].as_u64().unwrap() as usize;
    bytes[(entry + 1) * block + 20] ^= 0x40;
    std::fs::write(w.path("index.lmd"), &bytes).unwrap();
    let err = w.fails(&["search", "--query", "q.fvecs"]);
    assert!(err.contains("corrupted") && err.contains("index.lmd"), "{err}");
    let err = w.fails(&["stats"]);
    assert!(err.contains("corrupted"), "{err}");
}

#[test]
fn demo_generates_builds_and_reports_recall() {
    let w = Workdir::new();
    let out = w.ok(&["demo", "--n", "3000", "--dims", "16", "--queries", "50", "--dir", "d"]);
    assert!(w.path("d/vectors.parquet").exists() && w.path("d/index.lmd").exists());
    let default_row = out.lines().find(|l| l.ends_with("(default)")).unwrap_or_else(|| panic!("no default row in:\n{out}"));
    let recall: f64 = default_row.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(recall >= 0.95, "demo recall {recall}:\n{out}");
}

#[test]
fn tiny_indexes_return_every_row_when_k_exceeds_them() {
    let w = Workdir::new();
    for n in [1usize, 2, 17] {
        let data: Vec<f32> = (0..n * 3).map(|i| i as f32).collect();
        let rowids: Vec<u64> = (0..n as u64).map(|r| r * 10 + 5).collect();
        let set = lmdiskann::VectorSet { dims: 3, rowids: rowids.clone(), data, ..Default::default() };
        lmdiskann::io::write_vectors_parquet(&w.path("tiny.parquet"), &set, true).unwrap();
        w.ok(&["build", "--input", "tiny.parquet"]);
        let hits = parse_hits(&w.ok(&["search", "--query", "tiny.parquet", "-k", "40"]));
        assert_eq!(hits.len(), n);
        for (q, found) in hits.iter().enumerate() {
            let mut got: Vec<u64> = found.iter().map(|h| h.0).collect();
            assert_eq!(got[0], rowids[q], "n {n}: query {q} must find itself first");
            got.sort_unstable();
            assert_eq!(got, rowids, "n {n}: every row is returned once");
        }
    }
}

/// Search memory is O(L) per query (times the queries in flight when reading overlapped,
/// fewer of them for a long list): the process's own (anonymous) memory must not grow with
/// the index, only the mapped file pages, which are the kernel's page cache.
#[test]
fn search_memory_does_not_grow_with_the_index() {
    let indexes: Vec<(usize, Workdir)> = [2_000, 64_000]
        .into_iter()
        .map(|n| {
            let w = Workdir::new();
            w.dataset(n, 16, 200);
            w.ok(&["build", "--input", "vectors.parquet"]);
            (n, w)
        })
        .collect();
    let anon_mib = |w: &Workdir, io: &str, list: &str| -> f64 {
        w.ok(&["search", "--query", "q.fvecs", "--threads", "1", "--io", io, "-L", list, "--output", "hits.csv", "--report", "r.json"]);
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(w.path("r.json")).unwrap()).unwrap();
        report["anon_rss_bytes"].as_f64().expect("the report gives anonymous RSS") / (1 << 20) as f64
    };
    for io in ["mmap", "overlapped"] {
        for list in ["64", "512"] {
            let [small, large] = [0, 1].map(|i| anon_mib(&indexes[i].1, io, list));
            eprintln!("--io {io} -L {list}: anonymous RSS {small:.1} MiB (2k), {large:.1} MiB (64k)");
            assert!(
                large < small + 4.0,
                "--io {io} -L {list}: anonymous RSS grew from {small:.1} MiB (2k vectors) to {large:.1} MiB (64k vectors)"
            );
        }
    }
}

/// Every way of reading the blocks gives the same hits, in the same order.
#[test]
fn every_read_path_writes_the_same_hits() {
    let w = Workdir::new();
    w.dataset(3_000, 16, 100);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let hits = |io: &str, width: &str| w.ok(&["search", "--query", "q.fvecs", "-k", "7", "--io", io, "--beam-width", width]);
    for width in ["1", "4"] {
        let by_map = hits("mmap", width);
        assert_eq!(parse_hits(&by_map).len(), 100);
        assert_eq!(hits("overlapped", width), by_map, "--beam-width {width}");
        assert_eq!(hits("auto", width), by_map, "--beam-width {width}");
    }
    let err = w.fails(&["search", "--query", "q.fvecs", "--io", "uring"]);
    assert!(err.contains("--io") && err.contains("overlapped"), "{err}");
}

#[test]
fn generate_writes_the_seeded_sets_the_tests_use() {
    let w = Workdir::new();
    w.ok(&[
        "generate",
        "--n",
        "500",
        "--dims",
        "8",
        "--queries",
        "7",
        "--seed",
        "11",
        "--output",
        "g.parquet",
        "--query-output",
        "gq.fvecs",
    ]);
    let data = lmdiskann::synthetic::Clustered::standard(8, 11);
    let read = |name: &str| lmdiskann::io::read_vectors(&w.path(name), &Default::default()).unwrap();
    assert_eq!(read("g.parquet"), data.sample(500, 0));
    // fvecs holds no rowids: they are positions, and the reader says so.
    let positions = lmdiskann::io::RowidSource::Positions { start: 0, columns: false };
    assert_eq!(read("gq.fvecs"), lmdiskann::VectorSet { rowids_from: positions, ..data.sample(7, 1) });
    w.ok(&["generate", "--n", "20", "--dims", "3", "--queries", "0", "--output", "g.fvecs"]);
    assert_eq!(read("g.fvecs").len(), 20);
    let err = w.fails(&["generate", "--n", "5", "--output", "g.txt"]);
    assert!(err.contains("g.txt") && err.contains(".parquet"), "{err}");
}

#[test]
fn npy_input_builds_and_searches_like_the_same_vectors_in_parquet() {
    let w = Workdir::new();
    let (base, queries) = w.dataset(1500, 12, 20);
    write_npy(&w.path("base.npy"), "<f4", &base, |x| x.to_le_bytes().to_vec());
    write_npy(&w.path("q.npy"), "<f4", &queries, |x| x.to_le_bytes().to_vec());
    // .npy rowids are positions; the Parquet file's rowid column is dropped for the comparison.
    lmdiskann::io::write_vectors_parquet(&w.path("positions.parquet"), &base, false).unwrap();
    w.ok(&["build", "--input", "base.npy", "--output", "npy.lmd"]);
    w.ok(&["build", "--input", "positions.parquet", "--output", "parquet.lmd"]);
    let from_npy = w.ok(&["search", "--index", "npy.lmd", "--query", "q.npy", "-k", "5"]);
    let from_parquet = w.ok(&["search", "--index", "parquet.lmd", "--query", "q.fvecs", "-k", "5"]);
    assert_eq!(from_npy, from_parquet);
    assert_eq!(parse_hits(&from_npy).len(), 20);
}

#[test]
fn cache_memory_warms_the_front_of_the_index_and_changes_no_hit() {
    let w = Workdir::new();
    w.dataset(2000, 16, 40);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["stats", "--json"])).unwrap();
    let block = json["block_size"].as_u64().unwrap();
    let nodes_and_map = std::fs::metadata(w.path("index.lmd")).unwrap().len() - block;
    let plain = w.ok(&["search", "--query", "q.fvecs"]);
    for (size, warmed) in [("64KiB", 65536), ("1GiB", nodes_and_map)] {
        let hits = w.ok(&["search", "--query", "q.fvecs", "--cache-memory", size, "--report", "r.json", "--force"]);
        assert_eq!(hits, plain, "--cache-memory {size} changed the hits");
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("r.json")).unwrap()).unwrap();
        assert_eq!(report["warm_up_bytes"], warmed, "--cache-memory {size}: {report}");
        assert!(report["warm_up_seconds"].as_f64().is_some(), "{report}");
    }
    let err = w.fails(&["search", "--query", "q.fvecs", "--cache-memory", "lots"]);
    assert!(err.contains("--cache-memory") && err.contains("512MiB"), "{err}");
}
