//! Builds every set with many seeds and validates each index: no live row may be
//! unreachable from the entry point. Prints, per set, how many builds needed the final
//! reachability pass and how many nodes it linked in.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example reachability -- --seeds 20 --real ../shared/data
//! ```

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{binary, read_json, real_sets, run};
use lmdiskann::io::write_fvecs;
use lmdiskann::synthetic::Clustered;

struct Options {
    seeds: u64,
    real: Option<PathBuf>,
    threads: usize,
    /// Extra build flags, e.g. `--saturate false`.
    build_args: Vec<String>,
}

fn parse_args() -> Options {
    let mut o = Options { seeds: 20, real: None, threads: 2, build_args: Vec::new() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--seeds" => o.seeds = value().parse().expect("--seeds N"),
            "--real" => o.real = Some(value().into()),
            "--threads" => o.threads = value().parse().expect("--threads N"),
            "--build-arg" => o.build_args.push(value()),
            other => panic!("unknown argument {other}; use --seeds N, --real DIR, --threads N, --build-arg FLAG"),
        }
    }
    o
}

fn main() {
    let o = parse_args();
    let bin = binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sets: Vec<(String, PathBuf)> = Vec::new();
    if let Some(real) = &o.real {
        sets.extend(real_sets(real).into_iter().map(|(name, base, _)| (name, base)));
    }
    for (name, dims, n, seed) in [("synthetic 20k x 32", 32, 20_000, 5), ("synthetic 10k x 96", 96, 10_000, 6)] {
        let path = dir.path().join(format!("{dims}.fvecs"));
        write_fvecs(&path, &Clustered::standard(dims, seed).sample(n, 0)).expect("write synthetic set");
        sets.push((name.into(), path));
    }
    println!("reachability: {} seeds per set, {} threads, build flags {:?}", o.seeds, o.threads, o.build_args);
    println!("| set | builds | builds that needed the pass | nodes linked in (total / most in one build) | unreachable after (validate) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, input) in &sets {
        let (mut needed, mut linked, mut most, mut unreachable) = (0, 0, 0, 0);
        for seed in 1..=o.seeds {
            let (reconnected, lost) = build_and_validate(&bin, dir.path(), input, seed, &o);
            needed += u64::from(reconnected > 0);
            linked += reconnected;
            most = most.max(reconnected);
            unreachable += lost;
        }
        println!("| {name} | {} | {needed} | {linked} / {most} | {unreachable} |", o.seeds);
    }
}

/// Builds `input` with `seed`; returns the nodes the build linked in and the live nodes
/// `validate` finds unreachable.
fn build_and_validate(bin: &Path, dir: &Path, input: &Path, seed: u64, o: &Options) -> (u64, u64) {
    let (index, report) = (dir.join("x.lmd"), dir.join("build.json"));
    let mut cmd = Command::new(bin);
    cmd.args(["build", "--input"]).arg(input).arg("--output").arg(&index).arg("--report").arg(&report);
    cmd.args(["--seed", &seed.to_string(), "--threads", &o.threads.to_string()]).args(&o.build_args);
    run(&mut cmd);
    let reconnected = read_json(&report)["reconnected"].as_u64().expect("reconnected in the build report");
    let out = Command::new(bin).args(["validate", "--json", "--index"]).arg(&index).output().expect("run validate");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("validate --json");
    let problems = json["problems"].as_array().expect("problems in validate --json");
    let other: Vec<_> = problems.iter().filter(|p| !p.as_str().unwrap_or("").contains("cannot be reached")).collect();
    assert!(other.is_empty(), "seed {seed}: the index is not sound: {other:?}");
    (reconnected, json["unreachable"].as_u64().expect("unreachable in validate --json"))
}
