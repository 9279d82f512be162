//! Exact k-nearest neighbours by brute force: the oracle every graph result is judged by.
//! Same semantics as the index: vectors prepared for the metric, ties by smaller rowid.

use rayon::prelude::*;

use crate::io::VectorSet;
use crate::vector::Metric;

/// For each query, the `k` nearest rowids of `base` with their user-facing distances.
pub fn exact_knn(base: &VectorSet, queries: &VectorSet, metric: Metric, k: usize) -> Vec<Vec<(u64, f32)>> {
    let prepare = |set: &VectorSet| -> Vec<f32> {
        let mut data = set.data.clone();
        if metric.normalises() {
            data.par_chunks_mut(set.dims).for_each(|v| {
                metric.prepare(v);
            });
        }
        data
    };
    let base_data = prepare(base);
    let query_data = prepare(queries);
    query_data
        .par_chunks(queries.dims)
        .map(|q| {
            let mut all: Vec<(f32, u64)> = base_data
                .chunks_exact(base.dims)
                .zip(&base.rowids)
                .map(|(v, &r)| (metric.rank_distance(q, v), r))
                .collect();
            let by = |a: &(f32, u64), b: &(f32, u64)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            if all.len() > k {
                all.select_nth_unstable_by(k, by);
                all.truncate(k);
            }
            all.sort_by(by);
            all.into_iter().map(|(d, r)| (r, metric.user_distance(d))).collect()
        })
        .collect()
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
