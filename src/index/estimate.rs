//! What a build will cost, from its plan alone: file size, memory and time, so
//! `build --dry-run` can answer before any input is read in full.
//!
//! The memory model adds up what a build holds at its peak (the vectors as f32, the
//! adjacency lists, the codes, the rowid map); the time model is the work of a Vamana
//! build (points x build list x degree x dimension) at a rate measured on this project's
//! reference machine (see the README). Both are estimates: the README gives how far the
//! measured figures were from them.

use super::budget::WRITE_CHUNK;
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
