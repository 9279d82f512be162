//! `lmdiskann build`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use lmdiskann::graph::Measure;
use lmdiskann::index::{
    available_memory, build_index_from_path, choose_strategy, default_element_type, estimate_build, estimate_partitioned_seconds,
    navigation_rows, BuildReport, BuildStrategy,
};
use lmdiskann::io::{probe, InputOptions, InputType};
use lmdiskann::quant::CodeKind;
use lmdiskann::storage::{check_index_destination, destination, Destination, FileStorage, Written};
use lmdiskann::vector::ElementType;
use lmdiskann::{plural, BuildOptions, Metric};
use serde_json::json;

use crate::progress::Progress;
use crate::report::{human_bytes, note_rowids, peak_rss_bytes, report_destination, write_json, MemoryPeaks};
use crate::size::parse_size;
use crate::writing::{note_removed_build_folder, note_removed_tmp};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MetricArg {
    /// Euclidean distance
    L2,
    /// Cosine distance (1 - cos); vectors are normalised once at build, zero vectors are refused
    Cosine,
    /// Negative inner product
    Ip,
}

impl From<MetricArg> for Metric {
    fn from(m: MetricArg) -> Metric {
        match m {
            MetricArg::L2 => Metric::L2,
            MetricArg::Cosine => Metric::Cosine,
            MetricArg::Ip => Metric::InnerProduct,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Vectors to index: .parquet (a list column, as DuckDB writes FLOAT[N]), .csv/.tsv
    /// (vectors as "[1.0, 2.0]" literals), .fvecs, .bvecs or .npy.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Where to write the index (default: --index).
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    #[command(flatten)]
    columns: ColumnArgs,
    #[command(flatten)]
    graph: GraphArgs,
    /// Print the plan (block, R, file size, memory, estimated time) from a look at the
    /// input's first rows and metadata, and exit without building.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// How a command that writes an index runs and reports.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Worker threads (0 = one per core); the file does not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also write a JSON summary (timings, sizes, peak memory) to this file.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Wait while another process uses the index being replaced, instead of failing.
    #[arg(long)]
    pub wait: bool,
}

/// The columns of an input file that hold the vectors and the rowids.
#[derive(clap::Args)]
pub struct ColumnArgs {
    /// Parquet column holding the vectors (default: the only list column).
    #[arg(long, value_name = "NAME")]
    vector_column: Option<String>,
    /// Parquet column holding rowids (default: `rowid` if present, else the row position).
    #[arg(long, value_name = "NAME")]
    id_column: Option<String>,
}

impl ColumnArgs {
    pub fn input_options(self) -> InputOptions {
        InputOptions { vector_column: self.vector_column, id_column: self.id_column, unique_ids: true, ..Default::default() }
    }
}

/// What the index is built with: metric, graph, layout, memory.
#[derive(clap::Args)]
pub struct GraphArgs {
    #[arg(long, value_enum, default_value = "l2")]
    metric: MetricArg,
    /// Max edges per node R (default: as many as the planner's block holds, up to 64).
    #[arg(long, short = 'R', value_name = "R")]
    max_degree: Option<usize>,
    /// Candidate list size while building.
    #[arg(long, short = 'L', default_value_t = 128, value_name = "L")]
    build_list: usize,
    /// Pruning slack: > 1 keeps longer edges, making the graph easier to navigate.
    #[arg(long, default_value_t = 1.2)]
    alpha: f32,
    /// Neighbour codes kept in each block, from exact to smallest: f32, f16, int8, 4bit,
    /// 2bit, ternary, 1bit (default: by dimension, see the README).
    #[arg(long, value_parser = CODE_NAMES)]
    codes: Option<String>,
    /// How blocks store each vector (default: the input's type; f64 input is kept as f32).
    /// A conversion that changes values says so once, with the largest change.
    #[arg(long, value_parser = STORE_NAMES)]
    store: Option<String>,
    /// Block size in bytes, a multiple of 512 (default: the smallest that holds the
    /// degree); R is then the most edges that fit.
    #[arg(long, value_name = "BYTES")]
    block_size: Option<usize>,
    /// Fill the edge slots pruning leaves empty with the nearest pruned candidates: better
    /// recall on real data (free on disk), 1.0-1.3x the build time. `false` to skip.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    saturate: bool,
    /// Seed for every random choice; the same input and seed give the same file.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The most memory the build may use of its own (512MiB, 2GiB, 1.5GB; default: half of
    /// what is available when it starts). Vectors and graph that do not fit are built in
    /// partitions through a temporary folder beside the output.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,
}

impl GraphArgs {
    /// The build's options; `--max-memory` defaults to half of the memory available now.
    pub fn options(&self, force: bool, wait: bool) -> BuildOptions {
        BuildOptions {
            metric: self.metric.into(),
            max_degree: self.max_degree,
            block_size: self.block_size,
            codes: self.codes.as_deref().and_then(CodeKind::from_name),
            store: self.store.as_deref().and_then(ElementType::from_name),
            build_list: self.build_list,
            alpha: self.alpha,
            seed: self.seed,
            saturate: self.saturate,
            created_ms: crate::now_ms(),
            force,
            wait,
            max_memory: self.max_memory.or_else(|| available_memory().map(|bytes| bytes / 2)),
        }
    }
}

const CODE_NAMES: [&str; 7] = ["f32", "f16", "int8", "4bit", "2bit", "ternary", "1bit"];
const STORE_NAMES: [&str; 5] = ["f32", "f16", "bf16", "i8", "u8"];

pub fn run(args: Args, index: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let options = args.graph.options(force, args.run.wait);
    // Refuse bad parameters before reading what may be gigabytes of input.
    options.validate()?;
    let started = Instant::now();
    let input_options = args.columns.input_options();
    let pool = crate::thread_pool(args.run.threads)?;
    if args.dry_run {
        dry_run(&args.input, &input_options, &options, args.graph.max_memory.is_some(), pool.current_num_threads())?;
        return Ok(ExitCode::SUCCESS);
    }
    // Refuse an output that may not be replaced before reading the input, let alone building.
    let out = destination(args.output.as_deref().unwrap_or(index), Written::Index, force, &[&args.input])?.path().to_path_buf();
    check_index_destination(&FileStorage, &out, force, args.run.wait)?;
    let report_to = report_destination(args.run.report.as_deref(), force, &[&args.input, &out])?;
    let memory = MemoryPeaks::start();
    let seen = probe(&args.input, &input_options)?;
    options
        .plan(seen.dims, options.element_type(seen.source))
        .with_context(|| format!("{}: cannot index {}-dim vectors", args.input.display(), seen.dims))?;
    let progress = Progress::new();
    let report = pool
        .install(|| {
            build_index_from_path(&args.input, &input_options, &options, &out, &|stage, done, total| {
                progress.build_stage(stage, done, total)
            })
        })
        .with_context(|| format!("{}: build failed, nothing was written", args.input.display()))?;
    progress.finish();
    note_removed(&out, &report);
    note_rowids(&args.input, report.rowids_from);
    warn_of_conversion(&args.input, report.source, &report);
    let read_seconds = report.phase_seconds.iter().find(|(phase, _)| *phase == "read").map_or(0.0, |(_, s)| *s);
    let seconds = started.elapsed().as_secs_f64() - read_seconds;
    let built =
        Built { out: &out, report: &report, seconds, read_seconds, threads: pool.current_num_threads(), max_memory: options.max_memory };
    built.tell(memory, report_to.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

/// Says what the build removed that an interrupted one left beside `out`.
pub fn note_removed(out: &Path, report: &BuildReport) {
    if report.removed_tmp {
        note_removed_tmp(out);
    }
    if report.removed_build_folder {
        note_removed_build_folder(out);
    }
}

/// A written index, told on stderr and in the `--report` JSON.
pub struct Built<'a> {
    pub out: &'a Path,
    pub report: &'a BuildReport,
    /// Seconds of the build, reading the input aside.
    pub seconds: f64,
    pub read_seconds: f64,
    pub threads: usize,
    pub max_memory: Option<u64>,
}

impl Built<'_> {
    pub fn tell(&self, memory: MemoryPeaks, report_to: Option<&Destination>) -> anyhow::Result<()> {
        let (out, report) = (self.out, self.report);
        let rate = report.vectors as f64 / self.seconds.max(1e-9);
        let peak = peak_rss_bytes();
        let (anon, file) = memory.finish().unzip();
        // The process's own memory is what --dry-run estimates; file pages (code, mapped or
        // cached files) are the kernel's to evict and are shown apart.
        let memory_line = match (anon, file) {
            (Some(anon), Some(file)) => format!("peak memory {} (+ {} of file pages)", human_bytes(anon), human_bytes(file)),
            _ => format!("peak RSS {}", peak.map_or("unknown".into(), human_bytes)),
        };
        let (partitions, strategy) = match report.strategy {
            BuildStrategy::OneShot { .. } => (1, String::new()),
            BuildStrategy::Partitioned(layout) => (
                layout.partitions,
                format!(" in {} ({} of temporary files)", plural(layout.partitions as u64, "partition"), human_bytes(report.temp_bytes)),
            ),
        };
        eprintln!(
            "built {}{strategy}: {} x {} as {} with {} codes, {} ({} per vector, block {} B, R {}), {:.1} s ({:.0} vectors/s), {memory_line}",
            out.display(),
            plural(report.vectors, "vector"),
            plural(report.dims as u64, "dim"),
            report.element_type.name(),
            report.code_kind.name(),
            human_bytes(report.file_bytes),
            human_bytes(report.file_bytes / report.vectors),
            report.block_size,
            report.max_degree,
            self.seconds,
            rate,
        );
        let Some(dest) = report_to else { return Ok(()) };
        write_json(
            dest,
            "build",
            json!({
                "index": out,
                "vectors": report.vectors,
                "dims": report.dims,
                "block_size": report.block_size,
                "max_degree": report.max_degree,
                "element_type": report.element_type.name(),
                "codes": report.code_kind.name(),
                "file_bytes": report.file_bytes,
                "bytes_per_vector": report.file_bytes as f64 / report.vectors as f64,
                "read_seconds": self.read_seconds,
                "build_seconds": self.seconds,
                "vectors_per_second": rate,
                "peak_rss_bytes": peak,
                "reconnected": report.reconnected,
                "graph_distances": report.graph_measures.iter().map(Measure::to_string).collect::<Vec<_>>(),
                "peak_anon_rss_bytes": anon,
                "peak_file_rss_bytes": file,
                "threads": self.threads,
                "max_memory_bytes": self.max_memory,
                "partitions": partitions,
                "temp_bytes": report.temp_bytes,
                "phase_seconds": report.phase_seconds.iter().map(|(phase, s)| (phase.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
            }),
        )
    }
}

/// Says once when storing changed the input's values, and by how much at most.
fn warn_of_conversion(input: &Path, source: InputType, report: &BuildReport) {
    let keeps = default_element_type(source).name();
    if let Some(loss) = report.loss {
        eprintln!(
            "warning: {}: storing {} values as {} changed them by up to {:.3e} (largest at row {}, element {}, counting from 0); --store {keeps} keeps them{}",
            input.display(),
            source.name(),
            report.element_type.name(),
            loss.max_error,
            loss.row,
            loss.element,
            if source == InputType::F64 { " to about 7 significant digits" } else { " exact" },
        );
    } else if source == InputType::F64 {
        eprintln!("note: {}: f64 values are stored as f32 (about 7 significant digits)", input.display());
    }
}

/// `build --dry-run`: the plan and its costs, from the input's first rows and metadata.
fn dry_run(input: &Path, input_options: &InputOptions, options: &BuildOptions, budget_given: bool, threads: usize) -> anyhow::Result<()> {
    let seen = probe(input, input_options)?;
    let element = options.element_type(seen.source);
    let request = options.plan_request(seen.dims, element);
    let plan = lmdiskann::format::plan(&request).with_context(|| format!("{}: cannot index {}-dim vectors", input.display(), seen.dims))?;
    let cost = estimate_build(options, &request, &plan, seen.rows, threads);
    // Only a budget makes a partitioned plan; without one (the available memory unknown)
    // the build is one-shot and this is never read.
    let budget = options.max_memory.unwrap_or(u64::MAX);
    let strategy = match options.max_memory {
        Some(budget) => choose_strategy(options, &request, &plan, seen.rows, budget)?,
        None => BuildStrategy::OneShot { peak_bytes: cost.build_peak_bytes },
    };
    let raw = 4 * seen.dims as u64;
    let per_vector = cost.file_bytes as f64 / seen.rows.max(1) as f64;
    println!("plan for {}", input.display());
    println!(
        "  input          {}{} x {}, {}",
        plural(seen.rows, "vector"),
        if seen.rows_exact { "" } else { " (estimated from the file size)" },
        plural(seen.dims as u64, "dim"),
        seen.source.name()
    );
    println!("  stored as      {} ({} B per vector)", element.name(), seen.dims * element.size());
    println!("  codes          {} ({} B per neighbour)", request.code_kind.name(), plan.layout.code_len);
    println!("  block          {} B, R {} ({} B of it used)", plan.block_size, plan.max_degree, plan.layout.used_len());
    println!(
        "  file           {} ({:.0} B per vector, {:.2}x the raw f32 vectors)",
        human_bytes(cost.file_bytes),
        per_vector,
        per_vector / raw as f64
    );
    match options.max_memory {
        Some(budget) if budget_given => println!("  memory budget  {} (--max-memory)", human_bytes(budget)),
        Some(budget) => println!("  memory budget  {} (half of what is available now; --max-memory sets it)", human_bytes(budget)),
        None => println!("  memory budget  none (the available memory cannot be read; --max-memory sets one)"),
    }
    let seconds = match strategy {
        BuildStrategy::OneShot { .. } => {
            println!("  strategy       one-shot: every vector and the whole graph in memory");
            cost.build_seconds
        }
        BuildStrategy::Partitioned(layout) => {
            let links = navigation_rows(seen.rows, layout.max_partition_rows);
            println!(
                "  strategy       partitioned: {} (centres from {}; more if k-means leaves some too crowded), each vector in its {} nearest, up to {} each; and one of {} sampled uniformly that links them",
                plural(layout.partitions as u64, "partition"),
                plural(layout.sample_rows, "sampled vector"),
                layout.overlap,
                plural(layout.max_partition_rows, "vector"),
                plural(links, "vector"),
            );
            println!("  temporary disk ~{} beside the output, removed when the build ends", human_bytes(layout.temp_bytes));
            estimate_partitioned_seconds(options, &request, &plan, &layout, seen.rows, budget, threads)
        }
    };
    println!("  build memory   ~{} peak", human_bytes(strategy.peak_bytes()));
    println!(
        "  search memory  ~{} per query thread; the file is mapped, hot blocks stay in the page cache",
        human_bytes(cost.search_bytes_per_query)
    );
    let minutes = seconds / 60.0;
    println!(
        "  build time     ~{} on {} (an estimate; see the README for its accuracy)",
        if minutes < 2.0 { format!("{:.0} s", seconds.max(1.0)) } else { format!("{minutes:.0} min") },
        plural(threads as u64, "thread"),
    );
    Ok(())
}
