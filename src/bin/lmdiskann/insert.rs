//! `lmdiskann insert`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use lmdiskann::index::insert;
use lmdiskann::io::{read_vectors, InputError, InputOptions, PositionRowids, RowidSource, VectorSet};
use lmdiskann::plural;
use lmdiskann::storage::FileStorage;

use crate::progress::Progress;
use crate::report::{note_rowids, report_destination, write_json};
use crate::writing::{failed, print_outcome, to_json, WriteArgs};

#[derive(clap::Args)]
pub struct Args {
    /// New rows: .parquet, .csv/.tsv, .fvecs, .bvecs or .npy, as for `build`.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Parquet column holding the vectors (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    /// Column holding rowids (default: `rowid`, in any case). A file without one is
    /// refused unless --start-rowid or --rowids-from-position says how to number its rows.
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// For a file without a rowid column: number its rows N, N+1, ... in file order.
    #[arg(long, value_name = "N")]
    start_rowid: Option<u64>,
    /// For a file without a rowid column: number its rows 0, 1, ... in file order, as
    /// `build` does (these collide with the rowids of a table built the same way).
    #[arg(long)]
    rowids_from_position: bool,
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
    let positions = match (args.start_rowid, args.rowids_from_position) {
        (Some(_), true) => bail!("--start-rowid and --rowids-from-position both number the rows: pass one of them"),
        (Some(start), false) => PositionRowids::From(start),
        (None, true) => PositionRowids::From(0),
        (None, false) => PositionRowids::Refuse,
    };
    let input_options =
        InputOptions { vector_column: args.vector_column, id_column: args.id_column, unique_ids: true, positions, ..Default::default() };
    let set = match read_vectors(&args.input, &input_options) {
        // An input with no new rows (a nightly export with nothing new) has nothing to do.
        Err(InputError::Empty { .. }) => VectorSet::default(),
        read => read?,
    };
    if set.rowids_from == RowidSource::Column && positions != PositionRowids::Refuse && !set.is_empty() {
        let flag = if args.rowids_from_position { "--rowids-from-position" } else { "--start-rowid" };
        bail!("{}: has a rowid column, so {flag} does not apply: drop {flag} to use the column", args.input.display());
    }
    let (source, rowids_from) = (set.source, set.rowids_from);
    let started = Instant::now();
    let pool = crate::thread_pool(args.threads)?;
    let progress = Progress::new();
    let report = pool
        .install(|| {
            insert(&FileStorage, index, set, args.upsert, &args.write.options(), &|done, total| progress.update("insert", done, total))
        })
        .map_err(|e| failed(index, &format!("insert from {}", args.input.display()), e))?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    // Said once the insert succeeded, so that a failure stays one line.
    note_rowids(&args.input, rowids_from);
    if let (Some(loss), Some(h)) = (report.loss, &report.header) {
        eprintln!(
            "warning: {}: storing {} values as {} (the index's type) changed them by up to {:.3e} (largest at row {}, element {}, counting from 0)",
            args.input.display(),
            source.name(),
            h.element_type.name(),
            loss.max_error,
            loss.row,
            loss.element
        );
    }
    if report.inserted == 0 {
        eprintln!("nothing to do: {} holds no rows; {} is unchanged", args.input.display(), index.display());
    } else {
        eprintln!(
            "inserted {} into {}{} in {:.2} s ({:.0} vectors/s)",
            plural(report.inserted, "row"),
            index.display(),
            if report.replaced > 0 { format!(" ({} replaced)", report.replaced) } else { String::new() },
            seconds,
            report.inserted as f64 / seconds.max(1e-9)
        );
    }
    print_outcome(index, &report);
    if let Some(dest) = &report_to {
        write_json(dest, "insert", to_json(index, &report, seconds))?;
    }
    Ok(ExitCode::SUCCESS)
}
