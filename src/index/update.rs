//! Changing an index in place: insert, delete, vacuum. Each command runs in one
//! `IndexWriter` (exclusive lock, changes held in memory) and commits once under the
//! rollback journal, so it lands whole or not at all. `vacuum --compact` instead writes a
//! dense copy and renames it over the index.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::build::{check_unique_rowids, store_vectors};
use crate::error::{Error, Result};
use crate::format::rowid_map::{NewPages, RowidMap};
use crate::format::{Header, NodeLayout, NodeState, VacuumRecord, FORMAT_MAJOR, FORMAT_MINOR, NO_SLOT};
use crate::graph::{self, Beam, Edges, NewNodes, Reconnect, SearchStats, SlotOrder, UpdateSpace};
use crate::io::{RowidSource, VectorSet};
use crate::quant::CodeSpace;
use crate::storage::{write_atomically, Blocks, IndexWriter, Storage};
use crate::vector::{norm_squared, Loss};

/// Knobs shared by every changing command.
#[derive(Clone, Debug)]
pub struct UpdateOptions {
    /// Wait for other processes to let go of the index instead of failing.
    pub wait: bool,
    /// After an insert or delete, vacuum when tombstones exceed this percentage of the
    /// nodes; `None` never does.
    pub auto_vacuum: Option<f64>,
    /// Time recorded as the modification (ms since the Unix epoch).
    pub now_ms: u64,
}

/// The auto-vacuum threshold when none is given, in percent of nodes tombstoned (see the
/// README for the measurement behind it).
pub const DEFAULT_AUTO_VACUUM: f64 = 20.0;

/// What a command did.
#[derive(Clone, Debug, Default)]
pub struct UpdateReport {
    pub inserted: u64,
    /// Rows an upsert replaced (their old nodes are tombstones now).
    pub replaced: u64,
    pub deleted: u64,
    /// Rowids to delete that were not in the index.
    pub missing: u64,
    pub vacuum: Option<VacuumRecord>,
    /// File size before and after, when the command compacted.
    pub compacted: Option<(u64, u64)>,
    /// Opening rolled back a change an earlier writer did not finish.
    pub rolled_back: bool,
    /// Opening removed a temporary file an interrupted command left.
    pub removed_tmp: bool,
    /// The largest change storing made to an inserted value, when it was lossy.
    pub loss: Option<Loss>,
    /// Live nodes the change would have left unreachable, linked in again.
    pub reconnected: u64,
    pub header: Option<Header>,
}

fn open<'s>(storage: &'s dyn Storage, path: &Path, opts: &UpdateOptions) -> Result<IndexWriter<'s>> {
    let writer = IndexWriter::open(storage, path, opts.wait)?;
    writer.require_current_format()?;
    Ok(writer)
}

fn codes_of(header: &Header) -> CodeSpace {
    header.code_kind.space(header.metric, header.centroid.clone(), header.seed)
}

/// Adds `set`'s rows. A rowid already live is an error unless `upsert`, which replaces
/// that row. An empty set changes nothing. `progress(done, total)` follows the rows.
pub fn insert(
    storage: &dyn Storage,
    path: &Path,
    mut set: VectorSet,
    upsert: bool,
    opts: &UpdateOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<UpdateReport> {
    let mut writer = open(storage, path, opts)?;
    let header = writer.header().clone();
    if set.is_empty() {
        return Ok(unchanged(&writer));
    }
    if set.dims != header.dims as usize {
        return Err(Error::InvalidData(format!("the rows have {} dims but the index has {}", set.dims, header.dims)));
    }
    check_unique_rowids(&set.rowids)?;
    let (codec, stored_ints, loss) = store_vectors(&mut set, header.element_type, header.metric, Some(header.element_codec()), 0)?;
    let mut report = UpdateReport { loss, ..opened(&writer) };

    // Changes stay in memory until the commit, so a refusal part-way changes nothing.
    let mut map = header.rowid_map();
    // The rows an upsert replaces stay live while the new ones are linked in, so that
    // their searches route through them and find live neighbours; they become tombstones
    // after. (Tombstoned first, a whole-table upsert left every new row's search in a
    // graph of tombstones that leads to no new row: islands of one batch each, recall@10
    // 0.11.)
    let mut replaced = Vec::new();
    for &rowid in &set.rowids {
        if let Some(slot) = map.remove(&mut writer, rowid).map_err(|e| writer.corrupted(e))? {
            if !upsert {
                return Err(already_in_the_index(rowid, set.rowids_from));
            }
            replaced.push(slot);
        }
    }

    let layout = writer.layout();
    let codes = codes_of(&header);
    let space = UpdateSpace::new(&header, &codes);
    let dims = set.dims;
    let n = set.len();
    let mut vector_bytes = vec![0u8; layout.vector_len];
    let mut start = 0;
    while start < n {
        let h = writer.header();
        let nodes = h.live + h.tombstoned;
        // Batches grow with the graph (prefix doubling from an empty index): each searches
        // the graph as the batch before it left it.
        let size = if nodes == 0 { 1 } else { batch_size(nodes).min(n - start) };
        let rows = start..start + size;
        let mut slots = Vec::with_capacity(size);
        for _ in rows.clone() {
            slots.push(writer.allocate()? as u32);
        }
        let new = NewNodes::new(&space, dims, &set.data[rows.start * dims..rows.end * dims], slots);
        let out = if nodes == 0 { vec![Edges::default()] } else { graph::link_new(&writer, &space, &new)? };
        for ((row, &slot), edges) in rows.clone().zip(&new.slots).zip(&out) {
            match &stored_ints {
                Some(bytes) => vector_bytes.copy_from_slice(&bytes[row * dims..(row + 1) * dims]),
                None => codec.encode(set.vector(row), &mut vector_bytes),
            }
            let mut block = vec![0u8; layout.block_size].into_boxed_slice();
            layout.encode(&mut block, set.rowids[row], NodeState::Live, &vector_bytes, &edges.ids, &edges.codes);
            writer.put(slot as u64, block);
            map.insert(&mut writer, set.rowids[row], slot).map_err(|e| writer.corrupted(e))?;
            writer.header_mut().live += 1;
        }
        if nodes == 0 {
            writer.header_mut().entry_slot = new.slots[0] as u64;
        }
        for (q, edges) in graph::back_edges(&writer, &space, &new, &out)? {
            set_edges(&mut writer, &layout, q, &edges)?;
        }
        writer.header_mut().set_rowid_map(&map);
        start = rows.end;
        progress(start as u64, n as u64);
    }
    for &slot in &replaced {
        tombstone(&mut writer, slot)?;
    }
    report.replaced = replaced.len() as u64;
    report.inserted = n as u64;
    finish(writer, report, opts, &|_, _| {})
}

/// The refusal of a rowid that is live already. `--upsert` is safe advice only when the
/// rowids came from a column: rows numbered by position collide with other rows.
fn already_in_the_index(rowid: u64, from: RowidSource) -> Error {
    Error::InvalidData(match from {
        RowidSource::Column => format!("rowid {rowid} is already in the index; pass --upsert to replace that row"),
        RowidSource::Positions { start, .. } => format!(
            "rowid {rowid} is already in the index: these rows are numbered by their position in the file from {start}, \
             and positions collide with the rows already indexed; pass --start-rowid N with N above the largest rowid \
             in the index (in DuckDB: SELECT max(rowid) + 1 FROM items), or give the rows a rowid column"
        ),
    })
}

/// What opening the index did, the start of every command's report.
fn opened(writer: &IndexWriter) -> UpdateReport {
    UpdateReport { rolled_back: writer.rolled_back(), removed_tmp: writer.removed_tmp(), ..UpdateReport::default() }
}

/// What a command that has nothing to do reports: the index as it is, not written.
fn unchanged(writer: &IndexWriter) -> UpdateReport {
    UpdateReport { header: Some(writer.header().clone()), ..opened(writer) }
}

/// Largest insert batch: big batches search in parallel; small ones see more of each
/// other's edges. 2% of the graph, as the build uses.
fn batch_size(nodes: u64) -> usize {
    ((nodes / 50) as usize).clamp(1, 1024)
}

/// Tombstones `rowids`. Rowids not live in the index are counted, and are an error unless
/// `ignore_missing`. An empty list changes nothing.
pub fn delete(storage: &dyn Storage, path: &Path, rowids: &[u64], ignore_missing: bool, opts: &UpdateOptions) -> Result<UpdateReport> {
    delete_with_progress(storage, path, rowids, ignore_missing, opts, &|_, _| {})
}

/// [`delete`], with `progress(done, total)` following the live nodes that an auto-vacuum
/// in the same commit checks.
pub fn delete_with_progress(
    storage: &dyn Storage,
    path: &Path,
    rowids: &[u64],
    ignore_missing: bool,
    opts: &UpdateOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<UpdateReport> {
    let mut writer = open(storage, path, opts)?;
    if rowids.is_empty() {
        return Ok(unchanged(&writer));
    }
    let mut report = opened(&writer);

    let mut rowids = rowids.to_vec();
    rowids.sort_unstable();
    rowids.dedup();
    let mut map = writer.header().rowid_map();
    let mut first_missing = None;
    for &rowid in &rowids {
        match map.remove(&mut writer, rowid).map_err(|e| writer.corrupted(e))? {
            Some(slot) => {
                tombstone(&mut writer, slot)?;
                report.deleted += 1;
            }
            None => {
                first_missing.get_or_insert(rowid);
                report.missing += 1;
            }
        }
    }
    if let (Some(first), false) = (first_missing, ignore_missing) {
        let (verb, which) = if report.missing == 1 { ("is", "rowid") } else { ("are", "the first is") };
        return Err(Error::InvalidData(format!(
            "{} of the {} to delete {verb} not live in the index (never inserted, or already deleted; {which} {first}): \
             nothing was deleted; pass --ignore-missing to skip those and delete the rest",
            report.missing,
            crate::plural(rowids.len() as u64, "rowid"),
        )));
    }
    writer.header_mut().set_rowid_map(&map);
    finish(writer, report, opts, progress)
}

/// Marks a live node deleted; it still routes searches until a vacuum.
fn tombstone(writer: &mut IndexWriter, slot: u32) -> Result<()> {
    let layout = writer.layout();
    let mut block = writer.block_copy(slot as u64)?;
    if layout.state(&block) != Some(NodeState::Live) {
        return Err(writer.corrupted(format!("the rowid map points at slot {slot}, which is not a live node")));
    }
    layout.set_state(&mut block, NodeState::Tombstoned);
    writer.put(slot as u64, block);
    let h = writer.header_mut();
    h.live -= 1;
    h.tombstoned += 1;
    Ok(())
}

/// Replaces the edges of node `slot`, keeping everything else in its block.
fn set_edges(writer: &mut IndexWriter, layout: &NodeLayout, slot: u32, edges: &Edges) -> Result<()> {
    let old = writer.block_copy(slot as u64)?;
    let state = layout.state(&old).filter(|s| s.is_node()).ok_or_else(|| writer.corrupted(format!("slot {slot} is not a node")))?;
    let mut block = vec![0u8; layout.block_size].into_boxed_slice();
    layout.encode(&mut block, layout.rowid(&old), state, layout.vector_bytes(&old), &edges.ids, &edges.codes);
    writer.put(slot as u64, block);
    Ok(())
}

/// Auto-vacuums if tombstones passed the threshold, then commits.
fn finish(
    mut writer: IndexWriter,
    mut report: UpdateReport,
    opts: &UpdateOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<UpdateReport> {
    let h = writer.header();
    let nodes = h.live + h.tombstoned;
    if let Some(pct) = opts.auto_vacuum {
        if h.tombstoned > 0 && h.tombstoned as f64 * 100.0 > pct * nodes as f64 {
            report.vacuum = Some(consolidate(&mut writer, opts.now_ms, progress)?);
        }
    }
    // A delete alone drops no edge: tombstones still route.
    if report.inserted > 0 || report.vacuum.is_some() {
        report.reconnected = reconnect(&mut writer)?;
    }
    commit(writer, report, opts.now_ms)
}

/// Links in every live node the change left unreachable from the entry point (see
/// [`graph::reconnect`]). Reads every node block once.
fn reconnect(writer: &mut IndexWriter) -> Result<u64> {
    let header = writer.header().clone();
    let codes = codes_of(&header);
    let space = UpdateSpace::new(&header, &codes);
    graph::reconnect(&mut WriterGraph { writer, space: &space })
}

/// The graph of a writer's view, for [`graph::reconnect`]: live nodes must be reachable,
/// through tombstones too (they route until a vacuum frees them).
struct WriterGraph<'w, 's, 'c> {
    writer: &'w mut IndexWriter<'s>,
    space: &'w UpdateSpace<'c>,
}

impl WriterGraph<'_, '_, '_> {
    /// The block of `slot` when it holds a node of a state `wanted` accepts.
    fn node(&self, slot: u32, wanted: impl Fn(NodeState) -> bool) -> Result<Option<&[u8]>> {
        let block = self.writer.block(slot as u64)?;
        Ok(self.writer.layout().state(block).filter(|&s| wanted(s)).map(|_| block))
    }
}

impl Reconnect for WriterGraph<'_, '_, '_> {
    type Error = Error;

    fn slots(&self) -> u32 {
        self.writer.header().slots as u32
    }

    fn entry(&self) -> Option<u32> {
        let h = self.writer.header();
        (h.live > 0 && h.entry_slot != NO_SLOT).then_some(h.entry_slot as u32)
    }

    fn max_degree(&self) -> usize {
        self.space.max_degree
    }

    fn must_reach(&self, slot: u32) -> Result<bool> {
        Ok(self.node(slot, |s| s == NodeState::Live)?.is_some())
    }

    fn out_edges(&self, slot: u32) -> Result<Vec<u32>> {
        let layout = self.writer.layout();
        Ok(match self.node(slot, NodeState::is_node)? {
            Some(block) => (0..layout.degree(block)).map(|i| layout.neighbour(block, i)).collect(),
            None => Vec::new(),
        })
    }

    fn nearest_sources(&self, slot: u32) -> Result<Vec<u32>> {
        let block = self.writer.block(slot as u64)?;
        let vector = self.space.vector(&*self.writer, slot, block)?;
        let mut found = Vec::new();
        let beam = Beam { list: self.space.list, width: 1 };
        graph::beam_search(&*self.writer, self.space.codes, self.space.metric, &vector, beam, &mut SearchStats::default(), &mut |node| {
            // A tombstone's edges go when a vacuum frees it: only live nodes hold an edge for good.
            if node.state == NodeState::Live {
                found.push((node.distance, node.slot));
            }
        })?;
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(found.into_iter().map(|(_, s)| s).collect())
    }

    fn link(&mut self, from: u32, replace: Option<usize>, to: u32) -> Result<()> {
        let layout = self.writer.layout();
        let to_block = self.writer.block(to as u64)?;
        let code = self.space.code(&self.space.vector(&*self.writer, to, to_block)?);
        let mut edges = graph::edges_of(&layout, self.writer.block(from as u64)?);
        edges.place(replace, to, &code);
        set_edges(self.writer, &layout, from, &edges)
    }
}

/// Stamps the modification time and commits; the report carries the header written.
fn commit(mut writer: IndexWriter, mut report: UpdateReport, now_ms: u64) -> Result<UpdateReport> {
    writer.header_mut().modified_ms = now_ms;
    let header = writer.header().clone();
    writer.commit()?;
    report.header = Some(header);
    Ok(report)
}

/// Consolidates in the writer: live nodes route around tombstones, which become free.
fn consolidate(writer: &mut IndexWriter, now_ms: u64, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<VacuumRecord> {
    let started = Instant::now();
    let header = writer.header().clone();
    let layout = writer.layout();
    let codes = codes_of(&header);
    let space = UpdateSpace::new(&header, &codes);
    let plan = graph::consolidate(&*writer, &space, progress)?;
    for (slot, edges) in &plan.updates {
        set_edges(writer, &layout, *slot, edges)?;
    }
    for &slot in &plan.tombstones {
        writer.release(slot as u64);
    }
    let h = writer.header_mut();
    h.tombstoned -= plan.tombstones.len() as u64;
    if let Some(entry) = plan.entry {
        h.entry_slot = entry as u64;
    }
    if h.live == 0 {
        h.entry_slot = NO_SLOT;
    }
    let record = VacuumRecord {
        at_ms: now_ms,
        freed: plan.tombstones.len() as u64,
        repruned: plan.updates.len() as u64,
        took_ms: started.elapsed().as_millis() as u64,
    };
    h.last_vacuum = record;
    Ok(record)
}

/// Frees every tombstone (their slots go to the free list that inserts reuse); with
/// `compact`, rewrites the index densely instead, which shrinks the file and also turns
/// an older-format index into the current format.
pub fn vacuum(storage: &dyn Storage, path: &Path, compact: bool, opts: &UpdateOptions) -> Result<UpdateReport> {
    vacuum_with_progress(storage, path, compact, opts, &|_, _| {})
}

/// [`vacuum`], with `progress(done, total)` following the live nodes it checks.
pub fn vacuum_with_progress(
    storage: &dyn Storage,
    path: &Path,
    compact: bool,
    opts: &UpdateOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<UpdateReport> {
    let mut writer = if compact { IndexWriter::open(storage, path, opts.wait)? } else { open(storage, path, opts)? };
    let mut report = opened(&writer);
    report.vacuum = Some(consolidate(&mut writer, opts.now_ms, progress)?);
    report.reconnected = reconnect(&mut writer)?;
    if !compact {
        return commit(writer, report, opts.now_ms);
    }
    let before = writer.file_len()?;
    let header = write_compact(&writer, path, opts.now_ms)?;
    report.compacted = Some((before, header.file_len()));
    report.header = Some(header);
    drop(writer);
    Ok(report)
}

/// Writes the live nodes of `writer`'s view densely, in the order a build writes them
/// (hottest first, see `hot`), with a fresh rowid map to a temporary file, and renames it
/// over `path`. Returns the new header.
fn write_compact(writer: &IndexWriter, path: &Path, now_ms: u64) -> Result<Header> {
    let old = writer.header();
    let layout = writer.layout();
    let bs = layout.block_size;
    // Every block is checked here once; the passes below read them again unchecked.
    let mut is_live = vec![false; old.slots as usize];
    for slot in 0..old.slots {
        is_live[slot as usize] = layout.state(writer.block(slot)?) == Some(NodeState::Live);
    }
    let live_slots = hottest_live(writer, &is_live)?;
    drop(is_live);
    // New slot of every old slot that holds a live node.
    let mut renumber = vec![u32::MAX; old.slots as usize];
    let mut entries = Vec::with_capacity(live_slots.len());
    for (new, &slot) in live_slots.iter().enumerate() {
        renumber[slot as usize] = new as u32;
        entries.push((layout.rowid(writer.block_again(slot)?), new as u32));
    }
    let live = live_slots.len() as u64;
    entries.sort_unstable();
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(writer.corrupted(format!("rowid {} is live in two slots", w[0].0)));
    }
    let mut pages = NewPages { first: live, block_size: bs, blocks: Vec::new() };
    let map = RowidMap::bulk_load(&mut pages, &entries, bs).map_err(|e| writer.corrupted(e))?;
    drop(entries);
    let codec = old.element_codec();
    let mut max_norm_squared = old.max_norm_squared;
    if old.version_major < 2 && old.metric == crate::vector::Metric::InnerProduct {
        // Format 1 did not record the lift norm: it is the largest the live rows have.
        let mut v = vec![0.0; layout.dims];
        for &slot in &live_slots {
            codec.decode_prepared(old.metric, layout.vector_bytes(writer.block_again(slot)?), &mut v);
            max_norm_squared = max_norm_squared.max(norm_squared(&v));
        }
    }
    let entry = match old.entry_slot {
        NO_SLOT => NO_SLOT,
        e => match renumber.get(e as usize) {
            Some(&n) if n != u32::MAX => n as u64,
            _ => return Err(writer.corrupted(format!("entry slot {e} is not a live node"))),
        },
    };
    let header = Header {
        version_major: FORMAT_MAJOR,
        version_minor: FORMAT_MINOR,
        slots: live + map.pages,
        live,
        tombstoned: 0,
        entry_slot: entry,
        free_head: NO_SLOT,
        free_slots: 0,
        map_root: map.root,
        map_entries: map.entries,
        map_height: map.height,
        map_pages: map.pages,
        generation: old.generation + 1,
        modified_ms: now_ms,
        max_norm_squared,
        ..old.clone()
    };
    write_atomically(writer.storage(), path, |w| {
        use std::io::Write;
        let write = |w: &mut dyn Write, bytes: &[u8]| w.write_all(bytes).map_err(|e| Error::io(path, "cannot write", e));
        let mut block = vec![0u8; bs];
        header.encode(&mut block);
        write(w, &block)?;
        for &slot in &live_slots {
            let src = writer.block_again(slot)?;
            let mut edges = graph::edges_of(&layout, src);
            for id in edges.ids.iter_mut() {
                *id = match renumber.get(*id as usize) {
                    Some(&n) if n != u32::MAX => n,
                    _ => return Err(writer.corrupted(format!("slot {slot} keeps an edge to slot {id}, which is not live"))),
                };
            }
            layout.encode(&mut block, layout.rowid(src), NodeState::Live, layout.vector_bytes(src), &edges.ids, &edges.codes);
            write(w, &block)?;
        }
        pages.blocks.iter().try_for_each(|page| write(w, page))
    })?;
    Ok(header)
}

/// The live slots of `writer`'s view in the order a build writes them: those that searches
/// for a sample of the live rows read most first, breadth first from the entry point among
/// equals; then any live slot no edge reaches (none in a sound index) in slot order.
fn hottest_live(writer: &IndexWriter, is_live: &[bool]) -> Result<Vec<u64>> {
    let (h, layout) = (writer.header(), writer.layout());
    let live = || (0..is_live.len() as u64).filter(|&s| is_live[s as usize]);
    if !is_live.get(h.entry_slot as usize).copied().unwrap_or(false) {
        // No live node, or a damaged entry, which the caller reports.
        return Ok(live().collect());
    }
    let mut failed = None;
    let order = SlotOrder::breadth_first(is_live.len(), h.entry_slot as u32, |slot, out| {
        out.clear();
        match writer.block_again(slot as u64) {
            // Edges to slots that are not live are kept for the writer to report.
            Ok(block) if is_live[slot as usize] => {
                out.extend((0..layout.degree(block)).map(|i| layout.neighbour(block, i)).filter(|&id| (id as usize) < is_live.len()))
            }
            Ok(_) => {}
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let reads: Vec<AtomicU32> = (0..is_live.len()).map(|_| AtomicU32::new(0)).collect();
    let samples: Vec<u64> = live().collect();
    let space = h.code_kind.space(h.metric, h.centroid.clone(), h.seed);
    let beam = Beam { list: super::hot::LIST, width: 1 };
    super::hot::sampled(samples.len()).try_for_each_init(
        || vec![0.0; layout.dims],
        |query, at| {
            let slot = samples[at];
            if !h.element_codec().decode_prepared(h.metric, layout.vector_bytes(writer.block_again(slot)?), query) {
                return Err(writer.corrupted(format!("slot {slot} holds a zero vector, which cosine cannot rank")));
            }
            graph::beam_search(writer, &space, h.metric, query, beam, &mut SearchStats::default(), &mut |node| {
                reads[node.slot as usize].fetch_add(1, Ordering::Relaxed);
            })
        },
    )?;
    let order = super::hot::hottest_first_of(order, &reads);
    Ok(order.order.into_iter().filter(|&s| is_live[s as usize]).map(u64::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::{exact_rowids, recall_at_k};
    use crate::index::{build_index, check_index, search_all, BuildOptions};
    use crate::rng::Rng;
    use crate::storage::{FileStorage, IndexFile};
    use crate::synthetic::Clustered;
    use std::collections::HashSet;

    const OPTS: UpdateOptions = UpdateOptions { wait: false, auto_vacuum: None, now_ms: 7 };

    fn build(dir: &Path, set: VectorSet) -> std::path::PathBuf {
        let path = dir.join("x.lmd");
        let opts = BuildOptions { max_degree: Some(24), ..BuildOptions::default() };
        build_index(set, &opts, &path, &|_, _, _| {}).unwrap();
        path
    }

    fn assert_sound(path: &Path) -> Header {
        let file = IndexFile::open(path).unwrap();
        let report = check_index(&file);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        file.header().clone()
    }

    fn rows(set: &VectorSet, keep: impl Fn(u64) -> bool) -> VectorSet {
        let mut out = VectorSet { dims: set.dims, source: set.source, ..VectorSet::default() };
        for (i, &r) in set.rowids.iter().enumerate() {
            if keep(r) {
                out.rowids.push(r);
                out.data.extend_from_slice(set.vector(i));
            }
        }
        out
    }

    #[test]
    fn delete_vacuum_insert_keep_recall_and_never_return_deleted_rows() {
        let dir = tempfile::tempdir().unwrap();
        let data = Clustered::standard(16, 1);
        let all = data.sample(2400, 0);
        let queries = data.sample(100, 9);
        let path = build(dir.path(), rows(&all, |r| r < 2000));
        let mut rng = Rng::new(11);
        let mut gone: HashSet<u64> = HashSet::new();
        while gone.len() < 300 {
            gone.insert(rng.below(2000));
        }
        let gone_list: Vec<u64> = gone.iter().copied().collect();
        let report = delete(&FileStorage, &path, &gone_list, false, &OPTS).unwrap();
        assert_eq!((report.deleted, report.missing), (300, 0));
        let h = assert_sound(&path);
        assert_eq!((h.live, h.tombstoned), (1700, 300));

        let check = |live: &VectorSet, floor: f64| {
            let truth = exact_rowids(live, &queries, crate::vector::Metric::L2, 10).unwrap();
            let found = search_all(&path, &queries, 10, 64);
            assert!(found.iter().all(|hits| hits.len() == 10), "a search returned fewer than 10 hits");
            assert!(found.iter().flatten().all(|r| !gone.contains(r)), "a deleted rowid was returned");
            let recall = recall_at_k(&found, &truth, 10);
            assert!(recall >= floor, "recall {recall}");
        };
        let live = rows(&all, |r| r < 2000 && !gone.contains(&r));
        check(&live, 0.9);

        let report = vacuum(&FileStorage, &path, false, &OPTS).unwrap();
        assert_eq!(report.vacuum.unwrap().freed, 300);
        let h = assert_sound(&path);
        assert_eq!((h.live, h.tombstoned, h.free_slots), (1700, 0, 300));
        assert_eq!(h.last_vacuum.at_ms, 7);
        check(&live, 0.9);

        // New rows reuse the freed slots first.
        let (slots_before, pages_before) = (h.slots, h.map_pages);
        let new = rows(&all, |r| r >= 2000);
        let report = insert(&FileStorage, &path, new.clone(), false, &OPTS, &|_, _| {}).unwrap();
        assert_eq!(report.inserted, 400);
        let h = assert_sound(&path);
        assert_eq!((h.live, h.free_slots), (2100, 0));
        // 300 rows went to freed slots: only 100 rows and the map's new pages were added.
        assert_eq!(h.slots, slots_before + 100 + (h.map_pages - pages_before));
        let found = search_all(&path, &new, 1, 64);
        let top1 = found.iter().zip(&new.rowids).filter(|(hits, r)| hits.first() == Some(r)).count();
        assert!(top1 >= 396, "{top1} of 400 inserted rows find themselves first");
        check(&rows(&all, |r| !gone.contains(&r)), 0.9);

        // Compacting leaves the same answers in a dense file of the current format.
        let before = search_all(&path, &queries, 10, 64);
        let report = vacuum(&FileStorage, &path, true, &OPTS).unwrap();
        let (old_len, new_len) = report.compacted.unwrap();
        assert!(new_len < old_len);
        let h = assert_sound(&path);
        assert_eq!((h.live, h.free_slots, h.slots), (2100, 0, 2100 + h.map_pages));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), new_len);
        assert_eq!(search_all(&path, &queries, 10, 64), before);
    }

    #[test]
    fn upserting_every_row_keeps_recall() {
        // A nightly full sync: every row replaced, with vectors that moved a little.
        let dir = tempfile::tempdir().unwrap();
        let data = Clustered::standard(16, 12);
        let mut set = data.sample(2000, 0);
        let queries = data.sample(100, 1);
        let path = build(dir.path(), set.clone());
        set.data.iter_mut().enumerate().for_each(|(i, x)| *x += if i % 3 == 0 { 0.01 } else { 0.0 });
        let opts = UpdateOptions { auto_vacuum: Some(DEFAULT_AUTO_VACUUM), ..OPTS };
        let report = insert(&FileStorage, &path, set.clone(), true, &opts, &|_, _| {}).unwrap();
        assert_eq!((report.inserted, report.replaced), (2000, 2000));
        assert_eq!(report.vacuum.unwrap().freed, 2000);
        let h = assert_sound(&path);
        assert_eq!((h.live, h.tombstoned), (2000, 0));
        let truth = exact_rowids(&set, &queries, crate::vector::Metric::L2, 10).unwrap();
        let recall = recall_at_k(&search_all(&path, &queries, 10, 64), &truth, 10);
        assert!(recall >= 0.95, "recall@10 {recall} after upserting every row");
    }

    #[test]
    fn live_rowids_are_refused_unless_upsert_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        let set = Clustered::standard(8, 2).sample(300, 0);
        let path = build(dir.path(), set.clone());
        let before = std::fs::read(&path).unwrap();
        let mut again = rows(&set, |r| r == 5 || r == 6);
        let e = insert(&FileStorage, &path, again.clone(), false, &OPTS, &|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("rowid 5 is already in the index") && e.contains("--upsert"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Upserting moves rowid 5 to a new vector: it is found there, not at the old one.
        again.data[..8].iter_mut().for_each(|x| *x += 50.0);
        let report = insert(&FileStorage, &path, again.clone(), true, &OPTS, &|_, _| {}).unwrap();
        assert_eq!((report.inserted, report.replaced), (2, 2));
        let h = assert_sound(&path);
        assert_eq!((h.live, h.tombstoned), (300, 2));
        let found = search_all(&path, &again, 1, 32);
        assert_eq!(found, vec![vec![5], vec![6]]);
        let old_5 = rows(&set, |r| r == 5);
        assert!(!search_all(&path, &old_5, 3, 32)[0].contains(&5));
    }

    #[test]
    fn rows_numbered_by_position_are_not_told_to_upsert() {
        let dir = tempfile::tempdir().unwrap();
        let set = Clustered::standard(8, 2).sample(300, 0);
        let path = build(dir.path(), set.clone());
        let before = std::fs::read(&path).unwrap();
        // The rows of a file without a rowid column, numbered 0.. as the build numbered its rows.
        let positional = VectorSet { rowids_from: RowidSource::Positions { start: 0, columns: true }, ..rows(&set, |r| r < 3) };
        let e = insert(&FileStorage, &path, positional, false, &OPTS, &|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("rowid 0 is already in the index") && e.contains("positions collide") && e.contains("--start-rowid N"), "{e}");
        assert!(!e.contains("--upsert"), "the advice to upsert would replace other rows: {e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn nothing_to_insert_or_delete_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = build(dir.path(), Clustered::standard(8, 3).sample(200, 0));
        let before = std::fs::read(&path).unwrap();
        let report = insert(&FileStorage, &path, VectorSet::default(), false, &OPTS, &|_, _| {}).unwrap();
        assert_eq!((report.inserted, report.header.map(|h| h.live)), (0, Some(200)));
        let report = delete(&FileStorage, &path, &[], false, &OPTS).unwrap();
        assert_eq!((report.deleted, report.missing), (0, 0));
        assert_eq!(std::fs::read(&path).unwrap(), before, "a command with nothing to do wrote the file");
    }

    #[test]
    fn unknown_rowids_are_an_error_unless_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = build(dir.path(), Clustered::standard(8, 3).sample(200, 0));
        let before = std::fs::read(&path).unwrap();
        let e = delete(&FileStorage, &path, &[3, 999, 1000], false, &OPTS).unwrap_err().to_string();
        assert!(e.contains("2 of the 3 rowids") && e.contains("first is 999") && e.contains("--ignore-missing"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let report = delete(&FileStorage, &path, &[3, 999, 1000, 3], true, &OPTS).unwrap();
        assert_eq!((report.deleted, report.missing), (1, 2));
        assert_eq!(assert_sound(&path).live, 199);
        // A rowid deleted already is not live: the message says it may have been deleted.
        let e = delete(&FileStorage, &path, &[3], false, &OPTS).unwrap_err().to_string();
        assert!(e.contains("1 of the 1 rowid to delete is not live in the index (never inserted, or already deleted; rowid 3)"), "{e}");
    }

    #[test]
    fn copies_of_one_vector_stay_reachable_and_delete_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let base = Clustered::standard(8, 4).sample(500, 0);
        let path = build(dir.path(), base.clone());
        // 80 copies of one vector (more than R = 24), in one insert.
        let copy = base.vector(0).to_vec();
        let copies = VectorSet { dims: 8, rowids: (10_000..10_080).collect(), data: copy.repeat(80), ..base.clone() };
        insert(&FileStorage, &path, copies, false, &OPTS, &|_, _| {}).unwrap();
        let report = assert_sound_report(&path);
        assert_eq!(report.unreachable, 0);
        let query = VectorSet { dims: 8, rowids: vec![0], data: copy.clone(), ..base.clone() };
        let mut found = search_all(&path, &query, 81, 160).remove(0);
        found.sort_unstable();
        let mut want: Vec<u64> = (10_000..10_080).collect();
        want.insert(0, 0);
        assert_eq!(found, want, "every copy is found");
        delete(&FileStorage, &path, &[10_007], false, &OPTS).unwrap();
        vacuum(&FileStorage, &path, false, &OPTS).unwrap();
        want.retain(|r| *r != 10_007);
        let mut found = search_all(&path, &query, 80, 160).remove(0);
        found.sort_unstable();
        assert_eq!(found, want, "only the deleted copy is gone");
        assert_eq!(assert_sound_report(&path).unreachable, 0);
    }

    /// Removes every edge into `victim`, as a build that pruned them all away left it.
    fn cut_in_edges(path: &Path, victim: u32) {
        let mut writer = IndexWriter::open(&FileStorage, path, false).unwrap();
        let layout = writer.layout();
        let code_len = layout.code_len;
        for slot in 0..writer.header().slots as u32 {
            let block = writer.block(slot as u64).unwrap();
            if !layout.state(block).is_some_and(NodeState::is_node) {
                continue;
            }
            let mut edges = graph::edges_of(&layout, block);
            if let Some(k) = edges.ids.iter().position(|&n| n == victim) {
                edges.ids.remove(k);
                edges.codes.drain(k * code_len..(k + 1) * code_len);
                set_edges(&mut writer, &layout, slot, &edges).unwrap();
            }
        }
        writer.commit().unwrap();
        assert_eq!(check_index(&IndexFile::open(path).unwrap()).unreachable, 1);
    }

    #[test]
    fn vacuum_and_insert_link_in_a_live_node_nothing_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let set = Clustered::standard(8, 8).sample(600, 0);
        let path = build(dir.path(), set.clone());
        let victim = (assert_sound(&path).entry_slot as u32 + 1) % 600;
        let file = IndexFile::open(&path).unwrap();
        let rowid = file.layout().rowid(file.block(victim as u64).unwrap());
        drop(file);
        let own = rows(&set, |r| r == rowid);
        let found_first = |path: &Path| search_all(path, &own, 1, 64)[0] == vec![rowid];

        cut_in_edges(&path, victim);
        assert!(!found_first(&path), "cut off, the row cannot be found");
        let report = vacuum(&FileStorage, &path, false, &OPTS).unwrap();
        assert_eq!(report.reconnected, 1);
        assert_eq!(assert_sound_report(&path).unreachable, 0);
        assert!(found_first(&path));

        cut_in_edges(&path, victim);
        let new = VectorSet { rowids: vec![10_000], ..rows(&set, |r| r == 0) };
        let report = insert(&FileStorage, &path, new, false, &OPTS, &|_, _| {}).unwrap();
        assert_eq!(report.reconnected, 1);
        assert_eq!(assert_sound_report(&path).unreachable, 0);
        assert!(found_first(&path));

        cut_in_edges(&path, victim);
        vacuum(&FileStorage, &path, true, &OPTS).unwrap();
        assert_eq!(assert_sound_report(&path).unreachable, 0);
        assert!(found_first(&path));
    }

    fn assert_sound_report(path: &Path) -> crate::index::CheckReport {
        let report = check_index(&IndexFile::open(path).unwrap());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        report
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = build(dir.path(), Clustered::standard(8, 6).sample(100, 0));
        let first = IndexWriter::open(&FileStorage, &path, false).unwrap();
        let e = delete(&FileStorage, &path, &[1], false, &OPTS).unwrap_err().to_string();
        assert!(e.contains("another lmdiskann process") && e.contains("--wait"), "{e}");
        // A reader is refused too while the writer holds the file.
        assert!(IndexFile::open(&path).is_err());
        drop(first);
        delete(&FileStorage, &path, &[1], false, &OPTS).unwrap();
    }

    #[test]
    fn deleting_everything_then_inserting_starts_a_new_graph() {
        let dir = tempfile::tempdir().unwrap();
        let set = Clustered::standard(8, 7).sample(50, 0);
        let path = build(dir.path(), set.clone());
        delete(&FileStorage, &path, &set.rowids, false, &OPTS).unwrap();
        assert!(search_all(&path, &set, 5, 16).iter().all(|h| h.is_empty()));
        vacuum(&FileStorage, &path, false, &OPTS).unwrap();
        assert_eq!(assert_sound(&path).free_slots, 50);
        insert(&FileStorage, &path, set.clone(), false, &OPTS, &|_, _| {}).unwrap();
        let h = assert_sound(&path);
        assert_eq!((h.live, h.free_slots), (50, 0));
        let found = search_all(&path, &set, 1, 32);
        assert!(found.iter().zip(&set.rowids).all(|(h, r)| h == &vec![*r]));
    }
}
