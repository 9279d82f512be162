//! Building an index file from a set of vectors.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::format::header::NO_SLOT;
use crate::format::rowid_map::{NewPages, RowidMap};
use crate::format::{plan, Header, NodeState, Plan, PlanRequest, VacuumRecord, FORMAT_MAJOR, FORMAT_MINOR};
use crate::graph::{self, BuildParams, PointSet};
use crate::io::{InputType, VectorSet};
use crate::quant::CodeKind;
use crate::storage::{check_index_destination, remove_stale_tmp, write_index_atomically, FileStorage, Storage};
use crate::vector::{lift, norm_squared, ElementCodec, ElementType, Loss, Metric};

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
    /// (free on disk: blocks hold R edges anyway). Better recall on real data; the build
    /// takes about twice as long.
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
    /// A temporary file an interrupted command left beside the output was removed.
    pub removed_tmp: bool,
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
        self.codes.unwrap_or_else(|| CodeKind::default_for(dims))
    }

    /// The stored type for input values of type `source`.
    pub fn element_type(&self, source: InputType) -> ElementType {
        self.store.unwrap_or_else(|| default_element_type(source))
    }

    /// The layout a build of `dims`-dim vectors stored as `element_type` would use.
    pub fn plan(&self, dims: usize, element_type: ElementType) -> Result<Plan> {
        plan(&self.plan_request(dims, element_type))
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
    let (codec, stored_ints, loss) = store_vectors(&mut set, element_type, opts.metric, None)?;

    let params = BuildParams {
        max_degree: plan.max_degree,
        build_list: opts.build_list.max(plan.max_degree),
        alpha: opts.alpha,
        seed: opts.seed,
        saturate: opts.saturate,
    };
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

    let centroid = centroid(&set);
    let code_kind = opts.code_kind(dims);
    let codes = code_kind.space(opts.metric, centroid.clone(), opts.seed);
    let code_len = codes.code_len();
    let mut all_codes = vec![0u8; n * code_len];
    all_codes.par_chunks_mut(code_len).enumerate().for_each(|(i, c)| codes.encode(set.vector(i), c));

    let bs = plan.block_size;
    let mut map: Vec<(u64, u32)> = set.rowids.iter().enumerate().map(|(slot, &r)| (r, slot as u32)).collect();
    map.par_sort_unstable();
    let mut pages = NewPages { first: n as u64, block_size: bs, blocks: Vec::new() };
    let rowid_map = RowidMap::bulk_load(&mut pages, &map, bs).map_err(Error::InvalidData)?;
    drop(map);
    let header = Header {
        version_major: FORMAT_MAJOR,
        version_minor: FORMAT_MINOR,
        block_size: bs as u32,
        dims: dims as u32,
        element_type,
        element_scale: codec.scale,
        metric: opts.metric,
        code_kind,
        max_degree: plan.max_degree as u32,
        build_list: params.build_list as u32,
        alpha: opts.alpha,
        default_search_list: 0,
        seed: opts.seed,
        slots: n as u64 + rowid_map.pages,
        live: n as u64,
        tombstoned: 0,
        entry_slot: graph.entry as u64,
        free_head: NO_SLOT,
        free_slots: 0,
        map_root: rowid_map.root,
        map_entries: rowid_map.entries,
        map_height: rowid_map.height,
        map_pages: rowid_map.pages,
        generation: 1,
        created_ms: opts.created_ms,
        modified_ms: opts.created_ms,
        max_norm_squared,
        last_vacuum: VacuumRecord::default(),
        centroid,
    };

    let layout = plan.layout;
    write_index_atomically(storage, out, opts.wait, |w| {
        let write = |w: &mut dyn Write, bytes: &[u8]| w.write_all(bytes).map_err(|e| Error::io(out, "cannot write", e));
        let mut block = vec![0u8; bs];
        header.encode(&mut block);
        write(w, &block)?;
        // Encode blocks in parallel chunks, write them in order.
        const CHUNK: usize = 1024;
        let mut chunk = vec![0u8; CHUNK * bs];
        for start in (0..n).step_by(CHUNK) {
            let end = (start + CHUNK).min(n);
            chunk[..(end - start) * bs].par_chunks_mut(bs).enumerate().for_each_init(
                || (vec![0u8; layout.vector_len], Vec::new()),
                |(vector, edge_codes), (i, block)| {
                    let slot = start + i;
                    match &stored_ints {
                        Some(bytes) => vector.copy_from_slice(&bytes[slot * dims..(slot + 1) * dims]),
                        None => codec.encode(set.vector(slot), vector),
                    }
                    let ids = &graph.neighbours[slot];
                    edge_codes.clear();
                    for &nb in ids {
                        edge_codes.extend_from_slice(&all_codes[nb as usize * code_len..(nb as usize + 1) * code_len]);
                    }
                    layout.encode(block, set.rowids[slot], NodeState::Live, vector, ids, edge_codes);
                },
            );
            write(w, &chunk[..(end - start) * bs])?;
            progress(Stage::Write, end as u64, n as u64);
        }
        pages.blocks.iter().try_for_each(|page| write(w, page))
    })?;
    Ok(BuildReport {
        vectors: n as u64,
        dims,
        block_size: bs,
        max_degree: plan.max_degree,
        file_bytes: header.file_len(),
        element_type,
        code_kind,
        loss,
        reconnected: graph.reconnected,
        removed_tmp,
    })
}

pub(super) fn check_unique_rowids(rowids: &[u64]) -> Result<()> {
    let mut sorted = rowids.to_vec();
    sorted.par_sort_unstable();
    match sorted.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(Error::InvalidData(format!("rowid {} appears more than once; rowids must be unique", w[0]))),
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
) -> Result<(ElementCodec, Option<Vec<u8>>, Option<Loss>)> {
    let dims = set.dims;
    // Float types store the prepared vector; integer types the input's values.
    if !element.is_integer() {
        prepare_vectors(set, metric)?;
    }
    let wanted = ElementCodec::for_data(element, &set.data, dims, &set.rowids)?;
    let codec = match fixed {
        Some(fixed) => {
            check_fits(set, fixed)?;
            fixed
        }
        None => wanted,
    };
    let mut stored = element.is_integer().then(|| vec![0u8; set.data.len()]);
    let loss = codec.round_trip(&mut set.data, dims, stored.as_deref_mut());
    if element.is_integer() {
        prepare_vectors(set, metric)?;
    }
    Ok((codec, stored, loss))
}

/// Refuses values beyond what an integer codec with a fixed scale can hold.
fn check_fits(set: &VectorSet, codec: ElementCodec) -> Result<()> {
    let Some((lo, hi)) = codec.element.int_range() else { return Ok(()) };
    let (lo, hi) = ((lo - 0.5) * codec.scale, (hi + 0.5) * codec.scale);
    match set.data.iter().position(|x| !(lo..hi).contains(x)) {
        Some(i) => {
            let row = i / set.dims;
            Err(Error::InvalidData(format!(
                "row {row} (rowid {}) element {} (counting from 0) is {}, outside the {lo}..{hi} this index's {} storage holds; rebuild the index with all rows",
                set.rowids[row],
                i % set.dims,
                set.data[i],
                codec.element.name()
            )))
        }
        None => Ok(()),
    }
}

fn prepare_vectors(set: &mut VectorSet, metric: Metric) -> Result<()> {
    match metric.prepare_rows(&mut set.data, set.dims) {
        Some(i) => Err(Error::zero_vector(i as u64, set.rowids[i])),
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
