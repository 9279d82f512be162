//! `lmdiskann search`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use lmdiskann::index::{Index, DEFAULT_BEAM_WIDTH};
use lmdiskann::io::{read_vectors, write_hits, Hit, InputOptions, OutputFormat};
use lmdiskann::storage::write_atomically;
use lmdiskann::SearchParams;
use serde_json::json;

use crate::report::{anon_rss_bytes, peak_rss_bytes, write_json};

#[derive(clap::Args)]
pub struct Args {
    /// Query vectors: .fvecs or .parquet.
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
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write hits here instead of stdout; the format follows the extension (.csv .tsv
    /// .jsonl .parquet).
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Output format, overriding the extension (stdout default: csv).
    #[arg(long, value_parser = ["csv", "tsv", "jsonl", "parquet"])]
    format: Option<String>,
    /// Also write a JSON summary (QPS, blocks read, peak memory) to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

pub fn run(args: Args, index_path: &Path) -> anyhow::Result<ExitCode> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    if args.beam_width == 0 {
        bail!("--beam-width must be at least 1");
    }
    if args.search_list == Some(0) {
        bail!("--search-list must be at least 1");
    }
    let format = output_format(&args)?;
    let index = Index::open(index_path)?;
    let queries = read_vectors(
        &args.query,
        &InputOptions { vector_column: args.vector_column.clone(), expect_dims: Some(index.dims()), ..Default::default() },
    )?;
    let params = SearchParams {
        k: args.k,
        search_list: args.search_list.unwrap_or_else(|| index.default_search_list()),
        beam_width: args.beam_width,
    };
    let pool = crate::thread_pool(args.threads)?;
    let started = Instant::now();
    let results = pool
        .install(|| index.search_many(&queries.data, &params))
        .with_context(|| format!("{}: search failed", args.query.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let anon_rss = anon_rss_bytes();

    let mut hits = Vec::with_capacity(results.len() * args.k);
    let mut blocks_read = 0u64;
    for (query, (found, stats)) in results.iter().enumerate() {
        blocks_read += stats.blocks_read;
        hits.extend(found.iter().enumerate().map(|(rank, n)| Hit {
            query: query as u64,
            rank: rank as u32 + 1,
            rowid: n.rowid,
            distance: n.distance,
        }));
    }
    match &args.output {
        Some(path) => write_atomically(path, |w| Ok(write_hits(w, format, &hits)?))
            .with_context(|| format!("{}: cannot write hits", path.display()))?,
        None => {
            write_hits(std::io::BufWriter::new(std::io::stdout()), format, &hits)?;
            std::io::stdout().flush()?;
        }
    }
    let n = queries.len() as f64;
    if let Some(path) = &args.report {
        write_json(
            path,
            &json!({
                "index": index_path,
                "queries": queries.len(),
                "k": args.k,
                "search_list": params.search_list,
                "beam_width": params.beam_width,
                "threads": pool.current_num_threads(),
                "seconds": seconds,
                "qps": n / seconds.max(1e-9),
                "blocks_read_per_query": blocks_read as f64 / n,
                "peak_rss_bytes": peak_rss_bytes(),
                "anon_rss_bytes": anon_rss,
            }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn output_format(args: &Args) -> anyhow::Result<OutputFormat> {
    if let Some(name) = &args.format {
        return OutputFormat::from_name(name).with_context(|| format!("unknown --format {name}"));
    }
    match &args.output {
        None => Ok(OutputFormat::Csv),
        Some(path) => OutputFormat::from_extension(path).with_context(|| {
            format!("{}: cannot tell the output format from the extension; use .csv, .tsv, .jsonl or .parquet, or pass --format", path.display())
        }),
    }
}
