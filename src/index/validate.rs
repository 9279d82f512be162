//! Checks of what an index holds, beyond its structure (`check.rs`): that it holds exactly
//! the rows of the table it indexes, and how well a sample of its own rows is found.

use std::ops::ControlFlow;
use std::path::Path;

use super::build::store_vectors;
use super::Index;
use crate::error::{Error, Result};
use crate::exact::{recall_at_k, ExactKnn};
use crate::format::NodeState;
use crate::graph::SearchParams;
use crate::io::{read_vectors_chunked, InputOptions, RowidSource, VectorSet};
use crate::rng::Rng;
use crate::storage::IndexFile;

/// Problems listed per kind before the rest are only counted.
const SHOWN: usize = 5;
/// Input rows compared per chunk: bounds memory whatever the input's size.
const CHUNK_ROWS: usize = 16_384;

/// How the index compares with an input file of the rows it should hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgainstReport {
    /// Rows the input holds.
    pub rows: u64,
    /// Input rowids the index does not hold.
    pub missing: u64,
    /// Rows whose stored vector is not the input's, as the index's element type stores it.
    pub differing: u64,
    /// Live rows of the index that the input does not hold.
    pub extra: u64,
    /// Whether the input's rowids came from a column or from row positions.
    pub rowids_from: RowidSource,
    pub problems: Vec<String>,
}

/// Compares `file` with the vectors of `input`: every input rowid must be a live row whose
/// stored bytes are exactly what inserting the input's vector would store, and no other
/// row may be live. Reads the input in chunks.
pub fn check_against(file: &IndexFile, input: &Path, opts: &InputOptions) -> Result<AgainstReport> {
    let h = file.header();
    if h.version_major < 2 {
        return Err(Error::InvalidParameter(format!(
            "{}: format {}.{} files have no rowid map to check against; `lmdiskann vacuum --compact` upgrades them",
            file.path().display(),
            h.version_major,
            h.version_minor
        )));
    }
    let layout = file.layout();
    let map = h.rowid_map();
    let opts = InputOptions { expect_dims: Some(h.dims as usize), ..opts.clone() };
    let mut report = AgainstReport::default();
    // One bit per slot (a 4096th of the file at most): which live rows the input holds.
    let mut matched = vec![0u64; (h.slots as usize).div_ceil(64)];
    let mut failed: Option<Error> = None;
    let mut compare = |mut chunk: VectorSet| -> Result<()> {
        let first_row = report.rows;
        report.rows += chunk.len() as u64;
        let expected = match store_vectors(&mut chunk, h.element_type, h.metric, Some(h.element_codec()), 0) {
            Ok((_, Some(stored), _)) => stored,
            Ok((codec, None, _)) => {
                let mut bytes = vec![0u8; chunk.data.len() * h.element_type.size()];
                codec.encode(&chunk.data, &mut bytes);
                bytes
            }
            // A value the index's storage cannot hold (or a zero vector under cosine)
            // cannot be what the index stores.
            Err(e) => {
                report.differing += chunk.len() as u64;
                report.problems.push(format!("input rows {first_row}..{}: {e}", report.rows));
                return Ok(());
            }
        };
        for (rowid, want) in chunk.rowids.iter().zip(expected.chunks(layout.vector_len)) {
            let Some(slot) = map.lookup(file, *rowid).map_err(|e| file.corrupted(e))? else {
                report.missing += 1;
                if report.missing <= SHOWN as u64 {
                    report.problems.push(format!("rowid {rowid} of the input is not in the index"));
                }
                continue;
            };
            matched[slot as usize / 64] |= 1 << (slot % 64);
            if layout.vector_bytes(file.block(slot as u64)?) != want {
                report.differing += 1;
                if report.differing <= SHOWN as u64 {
                    report.problems.push(format!("rowid {rowid}: the stored vector differs from the input's"));
                }
            }
        }
        Ok(())
    };
    let read = read_vectors_chunked(input, &opts, CHUNK_ROWS, &mut |chunk| match compare(chunk) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failed = Some(e);
            ControlFlow::Break(())
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    report.rowids_from = read?.rowids_from;
    // Rowids repeated in the input match one row several times: count rows, not matches.
    report.extra = h.live.saturating_sub(matched.iter().map(|w| w.count_ones() as u64).sum());
    if report.extra > 0 {
        let (rows, verb) = (crate::plural(report.extra, "live row"), if report.extra == 1 { "is" } else { "are" });
        report.problems.push(format!("{rows} of the index {verb} not in the input"));
        // The smallest rowids are shown: slot order (breadth first from the entry point)
        // means nothing to the user.
        let mut smallest = std::collections::BinaryHeap::with_capacity(SHOWN + 1);
        for slot in (0..h.slots).filter(|s| matched[*s as usize / 64] & (1 << (s % 64)) == 0) {
            let block = file.block(slot)?;
            if layout.state(block) == Some(NodeState::Live) {
                smallest.push(layout.rowid(block));
                if smallest.len() > SHOWN {
                    smallest.pop();
                }
            }
        }
        for rowid in smallest.into_sorted_vec() {
            report.problems.push(format!("rowid {rowid} of the index is not in the input"));
        }
    }
    for (what, n) in [("missing", report.missing), ("differing", report.differing), ("extra", report.extra)] {
        if n > SHOWN as u64 {
            report.problems.push(format!("... {}", crate::plural(n - SHOWN as u64, &format!("more {what} row"))));
        }
    }
    Ok(report)
}

/// Recall of a sample of the index's own rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleRecall {
    pub queries: usize,
    pub k: usize,
    pub search_list: usize,
    pub recall: f64,
}

/// Searches `sample` live rows (chosen with `seed`) by their stored vectors at the index's
/// default search list, and measures recall@10 against brute force over every live row.
/// Memory is O(sample x dims) plus a chunk of rows.
pub fn sample_recall(index: &Index, sample: usize, seed: u64) -> Result<SampleRecall> {
    let file = index.file();
    let h = file.header();
    let layout = file.layout();
    let codec = h.element_codec();
    let dims = h.dims as usize;
    let k = 10;
    let search_list = index.default_search_list();
    let live: Vec<u64> = (0..h.slots).filter(|&s| file.block(s).is_ok_and(|b| layout.state(b) == Some(NodeState::Live))).collect();
    let mut picked = live.clone();
    Rng::new(seed).shuffle(&mut picked);
    picked.truncate(sample);
    picked.sort_unstable();
    let read = |slots: &[u64]| -> Result<VectorSet> {
        let mut set =
            VectorSet { dims, rowids: Vec::with_capacity(slots.len()), data: vec![0.0; slots.len() * dims], ..VectorSet::default() };
        for (&slot, out) in slots.iter().zip(set.data.chunks_mut(dims)) {
            let block = file.block(slot)?;
            set.rowids.push(layout.rowid(block));
            codec.decode(layout.vector_bytes(block), out);
        }
        Ok(set)
    };
    let queries = read(&picked)?;
    let mut exact = ExactKnn::new(&queries, h.metric, k)?;
    for slots in live.chunks(CHUNK_ROWS) {
        exact.add(&read(slots)?)?;
    }
    let truth: Vec<Vec<u64>> = exact.finish().into_iter().map(|hits| hits.into_iter().map(|(rowid, _)| rowid).collect()).collect();
    let params = SearchParams { k, search_list, beam_width: super::DEFAULT_BEAM_WIDTH };
    let found: Vec<Vec<u64>> =
        index.search_many(&queries.data, &params)?.into_iter().map(|(hits, _)| hits.into_iter().map(|n| n.rowid).collect()).collect();
    Ok(SampleRecall { queries: queries.len(), k, search_list, recall: recall_at_k(&found, &truth, k) })
}
