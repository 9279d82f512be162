//! Recall@10 at the default search settings against exact brute force, for every metric,
//! on seeded clustered data: 20k x 128 and 5k x 784.

use lmdiskann::exact::{exact_rowids, recall_at_k};
use lmdiskann::index::{build_index, Index, DEFAULT_BEAM_WIDTH};
use lmdiskann::synthetic::Clustered;
use lmdiskann::{BuildOptions, Metric, SearchParams};

const K: usize = 10;

fn recall_at_defaults(n: usize, dims: usize, metric: Metric) -> f64 {
    let data = Clustered::standard(dims, 7);
    let base = data.sample(n, 0);
    let queries = data.sample(200, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.lmd");
    let options = BuildOptions { metric, ..BuildOptions::default() };
    build_index(base.clone(), &options, &path, &|_, _, _| {}).unwrap();
    let index = Index::open(&path).unwrap();
    let params = SearchParams { k: K, search_list: index.default_search_list(), beam_width: DEFAULT_BEAM_WIDTH };
    let found: Vec<Vec<u64>> =
        index.search_many(&queries.data, &params).unwrap().into_iter().map(|(hits, _)| hits.iter().map(|h| h.rowid).collect()).collect();
    let truth: Vec<Vec<u64>> = exact_rowids(&base, &queries, metric, K).unwrap();
    let recall = recall_at_k(&found, &truth, K);
    eprintln!("{n} x {dims} {metric:?}: recall@{K} = {recall:.4}");
    recall
}

#[test]
fn recall_20k_x_128_l2() {
    assert!(recall_at_defaults(20_000, 128, Metric::L2) >= 0.95);
}

#[test]
fn recall_20k_x_128_cosine() {
    assert!(recall_at_defaults(20_000, 128, Metric::Cosine) >= 0.95);
}

#[test]
fn recall_20k_x_128_ip() {
    assert!(recall_at_defaults(20_000, 128, Metric::InnerProduct) >= 0.95);
}

#[test]
fn recall_5k_x_784_l2() {
    assert!(recall_at_defaults(5_000, 784, Metric::L2) >= 0.95);
}

#[test]
fn recall_5k_x_784_cosine() {
    assert!(recall_at_defaults(5_000, 784, Metric::Cosine) >= 0.95);
}

#[test]
fn recall_5k_x_784_ip() {
    assert!(recall_at_defaults(5_000, 784, Metric::InnerProduct) >= 0.95);
}
