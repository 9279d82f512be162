//! What a build will cost, from its plan alone: file size, memory and time, so
//! `build --dry-run` can answer before any input is read in full.
//!
//! The memory model adds up what a build holds at its peak (the vectors as f32, the
//! adjacency lists, the codes, the rowid map); the time model is the work of a Vamana
//! build (points x build list x degree x dimension) at a rate measured on this project's
//! reference machine (see the README). Both are estimates: the README gives how far the
//! measured figures were from them.

use super::budget::{navigation_rows, PartitionLayout, WRITE_CHUNK};
use super::BuildOptions;
use crate::format::{rowid_map, Plan, PlanRequest};
use crate::vector::Metric;

/// A build's cost, predicted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuildEstimate {
    pub file_bytes: u64,
    pub build_peak_bytes: u64,
    /// Heap a single search needs (its lists and lookup tables); the file itself is
    /// mapped, and its hot blocks live in the page cache, which the kernel may evict.
    pub search_bytes_per_query: u64,
    pub build_seconds: f64,
}

/// Build work per second per thread, where the work of a build is
/// `points x build list x R x (dims + DISTANCE_OVERHEAD) x log2(points)`: every insertion
/// searches (about log n hops of L candidates) and prunes over R-sized lists. From builds
/// with a first pass at half the build list, on a loaded 2-core machine (half the CPU
/// seconds of a 2-thread build; README, "build --dry-run"): SIFT 5k, MNIST 9k and 25k x 384
/// synthetic took 1.1x of this estimate, and 25k text embeddings about 2.5x (harder data,
/// longer searches).
const WORK_PER_SECOND_PER_THREAD: f64 = 3.7e10;
/// Per-distance cost beyond the coordinates (candidate lists, pruning), in coordinates.
const DISTANCE_OVERHEAD: f64 = 100.0;
/// A build without saturation does about 10% less work (0.75-1.0x measured).
const UNSATURATED_FACTOR: f64 = 0.9;
/// A partition's graph takes one pass where the one-shot build takes two (see
/// `partitioned::build_partition`): 175 s against 265 s for the partition graphs of 1M x 128
/// under 512 MiB.
const ONE_PASS_SHARE: f64 = 0.65;
/// The merge's own work per row (reading the partition graphs, the unions, the re-prunes),
/// in thread-seconds: 30 s a million rows on 2 threads where every vector it read was in
/// the page cache (1M x 128 under 1 GiB; README, "Scale").
const MERGE_SECONDS_PER_ROW_PER_THREAD: f64 = 6e-5;
/// Bytes read from disk for each candidate vector the page cache misses: the page it
/// lies in. A row's re-prune reads about R of them, the candidates its other partition
/// gives, scattered over the points file.
const MERGE_PAGE: f64 = 4096.0;
/// The share of the budget the merge leaves to the page cache for the points file; the
/// reads it misses come from disk at [`DISK_BYTES_PER_SECOND`]. Fitted to the merges of
/// 1M and 2M x 128 under 256 MiB to 1 GiB (30-432 s) and 5M under 512 MiB, whose reads
/// were 370 GB against the model's 360 GB (README, "Scale").
const MERGE_CACHE_SHARE: f64 = 0.85;
/// Random 4 KiB reads from the reference machine's disk (312-617 MB/s measured in merges).
const DISK_BYTES_PER_SECOND: f64 = 4e8;
/// What the process holds before it reads anything (code, allocator, thread stacks).
pub(super) const PROCESS_BYTES: f64 = 5.0 * 1024.0 * 1024.0;
/// Allocator slack and buffers the model does not itemise, as measured.
pub(super) const MEMORY_SLACK: f64 = 1.15;

/// Predicts the cost of building `rows` vectors of `dims` dims with `plan`.
pub fn estimate_build(opts: &BuildOptions, request: &PlanRequest, plan: &Plan, rows: u64, threads: usize) -> BuildEstimate {
    let (n, d, r) = (rows as f64, request.dims as f64, plan.max_degree as f64);
    let bs = plan.block_size as f64;
    let code_len = plan.layout.code_len as f64;
    let file_bytes = (rows + 1 + rowid_map::pages_for(rows, plan.block_size)) * plan.block_size as u64;

    // Under ip the graph is built over an augmented copy with one more coordinate.
    let ip = opts.metric == Metric::InnerProduct;
    let graph_dims = if ip { d + 1.0 } else { d };
    let per_vector = 4.0 * (d + if ip { graph_dims } else { 0.0 }) // vectors as f32 (+ the copy)
        + if request.element_type.is_integer() { d } else { 0.0 } // stored bytes of integer types
        + 2.0 * graph_dims + 1.0            // the codes the graph is measured on (at most 2 B a value), visited marks
        + 4.0 * (r + 1.0)                   // adjacency records (a degree and R edge slots)
        + code_len                          // every vector's code
        + 8.0 + 8.0 + 16.0; // rowids, the uniqueness check, the rowid map
    let build_peak_bytes = (MEMORY_SLACK * (n * per_vector + 2.0 * WRITE_CHUNK as f64 * bs) + PROCESS_BYTES) as u64;

    let list = opts.build_list.max(plan.max_degree) as f64;
    // At the default search list: the prepared query, the visited set (two slots per id
    // seen), candidates and results.
    let search_list = crate::index::DEFAULT_SEARCH_LIST as f64;
    let search_bytes_per_query =
        (request.code_kind.query_bytes(request.dims) as f64 + 4.0 * d + 2.0 * 4.0 * search_list * r + 24.0 * search_list) as u64;

    let work = n * list * r * (graph_dims + DISTANCE_OVERHEAD) * n.max(2.0).log2() * if opts.saturate { 1.0 } else { UNSATURATED_FACTOR };
    let build_seconds = work / (WORK_PER_SECOND_PER_THREAD * threads.max(1) as f64);
    BuildEstimate { file_bytes, build_peak_bytes, search_bytes_per_query, build_seconds }
}

/// Predicts the time of a partitioned build of `rows` vectors with `layout` within `budget`
/// bytes: each partition's graph (a one-pass Vamana build of its rows, each row in
/// `overlap` of them), the graph of the rows that link the partitions, and the merge,
/// whose re-prunes read a row's candidates from its other partition in place: from the
/// page cache while the points file (f32) fits what the budget leaves it, else a page from
/// disk each.
pub fn estimate_partitioned_seconds(
    opts: &BuildOptions,
    request: &PlanRequest,
    plan: &Plan,
    layout: &PartitionLayout,
    rows: u64,
    budget: u64,
    threads: usize,
) -> f64 {
    let n = rows as f64;
    let points_bytes = 4.0 * request.dims as f64 * n;
    let missed = (1.0 - MERGE_CACHE_SHARE * budget as f64 / points_bytes).clamp(0.0, 1.0);
    let merge = n * MERGE_SECONDS_PER_ROW_PER_THREAD / threads.max(1) as f64
        + n * plan.max_degree as f64 * MERGE_PAGE * missed / DISK_BYTES_PER_SECOND;
    partition_graph_seconds(opts, request, plan, layout, rows, threads) + merge
}

/// The partitions' graphs of [`estimate_partitioned_seconds`], the linking rows' included.
fn partition_graph_seconds(
    opts: &BuildOptions,
    request: &PlanRequest,
    plan: &Plan,
    layout: &PartitionLayout,
    rows: u64,
    threads: usize,
) -> f64 {
    let graph_seconds = |rows| ONE_PASS_SHARE * estimate_build(opts, request, plan, rows, threads).build_seconds;
    let per_partition = (rows * layout.overlap as u64).div_ceil(layout.partitions.max(1) as u64);
    layout.partitions as f64 * graph_seconds(per_partition) + graph_seconds(navigation_rows(rows, layout.max_partition_rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::plan;
    use crate::vector::ElementType;

    #[test]
    fn the_merge_costs_disk_reads_only_when_the_points_outgrow_the_budget() {
        let opts = BuildOptions::default();
        let request = opts.plan_request(128, ElementType::F32);
        let plan = plan(&request).unwrap();
        let rows = 2_000_000;
        let points = 4 * 128 * rows;
        let seconds = |budget: u64| {
            let layout = super::super::partition_layout(&opts, &request, &plan, rows, budget).unwrap();
            (layout, estimate_partitioned_seconds(&opts, &request, &plan, &layout, rows, budget, 2))
        };
        // A budget the points file fits (with the merge's share of it): the partitions'
        // graphs and the merge's own work only.
        let (layout, roomy) = seconds(2 * points);
        let graphs = |layout: &PartitionLayout| partition_graph_seconds(&opts, &request, &plan, layout, rows, 2);
        let own = rows as f64 * MERGE_SECONDS_PER_ROW_PER_THREAD / 2.0;
        assert!((roomy - graphs(&layout) - own).abs() < 1e-6, "{roomy}");
        // A quarter of the points file: most of a row's reads from its other partition
        // are a page from disk each.
        let (layout, tight) = seconds(points / 4);
        let reads = tight - graphs(&layout) - own;
        let pages = rows as f64 * plan.max_degree as f64 * (1.0 - MERGE_CACHE_SHARE / 4.0);
        assert!((reads * DISK_BYTES_PER_SECOND / MERGE_PAGE - pages).abs() < 1.0, "{reads} s of reads");
        assert!(reads > 2.0 * own, "{reads} s of reads, {own} s of the merge's own work");
    }
}
