//! `lmdiskann vacuum`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use lmdiskann::index::vacuum_with_progress;
use lmdiskann::storage::{destination, FileStorage, Written};

use crate::progress::Progress;
use crate::report::{report_destination, write_json};
use crate::writing::{failed, print_outcome, to_json, wait_only};

#[derive(clap::Args)]
pub struct Args {
    /// Rewrite the index densely (a new file renamed over it) so it shrinks; also turns
    /// an index of an older format into the current one.
    #[arg(long)]
    compact: bool,
    /// Wait while another process uses the index, instead of failing at once.
    #[arg(long)]
    wait: bool,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write a JSON summary (counts, timings) to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

pub fn run(args: Args, index: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let report_to = report_destination(args.report.as_deref(), force, &[index])?;
    // A compaction renames a new file over the index: through a symlink, over its target.
    let resolved = match args.compact {
        true => destination(index, Written::Index, false, &[])?.path().to_path_buf(),
        false => index.to_path_buf(),
    };
    let started = Instant::now();
    let pool = crate::thread_pool(args.threads)?;
    let progress = Progress::new();
    let report = pool
        .install(|| {
            vacuum_with_progress(&FileStorage, &resolved, args.compact, &wait_only(args.wait), &|done, total| {
                progress.update("vacuum", done, total)
            })
        })
        .map_err(|e| failed(index, "vacuum", e))?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("vacuumed {} in {:.2} s", index.display(), seconds);
    print_outcome(index, &report);
    if let Some(dest) = &report_to {
        write_json(dest, "vacuum", to_json(index, &report, seconds))?;
    }
    Ok(ExitCode::SUCCESS)
}
