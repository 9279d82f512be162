//! `lmdiskann demo`: the whole path on seeded data, with recall against brute force.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use lmdiskann::exact::exact_rowids;
use lmdiskann::index::{build_index, Index, ReadPath, DEFAULT_BEAM_WIDTH};
use lmdiskann::io::{read_vectors, InputOptions};
use lmdiskann::storage::{destination, Written};
use lmdiskann::synthetic::Clustered;
use lmdiskann::{BuildOptions, SearchParams};

use crate::build::MetricArg;
use crate::generate::{vectors_destination, write_set};
use crate::measure::run_batch;
use crate::progress::Progress;
use crate::report::human_bytes;

#[derive(clap::Args)]
pub struct Args {
    /// Folder for the generated files (created if missing); the index goes here too,
    /// unless --index is given on the command line.
    #[arg(long, default_value = "lmdiskann-demo", value_name = "DIR")]
    dir: PathBuf,
    /// Base vectors.
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    #[arg(long, default_value_t = 128)]
    dims: usize,
    /// Query vectors (fresh draws from the same clusters).
    #[arg(long, default_value_t = 200)]
    queries: usize,
    #[arg(long, value_enum, default_value = "l2")]
    metric: MetricArg,
    #[arg(short, default_value_t = 10)]
    k: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Runs the demo; its index goes to `index` when given, else into the demo's folder.
pub fn run(args: Args, index: Option<&Path>, force: bool) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.n > 0 && args.queries > 0 && args.dims > 0 && args.k > 0, "--n, --queries, --dims and -k must be at least 1");
    std::fs::create_dir_all(&args.dir).with_context(|| format!("{}: cannot create folder", args.dir.display()))?;
    // Every file the demo writes is checked before any is written.
    let base_to = vectors_destination(&args.dir.join("vectors.parquet"), force)?;
    let query_to = vectors_destination(&args.dir.join("queries.fvecs"), force)?;
    let index_path = index.map_or_else(|| args.dir.join("index.lmd"), Path::to_path_buf);
    let index_path = destination(&index_path, Written::Index, force, &[])?.path().to_path_buf();
    let (base_path, query_path) = (base_to.0.path(), query_to.0.path());

    let data = Clustered::standard(args.dims, args.seed);
    write_set(&base_to, &data.sample(args.n, 0))?;
    write_set(&query_to, &data.sample(args.queries, 1))?;

    let base = read_vectors(base_path, &InputOptions { unique_ids: true, ..Default::default() })?;
    let queries = read_vectors(query_path, &InputOptions { expect_dims: Some(args.dims), ..Default::default() })?;
    let metric = args.metric.into();
    let options = BuildOptions { metric, seed: args.seed, force, ..BuildOptions::default() };
    let pool = crate::thread_pool(args.threads)?;
    let progress = Progress::new();
    let started = Instant::now();
    let report = pool.install(|| build_index(base.clone(), &options, &index_path, &|s, d, t| progress.build_stage(s, d, t)))?;
    progress.finish();
    let build_seconds = started.elapsed().as_secs_f64();

    let index = Index::open(&index_path)?;
    let truth: Vec<Vec<u64>> = pool.install(|| exact_rowids(&base, &queries, metric, args.k))?;
    println!(
        "built {} in {build_seconds:.1} s ({:.0} vectors/s): {} ({} per vector, R {})",
        index_path.display(),
        args.n as f64 / build_seconds,
        human_bytes(report.file_bytes),
        human_bytes(report.file_bytes / report.vectors),
        report.max_degree
    );
    println!("{:>6} {:>10} {:>10} {:>12}", "L", "recall@".to_string() + &args.k.to_string(), "QPS", "blocks/query");
    for list in [16, 32, 64, 128] {
        let params = SearchParams { k: args.k, search_list: list, beam_width: DEFAULT_BEAM_WIDTH };
        let summary = run_batch(&index, &queries, &params, ReadPath::Auto, &pool)?.summary(&params, Some(&truth));
        let marker = if list == index.default_search_list() { "  (default)" } else { "" };
        println!("{list:>6} {:>10.4} {:>10.0} {:>12.1}{marker}", summary.recall.unwrap_or(0.0), summary.qps, summary.blocks_per_query);
    }
    println!("try: lmdiskann search --index {} --query {} -k {}", index_path.display(), query_path.display(), args.k);
    Ok(ExitCode::SUCCESS)
}
