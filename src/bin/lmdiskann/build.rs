//! `lmdiskann build`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use lmdiskann::index::build_index;
use lmdiskann::io::{read_vectors, InputOptions};
use lmdiskann::quant::CodeKind;
use lmdiskann::{BuildOptions, Metric};
use serde_json::json;

use crate::progress::BuildProgress;
use crate::report::{human_bytes, peak_rss_bytes, write_json};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MetricArg {
    /// Euclidean distance
    L2,
    /// Cosine distance (1 - cos); vectors are normalised once at build, zero vectors are refused
    Cosine,
    /// Negative inner product
    Ip,
}

impl From<MetricArg> for Metric {
    fn from(m: MetricArg) -> Metric {
        match m {
            MetricArg::L2 => Metric::L2,
            MetricArg::Cosine => Metric::Cosine,
            MetricArg::Ip => Metric::InnerProduct,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Vectors to index: .parquet (a list column, as DuckDB writes FLOAT[N]), .csv/.tsv
    /// (vectors as "[1.0, 2.0]" literals), .fvecs, .bvecs or .npy.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Where to write the index (default: --index).
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "l2")]
    metric: MetricArg,
    /// Parquet column holding the vectors (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    /// Parquet column holding rowids (default: `rowid` if present, else the row position).
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// Max edges per node R (default: as many as the planner's block holds, up to 64).
    #[arg(long, short = 'R', value_name = "R")]
    max_degree: Option<usize>,
    /// Candidate list size while building.
    #[arg(long, short = 'L', default_value_t = 128, value_name = "L")]
    build_list: usize,
    /// Pruning slack: > 1 keeps longer edges, making the graph easier to navigate.
    #[arg(long, default_value_t = 1.2)]
    alpha: f32,
    /// Neighbour codes kept in each block: bits per rotated coordinate (default: 2bit
    /// below 512 dims, 1bit from 512 on).
    #[arg(long, value_parser = ["1bit", "2bit", "4bit"])]
    codes: Option<String>,
    /// Block size in bytes (a power of two; default: chosen by the planner).
    #[arg(long, value_name = "BYTES")]
    block_size: Option<usize>,
    /// Fill the edge slots pruning leaves empty with the nearest pruned candidates: better
    /// recall on real data (free on disk), about twice the build time. `false` to skip.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    saturate: bool,
    /// Seed for every random choice; the same input and seed give the same file.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Worker threads (0 = one per core); the file does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write a JSON summary (timings, sizes, peak memory) to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

pub fn run(args: Args, index: &Path) -> anyhow::Result<ExitCode> {
    let out = args.output.clone().unwrap_or_else(|| index.to_path_buf());
    let options = BuildOptions {
        metric: args.metric.into(),
        max_degree: args.max_degree,
        block_size: args.block_size,
        codes: args.codes.as_deref().and_then(CodeKind::from_name),
        build_list: args.build_list,
        alpha: args.alpha,
        seed: args.seed,
        saturate: args.saturate,
        created_ms: crate::now_ms(),
    };
    // Refuse bad parameters before reading what may be gigabytes of input.
    options.validate()?;
    let started = Instant::now();
    let input_options = InputOptions {
        vector_column: args.vector_column,
        id_column: args.id_column,
        unique_ids: true,
        expect_dims: None,
    };
    let set = read_vectors(&args.input, &input_options)?;
    let read_seconds = started.elapsed().as_secs_f64();
    options
        .plan(set.dims)
        .with_context(|| format!("{}: cannot index {}-dim vectors", args.input.display(), set.dims))?;
    let pool = crate::thread_pool(args.threads)?;
    let progress = BuildProgress::new();
    let built = Instant::now();
    let report = pool
        .install(|| build_index(set, &options, &out, &|stage, done, total| progress.update(stage, done, total)))
        .with_context(|| format!("{}: build failed, nothing was written", args.input.display()))?;
    progress.finish();
    let build_seconds = built.elapsed().as_secs_f64();
    let rate = report.vectors as f64 / build_seconds.max(1e-9);
    let peak = peak_rss_bytes();
    eprintln!(
        "built {}: {} vectors x {} dims, {} ({} per vector, block {} B, R {}), {:.1} s ({:.0} vectors/s), peak RSS {}",
        out.display(),
        report.vectors,
        report.dims,
        human_bytes(report.file_bytes),
        human_bytes(report.file_bytes / report.vectors),
        report.block_size,
        report.max_degree,
        build_seconds,
        rate,
        peak.map_or("unknown".into(), human_bytes),
    );
    if let Some(path) = &args.report {
        write_json(
            path,
            &json!({
                "index": out,
                "vectors": report.vectors,
                "dims": report.dims,
                "block_size": report.block_size,
                "max_degree": report.max_degree,
                "file_bytes": report.file_bytes,
                "bytes_per_vector": report.file_bytes as f64 / report.vectors as f64,
                "read_seconds": read_seconds,
                "build_seconds": build_seconds,
                "vectors_per_second": rate,
                "peak_rss_bytes": peak,
                "threads": pool.current_num_threads(),
            }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
