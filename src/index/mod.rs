//! An index as a whole: build one from vectors into a file, open one and search it, and
//! report what is in it.

mod budget;
mod build;
mod check;
mod estimate;
mod partitioned;
mod shard;
mod stats;
mod update;
mod validate;

pub use budget::{available_memory, choose_strategy, navigation_rows, partition_layout, BuildStrategy, PartitionLayout, OVERLAP};
pub use build::{
    build_index, build_index_from_path, build_index_from_path_in, build_index_in, default_element_type, BuildOptions, BuildReport, Stage,
};
pub use check::{check_index, CheckReport};
pub use estimate::{estimate_build, estimate_partitioned_seconds, BuildEstimate};
pub use shard::{build_shard, merge_shards, plan_shards, ShardBuilt, ShardPlan, PLAN_FILE};
pub use stats::{collect_stats, IndexStats};
pub use update::{delete, delete_with_progress, insert, vacuum, vacuum_with_progress, UpdateOptions, UpdateReport, DEFAULT_AUTO_VACUUM};
pub use validate::{check_against, sample_recall, AgainstReport, SampleRecall};

use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::graph::{self, SearchParams, SearchStats};
use crate::quant::CodeSpace;
use crate::storage::{FileStorage, IndexFile, IndexWriter, Storage};
use crate::vector::Metric;

/// Records `search_list` as the index's default search list (0 clears it), rewriting the
/// header in place under the rollback journal.
pub fn save_default_search_list(path: &Path, search_list: u32, modified_ms: u64) -> Result<SavedSearchList> {
    let mut writer = IndexWriter::open(&FileStorage, path, false)?;
    writer.require_current_format()?;
    let removed_tmp = writer.removed_tmp();
    let header = writer.header_mut();
    let previous = header.default_search_list;
    header.default_search_list = search_list;
    header.modified_ms = modified_ms;
    writer.commit()?;
    Ok(SavedSearchList { previous, removed_tmp })
}

/// What recording a default search list replaced.
#[derive(Clone, Copy, Debug)]
pub struct SavedSearchList {
    /// The list recorded before (0: none).
    pub previous: u32,
    /// Opening removed a temporary file an interrupted command left.
    pub removed_tmp: bool,
}

/// The search list used when neither the caller nor the header names one.
pub const DEFAULT_SEARCH_LIST: usize = 64;
/// Candidates expanded (and prefetched) together. 1 is fastest when the index's pages are
/// in the page cache (prefetch advice then costs a system call for nothing); raise it for
/// cold indexes on slow disks, where overlapping the reads pays.
pub const DEFAULT_BEAM_WIDTH: usize = 1;

/// One search result: a rowid and its distance under the index's metric, as DuckDB's
/// `array_distance` / `array_cosine_distance` / `array_negative_inner_product` report it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub rowid: u64,
    pub distance: f32,
}

/// An open index, ready to search. Memory held is O(dims), whatever the index size.
pub struct Index {
    file: IndexFile,
    codes: CodeSpace,
}

impl Index {
    pub fn open(path: &Path) -> Result<Index> {
        Index::open_in(&FileStorage, path)
    }

    /// [`Index::open`] in `storage`.
    pub fn open_in(storage: &dyn Storage, path: &Path) -> Result<Index> {
        let file = IndexFile::open_in(storage, path)?;
        let h = file.header();
        let codes = h.code_kind.space(h.metric, h.centroid.clone(), h.seed);
        Ok(Index { file, codes })
    }

    pub fn file(&self) -> &IndexFile {
        &self.file
    }

    pub fn metric(&self) -> Metric {
        self.file.header().metric
    }

    pub fn dims(&self) -> usize {
        self.file.header().dims as usize
    }

    /// The search list a search uses when the caller does not set one: the header's
    /// recorded default, else `DEFAULT_SEARCH_LIST`.
    pub fn default_search_list(&self) -> usize {
        match self.file.header().default_search_list {
            0 => DEFAULT_SEARCH_LIST,
            l => l as usize,
        }
    }

    /// `params` as a search of this index runs them: k at most the live rows, the list at
    /// most the nodes (see [`SearchParams::within`]).
    pub fn within(&self, params: &SearchParams) -> SearchParams {
        let h = self.file.header();
        params.within(h.live, h.live + h.tombstoned)
    }

    /// The `params.k` nearest live rows to `query`, nearest first (ties: smaller rowid).
    pub fn search(&self, query: &[f32], params: &SearchParams) -> Result<(Vec<Neighbour>, SearchStats)> {
        let started = std::time::Instant::now();
        if query.len() != self.dims() {
            return Err(Error::InvalidData(format!("query has {} dims but the index has {}", query.len(), self.dims())));
        }
        let metric = self.metric();
        let mut q = query.to_vec();
        if !metric.prepare(&mut q) {
            return Err(Error::InvalidData("a zero query vector has no cosine distance".into()));
        }
        let (hits, mut stats) = graph::search(&self.file, &self.codes, metric, &q, params)?;
        stats.nanos = started.elapsed().as_nanos() as u64;
        let hits = hits.into_iter().map(|(d, rowid)| Neighbour { rowid, distance: metric.user_distance(d) }).collect();
        Ok((hits, stats))
    }

    /// Searches every row of `queries` (row-major, `dims` wide) in parallel on the current
    /// rayon pool. Results are in query order.
    pub fn search_many(&self, queries: &[f32], params: &SearchParams) -> Result<Vec<(Vec<Neighbour>, SearchStats)>> {
        queries
            .par_chunks(self.dims())
            .enumerate()
            .map(|(i, q)| {
                self.search(q, params).map_err(|e| match e {
                    Error::InvalidData(m) => Error::InvalidData(format!("query {i}: {m}")),
                    other => other,
                })
            })
            .collect()
    }
}

/// The rowids of each query's top `k` on the index at `path`, at search list `list`.
#[cfg(test)]
fn search_all(path: &Path, queries: &crate::io::VectorSet, k: usize, list: usize) -> Vec<Vec<u64>> {
    let index = Index::open(path).unwrap();
    let params = SearchParams { k, search_list: list, beam_width: 1 };
    let hits = index.search_many(&queries.data, &params).unwrap();
    hits.into_iter().map(|(h, _)| h.into_iter().map(|n| n.rowid).collect()).collect()
}
