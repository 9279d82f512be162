//! Searches running while a writer changes the index see the old index or the new one,
//! never a mix: readers hold a shared lock, so a writer (with `--wait`) starts only when
//! the searches that opened before it have finished, and a search that starts while it
//! writes is refused with a clear error instead of reading half-changed blocks.

use std::process::Stdio;

use lmdiskann::io::write_vectors_parquet;
use lmdiskann::synthetic::Clustered;
use lmdiskann::VectorSet;

use crate::util::{text, Workdir};

#[test]
fn searches_during_a_writer_see_the_old_or_the_new_index() {
    let w = Workdir::new();
    w.dataset(4000, 16, 50);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    let data = Clustered::standard(16, 11);
    let new = VectorSet { rowids: (100_000..103_000).collect(), ..data.sample(3000, 7) };
    write_vectors_parquet(&w.path("new.parquet"), &new, true).unwrap();
    let search = ["search", "--index", "x.lmd", "--query", "q.fvecs", "-k", "10"];
    let old_hits = w.ok(&search);
    // The new index, made on a copy; inserts are deterministic.
    std::fs::copy(w.path("x.lmd"), w.path("y.lmd")).unwrap();
    w.ok(&["insert", "--input", "new.parquet", "--index", "y.lmd", "--auto-vacuum", "off"]);
    let new_hits = w.ok(&["search", "--index", "y.lmd", "--query", "q.fvecs", "-k", "10"]);
    assert_ne!(old_hits, new_hits, "the insert must change some results for this test to mean anything");

    // Searches start one after another while the writer waits for them, runs, and ends.
    let mut writer = w
        .cmd(&["insert", "--input", "new.parquet", "--index", "x.lmd", "--auto-vacuum", "off", "--wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut old, mut new, mut refused) = (0, 0, 0);
    let mut after_writer = 0;
    while after_writer < 3 {
        if writer.try_wait().unwrap().is_some() {
            after_writer += 1;
        }
        let out = w.cmd(&search).output().unwrap();
        let stdout = text(&out.stdout);
        if out.status.success() {
            match (stdout == old_hits, stdout == new_hits) {
                (true, _) => old += 1,
                (_, true) => new += 1,
                _ => panic!("a search during the insert returned results of neither the old nor the new index"),
            }
            // Once the new index is seen, the old one never comes back.
            assert!(new == 0 || stdout == new_hits);
        } else {
            let stderr = text(&out.stderr);
            assert!(stderr.contains("a writer is changing this index"), "unexpected failure: {stderr}");
            refused += 1;
        }
    }
    let status = writer.wait_with_output().unwrap();
    assert!(status.status.success(), "the insert failed: {}", text(&status.stderr));
    println!("searches while inserting: {old} saw the old index, {refused} were refused, {new} saw the new one");
    assert!(new >= 3, "the searches after the writer finished must see the new index");
    assert_eq!(w.ok(&search), new_hits);
}

/// A build that replaces an index is one more writer of it: started while an insert holds
/// the index, it fails at once without --wait, and with --wait renames its file over the
/// index only after the insert has committed, so the build's rows are the final index.
/// (Which process exits first says nothing: a build that waited commits right after the
/// insert and often exits before it.)
#[test]
fn a_build_over_an_index_waits_for_its_writer_and_loses_no_acknowledged_insert() {
    let w = Workdir::new();
    let data = Clustered::standard(16, 5);
    let old = data.sample(6000, 0);
    let new = VectorSet { rowids: (100_000..105_000).collect(), ..data.sample(5000, 1) };
    let rebuilt = VectorSet { rowids: (200_000..201_000).collect(), ..data.sample(1000, 2) };
    write_vectors_parquet(&w.path("old.parquet"), &old, true).unwrap();
    write_vectors_parquet(&w.path("new.parquet"), &new, true).unwrap();
    write_vectors_parquet(&w.path("rebuilt.parquet"), &rebuilt, true).unwrap();
    let both = VectorSet {
        rowids: rebuilt.rowids.iter().chain(&new.rowids).copied().collect(),
        data: rebuilt.data.iter().chain(&new.data).copied().collect(),
        ..rebuilt.clone()
    };
    write_vectors_parquet(&w.path("rebuilt+new.parquet"), &both, true).unwrap();
    w.ok(&["build", "--input", "old.parquet", "--index", "x.lmd"]);

    let insert = ["insert", "--input", "new.parquet", "--index", "x.lmd", "--auto-vacuum", "off", "--threads", "1"];
    let mut inserting = w.cmd(&insert).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Give the insert time to read its input and take the index.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let build = ["build", "--input", "rebuilt.parquet", "--index", "x.lmd", "--threads", "1"];
    let busy = w.cmd(&build).output().unwrap();
    let insert_done_early = inserting.try_wait().unwrap().is_some();
    if !insert_done_early {
        assert_eq!(busy.status.code(), Some(2), "a build over a busy index must be refused: {}", text(&busy.stderr));
        assert!(text(&busy.stderr).contains("another lmdiskann process is using this index"), "{}", text(&busy.stderr));
    }
    let building = w.cmd(&[&build[..], &["--wait"]].concat()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (inserted, built) = (inserting.wait_with_output().unwrap(), building.wait_with_output().unwrap());
    assert!(inserted.status.success(), "insert: {}", text(&inserted.stderr));
    assert!(built.status.success(), "build: {}", text(&built.stderr));
    w.ok(&["validate", "--index", "x.lmd", "--against", "rebuilt.parquet"]);
}
