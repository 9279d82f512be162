//! Any bytes as a vector file (the first byte picks the format): read or refused, never
//! a panic, and what is read keeps the rules (one row per rowid, finite values). Seeds: the
//! small valid files in `corpus/input_files`, each prefixed with its format byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lmdiskann::io::{read_vectors, InputOptions};

const EXTENSIONS: [&str; 6] = ["fvecs", "bvecs", "npy", "csv", "tsv", "parquet"];

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, body)) = bytes.split_first() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("v.{}", EXTENSIONS[kind as usize % EXTENSIONS.len()]));
    std::fs::write(&path, body).unwrap();
    if let Ok(set) = read_vectors(&path, &InputOptions::default()) {
        assert_eq!(set.data.len(), set.rowids.len() * set.dims);
        assert!(set.data.iter().all(|x| x.is_finite()));
    }
});
