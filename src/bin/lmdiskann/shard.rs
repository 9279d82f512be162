//! `lmdiskann shard plan | build | merge`: a partitioned build in steps, for a batch engine
//! to run the partitions on other machines.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use lmdiskann::index::{build_shard, merge_shards, plan_shards, PLAN_FILE};
use lmdiskann::plural;
use lmdiskann::storage::{check_index_destination, destination, FileStorage, Written};
use serde_json::json;

use crate::build::{note_removed, Built, ColumnArgs, GraphArgs, RunArgs};
use crate::progress::Progress;
use crate::report::{human_bytes, note_rowids, report_destination, write_json, MemoryPeaks};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    step: Step,
}

#[derive(Subcommand)]
enum Step {
    /// Read the input into the new folder DIR and split it into partitions that each fit
    /// --max-memory: each partition's vectors (part-N.f32) and the plan (plan.json). Prints
    /// the partition numbers, one per line.
    Plan(PlanArgs),
    /// Build partition N's graph: reads DIR/plan.json and DIR/part-N.f32, writes
    /// DIR/part-N.graph. Runs anywhere those two files are.
    Build(BuildArgs),
    /// Merge every partition's graph and write the index: the file `build --max-memory`
    /// writes from the same input and options. DIR is left as it was.
    Merge(MergeArgs),
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The plan's folder, created by the plan (it must not exist).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Vectors to index, as for `build`.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    #[command(flatten)]
    columns: ColumnArgs,
    #[command(flatten)]
    graph: GraphArgs,
    /// Worker threads (0 = one per core); the plan does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Also write a JSON summary of the plan to this file.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The plan's folder.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The partition to build, from 0.
    #[arg(long, value_name = "N")]
    part: usize,
    /// Worker threads (0 = one per core); the graph does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The plan's folder, every partition built.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Where to write the index (default: --index).
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

pub fn run(args: Args, index: &Path, force: bool) -> anyhow::Result<ExitCode> {
    match args.step {
        Step::Plan(args) => plan(args, force),
        Step::Build(args) => build(args),
        Step::Merge(args) => merge(args, index, force),
    }
}

fn plan(args: PlanArgs, force: bool) -> anyhow::Result<ExitCode> {
    let options = args.graph.options(force, false);
    options.validate()?;
    let report_to = report_destination(args.report.as_deref(), force, &[&args.input])?;
    let input_options = args.columns.input_options();
    let pool = crate::thread_pool(args.threads)?;
    let started = Instant::now();
    let progress = Progress::new();
    let plan = pool
        .install(|| {
            plan_shards(&args.input, &input_options, &options, &args.dir, &|stage, done, total| progress.build_stage(stage, done, total))
        })
        .with_context(|| format!("{}: cannot plan a sharded build of {}, nothing was written", args.dir.display(), args.input.display()))?;
    progress.finish();
    note_rowids(&args.input, plan.rowids_from);
    if let Some(loss) = plan.loss {
        eprintln!(
            "warning: {}: storing {} values as {} changed them by up to {:.3e} (largest at row {}, element {}, counting from 0)",
            args.input.display(),
            plan.source.name(),
            plan.element_type().name(),
            loss.max_error,
            loss.row,
            loss.element
        );
    }
    let parts = plan.layout.partitions;
    let (dir, threads) = (args.dir.display(), pool.current_num_threads());
    eprintln!(
        "planned {dir}: {} x {} in {} of up to {} ({} in the folder), {:.1} s; next: `lmdiskann shard build {dir} --part N` for N from 0 to {}, then `lmdiskann shard merge {dir} --output INDEX`",
        plural(plan.rows, "vector"),
        plural(plan.dims as u64, "dim"),
        plural(parts as u64, "partition"),
        plural(plan.layout.max_partition_rows, "vector"),
        human_bytes(plan.temp_bytes),
        started.elapsed().as_secs_f64(),
        parts - 1,
    );
    if let Some(dest) = &report_to {
        write_json(
            dest,
            "shard plan",
            json!({
                "dir": args.dir,
                "plan": args.dir.join(PLAN_FILE),
                "vectors": plan.rows,
                "dims": plan.dims,
                "partitions": parts,
                "part_rows": plan.part_rows,
                "max_memory_bytes": options.max_memory,
                "temp_bytes": plan.temp_bytes,
                "threads": threads,
                "phase_seconds": plan.phase_seconds.iter().map(|(p, s)| (p.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
            }),
        )?;
    }
    for part in 0..parts {
        println!("{part}");
    }
    Ok(ExitCode::SUCCESS)
}

fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let pool = crate::thread_pool(args.threads)?;
    let memory = MemoryPeaks::start();
    let progress = Progress::new();
    let built = pool
        .install(|| build_shard(&args.dir, args.part, &|stage, done, total| progress.build_stage(stage, done, total)))
        .with_context(|| format!("{}: cannot build partition {}", args.dir.display(), args.part))?;
    progress.finish();
    let own = memory.finish().map_or(String::new(), |(anon, _)| format!(", peak memory {}", human_bytes(anon)));
    eprintln!(
        "built partition {} of {} ({}, distances on {}) in {:.1} s ({:.0} vectors/s){own}",
        built.part,
        built.parts,
        plural(built.rows, "vector"),
        built.measure,
        built.seconds,
        built.rows as f64 / built.seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

fn merge(args: MergeArgs, index: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let out =
        destination(args.output.as_deref().unwrap_or(index), Written::Index, force, &[&args.dir.join(PLAN_FILE)])?.path().to_path_buf();
    check_index_destination(&FileStorage, &out, force, args.run.wait)?;
    let report_to = report_destination(args.run.report.as_deref(), force, &[&out])?;
    let pool = crate::thread_pool(args.run.threads)?;
    let memory = MemoryPeaks::start();
    let started = Instant::now();
    let progress = Progress::new();
    let report = pool
        .install(|| {
            merge_shards(&FileStorage, &args.dir, &out, crate::now_ms(), force, args.run.wait, &|stage, done, total| {
                progress.build_stage(stage, done, total)
            })
        })
        .with_context(|| format!("{}: merge failed, nothing was written", args.dir.display()))?;
    progress.finish();
    note_removed(&out, &report);
    let built = Built {
        out: &out,
        report: &report,
        seconds: started.elapsed().as_secs_f64(),
        read_seconds: 0.0,
        threads: pool.current_num_threads(),
        max_memory: None,
    };
    built.tell(memory, report_to.as_ref())?;
    Ok(ExitCode::SUCCESS)
}
