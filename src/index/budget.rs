//! How much memory a build may use, and how a build fits into it: in one piece when the
//! vectors and the graph fit, else in partitions that overlap (each vector in its 2
//! nearest), built one at a time and merged.
//!
//! "Memory" is the process's own (anonymous) memory. The temporary files a partitioned
//! build writes are read through the page cache, which the kernel evicts under pressure.

use super::estimate::estimate_build;
use super::BuildOptions;
use crate::error::{Error, Result};
use crate::format::{Plan, PlanRequest};

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
    Err(Error::InvalidParameter(format!("--max-memory {budget} is below the {one_shot} bytes a build of {rows} vectors needs")))
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
