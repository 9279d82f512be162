//! Any bytes as an index: opening, checking and searching return a clear error or an
//! answer, never a panic. Seeds: the valid indexes in `corpus/index_file`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lmdiskann::index::check_index;
use lmdiskann::storage::{IndexFile, MemoryStorage, Storage};
use lmdiskann::{Error, Index, SearchParams};

fuzz_target!(|bytes: &[u8]| {
    let storage = MemoryStorage::new();
    let path = Path::new("x.lmd");
    storage.create(path).unwrap().write_at(bytes, 0).unwrap();
    let file = match IndexFile::open_in(&storage, path) {
        Ok(file) => file,
        Err(Error::Corrupted { .. } | Error::NotAnIndex { .. }) => return,
        Err(e) => panic!("unclear error: {e}"),
    };
    let dims = file.header().dims as usize;
    check_index(&file);
    drop(file);
    let index = Index::open_in(&storage, path).unwrap();
    let query = vec![0.5f32; dims.min(1 << 16)];
    if dims <= 1 << 16 {
        match index.search(&query, &SearchParams { k: 3, search_list: 8, beam_width: 1 }) {
            Ok(_) | Err(Error::Corrupted { .. } | Error::InvalidData(_)) => {}
            Err(e) => panic!("unclear error: {e}"),
        }
    }
});
