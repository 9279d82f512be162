//! `lmdiskann search`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use lmdiskann::index::{Index, ReadPath, DEFAULT_BEAM_WIDTH};
use lmdiskann::io::{write_hits, Hit, OutputFormat};
use lmdiskann::storage::{destination, Destination, Written};
use lmdiskann::SearchParams;
use serde_json::json;

use crate::measure::{check_count, check_recall_bar, load_truth, read_queries, run_batch};
use crate::report::{anon_rss_bytes, disk_read_bytes, peak_rss_bytes, report_destination, write_json};
use crate::size::parse_size;

#[derive(clap::Args)]
pub struct Args {
    /// Query vectors: .fvecs, .bvecs, .npy, .csv, .tsv or .parquet.
    #[arg(long, short, value_name = "PATH")]
    query: PathBuf,
    /// Parquet column holding the query vectors (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    /// Results per query.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Candidate list size L: larger finds more true neighbours, slower (default: the
    /// index's recorded default, else 64).
    #[arg(long, short = 'L', value_name = "L")]
    search_list: Option<usize>,
    /// Candidates expanded per round, their blocks read ahead together.
    #[arg(long, default_value_t = DEFAULT_BEAM_WIDTH, value_name = "W")]
    beam_width: usize,
    /// How blocks are read: `overlapped` keeps many reads in flight per thread (io_uring,
    /// Linux; what a cold index needs), `mmap` reads through the memory map, `auto` takes
    /// overlapped reads where the system has them.
    #[arg(long, default_value = "auto", value_name = "auto|mmap|overlapped")]
    io: String,
    /// Before the first query, read this much of the index into the page cache (512MiB,
    /// 2GiB): the blocks searches read most, which a build writes first, in one
    /// sequential pass. For a cold index larger than memory, give it what the page cache
    /// may hold; its time is reported apart from the search's.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    cache_memory: Option<u64>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write hits here instead of stdout (`-`); the format follows the extension (.csv
    /// .tsv .jsonl .parquet). A device or FIFO is written in place, a symlink through.
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Output format, overriding the extension (stdout default: csv).
    #[arg(long, value_parser = ["csv", "tsv", "jsonl", "parquet"])]
    format: Option<String>,
    /// Also write a JSON summary (QPS, latency percentiles, blocks read, recall, peak
    /// memory) to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// True neighbours as rowids (.ivecs or .parquet from `lmdiskann groundtruth`): print
    /// recall@k, QPS and latency to stderr; hits are then written only with --output.
    #[arg(long, value_name = "PATH")]
    groundtruth: Option<PathBuf>,
    /// Exit with code 1 when recall@k is below this (a CI gate).
    #[arg(long, value_name = "RECALL", requires = "groundtruth")]
    min_recall: Option<f64>,
}

pub fn run(args: Args, index_path: &Path, force: bool) -> anyhow::Result<ExitCode> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    if args.beam_width == 0 {
        bail!("--beam-width must be at least 1");
    }
    if args.search_list == Some(0) {
        bail!("--search-list must be at least 1");
    }
    check_count("-k", args.k)?;
    check_count("--beam-width", args.beam_width)?;
    if let Some(list) = args.search_list {
        check_count("--search-list", list)?;
    }
    let read_path = read_path(&args.io)?;
    let min_recall = args.min_recall.map(|r| check_recall_bar("--min-recall", r)).transpose()?;
    let format = output_format(&args)?;
    let mut inputs = vec![args.query.as_path(), index_path];
    inputs.extend(args.groundtruth.as_deref());
    let hits_to = match &args.output {
        Some(path) => Some(destination(path, Written::Hits(format), force, &inputs)?),
        None if args.groundtruth.is_some() => None,
        None => Some(destination(Path::new("-"), Written::Hits(format), force, &inputs)?),
    };
    inputs.extend(hits_to.as_ref().map(Destination::path));
    let report_to = report_destination(args.report.as_deref(), force, &inputs)?;
    let index = Index::open(index_path)?;
    let queries = read_queries(&args.query, args.vector_column.clone(), &index)?;
    // k and L beyond what the index holds are clamped: they could find no more.
    let params = index.within(&SearchParams {
        k: args.k,
        search_list: args.search_list.unwrap_or_else(|| index.default_search_list()),
        beam_width: args.beam_width,
    });
    let truth = args.groundtruth.as_ref().map(|gt| load_truth(gt, queries.len(), &args.query, params.k)).transpose()?;
    let pool = crate::thread_pool(args.threads)?;
    let warm_up = Instant::now();
    let warmed = args.cache_memory.map(|bytes| index.file().warm_up(bytes)).transpose()?;
    let warm_up_seconds = warm_up.elapsed().as_secs_f64();
    let read_before = disk_read_bytes();
    // Auto decides by what the page cache holds before the search.
    let read_path = index.resolve(read_path);
    let batch =
        run_batch(&index, &queries, &params, read_path, &pool).with_context(|| format!("{}: search failed", args.query.display()))?;
    let disk_read = disk_read_bytes().zip(read_before).map(|(after, before)| after.saturating_sub(before));
    let anon_rss = anon_rss_bytes();
    let summary = batch.summary(&params, truth.as_deref());

    let mut hits = Vec::with_capacity(batch.results.iter().map(|(found, _)| found.len()).sum());
    for (query, (found, _)) in batch.results.iter().enumerate() {
        hits.extend(Hit::ranked(query, found.iter().map(|n| (n.rowid, n.distance))));
    }
    if let Some(dest) = &hits_to {
        dest.write(|w| Ok(write_hits(w, format, &hits)?)).with_context(|| format!("{}: cannot write hits", dest.path().display()))?;
    }
    let passed = match (summary.recall, min_recall) {
        (Some(recall), Some(bar)) => recall >= bar,
        _ => true,
    };
    if let Some(dest) = &report_to {
        let mut report = summary.json();
        for (key, value) in [
            ("index", json!(index_path)),
            ("beam_width", json!(params.beam_width)),
            ("io", json!(read_path.name())),
            ("threads", json!(pool.current_num_threads())),
            ("seconds", json!(batch.seconds)),
            ("warm_up_bytes", json!(warmed)),
            ("warm_up_seconds", json!(warmed.map(|_| warm_up_seconds))),
            ("min_recall", json!(min_recall)),
            ("passed", json!(passed)),
            ("peak_rss_bytes", json!(peak_rss_bytes())),
            ("anon_rss_bytes", json!(anon_rss)),
            ("disk_read_bytes", json!(disk_read)),
        ] {
            report[key] = value;
        }
        write_json(dest, "search", report)?;
    }
    if truth.is_some() {
        eprintln!("{}", summary.line());
    }
    if let (Some(recall), Some(bar), false) = (summary.recall, min_recall, passed) {
        eprintln!(
            "lmdiskann: recall@{} {recall:.4} is below --min-recall {bar}: raise -L (`lmdiskann tune` finds the smallest that passes)",
            params.k
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn read_path(io: &str) -> anyhow::Result<ReadPath> {
    let names = || ReadPath::ALL.map(ReadPath::name).join(", ");
    ReadPath::from_name(io).with_context(|| format!("--io {io} is not a way to read: use one of {}", names()))
}

fn output_format(args: &Args) -> anyhow::Result<OutputFormat> {
    if let Some(name) = &args.format {
        return OutputFormat::from_name(name).with_context(|| format!("unknown --format {name}"));
    }
    match &args.output {
        None => Ok(OutputFormat::Csv),
        Some(path) if path == Path::new("-") => Ok(OutputFormat::Csv),
        Some(path) => OutputFormat::from_extension(path).with_context(|| {
            format!(
                "{}: cannot tell the output format from the extension; use .csv, .tsv, .jsonl or .parquet, or pass --format",
                path.display()
            )
        }),
    }
}
