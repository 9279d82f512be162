//! A fresh temporary folder per test and a command builder for the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lmdiskann::io::{write_fvecs, write_vectors_parquet};
use lmdiskann::synthetic::Clustered;
use lmdiskann::VectorSet;

pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `lmdiskann ARGS` run in this folder, with no index set in the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lmdiskann"));
        cmd.current_dir(self.root()).args(args).env_remove("LMDISKANN_INDEX").env("SOURCE_DATE_EPOCH", "1700000000");
        cmd
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run lmdiskann");
        assert!(out.status.success(), "lmdiskann {args:?} failed:\nstdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs and expects failure with exit code 2 and a one-line error; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run lmdiskann");
        check_failure(&out, args);
        text(&out.stderr)
    }

    /// Seeded clustered vectors written as Parquet (with a rowid column) and queries as fvecs.
    pub fn dataset(&self, n: usize, dims: usize, queries: usize) -> (VectorSet, VectorSet) {
        let data = Clustered::standard(dims, 11);
        let base = data.sample(n, 0);
        let q = data.sample(queries, 1);
        write_vectors_parquet(&self.path("vectors.parquet"), &base, true).expect("write parquet");
        write_fvecs(&self.path("q.fvecs"), &q).expect("write fvecs");
        (base, q)
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn check_failure(out: &Output, args: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "lmdiskann {args:?}: expected exit 2, stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "lmdiskann {args:?}: error is not one line: {stderr}");
    assert!(!stderr.contains("panicked"), "lmdiskann {args:?} panicked: {stderr}");
}

/// Parses CSV hits (`query,rank,rowid,distance`) into per-query rowid lists.
pub fn parse_hits(csv: &str) -> Vec<Vec<(u64, f32)>> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("query,rank,rowid,distance"));
    let mut out: Vec<Vec<(u64, f32)>> = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let q: usize = f[0].parse().unwrap();
        let rank: usize = f[1].parse().unwrap();
        if out.len() <= q {
            out.resize(q + 1, Vec::new());
        }
        assert_eq!(rank, out[q].len() + 1, "ranks run 1..k per query");
        out[q].push((f[2].parse().unwrap(), f[3].parse().unwrap()));
    }
    out
}

/// `set` as a NumPy `.npy` file (version 1, C order) of element type `descr`, each value
/// written by `element`, as `np.save` writes it.
pub fn write_npy(path: &Path, descr: &str, set: &VectorSet, element: impl Fn(f32) -> Vec<u8>) {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}), }}", set.len(), set.dims);
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((dict.len() as u16).to_le_bytes());
    bytes.extend(dict.as_bytes());
    bytes.extend(set.data.iter().flat_map(|x| element(*x)));
    std::fs::write(path, bytes).unwrap();
}
