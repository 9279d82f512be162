//! The partitioned build: an index whose vectors and graph do not fit the memory budget,
//! built a partition at a time (DiskANN's "merged Vamana", merged by RobustPrune rather
//! than by truncation).
//!
//! 1. Spill: the input is streamed into `NAME.build/` beside the output: the vectors as
//!    the graph sees them (prepared, stored and read back) and the rowids. Integer storage
//!    needs a second pass, because its scale depends on every value; inner product a
//!    third, which adds the lifting coordinate once the largest norm is known.
//! 2. Sample: k-means on a seeded sample finds one centre per partition; a centre whose
//!    share of the rows would overflow a partition is split in two (`split_crowded`).
//! 3. Partition: each vector joins its `OVERLAP` nearest centres that still have room
//!    (a partition holds at most `max_partition_rows`). One more partition, the last, is
//!    a uniform sample of all rows ([`navigation_rows`]): the others' graphs each see one
//!    region of the space, so without it the merged graph has few long edges between
//!    regions, and a search can stay in the region it starts in (at 1M x 128 in 18
//!    partitions, 15% of the queries found none of their 10 nearest at L 64).
//! 4. Each partition's vectors are gathered, its graph built in memory and written out
//!    (with the partition's own row numbers, behind a header that ties it to its vectors
//!    and parameters); then it is freed. [`super::shard`] runs this step in other processes.
//! 5. Merge: a node's edges are the union of its lists, re-pruned with RobustPrune (same
//!    alpha and saturation) over the full vectors when it came from more than one
//!    partition; a row outside the navigation sample gives one edge to a sampled row drawn
//!    at random (a long jump: the sample's rows alone are too few for a search to meet
//!    when partitions lie inside clusters); the entry is the sampled row nearest the mean
//!    of all (a node with long edges); unreachable nodes are linked in.
//! 6. The codes are encoded and the file is written as a one-shot build writes it.
//!
//! Everything that grows with rows x dims or rows x R lives in the folder and is read
//! through memory maps (page cache, not the process's own memory). The process holds a
//! partition's vectors and graph, the k-means sample, buffers of a fixed size, and per
//! row the sorted (rowid, slot) pairs and the reachability pass's parents: see
//! [`super::budget`] for the model.
//!
//! Every step is a pure function of the input and the seed, and every parallel step
//! combines its results in a fixed order, so the file is the same for any thread count.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::{ControlFlow, Range};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use super::budget::{
    most_partitions, navigation_rows, spill_rows, PartitionLayout, MERGE_CHUNK, OVERLAP, PARTITION_CHUNK, PART_BUFFER, STREAM_BUFFER,
};
use super::build::{check_sorted_unique, store_vectors, write_new_index, BuildReport, NewIndex, Nodes, Stage};
use super::BuildOptions;
use crate::error::{Error, Result};
use crate::format::{read_f32s, write_f32s, Plan, PAGE};
use crate::graph::{self, nearest_expanded, place, robust_prune_split, BuildParams, Measure, PointRows, Reconnect};
use crate::io::{read_vectors_chunked, InputOptions, InputType, VectorSet};
use crate::rng::Rng;
use crate::storage::{check_index_destination, map_scratch, remove_stale_tmp, Mapped, ScratchDir, Storage};
use crate::vector::{l2_squared, lift, norm_squared, worse, CodecScan, ElementCodec, ElementType, Loss, Metric};

/// k-means rounds on the sample.
const KMEANS_ROUNDS: u32 = 10;
const SAMPLE_STREAM: u64 = 0x5341_4D50_4C45; // "SAMPLE"
const CENTRES_STREAM: u64 = 0x4345_4E54_5245; // "CENTRE"
const NAVIGATION_STREAM: u64 = 0x4E41_5649_4741; // "NAVIGA"
const JUMP_STREAM: u64 = 0x4A55_4D50; // "JUMP"
/// No partition, in the assignment's memory (two bytes a slot: at most 512 partitions).
const UNASSIGNED: u16 = u16::MAX;
/// A navigation sample's row keeps at most one in `LINK_SHARE` of its edges for links to
/// other regions (see `merge`), the rest for its nearest. At 1M x 128 in 18 partitions (R
/// 22), keeping up to 5, 8, 11 or 16 links gave the same recall@10 at L 64 (0.9129);
/// leaving them to the prune with the other candidates, 0.8403; dropping them, 0.8182.
const LINK_SHARE: usize = 4;
/// Rows whose vectors the merge asks for at once before re-pruning them (see `merge`).
const HINT_ROWS: usize = 64;
/// Rows whose vectors are asked for at once when many are read in file order.
const GATHER_ROWS: usize = 4096;
/// Centres ranked per row while rows are assigned (a row whose ranked centres are all full
/// is scored against every centre again).
const RANKED: usize = 8;

/// The input of a build read from a file.
pub(super) struct Input<'a> {
    pub path: &'a Path,
    pub opts: &'a InputOptions,
    /// Rows, as counted before the build chose its strategy.
    pub rows: u64,
    pub dims: usize,
    pub source: InputType,
}

/// Builds the index of `input` into `out` in the partitions `layout` describes.
#[allow(clippy::too_many_arguments)]
pub(super) fn build_partitioned(
    storage: &dyn Storage,
    input: &Input,
    opts: &BuildOptions,
    plan: &Plan,
    element_type: ElementType,
    layout: PartitionLayout,
    out: &Path,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<BuildReport> {
    check_index_destination(storage, out, opts.force, opts.wait)?;
    let removed_tmp = remove_stale_tmp(storage, out)?;
    let (dir, removed_build_folder) = ScratchDir::create(out)?;
    let mut phases = Phases::start();
    let planned = plan_partitions(input, opts, element_type, layout, dir.path(), &mut phases, progress)?;
    let points = planned.points(dir.path())?;
    points.map.advise_random();
    let params = opts.build_params(plan);
    let parts = planned.layout.partitions;
    let mut checks = Vec::with_capacity(parts);
    let mut measures = Vec::with_capacity(parts);
    for part in 0..parts {
        // The graph build reads its rows several times (ranges, noise, codes, entry). Read
        // in place, a partition's rows lie on a large share of the points file's pages and
        // each read pass went to disk when the file outgrew the page cache (5M x 128 under
        // 512 MiB: 1.4 TB read); copied once into a file of their own, they are read in
        // order from a file the size of the partition.
        let path = dir.path().join(part_vectors(part));
        checks.push(write_part_vectors(&points, &part_rows(dir.path(), part)?, &path)?.0);
        let copy = Points { map: map_scratch(&path)?, dims: points.dims };
        measures.push(build_partition(&copy, part, parts, &params, checks[part], dir.path(), progress)?);
        drop(copy);
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, "cannot remove a build's temporary file", e))?;
    }
    drop(points);
    phases.lap("partition graphs");
    let report = merge_and_write(storage, dir.path(), opts, plan, element_type, planned, &checks, out, phases, progress)?;
    Ok(BuildReport { removed_tmp, removed_build_folder, graph_measures: measures, ..report })
}

/// What planning a partitioned build left in its folder, and learnt on the way.
pub(super) struct Planned {
    pub rows: usize,
    pub dims: usize,
    /// The dimension the graph sees (inner product adds the lifting coordinate).
    pub graph_dims: usize,
    pub codec: ElementCodec,
    pub loss: Option<Loss>,
    /// (rowid, slot) of every row, sorted by rowid.
    pub map: Vec<(u64, u32)>,
    /// Whether `STORED` holds an integer type's stored bytes.
    pub stored: bool,
    pub rowids_from: crate::io::RowidSource,
    pub source: InputType,
    pub max_norm_squared: f32,
    /// The layout, with the partitions k-means actually found.
    pub layout: PartitionLayout,
    /// Rows in each partition.
    pub part_rows: Vec<u64>,
    /// Temporary bytes written so far.
    pub bytes: u64,
}

impl Planned {
    /// The vectors as the graph sees them; refused when the file does not hold `rows` of them.
    pub(super) fn points(&self, dir: &Path) -> Result<Points> {
        let path = dir.join(POINTS);
        let points = Points { map: map_scratch(&path)?, dims: self.graph_dims };
        if points.map.len() != self.rows * 4 * self.graph_dims {
            return Err(Error::InvalidData(format!(
                "{}: holds {} bytes, not the plan's {} vectors",
                path.display(),
                points.map.len(),
                self.rows
            )));
        }
        Ok(points)
    }
}

/// Spills `input` into `dir`, samples the centres and assigns every row its partitions:
/// everything before the partitions' graphs.
pub(super) fn plan_partitions(
    input: &Input,
    opts: &BuildOptions,
    element_type: ElementType,
    layout: PartitionLayout,
    dir: &Path,
    phases: &mut Phases,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<Planned> {
    let mut spilled = spill(input, opts, element_type, dir, progress)?;
    let (n, dims) = (spilled.rows, spilled.dims);
    spilled.map.par_sort_unstable();
    check_sorted_unique(spilled.map.windows(2).find(|w| w[0].0 == w[1].0).map(|w| w[0].0))?;
    let ip = opts.metric == Metric::InnerProduct;
    let gdims = dims + ip as usize;
    let max_norm_squared = if ip { lift_points(dir, &mut spilled.bytes, dims, n)? } else { 0.0 };
    let points = Points { map: map_scratch(&dir.join(POINTS))?, dims: gdims };
    phases.lap("read");

    let sample = sample_rows(n, layout.sample_rows as usize, opts.seed, SAMPLE_STREAM);
    let sample = points.gather(&sample);
    let centres = kmeans(&sample, gdims, layout.partitions, opts.seed, progress);
    let centres = split_crowded(&sample, gdims, centres, n, layout.max_partition_rows, most_partitions(layout.partitions));
    drop(sample);
    phases.lap("sample");

    let mut part_rows = partition(&points, &centres, layout.max_partition_rows, dir, &mut spilled.bytes, progress)?;
    let links = sample_rows(n, navigation_rows(n as u64, layout.max_partition_rows) as usize, opts.seed, NAVIGATION_STREAM);
    let mut file = Scratch::create(dir.join(part_ids(part_rows.len())), STREAM_BUFFER)?;
    file.put_u32s(&links)?;
    spilled.bytes += file.finish()?;
    part_rows.push(links.len() as u64);
    phases.lap("partition");
    Ok(Planned {
        rows: n,
        dims,
        graph_dims: gdims,
        codec: spilled.codec,
        loss: spilled.loss,
        map: spilled.map,
        stored: spilled.stored,
        rowids_from: spilled.rowids_from,
        source: input.source,
        max_norm_squared,
        layout: PartitionLayout { partitions: part_rows.len(), ..layout },
        part_rows,
        bytes: spilled.bytes,
    })
}

/// A sharded plan: writes each partition's vectors to its own file (what a machine
/// building that partition needs). Returns their checks ([`write_part_vectors`]).
pub(super) fn write_partition_vectors(dir: &Path, planned: &mut Planned, progress: &(dyn Fn(Stage, u64, u64) + Sync)) -> Result<Vec<u32>> {
    let points = planned.points(dir)?;
    points.map.advise_random();
    let parts = planned.layout.partitions;
    let mut checks = Vec::with_capacity(parts);
    for part in 0..parts {
        let (check, bytes) = write_part_vectors(&points, &part_rows(dir, part)?, &dir.join(part_vectors(part)))?;
        checks.push(check);
        planned.bytes += bytes;
        progress(Stage::Partition, part as u64 + 1, parts as u64);
    }
    Ok(checks)
}

/// Copies the vectors of `rows` (ascending) to the file `path`, a block of rows at a time
/// (see [`Points::hinted_blocks`]). Returns the CRC-32C of what it wrote (the check a
/// partition's graph names) and its length.
fn write_part_vectors(points: &Points, rows: &[u32], path: &Path) -> Result<(u32, u64)> {
    let mut out = Scratch::create(path.to_path_buf(), STREAM_BUFFER)?;
    let mut check = 0;
    for block in points.hinted_blocks(rows) {
        for &row in block {
            let bytes = points.bytes(row as usize);
            check = crc32c::crc32c_append(check, bytes);
            out.put(bytes)?;
        }
    }
    Ok((check, out.finish()?))
}

/// Partition `part`'s vectors (`rows` x `dims`), mapped from its file, which must hold
/// exactly those and have the check `check`.
pub(super) fn open_partition_vectors(dir: &Path, part: usize, rows: usize, dims: usize, check: u32) -> Result<Points> {
    let path = dir.join(part_vectors(part));
    let map = map_scratch(&path)?;
    if map.len() != rows * dims * 4 {
        return Err(Error::InvalidData(format!(
            "{}: holds {} bytes where the plan has {rows} vectors of {dims} dims ({} bytes); copy it again from the plan's folder",
            path.display(),
            map.len(),
            rows * dims * 4
        )));
    }
    if crc32c::crc32c(&map) != check {
        return Err(Error::InvalidData(format!(
            "{}: its vectors are not the plan's (check mismatch); copy it again from the plan's folder",
            path.display()
        )));
    }
    Ok(Points { map, dims })
}

/// Every row's (rowid, slot), sorted by rowid, from the spilled rowids.
pub(super) fn read_rowid_map(dir: &Path, rows: usize) -> Result<Vec<(u64, u32)>> {
    let path = dir.join(ROWIDS);
    let rowids = map_scratch(&path)?;
    if rowids.len() != 8 * rows {
        return Err(Error::InvalidData(format!("{}: holds {} bytes, not the plan's {rows} rowids", path.display(), rowids.len())));
    }
    let mut map: Vec<(u64, u32)> =
        rowids.chunks_exact(8).enumerate().map(|(slot, r)| (u64::from_le_bytes(r.try_into().expect("8 bytes")), slot as u32)).collect();
    map.par_sort_unstable();
    Ok(map)
}

/// Merges the partitions' graphs in `dir` (every one built from vectors with the `checks`
/// of [`write_part_vectors`]), encodes the codes and writes the index to `out`.
#[allow(clippy::too_many_arguments)]
pub(super) fn merge_and_write(
    storage: &dyn Storage,
    dir: &Path,
    opts: &BuildOptions,
    plan: &Plan,
    element_type: ElementType,
    planned: Planned,
    checks: &[u32],
    out: &Path,
    mut phases: Phases,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<BuildReport> {
    let dims = planned.dims;
    let points = planned.points(dir)?;
    let params = opts.build_params(plan);
    let mut bytes = planned.bytes;
    let (entry, centroid) = medoid(&points, dims, &part_rows(dir, checks.len() - 1)?);
    // The merge's prunes read the vectors of each row's candidates, all over the file:
    // read-ahead would fetch pages nobody asked for, and when the vectors do not fit the
    // page cache that multiplies the reads many times over.
    let scattered = planned.points(dir)?;
    scattered.map.advise_random();
    let graph = merge(&scattered, checks, &params, dir, &mut bytes, progress)?;
    let mut merged = Merged { points: &scattered, path: dir.join(GRAPH), file: graph.0, map: graph.1, entry, params: &params };
    let reconnected = graph::reconnect(&mut merged)?;
    phases.lap("merge");

    let code_kind = opts.code_kind(dims);
    let codes = encode_codes(&points, dims, code_kind.space(opts.metric, centroid.clone(), opts.seed), dir, &mut bytes)?;
    // The write reads the points hottest first (see `hot`), all over the file:
    // each chunk's are asked for ahead (`Nodes::will_read`), and read-ahead would only
    // fetch pages nobody asked for.
    points.map.advise_random();
    let nodes = OnDisk {
        points: &points,
        dims,
        stored: planned.stored.then(|| map_scratch(&dir.join(STORED))).transpose()?,
        rowids: map_scratch(&dir.join(ROWIDS))?,
        graph: &merged.map,
        max_degree: plan.max_degree,
        codes: &codes,
        code_len: code_kind.code_len(dims),
    };
    let new = NewIndex {
        opts,
        plan,
        element_type,
        codec: planned.codec,
        build_list: params.build_list,
        entry,
        centroid,
        max_norm_squared: planned.max_norm_squared,
    };
    let written = write_new_index(storage, out, &new, planned.map, &nodes, progress)?;
    phases.lap("write");
    Ok(BuildReport {
        loss: planned.loss,
        reconnected,
        graph_measures: Vec::new(),
        strategy: super::BuildStrategy::Partitioned(planned.layout),
        phase_seconds: phases.done,
        temp_bytes: bytes,
        source: planned.source,
        rowids_from: planned.rowids_from,
        ..written
    })
}

/// Seconds spent in each phase, in order.
pub(super) struct Phases {
    since: Instant,
    pub done: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn start() -> Self {
        Phases { since: Instant::now(), done: Vec::new() }
    }

    /// Ends the phase `name`, which began when the last one ended.
    pub fn lap(&mut self, name: &'static str) {
        self.done.push((name, self.since.elapsed().as_secs_f64()));
        self.since = Instant::now();
    }
}

// The files in the build's folder.
/// Every row's vector as the graph sees it, little-endian f32, `dims` (+1 under ip) wide.
const POINTS: &str = "points.f32";
/// The input's values before an integer type's second pass, or the vectors before ip's lift.
const VALUES: &str = "values.f32";
/// Integer types: every row's stored bytes.
const STORED: &str = "stored.bytes";
/// Every row's rowid, little-endian u64.
const ROWIDS: &str = "rowids.u64";
/// The merged graph: per row its degree and R edge slots, u32 each.
pub(super) const GRAPH: &str = "graph.u32";
/// Every row's neighbour code.
pub(super) const CODES: &str = "codes.bytes";
/// The merge's runs: per pass, its rows' records in row order, each after its row (u32).
pub(super) const RUNS: &str = "merged-runs.u32";

/// Partition `part`'s rows (ascending), u32 each.
fn part_ids(part: usize) -> String {
    format!("part-{part}.ids")
}

/// Partition `part`'s graph: a header, then per row of the partition its degree and R edge
/// slots (the partition's own row numbers), u32 each.
fn part_graph(part: usize) -> String {
    format!("part-{part}.graph")
}

/// A sharded plan: partition `part`'s vectors, `dims` (+1 under ip) little-endian f32 per
/// row, in the order of its rows.
pub(super) fn part_vectors(part: usize) -> String {
    format!("part-{part}.f32")
}

/// A scratch file written front to back, counting its bytes.
struct Scratch {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: Vec<u8>,
}

impl Scratch {
    fn create(path: PathBuf, buffer: usize) -> Result<Scratch> {
        let file = File::create(&path).map_err(|e| Error::io(&path, "cannot create a build's temporary file", e))?;
        Ok(Scratch { path, out: BufWriter::with_capacity(buffer, file), bytes: Vec::new() })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| Error::io(&self.path, "cannot write a build's temporary file", e))
    }

    fn put_f32s(&mut self, values: &[f32]) -> Result<()> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.resize(values.len() * 4, 0);
        write_f32s(&mut bytes, values);
        let written = self.put(&bytes);
        self.bytes = bytes;
        written
    }

    fn put_u32s(&mut self, values: &[u32]) -> Result<()> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        values.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        let written = self.put(&bytes);
        self.bytes = bytes;
        written
    }

    /// Flushes the file; returns its length.
    fn finish(self) -> Result<u64> {
        let file = self.out.into_inner().map_err(|e| Error::io(&self.path, "cannot write a build's temporary file", e.into_error()))?;
        file.metadata().map(|m| m.len()).map_err(|e| Error::io(&self.path, "cannot write a build's temporary file", e))
    }
}

fn u32_at(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]])
}

/// Rows of little-endian f32 vectors in a mapped scratch file.
pub(super) struct Points {
    map: Mapped,
    dims: usize,
}

impl Points {
    fn len(&self) -> usize {
        self.map.len() / (4 * self.dims)
    }

    /// Asks the kernel to start reading the vectors of `rows` (a hint; pages already
    /// cached cost a system call a run of pages, nothing more).
    fn will_need(&self, rows: impl Iterator<Item = u32>) {
        let row_bytes = 4 * self.dims;
        let mut pages: Vec<(usize, usize)> =
            rows.map(|row| (row as usize * row_bytes / PAGE, (row as usize * row_bytes + row_bytes).div_ceil(PAGE))).collect();
        pages.sort_unstable();
        let mut run: Option<(usize, usize)> = None;
        for (first, end) in pages {
            match &mut run {
                Some((_, run_end)) if first <= *run_end => *run_end = (*run_end).max(end),
                _ => {
                    if let Some((a, b)) = run.replace((first, end)) {
                        self.map.will_need(a * PAGE, (b - a) * PAGE);
                    }
                }
            }
        }
        if let Some((a, b)) = run {
            self.map.will_need(a * PAGE, (b - a) * PAGE);
        }
    }

    /// Decodes the first `out.len()` values of row `row` into `out`.
    fn read(&self, row: usize, out: &mut [f32]) {
        let at = row * 4 * self.dims;
        read_f32s(&self.map[at..at + 4 * out.len()], out);
    }

    /// Row `row`'s little-endian bytes.
    fn bytes(&self, row: usize) -> &[u8] {
        &self.map[row * 4 * self.dims..][..4 * self.dims]
    }

    fn rows(&self, rows: Range<usize>) -> Vec<f32> {
        let mut out = vec![0.0; rows.len() * self.dims];
        read_f32s(&self.map[rows.start * 4 * self.dims..rows.end * 4 * self.dims], &mut out);
        out
    }

    /// `rows` in blocks of [`GATHER_ROWS`], each block's pages asked for just before it is
    /// yielded (the map may be advised random: no read-ahead).
    fn hinted_blocks<'a>(&'a self, rows: &'a [u32]) -> impl Iterator<Item = &'a [u32]> + 'a {
        rows.chunks(GATHER_ROWS).inspect(|block| self.will_need(block.iter().copied()))
    }

    /// The vectors of `rows`, a block at a time (see [`Self::hinted_blocks`]).
    fn gather(&self, rows: &[u32]) -> Vec<f32> {
        let mut out = vec![0.0; rows.len() * self.dims];
        for (block, out) in self.hinted_blocks(rows).zip(out.chunks_mut(GATHER_ROWS * self.dims)) {
            out.par_chunks_mut(self.dims).zip(block).for_each(|(o, &row)| self.read(row as usize, o));
        }
        out
    }
}

impl PointRows for Points {
    fn dims(&self) -> usize {
        self.dims
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn read_point(&self, i: u32, out: &mut [f32]) {
        self.read(i as usize, out);
    }
}

/// What the spill learnt.
struct Spilled {
    rows: usize,
    dims: usize,
    codec: ElementCodec,
    loss: Option<Loss>,
    /// (rowid, slot) of every row.
    map: Vec<(u64, u32)>,
    /// Whether `STORED` holds an integer type's stored bytes.
    stored: bool,
    rowids_from: crate::io::RowidSource,
    /// Temporary bytes written so far.
    bytes: u64,
}

/// Streams the input into the folder: `POINTS` (before ip's lift: `VALUES`), `ROWIDS`,
/// and for integer types `STORED`.
fn spill(
    input: &Input,
    opts: &BuildOptions,
    element: ElementType,
    dir: &Path,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<Spilled> {
    let dims = input.dims;
    let integer = element.is_integer();
    // What the first pass writes: final for float types, an integer type's input values
    // to be stored in a second pass, the vectors before ip's lift.
    let first_file = if integer || opts.metric == Metric::InnerProduct { VALUES } else { POINTS };
    let mut values = Scratch::create(dir.join(first_file), STREAM_BUFFER)?;
    let mut rowids = Scratch::create(dir.join(ROWIDS), STREAM_BUFFER)?;
    let mut map: Vec<(u64, u32)> = Vec::with_capacity(input.rows.min(u32::MAX as u64) as usize);
    let mut scan = CodecScan::new(element);
    let mut loss = None;
    let mut failed = None;
    let mut consume = |mut chunk: VectorSet| {
        let first = map.len() as u64;
        let mut step = || -> Result<()> {
            let rows = first + chunk.len() as u64;
            if rows >= u32::MAX as u64 {
                return Err(Error::InvalidData(format!("{rows} vectors exceed the {} an index holds", u32::MAX - 1)));
            }
            map.extend(chunk.rowids.iter().enumerate().map(|(i, &r)| (r, first as u32 + i as u32)));
            let ids: Vec<u8> = chunk.rowids.iter().flat_map(|r| r.to_le_bytes()).collect();
            rowids.put(&ids)?;
            if integer {
                scan.scan(&chunk.data, dims, &chunk.rowids, first)?;
            } else {
                let (_, _, lost) = store_vectors(&mut chunk, element, opts.metric, None, first)?;
                loss = worse(loss, lost);
            }
            values.put_f32s(&chunk.data)?;
            progress(Stage::Spill, rows, input.rows.max(rows));
            Ok(())
        };
        match step() {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    };
    let read = read_vectors_chunked(input.path, input.opts, spill_rows(dims), &mut consume);
    if let Some(e) = failed {
        return Err(e);
    }
    let summary = read?;
    let mut bytes = values.finish()? + rowids.finish()?;
    let rows = map.len();
    let codec = scan.codec();
    if integer {
        let after = if opts.metric == Metric::InnerProduct { VALUES } else { POINTS };
        loss = store_integers(dir, rows, dims, element, codec, opts.metric, after, &mut bytes)?;
    }
    Ok(Spilled { rows, dims, codec, loss, map, stored: integer, rowids_from: summary.rowids_from, bytes })
}

/// The second pass of an integer type: `VALUES` (the input's values) stored with the
/// codec every value decided, into `STORED` and the vectors read back into `to`.
#[allow(clippy::too_many_arguments)]
fn store_integers(
    dir: &Path,
    rows: usize,
    dims: usize,
    element: ElementType,
    codec: ElementCodec,
    metric: Metric,
    to: &str,
    bytes: &mut u64,
) -> Result<Option<Loss>> {
    let values = Points { map: map_scratch(&dir.join(VALUES))?, dims };
    let rowids = map_scratch(&dir.join(ROWIDS))?;
    let staging = dir.join("staging.f32");
    let mut vectors = Scratch::create(staging.clone(), STREAM_BUFFER)?;
    let mut stored = Scratch::create(dir.join(STORED), STREAM_BUFFER)?;
    let mut loss = None;
    for start in (0..rows).step_by(spill_rows(dims)) {
        let end = (start + spill_rows(dims)).min(rows);
        let ids = (start..end).map(|i| u64::from_le_bytes(rowids[8 * i..8 * i + 8].try_into().expect("8 bytes"))).collect();
        let mut chunk = VectorSet { dims, rowids: ids, data: values.rows(start..end), ..Default::default() };
        let (_, kept, lost) = store_vectors(&mut chunk, element, metric, Some(codec), start as u64)?;
        loss = worse(loss, lost);
        stored.put(&kept.expect("integer types keep their stored bytes"))?;
        vectors.put_f32s(&chunk.data)?;
    }
    *bytes += vectors.finish()? + stored.finish()?;
    drop(values);
    std::fs::rename(&staging, dir.join(to)).map_err(|e| Error::io(&staging, "cannot rename a build's temporary file", e))?;
    if to != VALUES {
        let _ = std::fs::remove_file(dir.join(VALUES));
    }
    Ok(loss)
}

/// Inner product: `POINTS` = every vector of `VALUES` with the coordinate that lifts it to
/// the largest norm. Returns the largest squared norm.
fn lift_points(dir: &Path, bytes: &mut u64, dims: usize, rows: usize) -> Result<f32> {
    let values = Points { map: map_scratch(&dir.join(VALUES))?, dims };
    let chunk = spill_rows(dims);
    let max_norm_squared = (0..rows.div_ceil(chunk))
        .into_par_iter()
        .map(|c| values.rows(c * chunk..((c + 1) * chunk).min(rows)).chunks_exact(dims).map(norm_squared).fold(0.0, f32::max))
        .reduce(|| 0.0, f32::max);
    let mut points = Scratch::create(dir.join(POINTS), STREAM_BUFFER)?;
    let mut lifted = Vec::new();
    for start in (0..rows).step_by(chunk) {
        let data = values.rows(start..(start + chunk).min(rows));
        lifted.clear();
        for v in data.chunks_exact(dims) {
            lifted.extend_from_slice(v);
            lifted.push(lift(max_norm_squared, v));
        }
        points.put_f32s(&lifted)?;
    }
    *bytes += points.finish()?;
    drop(values);
    let _ = std::fs::remove_file(dir.join(VALUES));
    Ok(max_norm_squared)
}

/// `want` rows of `0..n`, ascending, chosen uniformly by a seeded selection sampling.
fn sample_rows(n: usize, want: usize, seed: u64, stream: u64) -> Vec<u32> {
    let want = want.min(n);
    let mut rng = Rng::derive(seed, stream);
    let mut chosen = Vec::with_capacity(want);
    for row in 0..n {
        if (rng.below((n - row) as u64) as usize) < want - chosen.len() {
            chosen.push(row as u32);
        }
    }
    chosen
}

/// The nearest of `centres` (`dims` wide) to `v`; ties: the smaller index.
fn nearest_centre(v: &[f32], centres: &[f32], dims: usize) -> usize {
    centres
        .chunks_exact(dims)
        .map(|c| l2_squared(v, c))
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map_or(0, |(i, _)| i)
}

/// `k` centres of `sample` (`dims` wide) after a fixed number of Lloyd rounds from `k`
/// seeded sample points. Sums run in sample order, so the result is the same on any pool.
fn kmeans(sample: &[f32], dims: usize, k: usize, seed: u64, progress: &(dyn Fn(Stage, u64, u64) + Sync)) -> Vec<f32> {
    let rows = sample.len() / dims;
    let mut order: Vec<usize> = (0..rows).collect();
    Rng::derive(seed, CENTRES_STREAM).shuffle(&mut order);
    let mut centres: Vec<f32> = order.iter().take(k).flat_map(|&i| sample[i * dims..(i + 1) * dims].iter().copied()).collect();
    let k = centres.len() / dims;
    for round in 0..KMEANS_ROUNDS {
        let nearest: Vec<usize> = sample.par_chunks(dims).map(|v| nearest_centre(v, &centres, dims)).collect();
        let mut sums = vec![0.0f64; k * dims];
        let mut counts = vec![0u64; k];
        for (v, &c) in sample.chunks_exact(dims).zip(&nearest) {
            counts[c] += 1;
            sums[c * dims..(c + 1) * dims].iter_mut().zip(v).for_each(|(s, x)| *s += *x as f64);
        }
        for (c, &count) in counts.iter().enumerate().filter(|(_, count)| **count > 0) {
            for j in 0..dims {
                centres[c * dims + j] = (sums[c * dims + j] / count as f64) as f32;
            }
        }
        progress(Stage::Sample, round as u64 + 1, KMEANS_ROUNDS as u64);
    }
    centres
}

/// Splits every centre whose estimated share of the `rows` rows (its sample rows among
/// their `OVERLAP` nearest, scaled up) would fill more than [`SPLIT_AT`] of a partition of
/// `cap` rows, until none does or there are `most` centres. A full partition sends the
/// rows that find it full to farther partitions, where their edges are poor: on 100k x
/// 128 in 22 partitions, 64% of the rows missed one of their two nearest, and recall@10
/// at L 64 fell from 0.989 (one-shot) to 0.963.
///
/// A crowded centre's own sample rows (those nearest it) are split by 2-means, started
/// from the row farthest from the centre and the row farthest from that one.
fn split_crowded(sample: &[f32], dims: usize, mut centres: Vec<f32>, rows: usize, cap: u64, most: usize) -> Vec<f32> {
    let scale = rows as f64 / (sample.len() / dims).max(1) as f64;
    while centres.len() / dims < most {
        let k = centres.len() / dims;
        let nearest: Vec<Vec<usize>> = sample.par_chunks(dims).map(|v| nearest_centres(v, &centres, dims)).collect();
        let mut load = vec![0u64; k];
        nearest.iter().flatten().for_each(|&c| load[c] += 1);
        let mut crowded: Vec<usize> = (0..k).filter(|&c| load[c] as f64 * scale > cap as f64 * SPLIT_AT).collect();
        crowded.sort_by_key(|&c| (std::cmp::Reverse(load[c]), c));
        crowded.truncate(most - k);
        let mut split = false;
        for c in crowded {
            let members: Vec<&[f32]> = sample.chunks_exact(dims).zip(&nearest).filter(|(_, n)| n[0] == c).map(|(v, _)| v).collect();
            if let Some((a, b)) = two_means(&members, &centres[c * dims..(c + 1) * dims]) {
                centres[c * dims..(c + 1) * dims].copy_from_slice(&a);
                centres.extend_from_slice(&b);
                split = true;
            }
        }
        if !split {
            break;
        }
    }
    centres
}

/// A partition is split when its estimated rows exceed this share of its room (the
/// layout plans for [`FILL`](super::budget) of it; a sample's estimate is not exact).
const SPLIT_AT: f64 = 0.9;

/// The `OVERLAP` nearest of `centres` to `v` (fewer when there are fewer centres).
fn nearest_centres(v: &[f32], centres: &[f32], dims: usize) -> Vec<usize> {
    let d: Vec<f32> = centres.chunks_exact(dims).map(|c| l2_squared(v, c)).collect();
    let mut best = Vec::with_capacity(OVERLAP);
    nearest(&d, OVERLAP, &mut best);
    best
}

/// The indices of the `k` smallest of `d` into `best`, nearest first (ties: the smaller
/// index), kept sorted by insertion.
fn nearest(d: &[f32], k: usize, best: &mut Vec<usize>) {
    best.clear();
    for c in 0..d.len() {
        let at = best.iter().position(|&b| d[c].total_cmp(&d[b]).is_lt()).unwrap_or(best.len());
        if at < k {
            best.truncate(k - 1);
            best.insert(at, c);
        }
    }
}

/// Two centres splitting `members` (2-means, a fixed number of rounds), or `None` when
/// they cannot be split (fewer than two distinct rows).
fn two_means(members: &[&[f32]], centre: &[f32]) -> Option<(Vec<f32>, Vec<f32>)> {
    let farthest = |from: &[f32]| {
        members.iter().enumerate().map(|(i, m)| (l2_squared(m, from), i)).max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
    };
    let (_, first) = farthest(centre)?;
    let (spread, second) = farthest(members[first])?;
    if spread == 0.0 {
        return None;
    }
    let (mut a, mut b) = (members[first].to_vec(), members[second].to_vec());
    for _ in 0..KMEANS_ROUNDS {
        let (mut sum_a, mut sum_b) = (vec![0.0f64; centre.len()], vec![0.0f64; centre.len()]);
        let (mut count_a, mut count_b) = (0u64, 0u64);
        for m in members {
            let (sum, count) = if l2_squared(m, &a) <= l2_squared(m, &b) { (&mut sum_a, &mut count_a) } else { (&mut sum_b, &mut count_b) };
            sum.iter_mut().zip(m.iter()).for_each(|(s, x)| *s += *x as f64);
            *count += 1;
        }
        if count_a == 0 || count_b == 0 {
            break;
        }
        a = sum_a.iter().map(|s| (s / count_a as f64) as f32).collect();
        b = sum_b.iter().map(|s| (s / count_b as f64) as f32).collect();
    }
    Some((a, b))
}

/// Assigns every row to its `OVERLAP` nearest centres with room (at most `cap` rows each),
/// writing each partition's id list. Returns each partition's rows.
///
/// Rows claim room nearest first (by the distance to their nearest centre): a full
/// partition then turns away its outskirts, which lie nearer other partitions anyway,
/// rather than whichever rows come last in the file (on 100k x 128 with 21 partitions,
/// filling in file order cost 6 points of recall@10).
fn partition(
    points: &Points,
    centres: &[f32],
    cap: u64,
    dir: &Path,
    bytes: &mut u64,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<Vec<u64>> {
    let (n, dims) = (points.len(), points.dims);
    let parts = centres.len() / dims;
    let distances = |rows: &[u32]| {
        let mut d = vec![0.0f32; rows.len() * parts];
        d.par_chunks_mut(parts).zip(rows).for_each_init(
            || vec![0.0; dims],
            |v, (d, &row)| {
                points.read(row as usize, v);
                d.iter_mut().zip(centres.chunks_exact(dims)).for_each(|(d, c)| *d = l2_squared(v, c));
            },
        );
        d
    };
    // One pass in file order: every row's nearest centres, ranked, and the distance to the
    // nearest. Rows then claim room nearest first from their ranking, without reading
    // their vectors again in that order (random reads that thrash the page cache when the
    // vectors do not fit it); a row whose ranked centres are all full is read once more.
    let mut order: Vec<(f32, u32)> = Vec::with_capacity(n);
    let mut ranking = Ranking::new(n, parts);
    let all: Vec<u32> = (0..n as u32).collect();
    let mut best = Vec::with_capacity(ranking.per_row);
    for rows in all.chunks(PARTITION_CHUNK) {
        let d = distances(rows);
        for (d, &row) in d.chunks_exact(parts).zip(rows) {
            nearest(d, ranking.per_row, &mut best);
            order.push((d[best[0]], row));
            ranking.push(&best);
        }
    }
    drop(all);
    order.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

    let mut assigned = vec![[UNASSIGNED; OVERLAP]; n];
    let mut counts = vec![0u64; parts];
    // Rows read again come in nearest-first order, all over the file: without read-ahead.
    let scattered = Points { map: map_scratch(&dir.join(POINTS))?, dims };
    scattered.map.advise_random();
    let mut v = vec![0.0; dims];
    let mut d = vec![0.0f32; parts];
    for (done, &(_, row)) in order.iter().enumerate() {
        let chosen = &mut assigned[row as usize];
        let has_room = |c: usize, chosen: &[u16; OVERLAP], counts: &[u64]| counts[c] < cap && !chosen.contains(&(c as u16));
        let mut k = 0;
        // The nearest centres with room not chosen yet (ties: the smaller index).
        for c in ranking.row(row as usize) {
            if k < OVERLAP && has_room(c, chosen, &counts) {
                chosen[k] = c as u16;
                counts[c] += 1;
                k += 1;
            }
        }
        if k < OVERLAP && parts > ranking.per_row {
            scattered.read(row as usize, &mut v);
            d.iter_mut().zip(centres.chunks_exact(dims)).for_each(|(d, c)| *d = l2_squared(&v, c));
            while k < OVERLAP {
                let best = (0..parts).filter(|&c| has_room(c, chosen, &counts)).min_by(|&a, &b| d[a].total_cmp(&d[b]).then(a.cmp(&b)));
                let Some(c) = best else { break };
                chosen[k] = c as u16;
                counts[c] += 1;
                k += 1;
            }
        }
        if (done + 1) % PARTITION_CHUNK == 0 || done + 1 == n {
            progress(Stage::Partition, done as u64 + 1, n as u64);
        }
    }
    drop(order);
    drop(ranking);

    // Partition id lists in ascending row order, as the merge reads them.
    let mut ids = (0..parts).map(|p| Scratch::create(dir.join(part_ids(p)), PART_BUFFER)).collect::<Result<Vec<_>>>()?;
    for (row, chosen) in assigned.iter().enumerate() {
        for &c in chosen.iter().filter(|&&c| c != UNASSIGNED) {
            ids[c as usize].put_u32s(&[row as u32])?;
        }
    }
    for file in ids {
        *bytes += file.finish()?;
    }
    Ok(counts)
}

/// Each row's nearest centres, nearest first (at most [`RANKED`]): a byte each when there
/// are at most 256 centres, else two. The assignment holds it for every row, so it sets
/// the build's memory floor.
struct Ranking {
    per_row: usize,
    /// Bytes a centre takes: 1 or 2.
    width: usize,
    bytes: Vec<u8>,
}

/// Bytes a row's ranked centres take among `centres` (see [`Ranking`]).
pub(super) fn ranking_bytes(centres: usize) -> usize {
    RANKED.min(centres) * if centres > 256 { 2 } else { 1 }
}

impl Ranking {
    fn new(rows: usize, centres: usize) -> Self {
        let per_row = RANKED.min(centres);
        Ranking { per_row, width: ranking_bytes(centres) / per_row.max(1), bytes: Vec::with_capacity(rows * ranking_bytes(centres)) }
    }

    /// Appends the next row's ranked centres (`per_row` of them).
    fn push(&mut self, centres: &[usize]) {
        debug_assert_eq!(centres.len(), self.per_row);
        for &c in centres {
            self.bytes.extend_from_slice(&(c as u16).to_le_bytes()[..self.width]);
        }
    }

    fn row(&self, row: usize) -> impl Iterator<Item = usize> + '_ {
        let bytes = &self.bytes[row * self.per_row * self.width..][..self.per_row * self.width];
        bytes.chunks_exact(self.width).map(|c| u16::from_le_bytes([c[0], c.get(1).copied().unwrap_or(0)]) as usize)
    }
}

/// Partition `part`'s rows, ascending.
pub(super) fn part_rows(dir: &Path, part: usize) -> Result<Vec<u32>> {
    let map = map_scratch(&dir.join(part_ids(part)))?;
    Ok((0..map.len() / 4).map(|i| u32_at(&map, i)).collect())
}

/// Builds the graph of partition `part`'s vectors `points` in memory and writes it to its
/// file, with the partition's own row numbers; returns what its distances were computed on. `check` is the CRC-32C of the vectors'
/// little-endian bytes ([`write_part_vectors`]).
pub(super) fn build_partition(
    points: &dyn PointRows,
    part: usize,
    parts: usize,
    params: &BuildParams,
    check: u32,
    dir: &Path,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<Measure> {
    let stage = Stage::PartitionGraph { part: part as u32 + 1, parts: parts as u32 };
    let graph_progress = |pass: u32, passes: u32, done: u64, total: u64| {
        progress(stage, (pass as u64 - 1) * total + done, passes as u64 * total);
    };
    // Read from the mapped file: the build holds its codes of them (half the bytes or less),
    // or on f32 (see `graph::space`) a copy. No sketch pass: the merge's union of a row's
    // lists from its two partitions, re-pruned, does what the second pass over a sketch
    // would (1M x 128: partition graphs 0.6x the time, recall as high; README, "Scale").
    let graph = graph::build(points, &BuildParams { sketch: false, ..*params }, &graph_progress);
    let path = dir.join(part_graph(part));
    let mut out = Scratch::create(path.clone(), STREAM_BUFFER)?;
    out.put(&part_graph_header(graph.len(), params, check))?;
    // The graph's records are the file's: a degree, then R edge slots (unused ones 0).
    for records in graph.records().chunks(STREAM_BUFFER / 4) {
        out.put_u32s(records)?;
    }
    out.finish()?;
    Ok(graph.measure)
}

/// Opens a partition graph's file: its header (see [`part_graph_header`]) must describe
/// `rows` rows built with `params`, its length must match, and every edge must name a
/// row of the partition.
fn open_part_graph(dir: &Path, part: usize, rows: usize, params: &BuildParams, check: u32) -> Result<Mapped> {
    let path = dir.join(part_graph(part));
    if !path.exists() {
        return Err(Error::InvalidData(format!(
            "{}: partition {part} has no graph yet; build it (`lmdiskann shard build {} --part {part}`) before the merge",
            path.display(),
            dir.display()
        )));
    }
    let map = map_scratch(&path)?;
    let r = params.max_degree;
    let header = part_graph_header(rows, params, check);
    let records = map.get(header.len()..).unwrap_or_default();
    let bad = |what: &str| {
        Err(Error::InvalidData(format!(
            "{}: {what}; build partition {part} again (`lmdiskann shard build {} --part {part}`)",
            path.display(),
            dir.display()
        )))
    };
    if !map.starts_with(&PART_GRAPH_MAGIC) {
        return bad("not a partition graph this version of lmdiskann wrote");
    }
    if map[..header.len().min(map.len())] != header[..] {
        return bad("was built for another plan (its vectors or build parameters differ)");
    }
    if records.len() != rows * 4 * (1 + r) {
        return bad("is cut short or too long");
    }
    let sound = (0..rows).into_par_iter().all(|row| {
        let at = row * (1 + r);
        let degree = u32_at(records, at) as usize;
        degree <= r && (0..degree).all(|i| (u32_at(records, at + 1 + i) as usize) < rows)
    });
    if !sound {
        return bad("holds an edge or degree out of range");
    }
    Ok(map)
}

const PART_GRAPH_MAGIC: [u8; 8] = *b"LMDPART2";

/// A partition graph file's header: the magic, then as little-endian u32 the partition's
/// rows, the build parameters (R, L, alpha's bits, saturation, the seed's halves) and the
/// check of its vectors, so a graph built for another plan is recognised.
fn part_graph_header(rows: usize, params: &BuildParams, check: u32) -> Vec<u8> {
    let p = params;
    let fields = [
        rows as u32,
        p.max_degree as u32,
        p.build_list as u32,
        p.alpha.to_bits(),
        p.saturate as u32,
        p.seed as u32,
        (p.seed >> 32) as u32,
        check,
    ];
    PART_GRAPH_MAGIC.iter().copied().chain(fields.iter().flat_map(|f| f.to_le_bytes())).collect()
}

/// Appends a graph file's record of `edges`: the degree, then `max_degree` slots (unused
/// ones 0), little-endian.
fn put_record(out: &mut Vec<u8>, edges: &[u32], max_degree: usize) {
    out.extend_from_slice(&(edges.len() as u32).to_le_bytes());
    edges.iter().for_each(|e| out.extend_from_slice(&e.to_le_bytes()));
    out.resize(out.len() + 4 * (max_degree - edges.len()), 0);
}

/// The edges of record `row` of a graph file (degree, then `max_degree` slots).
fn record_edges(graph: &[u8], max_degree: usize, row: usize, out: &mut Vec<u32>) {
    let at = row * (1 + max_degree);
    let degree = u32_at(graph, at) as usize;
    out.clear();
    out.extend((0..degree.min(max_degree)).map(|i| u32_at(graph, at + 1 + i)));
}

/// Merges the partitions' graphs into `GRAPH`: a node in one partition keeps its list; a
/// node in several gets the union of its lists, re-pruned over the full vectors, and its
/// links to other regions from the navigation graph (the last partition) beside them. `checks`
/// are the partitions' vector checks. Returns the file, open for the reachability repair,
/// and its map.
fn merge(
    points: &Points,
    checks: &[u32],
    params: &BuildParams,
    dir: &Path,
    bytes: &mut u64,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<(File, Mapped)> {
    let n = points.len();
    let r = params.max_degree;
    let ids = (0..checks.len()).map(|p| map_scratch(&dir.join(part_ids(p)))).collect::<Result<Vec<_>>>()?;
    let graphs = checks
        .iter()
        .enumerate()
        .map(|(p, &check)| open_part_graph(dir, p, ids[p].len() / 4, params, check))
        .collect::<Result<Vec<_>>>()?;
    *bytes += graphs.iter().map(|g| g.len() as u64).sum::<u64>();
    let header = part_graph_header(0, params, 0).len();
    let navigation = checks.len() - 1;
    let most_links = (r / LINK_SHARE).max(1);
    let sampled_rows = ids[navigation].len() / 4;
    let jump_seed = Rng::derive(params.seed, JUMP_STREAM).next_u64();
    let record_len = 4 * (1 + r);
    // Each pass appends its rows' records, ascending, to a run of its own; the runs are
    // merged into `GRAPH` in row order at the end. Written in place instead, a record a
    // row, every pass touched nearly every page of `GRAPH`, which then held the page cache
    // the cgroup allows and left none for the vectors the re-prunes read (5M x 128 under
    // 512 MiB: 374 MiB of `GRAPH` cached, none of the points file, 1.0 TB read from disk
    // in 27 minutes of merge).
    let mut runs = Scratch::create(dir.join(RUNS), STREAM_BUFFER)?;
    let mut run_rows = Vec::with_capacity(checks.len());
    let mut record = Vec::with_capacity(4 + record_len);
    let mut done = 0;
    // A partition at a time, each row with the first partition that holds it: a row's
    // candidates lie in its own partitions, so most vectors the re-prunes read are the
    // partition's, which are read once, in file order, into memory (the budget sized a
    // partition's vectors and graph to fit it). In row order they were all over the points
    // file, and beyond the page cache most were a read from disk (at 2M x 128 under 512 MiB
    // the merge took 575 s); read in place in partition order, 324 s (a partition's rows
    // lie on over half of the file's pages).
    for home in 0..checks.len() {
        let done_before = done;
        let members = ids[home].len() / 4;
        let home_rows: Vec<u32> = (0..members).map(|at| u32_at(&ids[home], at)).collect();
        let local = points.gather(&home_rows);
        let vectors = Vectors { points, rows: &home_rows, local: &local };
        // The next row of each other partition: each lists its rows in ascending order.
        let mut cursor = vec![0usize; checks.len()];
        for start in (0..members).step_by(MERGE_CHUNK) {
            let end = (start + MERGE_CHUNK).min(members);
            let places: Vec<(u32, Vec<(usize, usize)>)> = (start..end)
                .filter_map(|at| {
                    let row = u32_at(&ids[home], at);
                    let mut places = Vec::with_capacity(OVERLAP + 1);
                    for (p, next) in cursor.iter_mut().enumerate() {
                        if p == home {
                            places.push((p, at));
                            continue;
                        }
                        let held = ids[p].len() / 4;
                        while *next < held && u32_at(&ids[p], *next) < row {
                            *next += 1;
                        }
                        if *next < held && u32_at(&ids[p], *next) == row {
                            if p < home {
                                return None; // merged with that partition
                            }
                            places.push((p, *next));
                        }
                    }
                    Some((row, places))
                })
                .collect();
            // (row, candidates, links, whether the candidates need a re-prune)
            let mut unions: Vec<(u32, Vec<u32>, Vec<u32>, bool)> = places
                .par_iter()
                .map_init(Vec::new, |edges, (row, places)| {
                    let (mut union, mut links) = (Vec::new(), Vec::new());
                    let sampled = places.last().is_some_and(|p| p.0 == navigation);
                    let regions = &places[..places.len() - sampled as usize];
                    for &(p, at) in places {
                        record_edges(&graphs[p][header..], r, at, edges);
                        for id in edges.iter().map(|&local| u32_at(&ids[p], local as usize)) {
                            // An edge of the navigation graph to a row outside this row's
                            // regions is one no regional graph could give: a link. The prune
                            // would trade it for a nearer candidate, so it is kept aside.
                            let link = p == navigation && !regions.is_empty() && !regions.iter().any(|&(q, _)| holds(&ids[q], id));
                            if !link {
                                union.push(id);
                            } else if links.len() < most_links {
                                links.push(id);
                            }
                        }
                    }
                    if places.len() > 1 {
                        union.sort_unstable();
                        union.dedup();
                    }
                    // A row outside the sample gives one edge to a sampled row drawn by its
                    // own seeded lot: a long jump, as in Kleinberg's small world. A
                    // partition inside one cluster has no edge out of it, and the sample's
                    // rows are too few for a short search to meet: at 1M x 128 in 225
                    // partitions, 25% of the queries found none of their 10 nearest at L
                    // 64 without the jumps, 0.3% with them.
                    if !sampled && sampled_rows > 0 {
                        let lot = Rng::derive(jump_seed, *row as u64).below(sampled_rows as u64);
                        let jump = u32_at(&ids[navigation], lot as usize);
                        union.retain(|&id| id != jump);
                        links.push(jump);
                    }
                    (*row, union, links, places.len() > 1)
                })
                .collect();
            for window in unions.chunks_mut(HINT_ROWS) {
                // A re-prune reads its row's and its candidates' vectors. When they are not
                // in the page cache, page faults fetch them one per thread at a time;
                // asking for a window's vectors at once lets the disk serve many reads
                // together.
                let merged = window.iter().filter(|u| u.3);
                points
                    .will_need(merged.flat_map(|(_, union, _, _)| union.iter().copied()).filter(|id| home_rows.binary_search(id).is_err()));
                let lists: Vec<Vec<u32>> = window
                    .par_iter_mut()
                    .map(|(row, union, links, merged)| {
                        let degree = r - links.len();
                        let mut list = if *merged { reprune(&vectors, *row, union, params, degree) } else { std::mem::take(union) };
                        list.truncate(degree);
                        list.append(links);
                        list
                    })
                    .collect();
                for ((row, ..), edges) in window.iter().zip(&lists) {
                    record.clear();
                    record.extend_from_slice(&row.to_le_bytes());
                    put_record(&mut record, edges, r);
                    runs.put(&record)?;
                }
            }
            done += unions.len();
            progress(Stage::Merge, done as u64, n as u64);
        }
        run_rows.push(done - done_before);
    }
    *bytes += runs.finish()?;
    let graph = merge_runs(dir, n, record_len, &run_rows)?;
    *bytes += (n * record_len) as u64;
    Ok(graph)
}

/// Writes `GRAPH` from the runs the merge's passes left in `RUNS` (`run_rows[i]` records
/// of run i, each its row then its record, rows ascending), in row order; a row in no run
/// gets the zero record (no edges). Removes the runs; returns `GRAPH`, open and mapped.
fn merge_runs(dir: &Path, n: usize, record_len: usize, run_rows: &[usize]) -> Result<(File, Mapped)> {
    let entry_len = 4 + record_len;
    let runs_path = dir.join(RUNS);
    let runs = map_scratch(&runs_path)?;
    let mut graph = Scratch::create(dir.join(GRAPH), STREAM_BUFFER)?;
    // Each run's entries not yet taken, and a heap of (the next one's row, the run).
    let mut left: Vec<Range<usize>> = Vec::with_capacity(run_rows.len());
    for &rows in run_rows {
        let start = left.last().map_or(0, |r| r.end);
        left.push(start..start + rows);
    }
    let row_at = |entry: usize| u32_at(&runs[entry * entry_len..], 0);
    let mut heap: BinaryHeap<Reverse<(u32, usize)>> =
        left.iter().enumerate().filter(|(_, l)| !l.is_empty()).map(|(run, l)| Reverse((row_at(l.start), run))).collect();
    let zero = vec![0u8; record_len];
    for row in 0..n as u32 {
        match heap.peek() {
            Some(&Reverse((least, run))) if least == row => {
                heap.pop();
                let entry = left[run].start;
                left[run].start += 1;
                graph.put(&runs[entry * entry_len + 4..][..record_len])?;
                if !left[run].is_empty() {
                    heap.push(Reverse((row_at(left[run].start), run)));
                }
            }
            _ => graph.put(&zero)?,
        }
    }
    graph.finish()?;
    drop(runs);
    std::fs::remove_file(&runs_path).map_err(|e| Error::io(&runs_path, "cannot remove a build's temporary file", e))?;
    let path = dir.join(GRAPH);
    let file =
        File::options().read(true).write(true).open(&path).map_err(|e| Error::io(&path, "cannot open a build's temporary file", e))?;
    Ok((file, map_for_lookups(&path)?))
}

/// Maps a scratch file whose records are read by row, all over it (the merged graph by
/// the reachability pass, the codes of each node's neighbours by the writer): read-ahead
/// around each would fetch pages nobody asked for, and beyond the page cache evict the
/// ones it did (5M x 128 under 512 MiB: 1 GB/s read from disk while the reachability
/// pass walked the graph).
fn map_for_lookups(path: &Path) -> Result<Mapped> {
    let map = map_scratch(path)?;
    map.advise_random();
    Ok(map)
}

/// The vectors a merge pass reads: its partition's, in memory, and the others' in place.
struct Vectors<'a> {
    points: &'a Points,
    /// The partition's rows, ascending, and their vectors.
    rows: &'a [u32],
    local: &'a [f32],
}

impl Vectors<'_> {
    fn read(&self, row: u32, out: &mut [f32]) {
        let dims = self.points.dims;
        match self.rows.binary_search(&row) {
            Ok(at) => out.copy_from_slice(&self.local[at * dims..][..dims]),
            Err(_) => self.points.read(row as usize, out),
        }
    }
}

/// Whether the ascending id list `ids` holds `row`.
fn holds(ids: &[u8], row: u32) -> bool {
    let (mut lo, mut hi) = (0, ids.len() / 4);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match u32_at(ids, mid).cmp(&row) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// RobustPrune of `row`'s candidates `union` (sorted, distinct) over the full vectors.
fn reprune(source: &Vectors, row: u32, union: &[u32], params: &BuildParams, degree: usize) -> Vec<u32> {
    let dims = source.points.dims;
    // Every vector the prune compares, decoded once: `row`'s, then the candidates'.
    let mut vectors = vec![0.0f32; (union.len() + 1) * dims];
    source.read(row, &mut vectors[..dims]);
    for (i, &id) in union.iter().enumerate() {
        source.read(id, &mut vectors[(i + 1) * dims..(i + 2) * dims]);
    }
    let at = |id: u32| if id == row { 0 } else { 1 + union.binary_search(&id).expect("a candidate") };
    let vector = |id: u32| &vectors[at(id) * dims..(at(id) + 1) * dims];
    let dist = |a: u32, b: u32| l2_squared(vector(a), vector(b));
    let mut pool: Vec<(f32, u32)> = union.iter().map(|&id| (dist(row, id), id)).collect();
    robust_prune_split(row, &mut pool, params.alpha, degree, params.saturate, dist).0
}

/// The row of `among` nearest the mean of all (ties: the smaller row), and the mean's first
/// `dims` coordinates (the codes' centroid). Sums run in row order in f64.
fn medoid(points: &Points, dims: usize, among: &[u32]) -> (u32, Vec<f32>) {
    let n = points.len();
    let mut sum = vec![0.0f64; points.dims];
    for start in (0..n).step_by(spill_rows(points.dims)) {
        let data = points.rows(start..(start + spill_rows(points.dims)).min(n));
        for v in data.chunks_exact(points.dims) {
            sum.iter_mut().zip(v).for_each(|(s, x)| *s += *x as f64);
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n as f64) as f32).collect();
    let entry = among
        .par_iter()
        .map_init(
            || vec![0.0; points.dims],
            |v, &i| {
                points.read(i as usize, v);
                (l2_squared(v, &mean), i)
            },
        )
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map_or(0, |(_, i)| i);
    (entry, mean[..dims].to_vec())
}

/// The merged graph in its file, for [`graph::reconnect`]: every row must be reachable.
struct Merged<'a> {
    points: &'a Points,
    path: PathBuf,
    file: File,
    map: Mapped,
    entry: u32,
    params: &'a BuildParams,
}

impl Reconnect for Merged<'_> {
    type Error = Error;

    fn slots(&self) -> u32 {
        self.points.len() as u32
    }

    fn entry(&self) -> Option<u32> {
        Some(self.entry)
    }

    fn max_degree(&self) -> usize {
        self.params.max_degree
    }

    fn must_reach(&self, _: u32) -> Result<bool> {
        Ok(true)
    }

    fn out_edges(&self, slot: u32) -> Result<Vec<u32>> {
        let mut edges = Vec::new();
        record_edges(&self.map, self.params.max_degree, slot as usize, &mut edges);
        Ok(edges)
    }

    fn nearest_sources(&self, slot: u32) -> Result<Vec<u32>> {
        let mut query = vec![0.0; self.points.dims];
        self.points.read(slot as usize, &mut query);
        let distance = |id: u32| {
            let mut v = vec![0.0; self.points.dims];
            self.points.read(id as usize, &mut v);
            Ok(l2_squared(&query, &v))
        };
        nearest_expanded(self.entry, self.params.build_list, distance, |id, out| {
            record_edges(&self.map, self.params.max_degree, id as usize, out);
            Ok(())
        })
    }

    fn link(&mut self, from: u32, replace: Option<usize>, to: u32) -> Result<()> {
        let r = self.params.max_degree;
        let mut edges = self.out_edges(from)?;
        place(&mut edges, replace, to);
        let mut record: Vec<u8> = Vec::with_capacity(4 * (1 + r));
        put_record(&mut record, &edges, r);
        // The map shares the file's pages: later reads see this write.
        self.file
            .write_all_at(&record, (from as usize * 4 * (1 + r)) as u64)
            .map_err(|e| Error::io(&self.path, "cannot write a build's temporary file", e))
    }
}

/// Every row's neighbour code, into `CODES`; returns its map.
fn encode_codes(points: &Points, dims: usize, space: crate::quant::CodeSpace, dir: &Path, bytes: &mut u64) -> Result<Mapped> {
    let n = points.len();
    let code_len = space.code_len();
    let mut out = Scratch::create(dir.join(CODES), STREAM_BUFFER)?;
    let chunk = spill_rows(points.dims);
    let mut codes = vec![0u8; chunk * code_len];
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        codes[..(end - start) * code_len].par_chunks_mut(code_len).enumerate().for_each_init(
            || vec![0.0; dims],
            |v, (i, code)| {
                points.read(start + i, v);
                space.encode(v, code);
            },
        );
        out.put(&codes[..(end - start) * code_len])?;
    }
    *bytes += out.finish()?;
    map_for_lookups(&dir.join(CODES))
}

/// The nodes of a partitioned build, read from its folder.
struct OnDisk<'a> {
    points: &'a Points,
    dims: usize,
    stored: Option<Mapped>,
    rowids: Mapped,
    graph: &'a Mapped,
    max_degree: usize,
    codes: &'a Mapped,
    code_len: usize,
}

impl Nodes for OnDisk<'_> {
    fn len(&self) -> usize {
        self.points.len()
    }

    fn rowid(&self, slot: usize) -> u64 {
        u64::from_le_bytes(self.rowids[8 * slot..8 * slot + 8].try_into().expect("8 bytes"))
    }

    fn vector<'a>(&'a self, slot: usize, buf: &'a mut Vec<f32>) -> &'a [f32] {
        buf.resize(self.dims, 0.0);
        self.points.read(slot, buf);
        buf
    }

    fn stored(&self, slot: usize) -> Option<&[u8]> {
        self.stored.as_ref().map(|bytes| &bytes[slot * self.dims..(slot + 1) * self.dims])
    }

    fn edges(&self, slot: usize, out: &mut Vec<u32>) {
        record_edges(self.graph, self.max_degree, slot, out);
    }

    fn code(&self, id: u32) -> &[u8] {
        &self.codes[id as usize * self.code_len..(id as usize + 1) * self.code_len]
    }

    fn will_read(&self, slots: &[u32]) {
        match &self.stored {
            // Integer types are written from their stored bytes, not the points.
            Some(stored) => slots.iter().for_each(|&slot| stored.will_need(slot as usize * self.dims, self.dims)),
            None => self.points.will_need(slots.iter().copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::{exact_rowids, recall_at_k};
    use crate::index::{build_index_from_path, build_index_from_path_in, check_index, choose_strategy, BuildStrategy, Index};
    use crate::io::write_fvecs;
    use crate::storage::{scratch_path, Fault, Faulty, FileStorage};
    use crate::synthetic::Clustered;

    const ROWS: usize = 20_000;
    const DIMS: usize = 16;

    /// A budget that forces `rows` rows into at least `partitions` partitions.
    fn forcing_budget(opts: &BuildOptions, element: ElementType, rows: usize, dims: usize, partitions: usize) -> u64 {
        let request = opts.plan_request(dims, element);
        let plan = crate::format::plan(&request).unwrap();
        let mut budget = crate::index::estimate_build(opts, &request, &plan, rows as u64, 1).build_peak_bytes;
        loop {
            budget -= budget / 200;
            match choose_strategy(opts, &request, &plan, rows as u64, budget).unwrap() {
                BuildStrategy::Partitioned(layout) if layout.partitions >= partitions => return budget,
                _ => {}
            }
        }
    }

    struct Case {
        dir: tempfile::TempDir,
        input: PathBuf,
        base: VectorSet,
    }

    impl Case {
        fn new(base: VectorSet) -> Case {
            let dir = tempfile::tempdir().unwrap();
            let input = dir.path().join("base.fvecs");
            write_fvecs(&input, &base).unwrap();
            Case { dir, input, base }
        }
    }

    fn case(rows: usize) -> Case {
        Case::new(Clustered::standard(DIMS, 3).sample(rows, 0))
    }

    /// Recall@10 of `queries` on the index at `path` at L 64, against exact search of `base`.
    fn recall_at_l64(path: &Path, base: &VectorSet, queries: &VectorSet) -> f64 {
        let truth = exact_rowids(base, queries, Metric::L2, 10).unwrap();
        recall_at_k(&crate::index::search_all(path, queries, 10, 64), &truth, 10)
    }

    fn partitioned_opts(metric: Metric, store: Option<ElementType>, rows: usize) -> BuildOptions {
        let opts = BuildOptions { metric, store, build_list: 64, ..BuildOptions::default() };
        let budget = forcing_budget(&opts, store.unwrap_or(ElementType::F32), rows, DIMS, 4);
        BuildOptions { max_memory: Some(budget), ..opts }
    }

    fn build_on(threads: usize, case: &Case, opts: &BuildOptions, name: &str) -> Result<(BuildReport, Vec<u8>)> {
        let out = case.dir.path().join(name);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let report = pool.install(|| build_index_from_path(&case.input, &InputOptions::default(), opts, &out, &|_, _, _| {}))?;
        Ok((report, std::fs::read(&out).unwrap()))
    }

    fn assert_sound(path: &Path) {
        let problems = check_index(&crate::storage::IndexFile::open(path).unwrap()).problems;
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_forced_partitioned_build_is_sound_finds_the_neighbours_and_is_the_same_on_any_pool() {
        let case = case(ROWS);
        let opts = partitioned_opts(Metric::L2, None, ROWS);
        let (report, one) = build_on(1, &case, &opts, "one.lmd").unwrap();
        let BuildStrategy::Partitioned(layout) = report.strategy else { panic!("{:?}", report.strategy) };
        assert!(layout.partitions >= 4 && report.temp_bytes > (ROWS * DIMS * 4) as u64, "{layout:?} {report:?}");
        let phases: Vec<&str> = report.phase_seconds.iter().map(|(phase, _)| *phase).collect();
        assert_eq!(phases, ["read", "sample", "partition", "partition graphs", "merge", "write"]);
        let (_, three) = build_on(3, &case, &opts, "three.lmd").unwrap();
        assert!(one == three, "the file depends on the thread count");
        let path = case.dir.path().join("one.lmd");
        assert_sound(&path);
        assert!(!scratch_path(&path).exists() && !scratch_path(&case.dir.path().join("three.lmd")).exists());

        let queries = Clustered::standard(DIMS, 3).sample(200, 1);
        let recall = |path: &Path| recall_at_l64(path, &case.base, &queries);
        build_on(3, &case, &BuildOptions { max_memory: None, ..opts }, "shot.lmd").unwrap();
        let (partitioned, one_shot) = (recall(&path), recall(&case.dir.path().join("shot.lmd")));
        eprintln!("recall@10 at L 64: {partitioned:.4} in {} partitions, {one_shot:.4} in one piece", layout.partitions);
        assert!(partitioned >= 0.95 && partitioned >= one_shot - 0.02, "recall@10 {partitioned}, one-shot {one_shot}");
    }

    #[test]
    fn partitions_inside_clusters_far_apart_still_lead_a_search_to_every_cluster() {
        // 64 tight clusters far apart, each over about four partitions of at most 400 rows
        // (more partitions than a unit test's budget can force, so the layout is given): no
        // partition's graph leaves its cluster, and the navigation sample, capped at a
        // partition's size, holds 2% of the rows.
        let clusters = Clustered::new(DIMS, 64, 8, 0.5, 0.02, 5);
        let case = Case::new(clusters.sample(ROWS, 0));
        let opts = BuildOptions { build_list: 64, ..BuildOptions::default() };
        let plan = crate::format::plan(&opts.plan_request(DIMS, ElementType::F32)).unwrap();
        let layout = PartitionLayout {
            partitions: 128,
            overlap: OVERLAP,
            sample_rows: 10_000,
            max_partition_rows: 400,
            temp_bytes: 0,
            peak_bytes: 0,
        };
        let input = Input { path: &case.input, opts: &InputOptions::default(), rows: ROWS as u64, dims: DIMS, source: InputType::F32 };
        let out = case.dir.path().join("index.lmd");
        build_partitioned(&FileStorage, &input, &opts, &plan, ElementType::F32, layout, &out, &|_, _, _| {}).unwrap();
        assert_sound(&out);
        let recall = recall_at_l64(&out, &case.base, &clusters.sample(500, 1));
        eprintln!("recall@10 at L 64: {recall:.4}");
        assert!(recall >= 0.95, "recall@10 {recall}");
    }

    #[test]
    fn the_merge_links_regions_only_through_the_navigation_sample() {
        // Tight clusters far apart, several to a partition: a partition's graph has no
        // edges to the others' regions, so only the navigation graph's links, and the
        // other rows' jumps into the navigation sample, lead there.
        // Eight regional partitions or more: with fewer, each row is in a large share of
        // them (2 of 4), and few sample edges lead outside a row's own.
        let (rows, dims) = (ROWS, 64);
        let dir = tempfile::tempdir().unwrap();
        let base = Clustered::new(dims, 32, 8, 0.5, 0.02, 9).sample(rows, 0);
        let input = dir.path().join("base.fvecs");
        write_fvecs(&input, &base).unwrap();
        let opts = BuildOptions { build_list: 64, ..BuildOptions::default() };
        let opts = BuildOptions { max_memory: Some(forcing_budget(&opts, ElementType::F32, rows, dims, 9)), ..opts };
        let folder = dir.path().join("plan");
        let plan = crate::index::plan_shards(&input, &InputOptions::default(), &opts, &folder, &|_, _, _| {}).unwrap();
        let parts = plan.layout.partitions;
        for part in 0..parts {
            crate::index::build_shard(&folder, part, &|_, _, _| {}).unwrap();
        }
        let navigation = part_rows(&folder, parts - 1).unwrap();
        assert_eq!(navigation.len() as u64, navigation_rows(rows as u64, plan.layout.max_partition_rows));
        assert!(navigation.windows(2).all(|w| w[0] < w[1]) && navigation.len() == rows.div_ceil(16));

        let params = opts.build_params(&opts.plan(dims, ElementType::F32).unwrap());
        let points = Points { map: map_scratch(&folder.join(POINTS)).unwrap(), dims };
        let (_, graph) = merge(&points, &plan.checks, &params, &folder, &mut 0, &|_, _, _| {}).unwrap();
        let ids: Vec<Mapped> = (0..parts - 1).map(|p| map_scratch(&folder.join(part_ids(p))).unwrap()).collect();
        let regions = |row: u32| -> Vec<usize> { (0..parts - 1).filter(|&p| holds(&ids[p], row)).collect() };
        let (mut linked, mut jumped, mut edges) = (0, 0, Vec::new());
        for row in 0..rows as u32 {
            record_edges(&graph, params.max_degree, row as usize, &mut edges);
            let own = regions(row);
            let links: Vec<u32> = edges.iter().copied().filter(|&to| regions(to).iter().all(|p| !own.contains(p))).collect();
            if navigation.binary_search(&row).is_ok() {
                assert!(links.len() <= params.max_degree / LINK_SHARE, "row {row}: {links:?} links");
                linked += !links.is_empty() as usize;
            } else {
                // Its one jump, unless the sampled row drawn shares a partition with it.
                assert!(links.len() <= 1, "row {row} is not sampled but has edges {links:?} outside its partitions");
                assert!(links.iter().all(|to| navigation.binary_search(to).is_ok()), "row {row} jumps to {links:?}, not sampled");
                jumped += links.len();
            }
        }
        assert!(linked * 4 >= navigation.len(), "only {linked} of {} sampled rows link regions", navigation.len());
        let others = rows - navigation.len();
        assert!(jumped * 2 >= others, "only {jumped} of {others} rows outside the sample jump out of their partitions");
    }

    #[test]
    fn a_full_partition_keeps_the_rows_nearest_its_centre() {
        // Six rows near centre 0 (at 0), the nearest last in the file; centres 1 and 2 far
        // off; room for 4 rows each. The four nearest rows (5, 4, 3, 2) keep centre 0, the
        // two farthest go elsewhere; filled in file order, rows 0..4 would have kept it.
        let dir = tempfile::tempdir().unwrap();
        let (scratch, _) = ScratchDir::create(&dir.path().join("x.lmd")).unwrap();
        let mut file = Scratch::create(scratch.file(POINTS), STREAM_BUFFER).unwrap();
        file.put_f32s(&[3.0, 2.0, 1.0, 0.5, 0.2, 0.1]).unwrap();
        file.finish().unwrap();
        let points = Points { map: map_scratch(&scratch.file(POINTS)).unwrap(), dims: 1 };
        let parts = partition(&points, &[0.0, 100.0, 200.0], 4, scratch.path(), &mut 0, &|_, _, _| {}).unwrap();
        assert_eq!(parts, [4, 4, 2]);
        let ids = |part| {
            let map = map_scratch(&scratch.file(&part_ids(part))).unwrap();
            (0..map.len() / 4).map(|i| u32_at(&map, i)).collect::<Vec<_>>()
        };
        assert_eq!(ids(0), [2, 3, 4, 5]);
        assert_eq!(ids(1), [2, 3, 4, 5]);
        assert_eq!(ids(2), [0, 1], "the farthest rows find room further off");
    }

    #[test]
    fn crowded_centres_are_split_until_every_share_fits_a_partition() {
        // One line of 800 sample rows at 0..800 and 200 more at 10,000: k-means with two
        // centres gives the line 80% of the rows. Partitions of 300 of the 1,000 rows
        // cannot hold it; after the splits every centre's sampled share (a row counts
        // for its two nearest) fits.
        let sample: Vec<f32> = (0..800).map(|i| i as f32).chain((0..200).map(|i| 10_000.0 + i as f32 * 0.01)).collect();
        let centres = vec![400.0, 10_000.0];
        let split = split_crowded(&sample, 1, centres.clone(), 1000, 300, 16);
        assert!(split.len() > 2, "{split:?}");
        let mut load = vec![0u64; split.len()];
        sample.chunks_exact(1).for_each(|v| nearest_centres(v, &split, 1).iter().for_each(|&c| load[c] += 1));
        assert!(load.iter().all(|&l| l as f64 <= 300.0 * SPLIT_AT), "{load:?}");
        // Never more than `most` centres, and a share that fits splits nothing.
        assert_eq!(split_crowded(&sample, 1, centres.clone(), 1000, 300, 3).len(), 3);
        assert_eq!(split_crowded(&sample, 1, centres.clone(), 1000, 2000, 16), centres);
        // Rows that are all one point cannot be split.
        assert_eq!(split_crowded(&[5.0; 100], 1, vec![5.0], 100, 10, 8), vec![5.0]);
    }

    #[test]
    fn rankings_keep_each_rows_centres_in_one_byte_up_to_256_centres_and_two_beyond() {
        for (centres, bytes) in [(3, 3), (256, RANKED), (257, 2 * RANKED), (512, 2 * RANKED)] {
            assert_eq!(ranking_bytes(centres), bytes, "{centres} centres");
            let per_row = RANKED.min(centres);
            let rows: Vec<Vec<usize>> = (0..50).map(|r| (0..per_row).map(|i| (r * 37 + i * 101) % centres).collect()).collect();
            let mut ranking = Ranking::new(rows.len(), centres);
            rows.iter().for_each(|r| ranking.push(r));
            assert_eq!(ranking.bytes.len(), rows.len() * bytes);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(&ranking.row(i).collect::<Vec<_>>(), r, "{centres} centres, row {i}");
            }
        }
    }

    #[test]
    fn a_row_whose_ranked_centres_are_all_full_is_scored_against_every_centre() {
        // Five rows at 0 and eleven centres 10 apart, room for one row each: the first
        // rows take centres 0 to 7 two by two; the fifth finds its RANKED (8) nearest full
        // and gets the next two, 8 and 9.
        let dir = tempfile::tempdir().unwrap();
        let (scratch, _) = ScratchDir::create(&dir.path().join("x.lmd")).unwrap();
        let mut file = Scratch::create(scratch.file(POINTS), STREAM_BUFFER).unwrap();
        file.put_f32s(&[0.0; 5]).unwrap();
        file.finish().unwrap();
        let points = Points { map: map_scratch(&scratch.file(POINTS)).unwrap(), dims: 1 };
        let centres: Vec<f32> = (0..11).map(|c| 10.0 * c as f32).collect();
        let parts = partition(&points, &centres, 1, scratch.path(), &mut 0, &|_, _, _| {}).unwrap();
        assert_eq!(parts, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        for c in 0..10 {
            assert_eq!(part_rows(scratch.path(), c).unwrap(), [c as u32 / 2], "centre {c}");
        }
    }

    #[test]
    fn integer_storage_and_inner_product_take_their_extra_passes_and_stay_sound() {
        let case = case(ROWS);
        for (metric, store) in
            [(Metric::InnerProduct, None), (Metric::Cosine, Some(ElementType::I8)), (Metric::InnerProduct, Some(ElementType::I8))]
        {
            let opts = partitioned_opts(metric, store, ROWS);
            let name = format!("{}-{store:?}.lmd", metric.name());
            let (report, _) = build_on(2, &case, &opts, &name).unwrap();
            assert!(matches!(report.strategy, BuildStrategy::Partitioned(_)), "{metric:?} {store:?}");
            assert_sound(&case.dir.path().join(&name));
            // The one-shot build stores the same values and scale.
            let one_shot = BuildOptions { max_memory: None, ..opts };
            let (shot, _) = build_on(2, &case, &one_shot, "shot.lmd").unwrap();
            let (a, b) = (Index::open(&case.dir.path().join(&name)).unwrap(), Index::open(&case.dir.path().join("shot.lmd")).unwrap());
            let (a, b) = (a.file().header(), b.file().header());
            assert_eq!((a.element_scale, a.max_norm_squared, &a.centroid), (b.element_scale, b.max_norm_squared, &b.centroid));
            assert_eq!(report.loss.map(|l| (l.row, l.element)), shot.loss.map(|l| (l.row, l.element)));
        }
    }

    #[test]
    fn the_sharded_steps_write_the_one_command_file_for_integer_storage_and_inner_product() {
        use crate::index::{build_shard, merge_shards, plan_shards};
        let case = case(ROWS);
        for (metric, store) in [(Metric::InnerProduct, None), (Metric::Cosine, Some(ElementType::I8))] {
            let opts = BuildOptions { created_ms: 5, ..partitioned_opts(metric, store, ROWS) };
            let (report, one) = build_on(2, &case, &opts, "one.lmd").unwrap();
            let dir = case.dir.path().join(format!("{}-{store:?}.plan", metric.name()));
            let plan = plan_shards(&case.input, &InputOptions::default(), &opts, &dir, &|_, _, _| {}).unwrap();
            assert_eq!(
                Some(plan.layout),
                match report.strategy {
                    BuildStrategy::Partitioned(layout) => Some(layout),
                    _ => None,
                }
            );
            for part in (0..plan.layout.partitions).rev() {
                build_shard(&dir, part, &|_, _, _| {}).unwrap();
            }
            let out = case.dir.path().join("two.lmd");
            let merged = merge_shards(&FileStorage, &dir, &out, 5, false, false, &|_, _, _| {}).unwrap();
            assert!(std::fs::read(&out).unwrap() == one, "{metric:?} {store:?}");
            assert_eq!(merged.loss.map(|l| (l.row, l.element)), report.loss.map(|l| (l.row, l.element)));
            assert_sound(&out);
        }
    }

    #[test]
    fn bad_input_mid_file_or_a_failed_write_leaves_the_old_index_and_no_folder() {
        let case = case(ROWS);
        let out = case.dir.path().join("x.lmd");
        let opts = partitioned_opts(Metric::Cosine, None, ROWS);
        build_index_from_path(&case.input, &InputOptions::default(), &opts, &out, &|_, _, _| {}).unwrap();
        let before = std::fs::read(&out).unwrap();

        // A zero vector near the end: cosine refuses it, naming the row.
        let mut zero = case.base.clone();
        zero.data[(ROWS - 10) * DIMS..(ROWS - 9) * DIMS].fill(0.0);
        write_fvecs(&case.input, &zero).unwrap();
        let e = build_index_from_path(&case.input, &InputOptions::default(), &opts, &out, &|_, _, _| {}).unwrap_err().to_string();
        assert!(e.starts_with(&format!("row {} (counting from 0; rowid {}) is a zero vector", ROWS - 10, ROWS - 10)), "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), before);
        assert!(!scratch_path(&out).exists());

        // A repeated rowid.
        let mut repeated = case.base.clone();
        repeated.rowids[ROWS - 1] = 5;
        let csv = case.dir.path().join("repeated.csv");
        let rows: String = (0..ROWS).map(|i| format!("{},\"{:?}\"\n", repeated.rowids[i], repeated.vector(i))).collect();
        std::fs::write(&csv, format!("rowid,vector\n{rows}")).unwrap();
        let e = build_index_from_path(&csv, &InputOptions::default(), &opts, &out, &|_, _, _| {}).unwrap_err().to_string();
        assert_eq!(e, "rowid 5 appears more than once; rowids must be unique");
        assert!(!scratch_path(&out).exists());

        // The final file's write fails.
        write_fvecs(&case.input, &case.base).unwrap();
        let failing = Faulty::at(&FileStorage, 3, Fault::Fail);
        let other = BuildOptions { seed: 9, ..opts };
        assert!(build_index_from_path_in(&failing, &case.input, &InputOptions::default(), &other, &out, &|_, _, _| {}).is_err());
        assert_eq!(std::fs::read(&out).unwrap(), before);
        assert!(!scratch_path(&out).exists() && !crate::storage::tmp_path(&out).exists());
    }

    #[test]
    fn a_folder_a_killed_build_left_is_removed_by_the_next_build() {
        let case = case(ROWS);
        let out = case.dir.path().join("x.lmd");
        let left = scratch_path(&out);
        std::fs::create_dir(&left).unwrap();
        std::fs::write(left.join(crate::storage::SCRATCH_LOCK), b"").unwrap();
        std::fs::write(left.join(POINTS), b"half a spill").unwrap();
        let opts = partitioned_opts(Metric::L2, None, ROWS);
        let report = build_index_from_path(&case.input, &InputOptions::default(), &opts, &out, &|_, _, _| {}).unwrap();
        assert!(report.removed_build_folder);
        assert!(!left.exists());
        assert_sound(&out);
    }
}
