//! Changing an index in place through the CLI: insert, delete, vacuum (and auto-vacuum),
//! the writer lock, the rollback journal, and format-1.0 files, on seeded data.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lmdiskann::io::{write_fvecs, write_vectors_parquet};
use lmdiskann::storage::journal_path;
use lmdiskann::synthetic::Clustered;
use lmdiskann::VectorSet;
use serde_json::Value;

use crate::duckdb::{duckdb, ids};
use crate::util::{parse_hits, text, Workdir};

/// What `SOURCE_DATE_EPOCH` (set by `Workdir::cmd`) makes every command record as "now".
const NOW_MS: u64 = 1_700_000_000_000;

fn stats(w: &Workdir, index: &str) -> Value {
    serde_json::from_str(&w.ok(&["stats", "--index", index, "--json"])).expect("stats --json prints JSON")
}

fn count(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or_else(|| panic!("stats {key} is not a count: {stats}"))
}

fn read_json(w: &Workdir, name: &str) -> Value {
    let bytes = std::fs::read(w.path(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

/// live + tombstoned + free + map pages account for every slot, and the file is the
/// header block plus one block per slot.
fn check_accounting(w: &Workdir, index: &str, s: &Value) {
    assert_eq!(
        count(s, "live") + count(s, "tombstoned") + count(s, "free") + count(s, "map_pages"),
        count(s, "slots"),
        "slot accounting in {s}"
    );
    assert_eq!(count(s, "file_bytes"), (count(s, "slots") + 1) * count(s, "block_size"), "file size in {s}");
    assert_eq!(count(s, "file_bytes"), std::fs::metadata(w.path(index)).unwrap().len(), "file_bytes vs the file");
}

/// `lmdiskann validate` passes: every block, count, edge, free slot and rowid map entry
/// agree, and every live node is reachable.
fn assert_sound(path: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lmdiskann")).args(["validate", "--index"]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}: {}{}", path.display(), text(&out.stdout), text(&out.stderr));
}

/// Rowids found for each query, nearest first.
fn search(w: &Workdir, index: &str, queries: &str, k: usize) -> Vec<Vec<u64>> {
    let k = k.to_string();
    let hits = parse_hits(&w.ok(&["search", "--index", index, "--query", queries, "-k", &k]));
    hits.iter().map(|h| h.iter().map(|x| x.0).collect()).collect()
}

/// Every query gets `k` hits, none of them in `gone`.
fn check_never_found(found: &[Vec<u64>], queries: usize, k: usize, gone: &HashSet<u64>, what: &str) {
    assert_eq!(found.len(), queries, "{what}: results per query");
    for (q, hits) in found.iter().enumerate() {
        assert_eq!(hits.len(), k, "{what}: query {q} got {hits:?}");
        let bad: Vec<&u64> = hits.iter().filter(|r| gone.contains(r)).collect();
        assert!(bad.is_empty(), "{what}: query {q} found deleted rowids {bad:?} in {hits:?}");
    }
}

/// The rows of `set` at `positions`, keeping their rowids.
fn rows(set: &VectorSet, positions: impl Iterator<Item = usize>) -> VectorSet {
    let mut out = VectorSet { dims: set.dims, source: set.source, ..Default::default() };
    for i in positions {
        out.rowids.push(set.rowids[i]);
        out.data.extend_from_slice(set.vector(i));
    }
    out
}

/// Seeded rows numbered from `first`.
fn numbered(data: &Clustered, n: usize, stream: u64, first: u64) -> VectorSet {
    VectorSet { rowids: (first..first + n as u64).collect(), ..data.sample(n, stream) }
}

fn write_lines(w: &Workdir, name: &str, header: &str, rowids: &[u64]) {
    let mut s = String::from(header);
    for r in rowids {
        s.push_str(&format!("{r}\n"));
    }
    std::fs::write(w.path(name), s).unwrap();
}

#[test]
fn insert_adds_rows_that_search_finds_and_refuses_live_rowids_unless_upsert() {
    let w = Workdir::new();
    let (n, m, dims) = (2000usize, 200usize, 16usize);
    let data = Clustered::standard(dims, 21);
    let all = data.sample(n + m, 0);
    let base = rows(&all, 0..n);
    let new = rows(&all, n..n + m);
    assert_eq!(new.rowids, (n as u64..(n + m) as u64).collect::<Vec<_>>());
    write_vectors_parquet(&w.path("base.parquet"), &base, true).unwrap();
    write_vectors_parquet(&w.path("new.parquet"), &new, true).unwrap();
    write_fvecs(&w.path("new.fvecs"), &new).unwrap();
    w.ok(&["build", "--input", "base.parquet"]);
    let built = stats(&w, "index.lmd");
    assert_eq!(count(&built, "live"), n as u64);

    w.ok(&["insert", "--input", "new.parquet", "--report", "insert.json"]);
    let report = read_json(&w, "insert.json");
    assert_eq!((report["inserted"].as_u64(), report["replaced"].as_u64()), (Some(m as u64), Some(0)), "{report}");
    assert_eq!(report["live"].as_u64(), Some((n + m) as u64), "{report}");
    let s = stats(&w, "index.lmd");
    assert_eq!((count(&s, "live"), count(&s, "tombstoned"), count(&s, "free")), ((n + m) as u64, 0, 0), "{s}");
    check_accounting(&w, "index.lmd", &s);
    assert!(count(&s, "slots") >= count(&built, "slots") + m as u64, "slots grew by the rows inserted: {s}");
    assert_eq!(s["format_version"], "2.0");
    assert_eq!(s["rolled_back"], false);
    assert!(s["last_vacuum"].is_null(), "nothing vacuumed yet: {s}");

    let found = search(&w, "index.lmd", "new.fvecs", 10);
    assert_eq!(found.len(), m);
    for (i, hits) in found.iter().enumerate() {
        assert_eq!(hits.len(), 10, "inserted row {}: {hits:?}", new.rowids[i]);
        assert_eq!(hits[0], new.rowids[i], "inserted row {} does not find itself first: {hits:?}", new.rowids[i]);
    }
    assert_sound(&w.path("index.lmd"));

    // A fresh row plus rowid 5, which is live: refused whole, the file untouched.
    let fresh = numbered(&data, 2, 2, 0);
    let again = VectorSet { rowids: vec![(n + m) as u64, 5], ..fresh };
    write_vectors_parquet(&w.path("again.parquet"), &again, true).unwrap();
    let before = std::fs::read(w.path("index.lmd")).unwrap();
    let err = w.fails(&["insert", "--input", "again.parquet"]);
    assert!(err.starts_with("lmdiskann: ") && err.contains("rowid 5") && err.contains("--upsert"), "{err}");
    assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "a refused insert changed the index");
    assert!(!journal_path(&w.path("index.lmd")).exists());

    // --upsert replaces rowid 5 with the new vector: found there, not at the old one.
    w.ok(&["insert", "--input", "again.parquet", "--upsert", "--report", "upsert.json"]);
    let report = read_json(&w, "upsert.json");
    assert_eq!((report["inserted"].as_u64(), report["replaced"].as_u64()), (Some(2), Some(1)), "{report}");
    let s = stats(&w, "index.lmd");
    assert_eq!((count(&s, "live"), count(&s, "tombstoned")), ((n + m + 1) as u64, 1), "{s}");
    check_accounting(&w, "index.lmd", &s);
    write_fvecs(&w.path("again.fvecs"), &again).unwrap();
    let found = search(&w, "index.lmd", "again.fvecs", 10);
    assert_eq!((found[0][0], found[1][0]), ((n + m) as u64, 5), "{found:?}");
    write_fvecs(&w.path("old5.fvecs"), &rows(&base, 5..6)).unwrap();
    let found = search(&w, "index.lmd", "old5.fvecs", 10);
    assert!(!found[0].contains(&5), "the replaced vector of rowid 5 is still found: {found:?}");
    assert_sound(&w.path("index.lmd"));
}

#[test]
fn deleted_rowids_never_come_back_whichever_way_they_are_listed() {
    let w = Workdir::new();
    let n = 1500usize;
    let (base, queries) = w.dataset(n, 16, 20);
    write_fvecs(&w.path("all.fvecs"), &base).unwrap();
    w.ok(&["build", "--input", "vectors.parquet"]);
    let mut gone: HashSet<u64> = HashSet::new();
    let check = |gone: &HashSet<u64>, what: &str| {
        let s = stats(&w, "index.lmd");
        assert_eq!((count(&s, "live"), count(&s, "tombstoned")), ((n - gone.len()) as u64, gone.len() as u64), "{what}: {s}");
        check_accounting(&w, "index.lmd", &s);
        // The deleted vectors themselves are queries too: each would find itself first.
        check_never_found(&search(&w, "index.lmd", "all.fvecs", 10), n, 10, gone, what);
        check_never_found(&search(&w, "index.lmd", "q.fvecs", 10), queries.len(), 10, gone, what);
    };

    w.ok(&["delete", "--rowids", "3,17", "--auto-vacuum", "off", "--report", "r.json"]);
    let report = read_json(&w, "r.json");
    assert_eq!((report["deleted"].as_u64(), report["missing"].as_u64()), (Some(2), Some(0)), "{report}");
    gone.extend([3, 17]);
    check(&gone, "--rowids");

    let txt: Vec<u64> = (0..n as u64).filter(|r| r % 50 == 7).collect();
    write_lines(&w, "gone.txt", "# rows to delete\n\n", &txt);
    w.ok(&["delete", "--input", "gone.txt", "--auto-vacuum", "off"]);
    gone.extend(&txt);
    check(&gone, ".txt");

    let csv: Vec<u64> = (0..n as u64).filter(|r| r % 50 == 23).collect();
    write_lines(&w, "gone.csv", "rowid\n", &csv);
    w.ok(&["delete", "--input", "gone.csv", "--auto-vacuum", "off"]);
    gone.extend(&csv);
    check(&gone, ".csv");

    // The user's way: a DuckDB table whose rowids are the file's rows, and the rows to
    // delete exported with COPY.
    let made = duckdb(
        &w,
        "gone_parquet",
        r#"
con = duckdb.connect()
con.execute("""
    CREATE TABLE items AS
    SELECT emb FROM read_parquet('vectors.parquet', file_row_number = true) ORDER BY file_row_number
""")
con.execute("COPY (SELECT rowid FROM items WHERE rowid % 50 = 41) TO 'gone.parquet'")
emit([r[0] for r in con.execute("SELECT rowid FROM read_parquet('gone.parquet') ORDER BY rowid").fetchall()])
"#,
    );
    let parquet = ids(&made);
    assert_eq!(parquet, (0..n as u64).filter(|r| r % 50 == 41).collect::<Vec<_>>(), "rowids DuckDB exported");
    w.ok(&["delete", "--input", "gone.parquet", "--auto-vacuum", "off"]);
    gone.extend(&parquet);
    check(&gone, ".parquet");
    assert_sound(&w.path("index.lmd"));

    // Rowids not in the index: refused whole, naming how many, the file untouched.
    let before = std::fs::read(w.path("index.lmd")).unwrap();
    let err = w.fails(&["delete", "--rowids", "5,100000,100001", "--auto-vacuum", "off"]);
    assert!(err.contains("2 of the 3") && err.contains("100000") && err.contains("--ignore-missing"), "{err}");
    assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "a refused delete changed the index");
    // A rowid deleted already is not in the index either.
    let err = w.fails(&["delete", "--rowids", "3", "--auto-vacuum", "off"]);
    assert!(err.contains("1 of the 1") && err.contains("--ignore-missing"), "{err}");
    assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "a refused delete changed the index");
    assert!(!journal_path(&w.path("index.lmd")).exists());

    w.ok(&["delete", "--rowids", "5,100000,100001", "--ignore-missing", "--auto-vacuum", "off", "--report", "r.json"]);
    let report = read_json(&w, "r.json");
    assert_eq!((report["deleted"].as_u64(), report["missing"].as_u64()), (Some(1), Some(2)), "{report}");
    gone.insert(5);
    check(&gone, "--ignore-missing");
    assert_sound(&w.path("index.lmd"));
}

#[test]
fn vacuum_frees_tombstones_inserts_reuse_them_and_compact_shrinks_the_file() {
    let w = Workdir::new();
    let n = 1500usize;
    let (_, queries) = w.dataset(n, 16, 20);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let gone: Vec<u64> = (0..n as u64).filter(|r| r % 25 == 4).collect();
    let deleted = gone.len() as u64;
    write_lines(&w, "gone.txt", "", &gone);
    w.ok(&["delete", "--input", "gone.txt", "--auto-vacuum", "off"]);
    let s = stats(&w, "index.lmd");
    assert_eq!((count(&s, "tombstoned"), count(&s, "free")), (deleted, 0), "{s}");
    assert!(s["last_vacuum"].is_null(), "{s}");

    w.ok(&["vacuum", "--report", "v.json"]);
    let s = stats(&w, "index.lmd");
    assert_eq!((count(&s, "live"), count(&s, "tombstoned"), count(&s, "free")), (n as u64 - deleted, 0, deleted), "{s}");
    assert_eq!(s["tombstoned_percent"].as_f64(), Some(0.0), "{s}");
    check_accounting(&w, "index.lmd", &s);
    let last = &s["last_vacuum"];
    assert_eq!((last["freed"].as_u64(), last["at_ms"].as_u64()), (Some(deleted), Some(NOW_MS)), "{s}");
    assert!(last["repruned"].as_u64().is_some() && last["took_ms"].as_u64().is_some(), "{s}");
    let report = read_json(&w, "v.json");
    assert_eq!(report["vacuum"]["freed"].as_u64(), Some(deleted), "{report}");
    assert_eq!(report["free"].as_u64(), Some(deleted), "{report}");
    let gone_set: HashSet<u64> = gone.iter().copied().collect();
    check_never_found(&search(&w, "index.lmd", "q.fvecs", 10), queries.len(), 10, &gone_set, "after vacuum");
    assert_sound(&w.path("index.lmd"));

    // An insert takes free slots before growing the file.
    let m = 40usize;
    let new = numbered(&Clustered::standard(16, 11), m, 2, 5000);
    write_vectors_parquet(&w.path("new.parquet"), &new, true).unwrap();
    write_fvecs(&w.path("new.fvecs"), &new).unwrap();
    w.ok(&["insert", "--input", "new.parquet"]);
    let after = stats(&w, "index.lmd");
    assert_eq!(count(&after, "live"), n as u64 - deleted + m as u64, "{after}");
    assert!(count(&after, "free") < deleted, "the insert used no free slot: {after}");
    assert!(
        count(&after, "slots") < count(&s, "slots") + m as u64,
        "slots grew from {} to {} for {m} rows with {deleted} free: {after}",
        count(&s, "slots"),
        count(&after, "slots")
    );
    check_accounting(&w, "index.lmd", &after);
    let found = search(&w, "index.lmd", "new.fvecs", 10);
    for (i, hits) in found.iter().enumerate() {
        assert_eq!(hits[0], new.rowids[i], "inserted row {} does not find itself first: {hits:?}", new.rowids[i]);
    }
    assert_sound(&w.path("index.lmd"));

    // Compacting drops the free slots and answers exactly as before.
    assert!(count(&after, "free") > 0, "nothing left to compact away: {after}");
    let q_before = w.ok(&["search", "--query", "q.fvecs", "-k", "10"]);
    let new_before = w.ok(&["search", "--query", "new.fvecs", "-k", "10"]);
    w.ok(&["vacuum", "--compact", "--report", "c.json"]);
    let compact = stats(&w, "index.lmd");
    assert!(count(&compact, "file_bytes") < count(&after, "file_bytes"), "compact did not shrink: {after} -> {compact}");
    assert_eq!(
        (count(&compact, "live"), count(&compact, "tombstoned"), count(&compact, "free")),
        (count(&after, "live"), 0, 0),
        "{compact}"
    );
    assert_eq!(count(&compact, "slots"), count(&compact, "live") + count(&compact, "map_pages"), "{compact}");
    assert_eq!(compact["format_version"], "2.0");
    check_accounting(&w, "index.lmd", &compact);
    let report = read_json(&w, "c.json");
    assert_eq!(
        (report["compacted"]["before_bytes"].as_u64(), report["compacted"]["after_bytes"].as_u64()),
        (Some(count(&after, "file_bytes")), Some(count(&compact, "file_bytes"))),
        "{report}"
    );
    assert_eq!(w.ok(&["search", "--query", "q.fvecs", "-k", "10"]), q_before, "compaction changed the answers");
    assert_eq!(w.ok(&["search", "--query", "new.fvecs", "-k", "10"]), new_before, "compaction changed the answers");
    assert_sound(&w.path("index.lmd"));
}

#[test]
fn auto_vacuum_runs_past_its_threshold_and_off_leaves_tombstones() {
    let w = Workdir::new();
    let n = 1000usize;
    let (_, queries) = w.dataset(n, 16, 20);
    w.ok(&["build", "--input", "vectors.parquet"]);
    std::fs::copy(w.path("index.lmd"), w.path("off.lmd")).unwrap();
    std::fs::copy(w.path("index.lmd"), w.path("default.lmd")).unwrap();
    // 63 rows, 6.3%: past 5%, short of the default 20%.
    let gone: Vec<u64> = (0..n as u64).filter(|r| r % 16 == 5).collect();
    let deleted = gone.len() as u64;
    assert!(deleted * 100 > 5 * n as u64 && deleted * 100 < 10 * n as u64);
    write_lines(&w, "gone.txt", "", &gone);
    let mut gone_set: HashSet<u64> = gone.iter().copied().collect();

    w.ok(&["delete", "--input", "gone.txt", "--auto-vacuum", "5", "--report", "a.json"]);
    let s = stats(&w, "index.lmd");
    assert_eq!((count(&s, "live"), count(&s, "tombstoned"), count(&s, "free")), (n as u64 - deleted, 0, deleted), "{s}");
    assert_eq!((s["last_vacuum"]["freed"].as_u64(), s["last_vacuum"]["at_ms"].as_u64()), (Some(deleted), Some(NOW_MS)), "{s}");
    check_accounting(&w, "index.lmd", &s);
    let report = read_json(&w, "a.json");
    assert_eq!((report["deleted"].as_u64(), report["vacuum"]["freed"].as_u64()), (Some(deleted), Some(deleted)), "{report}");
    check_never_found(&search(&w, "index.lmd", "q.fvecs", 10), queries.len(), 10, &gone_set, "auto-vacuum 5");
    assert_sound(&w.path("index.lmd"));

    w.ok(&["delete", "--index", "off.lmd", "--input", "gone.txt", "--auto-vacuum", "off", "--report", "off.json"]);
    let s = stats(&w, "off.lmd");
    assert_eq!((count(&s, "live"), count(&s, "tombstoned"), count(&s, "free")), (n as u64 - deleted, deleted, 0), "{s}");
    assert!(s["last_vacuum"].is_null(), "{s}");
    assert!((s["tombstoned_percent"].as_f64().unwrap() - 100.0 * deleted as f64 / n as f64).abs() < 1e-9, "{s}");
    check_accounting(&w, "off.lmd", &s);
    assert!(read_json(&w, "off.json")["vacuum"].is_null());
    check_never_found(&search(&w, "off.lmd", "q.fvecs", 10), queries.len(), 10, &gone_set, "auto-vacuum off");
    assert_sound(&w.path("off.lmd"));

    // The default threshold (20%) is not reached by 6.3%.
    w.ok(&["delete", "--index", "default.lmd", "--input", "gone.txt"]);
    let s = stats(&w, "default.lmd");
    assert_eq!((count(&s, "tombstoned"), count(&s, "free")), (deleted, 0), "{s}");
    assert!(s["last_vacuum"].is_null(), "{s}");
    assert_sound(&w.path("default.lmd"));

    // Tombstones left by earlier deletes count: the next delete past the threshold frees all.
    w.ok(&["delete", "--index", "off.lmd", "--rowids", "0", "--auto-vacuum", "5"]);
    gone_set.insert(0);
    let s = stats(&w, "off.lmd");
    assert_eq!((count(&s, "tombstoned"), count(&s, "free")), (0, deleted + 1), "{s}");
    assert_eq!(s["last_vacuum"]["freed"].as_u64(), Some(deleted + 1), "{s}");
    check_never_found(&search(&w, "off.lmd", "q.fvecs", 10), queries.len(), 10, &gone_set, "later auto-vacuum");
    assert_sound(&w.path("off.lmd"));
}

#[test]
fn a_second_writer_is_refused_or_waits_for_the_lock() {
    let w = Workdir::new();
    let (base, _) = w.dataset(500, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet"]);
    write_fvecs(&w.path("one.fvecs"), &rows(&base, 1..2)).unwrap();
    let before = std::fs::read(w.path("index.lmd")).unwrap();

    let held: File = OpenOptions::new().read(true).write(true).open(w.path("index.lmd")).unwrap();
    held.lock().unwrap();
    let err = w.fails(&["delete", "--rowids", "1"]);
    assert!(err.contains("index.lmd") && err.contains("another lmdiskann process") && err.contains("--wait"), "{err}");
    // Readers take a shared lock, so they are refused while a writer holds the file.
    let err = w.fails(&["search", "--query", "one.fvecs"]);
    assert!(err.contains("index.lmd") && err.contains("a writer is changing this index"), "{err}");
    assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "a refused delete changed the index");

    let child = w
        .cmd(&["delete", "--rowids", "1", "--wait"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn lmdiskann");
    std::thread::sleep(Duration::from_millis(300));
    let mut child = child;
    assert!(child.try_wait().unwrap().is_none(), "delete --wait did not wait for the lock");
    assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "delete --wait changed the index before it had the lock");
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "delete --wait failed: {}", text(&out.stderr));

    let s = stats(&w, "index.lmd");
    assert_eq!(count(&s, "live"), 499, "{s}");
    let found = search(&w, "index.lmd", "one.fvecs", 10);
    assert!(!found[0].contains(&1), "rowid 1 is still found: {found:?}");
    let err = w.fails(&["delete", "--rowids", "1"]);
    assert!(err.contains("1 of the 1"), "rowid 1 is still in the index: {err}");
    assert_sound(&w.path("index.lmd"));
}

#[test]
fn a_hot_journal_is_rolled_back_on_open_and_reported() {
    let w = Workdir::new();
    w.dataset(400, 8, 5);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let path = w.path("index.lmd");
    let s = stats(&w, "index.lmd");
    let block = count(&s, "block_size") as usize;
    let original = std::fs::read(&path).unwrap();
    let hits_before = w.ok(&["search", "--query", "q.fvecs", "-k", "10"]);

    // A writer that journaled the header and the entry node's block, then died while
    // writing them and appending a new slot.
    let node = (count(&s, "entry_slot") as usize + 1) * block;
    let mut journal = b"LMDJRNL1".to_vec();
    journal.extend((original.len() as u64).to_le_bytes());
    journal.extend(2u32.to_le_bytes());
    for offset in [0, node] {
        journal.extend((offset as u64).to_le_bytes());
        journal.extend((block as u32).to_le_bytes());
        journal.extend(&original[offset..offset + block]);
    }
    let crc = crc32c::crc32c(&journal);
    journal.extend(crc.to_le_bytes());
    std::fs::write(journal_path(&path), &journal).unwrap();
    let mut damaged = original.clone();
    damaged[..block / 2].fill(0xAA);
    damaged[node + 8..node + block - 8].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 37 + 11) as u8);
    damaged.extend(std::iter::repeat_n(0x55u8, block));
    std::fs::write(&path, &damaged).unwrap();

    let s = stats(&w, "index.lmd");
    assert_eq!(s["rolled_back"], true, "{s}");
    assert!(std::fs::read(&path).unwrap() == original, "the rollback did not restore the original bytes");
    assert!(!journal_path(&path).exists(), "the journal is still there");
    assert_eq!(stats(&w, "index.lmd")["rolled_back"], false, "a second open has nothing to roll back");
    // validate says so too, and finds the rolled-back file sound.
    std::fs::write(journal_path(&path), &journal).unwrap();
    std::fs::write(&path, &damaged).unwrap();
    let report: Value = serde_json::from_str(&w.ok(&["validate", "--json"])).unwrap();
    assert_eq!((report["rolled_back"].as_bool(), report["sound"].as_bool()), (Some(true), Some(true)), "{report}");
    assert_eq!(w.ok(&["search", "--query", "q.fvecs", "-k", "10"]), hits_before);
    assert_sound(&path);
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1.0").join(name)
}

#[test]
fn format_1_0_indexes_refuse_in_place_changes_until_compacted() {
    let w = Workdir::new();
    let queries = golden("queries.fvecs");
    let queries = queries.to_str().unwrap();
    let new = numbered(&Clustered::standard(16, 5), 3, 7, 1000);
    write_vectors_parquet(&w.path("new.parquet"), &new, true).unwrap();
    for name in ["l2-2bit", "cosine-4bit"] {
        let index = format!("{name}.lmd");
        std::fs::copy(golden(&index), w.path(&index)).unwrap();
        assert_eq!(stats(&w, &index)["format_version"], "1.0", "{name}");
        let search_args = ["search", "--index", &index, "--query", queries, "-k", "5", "-L", "32"];
        let expected = std::fs::read_to_string(golden(&format!("{name}.hits.csv"))).unwrap();
        assert_eq!(w.ok(&search_args), expected, "{name}: answers changed");

        let before = std::fs::read(w.path(&index)).unwrap();
        let err = w.fails(&["insert", "--index", &index, "--input", "new.parquet"]);
        assert!(err.contains("vacuum --compact"), "{name}: {err}");
        let err = w.fails(&["delete", "--index", &index, "--rowids", "7"]);
        assert!(err.contains("vacuum --compact"), "{name}: {err}");
        assert!(std::fs::read(w.path(&index)).unwrap() == before, "{name}: a refused change altered the file");

        w.ok(&["vacuum", "--index", &index, "--compact"]);
        let s = stats(&w, &index);
        assert_eq!(s["format_version"], "2.0", "{name}: {s}");
        assert_eq!((count(&s, "live"), count(&s, "tombstoned"), count(&s, "free")), (100, 0, 0), "{name}: {s}");
        check_accounting(&w, &index, &s);
        assert_eq!(w.ok(&search_args), expected, "{name}: compaction changed the answers");
        assert_sound(&w.path(&index));

        w.ok(&["delete", "--index", &index, "--rowids", "7"]);
        let s = stats(&w, &index);
        assert_eq!(count(&s, "live"), 99, "{name}: {s}");
        let k100 = ["search", "--index", &index, "--query", queries, "-k", "99", "-L", "128"];
        let gone = HashSet::from([7u64]);
        check_never_found(
            &parse_hits(&w.ok(&k100)).iter().map(|h| h.iter().map(|x| x.0).collect()).collect::<Vec<_>>(),
            8,
            99,
            &gone,
            name,
        );
        w.ok(&["insert", "--index", &index, "--input", "new.parquet"]);
        assert_eq!(count(&stats(&w, &index), "live"), 102, "{name}");
        assert_sound(&w.path(&index));
    }
}

#[test]
fn insert_refuses_rows_numbered_by_position_unless_told_how_to_number_them() {
    let w = Workdir::new();
    let data = Clustered::standard(16, 31);
    // A table exported without its rowid column, and new rows exported the same way: both
    // files number their rows 0, 1, ... so the new rows' positions are rowids of old rows.
    let base = data.sample(500, 0);
    let new = data.sample(297, 5);
    write_vectors_parquet(&w.path("base.parquet"), &base, false).unwrap();
    write_vectors_parquet(&w.path("new.parquet"), &new, false).unwrap();
    w.ok(&["build", "--input", "base.parquet"]);
    let before = std::fs::read(w.path("index.lmd")).unwrap();
    // Following the old advice (--upsert) replaced 297 rows with other rows' vectors.
    for args in [&["insert", "--input", "new.parquet"][..], &["insert", "--input", "new.parquet", "--upsert"]] {
        let err = w.fails(args);
        for word in ["new.parquet: no rowid column", "--id-column NAME", "--start-rowid N", "--rowids-from-position"] {
            assert!(err.contains(word), "{args:?}: the error lacks {word:?}: {err}");
        }
        assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "{args:?} changed the index");
    }
    // Positions asked for collide, and the advice is not to upsert over them.
    let err = w.fails(&["insert", "--input", "new.parquet", "--rowids-from-position"]);
    assert!(
        err.contains("rowid 0 is already in the index") && err.contains("positions collide") && err.contains("--start-rowid N"),
        "{err}"
    );
    assert!(!err.contains("--upsert"), "{err}");
    assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "a refused insert changed the index");
    assert!(!journal_path(&w.path("index.lmd")).exists());

    // Numbered after the table's rows, every row is kept and found as itself.
    let out = w.cmd(&["insert", "--input", "new.parquet", "--start-rowid", "500"]).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("note: new.parquet has no rowid column; rowids are 500 + the row position (from 0)").count(), 1, "{err}");
    assert!(err.contains("inserted 297 rows"), "{err}");
    let s = stats(&w, "index.lmd");
    assert_eq!((count(&s, "live"), count(&s, "tombstoned")), (797, 0), "{s}");
    write_fvecs(&w.path("base.fvecs"), &base).unwrap();
    write_fvecs(&w.path("new.fvecs"), &new).unwrap();
    let first = |queries: &str| search(&w, "index.lmd", queries, 1).into_iter().map(|h| h[0]).collect::<Vec<u64>>();
    assert_eq!(first("base.fvecs"), (0..500).collect::<Vec<u64>>(), "the old rows kept their vectors");
    assert_eq!(first("new.fvecs"), (500..797).collect::<Vec<u64>>(), "the new rows are found under their new rowids");
    assert_sound(&w.path("index.lmd"));
}

#[test]
fn an_empty_input_or_rowid_list_has_nothing_to_do() {
    let w = Workdir::new();
    w.dataset(300, 8, 2);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let before = std::fs::read(w.path("index.lmd")).unwrap();
    let nothing = VectorSet { dims: 8, ..Default::default() };
    write_vectors_parquet(&w.path("none.parquet"), &nothing, true).unwrap();
    std::fs::write(w.path("none.csv"), "rowid,emb\n").unwrap();
    std::fs::write(w.path("none.txt"), "# nothing today\n").unwrap();
    for (args, says) in [
        (&["insert", "--input", "none.parquet"][..], "nothing to do: none.parquet holds no rows"),
        (&["insert", "--input", "none.csv"], "nothing to do: none.csv holds no rows"),
        (&["delete", "--input", "none.txt"], "nothing to do: none.txt lists no rowids"),
        (&["delete", "--rowids", ""], "nothing to do: --rowids lists no rowids"),
    ] {
        let out = w.cmd(args).output().unwrap();
        let err = text(&out.stderr);
        assert!(out.status.success() && err.contains(says), "{args:?}: {err}");
        assert!(std::fs::read(w.path("index.lmd")).unwrap() == before, "{args:?} changed the index");
    }
    // A build still needs rows.
    let err = w.fails(&["build", "--input", "none.parquet", "--output", "empty.lmd"]);
    assert!(err.contains("none.parquet") && err.contains("empty input"), "{err}");
}

#[test]
fn rowids_listed_with_spaces_are_deleted_and_counts_read_right() {
    let w = Workdir::new();
    w.dataset(300, 8, 2);
    w.ok(&["build", "--input", "vectors.parquet"]);
    let out = w.cmd(&["delete", "--rowids", "7, 8 ,9", "--auto-vacuum", "off"]).output().unwrap();
    assert!(out.status.success() && text(&out.stderr).contains("deleted 3 rows from"), "{}", text(&out.stderr));
    let out = w.cmd(&["delete", "--rowids", " 10", "--auto-vacuum", "off"]).output().unwrap();
    assert!(out.status.success() && text(&out.stderr).contains("deleted 1 row from"), "{}", text(&out.stderr));
    assert_eq!(count(&stats(&w, "index.lmd"), "tombstoned"), 4);
    let err = w.fails(&["delete", "--rowids", "8"]);
    assert!(
        err.contains("not live in the index (never inserted, or already deleted; rowid 8)") && err.contains("--ignore-missing"),
        "{err}"
    );
    assert_sound(&w.path("index.lmd"));
}
