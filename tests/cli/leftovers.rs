//! Nothing is left behind: Ctrl-C (or SIGTERM) during a build removes its temporary file,
//! and the next writer of an index removes a `NAME.tmp` that no live process holds (one a
//! crash or kill -9 left), saying so; one another process is writing is left alone.

use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lmdiskann::io::write_vectors_parquet;
use lmdiskann::synthetic::Clustered;

use crate::util::{text, Workdir};

#[test]
fn sigint_during_a_build_removes_its_temporary_file_and_exits_130() {
    let w = Workdir::new();
    w.dataset(500, 32, 5);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    let old = std::fs::read(w.path("x.lmd")).unwrap();
    let tmp = w.path("x.lmd.tmp");
    // Large f32-coded blocks make the write stage long enough to interrupt; a build that
    // finishes first is tried again with more rows.
    for n in [8000, 16000, 32000] {
        let big = Clustered::standard(32, 3).sample(n, 0);
        write_vectors_parquet(&w.path("big.parquet"), &big, true).unwrap();
        let args = ["build", "--input", "big.parquet", "--index", "x.lmd", "--codes", "f32", "-R", "32", "-L", "32", "--threads", "2"];
        let mut child = w.cmd(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let started = Instant::now();
        let writing = loop {
            if std::fs::metadata(&tmp).is_ok_and(|m| m.len() > 0) {
                break true;
            }
            if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(120) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if !writing {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            std::fs::write(w.path("x.lmd"), &old).unwrap();
            continue;
        }
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "stderr: {}", text(&out.stderr));
        assert!(!tmp.exists(), "the interrupted build left its temporary file");
        assert_eq!(std::fs::read(w.path("x.lmd")).unwrap(), old, "the interrupted build changed the index");
        w.ok(&["validate", "--index", "x.lmd"]);
        return;
    }
    panic!("no build was caught while writing its temporary file");
}

const NOTE: &str = "note: x.lmd: removed x.lmd.tmp, a temporary file an interrupted command left";

#[test]
fn the_next_writer_removes_a_stale_temporary_file_and_says_so() {
    let w = Workdir::new();
    w.dataset(300, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    let extra = lmdiskann::VectorSet { rowids: (1000..1010).collect(), ..Clustered::standard(8, 11).sample(10, 3) };
    write_vectors_parquet(&w.path("extra.parquet"), &extra, true).unwrap();
    let tmp = w.path("x.lmd.tmp");
    for args in [
        &["insert", "--input", "extra.parquet", "--index", "x.lmd", "--upsert"][..],
        &["delete", "--rowids", "1000", "--index", "x.lmd", "--ignore-missing"],
        &["vacuum", "--index", "x.lmd"],
        &["build", "--input", "vectors.parquet", "--index", "x.lmd"],
    ] {
        std::fs::write(&tmp, b"half an index, from a build killed with -9").unwrap();
        let out = w.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(NOTE), "{args:?} did not say it removed the file: {}", text(&out.stderr));
        assert!(!tmp.exists(), "{args:?} left the stale temporary file");
        w.ok(&["validate", "--index", "x.lmd"]);
        // With nothing left over, nothing is said.
        let out = w.cmd(args).output().unwrap();
        assert!(!text(&out.stderr).contains("removed"), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn a_temporary_file_another_process_holds_is_left_alone() {
    let w = Workdir::new();
    w.dataset(300, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    let tmp = w.path("x.lmd.tmp");
    std::fs::write(&tmp, b"being written").unwrap();
    // A live writer of the temporary file holds its lock, as `build` does.
    let held = File::options().read(true).write(true).open(&tmp).unwrap();
    held.lock().unwrap();
    let out = w.cmd(&["delete", "--rowids", "5", "--index", "x.lmd"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("removed"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&tmp).unwrap(), b"being written");
    // A second build of the same index is refused rather than emptying the first one's file.
    let index = std::fs::read(w.path("x.lmd")).unwrap();
    let err = w.fails(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    assert!(err.contains("x.lmd.tmp: another lmdiskann process is writing this file"), "{err}");
    assert_eq!(std::fs::read(&tmp).unwrap(), b"being written");
    assert_eq!(std::fs::read(w.path("x.lmd")).unwrap(), index);
    drop(held);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    assert!(!tmp.exists());
}
