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
    if header.live == 0 || params.k == 0 {
        return Ok((Vec::new(), stats));
    }
    let want = (params.k as u64).min(header.live) as usize;
    let layout = file.layout();
    let mut list = params.search_list.max(params.k);
    loop {
        let mut results: Vec<(f32, u64)> = Vec::with_capacity(list * 2);
        beam_search(file, codes, metric, query, Beam { list, width: params.beam_width }, &mut stats, &mut |node| {
            if node.state == NodeState::Live {
                results.push((node.distance, layout.rowid(node.block)));
            }
        })?;
        if results.len() >= want || list as u64 >= header.slots {
            results.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            results.truncate(params.k);
            return Ok((results, stats));
        }
        list *= 2;
    }
}

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
    // Each expansion can see up to R new ids; sizing for that avoids rehashing.
    let mut seen = Visited::with_capacity(beam.list * layout.max_degree);
    let codec = header.element_codec();
    let mut vector = vec![0.0f32; layout.dims];
    let entry = header.entry_slot as u32;
    seen.insert(entry);
    candidates.insert(f32::NEG_INFINITY, entry);
    let mut round = Vec::with_capacity(beam.width.max(1));
    loop {
        round.clear();
        while round.len() < beam.width.max(1) {
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
