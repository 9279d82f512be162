//! A partitioned build in steps that take files and give files, so that the partitions can
//! be built by separate processes, on other machines, by whatever runs batch jobs there
//! (GNU parallel, `xargs -P`, Slurm, Kubernetes Jobs):
//!
//! 1. [`plan_shards`] spills, samples and partitions the input into a new folder, writes
//!    each partition's vectors to `part-I.f32` and the plan to `plan.json`.
//! 2. [`build_shard`], once per partition, anywhere: `plan.json` and `part-I.f32` in,
//!    `part-I.graph` out.
//! 3. [`merge_shards`] checks every graph against the plan, merges them and writes the
//!    index: byte for byte the file `build --max-memory` writes from the same input,
//!    options and budget.
//!
//! Workers take a shared lock on `plan.json` and the merge an exclusive one, so a merge
//! never reads a graph being written. Each graph file names its rows, build parameters and
//! the check of its vectors, so one built for another plan is refused.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::budget::partition_layout;
use super::build::{count_rows, BuildReport, Stage};
use super::partitioned::{
    build_partition, merge_and_write, open_partition_vectors, plan_partitions, read_rowid_map, write_partition_vectors, Input, Phases,
    Planned, CODES, GRAPH, RUNS,
};
use super::{BuildOptions, PartitionLayout};
use crate::error::{Error, Result};
use crate::format::plan;
use crate::io::{probe, InputOptions, InputType, RowidSource};
use crate::quant::CodeKind;
use crate::storage::{check_index_destination, remove_stale_tmp, ScratchDir, Storage, StoredFile};
use crate::vector::{ElementCodec, ElementType, Loss, Metric};

/// The plan's file in its folder.
pub const PLAN_FILE: &str = "plan.json";
/// What `plan.json` says it is, and its version.
const PLAN_FORMAT: &str = "lmdiskann shard plan";
const PLAN_VERSION: u64 = 1;

/// A sharded build's plan, as `plan.json` records it.
#[derive(Clone, Debug)]
pub struct ShardPlan {
    /// The build's options (their `created_ms`, `force` and `wait` are the merge's).
    pub options: BuildOptions,
    pub source: InputType,
    pub rows: u64,
    pub dims: usize,
    pub layout: PartitionLayout,
    /// Rows in each partition.
    pub part_rows: Vec<u64>,
    /// The largest change storing made to a value, when storing was lossy.
    pub loss: Option<Loss>,
    pub rowids_from: RowidSource,
    /// Bytes the plan's folder holds.
    pub temp_bytes: u64,
    /// Seconds of each step of the plan.
    pub phase_seconds: Vec<(String, f64)>,
    graph_dims: usize,
    codec: ElementCodec,
    stored: bool,
    max_norm_squared: f32,
    /// Each partition's vector check.
    pub(super) checks: Vec<u32>,
}

/// What building one partition did.
#[derive(Clone, Copy, Debug)]
pub struct ShardBuilt {
    pub part: usize,
    pub parts: usize,
    pub rows: u64,
    pub seconds: f64,
    /// What the graph's distances were computed on.
    pub measure: crate::graph::Measure,
}

/// Plans a sharded build of `input` into the new folder `dir`: the partitions
/// `build --max-memory` would use with `opts.max_memory` (which must be set), at least 3.
/// On failure the folder is removed.
pub fn plan_shards(
    input: &Path,
    input_opts: &InputOptions,
    opts: &BuildOptions,
    dir: &Path,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<ShardPlan> {
    opts.validate()?;
    let budget = opts.max_memory.ok_or_else(|| Error::InvalidParameter("--max-memory must be set: it sizes the partitions".into()))?;
    let seen = probe(input, input_opts)?;
    let element_type = opts.element_type(seen.source);
    let request = opts.plan_request(seen.dims, element_type);
    let plan = plan(&request)?;
    let rows = if seen.rows_exact { seen.rows } else { count_rows(input, input_opts)? };
    let layout = partition_layout(opts, &request, &plan, rows, budget)?;
    let folder = ScratchDir::create_at(dir)?;
    let mut phases = Phases::start();
    let input = Input { path: input, opts: input_opts, rows, dims: seen.dims, source: seen.source };
    let mut planned = plan_partitions(&input, opts, element_type, layout, folder.path(), &mut phases, progress)?;
    let checks = write_partition_vectors(folder.path(), &mut planned, progress)?;
    phases.lap("partition vectors");
    let shard_plan = ShardPlan {
        options: opts.clone(),
        source: planned.source,
        rows: planned.rows as u64,
        dims: planned.dims,
        layout: planned.layout,
        part_rows: planned.part_rows.clone(),
        loss: planned.loss,
        rowids_from: planned.rowids_from,
        temp_bytes: planned.bytes,
        phase_seconds: phases.done.iter().map(|(phase, s)| (phase.to_string(), *s)).collect(),
        graph_dims: planned.graph_dims,
        codec: planned.codec,
        stored: planned.stored,
        max_norm_squared: planned.max_norm_squared,
        checks,
    };
    let path = folder.path().join(PLAN_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&shard_plan.to_json()).expect("JSON") + "\n")
        .map_err(|e| Error::io(&path, "cannot write the plan", e))?;
    folder.keep();
    Ok(shard_plan)
}

/// Builds partition `part` of the plan in `dir` into its graph file.
pub fn build_shard(dir: &Path, part: usize, progress: &(dyn Fn(Stage, u64, u64) + Sync)) -> Result<ShardBuilt> {
    let started = std::time::Instant::now();
    let (shard_plan, _shared) = ShardPlan::open(dir, false)?;
    let parts = shard_plan.layout.partitions;
    if part >= parts {
        return Err(Error::InvalidParameter(format!(
            "--part {part}: the plan in {} has partitions 0 to {} only",
            dir.display(),
            parts - 1
        )));
    }
    let rows = shard_plan.part_rows[part] as usize;
    let dims = shard_plan.graph_dims;
    let points = open_partition_vectors(dir, part, rows, dims, shard_plan.checks[part])?;
    let params = shard_plan.options.build_params(&shard_plan.options.plan(shard_plan.dims, shard_plan.element_type())?);
    let measure = build_partition(&points, part, parts, &params, shard_plan.checks[part], dir, progress)?;
    Ok(ShardBuilt { part, parts, rows: rows as u64, seconds: started.elapsed().as_secs_f64(), measure })
}

/// Merges the partitions' graphs of the plan in `dir` and writes the index to `out`.
/// `created_ms`, `force` and `wait` are the merge's; every other option is the plan's.
/// The folder is left as it was (the merge's own files are removed), so a failed merge can
/// be run again.
pub fn merge_shards(
    storage: &dyn Storage,
    dir: &Path,
    out: &Path,
    created_ms: u64,
    force: bool,
    wait: bool,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<BuildReport> {
    let (shard_plan, _exclusive) = ShardPlan::open(dir, true)?;
    let opts = BuildOptions { created_ms, force, wait, ..shard_plan.options.clone() };
    check_index_destination(storage, out, force, wait)?;
    let removed_tmp = remove_stale_tmp(storage, out)?;
    let _cleanup = RemoveOnDrop(vec![dir.join(RUNS), dir.join(GRAPH), dir.join(CODES)]);
    let element_type = shard_plan.element_type();
    let plan = opts.plan(shard_plan.dims, element_type)?;
    let phases = Phases::start();
    let rows = shard_plan.rows as usize;
    let planned = Planned {
        rows,
        dims: shard_plan.dims,
        graph_dims: shard_plan.graph_dims,
        codec: shard_plan.codec,
        loss: shard_plan.loss,
        map: read_rowid_map(dir, rows)?,
        stored: shard_plan.stored,
        rowids_from: shard_plan.rowids_from,
        source: shard_plan.source,
        max_norm_squared: shard_plan.max_norm_squared,
        layout: shard_plan.layout,
        part_rows: shard_plan.part_rows.clone(),
        bytes: shard_plan.temp_bytes,
    };
    let report = merge_and_write(storage, dir, &opts, &plan, element_type, planned, &shard_plan.checks, out, phases, progress)?;
    Ok(BuildReport { removed_tmp, ..report })
}

/// Removes its files when dropped.
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl ShardPlan {
    /// The plan in `dir`, and its lock: exclusive for a merge, else shared. Refused while
    /// another holds it the other way.
    fn open(dir: &Path, exclusive: bool) -> Result<(ShardPlan, File)> {
        let path = dir.join(PLAN_FILE);
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::InvalidParameter(format!(
                "{}: no plan here; make one with `lmdiskann shard plan {} --input FILE`",
                path.display(),
                dir.display()
            )),
            _ => Error::io(&path, "cannot open the plan", e),
        })?;
        if !StoredFile::lock(&file, exclusive, false).map_err(|e| Error::io(&path, "cannot lock the plan", e))? {
            let what = if exclusive { "a partition of this plan is being built" } else { "this plan is being merged" };
            return Err(Error::Locked { path, what: format!("{what}; wait for it to finish") });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, "cannot read the plan", e))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Error::InvalidData(format!("{}: not a plan lmdiskann wrote ({e}); make one with `lmdiskann shard plan`", path.display()))
        })?;
        let plan = ShardPlan::from_json(&value).map_err(|field| {
            Error::InvalidData(format!(
                "{}: not a plan this lmdiskann reads ({field} is missing or wrong); make one with `lmdiskann shard plan`",
                path.display()
            ))
        })?;
        Ok((plan, file))
    }

    pub fn element_type(&self) -> ElementType {
        self.options.element_type(self.source)
    }

    fn to_json(&self) -> Value {
        let o = &self.options;
        json!({
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "options": {
                "metric": o.metric.name(),
                "max_degree": o.max_degree,
                "block_size": o.block_size,
                "codes": o.codes.map(CodeKind::name),
                "store": o.store.map(ElementType::name),
                "build_list": o.build_list,
                "alpha_bits": o.alpha.to_bits(),
                "seed": o.seed,
                "saturate": o.saturate,
                "max_memory": o.max_memory,
            },
            "source": self.source.name(),
            "rows": self.rows,
            "dims": self.dims,
            "graph_dims": self.graph_dims,
            "element": self.codec.element.name(),
            "scale_bits": self.codec.scale.to_bits(),
            "stored": self.stored,
            "max_norm_squared_bits": self.max_norm_squared.to_bits(),
            "loss": self.loss.map(|l| json!({"max_error_bits": l.max_error.to_bits(), "row": l.row, "element": l.element})),
            "rowids_from": match self.rowids_from {
                RowidSource::Column => json!("column"),
                RowidSource::Positions { start, columns } => json!({"start": start, "columns": columns}),
            },
            "layout": {
                "partitions": self.layout.partitions,
                "overlap": self.layout.overlap,
                "sample_rows": self.layout.sample_rows,
                "max_partition_rows": self.layout.max_partition_rows,
                "temp_bytes": self.layout.temp_bytes,
                "peak_bytes": self.layout.peak_bytes,
            },
            "part_rows": self.part_rows,
            "checks": self.checks,
            "temp_bytes": self.temp_bytes,
            "phase_seconds": self.phase_seconds.iter().map(|(p, s)| json!([p, s])).collect::<Vec<_>>(),
        })
    }

    /// The plan `v` records; the error names the field that is missing or wrong.
    fn from_json(v: &Value) -> std::result::Result<ShardPlan, &'static str> {
        fn at<'a>(v: &'a Value, key: &'static str) -> std::result::Result<&'a Value, &'static str> {
            v.get(key).ok_or(key)
        }
        fn u(v: &Value, key: &'static str) -> std::result::Result<u64, &'static str> {
            at(v, key)?.as_u64().ok_or(key)
        }
        fn opt_u(v: &Value, key: &'static str) -> std::result::Result<Option<u64>, &'static str> {
            let x = at(v, key)?;
            if x.is_null() {
                Ok(None)
            } else {
                x.as_u64().map(Some).ok_or(key)
            }
        }
        fn s<'a>(v: &'a Value, key: &'static str) -> std::result::Result<&'a str, &'static str> {
            at(v, key)?.as_str().ok_or(key)
        }
        fn b(v: &Value, key: &'static str) -> std::result::Result<bool, &'static str> {
            at(v, key)?.as_bool().ok_or(key)
        }
        fn f(v: &Value, key: &'static str) -> std::result::Result<f32, &'static str> {
            Ok(f32::from_bits(u32::try_from(u(v, key)?).map_err(|_| key)?))
        }
        fn named<T>(v: &Value, key: &'static str, from: fn(&str) -> Option<T>) -> std::result::Result<Option<T>, &'static str> {
            match at(v, key)? {
                Value::Null => Ok(None),
                x => x.as_str().and_then(from).map(Some).ok_or(key),
            }
        }
        fn list(v: &Value, key: &'static str) -> std::result::Result<Vec<u64>, &'static str> {
            at(v, key)?.as_array().ok_or(key)?.iter().map(|x| x.as_u64().ok_or(key)).collect()
        }
        if s(v, "format")? != PLAN_FORMAT {
            return Err("format");
        }
        if u(v, "version")? != PLAN_VERSION {
            return Err("version");
        }
        let o = at(v, "options")?;
        let options = BuildOptions {
            metric: Metric::from_name(s(o, "metric")?).ok_or("metric")?,
            max_degree: opt_u(o, "max_degree")?.map(|x| x as usize),
            block_size: opt_u(o, "block_size")?.map(|x| x as usize),
            codes: named(o, "codes", CodeKind::from_name)?,
            store: named(o, "store", ElementType::from_name)?,
            build_list: u(o, "build_list")? as usize,
            alpha: f(o, "alpha_bits")?,
            seed: u(o, "seed")?,
            saturate: b(o, "saturate")?,
            max_memory: opt_u(o, "max_memory")?,
            ..BuildOptions::default()
        };
        let l = at(v, "layout")?;
        let layout = PartitionLayout {
            partitions: u(l, "partitions")? as usize,
            overlap: u(l, "overlap")? as usize,
            sample_rows: u(l, "sample_rows")?,
            max_partition_rows: u(l, "max_partition_rows")?,
            temp_bytes: u(l, "temp_bytes")?,
            peak_bytes: u(l, "peak_bytes")?,
        };
        let loss = match at(v, "loss")? {
            Value::Null => None,
            x => Some(Loss { max_error: f(x, "max_error_bits")?, row: u(x, "row")? as usize, element: u(x, "element")? as usize }),
        };
        let rowids_from = match at(v, "rowids_from")? {
            Value::String(c) if c == "column" => RowidSource::Column,
            x => RowidSource::Positions { start: u(x, "start")?, columns: b(x, "columns")? },
        };
        let part_rows = list(v, "part_rows")?;
        let checks =
            list(v, "checks")?.into_iter().map(|c| u32::try_from(c).map_err(|_| "checks")).collect::<std::result::Result<Vec<_>, _>>()?;
        if layout.partitions == 0 || part_rows.len() != layout.partitions {
            return Err("part_rows");
        }
        if checks.len() != layout.partitions {
            return Err("checks");
        }
        let phase = |x: &Value| Some((x.get(0)?.as_str()?.to_string(), x.get(1)?.as_f64()?));
        let phase_seconds =
            at(v, "phase_seconds")?.as_array().ok_or("phase_seconds")?.iter().map(phase).collect::<Option<_>>().ok_or("phase_seconds")?;
        Ok(ShardPlan {
            options,
            source: InputType::from_name(s(v, "source")?).ok_or("source")?,
            rows: u(v, "rows")?,
            dims: u(v, "dims")? as usize,
            layout,
            part_rows,
            loss,
            rowids_from,
            temp_bytes: u(v, "temp_bytes")?,
            phase_seconds,
            graph_dims: u(v, "graph_dims")? as usize,
            codec: ElementCodec { element: ElementType::from_name(s(v, "element")?).ok_or("element")?, scale: f(v, "scale_bits")? },
            stored: b(v, "stored")?,
            max_norm_squared: f(v, "max_norm_squared_bits")?,
            checks,
        })
    }
}
