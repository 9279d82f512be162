//! LM-DiskANN search over the file: one block read per expanded node. The codes inside a
//! block rank its neighbours (routing); the full vector inside the block gives the exact
//! distance that feeds the top-k (reranking without extra reads).

use super::candidates::Candidates;
use super::visited::Visited;
use crate::error::Result;
use crate::format::NodeState;
use crate::quant::CodeSpace;
use crate::storage::IndexFile;
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
pub fn search(
    file: &IndexFile,
    codes: &CodeSpace,
    metric: Metric,
    query: &[f32],
    params: &SearchParams,
) -> Result<(Vec<(f32, u64)>, SearchStats)> {
    let header = file.header();
    let layout = file.layout();
    let mut stats = SearchStats::default();
    if header.live == 0 || params.k == 0 {
        return Ok((Vec::new(), stats));
    }
    let list = params.search_list.max(params.k);
    let query_codes = codes.query(query);
    let mut candidates = Candidates::new(list);
    // Each expansion can see up to R new ids; sizing for that avoids rehashing.
    let mut seen = Visited::with_capacity(list * layout.max_degree);
    let codec = header.element_codec();
    let mut vector = vec![0.0f32; layout.dims];
    // Exact distances of live expanded nodes; the top k of these are the answer.
    let mut results: Vec<(f32, u64)> = Vec::with_capacity(list * 2);
    let entry = header.entry_slot as u32;
    seen.insert(entry);
    candidates.insert(f32::NEG_INFINITY, entry);
    let mut round = Vec::with_capacity(params.beam_width.max(1));
    loop {
        round.clear();
        while round.len() < params.beam_width.max(1) {
            match candidates.next_unexpanded() {
                Some(c) => round.push(c.id),
                None => break,
            }
        }
        if round.is_empty() {
            break;
        }
        if round.len() > 1 {
            round.iter().for_each(|&slot| file.prefetch(slot as u64));
        }
        for &slot in &round {
            let block = file.block(slot as u64)?;
            stats.blocks_read += 1;
            if !codec.decode_prepared(metric, layout.vector_bytes(block), &mut vector) {
                return Err(file.corrupted(format!("slot {slot} holds a zero vector, which cosine cannot rank")));
            }
            let exact = metric.rank_distance(query, &vector);
            candidates.set_distance(slot, exact);
            if layout.state(block) == Some(NodeState::Live) {
                results.push((exact, layout.rowid(block)));
            }
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
    results.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    results.truncate(params.k);
    Ok((results, stats))
}
