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
