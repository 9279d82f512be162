//! Many searches at once on one thread, their block reads overlapped: each query in flight
//! asks for its next round of blocks, and while the device reads them the thread expands
//! the rounds of other queries whose blocks have arrived. A cold index is then read at the
//! device's queue depth (tens of reads in flight) instead of one page fault at a time.
//! Each query expands the same nodes in the same order as a search on its own, so the hits
//! are the same.

use std::time::Instant;

use crate::error::Result;
use crate::graph::{Search, SearchParams, SearchStats};
use crate::quant::CodeSpace;
use crate::storage::{IndexFile, OverlappedReads};
use crate::vector::Metric;

/// A query in flight: its search, and which buffer holds each block of its round.
struct Flight {
    query: usize,
    prepared: Vec<f32>,
    search: Search,
    buffers: Vec<usize>,
    waiting: usize,
    started: Instant,
}

/// Searches every prepared query that `next` hands out, `flights` at once (`reads` has
/// buffers for each one's widest round); `found` gets each query's hits as (ranking
/// distance, rowid) when it finishes, in no particular order.
#[allow(clippy::too_many_arguments)]
pub(super) fn search_overlapped(
    file: &IndexFile,
    codes: &CodeSpace,
    metric: Metric,
    params: &SearchParams,
    flights: usize,
    reads: &mut OverlappedReads,
    next: &mut dyn FnMut() -> Option<Result<(usize, Vec<f32>)>>,
    found: &mut dyn FnMut(usize, Vec<(f32, u64)>, SearchStats),
) -> Result<()> {
    let mut flights: Vec<Option<Flight>> = (0..flights).map(|_| None).collect();
    let mut free: Vec<usize> = (0..reads.buffers()).rev().collect();
    // Which flight each buffer's read belongs to.
    let mut owner = vec![usize::MAX; reads.buffers()];
    let mut done = Vec::new();
    let mut more = true;
    loop {
        // Every empty place takes a new query; a query whose search reads nothing (k = 0,
        // an empty index) finishes at once.
        for (place, flight) in flights.iter_mut().enumerate() {
            while flight.is_none() && more {
                let Some(query) = next() else {
                    more = false;
                    break;
                };
                let (query, prepared) = query?;
                let search = Search::new(file, codes, &prepared, params);
                let mut f = Flight { query, prepared, search, buffers: Vec::new(), waiting: 0, started: Instant::now() };
                if start_round(file, codes, &mut f, reads, &mut free, &mut owner, place)? {
                    *flight = Some(f);
                } else {
                    finish(f, found);
                }
            }
        }
        if flights.iter().all(Option::is_none) {
            return Ok(());
        }
        done.clear();
        reads.wait(&mut done)?;
        for &buffer in &done {
            let place = owner[buffer];
            let Some(f) = flights[place].as_mut() else { continue };
            f.waiting -= 1;
            if f.waiting > 0 {
                continue;
            }
            // The whole round is in: expand it in order, as a search on its own would.
            for (i, &buffer) in f.buffers.iter().enumerate() {
                let slot = f.search.round()[i];
                let block = file.checked(slot as u64, reads.bytes(buffer))?;
                f.search.expand(file, metric, &f.prepared, slot, block)?;
            }
            free.append(&mut f.buffers);
            if !start_round(file, codes, f, reads, &mut free, &mut owner, place)? {
                finish(flights[place].take().expect("a flight"), found);
            }
        }
    }
}

/// Starts reading the blocks of `f`'s next round; false when its search is over.
fn start_round(
    file: &IndexFile,
    codes: &CodeSpace,
    f: &mut Flight,
    reads: &mut OverlappedReads,
    free: &mut Vec<usize>,
    owner: &mut [usize],
    place: usize,
) -> Result<bool> {
    let round = f.search.next_round(file, codes, &f.prepared);
    for &slot in round {
        // Each flight has buffers for its widest round.
        let buffer = free.pop().expect("a free buffer");
        owner[buffer] = place;
        f.buffers.push(buffer);
        reads.read(slot, buffer)?;
    }
    f.waiting = round.len();
    Ok(!round.is_empty())
}

fn finish(f: Flight, found: &mut dyn FnMut(usize, Vec<(f32, u64)>, SearchStats)) {
    let (hits, mut stats) = f.search.finish();
    stats.nanos = f.started.elapsed().as_nanos() as u64;
    found(f.query, hits, stats);
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::{build_index, delete, Index, ReadPath, UpdateOptions};
    use crate::error::Error;
    use crate::format::NodeLayout;
    use crate::graph::SearchParams;
    use crate::rng::Rng;
    use crate::storage::{FileStorage, IndexFile};
    use crate::synthetic::Clustered;
    use crate::BuildOptions;

    /// 3,000 clustered rows with a few hundred tombstones, which searches route through and
    /// must widen their list to get past.
    fn index_with_tombstones(dir: &Path) -> PathBuf {
        let path = dir.join("x.lmd");
        let opts = BuildOptions { max_degree: Some(24), ..BuildOptions::default() };
        build_index(Clustered::standard(16, 3).sample(3000, 0), &opts, &path, &|_, _, _| {}).unwrap();
        let update = UpdateOptions { wait: false, auto_vacuum: None, now_ms: 7 };
        let doomed: Vec<u64> = (0..3000).filter(|r| r % 7 < 2).collect();
        delete(&FileStorage, &path, &doomed, false, &update).unwrap();
        path
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    #[test]
    fn overlapped_reads_find_the_hits_reading_through_the_map_finds() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&index_with_tombstones(dir.path())).unwrap();
        let queries = Clustered::standard(16, 3).sample(300, 1);
        let combinations =
            [(10, 16, 1), (10, 64, 1), (1, 10, 4), (50, 40, 2), (2500, 64, 3), (0, 64, 1), (10, 64, 1 << 30), (50, 40, 1 << 30)];
        for (k, list, width) in combinations {
            let params = SearchParams { k, search_list: list, beam_width: width };
            let by_map = index.search_many_with(&queries.data, &params, ReadPath::Map).unwrap();
            for threads in [1, 2] {
                let overlapped = pool(threads).install(|| index.search_many_with(&queries.data, &params, ReadPath::Overlapped)).unwrap();
                assert_eq!(overlapped.len(), by_map.len());
                for (q, ((a, sa), (b, sb))) in by_map.iter().zip(&overlapped).enumerate() {
                    let what = format!("k {k} L {list} W {width}, {threads} threads, query {q}");
                    assert_eq!(a, b, "{what}");
                    assert_eq!((sa.blocks_read, sa.codes_scored), (sb.blocks_read, sb.codes_scored), "{what}");
                }
            }
            // The tombstones crowd some lists out: the widened search must have run.
            if k == 50 {
                assert!(by_map.iter().all(|(hits, _)| hits.len() == 50));
            }
        }
    }

    #[test]
    fn overlapped_reads_report_a_damaged_block_where_the_map_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = index_with_tombstones(dir.path());
        let file = IndexFile::open(&path).unwrap();
        let (layout, slots): (NodeLayout, u64) = (file.layout(), file.header().slots);
        drop(file);
        // One byte changed in each of 40 blocks, anywhere in the block.
        let mut bytes = std::fs::read(&path).unwrap();
        let mut rng = Rng::new(5);
        for _ in 0..40 {
            let slot = rng.below(slots) as usize;
            let at = (slot + 1) * layout.block_size + rng.below(layout.block_size as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
        }
        std::fs::write(&path, &bytes).unwrap();
        let index = Index::open(&path).unwrap();
        let queries = Clustered::standard(16, 3).sample(200, 1);
        let params = SearchParams { k: 10, search_list: 32, beam_width: 2 };
        let mut reported = 0;
        for q in queries.data.chunks(16) {
            match (index.search(q, &params), index.search_many_with(q, &params, ReadPath::Overlapped)) {
                (Ok((a, _)), Ok(b)) => assert_eq!(a, b[0].0),
                (Err(Error::Corrupted { reason: a, .. }), Err(Error::Corrupted { reason: b, .. })) => {
                    assert_eq!(a, b);
                    reported += 1;
                }
                (a, b) => panic!("the map gave {a:?}, overlapped reads {b:?}"),
            }
        }
        assert!(reported > 0, "no search met a damaged block: the test damaged too little");
    }
}
