//! Helpers the benchmark examples share: running the release binary and reading what it
//! reports.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd`, panicking with its stderr when it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run lmdiskann");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("report json")
}

/// The release binary built beside this example.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.parent().and_then(|p| p.parent()).expect("target dir").join("lmdiskann");
    assert!(bin.exists(), "{} not found: run `cargo build --release` first", bin.display());
    bin
}

/// The real sets under `dir`: (name, base, queries) for every `NAME/NAME_base.fvecs` with
/// its `NAME/NAME_query.fvecs`, by name.
#[allow(dead_code)] // not every example reads real sets
pub fn real_sets(dir: &Path) -> Vec<(String, PathBuf, PathBuf)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("--real DIR")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let base = dir.join(&name).join(format!("{name}_base.fvecs"));
            let query = dir.join(&name).join(format!("{name}_query.fvecs"));
            (name, base, query)
        })
        .filter(|(_, base, query)| base.exists() && query.exists())
        .collect()
}
