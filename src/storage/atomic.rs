//! Whole-file writes that either replace the target completely or leave it untouched:
//! write `NAME.tmp`, fsync it, rename it over `NAME`, fsync the directory.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::vfs::{Storage, StoredFile};
use crate::error::{Error, Result};

/// Writes `path` through `fill`. On any error the temporary file is removed and `path`
/// keeps its old contents (or stays absent).
pub fn write_atomically<T>(storage: &dyn Storage, path: &Path, fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>) -> Result<T> {
    let tmp = tmp_path(path);
    let file = storage.create(&tmp).map_err(|e| Error::io(&tmp, "cannot create temporary file", e))?;
    // Lock before truncating, so a concurrent writer of the same target is refused
    // instead of having its half-written file emptied.
    if !file.lock(true, false).map_err(|e| Error::io(&tmp, "cannot lock temporary file", e))? {
        return Err(Error::Locked { path: tmp, what: "another lmdiskann process is writing this file".into() });
    }
    let result = write_and_rename(storage, path, &tmp, &*file, fill);
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
    fill: impl FnOnce(&mut (dyn Write + Send)) -> Result<T>,
) -> Result<T> {
    file.set_len(0).map_err(|e| Error::io(tmp, "cannot truncate temporary file", e))?;
    let mut writer = BufWriter::with_capacity(1 << 20, Appender { file, at: 0 });
    let value = fill(&mut writer)?;
    writer.flush().map_err(|e| Error::io(tmp, "cannot write", e))?;
    drop(writer);
    file.sync().map_err(|e| Error::io(tmp, "cannot sync", e))?;
    storage.rename(tmp, path).map_err(|e| Error::io(path, "cannot rename the temporary file into place", e))?;
    storage.sync_dir(path).map_err(|e| Error::io(super::vfs::parent(path), "cannot sync directory", e))?;
    Ok(value)
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
}
