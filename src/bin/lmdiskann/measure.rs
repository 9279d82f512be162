//! Running a batch of queries and judging it: recall against ground truth, QPS, latency
//! percentiles, blocks read. Shared by `search --groundtruth` and `tune`.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use lmdiskann::exact::recall_at_k;
use lmdiskann::index::{Index, Neighbour, ReadPath};
use lmdiskann::io::{read_groundtruth, read_vectors, InputOptions, VectorSet};
use lmdiskann::{SearchParams, SearchStats};
use serde_json::json;

/// Every query's hits and work, and the wall time of the whole batch.
pub struct Batch {
    pub results: Vec<(Vec<Neighbour>, SearchStats)>,
    pub seconds: f64,
}

/// Runs every query on `pool`.
pub fn run_batch(
    index: &Index,
    queries: &VectorSet,
    params: &SearchParams,
    path: ReadPath,
    pool: &rayon::ThreadPool,
) -> anyhow::Result<Batch> {
    let started = Instant::now();
    let results = pool.install(|| index.search_many_with(&queries.data, params, path))?;
    Ok(Batch { results, seconds: started.elapsed().as_secs_f64() })
}

/// What a batch achieved.
pub struct Summary {
    pub k: usize,
    pub search_list: usize,
    pub queries: usize,
    pub qps: f64,
    pub blocks_per_query: f64,
    /// p50, p95, p99 of per-query latency in milliseconds (queries run concurrently).
    pub latency_ms: [f64; 3],
    pub recall: Option<f64>,
}

impl Batch {
    pub fn summary(&self, params: &SearchParams, truth: Option<&[Vec<u64>]>) -> Summary {
        let n = self.results.len().max(1) as f64;
        let mut nanos: Vec<u64> = self.results.iter().map(|(_, s)| s.nanos).collect();
        nanos.sort_unstable();
        let recall = truth.map(|truth| {
            let found: Vec<Vec<u64>> = self.results.iter().map(|(hits, _)| hits.iter().map(|h| h.rowid).collect()).collect();
            recall_at_k(&found, truth, params.k)
        });
        Summary {
            k: params.k,
            search_list: params.search_list.max(params.k),
            queries: self.results.len(),
            qps: n / self.seconds.max(1e-9),
            blocks_per_query: self.results.iter().map(|(_, s)| s.blocks_read).sum::<u64>() as f64 / n,
            latency_ms: [0.50, 0.95, 0.99].map(|p| percentile(&nanos, p) as f64 / 1e6),
            recall,
        }
    }
}

/// Nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    /// One line for stderr.
    pub fn line(&self) -> String {
        let recall = self.recall.map_or(String::new(), |r| format!("recall@{} {r:.4}  ", self.k));
        let [p50, p95, p99] = self.latency_ms;
        format!(
            "{recall}QPS {:.0}  latency p50 {p50:.3} ms  p95 {p95:.3} ms  p99 {p99:.3} ms  blocks/query {:.1}  (L={}, {})",
            self.qps,
            self.blocks_per_query,
            self.search_list,
            lmdiskann::plural(self.queries as u64, "query")
        )
    }

    pub fn json(&self) -> serde_json::Value {
        let [p50, p95, p99] = self.latency_ms;
        json!({
            "k": self.k,
            "search_list": self.search_list,
            "queries": self.queries,
            "qps": self.qps,
            "blocks_read_per_query": self.blocks_per_query,
            "latency_ms": { "p50": p50, "p95": p95, "p99": p99 },
            "recall": self.recall,
        })
    }
}

/// Reads query vectors for `index`: any input format, the index's dims required.
pub fn read_queries(path: &Path, vector_column: Option<String>, index: &Index) -> anyhow::Result<VectorSet> {
    Ok(read_vectors(path, &InputOptions { vector_column, expect_dims: Some(index.dims()), ..Default::default() })?)
}

/// Reads ground truth for `queries` and checks that it can judge top-`k` answers: one row
/// per query, each with at least `k` neighbours.
pub fn load_truth(path: &Path, queries: usize, query_path: &Path, k: usize) -> anyhow::Result<Vec<Vec<u64>>> {
    let truth = read_groundtruth(path)?;
    if truth.len() != queries {
        bail!(
            "{}: ground truth has {} queries but {} has {}: make both from the same query file",
            path.display(),
            truth.len(),
            query_path.display(),
            queries
        );
    }
    if let Some((q, row)) = truth.iter().enumerate().find(|(_, row)| row.len() < k) {
        bail!(
            "{}: query {q} has {} true neighbours, fewer than -k {k}: regenerate it with `lmdiskann groundtruth -k {k}` or lower -k",
            path.display(),
            row.len()
        );
    }
    Ok(truth)
}

/// Refuses a count flag (-k, -L, --lists, --beam-width) above what any index can hold:
/// edges address slots with 32 bits, so a larger value is a slip, never a wish. Values
/// below it that exceed the index's rows are clamped by the search itself.
pub fn check_count(flag: &str, value: usize) -> anyhow::Result<()> {
    if value as u64 > u32::MAX as u64 {
        bail!(
            "{flag} {value} is more than any index can hold ({} rows); a value above the index's rows finds no more, so give at most that",
            u32::MAX
        );
    }
    Ok(())
}

/// Validates a recall bar given on the command line.
pub fn check_recall_bar(name: &str, value: f64) -> anyhow::Result<f64> {
    if !(0.0..=1.0).contains(&value) {
        bail!("{name} {value} is not a recall: give a number from 0 to 1, such as 0.95");
    }
    Ok(value)
}
