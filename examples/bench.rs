//! Benchmark: builds and searches with the real `lmdiskann` binary (release build) and
//! prints one table per dataset: build vectors/s, peak RSS of build and of search, bytes
//! per vector on disk, and recall@10 / QPS / blocks read per query at several L. Search's
//! peak RSS includes the mapped index pages it touched (evictable page cache); the anon
//! column is the memory the process allocated itself, measured when the searches end.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench -- [--n 100000,1000000] [--dims 128]
//!     [--queries 1000] [--threads 2] [--codes 4bit] [--real ../shared/data]
//! ```
//! Synthetic sets come from `lmdiskann::synthetic` (seeded); with `--real DIR`, every
//! `NAME/NAME_base.fvecs` + `NAME_query.fvecs` under DIR is benchmarked too.
//! Ground truth is exact brute force with the library's oracle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use lmdiskann::exact::{exact_rowids, recall_at_k};
use lmdiskann::io::{read_vectors, write_fvecs, write_vectors_parquet, InputOptions};
use lmdiskann::synthetic::Clustered;
use lmdiskann::{Metric, VectorSet};

mod common;
use common::{binary, read_json, real_sets, run};

const K: usize = 10;
const LISTS: [usize; 4] = [16, 32, 64, 128];

struct Options {
    sizes: Vec<usize>,
    dims: usize,
    queries: usize,
    threads: usize,
    codes: Option<String>,
    real: Option<PathBuf>,
    extra: Vec<String>,
}

fn parse_args() -> Options {
    let mut o = Options { sizes: vec![100_000, 1_000_000], dims: 128, queries: 1000, threads: 2, codes: None, real: None, extra: vec![] };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--n" => o.sizes = value().split(',').map(|s| s.parse().expect("--n takes numbers")).collect(),
            "--dims" => o.dims = value().parse().expect("--dims"),
            "--queries" => o.queries = value().parse().expect("--queries"),
            "--threads" => o.threads = value().parse().expect("--threads"),
            "--codes" => o.codes = Some(value()),
            "--real" => o.real = Some(value().into()),
            "--build-arg" => o.extra.push(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn main() {
    let o = parse_args();
    let bin = binary();
    let work = tempfile::Builder::new().prefix("lmdiskann-bench").tempdir_in(".").expect("temp dir");
    println!("lmdiskann benchmark: {} threads, k = {K}, binary {}", o.threads, bin.display());
    for &n in &o.sizes {
        let data = Clustered::standard(o.dims, 1);
        let base = data.sample(n, 0);
        let queries = data.sample(o.queries, 1);
        let base_path = work.path().join("base.parquet");
        write_vectors_parquet(&base_path, &base, true).expect("write base");
        run_set(&format!("synthetic {n} x {}", o.dims), &bin, &o, &base_path, &base, &queries, work.path());
    }
    if let Some(dir) = &o.real {
        for (name, base_path, query_path) in real_sets(dir) {
            let base = read_vectors(&base_path, &InputOptions::default()).expect("read base");
            let queries = read_vectors(&query_path, &InputOptions::default()).expect("read queries");
            run_set(&format!("{name} (real, {} x {})", base.len(), base.dims), &bin, &o, &base_path, &base, &queries, work.path());
        }
    }
}

fn run_set(label: &str, bin: &Path, o: &Options, base_path: &Path, base: &VectorSet, queries: &VectorSet, work: &Path) {
    let query_path = work.join("queries.fvecs");
    write_fvecs(&query_path, queries).expect("write queries");
    let started = Instant::now();
    let truth: Vec<Vec<u64>> = exact_rowids(base, queries, Metric::L2, K).expect("exact search of generated data");
    let truth_seconds = started.elapsed().as_secs_f64();

    let index = work.join("bench.lmd");
    let report = work.join("build.json");
    let mut build = Command::new(bin);
    build
        .args(["build", "--threads", &o.threads.to_string()])
        .arg("--input")
        .arg(base_path)
        .arg("--output")
        .arg(&index)
        .arg("--report")
        .arg(&report);
    if let Some(codes) = &o.codes {
        build.args(["--codes", codes]);
    }
    build.args(&o.extra);
    run(&mut build);
    let b = read_json(&report);
    println!();
    println!("## {label}");
    println!(
        "build: {:.0} vectors/s ({:.1} s), peak RSS {:.0} MiB, {:.0} bytes/vector on disk ({:.2}x raw f32), block {} B, R {}; exact ground truth {:.1} s",
        b["vectors_per_second"].as_f64().unwrap(),
        b["build_seconds"].as_f64().unwrap(),
        b["peak_rss_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
        b["bytes_per_vector"].as_f64().unwrap(),
        b["bytes_per_vector"].as_f64().unwrap() / (4 * base.dims) as f64,
        b["block_size"],
        b["max_degree"],
        truth_seconds,
    );
    println!("| L | recall@{K} | QPS | blocks/query | search peak RSS MiB | of which anon MiB |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for list in LISTS {
        let hits = work.join("hits.csv");
        let report = work.join("search.json");
        run(Command::new(bin)
            .args(["search", "--threads", &o.threads.to_string(), "-k", &K.to_string(), "-L", &list.to_string()])
            .arg("--index")
            .arg(&index)
            .arg("--query")
            .arg(&query_path)
            .arg("--output")
            .arg(&hits)
            .arg("--report")
            .arg(&report));
        let s = read_json(&report);
        let found = read_hits(&hits, queries.len());
        println!(
            "| {list} | {:.4} | {:.0} | {:.1} | {:.0} | {:.0} |",
            recall_at_k(&found, &truth, K),
            s["qps"].as_f64().unwrap(),
            s["blocks_read_per_query"].as_f64().unwrap(),
            s["peak_rss_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
            s["anon_rss_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
        );
    }
}

fn read_hits(path: &Path, queries: usize) -> Vec<Vec<u64>> {
    let mut found = vec![Vec::new(); queries];
    let mut reader = csv::Reader::from_path(path).expect("hits");
    for row in reader.records() {
        let row = row.expect("hits row");
        found[row[0].parse::<usize>().unwrap()].push(row[2].parse().unwrap());
    }
    found
}
