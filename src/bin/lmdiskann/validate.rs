//! `lmdiskann validate`: exit 0 when the index is sound, 1 when problems were found
//! (listed), 2 when it could not be read at all.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use lmdiskann::index::{check_against, check_index, sample_recall, AgainstReport, CheckReport, Index, SampleRecall};
use lmdiskann::io::InputOptions;
use lmdiskann::{plural, Error};
use serde_json::json;

use crate::report::note_rowids;

#[derive(clap::Args)]
pub struct Args {
    /// Also check that the index holds exactly the rows of this file (.parquet, .csv/.tsv,
    /// .fvecs, .bvecs, .npy, rowids as for `build`), each vector as the index stores it.
    #[arg(long, value_name = "PATH")]
    against: Option<PathBuf>,
    /// Parquet column of --against holding the vectors (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    /// Column of --against holding rowids (default: `rowid` if present, else the row position).
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
    /// Also measure recall@10 at the default search list of N stored rows, chosen at
    /// random, against brute force over every live row.
    #[arg(long, value_name = "N")]
    recall_sample: Option<usize>,
    /// Seed of the --recall-sample choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    json: bool,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Everything validate found.
#[derive(Default)]
struct Findings {
    format: Option<String>,
    rolled_back: bool,
    check: Option<CheckReport>,
    against: Option<AgainstReport>,
    recall: Option<SampleRecall>,
    /// Problems that stopped the checks before the blocks (a damaged header).
    unreadable: Vec<String>,
}

impl Findings {
    fn problems(&self) -> impl Iterator<Item = &String> {
        let check = self.check.iter().flat_map(|c| &c.problems);
        self.unreadable.iter().chain(check).chain(self.against.iter().flat_map(|a| &a.problems))
    }

    fn sound(&self) -> bool {
        self.problems().next().is_none()
    }
}

pub fn run(args: Args, index_path: &Path) -> anyhow::Result<ExitCode> {
    let mut found = Findings::default();
    let pool = crate::thread_pool(args.threads)?;
    match Index::open(index_path) {
        // A damaged header is a finding, not a failure to read.
        Err(Error::Corrupted { reason, .. }) => found.unreadable.push(format!("corrupted: {reason}")),
        Err(e) => return Err(e.into()),
        Ok(index) => {
            let file = index.file();
            let h = file.header();
            found.format = Some(format!("{}.{}", h.version_major, h.version_minor));
            found.rolled_back = file.rolled_back();
            found.check = Some(pool.install(|| check_index(file)));
            if let Some(input) = &args.against {
                let opts =
                    InputOptions { vector_column: args.vector_column.clone(), id_column: args.id_column.clone(), ..Default::default() };
                let report = check_against(file, input, &opts)
                    .with_context(|| format!("{}: cannot check against {}", index_path.display(), input.display()))?;
                found.against = Some(report);
            }
            // Searching a damaged index would only fail on the damage already listed.
            if let (Some(n), true) = (args.recall_sample, found.sound()) {
                found.recall = Some(pool.install(|| sample_recall(&index, n, args.seed)).context("cannot measure the recall sample")?);
            }
        }
    }
    if let (Some(input), Some(report)) = (&args.against, &found.against) {
        note_rowids(input, report.rowids_from);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&to_json(index_path, &found))?)?;
    } else {
        print_text(&mut out, index_path, &found, args.against.as_deref())?;
    }
    Ok(if found.sound() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn to_json(path: &Path, f: &Findings) -> serde_json::Value {
    json!({
        "path": path,
        "sound": f.sound(),
        "format_version": f.format,
        "rolled_back": f.rolled_back,
        "live": f.check.as_ref().map(|c| c.live),
        "tombstoned": f.check.as_ref().map(|c| c.tombstoned),
        "free": f.check.as_ref().map(|c| c.free),
        "map_pages": f.check.as_ref().map(|c| c.map_pages),
        "unreachable": f.check.as_ref().map(|c| c.unreachable),
        "against": f.against.as_ref().map(|a| json!({
            "rows": a.rows, "missing": a.missing, "differing": a.differing, "extra": a.extra,
        })),
        "recall_sample": f.recall.map(|r| json!({
            "queries": r.queries, "k": r.k, "search_list": r.search_list, "recall": r.recall,
        })),
        "problems": f.problems().collect::<Vec<_>>(),
    })
}

fn print_text(out: &mut impl Write, path: &Path, f: &Findings, against: Option<&Path>) -> std::io::Result<()> {
    writeln!(out, "index      {}", path.display())?;
    if let Some(format) = &f.format {
        writeln!(out, "format     {format}")?;
    }
    if f.rolled_back {
        writeln!(out, "journal    rolled back a change a writer did not finish")?;
    }
    if let Some(c) = &f.check {
        writeln!(
            out,
            "checked    header, every block, {} live + {} tombstoned + {} free + {}, edges, free list, rowid map, reachability",
            c.live,
            c.tombstoned,
            c.free,
            plural(c.map_pages, "map page")
        )?;
    }
    if let (Some(a), Some(input)) = (&f.against, against) {
        writeln!(
            out,
            "against    {}: {}, {} missing, {} differing, {} extra",
            input.display(),
            plural(a.rows, "row"),
            a.missing,
            a.differing,
            a.extra
        )?;
    }
    if let Some(r) = f.recall {
        writeln!(out, "recall     recall@{} {:.4} over {} at L {}", r.k, r.recall, plural(r.queries as u64, "stored row"), r.search_list)?;
    }
    let problems: Vec<&String> = f.problems().collect();
    if problems.is_empty() {
        writeln!(out, "sound")?;
    } else {
        writeln!(out, "problems found:")?;
        for p in problems {
            writeln!(out, "  {p}")?;
        }
    }
    Ok(())
}
