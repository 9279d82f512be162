//! Where rowids come from: a `rowid` column in any case (DuckDB's names are
//! case-insensitive), or row positions, which every command that numbers rows so says once.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Builder, Int64Array, ListBuilder};
use lmdiskann::io::{write_fvecs, write_vectors_parquet};
use lmdiskann::synthetic::Clustered;
use lmdiskann::VectorSet;

use crate::util::{parse_hits, text, Workdir};

/// Runs and expects success; returns stderr.
pub fn stderr_of_ok(w: &Workdir, args: &[&str]) -> String {
    let out = w.cmd(args).output().expect("run lmdiskann");
    assert!(out.status.success(), "lmdiskann {args:?} failed: {}", text(&out.stderr));
    text(&out.stderr)
}

/// `set` as Parquet with its rowids in a column named `id_name` and vectors in `emb`.
fn parquet_with_id_column(w: &Workdir, name: &str, id_name: &str, set: &VectorSet) {
    let ids: ArrayRef = Arc::new(Int64Array::from(set.rowids.iter().map(|&r| r as i64).collect::<Vec<_>>()));
    let mut lists = ListBuilder::new(Float32Builder::new());
    for i in 0..set.len() {
        lists.values().append_slice(set.vector(i));
        lists.append(true);
    }
    let batch = arrow::record_batch::RecordBatch::try_from_iter([(id_name, ids), ("emb", Arc::new(lists.finish()) as ArrayRef)]).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(w.path(name)).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Rows with sparse rowids that cannot be mistaken for positions.
fn sparse(n: usize) -> VectorSet {
    let set = Clustered::standard(8, 5).sample(n, 0);
    VectorSet { rowids: (0..n as u64).map(|i| 1000 + 7 * i).collect(), ..set }
}

/// Every row searched by its own vector finds its own rowid first.
fn finds_itself(w: &Workdir, index: &str, set: &VectorSet) {
    write_fvecs(&w.path("self.fvecs"), set).unwrap();
    let hits = parse_hits(&w.ok(&["search", "--index", index, "--query", "self.fvecs", "-k", "1"]));
    let first: Vec<u64> = hits.iter().map(|h| h[0].0).collect();
    assert_eq!(first, set.rowids, "{index}: hits do not carry the file's rowids");
}

#[test]
fn a_rowid_column_in_any_case_gives_the_rowids() {
    let w = Workdir::new();
    let set = sparse(300);
    for (file, column) in [("upper.parquet", "ROWID"), ("mixed.parquet", "RowId")] {
        parquet_with_id_column(&w, file, column, &set);
        let index = file.replace(".parquet", ".lmd");
        let err = stderr_of_ok(&w, &["build", "--input", file, "--output", &index]);
        assert!(!err.contains("no rowid column"), "{file}: {err}");
        finds_itself(&w, &index, &set);
    }
    let mut csv = String::from("RowId,emb\n");
    for i in 0..set.len() {
        let values: Vec<String> = set.vector(i).iter().map(|x| format!("{x:?}")).collect();
        csv.push_str(&format!("{},\"[{}]\"\n", set.rowids[i], values.join(", ")));
    }
    std::fs::write(w.path("mixed.csv"), csv).unwrap();
    let err = stderr_of_ok(&w, &["build", "--input", "mixed.csv", "--output", "csv.lmd"]);
    assert!(!err.contains("no rowid column"), "{err}");
    finds_itself(&w, "csv.lmd", &set);
    // --id-column and --vector-column match ignoring case too.
    stderr_of_ok(&w, &["build", "--input", "upper.parquet", "--output", "flags.lmd", "--id-column", "rowid", "--vector-column", "EMB"]);
    finds_itself(&w, "flags.lmd", &set);
    // Two columns that differ only in case, neither spelled `rowid`: refused, naming both.
    let batch = arrow::record_batch::RecordBatch::try_from_iter([
        ("RowId", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("ROWID", Arc::new(Int64Array::from(vec![2])) as ArrayRef),
    ])
    .unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(w.path("two.parquet")).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let err = w.fails(&["delete", "--index", "csv.lmd", "--input", "two.parquet"]);
    assert!(err.contains("two.parquet: columns RowId and ROWID both match \"rowid\"") && err.contains("--id-column"), "{err}");
}

#[test]
fn rowids_taken_from_positions_are_noted_once() {
    let w = Workdir::new();
    let set = sparse(200);
    write_vectors_parquet(&w.path("v.parquet"), &set, false).unwrap();
    write_vectors_parquet(&w.path("with_ids.parquet"), &set, true).unwrap();
    write_fvecs(&w.path("v.fvecs"), &set).unwrap();
    let note = "note: v.parquet has no rowid column; rowids are row positions from 0 (pass --id-column NAME to use a column)";
    let once = |err: &str, what: &str| assert_eq!(err.matches(note).count(), 1, "{what}: {err}");
    once(&stderr_of_ok(&w, &["build", "--input", "v.parquet"]), "build");
    once(&stderr_of_ok(&w, &["groundtruth", "--input", "v.parquet", "--query", "v.fvecs", "-k", "1", "-o", "gt.ivecs"]), "groundtruth");
    once(&stderr_of_ok(&w, &["validate", "--against", "v.parquet"]), "validate --against");
    let err = stderr_of_ok(&w, &["build", "--input", "v.fvecs", "--output", "f.lmd"]);
    assert_eq!(err.matches("note: v.fvecs has no rowid column; rowids are row positions from 0\n").count(), 1, "{err}");
    // With a rowid column, nothing to note.
    for args in [
        &["build", "--input", "with_ids.parquet", "--output", "ids.lmd"][..],
        &["groundtruth", "--input", "with_ids.parquet", "--query", "v.fvecs", "-k", "1", "-o", "gt2.ivecs"],
        &["validate", "--index", "ids.lmd", "--against", "with_ids.parquet"],
    ] {
        let err = stderr_of_ok(&w, args);
        assert!(!err.contains("note:") && !err.contains("rowid column"), "{args:?}: {err}");
    }
}
