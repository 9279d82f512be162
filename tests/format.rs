//! The file as written by a build: every block checks out, and the rowid map and the
//! blocks agree one to one.

use lmdiskann::format::rowid_map;
use lmdiskann::index::{build_index, check_index, delete, vacuum, UpdateOptions};
use lmdiskann::storage::{FileStorage, IndexFile};
use lmdiskann::synthetic::Clustered;
use lmdiskann::BuildOptions;

#[test]
fn rowid_map_and_blocks_agree_one_to_one() {
    let mut set = Clustered::standard(20, 2).sample(700, 0);
    // Gappy, unordered rowids, as a DuckDB export after deletes and a shuffle gives.
    set.rowids = (0..700u64).map(|i| (i * 7919) % 100_003 + u64::from(i % 3 == 0) * (1 << 40)).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lmd");
    build_index(set.clone(), &BuildOptions::default(), &path, &|_, _, _| {}).unwrap();
    let file = IndexFile::open(&path).unwrap();
    let h = file.header();
    let bs = h.block_size as usize;
    assert_eq!(h.map_pages, rowid_map::pages_for(700, bs));
    assert_eq!(h.slots, 700 + h.map_pages, "the map's pages follow the nodes");
    assert_eq!(file.len(), (h.slots + 1) * bs as u64, "nothing after the last slot");
    let map = h.rowid_map();
    let mut mapped = vec![false; 700];
    for rowid in &set.rowids {
        let slot = map.lookup(&file, *rowid).unwrap().unwrap_or_else(|| panic!("rowid {rowid} is not in the map"));
        assert!(!std::mem::replace(&mut mapped[slot as usize], true), "slot {slot} is mapped twice");
        let block = file.block(slot as u64).unwrap();
        assert_eq!(file.layout().rowid(block), *rowid, "slot {slot}");
    }
    assert_eq!(map.lookup(&file, 1).unwrap(), None);
    let report = check_index(&file);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn nodes_are_written_breadth_first_from_the_entry_point_by_a_build_and_by_compaction() {
    let set = Clustered::standard(16, 5).sample(3000, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lmd");
    build_index(set, &BuildOptions::default(), &path, &|_, _, _| {}).unwrap();
    assert_breadth_first(&path);
    // Deletes free slots all over the file; compaction writes the live nodes anew.
    let opts = UpdateOptions { wait: false, auto_vacuum: None, now_ms: 1 };
    let gone: Vec<u64> = (0..3000).filter(|r| r % 3 == 0).collect();
    delete(&FileStorage, &path, &gone, false, &opts).unwrap();
    vacuum(&FileStorage, &path, true, &opts).unwrap();
    assert_eq!(IndexFile::open(&path).unwrap().header().live, 2000);
    assert_breadth_first(&path);
}

/// The entry point is slot 0 and the hops from it never decrease from one slot to the next.
fn assert_breadth_first(path: &std::path::Path) {
    let file = IndexFile::open(path).unwrap();
    let (h, layout) = (file.header(), file.layout());
    assert_eq!(h.entry_slot, 0, "the entry point comes first");
    let n = h.live as usize;
    assert_eq!(h.slots, h.live + h.map_pages, "the nodes are dense");
    let mut hops = vec![usize::MAX; n];
    hops[0] = 0;
    let mut queue = std::collections::VecDeque::from([0u32]);
    while let Some(slot) = queue.pop_front() {
        let block = file.block(slot as u64).unwrap();
        for i in 0..layout.degree(block) {
            let next = layout.neighbour(block, i) as usize;
            if hops[next] == usize::MAX {
                hops[next] = hops[slot as usize] + 1;
                queue.push_back(next as u32);
            }
        }
    }
    assert!(hops.iter().all(|&h| h != usize::MAX), "every node is reached");
    assert!(hops.windows(2).all(|w| w[0] <= w[1]), "slots are not in breadth-first order: {:?}", &hops[..40]);
    assert!(hops[n - 1] >= 3, "a graph of {n} nodes {} hops deep is not a test of the order", hops[n - 1]);
    let report = check_index(&file);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
