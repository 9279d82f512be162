//! kill -9 of the real binary at seeded random moments of build, insert, delete and
//! vacuum. After each kill the index must pass `validate` and hold exactly the rows it
//! held before the killed command or exactly those it would hold after it; a command that
//! reported success must be there in full.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lmdiskann::io::write_vectors_parquet;
use lmdiskann::rng::Rng;
use lmdiskann::synthetic::Clustered;
use lmdiskann::VectorSet;

use crate::util::{text, Workdir};

const DIMS: usize = 16;

/// The rows an index should hold: rowid -> vector.
type Rows = BTreeMap<u64, Vec<f32>>;

fn write_rows(w: &Workdir, name: &str, rows: &Rows) {
    let set = VectorSet {
        dims: DIMS,
        rowids: rows.keys().copied().collect(),
        data: rows.values().flatten().copied().collect(),
        ..Default::default()
    };
    write_vectors_parquet(&w.path(name), &set, true).expect("write parquet");
}

/// Whether the index is sound and holds exactly `rows`.
fn holds(w: &Workdir, expected: &str) -> bool {
    let out = w.cmd(&["validate", "--index", "x.lmd", "--against", expected]).output().expect("run validate");
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("validate could not read the index after a kill: {}", text(&out.stderr)),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Build,
    Insert,
    Delete,
    Vacuum,
}

#[test]
fn kill_9_at_any_moment_loses_no_committed_change() {
    let w = Workdir::new();
    let data = Clustered::standard(DIMS, 21);
    let mut rng = Rng::new(2026);
    let mut next_rowid = 0u64;
    let mut fresh_rows = |n: usize, rng: &mut Rng| -> Rows {
        let set = data.sample(n, rng.below(1 << 30));
        let rows = (0..n).map(|i| (next_rowid + i as u64, set.vector(i).to_vec())).collect();
        next_rowid += n as u64;
        rows
    };
    let mut model = fresh_rows(6000, &mut rng);
    write_rows(&w, "build.parquet", &model);
    w.ok(&["build", "--input", "build.parquet", "--index", "x.lmd", "--threads", "2"]);

    // How long each kind takes, as last seen finishing (or guessed, growing while it never
    // does): kill times are drawn from the second half of that, where commands write.
    let mut took: BTreeMap<Kind, Duration> = BTreeMap::new();
    // (kills inside a command, of them those that left a hot journal or a half-written
    // temporary file, commands that finished first) per kind.
    let mut tally: BTreeMap<Kind, (u32, u32, u32)> = BTreeMap::new();
    for round in 0..48 {
        let kind = [Kind::Build, Kind::Insert, Kind::Delete, Kind::Vacuum][round % 4];
        let mut after = model.clone();
        let args: Vec<String> = match kind {
            Kind::Build => {
                after.extend(fresh_rows(300, &mut rng));
                write_rows(&w, "input.parquet", &after);
                "build --input input.parquet --index x.lmd --threads 2".split(' ').map(String::from).collect()
            }
            Kind::Insert => {
                let new = fresh_rows(1500, &mut rng);
                write_rows(&w, "input.parquet", &new);
                after.extend(new);
                "insert --input input.parquet --index x.lmd --threads 2 --auto-vacuum off".split(' ').map(String::from).collect()
            }
            Kind::Delete => {
                let live: Vec<u64> = after.keys().copied().collect();
                let gone: Vec<u64> = (0..600).map(|_| live[rng.below(live.len() as u64) as usize]).collect();
                gone.iter().for_each(|r| {
                    after.remove(r);
                });
                let list: Vec<String> = live.iter().filter(|r| !after.contains_key(r)).map(u64::to_string).collect();
                std::fs::write(w.path("gone.txt"), list.join("\n")).unwrap();
                "delete --input gone.txt --index x.lmd --auto-vacuum off".split(' ').map(String::from).collect()
            }
            Kind::Vacuum => "vacuum --index x.lmd --threads 2".split(' ').map(String::from).collect(),
        };
        write_rows(&w, "before.parquet", &model);
        write_rows(&w, "after.parquet", &after);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let limit = took.get(&kind).map_or(300, |d| d.as_millis() as u64).max(2);
        let delay = Duration::from_millis(limit / 2 + rng.below(limit - limit / 2));
        let started = Instant::now();
        let mut child = w.cmd(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn lmdiskann");
        let finished = loop {
            match child.try_wait().expect("poll child") {
                Some(status) => break Some(status),
                None if started.elapsed() >= delay => break None,
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        let entry = tally.entry(kind).or_default();
        match finished {
            Some(status) => {
                // It finished before the kill: it must have succeeded, and be there in full.
                assert!(status.success(), "round {round}: lmdiskann {args:?} failed: {:?}", child.wait_with_output());
                took.insert(kind, started.elapsed());
                entry.2 += 1;
                assert!(holds(&w, "after.parquet"), "round {round}: {kind:?} reported success but its change is not all there");
                model = after;
            }
            None => {
                child.kill().expect("kill -9");
                let status = child.wait().expect("reap");
                entry.0 += 1;
                entry.1 += u32::from(w.path("x.lmd-journal").exists() || w.path("x.lmd.tmp").exists());
                if entry.2 == 0 {
                    took.insert(kind, Duration::from_millis(limit * 3 / 2));
                }
                if status.success() {
                    // It won the race with the kill.
                    assert!(holds(&w, "after.parquet"), "round {round}: {kind:?} reported success but its change is not all there");
                    model = after;
                } else if holds(&w, "after.parquet") {
                    model = after;
                } else {
                    assert!(
                        holds(&w, "before.parquet"),
                        "round {round}: {kind:?} killed after {delay:?} left neither the old rows nor the new"
                    );
                }
            }
        }
    }
    println!("kill -9 rounds (killed inside, of them mid-write, finished first) by command: {tally:?}");
    for (kind, (killed, _, _)) in &tally {
        assert!(*killed >= 3, "{kind:?}: only {killed} kills landed inside the command");
    }
    // What the last commands left is exactly the model.
    write_rows(&w, "model.parquet", &model);
    assert!(holds(&w, "model.parquet"));
}
