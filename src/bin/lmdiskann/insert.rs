//! `lmdiskann insert`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use lmdiskann::index::insert;
use lmdiskann::io::{read_vectors, InputOptions};
use lmdiskann::storage::FileStorage;

use crate::progress::Progress;
use crate::report::{report_destination, write_json};
use crate::writing::{failed, print_outcome, to_json, WriteArgs};

#[derive(clap::Args)]
pub struct Args {
    /// New rows: .parquet, .csv/.tsv, .fvecs, .bvecs or .npy, as for `build`.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Parquet column holding the vectors (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    /// Parquet column holding rowids (default: `rowid` if present, else the row position).
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// Replace rows whose rowid is already in the index instead of refusing them.
    #[arg(long)]
    upsert: bool,
    #[command(flatten)]
    write: WriteArgs,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write a JSON summary (counts, timings, vacuum) to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

pub fn run(args: Args, index: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let report_to = report_destination(args.report.as_deref(), force, &[&args.input, index])?;
    let input_options =
        InputOptions { vector_column: args.vector_column, id_column: args.id_column, unique_ids: true, expect_dims: None };
    let set = read_vectors(&args.input, &input_options)?;
    let source = set.source;
    let started = Instant::now();
    let pool = crate::thread_pool(args.threads)?;
    let progress = Progress::new();
    let report = pool
        .install(|| insert(&FileStorage, index, set, args.upsert, &args.write.options(), &|done, total| progress.update("insert", done, total)))
        .map_err(|e| failed(index, &format!("insert from {}", args.input.display()), e))?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    if let (Some(loss), Some(h)) = (report.loss, &report.header) {
        eprintln!(
            "warning: {}: storing {} values as {} (the index's type) changed them by up to {:.3e} (largest at row {}, element {})",
            args.input.display(),
            source.name(),
            h.element_type.name(),
            loss.max_error,
            loss.row,
            loss.element
        );
    }
    eprintln!(
        "inserted {} rows into {}{} in {:.2} s ({:.0} vectors/s)",
        report.inserted,
        index.display(),
        if report.replaced > 0 { format!(" ({} replaced)", report.replaced) } else { String::new() },
        seconds,
        report.inserted as f64 / seconds.max(1e-9)
    );
    print_outcome(index, &report);
    if let Some(dest) = &report_to {
        write_json(dest, "insert", to_json(index, &report, seconds))?;
    }
    Ok(ExitCode::SUCCESS)
}
