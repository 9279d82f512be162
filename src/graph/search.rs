//! LM-DiskANN search over the file: one block read per expanded node. The codes inside a
//! block rank its neighbours (routing); the full vector inside the block gives the exact
//! distance that feeds the top-k (reranking without extra reads).

use super::candidates::{Candidate, Candidates};
use super::visited::Visited;
use crate::error::Result;
use crate::format::{NodeLayout, NodeState};
use crate::quant::{CodeSpace, QueryCodes};
use crate::storage::Blocks;
use crate::vector::{ElementCodec, Metric};

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
    let mut search = Search::new(file, codes, query, params);
    while !search.next_round(file, codes, query).is_empty() {
        let (layout, results) = (file.layout(), &mut search.results);
        search.beam.read_round(file, metric, query, &mut search.stats, &mut keep_live(layout, results))?;
    }
    Ok(search.finish())
}

/// One query's search in progress, driven round by round: [`search`] reads each round's
/// blocks one after another, a batch of searches reads theirs together. Both expand the
/// same nodes in the same order, so they find the same hits.
pub struct Search {
    k: usize,
    list: usize,
    nodes: u64,
    width: usize,
    beam: BeamState,
    results: Vec<(f32, u64)>,
    stats: SearchStats,
}

impl Search {
    pub fn new<B: Blocks>(file: &B, codes: &CodeSpace, query: &[f32], params: &SearchParams) -> Search {
        let header = file.header();
        let nodes = header.live + header.tombstoned;
        let SearchParams { k, search_list: list, beam_width: width } = params.within(header.live, nodes);
        // k = 0 asks for nothing: no node is read.
        let beam = BeamState::new(file, codes, query, Beam { list: if k == 0 { 0 } else { list }, width });
        // Sized by what the search finds, not by the list it may keep.
        Search { k, list, nodes, width, beam, results: Vec::with_capacity(list.min(PRESIZE)), stats: SearchStats::default() }
    }

    /// Bytes a search of `params` holds while in progress (its seen set, candidates and
    /// hits, before any widening): what a batch that keeps many in flight budgets for.
    pub fn state_bytes<B: Blocks>(file: &B, params: &SearchParams) -> usize {
        let header = file.header();
        let list = params.within(header.live, header.live + header.tombstoned).search_list;
        Visited::bytes_for(seen_capacity(file, list)) + list * (std::mem::size_of::<Candidate>() + std::mem::size_of::<(f32, u64)>())
    }

    /// The slots whose blocks the next round expands, nearest first; empty when the search
    /// is over. A beam that ended with fewer than k live hits while more nodes exist starts
    /// again with twice the list (a list of every node expanded every node it could reach).
    pub fn next_round<B: Blocks>(&mut self, file: &B, codes: &CodeSpace, query: &[f32]) -> &[u32] {
        if self.beam.next_round().is_empty() && self.results.len() < self.k && (self.list as u64) < self.nodes {
            self.list = (self.list as u64 * 2).min(self.nodes) as usize;
            self.results.clear();
            self.beam = BeamState::new(file, codes, query, Beam { list: self.list, width: self.width });
            self.beam.next_round();
        }
        self.round()
    }

    /// The round [`Search::next_round`] returned last.
    pub fn round(&self) -> &[u32] {
        &self.beam.round
    }

    /// Expands `slot` of the current round, whose block (checked) is `block`.
    pub fn expand<B: Blocks>(&mut self, file: &B, metric: Metric, query: &[f32], slot: u32, block: &[u8]) -> Result<()> {
        let (layout, results) = (file.layout(), &mut self.results);
        self.beam.expand(file, metric, query, slot, block, &mut self.stats, &mut keep_live(layout, results))
    }

    /// The k nearest live hits found, nearest first (ties: smaller rowid), and the work done.
    pub fn finish(mut self) -> (Vec<(f32, u64)>, SearchStats) {
        self.results.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.results.truncate(self.k);
        (self.results, self.stats)
    }
}

/// The ids a search with a list of `list` is sized to see: it expands about 1.5 L nodes
/// (reranking reorders the list), each showing up to R new ids; sizing for that avoids
/// rehashing, but no search sees more ids than the index has slots.
fn seen_capacity<B: Blocks>(file: &B, list: usize) -> usize {
    let expected = list.saturating_mul(file.layout().max_degree).saturating_mul(3) / 2;
    expected.min(file.header().slots as usize)
}

/// What a search keeps of each node it expands: a live node's distance and rowid.
fn keep_live(layout: NodeLayout, results: &mut Vec<(f32, u64)>) -> impl FnMut(Expanded) + '_ {
    move |node| {
        if node.state == NodeState::Live {
            results.push((node.distance, layout.rowid(node.block)));
        }
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
    let mut state = BeamState::new(file, codes, query, beam);
    while !state.next_round().is_empty() {
        state.read_round(file, metric, query, stats, expanded)?;
    }
    Ok(())
}

/// A beam search between rounds: its candidates, the nodes it has seen, the round to expand.
struct BeamState {
    query_codes: QueryCodes,
    codec: ElementCodec,
    candidates: Candidates,
    seen: Visited,
    vector: Vec<f32>,
    width: usize,
    round: Vec<u32>,
    /// Scratch of one expansion: the neighbours it scores (their positions in the block)
    /// and their estimates.
    fresh: Vec<u32>,
    scores: Vec<f32>,
}

impl BeamState {
    fn new<B: Blocks>(file: &B, codes: &CodeSpace, query: &[f32], beam: Beam) -> BeamState {
        let (header, layout) = (file.header(), file.layout());
        let mut candidates = Candidates::new(beam.list);
        let mut seen = Visited::with_capacity(seen_capacity(file, beam.list));
        if header.live + header.tombstoned > 0 && beam.list > 0 {
            let entry = header.entry_slot as u32;
            seen.insert(entry);
            candidates.insert(f32::NEG_INFINITY, entry);
        }
        // No round expands more candidates than the list keeps.
        let width = beam.width.clamp(1, beam.list.max(1));
        BeamState {
            query_codes: codes.query(query),
            codec: header.element_codec(),
            candidates,
            seen,
            vector: vec![0.0f32; layout.dims],
            width,
            round: Vec::with_capacity(width),
            fresh: Vec::with_capacity(layout.max_degree),
            scores: Vec::with_capacity(layout.max_degree),
        }
    }

    /// Chooses the next round: up to `width` unexpanded candidates, nearest first.
    fn next_round(&mut self) -> &[u32] {
        self.round.clear();
        while self.round.len() < self.width {
            match self.candidates.next_unexpanded() {
                Some(c) => self.round.push(c.id),
                None => break,
            }
        }
        &self.round
    }

    /// Expands the round chosen last, reading its blocks from `file` one after another
    /// (asked for together when there are several).
    fn read_round<B: Blocks>(
        &mut self,
        file: &B,
        metric: Metric,
        query: &[f32],
        stats: &mut SearchStats,
        expanded: &mut dyn FnMut(Expanded),
    ) -> Result<()> {
        if self.round.len() > 1 {
            self.round.iter().for_each(|&slot| file.prefetch(slot as u64));
        }
        for i in 0..self.round.len() {
            let slot = self.round[i];
            self.expand(file, metric, query, slot, file.block(slot as u64)?, stats, expanded)?;
        }
        Ok(())
    }

    /// Expands `slot`, whose block (checked) is `block`: its exact distance replaces the
    /// estimate, and its neighbours not seen yet join the candidates at their code distance.
    #[allow(clippy::too_many_arguments)]
    fn expand<B: Blocks>(
        &mut self,
        file: &B,
        metric: Metric,
        query: &[f32],
        slot: u32,
        block: &[u8],
        stats: &mut SearchStats,
        expanded: &mut dyn FnMut(Expanded),
    ) -> Result<()> {
        let (header, layout) = (file.header(), file.layout());
        stats.blocks_read += 1;
        let state = match layout.state(block) {
            Some(state) if state.is_node() => state,
            other => return Err(file.corrupted(format!("an edge leads to slot {slot}, which is not a node ({other:?})"))),
        };
        if !self.codec.decode_prepared(metric, layout.vector_bytes(block), &mut self.vector) {
            return Err(file.corrupted(format!("slot {slot} holds a zero vector, which cosine cannot rank")));
        }
        let exact = metric.rank_distance(query, &self.vector);
        self.candidates.set_distance(slot, exact);
        expanded(Expanded { slot, state, block, vector: &self.vector, distance: exact });
        // The neighbours not seen yet are scored together: one call per block.
        self.fresh.clear();
        for i in 0..layout.degree(block) {
            let nb = layout.neighbour(block, i);
            if nb as u64 >= header.slots {
                return Err(file.corrupted(format!("slot {slot} has an edge to slot {nb}, beyond {} slots", header.slots)));
            }
            if self.seen.insert(nb) {
                self.fresh.push(i as u32);
            }
        }
        stats.codes_scored += self.fresh.len() as u64;
        self.query_codes.distances(layout.codes(block), &self.fresh, &mut self.scores);
        for (&i, &distance) in self.fresh.iter().zip(&self.scores) {
            self.candidates.insert(distance, layout.neighbour(block, i as usize));
        }
        Ok(())
    }
}
