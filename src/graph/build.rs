//! Parallel batch Vamana build (ParlayANN style).
//!
//! Points are inserted in a seeded random order in batches that double in size. Every
//! point of a batch searches the graph as it stood before the batch (frozen), so the
//! parallel work is a pure function of that graph; the back-edges are then grouped by
//! target, sorted, and merged (pruning on overflow). Results are therefore the same for
//! any number of threads. A first pass uses alpha = 1, a second the target alpha.

use rayon::prelude::*;

use super::candidates::Candidates;
use super::connect::{place, reconnect, Reconnect};
use super::prune::{insert_pruned, robust_prune_batched};
use super::space::{Measure, Space};
use super::visited::Marks;
use crate::rng::Rng;
use crate::storage::LargeArray;
use crate::vector::l2_squared;

/// The points a graph is built over (l2 between them), read a row at a time: a build
/// measures on codes of them (see [`super::space`]) and reads the points themselves only to
/// make those and to find its entry, so they may stay in a mapped file.
pub trait PointRows: Sync {
    fn dims(&self) -> usize;
    /// The number of points.
    fn count(&self) -> usize;
    /// Writes point `i` (`dims` values) into `out`.
    fn read_point(&self, i: u32, out: &mut [f32]);
    /// Every point back to back, when they are in memory already.
    fn in_memory(&self) -> Option<&[f32]> {
        None
    }
}

/// Points in memory, back to back.
pub struct PointSet<'a> {
    pub dims: usize,
    pub data: &'a [f32],
}

impl PointSet<'_> {
    #[inline]
    pub fn get(&self, i: u32) -> &[f32] {
        let at = i as usize * self.dims;
        &self.data[at..at + self.dims]
    }
}

impl PointRows for PointSet<'_> {
    fn dims(&self) -> usize {
        self.dims
    }

    fn count(&self) -> usize {
        self.data.len() / self.dims
    }

    fn read_point(&self, i: u32, out: &mut [f32]) {
        out.copy_from_slice(self.get(i));
    }

    fn in_memory(&self) -> Option<&[f32]> {
        Some(self.data)
    }
}

impl Space<'_> {
    fn dist(&self, a: u32, b: u32) -> f32 {
        let mut out = [0.0];
        self.dists_from(a, &[b], &mut out);
        out[0]
    }

    /// The distances from point `from` to each of `ids`, paired with the ids.
    fn pool(&self, from: u32, ids: &[u32]) -> Vec<(f32, u32)> {
        let mut d = vec![0.0; ids.len()];
        self.dists_from(from, ids, &mut d);
        d.into_iter().zip(ids.iter().copied()).collect()
    }

    /// RobustPrune of `pool` for point `p` in this space: the edges, and how many of them
    /// the alpha rule chose when they are saturated (else [`UNKNOWN`]).
    fn prune(&self, p: u32, pool: &mut Vec<(f32, u32)>, alpha: f32, params: &BuildParams, saturate: bool) -> (Vec<u32>, u32) {
        let (edges, chosen) = robust_prune_batched(p, pool, alpha, params.max_degree, saturate, |v, ids, out| self.dists_from(v, ids, out));
        (edges, if saturate { chosen as u32 } else { UNKNOWN })
    }

    /// Adds the back-edges `new` to `q`'s saturated `edges` (of which `chosen` alpha-chosen)
    /// as a full prune would, one at a time (see [`insert_pruned`]); `None` when that needs
    /// the full prune.
    fn insert_pruned(&self, q: u32, edges: &[u32], chosen: u32, new: &[u32], alpha: f32, max_degree: usize) -> Option<(Vec<u32>, u32)> {
        let mut pool = self.pool(q, edges);
        let mut chosen = chosen as usize;
        for v in self.pool(q, new) {
            if !insert_pruned(q, &mut pool, &mut chosen, v, alpha, max_degree, |v, ids, out| self.dists_from(v, ids, out)) {
                return None;
            }
        }
        Some((pool.into_iter().map(|(_, id)| id).collect(), chosen as u32))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct BuildParams {
    pub max_degree: usize,
    pub build_list: usize,
    pub alpha: f32,
    pub seed: u64,
    /// Fill the edge slots pruning leaves empty during the last pass (see `prune`).
    pub saturate: bool,
    /// With alpha above 1, sketch the graph in a first pass at alpha 1 (see [`passes`]).
    pub sketch: bool,
}

/// An adjacency list per point, and the entry point (the medoid).
pub struct Graph {
    /// Point i's record is `lists[i * (R + 1)..][..R + 1]`: its degree, then its edges. One
    /// flat array, not a list per point: a search reads a node's edges in one cache miss
    /// (not two, through a list's header), the next node's list can be prefetched by its
    /// address alone, and records are the partition graph file's as they are.
    lists: LargeArray<u32>,
    max_degree: usize,
    pub entry: u32,
    /// Points the passes left unreachable, linked in at the end.
    pub reconnected: u64,
    /// What the distances were computed on.
    pub measure: Measure,
}

impl Graph {
    fn new(points: usize, max_degree: usize, entry: u32, measure: Measure) -> Self {
        Graph { lists: LargeArray::zeroed(points * (max_degree + 1)), max_degree, entry, reconnected: 0, measure }
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.lists.len() / (self.max_degree + 1)
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Point `i`'s record: its degree, then R edge slots (the first `degree` in use).
    fn record(&self, i: u32) -> &[u32] {
        &self.lists[i as usize * (self.max_degree + 1)..][..self.max_degree + 1]
    }

    /// Every point's record in order: its degree, then R edge slots (the first `degree` in use).
    pub fn records(&self) -> &[u32] {
        &self.lists
    }

    /// Point `i`'s edges.
    #[inline]
    pub fn neighbours(&self, i: u32) -> &[u32] {
        let record = self.record(i);
        &record[1..][..record[0] as usize]
    }

    fn set_neighbours(&mut self, i: u32, edges: &[u32]) {
        assert!(edges.len() <= self.max_degree, "at most R edges");
        let record = &mut self.lists[i as usize * (self.max_degree + 1)..][..self.max_degree + 1];
        record[0] = edges.len() as u32;
        record[1..][..edges.len()].copy_from_slice(edges);
        record[1 + edges.len()..].fill(0);
    }

    /// Asks for point `i`'s edges to be brought into the cache: the search expands it next.
    #[inline]
    fn prefetch(&self, i: u32) {
        crate::storage::prefetch(self.record(i), usize::MAX);
    }
}

/// Largest batch, as a fraction of the points: bigger batches parallelise better but
/// search a staler graph.
const MAX_BATCH_FRACTION: f64 = 0.02;
/// The largest batch is never smaller than this: in batches of a few hundred points or
/// fewer, the threads wait for each other at every batch's end and the steps between
/// batches run alone. (SIFT 5k, 2 threads: the graph 10-15% faster than in batches of
/// 100, recall@10 at L 16 to 64 within 0.001 with two build seeds; MNIST 9k 8% faster,
/// recall the same.)
const MIN_BATCH: usize = 256;
const ORDER_STREAM: u64 = 0x004F_5244_4552; // "ORDER"

/// Builds the graph. `progress(pass, passes, done, n)` is called after each batch: `done`
/// of the `n` points are in pass `pass` (from 1) of `passes` (the entry point from the
/// start). Runs on the current rayon pool.
pub fn build(points: &dyn PointRows, params: &BuildParams, progress: &(dyn Fn(u32, u32, u64, u64) + Sync)) -> Graph {
    let n = points.count();
    let entry = medoid(points);
    let space = Space::of(points);
    let mut graph = Graph::new(n, params.max_degree, entry, space.measure);
    if n <= 1 {
        progress(1, 1, n as u64, n as u64);
        return graph;
    }
    let mut order: Vec<u32> = (0..n as u32).filter(|&i| i != entry).collect();
    Rng::derive(params.seed, ORDER_STREAM).shuffle(&mut order);
    let max_batch = ((n as f64 * MAX_BATCH_FRACTION) as usize).max(MIN_BATCH);

    let passes = passes(params);
    let mut chosen = vec![UNKNOWN; n];
    for (pass, &(alpha, ref pass_params)) in passes.iter().enumerate() {
        let mut start = 0;
        let mut batch = 1;
        while start < order.len() {
            // The first pass doubles batches from 1 while the graph is small; later
            // passes refine a complete graph and use full batches straight away.
            let size = if pass == 0 { batch.min(max_batch) } else { max_batch };
            let end = (start + size).min(order.len());
            // Saturating the last pass only: its searches then run on full lists, which is
            // where the gain comes from (SIFT 5k: recall@10 at L=64 0.949 -> 0.984).
            let saturate = params.saturate && pass + 1 == passes.len();
            insert_batch(&space, &mut graph, &mut chosen, &order[start..end], pass_params, alpha, saturate);
            progress(pass as u32 + 1, passes.len() as u32, 1 + end as u64, n as u64);
            start = end;
            // Capped, not doubled forever: after 64 doublings a usize wraps to 0 and the
            // loop would never advance (65-99 points, or about 2M and more).
            batch = (batch * 2).min(max_batch);
        }
    }
    let Ok(reconnected) = reconnect(&mut Building { space: &space, graph: &mut graph, params });
    graph.reconnected = reconnected;
    graph
}

/// Each pass's alpha and parameters: with alpha above 1 and `sketch`, a first pass at alpha
/// 1 sketches the graph the second rebuilds, with the same list. (A sketch with half the
/// list cost 10-20% less CPU and as much recall up to 25k rows, but at 1M x 128 recall@10 at
/// L 64 fell from 0.9308 to 0.9098. Without the sketch, SIFT 5k fell from 0.9563 to 0.9330.)
fn passes(params: &BuildParams) -> Vec<(f32, BuildParams)> {
    if params.alpha <= 1.0 || !params.sketch {
        return vec![(params.alpha, *params)];
    }
    vec![(1.0, *params), (params.alpha, *params)]
}

/// A graph being built, for [`reconnect`]: every point must be reachable.
struct Building<'a> {
    space: &'a Space<'a>,
    graph: &'a mut Graph,
    params: &'a BuildParams,
}

impl Reconnect for Building<'_> {
    type Error = std::convert::Infallible;

    fn slots(&self) -> u32 {
        self.graph.len() as u32
    }

    fn entry(&self) -> Option<u32> {
        Some(self.graph.entry).filter(|_| !self.graph.is_empty())
    }

    fn max_degree(&self) -> usize {
        self.params.max_degree
    }

    fn must_reach(&self, _: u32) -> Result<bool, Self::Error> {
        Ok(true)
    }

    fn out_edges(&self, slot: u32) -> Result<Vec<u32>, Self::Error> {
        Ok(self.graph.neighbours(slot).to_vec())
    }

    fn nearest_sources(&self, slot: u32) -> Result<Vec<u32>, Self::Error> {
        let mut found = greedy_search(self.space, self.graph, slot, &mut Scratch::new(self.params.build_list, self.graph.len()));
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }

    fn link(&mut self, from: u32, replace: Option<usize>, to: u32) -> Result<(), Self::Error> {
        let mut edges = self.graph.neighbours(from).to_vec();
        place(&mut edges, replace, to);
        self.graph.set_neighbours(from, &edges);
        Ok(())
    }
}

/// The point nearest to the centroid (ties: smaller index).
fn medoid(points: &dyn PointRows) -> u32 {
    let (n, dims) = (points.count(), points.dims());
    let mut centroid = vec![0.0f64; dims];
    let mut row = vec![0.0f32; dims];
    for i in 0..n as u32 {
        points.read_point(i, &mut row);
        centroid.iter_mut().zip(&row).for_each(|(c, x)| *c += *x as f64);
    }
    let centroid: Vec<f32> = centroid.iter().map(|c| (c / n.max(1) as f64) as f32).collect();
    (0..n as u32)
        .into_par_iter()
        .map_init(
            || vec![0.0f32; dims],
            |row, i| {
                points.read_point(i, row);
                (l2_squared(row, &centroid), i)
            },
        )
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map_or(0, |(_, i)| i)
}

/// `chosen[q]`: how many of q's edges (the first ones) the alpha rule chose, when they are
/// the output of a saturated prune; [`UNKNOWN`] otherwise.
const UNKNOWN: u32 = u32::MAX;

fn insert_batch(space: &Space, graph: &mut Graph, chosen: &mut [u32], batch: &[u32], params: &BuildParams, alpha: f32, saturate: bool) {
    // 1. Each point searches the frozen graph and prunes its own out-edges.
    let frozen = &*graph;
    let out: Vec<(Vec<u32>, u32)> = batch
        .par_iter()
        .map_init(
            || Scratch::new(params.build_list, space.len()),
            |scratch, &p| {
                let mut pool = greedy_search(space, frozen, p, scratch);
                pool.extend(space.pool(p, frozen.neighbours(p)));
                space.prune(p, &mut pool, alpha, params, saturate)
            },
        )
        .collect();
    for (&p, (edges, c)) in batch.iter().zip(out) {
        graph.set_neighbours(p, &edges);
        chosen[p as usize] = c;
    }

    // 2. Back-edges, grouped by target so each target is updated by exactly one task.
    let mut back: Vec<(u32, u32)> = batch.iter().flat_map(|&p| graph.neighbours(p).iter().map(move |&q| (q, p))).collect();
    back.par_sort_unstable();
    back.dedup();
    let groups: Vec<&[(u32, u32)]> = back.chunk_by(|a, b| a.0 == b.0).collect();
    // A saturated list is always full, so every back-edge would prune it in full; most
    // are added with a few distances instead (same result).
    let frozen = &*graph;
    let chosen_before = &*chosen;
    let updates: Vec<(u32, Vec<u32>, u32)> = groups
        .par_iter()
        .filter_map(|group| {
            let q = group[0].0;
            let current = frozen.neighbours(q);
            let new: Vec<u32> = group.iter().map(|&(_, p)| p).filter(|p| !current.contains(p)).collect();
            if new.is_empty() {
                return None;
            }
            if current.len() + new.len() <= params.max_degree {
                return Some((q, [current, &new].concat(), UNKNOWN));
            }
            let known = chosen_before[q as usize];
            let incremental =
                (saturate && known != UNKNOWN).then(|| space.insert_pruned(q, current, known, &new, alpha, params.max_degree));
            let (edges, c) = incremental
                .flatten()
                .unwrap_or_else(|| space.prune(q, &mut space.pool(q, &[current, &new].concat()), alpha, params, saturate));
            Some((q, edges, c))
        })
        .collect();
    for (q, edges, c) in updates {
        graph.set_neighbours(q, &edges);
        chosen[q as usize] = c;
    }
}

/// What one thread's searches reuse from one search to the next.
struct Scratch {
    candidates: Candidates,
    seen: Marks,
    /// A node's neighbours not seen before, and their distances to the query.
    fresh: Vec<u32>,
    dists: Vec<f32>,
}

impl Scratch {
    fn new(list: usize, points: usize) -> Self {
        Scratch { candidates: Candidates::new(list), seen: Marks::new(points), fresh: Vec::new(), dists: Vec::new() }
    }
}

/// Greedy beam search from the entry point for point `query`, in the build's space; returns
/// every expanded node with its distance (Vamana's visited set, the pool RobustPrune chooses from).
fn greedy_search(space: &Space, graph: &Graph, query: u32, scratch: &mut Scratch) -> Vec<(f32, u32)> {
    let Scratch { candidates, seen, fresh, dists } = scratch;
    candidates.clear();
    seen.clear();
    let mut expanded = Vec::with_capacity(candidates.capacity() * 2);
    seen.insert(graph.entry);
    candidates.insert(space.dist(query, graph.entry), graph.entry);
    while let Some(c) = candidates.next_unexpanded() {
        expanded.push((c.distance, c.id));
        // Kept without a branch on whether each was seen: about half are, unpredictably.
        let neighbours = graph.neighbours(c.id);
        fresh.resize(neighbours.len(), 0);
        let mut kept = 0;
        for &nb in neighbours {
            fresh[kept] = nb;
            kept += seen.insert(nb) as usize;
        }
        fresh.truncate(kept);
        dists.resize(fresh.len(), 0.0);
        space.dists_from(query, fresh, dists);
        // Most nodes that enter the list are expanded some hops later: their edges are
        // asked for now, not when they are next.
        candidates.insert_many(fresh, dists).iter().for_each(|&(_, id)| graph.prefetch(id));
    }
    expanded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::VectorSet;
    use crate::synthetic::Clustered;

    fn grid_points() -> Vec<f32> {
        let mut data = Vec::new();
        for x in 0..30 {
            for y in 0..30 {
                data.extend([x as f32, y as f32 * 1.01]);
            }
        }
        data
    }

    fn build_grid(threads: usize) -> Graph {
        let data = grid_points();
        let points = PointSet { dims: 2, data: &data };
        let params = BuildParams { max_degree: 16, build_list: 32, alpha: 1.2, seed: 3, saturate: true, sketch: true };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| build(&points, &params, &|_, _, _, _| {}))
    }

    #[test]
    fn builds_of_65_to_99_points_finish() {
        // When batches were 2% of the points, at most 1 here, the first pass took 64+
        // batches: the doubling batch size wrapped to 0 and the build never ended.
        for n in [65, 80, 99] {
            let data: Vec<f32> = (0..n * 2).map(|i| ((i * 7919) % 101) as f32).collect();
            let points = PointSet { dims: 2, data: &data };
            let params = BuildParams { max_degree: 8, build_list: 16, alpha: 1.2, seed: 1, saturate: true, sketch: true };
            let g = build(&points, &params, &|_, _, _, _| {});
            assert!((0..n as u32).all(|i| !g.neighbours(i).is_empty()), "n = {n}");
        }
    }

    #[test]
    fn alpha_above_one_takes_a_first_pass_at_one_with_the_same_list_unless_told_not_to() {
        let lists = |alpha, sketch| {
            let params = BuildParams { max_degree: 22, build_list: 128, alpha, seed: 1, saturate: true, sketch };
            passes(&params).iter().map(|(a, p)| (*a, p.build_list)).collect::<Vec<_>>()
        };
        assert_eq!(lists(1.2, true), [(1.0, 128), (1.2, 128)]);
        assert_eq!(lists(1.0, true), [(1.0, 128)]);
        assert_eq!(lists(1.2, false), [(1.2, 128)]);
    }

    #[test]
    fn graph_is_the_same_for_any_thread_count() {
        let a = build_grid(1);
        let b = build_grid(3);
        assert_eq!(a.entry, b.entry);
        assert_eq!(a.records(), b.records());
    }

    /// Points the graph cannot reach from its entry point.
    fn unreachable(g: &Graph) -> usize {
        let mut seen = vec![false; g.len()];
        let mut stack = vec![g.entry];
        seen[g.entry as usize] = true;
        while let Some(v) = stack.pop() {
            for &w in g.neighbours(v) {
                assert_ne!(w, v, "self edge");
                if !seen[w as usize] {
                    seen[w as usize] = true;
                    stack.push(w);
                }
            }
        }
        seen.iter().filter(|s| !**s).count()
    }

    #[test]
    fn every_point_is_reachable_and_degrees_are_bounded() {
        let g = build_grid(2);
        assert_eq!(unreachable(&g), 0);
        assert!((0..g.len() as u32).all(|i| g.neighbours(i).len() <= 16 && !g.neighbours(i).is_empty()));
    }

    #[test]
    fn every_build_ends_with_every_point_reachable() {
        // Sets where pruning cuts points off: tight clusters at a small degree, and a set
        // where every fifth vector is a copy of another. Twenty seeds each, saturated or
        // not: without the final pass 13 of the first 40 builds and 6 of the second 40
        // leave 1-4 points that no search can reach.
        let clustered = |seed| Clustered::standard(16, seed).sample(2000, 0);
        let with_copies = |seed| {
            let mut set = Clustered::standard(16, seed).sample(2000, 0);
            for i in (0..set.len()).step_by(5) {
                let copy = set.vector((i * 7919) % set.len()).to_vec();
                set.data[i * 16..(i + 1) * 16].copy_from_slice(&copy);
            }
            set
        };
        let mut repaired = 0;
        for (make, max_degree, build_list) in [(&clustered as &dyn Fn(u64) -> VectorSet, 8, 16), (&with_copies, 16, 64)] {
            for seed in 1..=20 {
                let set = make(seed);
                for saturate in [true, false] {
                    let params = BuildParams { max_degree, build_list, alpha: 1.2, seed, saturate, sketch: true };
                    let g = build(&PointSet { dims: 16, data: &set.data }, &params, &|_, _, _, _| {});
                    assert_eq!(unreachable(&g), 0, "seed {seed}, R {max_degree}, saturate {saturate}");
                    assert!((0..g.len() as u32).all(|i| g.neighbours(i).len() <= max_degree));
                    repaired += g.reconnected;
                }
            }
        }
        assert!(repaired > 0, "the sets no longer exercise the repair");
    }
}
