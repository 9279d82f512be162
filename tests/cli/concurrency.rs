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
