//! No I/O failure and no power cut loses data: every changing command (build over an
//! existing index, insert, delete, vacuum, vacuum --compact) is run once per I/O step it
//! takes, in memory, with that step failing, torn, or cut off with everything after it
//! (then the disk is replaced by what a power cut might have kept, for several seeds).
//! Afterwards the index opens, is sound, and is byte for byte the index before the
//! command or the one after it.

use std::path::Path;

use lmdiskann::index::{build_index_in, check_index, delete, insert, vacuum, UpdateOptions};
use lmdiskann::storage::{journal_path, Fault, Faulty, IndexFile, Left, MemoryStorage, Storage};
use lmdiskann::synthetic::Clustered;
use lmdiskann::{BuildOptions, Error, Result, VectorSet};

const OPTS: UpdateOptions = UpdateOptions { wait: false, auto_vacuum: None, now_ms: 7 };
const CRASH_SEEDS: u64 = 3;

fn path() -> &'static Path {
    Path::new("x.lmd")
}

fn build(storage: &dyn Storage, set: VectorSet, seed: u64) -> Result<()> {
    let opts = BuildOptions { max_degree: Some(16), seed, created_ms: 7, ..BuildOptions::default() };
    build_index_in(storage, set, &opts, path(), &|_, _, _| {}).map(|_| ())
}

/// The index in `storage` after opening it (which rolls back a hot journal), checked; the
/// header's record of how long a vacuum took (wall time, different in every run) zeroed.
fn opened(storage: &MemoryStorage, what: &str) -> Vec<u8> {
    let file = IndexFile::open_in(storage, path()).unwrap_or_else(|e| panic!("{what}: the index does not open: {e}"));
    let report = check_index(&file);
    assert!(report.problems.is_empty(), "{what}: {:?}", report.problems);
    let mut header = file.header().clone();
    drop(file);
    let mut bytes = storage.read(path()).unwrap();
    header.last_vacuum.took_ms = 0;
    header.encode(&mut bytes[..header.block_size as usize]);
    bytes
}

type Command<'a> = Box<dyn Fn(&dyn Storage) -> Result<()> + 'a>;

/// Runs `command` on a copy of `start` with every fault at every step; returns the number
/// of steps and the number of runs.
fn every_fault(name: &str, start: &MemoryStorage, command: &Command) -> (u64, u64) {
    let mut ended_before_after = (0, 0);
    let before = opened(&start.deep_clone(), name);
    let done = start.deep_clone();
    let counter = Faulty::counting(&done);
    command(&counter).unwrap_or_else(|e| panic!("{name}: {e}"));
    let steps = counter.steps();
    let after = opened(&done, name);
    assert_ne!(before, after, "{name} changed nothing");
    let mut runs = 0;
    for step in 0..steps {
        for fault in [Fault::Fail, Fault::Tear(step), Fault::Crash] {
            let storage = start.deep_clone();
            let result = command(&Faulty::at(&storage, step, fault));
            assert!(result.is_err(), "{name}: {fault:?} at step {step} of {steps} went unnoticed");
            let images: Vec<MemoryStorage> = match fault {
                Fault::Crash => (0..CRASH_SEEDS).map(|seed| storage.crash_image(step * CRASH_SEEDS + seed)).collect(),
                _ => vec![storage],
            };
            for image in images {
                let what = format!("{name}, {fault:?} at step {step} of {steps}");
                let bytes = opened(&image, &what);
                match (bytes == before, bytes == after) {
                    (true, _) => ended_before_after.0 += 1,
                    (_, true) => ended_before_after.1 += 1,
                    _ => panic!("{what}: the index is neither the old one nor the new one"),
                }
                runs += 1;
            }
        }
    }
    // Faults before the commit point leave the old index, those after it the new one.
    assert!(ended_before_after.0 > 0 && ended_before_after.1 > 0, "{name}: {ended_before_after:?}");
    (steps, runs)
}

/// An index with a deleted row in memory, and the commands that change it.
fn changing_commands() -> (MemoryStorage, Vec<(&'static str, Command<'static>)>) {
    let data = Clustered::standard(8, 5);
    let start = MemoryStorage::new();
    build(&start, data.sample(300, 0), 1).unwrap();
    delete(&start, path(), &[1, 2, 3], false, &OPTS).unwrap();
    let extra = VectorSet { rowids: (1000..1040).collect(), ..data.sample(40, 1) };
    let auto_extra = extra.clone();
    let commands: Vec<(&str, Command)> = vec![
        ("insert", Box::new(move |s| insert(s, path(), extra.clone(), false, &OPTS, &|_, _| {}).map(|_| ()))),
        ("delete", Box::new(|s| delete(s, path(), &[10, 11, 12], false, &OPTS).map(|_| ()))),
        ("vacuum", Box::new(|s| vacuum(s, path(), false, &OPTS).map(|_| ()))),
        (
            "insert with auto-vacuum",
            Box::new(move |s| {
                let opts = UpdateOptions { auto_vacuum: Some(0.5), ..OPTS };
                insert(s, path(), auto_extra.clone(), false, &opts, &|_, _| {}).map(|_| ())
            }),
        ),
    ];
    (start, commands)
}

#[test]
fn no_fault_at_any_io_step_of_any_command_loses_data() {
    let (start, mut commands) = changing_commands();
    let data = Clustered::standard(8, 5);
    commands.insert(0, ("build", Box::new(move |s| build(s, data.sample(250, 2), 2))));
    commands.insert(4, ("vacuum --compact", Box::new(|s| vacuum(s, path(), true, &OPTS).map(|_| ()))));
    let mut total = (0, 0);
    for (name, command) in &commands {
        let (steps, runs) = every_fault(name, &start, command);
        // Each command journals, writes, syncs and commits: a handful of steps at least.
        assert!(steps >= 6, "{name} took only {steps} I/O steps");
        println!("{name}: {steps} I/O steps, {runs} faulted runs, nothing lost");
        total = (total.0 + steps, total.1 + runs);
    }
    println!("in all: {} I/O steps, {} faulted runs", total.0, total.1);
}

/// A writer whose I/O fails (rather than its process dying) takes its change back before it
/// returns: whichever step of its commit fails, or is torn, the error leaves the file byte
/// for byte as it was, with no journal beside it.
#[test]
fn a_failed_write_is_undone_before_the_command_returns() {
    let (start, commands) = changing_commands();
    let before = start.read(path()).unwrap();
    for (name, command) in &commands {
        let done = start.deep_clone();
        let counter = Faulty::counting(&done);
        command(&counter).unwrap_or_else(|e| panic!("{name}: {e}"));
        let steps = counter.steps();
        for step in 0..steps {
            for fault in [Fault::Fail, Fault::Tear(step)] {
                let storage = start.deep_clone();
                let what = format!("{name}, {fault:?} at step {step} of {steps}");
                let err = command(&Faulty::at(&storage, step, fault)).expect_err(&what);
                assert!(!matches!(err, Error::NotUndone { .. }), "{what}: {err}");
                assert!(storage.read(path()).unwrap() == before, "{what}: the file changed");
                assert!(!storage.exists(&journal_path(path())), "{what}: a journal was left");
            }
        }
    }
}

/// When undoing a failed write fails too, the error says what the index holds, and it is
/// so: an unfinished change that the next open rolls back, or (when only the journal could
/// not be written again) the whole change.
#[test]
fn a_failed_undo_says_what_the_next_open_will_find() {
    let (start, commands) = changing_commands();
    let (name, delete) = &commands[1];
    let before = opened(&start.deep_clone(), name);
    let done = start.deep_clone();
    let counter = Faulty::counting(&done);
    delete(&counter).unwrap();
    let (steps, after) = (counter.steps(), opened(&done, name));
    let mut rolled_back = 0;
    for first in 0..steps {
        for second in first + 1.. {
            let storage = start.deep_clone();
            let faulty = Faulty::at_each(&storage, &[(first, Fault::Fail), (second, Fault::Fail)]);
            let err = delete(&faulty).expect_err("a failure goes unnoticed");
            if faulty.steps() <= second {
                break; // the command ended before the second fault
            }
            let what = format!("{name}, failures at steps {first} and {second}: {err}");
            let message = err.to_string();
            match err {
                Error::NotUndone { left: Left::HotJournal, .. } => {
                    assert!(message.contains("the next command to open it will roll back"), "{what}");
                    assert!(storage.exists(&journal_path(path())), "{what}: no journal to roll back");
                    assert!(opened(&storage, &what) == before, "{what}: the next open did not roll back");
                    rolled_back += 1;
                }
                Error::NotUndone { left: Left::Changed, .. } => {
                    assert!(message.contains("holds the whole change"), "{what}");
                    assert!(opened(&storage, &what) == after, "{what}: the change is not whole");
                }
                // Unchanged, said plainly; a journal that could not be removed before the
                // index was touched is one the next open drops.
                _ => {
                    assert!(storage.read(path()).unwrap() == start.read(path()).unwrap(), "{what}: the file changed");
                    assert!(opened(&storage, &what) == before, "{what}");
                    assert!(!storage.exists(&journal_path(path())), "{what}: the next open left the journal");
                }
            }
        }
    }
    assert!(rolled_back > 0, "no undo was made to fail");
}
