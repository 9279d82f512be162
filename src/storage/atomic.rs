//! Whole-file writes that either replace the target completely or leave it untouched:
//! write `NAME.tmp`, fsync it, rename it over `NAME`, fsync the directory.
//!
//! The temporary file is locked while it is written, so a `NAME.tmp` nobody holds is one
//! an interrupted command left: [`remove_stale_tmp`] clears it. While this process writes
//! temporaries, [`temporaries_being_written`] names them, for a signal handler to remove.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::journal::{journal_path, open_exclusive, roll_back_locked};
use super::vfs::{Storage, StoredFile};
use crate::error::{Error, Result};

/// Writes `path` through `fill`. On any error the temporary file is removed and `path`
/// keeps its old contents (or stays absent). Whatever `path` held is replaced: callers
/// decide first whether it may be (see [`super::destination`]).
pub fn write_atomically<T>(storage: &dyn Storage, path: &Path, fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>) -> Result<T> {
    write_via_tmp(storage, path, || Ok(None), fill)
}

/// Writes the index `path` through `fill`, as [`write_atomically`], as a writer of the
/// index it replaces: before the rename it takes that index's exclusive lock (waiting for
/// it with `wait`) and rolls back its hot journal, which would otherwise be applied to
/// the new file at its next open.
pub fn write_index_atomically<T>(
    storage: &dyn Storage,
    path: &Path,
    wait: bool,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>,
) -> Result<T> {
    write_via_tmp(storage, path, || lock_for_replacing(storage, path, wait), fill)
}

/// The exclusive lock on the index at `path`, its hot journal rolled back; `None` when
/// there is no index there (a journal without its index is removed: it belongs to no file).
fn lock_for_replacing(storage: &dyn Storage, path: &Path, wait: bool) -> Result<Option<Box<dyn StoredFile>>> {
    if !storage.exists(path) {
        let journal = journal_path(path);
        if storage.exists(&journal) {
            storage.remove(&journal).map_err(|e| Error::io(&journal, "cannot remove a journal without its index", e))?;
        }
        return Ok(None);
    }
    let file = open_exclusive(storage, path, wait)?;
    roll_back_locked(storage, path, &*file)?;
    Ok(Some(file))
}

fn write_via_tmp<T>(
    storage: &dyn Storage,
    path: &Path,
    lock_target: impl FnOnce() -> Result<Option<Box<dyn StoredFile>>>,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>,
) -> Result<T> {
    let tmp = tmp_path(path);
    let file = storage.create(&tmp).map_err(|e| Error::io(&tmp, "cannot create temporary file", e))?;
    // Lock before truncating, so a concurrent writer of the same target is refused
    // instead of having its half-written file emptied.
    if !file.lock(true, false).map_err(|e| Error::io(&tmp, "cannot lock temporary file", e))? {
        return Err(Error::Locked { path: tmp, what: "another lmdiskann process is writing this file".into() });
    }
    // Between creating and locking, another command may have taken the file for one an
    // interrupted command left and removed it: the name is then no longer ours.
    if !file.is_at(&tmp).unwrap_or(false) {
        return Err(Error::Locked { path: tmp, what: "another lmdiskann process removed this temporary file; try again".into() });
    }
    let _registered = Registered::new(&tmp);
    let result = write_and_rename(storage, path, &tmp, &*file, lock_target, fill);
    if result.is_err() {
        let _ = storage.remove(&tmp);
    }
    result
}

fn write_and_rename<T>(
    storage: &dyn Storage,
    path: &Path,
    tmp: &Path,
    file: &dyn StoredFile,
    lock_target: impl FnOnce() -> Result<Option<Box<dyn StoredFile>>>,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>,
) -> Result<T> {
    file.set_len(0).map_err(|e| Error::io(tmp, "cannot truncate temporary file", e))?;
    let mut writer = BufWriter::with_capacity(1 << 20, Appender { file, at: 0 });
    let value = fill(&mut writer)?;
    writer.flush().map_err(|e| Error::io(tmp, "cannot write", e))?;
    drop(writer);
    file.sync().map_err(|e| Error::io(tmp, "cannot sync", e))?;
    // Held until the new file's name is durable.
    let _target_lock = lock_target()?;
    storage.rename(tmp, path).map_err(|e| Error::io(path, "cannot rename the temporary file into place", e))?;
    storage.sync_dir(path).map_err(|e| Error::io(super::vfs::parent(path), "cannot sync directory", e))?;
    Ok(value)
}

/// Removes `NAME.tmp` beside `path` when no live process holds it (an interrupted command
/// left it); true when it did. A temporary file another process is writing is left alone.
pub fn remove_stale_tmp(storage: &dyn Storage, path: &Path) -> Result<bool> {
    let tmp = tmp_path(path);
    if !storage.exists(&tmp) {
        return Ok(false);
    }
    let file = match storage.open(&tmp, true) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(&tmp, "cannot open a temporary file", e)),
    };
    if !file.lock(true, false).map_err(|e| Error::io(&tmp, "cannot lock temporary file", e))? || !file.is_at(&tmp).unwrap_or(false) {
        return Ok(false);
    }
    storage.remove(&tmp).map_err(|e| Error::io(&tmp, "cannot remove a temporary file an interrupted command left", e))?;
    storage.sync_dir(path).map_err(|e| Error::io(super::vfs::parent(path), "cannot sync directory", e))?;
    Ok(true)
}

/// Temporary files this process is writing now.
static WRITING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn writing() -> MutexGuard<'static, Vec<PathBuf>> {
    WRITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The temporary files this process is writing at this moment, and the temporary folders
/// of its partitioned builds: what an interrupted process should remove before it exits.
pub fn temporaries_being_written() -> Vec<PathBuf> {
    writing().clone()
}

/// A temporary file named in [`temporaries_being_written`] while this lives.
pub(super) struct Registered(PathBuf);

impl Registered {
    pub(super) fn new(tmp: &Path) -> Self {
        writing().push(tmp.into());
        Registered(tmp.into())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut list = writing();
        if let Some(i) = list.iter().position(|p| *p == self.0) {
            list.swap_remove(i);
        }
    }
}

/// Writes to a stored file front to back.
struct Appender<'a> {
    file: &'a dyn StoredFile,
    at: u64,
}

impl Write for Appender<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.file.write_at(bytes, self.at)?;
        self.at += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `NAME.tmp` beside `NAME`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FileStorage;

    #[test]
    fn failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lmd");
        std::fs::write(&path, b"old").unwrap();
        let r: Result<()> = write_atomically(&FileStorage, &path, |w| {
            w.write_all(b"new but failing").unwrap();
            Err(Error::InvalidParameter("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!tmp_path(&path).exists());
        write_atomically(&FileStorage, &path, |w| w.write_all(b"new").map_err(|e| Error::io("x", "w", e))).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_stale_temporary_file_is_removed_and_a_held_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lmd");
        assert!(!remove_stale_tmp(&FileStorage, &path).unwrap());
        std::fs::write(tmp_path(&path), b"left by a killed build").unwrap();
        let held = std::fs::File::options().read(true).write(true).open(tmp_path(&path)).unwrap();
        held.lock().unwrap();
        assert!(!remove_stale_tmp(&FileStorage, &path).unwrap());
        assert_eq!(std::fs::read(tmp_path(&path)).unwrap(), b"left by a killed build");
        drop(held);
        assert!(remove_stale_tmp(&FileStorage, &path).unwrap());
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn the_temporary_file_is_named_while_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        write_atomically(&FileStorage, &path, |_| {
            assert!(temporaries_being_written().contains(&tmp_path(&path)));
            Ok(())
        })
        .unwrap();
        assert!(!temporaries_being_written().contains(&tmp_path(&path)));
    }

    fn small_build(path: &Path, seed: u64) -> Result<crate::index::BuildReport> {
        let set = crate::synthetic::Clustered::standard(8, 1).sample(60, seed);
        crate::index::build_index(set, &crate::BuildOptions { seed, ..Default::default() }, path, &|_, _, _| {})
    }

    #[test]
    fn a_build_over_an_index_another_writer_holds_is_refused_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lmd");
        small_build(&path, 1).unwrap();
        let before = std::fs::read(&path).unwrap();
        let writer = crate::storage::IndexWriter::open(&FileStorage, &path, false).unwrap();
        let e = small_build(&path, 2).unwrap_err().to_string();
        assert!(e.contains("x.lmd: another lmdiskann process is using this index") && e.contains("--wait"), "{e}");
        // The lock is taken again for the rename itself, after the file is written.
        let e = write_index_atomically(&FileStorage, &path, false, |w| w.write_all(b"new").map_err(|e| Error::io("w", "w", e)));
        assert!(matches!(e, Err(Error::Locked { .. })), "{e:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!tmp_path(&path).exists());
        drop(writer);
        small_build(&path, 2).unwrap();
        assert_ne!(std::fs::read(&path).unwrap(), before);
    }
}
