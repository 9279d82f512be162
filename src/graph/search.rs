//! LM-DiskANN search over the file: one block read per expanded node. The codes inside a
//! block rank its neighbours (routing); the full vector inside the block gives the exact
//! distance that feeds the top-k (reranking without extra reads).

use super::candidates::Candidates;
use super::visited::Visited;
use crate::error::Result;
use crate::format::NodeState;
use crate::quant::CodeSpace;
use crate::storage::Blocks;
use crate::vector::Metric;

/// Search knobs.
#[derive(Clone, Copy, Debug)]
pub struct SearchParams {
    /// Results per query.
    pub k: usize,
    /// Candidate list size L (at least k is used).
    pub search_list: usize,
    /// Candidates expanded per round; their blocks are prefetched together.
    pub beam_width: usize,
}

impl SearchParams {
    /// These parameters as a search of an index with `live` live rows and `nodes` nodes
    /// (live and tombstoned) runs them: k above the live rows cannot find more, and a list
    /// longer than the nodes already holds every one of them, so neither buffer ever grows
    /// with an absurd k or L.
    pub fn within(&self, live: u64, nodes: u64) -> SearchParams {
        let k = (self.k as u64).min(live) as usize;
        let search_list = (self.search_list.max(k) as u64).min(nodes) as usize;
        SearchParams { k, search_list, beam_width: self.beam_width }
    }
}

/// Work done by one search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    pub blocks_read: u64,
    pub codes_scored: u64,
    /// Wall time of the search in nanoseconds (set by `Index::search`).
    pub nanos: u64,
}

/// Finds the `k` nearest live nodes to `query` (already prepared for the metric).
/// Returns (ranking distance, rowid), nearest first, ties by smaller rowid.
///
/// Tombstones route but are never returned, so they can crowd live nodes out of the list;
/// a search that ends with fewer than `k` live hits while the index holds that many
/// widens its list and searches again.
pub fn search<B: Blocks>(
    file: &B,
    codes: &CodeSpace,
    metric: Metric,
    query: &[f32],
    params: &SearchParams,
) -> Result<(Vec<(f32, u64)>, SearchStats)> {
    let header = file.header();
    let mut stats = SearchStats::default();
    let nodes = header.live + header.tombstoned;
    let SearchParams { k, search_list: mut list, beam_width } = params.within(header.live, nodes);
    if k == 0 {
        return Ok((Vec::new(), stats));
    }
    let layout = file.layout();
    loop {
        // Sized by what the search finds, not by the list it may keep.
        let mut results: Vec<(f32, u64)> = Vec::with_capacity(list.min(PRESIZE));
        beam_search(file, codes, metric, query, Beam { list, width: beam_width }, &mut stats, &mut |node| {
            if node.state == NodeState::Live {
                results.push((node.distance, layout.rowid(node.block)));
            }
        })?;
        // A list of every node expanded every node it could reach: widening finds no more.
        if results.len() >= k || list as u64 >= nodes {
            results.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            results.truncate(k);
            return Ok((results, stats));
        }
        list = (list as u64 * 2).min(nodes) as usize;
    }
}

/// Entries a search's buffers are given up front; beyond it they grow with what is found.
const PRESIZE: usize = 4096;

/// The shape of a beam search: `list` candidates kept, `width` expanded per round.
#[derive(Clone, Copy, Debug)]
pub struct Beam {
    pub list: usize,
    pub width: usize,
}

/// A node a beam search expanded.
pub struct Expanded<'a> {
    pub slot: u32,
    pub state: NodeState,
    pub block: &'a [u8],
    /// Its prepared vector.
    pub vector: &'a [f32],
    /// Its exact ranking distance to the query.
    pub distance: f32,
}

/// Beam search with a list of `list` candidates from the entry point; `expanded` sees
/// every node the search expands.
pub fn beam_search<B: Blocks>(
    file: &B,
    codes: &CodeSpace,
    metric: Metric,
    query: &[f32],
    beam: Beam,
    stats: &mut SearchStats,
    expanded: &mut dyn FnMut(Expanded),
) -> Result<()> {
    let header = file.header();
    let layout = file.layout();
    if header.live + header.tombstoned == 0 {
        return Ok(());
    }
    let query_codes = codes.query(query);
    let mut candidates = Candidates::new(beam.list);
    // Each expansion can see up to R new ids; sizing for that avoids rehashing, but no
    // search sees more ids than the index has slots.
    let mut seen = Visited::with_capacity(beam.list.saturating_mul(layout.max_degree).min(header.slots as usize));
    let codec = header.element_codec();
    let mut vector = vec![0.0f32; layout.dims];
    let entry = header.entry_slot as u32;
    seen.insert(entry);
    candidates.insert(f32::NEG_INFINITY, entry);
    // No round expands more candidates than the list keeps.
    let width = beam.width.clamp(1, beam.list.max(1));
    let mut round = Vec::with_capacity(width);
    loop {
        round.clear();
        while round.len() < width {
            match candidates.next_unexpanded() {
                Some(c) => round.push(c.id),
                None => break,
            }
        }
        if round.is_empty() {
            return Ok(());
        }
        if round.len() > 1 {
            round.iter().for_each(|&slot| file.prefetch(slot as u64));
        }
        for &slot in &round {
            let block = file.block(slot as u64)?;
            stats.blocks_read += 1;
            let state = match layout.state(block) {
                Some(state) if state.is_node() => state,
                other => return Err(file.corrupted(format!("an edge leads to slot {slot}, which is not a node ({other:?})"))),
            };
            if !codec.decode_prepared(metric, layout.vector_bytes(block), &mut vector) {
                return Err(file.corrupted(format!("slot {slot} holds a zero vector, which cosine cannot rank")));
            }
            let exact = metric.rank_distance(query, &vector);
            candidates.set_distance(slot, exact);
            expanded(Expanded { slot, state, block, vector: &vector, distance: exact });
            let degree = layout.degree(block);
            for i in 0..degree {
                let nb = layout.neighbour(block, i);
                if nb as u64 >= header.slots {
                    return Err(file.corrupted(format!("slot {slot} has an edge to slot {nb}, beyond {} slots", header.slots)));
                }
                if seen.insert(nb) {
                    stats.codes_scored += 1;
                    candidates.insert(query_codes.distance(layout.code(block, i)), nb);
                }
            }
        }
    }
}
