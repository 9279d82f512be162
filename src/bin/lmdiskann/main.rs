//! The `lmdiskann` command line: argument parsing and output only; the work is in the
//! library.

#![forbid(unsafe_code)]

mod build;
mod delete;
mod demo;
mod generate;
mod groundtruth;
mod insert;
mod measure;
mod progress;
mod report;
mod search;
mod shard;
mod size;
mod stats;
mod tune;
mod vacuum;
mod validate;
mod writing;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Build, search and inspect disk-resident LM-DiskANN vector indexes (.lmd files) whose
/// rowids line up with DuckDB tables.
#[derive(Parser)]
#[command(name = "lmdiskann", version, about, max_term_width = 100)]
struct Cli {
    /// The index file every subcommand works on.
    #[arg(long, global = true, env = "LMDISKANN_INDEX", default_value = "index.lmd", value_name = "PATH")]
    index: PathBuf,

    /// Replace an output file that is not of the kind the command writes (a command's
    /// own inputs are never replaced).
    #[arg(long, global = true)]
    force: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an index from Parquet, CSV, fvecs, bvecs or NumPy vectors (writes --output, default --index).
    Build(build::Args),
    /// A partitioned build in steps (plan, build each partition, merge) that a batch engine
    /// such as GNU parallel or Slurm can spread over processes and machines.
    #[command(subcommand_value_name = "STEP", subcommand_help_heading = "Steps")]
    Shard(shard::Args),
    /// Find the k nearest rows for each query vector.
    Search(search::Args),
    /// Add rows to an index in place (all or nothing); rowids as for `build`.
    Insert(insert::Args),
    /// Delete rows by rowid (they stop appearing in results at once).
    Delete(delete::Args),
    /// Free deleted rows' slots for reuse, re-linking the graph around them; --compact
    /// also shrinks the file.
    Vacuum(vacuum::Args),
    /// Show what is in an index: header, counts, sizes, degrees.
    Stats(stats::Args),
    /// Prove an index sound: checksums, counts, edges, free list, rowid map, reachability;
    /// optionally its rows against a file and the recall of a sample. Exit 0 sound, 1
    /// problems found, 2 unreadable.
    Validate(validate::Args),
    /// Generate a seeded dataset, write it as Parquet, build, search and print recall.
    Demo(demo::Args),
    /// Write seeded clustered vectors (and queries) as Parquet or fvecs.
    Generate(generate::Args),
    /// Exact nearest neighbours by brute force (streams the base), as rowids.
    Groundtruth(groundtruth::Args),
    /// Find the smallest search list L that meets a recall target; --save records it.
    Tune(tune::Args),
}

/// Prints a command-line mistake as one line (clap's own adds a blank line and a pointer to
/// --help), its tip kept, and exits with 2; help and version print as clap prints them.
fn exit_on_usage(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) {
        e.exit()
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: the arguments are not valid");
    match lines.find_map(|l| l.strip_prefix("tip: ")) {
        Some(tip) => eprintln!("{first} ({tip}; see --help)"),
        None => eprintln!("{first} (see --help)"),
    }
    std::process::exit(2)
}

fn main() -> ExitCode {
    let matches = Cli::command().try_get_matches().unwrap_or_else(|e| exit_on_usage(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| exit_on_usage(e));
    remove_temporaries_when_interrupted();
    // Only the demo asks: it writes its own index, so it takes --index from the command
    // line, never from LMDISKANN_INDEX (which names the index the user's work is in).
    let index_flag = matches.value_source("index") == Some(ValueSource::CommandLine);
    let (index, force) = (&cli.index, cli.force);
    let result = match cli.command {
        Command::Build(args) => build::run(args, index, force),
        Command::Shard(args) => shard::run(args, index, force),
        Command::Search(args) => search::run(args, index, force),
        Command::Insert(args) => insert::run(args, index, force),
        Command::Delete(args) => delete::run(args, index, force),
        Command::Vacuum(args) => vacuum::run(args, index, force),
        Command::Stats(args) => stats::run(args, index),
        Command::Validate(args) => validate::run(args, index),
        Command::Demo(args) => demo::run(args, index_flag.then_some(index.as_path()), force),
        Command::Generate(args) => generate::run(args, force),
        Command::Groundtruth(args) => groundtruth::run(args, index, force),
        Command::Tune(args) => tune::run(args, index, force),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lmdiskann: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// On Ctrl-C (SIGINT), SIGTERM or SIGHUP: removes the temporary files this process is
/// writing, so an interrupted build leaves nothing behind, and exits with 130 as a shell
/// does for an interrupted command. A hot journal needs nothing here: the next command
/// that opens the index rolls it back.
fn remove_temporaries_when_interrupted() {
    let installed = ctrlc::set_handler(|| {
        for tmp in lmdiskann::storage::temporaries_being_written() {
            let _ = if tmp.is_dir() { std::fs::remove_dir_all(tmp) } else { std::fs::remove_file(tmp) };
        }
        std::process::exit(130);
    });
    if let Err(e) = installed {
        eprintln!("warning: cannot handle Ctrl-C ({e}); an interrupted command may leave a NAME.tmp file, which the next writer removes");
    }
}

/// The error chain on one line, outermost context first, without repeating a cause that
/// a context already quotes.
fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// A reader that closed our stdout early (`| head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}

/// Milliseconds since the Unix epoch, or `SOURCE_DATE_EPOCH` when set, so reproducible
/// builds record the same times.
fn now_ms() -> u64 {
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<u64>().ok()) {
        return secs.saturating_mul(1000);
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An explicit rayon pool: `threads` = 0 means one per core.
fn thread_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new().num_threads(threads).build()?)
}
