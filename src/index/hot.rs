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
use crate::graph::{Candidates, SlotOrder, Visited};
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
    let reads: Vec<AtomicU32> = (0..nodes.len()).map(|_| AtomicU32::new(0)).collect();
    sampled(nodes.len()).for_each_init(Scratch::default, |s, row| {
        let query = nodes.vector(row, &mut s.vector).to_vec();
        let codes = space.query(&query);
        let mut candidates = Candidates::new(LIST);
        let mut seen = Visited::with_capacity(LIST * 16);
        seen.insert(entry);
        candidates.insert(0.0, entry);
        while let Some(c) = candidates.next_unexpanded() {
            reads[c.id as usize].fetch_add(1, Ordering::Relaxed);
            candidates.set_distance(c.id, metric.rank_distance(&query, nodes.vector(c.id as usize, &mut s.vector)));
            nodes.edges(c.id as usize, &mut s.edges);
            s.fresh.clear();
            s.codes.clear();
            for (i, &nb) in s.edges.iter().enumerate() {
                if seen.insert(nb) {
                    s.fresh.push(i as u32);
                }
                s.codes.extend_from_slice(nodes.code(nb));
            }
            codes.distances(&s.codes, &s.fresh, &mut s.scores);
            for (&i, &d) in s.fresh.iter().zip(&s.scores) {
                candidates.insert(d, s.edges[i as usize]);
            }
        }
    });
    reads
}

/// A sample search's buffers, kept per thread.
#[derive(Default)]
struct Scratch {
    vector: Vec<f32>,
    edges: Vec<u32>,
    fresh: Vec<u32>,
    codes: Vec<u8>,
    scores: Vec<f32>,
}
