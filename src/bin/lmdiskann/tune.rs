//! `lmdiskann tune`: the smallest search list that meets a recall target, measured.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use lmdiskann::index::{save_default_search_list, Index, ReadPath, DEFAULT_BEAM_WIDTH};
use lmdiskann::SearchParams;
use serde_json::json;

use crate::measure::{check_count, check_recall_bar, load_truth, read_queries, run_batch, Summary};
use crate::report::{report_destination, write_json};
use crate::writing::{failed, note_removed_tmp};

/// The search lists tried by default, smallest first: roughly 1.25x apart, so the answer
/// is within a quarter of the true minimum.
const SWEEP: [usize; 20] = [8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 640];

#[derive(clap::Args)]
pub struct Args {
    /// Query vectors: .fvecs, .bvecs, .npy, .csv, .tsv or .parquet.
    #[arg(long, short, value_name = "PATH")]
    query: PathBuf,
    /// True neighbours of the queries as rowids (.ivecs or .parquet from `groundtruth`).
    #[arg(long, value_name = "PATH")]
    groundtruth: PathBuf,
    /// The recall@k to reach.
    #[arg(long, default_value_t = 0.95, value_name = "RECALL")]
    target_recall: f64,
    /// Results per query: recall is recall@k.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Search lists to try, comma-separated (default: 8 to 640, about 1.25x apart).
    #[arg(long, value_delimiter = ',', value_name = "L,L,...")]
    lists: Option<Vec<usize>>,
    /// Record the smallest passing L in the index header: searches without -L then use it.
    #[arg(long)]
    save: bool,
    /// Parquet column holding the query vectors (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    #[arg(long, default_value_t = DEFAULT_BEAM_WIDTH, value_name = "W")]
    beam_width: usize,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write the sweep as JSON to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

pub fn run(args: Args, index_path: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let target = check_recall_bar("--target-recall", args.target_recall)?;
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    if args.beam_width == 0 {
        bail!("--beam-width must be at least 1");
    }
    check_count("-k", args.k)?;
    check_count("--beam-width", args.beam_width)?;
    if let Some(lists) = &args.lists {
        if lists.is_empty() || lists.contains(&0) {
            bail!("--lists must name search lists of at least 1");
        }
        for &l in lists {
            check_count("--lists", l)?;
        }
    }
    let report_to = report_destination(args.report.as_deref(), force, &[&args.query, &args.groundtruth, index_path])?;
    let index = Index::open(index_path)?;
    // k and lists beyond what the index holds are clamped (they could find no more), so
    // lists that end up equal are run once.
    let at = |search_list| index.within(&SearchParams { k: args.k, search_list, beam_width: args.beam_width });
    let k = at(0).k;
    let mut lists: Vec<usize> = match &args.lists {
        Some(lists) => lists.iter().map(|&l| at(l).search_list).collect(),
        None => SWEEP.into_iter().filter(|&l| l >= k).map(|l| at(l).search_list).collect(),
    };
    lists.sort_unstable();
    lists.dedup();
    if lists.is_empty() {
        bail!("-k {k} is above every search list of the default sweep; pass --lists");
    }
    let queries = read_queries(&args.query, args.vector_column.clone(), &index)?;
    let truth = load_truth(&args.groundtruth, queries.len(), &args.query, k)?;
    let pool = crate::thread_pool(args.threads)?;

    // One untimed pass first, so the first row is not the one that paid for a cold cache.
    run_batch(&index, &queries, &at(lists[0]), ReadPath::Auto, &pool)
        .with_context(|| format!("{}: search failed", args.query.display()))?;
    println!("{:>6} {:>10} {:>10} {:>13} {:>10} {:>10}", "L", format!("recall@{k}"), "QPS", "blocks/query", "p50 ms", "p99 ms");
    let mut sweep: Vec<Summary> = Vec::new();
    for &search_list in &lists {
        let params = at(search_list);
        let summary = run_batch(&index, &queries, &params, ReadPath::Auto, &pool)
            .with_context(|| format!("{}: search failed", args.query.display()))?
            .summary(&params, Some(&truth));
        let recall = summary.recall.unwrap_or(0.0);
        println!(
            "{:>6} {:>10.4} {:>10.0} {:>13.1} {:>10.3} {:>10.3}",
            summary.search_list, recall, summary.qps, summary.blocks_per_query, summary.latency_ms[0], summary.latency_ms[2]
        );
        sweep.push(summary);
        if recall >= target {
            break;
        }
    }
    let chosen = sweep.iter().find(|s| s.recall.unwrap_or(0.0) >= target).map(|s| s.search_list);
    if let Some(dest) = &report_to {
        let rows: Vec<_> = sweep.iter().map(Summary::json).collect();
        write_json(dest, "tune", json!({ "index": index_path, "target_recall": target, "chosen_search_list": chosen, "sweep": rows }))?;
    }
    let Some(chosen) = chosen else {
        let best = sweep.iter().max_by(|a, b| a.recall.unwrap_or(0.0).total_cmp(&b.recall.unwrap_or(0.0)));
        let best = best.map_or(String::new(), |s| format!(" (best {:.4} at L={})", s.recall.unwrap_or(0.0), s.search_list));
        eprintln!(
            "lmdiskann: no search list up to {} reaches recall@{} {target}{best}: try larger --lists, or rebuild with a larger -R, -L or finer --codes",
            lists[lists.len() - 1],
            k,
        );
        return Ok(ExitCode::from(1));
    };
    println!("smallest L with recall@{k} >= {target}: {chosen}");
    if args.save {
        // Saving takes the exclusive lock, which our own shared one would block.
        drop(index);
        let saved = save_default_search_list(index_path, chosen as u32, crate::now_ms())
            .map_err(|e| failed(index_path, "recording the default search list", e))?;
        if saved.removed_tmp {
            note_removed_tmp(index_path);
        }
        let previous = saved.previous;
        let was = if previous == 0 { "the built-in default".to_string() } else { format!("L={previous}") };
        println!("saved: searches of {} without -L now use L={chosen} (was {was})", index_path.display());
    }
    Ok(ExitCode::SUCCESS)
}
