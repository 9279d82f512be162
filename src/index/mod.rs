//! An index as a whole: build one from vectors into a file, open one and search it, and
//! report what is in it.

mod budget;
mod build;
mod check;
mod estimate;
mod hot;
#[cfg(target_os = "linux")]
mod overlapped;
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

/// Each query's hits, nearest first, and the work its search did.
pub type QueryResults = Vec<(Vec<Neighbour>, SearchStats)>;

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
        let q = self.prepare(query)?;
        let (hits, mut stats) = graph::search(&self.file, &self.codes, self.metric(), &q, params)?;
        stats.nanos = started.elapsed().as_nanos() as u64;
        Ok((self.neighbours(hits), stats))
    }

    /// `query` as the search ranks with it, or why it cannot be searched.
    fn prepare(&self, query: &[f32]) -> Result<Vec<f32>> {
        if query.len() != self.dims() {
            return Err(Error::InvalidData(format!("query has {} dims but the index has {}", query.len(), self.dims())));
        }
        let mut q = query.to_vec();
        if !self.metric().prepare(&mut q) {
            return Err(Error::InvalidData("a zero query vector has no cosine distance".into()));
        }
        Ok(q)
    }

    fn neighbours(&self, hits: Vec<(f32, u64)>) -> Vec<Neighbour> {
        let metric = self.metric();
        hits.into_iter().map(|(d, rowid)| Neighbour { rowid, distance: metric.user_distance(d) }).collect()
    }

    /// Searches every row of `queries` (row-major, `dims` wide) in parallel on the current
    /// rayon pool, reading as [`ReadPath::Auto`] chooses. Results are in query order.
    pub fn search_many(&self, queries: &[f32], params: &SearchParams) -> Result<QueryResults> {
        self.search_many_with(queries, params, ReadPath::Auto)
    }

    /// [`Index::search_many`], reading blocks as `path` says.
    pub fn search_many_with(&self, queries: &[f32], params: &SearchParams, path: ReadPath) -> Result<QueryResults> {
        #[cfg(target_os = "linux")]
        if self.resolve(path) == ReadPath::Overlapped {
            if let Some(found) = self.search_overlapped(queries, params) {
                return found;
            }
        }
        if path == ReadPath::Overlapped {
            return Err(Error::InvalidParameter(format!(
                "overlapped reads need io_uring (Linux), which this system does not allow, and rounds of at most {} MiB of blocks (beam width x block size)",
                BUFFER_BYTES >> 20
            )));
        }
        queries.par_chunks(self.dims()).enumerate().map(|(i, q)| self.search(q, params).map_err(with_query(i))).collect()
    }

    /// What [`ReadPath::Auto`] would read with now (the others stay as they are).
    pub fn resolve(&self, path: ReadPath) -> ReadPath {
        match path {
            ReadPath::Auto if cfg!(target_os = "linux") && !self.mostly_cached() => ReadPath::Overlapped,
            ReadPath::Auto => ReadPath::Map,
            other => other,
        }
    }

    /// Whether the page cache holds so much of the index that reading through the map
    /// beats overlapped reads: a block in the cache costs a copy and a system call more
    /// that way, while a block not in it stalls the map's reader for a whole disk read.
    fn mostly_cached(&self) -> bool {
        self.file.resident_share().is_none_or(|share| share >= MOSTLY_CACHED)
    }

    /// Every query searched with overlapped reads, each thread taking a share of them;
    /// None when this system cannot read that way, or one round's blocks would not fit
    /// a thread's buffers.
    #[cfg(target_os = "linux")]
    fn search_overlapped(&self, queries: &[f32], params: &SearchParams) -> Option<Result<QueryResults>> {
        use crate::storage::OverlappedReads;
        let dims = self.dims();
        let total = queries.len() / dims;
        // A round holds at most the list, which a search that widens it may take up to the
        // node count; as many queries fly as their rounds' buffers fit.
        let header = self.file.header();
        let width = params.beam_width.clamp(1, (header.live + header.tombstoned).max(1) as usize);
        let flights = (BUFFER_BYTES / (width * self.file.layout().block_size)).min(QUERIES_IN_FLIGHT);
        if flights == 0 {
            return None;
        }
        // A long list makes each search's state large: fewer fly, so that a thread's
        // memory stays bounded whatever L is asked for.
        let flights = flights.min(SEARCH_STATE_BYTES / graph::Search::state_bytes(&self.file, params)).max(1);
        let buffers = flights * width;
        // Can the kernel do it at all? (A seccomp profile may forbid io_uring.)
        drop(OverlappedReads::new(&self.file, 1)?);
        // A few shares per thread, so a thread that finishes early takes another.
        let share = total.div_ceil(rayon::current_num_threads() * 4).max(QUERIES_IN_FLIGHT);
        let found: Result<Vec<QueryResults>> = queries
            .par_chunks(share * dims)
            .enumerate()
            .map(|(chunk, rows)| {
                let first = chunk * share;
                let mut reads = OverlappedReads::new(&self.file, buffers)
                    .ok_or_else(|| Error::InvalidParameter("io_uring stopped being available".into()))?;
                let mut out: Vec<Option<(Vec<Neighbour>, SearchStats)>> = (0..rows.len() / dims).map(|_| None).collect();
                let mut handed = rows.chunks_exact(dims).enumerate();
                let mut next = || handed.next().map(|(i, q)| self.prepare(q).map(|p| (i, p)).map_err(with_query(first + i)));
                overlapped::search_overlapped(
                    &self.file,
                    &self.codes,
                    self.metric(),
                    params,
                    flights,
                    &mut reads,
                    &mut next,
                    &mut |i, hits, stats| out[i] = Some((self.neighbours(hits), stats)),
                )?;
                Ok(out.into_iter().map(|r| r.expect("every query finished")).collect())
            })
            .collect();
        Some(found.map(|chunks| chunks.into_iter().flatten().collect()))
    }
}

/// Names query `i` in an error about the query itself.
fn with_query(i: usize) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::InvalidData(m) => Error::InvalidData(format!("query {i}: {m}")),
        other => other,
    }
}

/// How a search of many queries reads the index's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadPath {
    /// The map when the page cache holds nearly all of the index, else overlapped reads
    /// where the system has them.
    Auto,
    /// Through the memory map: a block not in the page cache is a page fault, read while
    /// the thread waits.
    Map,
    /// Into buffers of the search's own, many reads in flight per thread (io_uring, Linux).
    Overlapped,
}

impl ReadPath {
    pub const ALL: [ReadPath; 3] = [ReadPath::Auto, ReadPath::Map, ReadPath::Overlapped];

    pub fn from_name(name: &str) -> Option<ReadPath> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            ReadPath::Auto => "auto",
            ReadPath::Map => "mmap",
            ReadPath::Overlapped => "overlapped",
        }
    }
}

/// Queries each thread keeps in flight when reading overlapped: enough reads in flight
/// for an SSD's queue. A 25k x 384 index, 25% in the cache, L 24, median QPS of three
/// with 16 / 32 / 64 / 128 in flight: one thread 2,830 / 3,250 / 3,038 / 3,072, two
/// threads 3,242 / 3,747 / 4,321 / 4,266. Each query's latency grows with the flights
/// (p50 at two threads 9 / 15 / 23 / 47 ms): the search is for throughput.
const QUERIES_IN_FLIGHT: usize = 64;

/// Bytes of block buffers a thread reading overlapped may hold.
const BUFFER_BYTES: usize = 8 << 20;

/// Bytes of search state (seen sets, candidates) of the queries a thread keeps in flight:
/// 64 searches with L 64 and R 42 (34 KiB each), 7 with L 512 and R 64 (526 KiB each).
const SEARCH_STATE_BYTES: usize = 4 << 20;

/// The share of an index in the page cache from which [`ReadPath::Auto`] reads through
/// the map.
const MOSTLY_CACHED: f64 = 0.95;

/// The rowids of each query's top `k` on the index at `path`, at search list `list`.
#[cfg(test)]
fn search_all(path: &Path, queries: &crate::io::VectorSet, k: usize, list: usize) -> Vec<Vec<u64>> {
    let index = Index::open(path).unwrap();
    let params = SearchParams { k, search_list: list, beam_width: 1 };
    let hits = index.search_many(&queries.data, &params).unwrap();
    hits.into_iter().map(|(h, _)| h.into_iter().map(|n| n.rowid).collect()).collect()
}
