//! No command replaces a file it did not make: an output path may name nothing, an empty
//! file or a file of the kind the command writes; anything else needs --force, and a
//! command's own input is never an output. Devices, FIFOs and `-` are written in place,
//! symlinks through to their target.

use std::os::unix::fs::FileTypeExt;
use std::process::Stdio;

use crate::util::{text, Workdir};

const FOREIGN: &[u8] = b"SQLite format 3\0 or a DuckDB database, or anything the user keeps";

/// Runs `args`, expects the one-line exit-2 error naming `victim` (with `hint` in it), and
/// checks that `victim` is byte-identical afterwards and no temporary file is left.
fn refused(w: &Workdir, args: &[&str], victim: &str, hint: &str) {
    let before = std::fs::read(w.path(victim)).unwrap();
    let err = w.fails(args);
    assert!(err.starts_with(&format!("lmdiskann: {victim}: ")) && err.contains(hint), "{args:?}: {err}");
    assert_eq!(std::fs::read(w.path(victim)).unwrap(), before, "{args:?} changed {victim}");
    let leftovers: Vec<_> =
        std::fs::read_dir(w.root()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{args:?} left {leftovers:?}");
}

fn foreign(w: &Workdir, name: &str) {
    std::fs::write(w.path(name), FOREIGN).unwrap();
}

#[test]
fn build_replaces_only_an_index_or_with_force_and_never_its_input() {
    let w = Workdir::new();
    w.dataset(300, 8, 5);
    foreign(&w, "items.duckdb");
    foreign(&w, "notes.txt");
    refused(
        &w,
        &["build", "--input", "vectors.parquet", "--output", "items.duckdb"],
        "items.duckdb",
        "is not an lmdiskann index; pass --force",
    );
    refused(&w, &["build", "--input", "vectors.parquet", "--index", "notes.txt"], "notes.txt", "--force");
    for force in [&[][..], &["--force"]] {
        let args = [&["build", "--input", "vectors.parquet", "--output", "vectors.parquet"], force].concat();
        refused(&w, &args, "vectors.parquet", "is a file this command reads");
    }
    // An index is replaced without --force, again and again; a foreign file with it.
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd", "-R", "20"]);
    w.ok(&["validate", "--index", "x.lmd"]);
    refused(&w, &["build", "--input", "vectors.parquet", "--index", "x.lmd", "--report", "vectors.parquet"], "vectors.parquet", "reads");
    refused(&w, &["build", "--input", "vectors.parquet", "--index", "x.lmd", "--report", "notes.txt"], "notes.txt", "--force");
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd", "--report", "build.json"]);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd", "--report", "build.json"]);
    w.ok(&["build", "--input", "vectors.parquet", "--output", "items.duckdb", "--force"]);
    w.ok(&["validate", "--index", "items.duckdb"]);
    let err = w.fails(&["build", "--input", "vectors.parquet", "--index", "-"]);
    assert!(err.starts_with("lmdiskann: -: an index must be a regular file"), "{err}");
}

#[test]
fn search_replaces_only_its_own_hits_and_reports() {
    let w = Workdir::new();
    w.dataset(300, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    for name in ["hits.csv", "hits.tsv", "hits.jsonl", "hits.parquet", "hits.ndjson"] {
        foreign(&w, name);
        let args = ["search", "--index", "x.lmd", "--query", "q.fvecs", "--output", name];
        refused(&w, &args, name, "pass --force");
        std::fs::remove_file(w.path(name)).unwrap();
        w.ok(&args);
        let first = std::fs::read(w.path(name)).unwrap();
        w.ok(&args);
        assert_eq!(std::fs::read(w.path(name)).unwrap(), first, "{name}: a re-run writes the same hits");
    }
    // Another format's hits are not ours to replace either.
    std::fs::copy(w.path("hits.csv"), w.path("other.tsv")).unwrap();
    refused(&w, &["search", "--index", "x.lmd", "--query", "q.fvecs", "--output", "other.tsv"], "other.tsv", "--force");
    refused(
        &w,
        &["search", "--index", "x.lmd", "--query", "q.fvecs", "--output", "q.fvecs", "--format", "csv", "--force"],
        "q.fvecs",
        "reads",
    );
    refused(&w, &["search", "--index", "x.lmd", "--query", "q.fvecs", "--output", "x.lmd", "--format", "csv", "--force"], "x.lmd", "reads");
    foreign(&w, "search.json");
    let report = ["search", "--index", "x.lmd", "--query", "q.fvecs", "--output", "hits.csv", "--report", "search.json"];
    refused(&w, &report, "search.json", "--force");
    refused(&w, &["search", "--index", "x.lmd", "--query", "q.fvecs", "--output", "hits.csv", "--report", "hits.csv"], "hits.csv", "reads");
    w.ok(&[&report[..], &["--force"]].concat());
    w.ok(&report);
    // An empty file, as `touch` or `mktemp` makes, is free to fill.
    std::fs::write(w.path("empty.csv"), b"").unwrap();
    w.ok(&["search", "--index", "x.lmd", "--query", "q.fvecs", "--output", "empty.csv"]);
    assert!(text(&std::fs::read(w.path("empty.csv")).unwrap()).starts_with("query,rank,rowid,distance\n"));
}

#[test]
fn groundtruth_generate_and_demo_replace_only_their_own_files() {
    let w = Workdir::new();
    w.dataset(300, 8, 5);
    for name in ["gt.ivecs", "gt.parquet"] {
        foreign(&w, name);
        let args = ["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "5", "--output", name];
        refused(&w, &args, name, "--force");
        w.ok(&[&args[..], &["--force"]].concat());
        w.ok(&args);
    }
    refused(
        &w,
        &["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "--output", "vectors.parquet", "--force"],
        "vectors.parquet",
        "reads",
    );

    // A Parquet file lmdiskann wrote, but not as vectors.
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "5", "--output", "export.parquet"]);
    foreign(&w, "queries.fvecs");
    let generate = ["generate", "--n", "50", "--dims", "4", "--queries", "3", "--output", "export.parquet", "--query-output", "mine.fvecs"];
    refused(&w, &generate, "export.parquet", "--force");
    refused(
        &w,
        &["generate", "--n", "50", "--dims", "4", "--queries", "3", "--output", "mine.parquet", "--query-output", "queries.fvecs"],
        "queries.fvecs",
        "--force",
    );
    assert!(!w.path("mine.parquet").exists(), "both outputs are checked before either is written");
    w.ok(&generate[..].iter().map(|a| if *a == "export.parquet" { "mine.parquet" } else { a }).collect::<Vec<_>>());
    w.ok(&generate[..].iter().map(|a| if *a == "export.parquet" { "mine.parquet" } else { a }).collect::<Vec<_>>());

    std::fs::create_dir(w.path("demo")).unwrap();
    foreign(&w, "demo/index.lmd");
    let demo = ["demo", "--dir", "demo", "--n", "300", "--dims", "8", "--queries", "5"];
    refused(&w, &demo, "demo/index.lmd", "is not an lmdiskann index");
    assert!(!w.path("demo/vectors.parquet").exists(), "demo checks its folder before writing");
    std::fs::remove_file(w.path("demo/index.lmd")).unwrap();
    w.ok(&demo);
    w.ok(&demo);
}

#[test]
fn writers_and_tune_replace_only_their_own_reports() {
    let w = Workdir::new();
    w.dataset(300, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    w.ok(&["groundtruth", "--input", "vectors.parquet", "--query", "q.fvecs", "-k", "10", "--output", "gt.ivecs"]);
    foreign(&w, "r.json");
    for args in [
        &["tune", "--index", "x.lmd", "--query", "q.fvecs", "--groundtruth", "gt.ivecs", "--save", "--report", "r.json"][..],
        &["insert", "--input", "vectors.parquet", "--index", "x.lmd", "--upsert", "--report", "r.json"],
        &["delete", "--rowids", "1", "--ignore-missing", "--index", "x.lmd", "--report", "r.json"],
        &["vacuum", "--index", "x.lmd", "--report", "r.json"],
    ] {
        let index = std::fs::read(w.path("x.lmd")).unwrap();
        refused(&w, args, "r.json", "--force");
        assert!(std::fs::read(w.path("x.lmd")).unwrap() == index, "{args:?} changed the index before refusing");
        let own = args.iter().map(|a| if *a == "r.json" { "own.json" } else { a }).collect::<Vec<_>>();
        w.ok(&own);
        w.ok(&own);
    }
    refused(&w, &["vacuum", "--index", "x.lmd", "--report", "x.lmd", "--force"], "x.lmd", "reads");
}

#[test]
fn devices_fifos_stdout_and_symlinks_are_written_in_place_or_through() {
    let w = Workdir::new();
    w.dataset(300, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet", "--index", "x.lmd"]);
    let search = ["search", "--index", "x.lmd", "--query", "q.fvecs", "-k", "3"];
    let expected = w.ok(&search);
    assert!(expected.starts_with("query,rank,rowid,distance\n"));

    assert_eq!(w.ok(&[&search[..], &["--output", "-"]].concat()), expected);
    assert_eq!(w.ok(&[&search[..], &["--output", "-", "--report", "-"]].concat()).lines().next(), expected.lines().next());
    for device in ["/dev/null", "/dev/stdout"] {
        // /dev/null is a device, /dev/stdout a link to the process's own stdout: both stay so.
        let kind = std::fs::symlink_metadata(device).unwrap().file_type();
        let out = w.cmd(&[&search[..], &["--output", device, "--format", "csv"]].concat()).stderr(Stdio::piped()).output().unwrap();
        assert!(out.status.success(), "{device}: {}", text(&out.stderr));
        if device == "/dev/stdout" {
            assert_eq!(text(&out.stdout), expected, "hits written to /dev/stdout reach stdout");
        }
        assert_eq!(std::fs::symlink_metadata(device).unwrap().file_type(), kind, "{device} was replaced");
    }
    assert!(w.ok(&[&search[..], &["--output", "/dev/null", "--format", "csv", "--report", "/dev/null"]].concat()).is_empty());

    let fifo = w.path("hits.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::read(fifo).unwrap()
    });
    w.ok(&[&search[..], &["--output", "hits.fifo", "--format", "csv"]].concat());
    assert_eq!(text(&reader.join().unwrap()), expected);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    std::fs::create_dir(w.path("kept")).unwrap();
    std::os::unix::fs::symlink("kept/hits.csv", w.path("hits.csv")).unwrap();
    for _ in 0..2 {
        w.ok(&[&search[..], &["--output", "hits.csv"]].concat());
        assert!(std::fs::symlink_metadata(w.path("hits.csv")).unwrap().file_type().is_symlink());
        assert_eq!(text(&std::fs::read(w.path("kept/hits.csv")).unwrap()), expected);
    }
    // A symlinked index is rebuilt and compacted through the link too.
    std::os::unix::fs::symlink("x.lmd", w.path("link.lmd")).unwrap();
    w.ok(&["build", "--input", "vectors.parquet", "--index", "link.lmd", "-R", "20"]);
    w.ok(&["delete", "--rowids", "3", "--index", "link.lmd"]);
    w.ok(&["vacuum", "--compact", "--index", "link.lmd"]);
    assert!(std::fs::symlink_metadata(w.path("link.lmd")).unwrap().file_type().is_symlink());
    w.ok(&["validate", "--index", "x.lmd"]);
}
