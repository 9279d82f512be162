//! Properties of the readers that hold for any bytes: a damaged index and a damaged input
//! file are refused with an error, never a panic, a hang or a silently wrong answer. The
//! same properties drive the fuzz targets under `fuzz/`; here proptest runs them on stable.

use std::path::Path;

use lmdiskann::index::{build_index_in, check_index};
use lmdiskann::io::{read_vectors, write_fvecs, write_vectors_parquet, InputOptions};
use lmdiskann::storage::{IndexFile, MemoryStorage, Storage};
use lmdiskann::synthetic::Clustered;
use lmdiskann::{BuildOptions, Error, Index, SearchParams};
use proptest::prelude::*;

fn valid_index() -> Vec<u8> {
    let storage = MemoryStorage::new();
    let set = Clustered::standard(4, 9).sample(40, 0);
    let opts = BuildOptions { max_degree: Some(16), created_ms: 7, ..BuildOptions::default() };
    build_index_in(&storage, set, &opts, Path::new("x.lmd"), &|_, _, _| {}).unwrap();
    storage.read(Path::new("x.lmd")).unwrap()
}

/// Opens, checks and searches `bytes` as an index: Ok(sound) or a clear error.
fn read_index(bytes: &[u8]) -> Result<bool, Error> {
    let storage = MemoryStorage::new();
    storage.create(Path::new("x.lmd")).unwrap().write_at(bytes, 0).unwrap();
    let sound = check_index(&IndexFile::open_in(&storage, Path::new("x.lmd"))?).problems.is_empty();
    let index = Index::open_in(&storage, Path::new("x.lmd"))?;
    let params = SearchParams { k: 3, search_list: 8, beam_width: 1 };
    for q in Clustered::standard(4, 9).sample(4, 1).data.chunks(4) {
        index.search(q, &params)?;
    }
    Ok(sound)
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_as_an_index_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        match read_index(&bytes) {
            Ok(_) | Err(Error::Corrupted { .. } | Error::NotAnIndex { .. }) => {}
            Err(e) => prop_assert!(false, "unclear error: {e}"),
        }
    }

    #[test]
    fn an_edited_index_is_refused_or_reported(edits in edits()) {
        let good = valid_index();
        let mut bytes = good.clone();
        for (at, value) in edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        match read_index(&bytes) {
            Ok(sound) => prop_assert!(!sound || bytes == good, "an edited index passed as sound"),
            Err(Error::Corrupted { .. } | Error::NotAnIndex { .. }) => {}
            Err(e) => prop_assert!(false, "unclear error: {e}"),
        }
    }

    #[test]
    fn edited_input_files_are_read_or_refused(kind in 0..3usize, edits in edits(), cut in any::<usize>()) {
        let dir = tempfile::tempdir().unwrap();
        let set = Clustered::standard(4, 9).sample(20, 0);
        let name = ["v.fvecs", "v.parquet", "v.csv"][kind];
        let path = dir.path().join(name);
        match kind {
            0 => write_fvecs(&path, &set).unwrap(),
            1 => write_vectors_parquet(&path, &set, true).unwrap(),
            _ => {
                let rows: String = set.data.chunks(4).enumerate().map(|(i, v)| format!("{i},\"{v:?}\"\n")).collect();
                std::fs::write(&path, format!("rowid,emb\n{rows}")).unwrap();
            }
        }
        let mut bytes = std::fs::read(&path).unwrap();
        for (at, value) in edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        std::fs::write(&path, &bytes).unwrap();
        // Either outcome is fine; what is not is a panic, or rows that break the rules.
        if let Ok(read) = read_vectors(&path, &InputOptions::default()) {
            prop_assert_eq!(read.data.len(), read.rowids.len() * read.dims);
            prop_assert!(read.data.iter().all(|x| x.is_finite()));
        }
    }
}
