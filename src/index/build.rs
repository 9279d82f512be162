//! Building an index file from a set of vectors.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use super::budget::{choose_strategy, BuildStrategy, WRITE_CHUNK};
use super::estimate::estimate_build;
use super::partitioned::{build_partitioned, Input, Phases};
use crate::error::{Error, Result};
use crate::format::header::NO_SLOT;
use crate::format::rowid_map::{NewPages, RowidMap};
use crate::format::{default_code_kind, plan, Header, NodeState, Plan, PlanRequest, VacuumRecord, FORMAT_MAJOR, FORMAT_MINOR};
use crate::graph::{self, BuildParams, PointSet, SlotOrder};
use crate::io::{probe, read_vectors, read_vectors_chunked, InputOptions, InputType, RowidSource, VectorSet};
use crate::quant::CodeKind;
use crate::storage::{check_index_destination, remove_stale_scratch, remove_stale_tmp, write_index_atomically, FileStorage, Storage};
use crate::vector::{lift, norm_squared, CodecScan, ElementCodec, ElementType, Loss, Metric};

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub metric: Metric,
    /// Max degree R; `None` lets the planner choose.
    pub max_degree: Option<usize>,
    /// Block size in bytes; `None` lets the planner choose.
    pub block_size: Option<usize>,
    /// Neighbour code kind; `None` picks the default for the dimension.
    pub codes: Option<CodeKind>,
    /// How blocks store vectors; `None` keeps the input's own type.
    pub store: Option<ElementType>,
    pub build_list: usize,
    pub alpha: f32,
    pub seed: u64,
    /// Fill the edge slots alpha-pruning leaves empty with the nearest pruned candidates
    /// (free on disk: blocks hold R edges anyway). Better recall on real data, for 1.0-1.3x
    /// the build time.
    pub saturate: bool,
    /// Creation time recorded in the header (ms since the Unix epoch); callers that want
    /// reproducible files pass a fixed value.
    pub created_ms: u64,
    /// Replace a file at the output path even when it is not an lmdiskann index.
    pub force: bool,
    /// Wait for the writers of the index being replaced instead of failing.
    pub wait: bool,
    /// The most memory of its own the build may use, in bytes (see [`super::budget`]);
    /// `None`: no limit, always one-shot.
    pub max_memory: Option<u64>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            metric: Metric::L2,
            max_degree: None,
            block_size: None,
            codes: None,
            store: None,
            build_list: 128,
            alpha: 1.2,
            seed: 42,
            saturate: true,
            created_ms: 0,
            force: false,
            wait: false,
            max_memory: None,
        }
    }
}

/// Phases reported to the progress callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Inserting points into the graph: pass `pass` (from 1) of `passes`.
    Graph { pass: u32, passes: u32 },
    /// Partitioned builds: copying the input into the temporary folder, in batches.
    Spill,
    /// Partitioned builds: finding the partitions' centres on a sample (k-means rounds).
    Sample,
    /// Partitioned builds: assigning every vector to its nearest partitions.
    Partition,
    /// Partitioned builds: the graph of partition `part` (from 1) of `parts`.
    PartitionGraph { part: u32, parts: u32 },
    /// Partitioned builds: merging the partitions' graphs, re-pruning each node's edges.
    Merge,
    /// Encoding and writing node blocks.
    Write,
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildReport {
    pub vectors: u64,
    pub dims: usize,
    pub block_size: usize,
    pub max_degree: usize,
    pub file_bytes: u64,
    pub element_type: ElementType,
    pub code_kind: CodeKind,
    /// The largest change storing made to a value, when storing was lossy.
    pub loss: Option<Loss>,
    /// Nodes the graph's passes left unreachable, linked in at the end.
    pub reconnected: u64,
    /// What each graph's distances were computed on (see [`crate::graph::Measure`]): the
    /// one-shot build's, or each partition's in order (each chooses its own; none when
    /// other processes built them).
    pub graph_measures: Vec<crate::graph::Measure>,
    /// A temporary file an interrupted command left beside the output was removed.
    pub removed_tmp: bool,
    /// A temporary folder an interrupted partitioned build left beside the output was removed.
    pub removed_build_folder: bool,
    /// How the build ran: in one piece, or in partitions.
    pub strategy: BuildStrategy,
    /// Seconds spent in each phase, in order ("read", "graph", "write"; partitioned:
    /// "read", "sample", "partition", "partition graphs", "merge", "write").
    pub phase_seconds: Vec<(&'static str, f64)>,
    /// Bytes written to temporary files beside the output (partitioned builds).
    pub temp_bytes: u64,
    /// The element type the input's values had.
    pub source: InputType,
    /// Where the rowids came from.
    pub rowids_from: RowidSource,
}

impl BuildOptions {
    /// Checks what can be checked before the input's dimension is known, so a bad flag is
    /// refused before a large input is read.
    pub fn validate(&self) -> Result<()> {
        if self.build_list == 0 {
            return Err(Error::InvalidParameter("--build-list must be at least 1".into()));
        }
        if !(self.alpha.is_finite() && self.alpha >= 1.0) {
            return Err(Error::InvalidParameter(format!("--alpha {} must be a number >= 1.0", self.alpha)));
        }
        self.plan(1, self.store.unwrap_or(ElementType::F32)).map(|_| ())
    }

    /// The code kind a build of `dims`-dim vectors uses.
    pub fn code_kind(&self, dims: usize) -> CodeKind {
        self.codes.unwrap_or_else(|| default_code_kind(dims))
    }

    /// The stored type for input values of type `source`.
    pub fn element_type(&self, source: InputType) -> ElementType {
        self.store.unwrap_or_else(|| default_element_type(source))
    }

    /// The layout a build of `dims`-dim vectors stored as `element_type` would use.
    pub fn plan(&self, dims: usize, element_type: ElementType) -> Result<Plan> {
        plan(&self.plan_request(dims, element_type))
    }

    /// The graph build's parameters under `plan`.
    pub(super) fn build_params(&self, plan: &Plan) -> BuildParams {
        BuildParams {
            max_degree: plan.max_degree,
            build_list: self.build_list.max(plan.max_degree),
            alpha: self.alpha,
            seed: self.seed,
            saturate: self.saturate,
            sketch: true,
        }
    }

    /// What these options ask the planner for, for `dims`-dim vectors stored as `element_type`.
    pub fn plan_request(&self, dims: usize, element_type: ElementType) -> PlanRequest {
        PlanRequest { dims, element_type, code_kind: self.code_kind(dims), max_degree: self.max_degree, block_size: self.block_size }
    }
}

/// The stored type that keeps values of type `source` (f64 has none: f32 is the nearest).
pub fn default_element_type(source: InputType) -> ElementType {
    match source {
        InputType::F64 | InputType::F32 => ElementType::F32,
        InputType::F16 => ElementType::F16,
        InputType::I8 => ElementType::I8,
        InputType::U8 => ElementType::U8,
    }
}

/// Builds an index of `set` and writes it atomically to `out`. Runs on the current rayon
/// pool; the file is byte-identical for the same input and options on any pool size.
/// `out` may name nothing or an index (any file with `opts.force`); an index there is
/// replaced as its writers change it, under its exclusive lock (waited for with
/// `opts.wait`).
pub fn build_index(set: VectorSet, opts: &BuildOptions, out: &Path, progress: &(dyn Fn(Stage, u64, u64) + Sync)) -> Result<BuildReport> {
    build_index_in(&FileStorage, set, opts, out, progress)
}

/// Builds an index of the vectors in `input` (any format [`crate::io::read_vectors`]
/// reads) and writes it atomically to `out`, as [`build_index`] does, within
/// `opts.max_memory` of the process's own memory: in one piece when the vectors and the
/// graph fit (the input is then read whole), else in partitions (the input is streamed
/// into a temporary folder beside `out`, see [`super::partitioned`]). Same input and
/// options: the same file on any pool size, whichever way it is built.
pub fn build_index_from_path(
    input: &Path,
    input_opts: &InputOptions,
    opts: &BuildOptions,
    out: &Path,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<BuildReport> {
    build_index_from_path_in(&FileStorage, input, input_opts, opts, out, progress)
}

/// [`build_index_from_path`] into `storage` (the temporary folder is on the file system).
pub fn build_index_from_path_in(
    storage: &dyn Storage,
    input: &Path,
    input_opts: &InputOptions,
    opts: &BuildOptions,
    out: &Path,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<BuildReport> {
    opts.validate()?;
    let seen = probe(input, input_opts)?;
    let element_type = opts.element_type(seen.source);
    let request = opts.plan_request(seen.dims, element_type);
    let plan = plan(&request)?;
    let strategy = match opts.max_memory {
        None => None,
        Some(budget) => {
            let rows = if seen.rows_exact { seen.rows } else { count_rows(input, input_opts)? };
            Some((choose_strategy(opts, &request, &plan, rows, budget)?, rows))
        }
    };
    match strategy {
        Some((BuildStrategy::Partitioned(layout), rows)) => {
            let input = Input { path: input, opts: input_opts, rows, dims: seen.dims, source: seen.source };
            build_partitioned(storage, &input, opts, &plan, element_type, layout, out, progress)
        }
        _ => {
            let started = Instant::now();
            let set = read_vectors(input, input_opts)?;
            let read = started.elapsed().as_secs_f64();
            let mut report = build_index_in(storage, set, opts, out, progress)?;
            report.phase_seconds.insert(0, ("read", read));
            Ok(report)
        }
    }
}

/// The rows of `input`, counted by reading it (for formats whose metadata does not say).
pub(super) fn count_rows(input: &Path, input_opts: &InputOptions) -> Result<u64> {
    Ok(read_vectors_chunked(input, input_opts, 1 << 16, &mut |_| ControlFlow::Continue(()))?.rows)
}

/// [`build_index`] into `storage`.
pub fn build_index_in(
    storage: &dyn Storage,
    mut set: VectorSet,
    opts: &BuildOptions,
    out: &Path,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<BuildReport> {
    let n = set.len();
    let dims = set.dims;
    if n == 0 {
        return Err(Error::InvalidData("no vectors to index".into()));
    }
    if n as u64 >= u32::MAX as u64 {
        return Err(Error::InvalidData(format!("{n} vectors exceed the {} an index holds", u32::MAX - 1)));
    }
    opts.validate()?;
    let element_type = opts.element_type(set.source);
    let plan = opts.plan(dims, element_type)?;
    check_unique_rowids(&set.rowids)?;
    check_index_destination(storage, out, opts.force, opts.wait)?;
    let removed_tmp = remove_stale_tmp(storage, out)?;
    let removed_build_folder = remove_stale_scratch(out)?;
    let (codec, stored_ints, loss) = store_vectors(&mut set, element_type, opts.metric, None, 0)?;

    let params = opts.build_params(&plan);
    let mut phases = Phases::start();
    let graph_progress = |pass, passes, done, total| progress(Stage::Graph { pass, passes }, done, total);
    let mut max_norm_squared = 0.0;
    let graph = match opts.metric {
        // Maximum inner product search reduces to l2 search once every vector gets an
        // extra coordinate sqrt(M^2 - |x|^2) (all then have norm M): build in that space.
        Metric::InnerProduct => {
            max_norm_squared = set.data.par_chunks(dims).map(norm_squared).reduce(|| 0.0, f32::max);
            let augmented = augment_for_inner_product(&set, max_norm_squared);
            graph::build(&PointSet { dims: dims + 1, data: &augmented }, &params, &graph_progress)
        }
        Metric::L2 | Metric::Cosine => graph::build(&PointSet { dims, data: &set.data }, &params, &graph_progress),
    };

    phases.lap("graph");
    let centroid = centroid(&set);
    let code_kind = opts.code_kind(dims);
    let codes = code_kind.space(opts.metric, centroid.clone(), opts.seed);
    let code_len = codes.code_len();
    let mut all_codes = vec![0u8; n * code_len];
    all_codes.par_chunks_mut(code_len).enumerate().for_each(|(i, c)| codes.encode(set.vector(i), c));

    let mut map: Vec<(u64, u32)> = set.rowids.iter().enumerate().map(|(slot, &r)| (r, slot as u32)).collect();
    map.par_sort_unstable();
    let nodes = InMemory { set: &set, stored: stored_ints.as_deref(), graph: &graph, codes: &all_codes, code_len };
    let new =
        NewIndex { opts, plan: &plan, element_type, codec, build_list: params.build_list, entry: graph.entry, centroid, max_norm_squared };
    let written = write_new_index(storage, out, &new, map, &nodes, progress)?;
    phases.lap("write");
    let request = opts.plan_request(dims, element_type);
    Ok(BuildReport {
        loss,
        reconnected: graph.reconnected,
        graph_measures: vec![graph.measure],
        removed_tmp,
        removed_build_folder,
        strategy: BuildStrategy::OneShot { peak_bytes: estimate_build(opts, &request, &plan, n as u64, 1).build_peak_bytes },
        phase_seconds: phases.done,
        source: set.source,
        rowids_from: set.rowids_from,
        ..written
    })
}

/// What a new index's header records beyond its nodes.
pub(super) struct NewIndex<'a> {
    pub opts: &'a BuildOptions,
    pub plan: &'a Plan,
    pub element_type: ElementType,
    pub codec: ElementCodec,
    pub build_list: usize,
    pub entry: u32,
    /// Mean of the stored vectors (prepared), which the codes are relative to.
    pub centroid: Vec<f32>,
    pub max_norm_squared: f32,
}

/// The nodes of a new index, slot by slot, wherever they are kept.
pub(super) trait Nodes: Sync {
    fn len(&self) -> usize;
    fn rowid(&self, slot: usize) -> u64;
    /// The vector of `slot` as the graph saw it (prepared, stored and read back), `dims`
    /// wide; `buf` is room to decode it into.
    fn vector<'a>(&'a self, slot: usize, buf: &'a mut Vec<f32>) -> &'a [f32];
    /// The stored bytes of `slot`'s vector, for integer types (which cannot be re-encoded
    /// from a normalised vector).
    fn stored(&self, slot: usize) -> Option<&[u8]>;
    /// The out-edges of `slot`.
    fn edges(&self, slot: usize, out: &mut Vec<u32>);
    /// The neighbour code of node `id`.
    fn code(&self, id: u32) -> &[u8];
    /// The writer reads the vectors of `slots` next: a store on disk starts reading them
    /// (the order they are written in reads them all over the store).
    fn will_read(&self, _slots: &[u32]) {}
}

/// Writes a new index of `nodes` atomically to `out`: the header, every node's block
/// hottest first (see [`super::hot`]), then the rowid map built from
/// `map` (rowid, slot pairs sorted by rowid, slots as `nodes` numbers them). Returns what
/// the file holds; the fields about how it was built are left for the caller (none lost,
/// nothing removed, one-shot, no phases).
pub(super) fn write_new_index(
    storage: &dyn Storage,
    out: &Path,
    new: &NewIndex,
    map: Vec<(u64, u32)>,
    nodes: &dyn Nodes,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<BuildReport> {
    let (opts, plan) = (new.opts, new.plan);
    let n = nodes.len();
    let dims = new.centroid.len();
    let bs = plan.block_size;
    let mut pages = NewPages { first: n as u64, block_size: bs, blocks: Vec::new() };
    let rowid_map = RowidMap::bulk_load(&mut pages, &map, bs).map_err(Error::InvalidData)?;
    // The order is computed once the pairs are gone, in the memory they held, and the
    // map's leaves renumbered after: a build's memory budget counts the pairs only.
    drop(map);
    let space = opts.code_kind(dims).space(opts.metric, new.centroid.clone(), opts.seed);
    let slots = super::hot::hottest_first(nodes, &space, opts.metric, new.entry);
    pages.renumber_leaves(&slots.rank).map_err(Error::InvalidData)?;
    let order = &slots.order;
    let reordered = &Reordered { nodes, slots: &slots };
    let header = Header {
        version_major: FORMAT_MAJOR,
        version_minor: FORMAT_MINOR,
        block_size: bs as u32,
        dims: dims as u32,
        element_type: new.element_type,
        element_scale: new.codec.scale,
        metric: opts.metric,
        code_kind: opts.code_kind(dims),
        max_degree: plan.max_degree as u32,
        build_list: new.build_list as u32,
        alpha: opts.alpha,
        default_search_list: 0,
        seed: opts.seed,
        slots: n as u64 + rowid_map.pages,
        live: n as u64,
        tombstoned: 0,
        // Every search reads the entry point: it is written first.
        entry_slot: 0,
        free_head: NO_SLOT,
        free_slots: 0,
        map_root: rowid_map.root,
        map_entries: rowid_map.entries,
        map_height: rowid_map.height,
        map_pages: rowid_map.pages,
        generation: 1,
        created_ms: opts.created_ms,
        modified_ms: opts.created_ms,
        max_norm_squared: new.max_norm_squared,
        last_vacuum: VacuumRecord::default(),
        centroid: new.centroid.clone(),
    };

    let layout = plan.layout;
    let codec = new.codec;
    write_index_atomically(storage, out, opts.wait, |w| {
        let write = |w: &mut dyn Write, bytes: &[u8]| w.write_all(bytes).map_err(|e| Error::io(out, "cannot write", e));
        let mut block = vec![0u8; bs];
        header.encode(&mut block);
        write(w, &block)?;
        // Blocks are encoded in parallel a chunk at a time while the chunk before is
        // written: the writes (page cache copies, a few ms a chunk) no longer wait for the
        // encoding, nor the encoding for them.
        let encode = |chunk: &mut [u8], start: usize| {
            chunk.par_chunks_mut(bs).enumerate().for_each_init(
                || (vec![0u8; layout.vector_len], Vec::new(), Vec::new(), Vec::new()),
                |(vector, ids, edge_codes, buf), (i, block)| {
                    let slot = start + i;
                    match reordered.stored(slot) {
                        Some(bytes) => vector.copy_from_slice(bytes),
                        None => codec.encode(reordered.vector(slot, buf), vector),
                    }
                    reordered.edges(slot, ids);
                    edge_codes.clear();
                    for &nb in ids.iter() {
                        edge_codes.extend_from_slice(reordered.code(nb));
                    }
                    layout.encode(block, reordered.rowid(slot), NodeState::Live, vector, ids, edge_codes);
                },
            )
        };
        let (mut encoded, mut encoding) = (vec![0u8; WRITE_CHUNK * bs], vec![0u8; WRITE_CHUNK * bs]);
        let mut ready = 0;
        nodes.will_read(&order[..WRITE_CHUNK.min(n)]);
        for start in (0..n).step_by(WRITE_CHUNK) {
            let len = (start + WRITE_CHUNK).min(n) - start;
            // The next chunk's vectors are read while this one is encoded.
            nodes.will_read(&order[(start + len).min(n)..(start + len + WRITE_CHUNK).min(n)]);
            let (written, ()) = rayon::join(|| write(w, &encoded[..ready]), || encode(&mut encoding[..len * bs], start));
            written?;
            progress(Stage::Write, start as u64, n as u64);
            std::mem::swap(&mut encoded, &mut encoding);
            ready = len * bs;
        }
        write(w, &encoded[..ready])?;
        progress(Stage::Write, n as u64, n as u64);
        pages.blocks.iter().try_for_each(|page| write(w, page))
    })?;
    Ok(BuildReport {
        vectors: n as u64,
        dims,
        block_size: bs,
        max_degree: plan.max_degree,
        file_bytes: header.file_len(),
        element_type: new.element_type,
        code_kind: header.code_kind,
        loss: None,
        reconnected: 0,
        graph_measures: Vec::new(),
        removed_tmp: false,
        removed_build_folder: false,
        strategy: BuildStrategy::OneShot { peak_bytes: 0 },
        phase_seconds: Vec::new(),
        temp_bytes: 0,
        source: InputType::default(),
        rowids_from: RowidSource::default(),
    })
}

/// `nodes` renumbered by `slots`: slot `s` here is `slots.order[s]` there.
struct Reordered<'a> {
    nodes: &'a dyn Nodes,
    slots: &'a SlotOrder,
}

impl Nodes for Reordered<'_> {
    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn rowid(&self, slot: usize) -> u64 {
        self.nodes.rowid(self.slots.order[slot] as usize)
    }

    fn vector<'a>(&'a self, slot: usize, buf: &'a mut Vec<f32>) -> &'a [f32] {
        self.nodes.vector(self.slots.order[slot] as usize, buf)
    }

    fn stored(&self, slot: usize) -> Option<&[u8]> {
        self.nodes.stored(self.slots.order[slot] as usize)
    }

    fn edges(&self, slot: usize, out: &mut Vec<u32>) {
        self.nodes.edges(self.slots.order[slot] as usize, out);
        out.iter_mut().for_each(|id| *id = self.slots.rank[*id as usize]);
    }

    fn code(&self, id: u32) -> &[u8] {
        self.nodes.code(self.slots.order[id as usize])
    }
}

/// The nodes of a one-shot build: everything in memory.
struct InMemory<'a> {
    set: &'a VectorSet,
    stored: Option<&'a [u8]>,
    graph: &'a graph::Graph,
    codes: &'a [u8],
    code_len: usize,
}

impl Nodes for InMemory<'_> {
    fn len(&self) -> usize {
        self.set.len()
    }

    fn rowid(&self, slot: usize) -> u64 {
        self.set.rowids[slot]
    }

    fn vector<'a>(&'a self, slot: usize, _: &'a mut Vec<f32>) -> &'a [f32] {
        self.set.vector(slot)
    }

    fn stored(&self, slot: usize) -> Option<&[u8]> {
        let dims = self.set.dims;
        self.stored.map(|bytes| &bytes[slot * dims..(slot + 1) * dims])
    }

    fn edges(&self, slot: usize, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(self.graph.neighbours(slot as u32));
    }

    fn code(&self, id: u32) -> &[u8] {
        &self.codes[id as usize * self.code_len..(id as usize + 1) * self.code_len]
    }
}

pub(super) fn check_unique_rowids(rowids: &[u64]) -> Result<()> {
    let mut sorted = rowids.to_vec();
    sorted.par_sort_unstable();
    check_sorted_unique(sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]))
}

/// The error for a rowid found twice, if one was.
pub(super) fn check_sorted_unique(repeated: Option<u64>) -> Result<()> {
    match repeated {
        Some(rowid) => Err(Error::InvalidData(format!("rowid {rowid} appears more than once; rowids must be unique"))),
        None => Ok(()),
    }
}

/// Turns `set` into the vectors the file will hold, as the graph and the codes must see
/// them: prepared for the metric, then stored and read back (so a lossy type's rounding
/// is in the graph, not only in the file). Integer types keep their stored bytes, because
/// under cosine their vectors are normalised after decoding and could not be re-encoded.
/// `fixed` is the codec of an existing index (an insert), whose scale cannot change.
pub(super) fn store_vectors(
    set: &mut VectorSet,
    element: ElementType,
    metric: Metric,
    fixed: Option<ElementCodec>,
    first_row: u64,
) -> Result<(ElementCodec, Option<Vec<u8>>, Option<Loss>)> {
    let dims = set.dims;
    // Float types store the prepared vector; integer types the input's values.
    if !element.is_integer() {
        prepare_vectors(set, metric, first_row)?;
    }
    let mut scan = CodecScan::new(element);
    scan.scan(&set.data, dims, &set.rowids, first_row)?;
    let codec = match fixed {
        Some(fixed) => {
            check_fits(set, fixed, first_row)?;
            fixed
        }
        None => scan.codec(),
    };
    let mut stored = element.is_integer().then(|| vec![0u8; set.data.len()]);
    let loss = codec.round_trip(&mut set.data, dims, stored.as_deref_mut()).map(|l| Loss { row: l.row + first_row as usize, ..l });
    if element.is_integer() {
        prepare_vectors(set, metric, first_row)?;
    }
    Ok((codec, stored, loss))
}

/// Refuses values beyond what an integer codec with a fixed scale can hold.
fn check_fits(set: &VectorSet, codec: ElementCodec, first_row: u64) -> Result<()> {
    let Some((lo, hi)) = codec.element.int_range() else { return Ok(()) };
    let (lo, hi) = ((lo - 0.5) * codec.scale, (hi + 0.5) * codec.scale);
    match set.data.iter().position(|x| !(lo..hi).contains(x)) {
        Some(i) => {
            let row = i / set.dims;
            Err(Error::InvalidData(format!(
                "row {} (rowid {}) element {} (counting from 0) is {}, outside the {lo}..{hi} this index's {} storage holds; rebuild the index with all rows",
                first_row + row as u64,
                set.rowids[row],
                i % set.dims,
                set.data[i],
                codec.element.name()
            )))
        }
        None => Ok(()),
    }
}

fn prepare_vectors(set: &mut VectorSet, metric: Metric, first_row: u64) -> Result<()> {
    match metric.prepare_rows(&mut set.data, set.dims) {
        Some(i) => Err(Error::zero_vector(first_row + i as u64, set.rowids[i])),
        None => Ok(()),
    }
}

fn augment_for_inner_product(set: &VectorSet, max_norm_squared: f32) -> Vec<f32> {
    let dims = set.dims;
    let mut out = vec![0.0f32; set.len() * (dims + 1)];
    out.par_chunks_mut(dims + 1).zip(set.data.par_chunks(dims)).for_each(|(o, v)| {
        o[..dims].copy_from_slice(v);
        o[dims] = lift(max_norm_squared, v);
    });
    out
}

/// Mean of the (prepared) vectors, summed in f64 in row order for a fixed result.
fn centroid(set: &VectorSet) -> Vec<f32> {
    let mut sum = vec![0.0f64; set.dims];
    for v in set.data.chunks_exact(set.dims) {
        sum.iter_mut().zip(v).for_each(|(s, x)| *s += *x as f64);
    }
    sum.iter().map(|s| (s / set.len() as f64) as f32).collect()
}
