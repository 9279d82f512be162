//! `lmdiskann groundtruth`: exact nearest neighbours by brute force, as rowids.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use lmdiskann::exact::exact_knn_file;
use lmdiskann::index::Index;
use lmdiskann::io::{read_vectors, write_hits, write_ivecs, Hit, InputOptions, OutputFormat};
use lmdiskann::storage::{destination, Written};
use lmdiskann::{plural, Metric};

use crate::build::MetricArg;
use crate::measure::check_count;
use crate::report::note_rowids;

#[derive(clap::Args)]
pub struct Args {
    /// Base vectors: .parquet, .csv, .tsv, .fvecs, .bvecs or .npy, read in chunks (any size); rowids as in `build`.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Query vectors: .fvecs, .bvecs, .npy, .csv, .tsv or .parquet.
    #[arg(long, short, value_name = "PATH")]
    query: PathBuf,
    /// Neighbours per query.
    #[arg(short, default_value_t = 100)]
    k: usize,
    /// Where to write: .ivecs (rowids must fit int32) or .parquet/.csv/.tsv/.jsonl
    /// (columns query, rank, rowid, distance); `-` is stdout, as CSV.
    #[arg(long, short, value_name = "PATH")]
    output: PathBuf,
    /// Distance (default: the metric of the index at --index if that file exists, else l2).
    #[arg(long, value_enum)]
    metric: Option<MetricArg>,
    /// Parquet column holding the vectors, in both files (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    /// Parquet column of the base holding rowids (default: `rowid`, else the row position).
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(args: Args, index_path: &Path, force: bool) -> anyhow::Result<ExitCode> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    check_count("-k", args.k)?;
    let stdout = args.output == Path::new("-");
    let ivecs = args.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("ivecs"));
    let format = match OutputFormat::from_extension(&args.output) {
        _ if stdout => Some(OutputFormat::Csv),
        Some(format) => Some(format),
        None if ivecs => None,
        None => {
            bail!("{}: cannot tell the output format from the extension; use .ivecs, .parquet, .csv, .tsv or .jsonl", args.output.display())
        }
    };
    let mut inputs = vec![args.input.as_path(), args.query.as_path()];
    if args.metric.is_none() {
        inputs.push(index_path);
    }
    let output = destination(&args.output, format.map_or(Written::Ivecs, Written::Hits), force, &inputs)?;
    let metric = match args.metric {
        Some(m) => Metric::from(m),
        None if index_path.is_file() => Index::open(index_path)
            .with_context(|| format!("{}: cannot read the index for its metric; pass --metric", index_path.display()))?
            .metric(),
        None => Metric::L2,
    };
    let queries = read_vectors(&args.query, &InputOptions { vector_column: args.vector_column.clone(), ..Default::default() })?;
    let base_opts = InputOptions { vector_column: args.vector_column.clone(), id_column: args.id_column.clone(), ..Default::default() };
    let pool = crate::thread_pool(args.threads)?;
    let started = Instant::now();
    let (neighbours, read) = pool
        .install(|| exact_knn_file(&args.input, &base_opts, &queries, metric, args.k))
        .with_context(|| format!("{}: exact search failed", args.input.display()))?;
    let seconds = started.elapsed().as_secs_f64();

    output
        .write(|w| {
            match format {
                None => {
                    let rows: Vec<Vec<u64>> = neighbours.iter().map(|n| n.iter().map(|&(r, _)| r).collect()).collect();
                    write_ivecs(w, &rows)?
                }
                Some(format) => {
                    let hits: Vec<Hit> = neighbours.iter().enumerate().flat_map(|(q, n)| Hit::ranked(q, n.iter().copied())).collect();
                    write_hits(w, format, &hits)?
                }
            }
            Ok(())
        })
        .with_context(|| format!("{}: cannot write ground truth", args.output.display()))?;
    note_rowids(&args.input, read.rowids_from);
    let pairs = queries.len() as f64 * read.rows as f64;
    eprintln!(
        "groundtruth: {} x {} ({}, {}), top {} in {:.2} s ({:.0} M distances/s, {}) -> {}",
        plural(queries.len() as u64, "query"),
        plural(read.rows, "base vector"),
        plural(read.dims as u64, "dim"),
        metric.name(),
        args.k,
        seconds,
        pairs / seconds.max(1e-9) / 1e6,
        plural(pool.current_num_threads() as u64, "thread"),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
