//! Which nodes searches read most: a new index's nodes are written hottest first, so the
//! front of the file is the cache a disk index wants.
//!
//! A search spends its first hops on nodes near the entry point and on the hubs routes
//! pass through, then reads nodes near its query, which are spread over the whole graph.
//! Searching for a sample of the indexed rows, as the real search would (neighbours ranked
//! by their codes, expanded nodes by their vectors), counts how often each node is read:
//! DiskANN fills its node cache the same way, from searches for sample rows.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::build::Nodes;
use crate::graph::{Candidates, Marks, SlotOrder};
use crate::quant::CodeSpace;
use crate::vector::Metric;

/// Rows searched for, evenly spaced over the slots: enough reads (about 100 each) to rank
/// the hot quarter of a million nodes, a few seconds of a build.
const SAMPLE: usize = 20_000;
/// The list the sample searches keep: the search default.
pub(super) const LIST: usize = 64;

/// Positions of the rows to search for among `n`, evenly spaced.
pub(super) fn sampled(n: usize) -> impl IndexedParallelIterator<Item = usize> {
    let samples = SAMPLE.min(n);
    (0..samples).into_par_iter().map(move |i| (i as u64 * n as u64 / samples as u64) as usize)
}

/// `order` with the nodes `reads` counts most often first; stable, so `order` stays among
/// nodes read as often.
pub(super) fn hottest_first_of(order: SlotOrder, reads: &[AtomicU32]) -> SlotOrder {
    order.sorted_by_key(|slot| std::cmp::Reverse(reads[slot as usize].load(Ordering::Relaxed)))
}

/// The order to write `nodes` in: by how often searches for a sample of the rows expand
/// them, most first, and breadth first from `entry` among equals (the nodes no sample
/// search reads come last, neighbours beside each other).
pub(super) fn hottest_first(nodes: &dyn Nodes, space: &CodeSpace, metric: Metric, entry: u32) -> SlotOrder {
    let reads = expansions(nodes, space, metric, entry);
    hottest_first_of(SlotOrder::breadth_first(nodes.len(), entry, |slot, out| nodes.edges(slot as usize, out)), &reads)
}

/// How many of the sample searches expand each node.
fn expansions(nodes: &dyn Nodes, space: &CodeSpace, metric: Metric, entry: u32) -> Vec<AtomicU32> {
    let n = nodes.len();
    let reads: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
    sampled(n).for_each_init(
        || Scratch::new(n),
        |s, row| {
            let query = nodes.vector(row, &mut s.vector).to_vec();
            let codes = space.query(&query);
            s.candidates.clear();
            s.seen.clear();
            s.seen.insert(entry);
            s.candidates.insert(0.0, entry);
            while let Some(c) = s.candidates.next_unexpanded() {
                reads[c.id as usize].fetch_add(1, Ordering::Relaxed);
                s.candidates.set_distance(c.id, metric.rank_distance(&query, nodes.vector(c.id as usize, &mut s.vector)));
                nodes.edges(c.id as usize, &mut s.edges);
                // Only the neighbours not seen yet are scored, as a search scores a block's.
                s.fresh.clear();
                s.codes.clear();
                for &nb in &s.edges {
                    if s.seen.insert(nb) {
                        s.fresh.push(nb);
                        s.codes.extend_from_slice(nodes.code(nb));
                    }
                }
                while s.positions.len() < s.fresh.len() {
                    s.positions.push(s.positions.len() as u32);
                }
                codes.distances(&s.codes, &s.positions[..s.fresh.len()], &mut s.scores);
                for (&nb, &d) in s.fresh.iter().zip(&s.scores) {
                    s.candidates.insert(d, nb);
                }
            }
        },
    );
    reads
}

/// A sample search's state and buffers, kept per thread from one search to the next.
struct Scratch {
    candidates: Candidates,
    /// A bit per node, as the build's own searches keep: n / 8 bytes a thread.
    seen: Marks,
    vector: Vec<f32>,
    edges: Vec<u32>,
    /// The neighbours of an expansion not seen before, their codes one after another, and
    /// their positions in those codes (0, 1, 2, ...).
    fresh: Vec<u32>,
    codes: Vec<u8>,
    positions: Vec<u32>,
    scores: Vec<f32>,
}

impl Scratch {
    fn new(nodes: usize) -> Scratch {
        Scratch {
            candidates: Candidates::new(LIST),
            seen: Marks::new(nodes),
            vector: Vec::new(),
            edges: Vec::new(),
            fresh: Vec::new(),
            codes: Vec::new(),
            positions: Vec::new(),
            scores: Vec::new(),
        }
    }
}
