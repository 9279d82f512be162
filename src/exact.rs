//! Exact k-nearest neighbours by brute force: the oracle every graph result is judged by.
//! Same semantics as the index: vectors prepared for the metric, ties by smaller rowid.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::io::VectorSet;
use crate::vector::Metric;

/// For each query, the `k` nearest rowids of `base` with their user-facing distances.
pub fn exact_knn(base: &VectorSet, queries: &VectorSet, metric: Metric, k: usize) -> Vec<Vec<(u64, f32)>> {
    let base_data = prepared(base, metric);
    let query_data = prepared(queries, metric);
    query_data
        .par_chunks(queries.dims)
        .map(|q| {
            // A max-heap of the k best so far: O(k) memory per query, whatever the base size.
            let mut best: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k + 1);
            for (v, &rowid) in base_data.chunks_exact(base.dims).zip(&base.rowids) {
                let c = Candidate { distance: metric.rank_distance(q, v), rowid };
                if best.len() < k {
                    best.push(c);
                } else if best.peek().is_some_and(|worst| c < *worst) {
                    best.pop();
                    best.push(c);
                }
            }
            best.into_sorted_vec().into_iter().map(|c| (c.rowid, metric.user_distance(c.distance))).collect()
        })
        .collect()
}

/// Ordered by distance, then rowid: the same total order as the index's results.
#[derive(Clone, Copy, PartialEq)]
struct Candidate {
    distance: f32,
    rowid: u64,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.rowid.cmp(&other.rowid))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The vectors as the metric compares them: only cosine changes them (normalising); the
/// other metrics read them in place.
fn prepared(set: &VectorSet, metric: Metric) -> Cow<'_, [f32]> {
    if !metric.normalises() {
        return Cow::Borrowed(&set.data);
    }
    let mut data = set.data.clone();
    data.par_chunks_mut(set.dims).for_each(|v| {
        metric.prepare(v);
    });
    Cow::Owned(data)
}

/// Mean recall@k: the fraction of each query's true top-k found in its top-k answer.
pub fn recall_at_k(found: &[Vec<u64>], truth: &[Vec<u64>], k: usize) -> f64 {
    assert_eq!(found.len(), truth.len(), "one answer per query");
    if truth.is_empty() {
        return 1.0;
    }
    let mut total = 0.0;
    for (f, t) in found.iter().zip(truth) {
        let t = &t[..k.min(t.len())];
        if t.is_empty() {
            total += 1.0;
            continue;
        }
        let hit = f.iter().take(k).filter(|r| t.contains(r)).count();
        total += hit as f64 / t.len() as f64;
    }
    total / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_knn_orders_by_distance_then_rowid() {
        let base = VectorSet { dims: 1, rowids: vec![10, 3, 7, 1], data: vec![2.0, 1.0, -1.0, 5.0] };
        let q = VectorSet { dims: 1, rowids: vec![0], data: vec![0.0] };
        let got = exact_knn(&base, &q, Metric::L2, 3);
        assert_eq!(got[0].iter().map(|x| x.0).collect::<Vec<_>>(), vec![3, 7, 10]);
        assert_eq!(got[0][2].1, 2.0);
    }

    #[test]
    fn recall_counts_overlap() {
        let truth = vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]];
        let found = vec![vec![1, 2, 9, 4], vec![8, 7, 6, 5]];
        assert_eq!(recall_at_k(&found, &truth, 4), (0.75 + 1.0) / 2.0);
    }
}
