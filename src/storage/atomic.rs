//! Whole-file writes that either replace the target completely or leave it untouched:
//! write `NAME.tmp`, fsync it, rename it over `NAME`, fsync the directory.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `path` through `fill`. On any error the temporary file is removed and `path`
/// keeps its old contents (or stays absent).
pub fn write_atomically<T>(path: &Path, fill: impl FnOnce(&mut BufWriter<&File>) -> Result<T>) -> Result<T> {
    with_locked_tmp(path, |tmp, file| write_and_rename(path, tmp, file, fill))
}

/// Opens and locks `NAME.tmp`, runs `write`, and removes the temporary file if it fails.
fn with_locked_tmp<T>(path: &Path, write: impl FnOnce(&Path, &File) -> Result<T>) -> Result<T> {
    let tmp = tmp_path(path);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, "cannot create temporary file", e))?;
    // Lock before truncating, so a concurrent writer of the same target is refused
    // instead of having its half-written file emptied.
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(Error::Locked { path: tmp, what: "another lmdiskann process is writing this file".into() })
        }
        Err(TryLockError::Error(e)) => return Err(Error::io(&tmp, "cannot lock temporary file", e)),
    }
    let result = write(&tmp, &file);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_and_rename<T>(
    path: &Path,
    tmp: &Path,
    file: &File,
    fill: impl FnOnce(&mut BufWriter<&File>) -> Result<T>,
) -> Result<T> {
    file.set_len(0).map_err(|e| Error::io(tmp, "cannot truncate temporary file", e))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let value = fill(&mut writer)?;
    writer.flush().map_err(|e| Error::io(tmp, "cannot write", e))?;
    drop(writer);
    file.sync_all().map_err(|e| Error::io(tmp, "cannot sync", e))?;
    std::fs::rename(tmp, path).map_err(|e| Error::io(path, "cannot rename the temporary file into place", e))?;
    sync_dir(path)?;
    Ok(value)
}

/// `NAME.tmp` beside `NAME`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a rename durable: fsync the directory that holds `path`.
pub(super) fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, "cannot sync directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lmd");
        std::fs::write(&path, b"old").unwrap();
        let r: Result<()> = write_atomically(&path, |w| {
            w.write_all(b"new but failing").unwrap();
            Err(Error::InvalidParameter("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!tmp_path(&path).exists());
        write_atomically(&path, |w| w.write_all(b"new").map_err(|e| Error::io("x", "w", e))).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
