//! Damage anywhere in an index is reported, never accepted silently and never a panic:
//! every byte of a small index has a bit flipped, a sample of bytes is overwritten, and
//! the file is cut short or extended. Each damaged copy must fail to open with a clear
//! error, or open and fail the structural check behind `validate`; searching it must
//! return hits or a "corrupted" error.

use std::path::Path;

use lmdiskann::index::{build_index_in, check_index};
use lmdiskann::rng::Rng;
use lmdiskann::storage::{IndexFile, MemoryStorage, Storage};
use lmdiskann::synthetic::Clustered;
use lmdiskann::{BuildOptions, Error, Index, SearchParams, VectorSet};

fn path() -> &'static Path {
    Path::new("x.lmd")
}

/// An index with live, tombstoned and free slots and a rowid map.
fn small_index(queries: &VectorSet) -> Vec<u8> {
    let storage = MemoryStorage::new();
    let set = Clustered::standard(8, 3).sample(80, 0);
    let opts = BuildOptions { max_degree: Some(16), created_ms: 7, ..BuildOptions::default() };
    build_index_in(&storage, set, &opts, path(), &|_, _, _| {}).unwrap();
    let update = lmdiskann::index::UpdateOptions { wait: false, auto_vacuum: None, now_ms: 7 };
    lmdiskann::index::delete(&storage, path(), &(0..12).collect::<Vec<_>>(), false, &update).unwrap();
    lmdiskann::index::vacuum(&storage, path(), false, &update).unwrap();
    lmdiskann::index::delete(&storage, path(), &(12..20).collect::<Vec<_>>(), false, &update).unwrap();
    let bytes = storage.read(path()).unwrap();
    assert!(detected(&bytes, queries).is_none(), "the undamaged index must be sound");
    bytes
}

/// How `bytes` was found out, or None when it opens, checks sound and searches.
fn detected(bytes: &[u8], queries: &VectorSet) -> Option<String> {
    let storage = MemoryStorage::new();
    let file = storage.create(path()).unwrap();
    file.write_at(bytes, 0).unwrap();
    let index = match IndexFile::open_in(&storage, path()) {
        Err(e @ (Error::Corrupted { .. } | Error::NotAnIndex { .. })) => return Some(format!("open: {e}")),
        Err(e) => panic!("opening a damaged index gave an unclear error: {e}"),
        Ok(index) => index,
    };
    let report = check_index(&index);
    drop(index);
    let index = Index::open_in(&storage, path()).unwrap();
    let params = SearchParams { k: 5, search_list: 16, beam_width: 1 };
    let mut search_error = None;
    for q in queries.data.chunks(queries.dims) {
        match index.search(q, &params) {
            Ok(_) => {}
            Err(e @ Error::Corrupted { .. }) => search_error = Some(e.to_string()),
            Err(e) => panic!("searching a damaged index gave an unclear error: {e}"),
        }
    }
    match (report.problems.first(), search_error) {
        (Some(problem), _) => Some(format!("check: {problem}")),
        (None, Some(e)) => panic!("search found damage the check missed: {e}"),
        (None, None) => None,
    }
}

#[test]
fn every_damaged_byte_is_reported_and_nothing_panics() {
    let queries = Clustered::standard(8, 3).sample(20, 1);
    let good = small_index(&queries);
    let mut rng = Rng::new(11);
    let mut tried = 0;
    let mut missed = Vec::new();
    let mut check = |bytes: Vec<u8>, what: String| {
        tried += 1;
        if detected(&bytes, &queries).is_none() {
            missed.push(what);
        }
    };
    for at in 0..good.len() {
        let mut bytes = good.clone();
        let bit = rng.below(8);
        bytes[at] ^= 1 << bit;
        check(bytes, format!("bit {bit} of byte {at}"));
    }
    for _ in 0..2000 {
        let mut bytes = good.clone();
        let at = rng.below(good.len() as u64) as usize;
        let value = loop {
            let v = rng.below(256) as u8;
            if v != good[at] {
                break v;
            }
        };
        bytes[at] = value;
        check(bytes, format!("byte {at} set to {value}"));
    }
    for len in (0..good.len()).step_by(97).chain([good.len() - 1]) {
        check(good[..len].to_vec(), format!("cut to {len} bytes"));
    }
    for extra in [1, 511, 512, 4096] {
        let mut bytes = good.clone();
        bytes.resize(good.len() + extra, 0);
        check(bytes, format!("{extra} bytes appended"));
    }
    println!("{tried} damaged copies of a {}-byte index, {} not reported", good.len(), missed.len());
    assert!(missed.is_empty(), "{} of {tried} damaged copies passed as sound, e.g. {:?}", missed.len(), &missed[..missed.len().min(10)]);
}
