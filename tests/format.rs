//! The file as written by a build: every block checks out, and the rowid map and the
//! blocks agree one to one.

use lmdiskann::format::rowid_map;
use lmdiskann::index::build_index;
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
    assert_eq!(file.header().slots, 700);
    assert_eq!(file.len(), file.header().rowid_map_offset + 700 * rowid_map::ENTRY_LEN as u64, "nothing after the map");
    let map = file.rowid_map().unwrap();
    for (slot, rowid) in set.rowids.iter().enumerate() {
        assert_eq!(rowid_map::lookup(map, *rowid), Some(slot as u64), "rowid {rowid}");
        let block = file.block(slot as u64).unwrap();
        assert_eq!(file.layout().rowid(block), *rowid, "slot {slot}");
    }
    assert_eq!(rowid_map::lookup(map, 1), None);
}
