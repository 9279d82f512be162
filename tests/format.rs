//! The file as written by a build: every block checks out, and the rowid map and the
//! blocks agree one to one.

use lmdiskann::format::rowid_map;
use lmdiskann::index::{build_index, check_index};
use lmdiskann::storage::IndexFile;
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
    for (slot, rowid) in set.rowids.iter().enumerate() {
        assert_eq!(map.lookup(&file, *rowid).unwrap(), Some(slot as u32), "rowid {rowid}");
        let block = file.block(slot as u64).unwrap();
        assert_eq!(file.layout().rowid(block), *rowid, "slot {slot}");
    }
    assert_eq!(map.lookup(&file, 1).unwrap(), None);
    let report = check_index(&file);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
