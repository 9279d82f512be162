//! `lmdiskann delete`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use lmdiskann::index::delete_with_progress;
use lmdiskann::io::read_rowids;
use lmdiskann::plural;
use lmdiskann::storage::FileStorage;

use crate::progress::Progress;
use crate::report::{report_destination, write_json};
use crate::writing::{failed, print_outcome, to_json, WriteArgs};

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["rowids", "input"]))]
pub struct Args {
    /// Rowids to delete, comma-separated (spaces around them are fine).
    #[arg(long, value_delimiter = ',', value_name = "ROWID,...")]
    rowids: Vec<String>,
    /// A file of rowids to delete: .parquet or .csv (the `rowid` column, or the only
    /// column), or .txt (one per line), e.g. what
    /// `COPY (SELECT rowid FROM items WHERE ...) TO 'gone.parquet'` writes.
    #[arg(long, value_name = "PATH")]
    input: Option<PathBuf>,
    /// Column of --input holding the rowids (default: `rowid`, or the only column).
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// Skip rowids that are not live in the index (never inserted, or already deleted)
    /// instead of failing.
    #[arg(long)]
    ignore_missing: bool,
    #[command(flatten)]
    write: WriteArgs,
    /// Also write a JSON summary (counts, timings, vacuum) to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

pub fn run(args: Args, index: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let report_to = report_destination(args.report.as_deref(), force, &[args.input.as_deref().unwrap_or(index), index])?;
    let rowids = match &args.input {
        Some(input) => read_rowids(input, args.id_column.as_deref())?,
        None => parse_rowids(&args.rowids)?,
    };
    let started = Instant::now();
    let progress = Progress::new();
    let report = delete_with_progress(&FileStorage, index, &rowids, args.ignore_missing, &args.write.options(), &|done, total| {
        progress.update("vacuum", done, total)
    })
    .map_err(|e| failed(index, "delete", e))?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    if rowids.is_empty() {
        let from = args.input.as_ref().map_or("--rowids".to_string(), |p| p.display().to_string());
        eprintln!("nothing to do: {from} lists no rowids; {} is unchanged", index.display());
    } else {
        let skipped = if report.missing > 0 { format!(" ({} not live in the index, skipped)", report.missing) } else { String::new() };
        eprintln!("deleted {} from {}{skipped} in {:.2} s", plural(report.deleted, "row"), index.display(), seconds);
    }
    print_outcome(index, &report);
    if let Some(dest) = &report_to {
        write_json(dest, "delete", to_json(index, &report, seconds))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The items of `--rowids` (split at commas by clap), each a non-negative integer, spaces
/// around it allowed. A blank value lists none.
fn parse_rowids(items: &[String]) -> anyhow::Result<Vec<u64>> {
    if items.iter().all(|item| item.trim().is_empty()) {
        return Ok(Vec::new());
    }
    items
        .iter()
        .map(|item| {
            item.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!(
                    "--rowids: {:?} is not a rowid: list non-negative integers separated by commas, e.g. --rowids 7,8",
                    item.trim()
                )
            })
        })
        .collect()
}
