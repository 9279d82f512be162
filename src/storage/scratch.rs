//! The folder a partitioned build keeps its intermediate files in: `NAME.build` beside the
//! output `NAME`, one per build, locked while the build holds it and removed when it ends
//! (in success, on error and on Ctrl-C). A folder nobody holds is one a killed build left:
//! the next build of the same output removes it and says so.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::atomic::Registered;
use super::vfs::{Mapped, StoredFile};
use crate::error::{Error, Result};

/// The lock file inside the folder (a name no folder of a user's is likely to hold).
pub(crate) const LOCK: &str = "lmdiskann-build.lock";

/// A build's temporary folder, removed with everything in it when dropped (unless kept).
pub struct ScratchDir {
    path: PathBuf,
    _lock: File,
    _registered: Registered,
    keep: bool,
}

impl ScratchDir {
    /// Creates `NAME.build` beside `out` and locks it. A folder a killed build left there
    /// is removed first (the bool says so); one another build holds is refused.
    pub fn create(out: &Path) -> Result<(ScratchDir, bool)> {
        let path = scratch_path(out);
        let removed = remove_stale(&path)?;
        let dir = Self::create_new(&path, |e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => held_by_another(&path),
            _ => Error::io(&path, "cannot create the build's temporary folder", e),
        })?;
        Ok((dir, removed))
    }

    /// Creates the new folder `path` (a sharded build's plan), removed when dropped unless
    /// [`ScratchDir::keep`] is called; a folder already there is refused.
    pub fn create_at(path: &Path) -> Result<ScratchDir> {
        Self::create_new(path, |e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::InvalidParameter(format!(
                "{}: already exists; the plan goes into a new folder: choose another or remove this one",
                path.display()
            )),
            _ => Error::io(path, "cannot create the plan's folder", e),
        })
    }

    fn create_new(path: &Path, refused: impl FnOnce(std::io::Error) -> Error) -> Result<ScratchDir> {
        std::fs::create_dir(path).map_err(refused)?;
        // Registered first: from here an interrupted process removes the folder.
        let registered = Registered::new(path);
        let lock = File::create(path.join(LOCK)).map_err(|e| Error::io(path, "cannot create the build's temporary folder", e))?;
        if !StoredFile::lock(&lock, true, false).map_err(|e| Error::io(path, "cannot lock the build's temporary folder", e))? {
            return Err(held_by_another(path));
        }
        Ok(ScratchDir { path: path.to_path_buf(), _lock: lock, _registered: registered, keep: false })
    }

    /// Keeps the folder and what it holds (all but the lock file) when this is dropped.
    pub fn keep(mut self) {
        let _ = std::fs::remove_file(self.path.join(LOCK));
        self.keep = true;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the file `name` in the folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `NAME.build` beside `NAME`.
pub fn scratch_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".build");
    out.with_file_name(name)
}

fn held_by_another(path: &Path) -> Error {
    Error::Locked {
        path: path.to_path_buf(),
        what: "another lmdiskann build of the same output is using this folder; wait for it to finish, or remove the folder if none is running".into(),
    }
}

/// Removes the `NAME.build` folder beside `out` that a killed build left (true when it
/// did), so any build of `out`, partitioned or not, clears it; one a running build holds
/// is refused.
pub fn remove_stale_scratch(out: &Path) -> Result<bool> {
    remove_stale(&scratch_path(out))
}

/// Removes the folder at `path` when no live build holds its lock; true when it did.
fn remove_stale(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let lock = match File::options().read(true).write(true).open(path.join(LOCK)) {
        Ok(lock) => lock,
        // Between creating the folder and its lock file, a build holds it all the same.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(held_by_another(path)),
        Err(e) => return Err(Error::io(path, "cannot open the lock of a build's temporary folder", e)),
    };
    if !StoredFile::lock(&lock, true, false).map_err(|e| Error::io(path, "cannot lock a build's temporary folder", e))? {
        return Err(held_by_another(path));
    }
    std::fs::remove_dir_all(path).map_err(|e| Error::io(path, "cannot remove a temporary folder an interrupted build left", e))?;
    Ok(true)
}

/// A scratch file, written in full, mapped for reading (an empty file maps to nothing).
pub fn map_scratch(path: &Path) -> Result<Mapped> {
    let file = File::open(path).map_err(|e| Error::io(path, "cannot open a build's temporary file", e))?;
    if file.metadata().map_err(|e| Error::io(path, "cannot open a build's temporary file", e))?.len() == 0 {
        return Ok(Mapped::Memory(std::sync::Arc::from(Vec::new())));
    }
    StoredFile::map(&file).map_err(|e| Error::io(path, "cannot map a build's temporary file", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_folder_is_refused_a_stale_one_removed_and_a_dropped_one_gone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.lmd");
        let (held, removed) = ScratchDir::create(&out).unwrap();
        assert!(!removed);
        std::fs::write(held.file("data"), b"partial").unwrap();
        let e = ScratchDir::create(&out).err().unwrap().to_string();
        assert!(e.contains("x.lmd.build: another lmdiskann build"), "{e}");
        assert!(held.file("data").exists(), "a held folder is left alone");
        drop(held);
        assert!(!scratch_path(&out).exists());

        // A killed build leaves its folder and an unlocked lock file.
        std::fs::create_dir(scratch_path(&out)).unwrap();
        std::fs::write(scratch_path(&out).join(LOCK), b"").unwrap();
        std::fs::write(scratch_path(&out).join("part-0.ids"), b"left").unwrap();
        let (fresh, removed) = ScratchDir::create(&out).unwrap();
        assert!(removed);
        assert!(!fresh.file("part-0.ids").exists());
    }
}
