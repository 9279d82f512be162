//! In-place writes that are all-or-nothing, under a rollback journal (SQLite's model).
//!
//! Before any byte of `NAME` changes, the old bytes of every range about to be written
//! go to `NAME-journal`, which is fsynced (and its directory entry with it). Then the new
//! bytes are written to `NAME` and fsynced, and the journal is removed: that removal is
//! the commit. A journal found later is "hot": the command that wrote it did not finish,
//! and opening the index rolls it back, restoring every journaled range and the file's
//! old length. A journal whose checksum does not hold was torn while being written,
//! before `NAME` was touched, and is simply removed. A writer whose I/O fails (rather
//! than its process dying) rolls back itself before it reports.
//!
//! ```text
//! journal = magic "LMDJRNL1" | original file length u64 | record count u32
//!           | records: offset u64, length u32, old bytes
//!           | CRC32C of everything before it (u32)
//! ```

use std::path::{Path, PathBuf};

use super::vfs::{Storage, StoredFile};
use crate::error::{Error, Result};

pub(super) const MAGIC: &[u8; 8] = b"LMDJRNL1";
const HEADER_LEN: usize = 8 + 8 + 4;

/// `NAME-journal` beside `NAME`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push("-journal");
    path.with_file_name(name)
}

/// With the exclusive lock held on `file`: journals, writes and commits `writes`. A
/// failure undoes what it touched before it returns: the journal is removed and, once the
/// index has been written to, its old bytes and length are restored from the journal. Only
/// when that fails too does the error say what the file holds instead ([`Error::NotUndone`]).
pub(super) fn write_locked(storage: &dyn Storage, path: &Path, file: &dyn StoredFile, writes: &[(u64, &[u8])]) -> Result<()> {
    let journal = journal_of(path, file, writes)?;
    if let Err(e) = write_journal(storage, path, &journal) {
        // The index is untouched; a journal left half-written goes with it.
        let _ = storage.remove(&journal_path(path));
        return Err(e);
    }
    match apply(path, file, writes).and_then(|()| commit(storage, path)) {
        Ok(()) => Ok(()),
        Err(cause) => Err(undo(storage, path, file, &journal, cause)),
    }
}

/// Takes back a change that failed after its journal was made durable, and says what the
/// index holds: `cause` itself when it is as it was.
fn undo(storage: &dyn Storage, path: &Path, file: &dyn StoredFile, journal: &[u8], cause: Error) -> Error {
    let jpath = journal_path(path);
    let not_undone = |cause, undo, left| Error::NotUndone { cause: Box::new(cause), undo: Box::new(undo), left };
    // Only the directory sync after the journal's removal failed: the change is whole and
    // its journal gone, so the journal is written again before the index is restored.
    if !storage.exists(&jpath) {
        if let Err(undo) = write_journal(storage, path, journal) {
            let _ = storage.remove(&jpath);
            let left = if storage.exists(&jpath) { Left::HotJournal } else { Left::Changed };
            return not_undone(cause, undo, left);
        }
    }
    let restored = match parse(journal) {
        Some(parsed) => restore(path, file, &parsed),
        None => Err(Error::InvalidData("the journal this command wrote does not parse".into())),
    };
    match restored.and_then(|()| commit(storage, path)) {
        Ok(()) => cause,
        // The old bytes are back and the journal is gone; only its removal is unconfirmed,
        // and a journal that came back would restore the same bytes.
        Err(_) if !storage.exists(&jpath) => cause,
        Err(undo) => not_undone(cause, undo, Left::HotJournal),
    }
}

/// What a change that could not be undone left in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// A hot journal beside an index that may hold part of the change: the next command
    /// to open the index rolls it back.
    HotJournal,
    /// The whole change, its journal gone, but the disk did not confirm the commit.
    Changed,
}

impl std::fmt::Display for Left {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Left::HotJournal => "the index holds an unfinished change that the next command to open it will roll back",
            Left::Changed => "the index holds the whole change, but the disk did not confirm it",
        })
    }
}

/// Rolls back a hot journal of `path`, if there is one; true when it did. Called before
/// an index is opened for reading. A journal whose writer still holds the lock is not
/// hot: that writer is committing, and the reader must come back when it has finished.
pub fn recover(storage: &dyn Storage, path: &Path) -> Result<bool> {
    if !storage.exists(&journal_path(path)) {
        return Ok(false);
    }
    let file = match open_exclusive(storage, path, false) {
        Err(Error::Locked { path, .. }) => return Err(Error::Locked { path, what: WRITER_BUSY.into() }),
        other => other?,
    };
    roll_back_locked(storage, path, &*file)
}

/// What a reader is told while a writer holds the index.
pub(super) const WRITER_BUSY: &str = "a writer is changing this index; try again when it finishes";

/// Opens `path` for writing under an exclusive lock; with `wait`, blocks until other
/// processes let go of it instead of failing.
pub(super) fn open_exclusive(storage: &dyn Storage, path: &Path, wait: bool) -> Result<Box<dyn StoredFile>> {
    loop {
        let file = storage.open(path, true).map_err(|e| Error::io(path, "cannot open index for writing", e))?;
        if !file.lock(true, wait).map_err(|e| Error::io(path, "cannot lock index", e))? {
            return Err(Error::Locked {
                path: path.into(),
                what: "another lmdiskann process is using this index; try again when it finishes, or pass --wait".into(),
            });
        }
        // While we waited, a compaction may have renamed a new file over `path`: the lock
        // we hold is then on the old inode, and the new file is the one to lock.
        if file.is_at(path).map_err(|e| Error::io(path, "cannot stat index", e))? {
            return Ok(file);
        }
    }
}

/// The journal of `writes`: the old bytes of every range they will change.
fn journal_of(path: &Path, file: &dyn StoredFile, writes: &[(u64, &[u8])]) -> Result<Vec<u8>> {
    let len = file.size().map_err(|e| Error::io(path, "cannot stat index", e))?;
    let mut journal = Vec::with_capacity(HEADER_LEN + writes.iter().map(|w| 12 + w.1.len()).sum::<usize>() + 4);
    journal.extend_from_slice(MAGIC);
    journal.extend_from_slice(&len.to_le_bytes());
    journal.extend_from_slice(&(writes.len() as u32).to_le_bytes());
    for &(offset, bytes) in writes {
        // Only what exists can be restored; the rest is cut off by the old length.
        let kept = len.saturating_sub(offset).min(bytes.len() as u64) as usize;
        let at = journal.len();
        journal.extend_from_slice(&offset.to_le_bytes());
        journal.extend_from_slice(&(kept as u32).to_le_bytes());
        journal.resize(at + 12 + kept, 0);
        file.read_at(&mut journal[at + 12..], offset).map_err(|e| Error::io(path, "cannot read index", e))?;
    }
    let crc = crc32c::crc32c(&journal);
    journal.extend_from_slice(&crc.to_le_bytes());
    Ok(journal)
}

/// Writes `journal` beside `path`, durably, name included.
fn write_journal(storage: &dyn Storage, path: &Path, journal: &[u8]) -> Result<()> {
    let jpath = journal_path(path);
    let jfile = storage.create(&jpath).map_err(|e| Error::io(&jpath, "cannot create journal", e))?;
    jfile.set_len(0).map_err(|e| Error::io(&jpath, "cannot write journal", e))?;
    jfile.write_at(journal, 0).map_err(|e| Error::io(&jpath, "cannot write journal", e))?;
    jfile.sync().map_err(|e| Error::io(&jpath, "cannot sync journal", e))?;
    // The journal's name must be durable before the index changes.
    storage.sync_dir(path).map_err(|e| Error::io(path, "cannot sync directory", e))
}

fn apply(path: &Path, file: &dyn StoredFile, writes: &[(u64, &[u8])]) -> Result<()> {
    for &(offset, bytes) in writes {
        file.write_at(bytes, offset).map_err(|e| Error::io(path, "cannot write index", e))?;
    }
    file.sync().map_err(|e| Error::io(path, "cannot sync index", e))
}

/// Removing the journal commits the change.
fn commit(storage: &dyn Storage, path: &Path) -> Result<()> {
    let jpath = journal_path(path);
    storage.remove(&jpath).map_err(|e| Error::io(&jpath, "cannot remove journal", e))?;
    storage.sync_dir(path).map_err(|e| Error::io(path, "cannot sync directory", e))
}

/// With the exclusive lock held: restores what a hot journal recorded and removes it.
pub(super) fn roll_back_locked(storage: &dyn Storage, path: &Path, file: &dyn StoredFile) -> Result<bool> {
    let jpath = journal_path(path);
    let journal = match read_all(storage, &jpath) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(&jpath, "cannot read journal", e)),
    };
    if let Some(parsed) = parse(&journal) {
        restore(path, file, &parsed)?;
    }
    // A journal that does not parse was torn before the index was touched.
    commit(storage, path)?;
    Ok(true)
}

/// Writes back the old bytes and length a journal recorded, durably.
fn restore(path: &Path, file: &dyn StoredFile, journal: &Parsed) -> Result<()> {
    for &(offset, old) in &journal.records {
        file.write_at(old, offset).map_err(|e| Error::io(path, "cannot roll back index", e))?;
    }
    file.set_len(journal.len).map_err(|e| Error::io(path, "cannot roll back index length", e))?;
    file.sync().map_err(|e| Error::io(path, "cannot sync index", e))
}

fn read_all(storage: &dyn Storage, path: &Path) -> std::io::Result<Vec<u8>> {
    let file = storage.open(path, false)?;
    let mut bytes = vec![0u8; file.size()? as usize];
    file.read_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// A whole journal: the file's original length and the (offset, old bytes) records.
struct Parsed<'a> {
    len: u64,
    records: Vec<(u64, &'a [u8])>,
}

/// The journal's contents, if it is whole.
fn parse(journal: &[u8]) -> Option<Parsed<'_>> {
    let (body, crc) = journal.split_at_checked(journal.len().checked_sub(4)?)?;
    if body.len() < HEADER_LEN || &body[..8] != MAGIC || crc32c::crc32c(body).to_le_bytes() != crc {
        return None;
    }
    let len = u64::from_le_bytes(body[8..16].try_into().ok()?);
    let count = u32::from_le_bytes(body[16..20].try_into().ok()?);
    let mut at = HEADER_LEN;
    let mut records = Vec::new();
    for _ in 0..count {
        let offset = u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?);
        let n = u32::from_le_bytes(body.get(at + 8..at + 12)?.try_into().ok()?) as usize;
        records.push((offset, body.get(at + 12..at + 12 + n)?));
        at += 12 + n;
    }
    (at == body.len()).then_some(Parsed { len, records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::storage::FileStorage;

    /// Writes every `(offset, bytes)` into `path` in place, all or nothing.
    fn write_in_place(path: &Path, writes: &[(u64, &[u8])]) -> Result<()> {
        let file = open_exclusive(&FileStorage, path, false)?;
        roll_back_locked(&FileStorage, path, &*file)?;
        write_locked(&FileStorage, path, &*file, writes)
    }

    /// Journals `writes` durably, as a writer does before it touches the index.
    fn begin(path: &Path, file: &dyn StoredFile, writes: &[(u64, &[u8])]) {
        write_journal(&FileStorage, path, &journal_of(path, file, writes).unwrap()).unwrap();
    }

    fn setup(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lmd");
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }

    const OLD: &[u8] = b"0123456789abcdef";
    const WRITES: [(u64, &[u8]); 3] = [(2, b"XY"), (14, b"ZZZZ"), (30, b"far")];

    #[test]
    fn writes_land_in_place_and_leave_no_journal() {
        let (_dir, path) = setup(OLD);
        write_in_place(&path, &WRITES).unwrap();
        let mut want = b"01XY456789abcdZZZZ".to_vec();
        want.resize(30, 0);
        want.extend_from_slice(b"far");
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert!(!journal_path(&path).exists());
        assert!(!recover(&FileStorage, &path).unwrap());
    }

    #[test]
    fn a_crash_at_any_point_of_applying_rolls_back_to_the_old_bytes() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let (_dir, path) = setup(OLD);
            let file = open_exclusive(&FileStorage, &path, false).unwrap();
            begin(&path, &*file, &WRITES);
            // Some of the writes reached the file, one of them torn: garbage in its range.
            let done = rng.below(WRITES.len() as u64 + 1) as usize;
            apply(&path, &*file, &WRITES[..done]).unwrap();
            if let Some(&(offset, bytes)) = WRITES.get(done) {
                let torn: Vec<u8> = bytes.iter().map(|_| rng.below(256) as u8).collect();
                file.write_at(&torn[..rng.below(bytes.len() as u64 + 1) as usize], offset).unwrap();
            }
            drop(file);
            assert!(recover(&FileStorage, &path).unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), OLD);
            assert!(!journal_path(&path).exists());
        }
    }

    #[test]
    fn a_torn_journal_means_the_index_was_never_touched() {
        let (_dir, path) = setup(OLD);
        let file = open_exclusive(&FileStorage, &path, false).unwrap();
        begin(&path, &*file, &WRITES);
        drop(file);
        let whole = std::fs::read(journal_path(&path)).unwrap();
        for cut in 0..whole.len() {
            std::fs::write(journal_path(&path), &whole[..cut]).unwrap();
            assert!(recover(&FileStorage, &path).unwrap(), "cut {cut}");
            assert_eq!(std::fs::read(&path).unwrap(), OLD, "cut {cut}");
            assert!(!journal_path(&path).exists());
        }
        let mut flipped = whole.clone();
        flipped[HEADER_LEN + 12] ^= 1;
        std::fs::write(journal_path(&path), &flipped).unwrap();
        assert!(recover(&FileStorage, &path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), OLD);
    }

    #[test]
    fn opening_an_index_rolls_back_a_hot_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lmd");
        let set = crate::synthetic::Clustered::standard(8, 1).sample(50, 0);
        crate::index::build_index(set, &crate::BuildOptions::default(), &path, &|_, _, _| {}).unwrap();
        let before = std::fs::read(&path).unwrap();
        // A writer journals a header change, scribbles over the header, and dies.
        let garbage = [0xAAu8; 300];
        let file = open_exclusive(&FileStorage, &path, false).unwrap();
        begin(&path, &*file, &[(0, &garbage)]);
        apply(&path, &*file, &[(0, &garbage)]).unwrap();
        drop(file);
        let index = super::super::IndexFile::open(&path).unwrap();
        assert_eq!(index.header().live, 50);
        drop(index);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!journal_path(&path).exists());
    }

    #[test]
    fn a_second_writer_is_refused() {
        let (_dir, path) = setup(OLD);
        let first = open_exclusive(&FileStorage, &path, false).unwrap();
        let e = write_in_place(&path, &WRITES).unwrap_err().to_string();
        assert!(e.contains("x.lmd") && e.contains("another lmdiskann process"), "{e}");
        drop(first);
        assert_eq!(std::fs::read(&path).unwrap(), OLD);
        write_in_place(&path, &WRITES).unwrap();
    }

    #[test]
    fn a_build_over_an_index_rolls_back_its_hot_journal_instead_of_leaving_it_for_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, fresh) = (dir.path().join("x.lmd"), dir.path().join("fresh.lmd"));
        let build = |at: &Path, seed| {
            let set = crate::synthetic::Clustered::standard(8, 1).sample(50, seed);
            crate::index::build_index(set, &crate::BuildOptions { seed, ..Default::default() }, at, &|_, _, _| {}).unwrap();
        };
        build(&path, 1);
        build(&fresh, 2);
        // A writer of the old index journals a header change, scribbles over it, and dies.
        let garbage = [0xAAu8; 300];
        let file = open_exclusive(&FileStorage, &path, false).unwrap();
        begin(&path, &*file, &[(0, &garbage)]);
        apply(&path, &*file, &[(0, &garbage)]).unwrap();
        drop(file);
        build(&path, 2);
        assert!(!journal_path(&path).exists());
        let index = super::super::IndexFile::open(&path).unwrap();
        assert_eq!(index.header().live, 50);
        drop(index);
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&fresh).unwrap());
        // A journal with no index beside it belongs to no file: a build there removes it.
        let other = dir.path().join("other.lmd");
        build(&other, 1);
        begin(&other, &*open_exclusive(&FileStorage, &other, false).unwrap(), &[(0, &garbage)]);
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(journal_path(&other), journal_path(&path)).unwrap();
        build(&path, 2);
        assert!(!journal_path(&path).exists());
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&fresh).unwrap());
    }
}
