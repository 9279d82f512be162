//! How much memory a build may use, and how a build fits into it: in one piece when the
//! vectors and the graph fit, else in partitions that overlap (each vector in its 2
//! nearest), built one at a time and merged.
//!
//! "Memory" is the process's own (anonymous) memory. The temporary files a partitioned
//! build writes are read through the page cache, which the kernel evicts under pressure.

use super::estimate::{estimate_build, MEMORY_SLACK, PROCESS_BYTES};
use super::BuildOptions;
use crate::error::{Error, Result};
use crate::format::{rowid_map, Plan, PlanRequest};
use crate::vector::Metric;

/// Partitions each vector is assigned to.
pub const OVERLAP: usize = 2;

/// How a partitioned build splits its input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionLayout {
    pub partitions: usize,
    /// Partitions each vector joins (its nearest ones).
    pub overlap: usize,
    /// Rows sampled to find the partitions' centres (k-means).
    pub sample_rows: u64,
    /// The most rows one partition may hold: what the budget allows one partition's
    /// in-memory build. A vector whose nearest partitions are full goes to the next nearest.
    pub max_partition_rows: u64,
    /// Temporary disk the build needs beside the output at its peak.
    pub temp_bytes: u64,
    /// The process's own memory at the build's peak, as estimated.
    pub peak_bytes: u64,
}

/// How a build of `rows` vectors runs within a memory budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BuildStrategy {
    /// Every vector and the whole graph in memory at once (the fastest build).
    OneShot {
        peak_bytes: u64,
    },
    Partitioned(PartitionLayout),
}

impl BuildStrategy {
    pub fn peak_bytes(&self) -> u64 {
        match self {
            BuildStrategy::OneShot { peak_bytes } => *peak_bytes,
            BuildStrategy::Partitioned(layout) => layout.peak_bytes,
        }
    }
}

/// Chooses how to build `rows` vectors with `plan` within `budget` bytes of the process's
/// own memory: one-shot when it fits, else partitioned. Refuses a budget too small for
/// any build, naming the smallest that would do.
pub fn choose_strategy(opts: &BuildOptions, request: &PlanRequest, plan: &Plan, rows: u64, budget: u64) -> Result<BuildStrategy> {
    let one_shot = estimate_build(opts, request, plan, rows, 1).build_peak_bytes;
    if one_shot <= budget {
        return Ok(BuildStrategy::OneShot { peak_bytes: one_shot });
    }
    match Model::new(opts, request, plan, rows).layout_within(budget) {
        Ok(layout) => Ok(BuildStrategy::Partitioned(layout)),
        Err(needed) => Err(too_small(budget, needed.min(one_shot), rows, request.dims)),
    }
}

/// The partitions a build of `rows` vectors with `plan` splits into within `budget`: what
/// [`choose_strategy`] chooses when the one-shot build does not fit (a sharded build
/// splits whether it does or not). Refuses a budget too small for any layout, naming the
/// smallest that would do.
pub fn partition_layout(opts: &BuildOptions, request: &PlanRequest, plan: &Plan, rows: u64, budget: u64) -> Result<PartitionLayout> {
    Model::new(opts, request, plan, rows).layout_within(budget).map_err(|needed| too_small(budget, needed, rows, request.dims))
}

fn too_small(budget: u64, needed: u64, rows: u64, dims: usize) -> Error {
    Error::InvalidParameter(format!(
        "--max-memory {} is too small to build {rows} vectors of {dims} dims (at least {needed} bytes, {}, are needed): raise it",
        mib(budget),
        mib(needed)
    ))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Values a partitioned build reads from the input (and through its passes) at a time.
const SPILL_BYTES: usize = 256 << 10;

/// Rows a partitioned build reads at a time: `SPILL_BYTES` of f32 values.
pub(super) fn spill_rows(dims: usize) -> usize {
    (SPILL_BYTES / (4 * dims.max(1))).max(1)
}

/// Rows assigned to partitions at a time (their distances to every centre are held).
pub(super) const PARTITION_CHUNK: usize = 1024;
/// Rows merged at a time (their merged lists are held).
pub(super) const MERGE_CHUNK: usize = 1024;
/// Blocks a new index's writer encodes at a time; it holds two such chunks, one being
/// written while the next is encoded.
pub(super) const WRITE_CHUNK: usize = 512;
/// Buffer of a temporary file written in one stream.
pub(super) const STREAM_BUFFER: usize = 256 << 10;
/// Buffer of each partition's id list while rows are assigned (all are open at once).
pub(super) const PART_BUFFER: usize = 16 << 10;
/// The most partitions: each has an open file while rows are assigned.
const MAX_PARTITIONS: u64 = 512;

/// The most partitions a layout of `planned` may end with: k-means clusters are seldom of
/// one size, and a centre whose share of the rows would overflow its partition is split
/// in two (see `partitioned::split_crowded`), up to twice the planned count, and not past
/// 256 when the plan is within it (a row's ranked centres then stay a byte each: 5M x 128
/// fits 256 MiB). The memory model costs every layout for this many.
pub(super) fn most_partitions(planned: usize) -> usize {
    let limit = if planned <= 256 { 256 } else { MAX_PARTITIONS as usize };
    (2 * planned).min(limit).max(planned)
}
/// Rows in the partition that samples all rows uniformly: one in [`NAVIGATION_SHARE`], and
/// at most a partition's `cap` (its graph links the regions the other partitions each
/// cover; see `partitioned`).
pub fn navigation_rows(rows: u64, cap: u64) -> u64 {
    rows.div_ceil(NAVIGATION_SHARE).min(cap)
}
/// One in 16: at 1M x 128 in 18 partitions, one in 4 and one in 64 left 17% and 18% more
/// queries in the wrong region.
const NAVIGATION_SHARE: u64 = 16;
/// The fewest rows a partition must be able to hold for its graph to be worth building.
const MIN_PARTITION_ROWS: u64 = 256;
/// Partitions are sized for this fill: rows whose nearest partitions are full go further
/// afield, and a partition's share of a cluster is never exact.
const FILL: f64 = 0.8;
/// Sample rows per partition for k-means (and at least `MIN_SAMPLE` in all).
const SAMPLE_PER_PARTITION: u64 = 64;
const MIN_SAMPLE: u64 = 10_000;

/// The memory model of a partitioned build of `rows` rows: what the process holds in each
/// phase. The phases run one after another, but what one frees may stay with the
/// allocator, so the peak is the rows held throughout, the partition graphs' phase and the
/// largest of the others, not the sum of every phase.
struct Model {
    rows: u64,
    /// Bytes held through every phase: the process, and per row the sorted (rowid, slot)
    /// pairs (16 B) that also find repeated rowids.
    base: f64,
    /// The largest of the phases that do not grow with the partitions' size, but for the
    /// assignment: the spill's buffers; the merge's chunk, the navigation sample's rows
    /// (the entry's candidates) and the reachability pass's parents and stack (8 B per
    /// row); the writer's rowid map pages and blocks. Without the per-partition part.
    other_phases: f64,
    /// The assignment's claim order and partitions (12 B per row) and its chunk of
    /// distances, without the ranked centres, whose width depends on the partitions.
    assigning: f64,
    /// Bytes each partition adds while rows are assigned (its id list's buffer, its
    /// distance in the chunk) and merged (its cursor).
    per_partition: f64,
    /// Bytes a partition's build holds per row.
    per_partition_row: f64,
    /// Bytes a k-means sample row holds: its vector and its nearest centre.
    per_sample_row: f64,
    /// Bytes a centre holds (its vector and its sums).
    per_centre: f64,
    /// Temporary disk per row through the build (the peak adds the larger of a partition's
    /// copy and the merge's files, below).
    temp_per_row: u64,
    /// Temporary disk per row of a partition: its id and its graph record.
    temp_per_member: u64,
    /// Temporary disk per row of the partition whose graph is being built (its vectors'
    /// copy), and per row of what the merge and the write add instead (the merged graph,
    /// with the merge's runs or the codes beside it): the peak is the larger.
    temp_per_copied: u64,
    temp_per_merged: u64,
}

impl Model {
    fn new(opts: &BuildOptions, request: &PlanRequest, plan: &Plan, rows: u64) -> Self {
        let dims = request.dims as f64;
        let ip = opts.metric == Metric::InnerProduct;
        let gdims = dims + ip as u64 as f64;
        let r = plan.max_degree as f64;
        let n = rows as f64;
        let bs = plan.block_size as f64;
        let spill = spill_rows(request.dims).min(rows as usize) as f64;
        let map_pages = rowid_map::pages_for(rows, plan.block_size) as f64 * bs;
        let streams = 2.0 * STREAM_BUFFER as f64;
        let spilling = spill * (4.0 * 4.0 * dims + 2.0 * 8.0) + streams; // a read chunk, its copies as it is stored, its rowids

        // Per row: the claim order (8 B) and its partitions (2 B each); its ranked centres
        // depend on the partitions (added per layout).
        let assigning = n * (8.0 + 2.0 * OVERLAP as f64) + PARTITION_CHUNK as f64 * 4.0 * gdims + streams;
        let merging = n * (8.0 + 4.0 / NAVIGATION_SHARE as f64) + MERGE_CHUNK as f64 * (16.0 * r + 144.0) + streams; // rows merged at a time: places, candidates, links, lists
        let writing = map_pages + 2.0 * WRITE_CHUNK as f64 * bs + (1 << 20) as f64; // the rowid map, the blocks being encoded and written, the output's buffer
        let other_phases = MEMORY_SLACK * spilling.max(merging).max(writing);
        let per_partition = MEMORY_SLACK * (PART_BUFFER as f64 + 8.0 + PARTITION_CHUNK as f64 * 4.0);
        // Per row of a partition: its vector (as f32: a partition measured on codes holds
        // half or less, one that stays on f32 a copy; the merge its partition's), its
        // id, its adjacency record (a degree and R edge slots), the build's insertion order,
        // alpha counts and reachability parents and stack (4 B each), its visited marks (a
        // bit for each of up to 8 threads), and its share of a batch's candidate lists (a
        // batch is up to 2% of the rows, L candidates each).
        let list = opts.build_list.max(plan.max_degree) as f64;
        let per_partition_row = MEMORY_SLACK * (4.0 * gdims + 4.0 + 4.0 * (r + 1.0) + 16.0 + 1.0 + 0.02 * list * 12.0);
        let per_sample_row = MEMORY_SLACK * (4.0 * gdims + 32.0); // its vector, its nearest centres, a split's reference to it
        let per_centre = MEMORY_SLACK * 12.0 * gdims;
        let element = request.element_type;
        let temp_per_member = 4 * (2 + plan.max_degree as u64); // a partition's id list and graph
        let temp_per_row = 4 * request.dims as u64 * if element.is_integer() || ip { 2 } else { 1 } // the vectors (+ a pass's copy)
            + if ip { 4 * (request.dims as u64 + 1) } else { 0 }
            + if element.is_integer() { request.dims as u64 } else { 0 }
            + 8                                                  // rowids
            + OVERLAP as u64 * temp_per_member; // its places in partitions

        // The merged graph, and before it the merge's runs (each record after its row),
        // after it the codes.
        let record = 4 * (1 + plan.max_degree as u64);
        let temp_per_merged = record + (4 + record).max(plan.layout.code_len as u64);
        let base = PROCESS_BYTES + MEMORY_SLACK * n * 16.0;
        Model {
            rows,
            base,
            other_phases,
            assigning: MEMORY_SLACK * assigning,
            per_partition,
            per_partition_row,
            per_sample_row,
            per_centre,
            temp_per_row,
            temp_per_member,
            temp_per_copied: 4 * (request.dims as u64 + ip as u64),
            temp_per_merged,
        }
    }

    /// The layout that fits `budget`, or the smallest budget one fits in.
    fn layout_within(&self, budget: u64) -> std::result::Result<PartitionLayout, u64> {
        if let Some(layout) = self.layout(budget) {
            return Ok(layout);
        }
        // The layout only gets easier with more memory.
        let mut hi = budget.max(1 << 20);
        while self.layout(hi).is_none() && hi < u64::MAX / 4 {
            hi *= 2;
        }
        let mut lo = budget;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.layout(mid).is_some() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Err(hi)
    }

    /// The layout that fits `budget`, if one does.
    fn layout(&self, budget: u64) -> Option<PartitionLayout> {
        let n = self.rows;
        let mut partitions = OVERLAP as u64 + 1;
        loop {
            // Costed for the most partitions splitting crowded centres may make.
            let most = most_partitions(partitions as usize);
            let ranking = MEMORY_SLACK * n as f64 * super::partitioned::ranking_bytes(most) as f64;
            let others = self.other_phases.max(self.assigning + ranking) + most as f64 * self.per_partition;
            if self.base + others > budget as f64 {
                return None;
            }
            // A partition's graph is built while its id list is written out. Memory a
            // phase frees may stay with the allocator (in the arenas of the threads that
            // used it), so the graphs' share is not counted as free for the later phases;
            // the merge holds a partition's vectors (less than its graph's share) in it.
            let room = budget as f64 - self.base - others - MEMORY_SLACK * STREAM_BUFFER as f64;
            let cap = ((room / self.per_partition_row).max(0.0) as u64).min(n);
            if cap < MIN_PARTITION_ROWS.min(n) {
                return None;
            }
            let wanted = ((n * OVERLAP as u64) as f64 / (cap as f64 * FILL)).ceil() as u64;
            if wanted <= partitions {
                let sample_rows = (partitions * SAMPLE_PER_PARTITION).max(MIN_SAMPLE).min(cap).max(partitions).min(n);
                let sample = sample_rows as f64 * self.per_sample_row + partitions as f64 * self.per_centre;
                let graph = cap as f64 * self.per_partition_row + MEMORY_SLACK * STREAM_BUFFER as f64;
                let peak_bytes = (self.base + graph.max(sample) + others) as u64;
                return Some(PartitionLayout {
                    partitions: partitions as usize,
                    overlap: OVERLAP,
                    sample_rows,
                    max_partition_rows: cap,
                    temp_bytes: n * self.temp_per_row
                        + navigation_rows(n, cap) * self.temp_per_member
                        + (cap * self.temp_per_copied).max(n * self.temp_per_merged),
                    peak_bytes,
                });
            }
            if wanted > MAX_PARTITIONS {
                return None;
            }
            partitions = wanted;
        }
    }
}

/// The memory this process could use now: the system's available memory, or less when
/// the process runs in a memory cgroup (a container) whose limit leaves less. A cgroup
/// counts page cache too, so its inactive file pages (the first the kernel reclaims)
/// count as available. `None` when neither can be read (not Linux).
pub fn available_memory() -> Option<u64> {
    let system = meminfo_available(&std::fs::read_to_string("/proc/meminfo").ok()?);
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok().and_then(|c| cgroup_available(&c, &|p| std::fs::read_to_string(p).ok()));
    match (system, cgroup) {
        (Some(s), Some(c)) => Some(s.min(c)),
        (s, c) => s.or(c),
    }
}

/// `MemAvailable` of /proc/meminfo, in bytes.
fn meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What the memory cgroup of this process leaves: its limit (v1: the hierarchical one,
/// which includes every ancestor's) less what it holds, its inactive file pages aside.
/// `None` without a memory cgroup or without a limit.
fn cgroup_available(self_cgroup: &str, read: &dyn Fn(&str) -> Option<String>) -> Option<u64> {
    let stat_value =
        |stat: &str, key: &str| -> Option<u64> { stat.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok()) };
    // cgroup v1: "4:memory:/path"
    let v1 = self_cgroup.lines().find_map(|l| {
        let mut fields = l.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers.split(',').any(|c| c == "memory").then_some(path)
    });
    if let Some(path) = v1 {
        let dir = format!("/sys/fs/cgroup/memory{path}");
        let stat = read(&format!("{dir}/memory.stat"))?;
        let limit = stat_value(&stat, "hierarchical_memory_limit")?;
        let usage: u64 = read(&format!("{dir}/memory.usage_in_bytes"))?.trim().parse().ok()?;
        let inactive = stat_value(&stat, "total_inactive_file").unwrap_or(0);
        // An unlimited v1 cgroup reports a limit near i64::MAX.
        return (limit < 1 << 60).then(|| limit.saturating_sub(usage.saturating_sub(inactive)));
    }
    // cgroup v2: "0::/path"
    let path = self_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = format!("/sys/fs/cgroup{}", path.trim_end_matches('/'));
    let limit: u64 = read(&format!("{dir}/memory.max"))?.trim().parse().ok()?; // "max": no limit
    let current: u64 = read(&format!("{dir}/memory.current"))?.trim().parse().ok()?;
    let inactive = read(&format!("{dir}/memory.stat")).and_then(|s| stat_value(&s, "inactive_file")).unwrap_or(0);
    Some(limit.saturating_sub(current.saturating_sub(inactive)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::ElementType;

    fn strategy(rows: u64, budget: u64) -> Result<BuildStrategy> {
        let opts = BuildOptions::default();
        let request = opts.plan_request(128, ElementType::F32);
        let plan = crate::format::plan(&request).unwrap();
        choose_strategy(&opts, &request, &plan, rows, budget)
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn one_shot_when_it_fits_else_partitions_that_fit_the_budget() {
        assert!(matches!(strategy(10_000, 1 << 30), Ok(BuildStrategy::OneShot { .. })));
        // The scale table's sets: 5M x 128 under 256 MiB once needed 323.5 MiB (the
        // assignment held 36 B a row beside the 16 B of the rowid map).
        let grid =
            [(1_000_000, 256 * MIB), (1_000_000, 512 * MIB), (2_000_000, 256 * MIB), (5_000_000, 256 * MIB), (5_000_000, 1024 * MIB)];
        for (rows, budget) in grid.into_iter().chain([(10_000_000, 2048 * MIB)]) {
            let Ok(BuildStrategy::Partitioned(layout)) = strategy(rows, budget) else { panic!("{rows} rows in {budget}") };
            assert!(layout.peak_bytes <= budget, "{layout:?}");
            assert!(layout.partitions as f64 * layout.max_partition_rows as f64 * FILL >= (rows * OVERLAP as u64) as f64, "{layout:?}");
            assert!(layout.sample_rows >= layout.partitions as u64 && layout.temp_bytes > rows * 512, "{layout:?}");
        }
        // More memory, fewer partitions.
        let parts = |budget| match strategy(1_000_000, budget) {
            Ok(BuildStrategy::Partitioned(layout)) => layout.partitions,
            other => panic!("{other:?}"),
        };
        assert!(parts(256 * MIB) > parts(512 * MIB));
    }

    #[test]
    fn a_budget_below_any_build_is_refused_naming_the_smallest_that_works() {
        // A million vectors need partitions; 1,000 fit in one piece before any layout does.
        for (rows, one_shot) in [(1_000_000, false), (1_000, true)] {
            let e = strategy(rows, 2 * MIB).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--max-memory 2.0 MiB is too small to build {rows} vectors of 128 dims")), "{e}");
            let least: u64 = e.split("at least ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
            assert!(least > 2 * MIB);
            assert_eq!(matches!(strategy(rows, least), Ok(BuildStrategy::OneShot { .. })), one_shot, "{rows}");
            assert!(strategy(rows, least - 1).is_err());
        }
    }

    #[test]
    fn available_memory_is_the_tighter_of_the_system_and_the_cgroup() {
        assert_eq!(meminfo_available("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"), Some(2 << 20));
        let v1 = |p: &str| match p {
            "/sys/fs/cgroup/memory/box/memory.stat" => Some("cache 5\nhierarchical_memory_limit 1000\ntotal_inactive_file 100\n".into()),
            "/sys/fs/cgroup/memory/box/memory.usage_in_bytes" => Some("600\n".into()),
            _ => None,
        };
        // limit 1000 - (usage 600 - inactive 100)
        assert_eq!(cgroup_available("5:devices:/\n4:memory:/box\n0::/\n", &v1), Some(500));
        let unlimited = |p: &str| match p {
            p if p.ends_with("memory.stat") => Some("hierarchical_memory_limit 9223372036854771712\n".into()),
            _ => Some("600".into()),
        };
        assert_eq!(cgroup_available("4:memory:/\n", &unlimited), None);
        let v2 = |p: &str| match p {
            "/sys/fs/cgroup/job/memory.max" => Some("4096\n".into()),
            "/sys/fs/cgroup/job/memory.current" => Some("1096\n".into()),
            "/sys/fs/cgroup/job/memory.stat" => Some("anon 900\ninactive_file 96\n".into()),
            _ => None,
        };
        assert_eq!(cgroup_available("0::/job\n", &v2), Some(3096));
        let v2_unlimited = |p: &str| p.ends_with("memory.max").then(|| "max\n".to_string()).or(Some("1".into()));
        assert_eq!(cgroup_available("0::/\n", &v2_unlimited), None);
        assert!(available_memory().is_some_and(|m| m > 0));
    }
}
