//! Exact k-nearest neighbours by brute force: the oracle every graph result is judged by,
//! and the engine of `lmdiskann groundtruth`.
//!
//! Same semantics as the index: vectors prepared for the metric (cosine normalises), the
//! same distance kernels bit for bit, ties broken by the smaller rowid. The base arrives in
//! chunks and each query keeps a heap of its k best, so memory is O(queries x k + chunk)
//! whatever the base's size (and k beyond the base's rows costs nothing).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::io::{read_vectors_chunked, InputOptions, StreamSummary, VectorSet};
use crate::vector::{dot_many, l2_squared_many, Metric};

/// Queries per parallel task; fewer when there are few queries, so every thread has work.
const MAX_QUERY_BLOCK: usize = 64;
/// Base vectors scored per kernel call: their distances to a query block fit in L1/L2.
const BASE_BLOCK: usize = 256;
/// Bytes of base vectors read ahead while the previous chunk is scored.
const CHUNK_BYTES: usize = 32 << 20;

/// For each query, its nearest (rowid, user-facing distance) pairs, nearest first.
pub type Neighbours = Vec<Vec<(u64, f32)>>;

/// Exact search in progress: feed the base with [`ExactKnn::add`], then [`ExactKnn::finish`].
pub struct ExactKnn {
    metric: Metric,
    k: usize,
    dims: usize,
    /// Prepared queries, row-major.
    queries: Vec<f32>,
    best: Vec<TopK>,
    /// Base rows seen so far, to name a bad row by its position in the file.
    rows_seen: u64,
}

impl ExactKnn {
    /// Fails on a zero query under cosine (it has no cosine distance).
    pub fn new(queries: &VectorSet, metric: Metric, k: usize) -> Result<ExactKnn> {
        let mut data = queries.data.clone();
        if let Some(i) = metric.prepare_rows(&mut data, queries.dims) {
            return Err(Error::InvalidData(format!("query {i} (counting from 0) is a zero vector, which has no cosine distance")));
        }
        Ok(ExactKnn {
            metric,
            k,
            dims: queries.dims,
            queries: data,
            best: (0..queries.len()).map(|_| TopK::new(k)).collect(),
            rows_seen: 0,
        })
    }

    /// Scores the next chunk of the base against every query. Fails on a zero vector under
    /// cosine, naming its row in the whole base.
    pub fn add(&mut self, chunk: &VectorSet) -> Result<()> {
        if chunk.dims != self.dims {
            return Err(Error::InvalidData(format!(
                "the base vectors have {} dims but the queries have {}: both must come from the same embedding",
                chunk.dims, self.dims
            )));
        }
        // Only cosine changes the vectors (normalising); the other metrics read them in place.
        let data = if self.metric.normalises() {
            let mut data = chunk.data.clone();
            if let Some(i) = self.metric.prepare_rows(&mut data, self.dims) {
                return Err(Error::zero_vector(self.rows_seen + i as u64, chunk.rowids[i]));
            }
            Cow::Owned(data)
        } else {
            Cow::Borrowed(&chunk.data)
        };
        self.rows_seen += chunk.len() as u64;
        if self.best.is_empty() || self.k == 0 {
            return Ok(());
        }
        let dims = self.dims;
        let threads = rayon::current_num_threads().max(1);
        let block = self.best.len().div_ceil(4 * threads).clamp(1, MAX_QUERY_BLOCK);
        let metric = self.metric;
        self.best.par_chunks_mut(block).zip(self.queries.par_chunks(block * dims)).for_each(|(best, queries)| {
            let mut scores = vec![0.0f32; best.len() * BASE_BLOCK];
            for (base, rowids) in data.chunks(BASE_BLOCK * dims).zip(chunk.rowids.chunks(BASE_BLOCK)) {
                let scores = &mut scores[..best.len() * rowids.len()];
                match metric {
                    Metric::L2 => l2_squared_many(queries, base, dims, scores),
                    // Cosine on normalised vectors and ip both rank by -q.x.
                    Metric::Cosine | Metric::InnerProduct => {
                        dot_many(queries, base, dims, scores);
                        scores.iter_mut().for_each(|s| *s = -*s);
                    }
                }
                for (top, row) in best.iter_mut().zip(scores.chunks(rowids.len())) {
                    top.offer_all(row, rowids);
                }
            }
        });
        Ok(())
    }

    /// For each query, its k nearest (rowid, user-facing distance), nearest first.
    pub fn finish(self) -> Neighbours {
        let metric = self.metric;
        self.best
            .into_iter()
            .map(|top| top.into_sorted().into_iter().map(|c| (c.rowid, metric.user_distance(c.distance))).collect())
            .collect()
    }
}

/// For each query, the `k` nearest rowids of `base` with their user-facing distances.
pub fn exact_knn(base: &VectorSet, queries: &VectorSet, metric: Metric, k: usize) -> Result<Neighbours> {
    let mut knn = ExactKnn::new(queries, metric, k)?;
    knn.add(base)?;
    Ok(knn.finish())
}

/// Exact search over a base file of any size: a second thread reads the next chunk while
/// the current rayon pool scores the previous one. Returns the neighbours and what was read.
pub fn exact_knn_file(
    base: &Path,
    opts: &InputOptions,
    queries: &VectorSet,
    metric: Metric,
    k: usize,
) -> Result<(Neighbours, StreamSummary)> {
    let chunk_rows = (CHUNK_BYTES / (4 * queries.dims)).max(BASE_BLOCK);
    exact_knn_file_in_chunks(base, opts, queries, metric, k, chunk_rows)
}

fn exact_knn_file_in_chunks(
    base: &Path,
    opts: &InputOptions,
    queries: &VectorSet,
    metric: Metric,
    k: usize,
    chunk_rows: usize,
) -> Result<(Neighbours, StreamSummary)> {
    let mut knn = ExactKnn::new(queries, metric, k)?;
    let (sender, chunks) = sync_channel::<VectorSet>(1);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            read_vectors_chunked(base, opts, chunk_rows, &mut |chunk| match sender.send(chunk) {
                Ok(()) => ControlFlow::Continue(()),
                // The scorer failed and hung up: stop reading.
                Err(_) => ControlFlow::Break(()),
            })
        });
        let scored = chunks.into_iter().try_for_each(|chunk| knn.add(&chunk));
        // On a scoring error the receiver is gone by now, so the reader stops at its next chunk.
        let read = reader.join().expect("the reader thread does not panic");
        scored?;
        Ok((knn.finish(), read?))
    })
}

/// For each query, the `k` nearest rowids of `base`, nearest first.
pub fn exact_rowids(base: &VectorSet, queries: &VectorSet, metric: Metric, k: usize) -> Result<Vec<Vec<u64>>> {
    Ok(exact_knn(base, queries, metric, k)?.into_iter().map(|hits| hits.into_iter().map(|(r, _)| r).collect()).collect())
}

/// The k best candidates so far: a max-heap whose top is the one to evict next.
struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        // The heap grows with the base rows offered, so a k beyond them costs nothing.
        TopK { k, heap: BinaryHeap::with_capacity(k.min(1024) + 1) }
    }

    #[inline]
    fn offer_all(&mut self, distances: &[f32], rowids: &[u64]) {
        let mut i = 0;
        // Fill up to k without comparisons.
        while self.heap.len() < self.k && i < distances.len() {
            self.heap.push(Candidate { distance: distances[i], rowid: rowids[i] });
            i += 1;
        }
        let Some(mut worst) = self.heap.peek().copied() else { return };
        for (&distance, &rowid) in distances[i..].iter().zip(&rowids[i..]) {
            // Most candidates lose to the worst kept on distance alone: one compare each.
            if distance > worst.distance {
                continue;
            }
            let c = Candidate { distance, rowid };
            if c < worst {
                if let Some(mut top) = self.heap.peek_mut() {
                    *top = c;
                }
                worst = *self.heap.peek().expect("heap holds k >= 1 candidates");
            }
        }
    }

    fn into_sorted(self) -> Vec<Candidate> {
        self.heap.into_sorted_vec()
    }
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

/// Recall@k: the fraction of all true top-k neighbours (each query's first `k` of `truth`)
/// found in the answers' top k. Counted in whole hits, so a recall of exactly 0.97 compares
/// equal to a bar of 0.97.
pub fn recall_at_k(found: &[Vec<u64>], truth: &[Vec<u64>], k: usize) -> f64 {
    assert_eq!(found.len(), truth.len(), "one answer per query");
    let (mut hits, mut wanted) = (0usize, 0usize);
    for (f, t) in found.iter().zip(truth) {
        let t = &t[..k.min(t.len())];
        hits += f.iter().take(k).filter(|r| t.contains(r)).count();
        wanted += t.len();
    }
    if wanted == 0 {
        return 1.0;
    }
    hits as f64 / wanted as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::RowidSource;
    use crate::rng::Rng;

    fn set(dims: usize, rowids: Vec<u64>, data: Vec<f32>) -> VectorSet {
        VectorSet { dims, rowids, data, ..VectorSet::default() }
    }

    #[test]
    fn exact_knn_orders_by_distance_then_rowid() {
        let base = set(1, vec![10, 3, 7, 1], vec![2.0, 1.0, -1.0, 5.0]);
        let q = set(1, vec![0], vec![0.0]);
        let got = exact_knn(&base, &q, Metric::L2, 3).unwrap();
        assert_eq!(got[0].iter().map(|x| x.0).collect::<Vec<_>>(), vec![3, 7, 10]);
        assert_eq!(got[0][2].1, 2.0);
    }

    /// The obvious algorithm: every distance with the metric's own function, a full sort.
    fn naive(base: &VectorSet, queries: &VectorSet, metric: Metric, k: usize) -> Vec<Vec<(u64, f32)>> {
        let prep = |v: &[f32]| {
            let mut v = v.to_vec();
            metric.prepare(&mut v);
            v
        };
        (0..queries.len())
            .map(|i| {
                let q = prep(queries.vector(i));
                let mut all: Vec<(f32, u64)> =
                    (0..base.len()).map(|j| (metric.rank_distance(&q, &prep(base.vector(j))), base.rowids[j])).collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all.into_iter().take(k).map(|(d, r)| (r, metric.user_distance(d))).collect()
            })
            .collect()
    }

    #[test]
    fn chunked_search_equals_a_full_sort_for_every_metric_with_duplicates_and_ties() {
        let mut rng = Rng::new(5);
        let dims = 13;
        let n = 700;
        // Values on a coarse grid and repeated vectors make exact ties common.
        let mut data: Vec<f32> = (0..n * dims).map(|_| (rng.next_u64() % 7) as f32 - 3.0).collect();
        data.copy_within(0..50 * dims, 300 * dims);
        let mut rowids: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % 10_007).collect();
        rowids.reverse();
        let base = set(dims, rowids, data);
        let queries = set(dims, (0..9).collect(), base.data[..9 * dims].iter().map(|x| x + 0.5).collect());
        for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
            let expected = naive(&base, &queries, metric, 25);
            let mut knn = ExactKnn::new(&queries, metric, 25).unwrap();
            for start in (0..n).step_by(97) {
                let end = (start + 97).min(n);
                knn.add(&set(dims, base.rowids[start..end].to_vec(), base.data[start * dims..end * dims].to_vec())).unwrap();
            }
            assert_eq!(knn.finish(), expected, "{metric:?}");
        }
    }

    #[test]
    fn a_file_read_in_chunks_gives_the_in_memory_answer_and_names_bad_rows_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.parquet");
        let mut rng = Rng::new(8);
        let n = 1000;
        let mut base = set(6, (0..n as u64).map(|i| i * 5 + 3).collect(), (0..n * 6).map(|_| rng.unit() as f32 - 0.5).collect());
        crate::io::write_vectors_parquet(&path, &base, true).unwrap();
        let queries = set(6, vec![0, 1, 2], base.data[..18].iter().map(|x| x * 0.9).collect());
        let opts = InputOptions::default();
        let (got, read) = exact_knn_file_in_chunks(&path, &opts, &queries, Metric::Cosine, 7, 64).unwrap();
        assert_eq!(got, exact_knn(&base, &queries, Metric::Cosine, 7).unwrap());
        assert_eq!(read, StreamSummary { dims: 6, rows: n as u64, rowids_from: RowidSource::Column });
        base.data[700 * 6..701 * 6].fill(0.0);
        crate::io::write_vectors_parquet(&path, &base, true).unwrap();
        let err = exact_knn_file_in_chunks(&path, &opts, &queries, Metric::Cosine, 7, 64).unwrap_err().to_string();
        assert!(err.contains("row 700 (counting from 0; rowid 3503) is a zero vector"), "{err}");
    }

    #[test]
    fn fewer_base_rows_than_k_returns_them_all() {
        let base = set(2, vec![5, 6], vec![0.0, 1.0, 1.0, 0.0]);
        let q = set(2, vec![0], vec![1.0, 1.0]);
        assert_eq!(exact_knn(&base, &q, Metric::L2, 10).unwrap()[0].len(), 2);
    }

    #[test]
    fn zero_vectors_under_cosine_are_named() {
        let base = set(2, vec![5, 6], vec![1.0, 1.0, 0.0, 0.0]);
        let q = set(2, vec![0], vec![1.0, 1.0]);
        let err = exact_knn(&base, &q, Metric::Cosine, 1).unwrap_err().to_string();
        assert!(err.contains("row 1 (counting from 0; rowid 6) is a zero vector"), "{err}");
        let err = exact_knn(&q, &base, Metric::Cosine, 1).unwrap_err().to_string();
        assert!(err.contains("query 1 (counting from 0) is a zero vector"), "{err}");
    }

    #[test]
    fn recall_counts_overlap() {
        let truth = vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]];
        let found = vec![vec![1, 2, 9, 4], vec![8, 7, 6, 5]];
        assert_eq!(recall_at_k(&found, &truth, 4), (0.75 + 1.0) / 2.0);
    }
}
