//! Benchmark of neighbour-code kinds and layouts: for every data set and every build
//! configuration, the file's bytes per vector, the build time, and recall@10 and QPS at
//! L = 32, 64 and 128, measured with the real `lmdiskann` binary (release build).
//!
//! ```text
//! cargo build --release && cargo run --release --example codes -- \
//!     [--real ../shared/data] [--synthetic 10000x1536] [--configs default,f32,1bit,2bit:1536] \
//!     [--threads 2] [--repeat 3] [--only sift5k,text384]
//! ```
//! A configuration is `default` (the planner's choice), a code kind, or `KIND:BLOCK` (a
//! block size in bytes), optionally followed by `/STORE` (an element type), e.g.
//! `2bit:1536/f16`. Real sets are the `NAME/NAME_{base,query}.fvecs` under `--real`
//! (exact ground truth is computed here, so any `NAME_groundtruth.ivecs` is not needed);
//! `--only` keeps the real sets named; synthetic sets come from `lmdiskann generate`
//! (seeded). QPS is the median of `--repeat` runs of the whole query set.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{binary, read_json, real_sets, run};

const LISTS: [usize; 3] = [32, 64, 128];
const ALL_KINDS: &str = "default,f32,f16,int8,4bit,2bit,ternary,1bit";

struct Options {
    real: Option<PathBuf>,
    synthetic: Vec<(usize, usize)>,
    configs: Vec<String>,
    threads: usize,
    repeat: usize,
    only: Option<String>,
}

fn parse_args() -> Options {
    let mut o = Options { real: None, synthetic: vec![], configs: split(ALL_KINDS), threads: 2, repeat: 3, only: None };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--real" => o.real = Some(value().into()),
            "--only" => o.only = Some(value()),
            "--synthetic" => {
                o.synthetic = split(&value())
                    .iter()
                    .map(|s| {
                        let (n, d) = s.split_once('x').expect("--synthetic takes NxDIMS");
                        (n.parse().expect("N"), d.parse().expect("DIMS"))
                    })
                    .collect()
            }
            "--configs" => o.configs = split(&value()),
            "--threads" => o.threads = value().parse().expect("--threads"),
            "--repeat" => o.repeat = value().parse().expect("--repeat"),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn split(s: &str) -> Vec<String> {
    s.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect()
}

fn main() {
    let o = parse_args();
    let bin = binary();
    let work = tempfile::Builder::new().prefix("lmdiskann-bench").tempdir_in(".").expect("temp dir");
    println!("lmdiskann code-kind benchmark: {} threads, k = 10, QPS = median of {} runs", o.threads, o.repeat);
    let mut sets: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    if let Some(dir) = &o.real {
        for (name, base, query) in real_sets(dir) {
            if o.only.as_ref().is_none_or(|only| only.contains(&name)) {
                sets.push((format!("{name} (real)"), base, query));
            }
        }
    }
    for &(n, dims) in &o.synthetic {
        let base = work.path().join(format!("synthetic{n}x{dims}.fvecs"));
        let query = work.path().join(format!("synthetic{n}x{dims}_query.fvecs"));
        run(Command::new(&bin)
            .args(["generate", "--n", &n.to_string(), "--dims", &dims.to_string(), "--queries", "1000"])
            .arg("--output")
            .arg(&base)
            .arg("--query-output")
            .arg(&query));
        sets.push((format!("synthetic {n} x {dims}"), base, query));
    }
    for (label, base, query) in &sets {
        run_set(label, &bin, &o, base, query, work.path());
    }
}

fn run_set(label: &str, bin: &Path, o: &Options, base: &Path, query: &Path, work: &Path) {
    let truth = work.join("truth.ivecs");
    run(Command::new(bin)
        .args(["groundtruth", "-k", "10", "--threads", &o.threads.to_string()])
        .arg("--input")
        .arg(base)
        .arg("--query")
        .arg(query)
        .arg("--output")
        .arg(&truth));
    println!();
    println!("## {label}");
    println!("| config | stored | codes | block B | R | bytes/vector | x raw f32 | build s | recall@10 L=32 | L=64 | L=128 | QPS L=32 | L=64 | L=128 |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for config in &o.configs {
        let index = work.join("bench.lmd");
        let report = work.join("build.json");
        let mut build = Command::new(bin);
        build
            .args(["build", "--threads", &o.threads.to_string()])
            .arg("--input")
            .arg(base)
            .arg("--output")
            .arg(&index)
            .arg("--report")
            .arg(&report);
        let (layout, store) = match config.split_once('/') {
            Some((layout, store)) => (layout, Some(store)),
            None => (config.as_str(), None),
        };
        let (kind, block) = match layout.split_once(':') {
            Some((kind, block)) => (kind, Some(block)),
            None => (layout, None),
        };
        if kind != "default" {
            build.args(["--codes", kind]);
        }
        if let Some(block) = block {
            build.args(["--block-size", block]);
        }
        if let Some(store) = store {
            build.args(["--store", store]);
        }
        run(&mut build);
        let b = read_json(&report);
        let dims = b["dims"].as_f64().unwrap();
        let (mut recalls, mut qps) = (Vec::new(), Vec::new());
        for list in LISTS {
            let mut runs: Vec<(f64, f64)> = (0..o.repeat)
                .map(|_| {
                    let report = work.join("search.json");
                    run(Command::new(bin)
                        .args(["search", "--threads", &o.threads.to_string(), "-k", "10", "-L", &list.to_string()])
                        .arg("--index")
                        .arg(&index)
                        .arg("--query")
                        .arg(query)
                        .arg("--groundtruth")
                        .arg(&truth)
                        .arg("--report")
                        .arg(&report));
                    let s = read_json(&report);
                    (s["recall"].as_f64().unwrap(), s["qps"].as_f64().unwrap())
                })
                .collect();
            runs.sort_by(|a, b| a.1.total_cmp(&b.1));
            recalls.push(format!("{:.3}", runs[0].0));
            qps.push(format!("{:.0}", runs[runs.len() / 2].1));
        }
        let bytes = b["bytes_per_vector"].as_f64().unwrap();
        println!(
            "| {config} | {} | {} | {} | {} | {bytes:.0} | {:.2} | {:.1} | {} | {} |",
            b["element_type"].as_str().unwrap(),
            b["codes"].as_str().unwrap(),
            b["block_size"],
            b["max_degree"],
            bytes / (4.0 * dims),
            b["build_seconds"].as_f64().unwrap(),
            recalls.join(" | "),
            qps.join(" | "),
        );
    }
}
