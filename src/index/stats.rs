//! What is in an index: header fields, counts, sizes and the degree distribution.

use crate::error::Result;
use crate::format::{Header, NodeState};
use crate::storage::IndexFile;

#[derive(Clone, Debug)]
pub struct IndexStats {
    pub header: Header,
    pub file_bytes: u64,
    /// Nodes by state, counted from the blocks (the header's counts are in `header`).
    pub live: u64,
    pub tombstoned: u64,
    pub free: u64,
    pub map_pages: u64,
    /// Opening rolled back a change that a writer did not finish.
    pub rolled_back: bool,
    /// `degree_histogram[d]` = live or tombstoned nodes with d edges.
    pub degree_histogram: Vec<u64>,
}

impl IndexStats {
    /// File bytes per live vector (0 for an empty index).
    pub fn bytes_per_vector(&self) -> f64 {
        if self.live == 0 {
            0.0
        } else {
            self.file_bytes as f64 / self.live as f64
        }
    }

    /// Raw f32 bytes of one vector, for comparing file size with the data.
    pub fn raw_vector_bytes(&self) -> u64 {
        4 * self.header.dims as u64
    }

    pub fn mean_degree(&self) -> f64 {
        let nodes: u64 = self.degree_histogram.iter().sum();
        let edges: u64 = self.degree_histogram.iter().enumerate().map(|(d, c)| d as u64 * c).sum();
        if nodes == 0 {
            0.0
        } else {
            edges as f64 / nodes as f64
        }
    }
}

/// Reads every node block (checking its checksum) and tallies states and degrees.
pub fn collect_stats(file: &IndexFile) -> Result<IndexStats> {
    let header = file.header().clone();
    let layout = file.layout();
    let mut stats = IndexStats {
        file_bytes: file.len(),
        live: 0,
        tombstoned: 0,
        free: 0,
        map_pages: 0,
        rolled_back: file.rolled_back(),
        degree_histogram: vec![0; layout.max_degree + 1],
        header,
    };
    for slot in 0..stats.header.slots {
        let block = file.block(slot)?;
        match layout.state(block) {
            Some(NodeState::Live) => stats.live += 1,
            Some(NodeState::Tombstoned) => stats.tombstoned += 1,
            Some(NodeState::MapPage) => {
                stats.map_pages += 1;
                continue;
            }
            Some(NodeState::Free) | None => {
                stats.free += 1;
                continue;
            }
        }
        stats.degree_histogram[layout.degree(block)] += 1;
    }
    Ok(stats)
}
