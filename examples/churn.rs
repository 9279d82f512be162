//! Churn benchmark: an index that lives through rounds of deletes and inserts stays as good
//! as a fresh build of the same rows.
//!
//! ```text
//! cargo build --release && cargo run --release --example churn -- \
//!     [--rows 100000] [--dims 128] [--rounds 10] [--percent 5] [--list 64] \
//!     [--vacuum every|auto|never] [--fresh true|false] [--threads 2] [--block-size BYTES]
//! ```
//! Data: seeded synthetic clustered vectors (`lmdiskann::synthetic`, no download). The
//! index is built on the first 90% of `--rows`; each round deletes `--percent` of the
//! live rows at random (`lmdiskann delete --input gone.txt`), inserts as many new rows
//! (`lmdiskann insert --input new.parquet`), then vacuums: `every` runs `lmdiskann vacuum`
//! each round (auto-vacuum off), `auto` leaves it to the default auto-vacuum, `never`
//! turns both off. After every round it measures, with the real release binary for every
//! change and the library for searching:
//! - recall@10 at L = `--list` against brute force over the live rows, and the same for a
//!   fresh build of exactly those rows (`--fresh false` skips the rebuilds);
//! - how many of the round's inserted rows find themselves as top-1: after the vacuum,
//!   before it, and in the fresh build; and the same for every inserted row still live;
//! - whether any deleted rowid was ever returned.
//!
//! At the end it compacts the index and compares its size with the last fresh build.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use lmdiskann::exact::{exact_rowids, recall_at_k};
use lmdiskann::index::{check_index, Index};
use lmdiskann::io::{write_vectors_parquet, VectorSet};
use lmdiskann::rng::Rng;
use lmdiskann::storage::IndexFile;
use lmdiskann::synthetic::Clustered;
use lmdiskann::{Metric, SearchParams};

mod common;
use common::{binary, read_json, run};

struct Options {
    rows: usize,
    dims: usize,
    rounds: usize,
    percent: f64,
    list: usize,
    vacuum: String,
    fresh: bool,
    threads: usize,
    /// Passed to every build (`--block-size`), which sets the max degree.
    block_size: Option<String>,
}

fn parse_args() -> Options {
    let mut o = Options {
        rows: 100_000,
        dims: 128,
        rounds: 10,
        percent: 5.0,
        list: 64,
        vacuum: "every".into(),
        fresh: true,
        threads: 2,
        block_size: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--rows" => o.rows = value.parse().expect("--rows N"),
            "--dims" => o.dims = value.parse().expect("--dims N"),
            "--rounds" => o.rounds = value.parse().expect("--rounds N"),
            "--percent" => o.percent = value.parse().expect("--percent P"),
            "--list" => o.list = value.parse().expect("--list L"),
            "--vacuum" => o.vacuum = value,
            "--fresh" => o.fresh = value.parse().expect("--fresh true|false"),
            "--threads" => o.threads = value.parse().expect("--threads N"),
            "--block-size" => o.block_size = Some(value),
            _ => panic!("unknown argument {a}"),
        }
    }
    assert!(["every", "auto", "never"].contains(&o.vacuum.as_str()), "--vacuum every|auto|never");
    o
}

/// Rows of `pool` whose positions are in `picked`, with those positions as rowids.
fn subset(pool: &VectorSet, picked: &[u64]) -> VectorSet {
    let mut set = VectorSet {
        dims: pool.dims,
        rowids: picked.to_vec(),
        data: Vec::with_capacity(picked.len() * pool.dims),
        source: pool.source,
        ..VectorSet::default()
    };
    for &r in picked {
        set.data.extend_from_slice(pool.vector(r as usize));
    }
    set
}

fn search(index: &Path, queries: &VectorSet, k: usize, list: usize) -> Vec<Vec<u64>> {
    search_counting(index, queries, k, list).0
}

/// Hits, and the mean blocks read per query.
fn search_counting(index: &Path, queries: &VectorSet, k: usize, list: usize) -> (Vec<Vec<u64>>, f64) {
    let index = Index::open(index).expect("open index");
    let params = SearchParams { k, search_list: list, beam_width: 1 };
    let hits = index.search_many(&queries.data, &params).expect("search");
    let blocks = hits.iter().map(|(_, s)| s.blocks_read).sum::<u64>() as f64 / hits.len().max(1) as f64;
    (hits.into_iter().map(|(h, _)| h.into_iter().map(|n| n.rowid).collect()).collect(), blocks)
}

/// Percent of `rowids` whose hits start with themselves.
fn found_first(hits: &[Vec<u64>], rowids: &[u64]) -> f64 {
    let found = hits.iter().zip(rowids).filter(|(h, r)| h.first() == Some(*r)).count();
    100.0 * found as f64 / rowids.len().max(1) as f64
}

/// Percent of `rows` whose own vector finds them as the top-1 hit.
fn self_top1(index: &Path, rows: &VectorSet, list: usize) -> f64 {
    found_first(&search(index, rows, 1, list), &rows.rowids)
}

/// Live nodes the structural check cannot reach from the entry point; panics on any other
/// problem.
fn unreachable(index: &Path) -> u64 {
    let report = check_index(&IndexFile::open(index).expect("open index"));
    let other: Vec<&String> = report.problems.iter().filter(|p| !p.contains("cannot be reached")).collect();
    assert!(other.is_empty(), "the index is not sound: {other:?}");
    report.unreachable
}

fn main() {
    let o = parse_args();
    let bin = binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let at = |name: &str| dir.path().join(name);
    let threads = o.threads.to_string();
    let lmd = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        cmd.args(args).arg("--index").arg(at("churn.lmd")).env_remove("LMDISKANN_INDEX");
        run(&mut cmd);
    };

    let initial = o.rows * 9 / 10;
    let per_round = ((initial as f64) * o.percent / 100.0).round() as usize;
    let data = Clustered::standard(o.dims, 20_261_121);
    // Every row that will ever exist: the initial ones, then each round's new ones.
    let pool = data.sample(initial + o.rounds * per_round, 0);
    let queries = data.sample(1000, 1);
    println!(
        "churn: {} x {} synthetic clustered vectors, build on {initial}, {} rounds of -{per_round}/+{per_round}, vacuum {}, recall@10 at L {}, {} threads",
        o.rows, o.dims, o.rounds, o.vacuum, o.list, o.threads
    );

    let mut live: Vec<u64> = (0..initial as u64).collect();
    let build = |input: &str, output: &str, report: &str| {
        let mut cmd = Command::new(&bin);
        cmd.args(["build", "--input"]).arg(at(input)).args(["--threads", &threads, "--output"]).arg(at(output));
        cmd.arg("--report").arg(at(report));
        if let Some(bytes) = &o.block_size {
            cmd.args(["--block-size", bytes]);
        }
        run(&mut cmd);
        read_json(&at(report))
    };
    write_vectors_parquet(&at("base.parquet"), &subset(&pool, &live), true).expect("write base");
    let initial_build = build("base.parquet", "churn.lmd", "build.json");
    println!(
        "initial build: {:.1} s, {:.0} vectors/s, max degree {}",
        initial_build["build_seconds"].as_f64().unwrap(),
        initial_build["vectors_per_second"].as_f64().unwrap(),
        Index::open(&at("churn.lmd")).expect("open index").file().header().max_degree
    );

    let auto = if o.vacuum == "auto" { lmdiskann::index::DEFAULT_AUTO_VACUUM.to_string() } else { "off".to_string() };
    let mut rng = Rng::new(7);
    let mut deleted: HashSet<u64> = HashSet::new();
    let mut next_row = initial as u64;
    let mut deleted_returned = 0usize;
    // Inserted rows still live, for the self-search over every round's inserts.
    let mut inserted: Vec<u64> = Vec::new();
    let mut last_fresh_bytes = None;
    println!();
    println!("| round | live | tombstones | recall@10 | fresh build | diff | blocks/query | fresh | unreachable / fresh | inserted top-1 | before vacuum | fresh build | all inserted | deleted returned | delete s | insert vec/s | vacuum s | rebuild s | rebuild vec/s | file MiB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for round in 1..=o.rounds {
        // Delete per_round live rows at random.
        rng.shuffle(&mut live);
        let gone: Vec<u64> = live.split_off(live.len() - per_round);
        std::fs::write(at("gone.txt"), gone.iter().map(|r| format!("{r}\n")).collect::<String>()).expect("write gone");
        lmd(&[
            "delete",
            "--input",
            at("gone.txt").to_str().unwrap(),
            "--auto-vacuum",
            &auto,
            "--report",
            at("delete.json").to_str().unwrap(),
        ]);
        let delete_s = read_json(&at("delete.json"))["seconds"].as_f64().unwrap();
        deleted.extend(&gone);
        // Insert per_round new rows.
        let new: Vec<u64> = (next_row..next_row + per_round as u64).collect();
        next_row += per_round as u64;
        let new_set = subset(&pool, &new);
        write_vectors_parquet(&at("new.parquet"), &new_set, true).expect("write new");
        lmd(&[
            "insert",
            "--input",
            at("new.parquet").to_str().unwrap(),
            "--threads",
            &threads,
            "--auto-vacuum",
            &auto,
            "--report",
            at("insert.json").to_str().unwrap(),
        ]);
        let insert = read_json(&at("insert.json"));
        live.extend(&new);
        let top1_before_vacuum = self_top1(&at("churn.lmd"), &new_set, o.list);
        let tombstones = insert["tombstoned"].as_u64().unwrap();
        let mut vacuum_s = insert["vacuum"]["seconds"].as_f64();
        if o.vacuum == "every" {
            lmd(&["vacuum", "--threads", &threads, "--report", at("vacuum.json").to_str().unwrap()]);
            vacuum_s = read_json(&at("vacuum.json"))["seconds"].as_f64();
        }

        // Measure.
        live.sort_unstable();
        let live_set = subset(&pool, &live);
        let truth = exact_rowids(&live_set, &queries, Metric::L2, 10).expect("exact");
        let (found, blocks) = search_counting(&at("churn.lmd"), &queries, 10, o.list);
        let recall = recall_at_k(&found, &truth, 10);
        let lost = unreachable(&at("churn.lmd"));
        let top1 = search(&at("churn.lmd"), &new_set, 1, o.list);
        let found_self = found_first(&top1, &new);
        deleted_returned += found.iter().chain(&top1).flatten().filter(|r| deleted.contains(r)).count();
        inserted.extend(&new);
        inserted.retain(|r| !deleted.contains(r));
        let all_top1 = self_top1(&at("churn.lmd"), &subset(&pool, &inserted), o.list);
        let file_bytes = std::fs::metadata(at("churn.lmd")).unwrap().len();

        let mut fresh_top1 = None;
        let mut fresh_lost = None;
        let (fresh_recall, rebuild_s, rebuild_rate) = if o.fresh {
            write_vectors_parquet(&at("live.parquet"), &live_set, true).expect("write live");
            let fresh = build("live.parquet", "fresh.lmd", "fresh.json");
            last_fresh_bytes = fresh["file_bytes"].as_u64();
            let (hits, fresh_blocks) = search_counting(&at("fresh.lmd"), &queries, 10, o.list);
            let r = recall_at_k(&hits, &truth, 10);
            fresh_top1 = Some(self_top1(&at("fresh.lmd"), &new_set, o.list));
            fresh_lost = Some(unreachable(&at("fresh.lmd")));
            (Some((r, fresh_blocks)), fresh["build_seconds"].as_f64(), fresh["vectors_per_second"].as_f64())
        } else {
            (None, None, None)
        };
        let fresh_blocks = fresh_recall.map(|f| f.1);
        let fresh_recall = fresh_recall.map(|f| f.0);
        let f = |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        println!(
            "| {round} | {} | {tombstones} | {recall:.4} | {} | {} | {blocks:.1} | {} | {lost}{} | {found_self:.2}% | {top1_before_vacuum:.2}% | {} | {all_top1:.2}% | {deleted_returned} | {delete_s:.2} | {:.0} | {} | {} | {} | {:.1} |",
            live.len(),
            f(fresh_recall, 4),
            f(fresh_recall.map(|r| recall - r), 4),
            f(fresh_blocks, 1),
            fresh_lost.map_or(String::new(), |n| format!(" / {n}")),
            fresh_top1.map_or("-".to_string(), |t| format!("{t:.2}%")),
            insert["vectors_per_second"].as_f64().unwrap(),
            f(vacuum_s, 2),
            f(rebuild_s, 1),
            f(rebuild_rate, 0),
            file_bytes as f64 / (1 << 20) as f64,
        );
    }
    lmd(&["vacuum", "--compact", "--threads", &threads, "--report", at("compact.json").to_str().unwrap()]);
    let compact = read_json(&at("compact.json"));
    let after = compact["compacted"]["after_bytes"].as_u64().unwrap();
    println!();
    println!(
        "vacuum --compact: {:.1} MiB -> {:.1} MiB in {:.2} s{}",
        compact["compacted"]["before_bytes"].as_u64().unwrap() as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
        compact["seconds"].as_f64().unwrap(),
        last_fresh_bytes.map_or(String::new(), |fresh| format!(
            "; a fresh build of the same rows is {:.1} MiB ({:+.2}%)",
            fresh as f64 / (1 << 20) as f64,
            100.0 * (after as f64 / fresh as f64 - 1.0)
        )),
    );
    let found = search(&at("churn.lmd"), &queries, 10, o.list);
    live.sort_unstable();
    let truth = exact_rowids(&subset(&pool, &live), &queries, Metric::L2, 10).expect("exact");
    println!(
        "after compaction: recall@10 {:.4}, deleted rowids returned {}",
        recall_at_k(&found, &truth, 10),
        found.iter().flatten().filter(|r| deleted.contains(r)).count()
    );
}
