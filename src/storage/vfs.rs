//! Where index files live. Every byte lmdiskann reads or writes of an index, its journal
//! or its temporary file goes through a [`Storage`]: the file system in production
//! ([`FileStorage`]), memory in tests ([`MemoryStorage`], which also knows what a power
//! cut would keep), and either of them failing on cue ([`super::Faulty`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use memmap2::{Advice, Mmap};

use crate::rng::Rng;

/// A directory of files that can be opened, created, renamed and removed.
pub trait Storage: Sync {
    /// Opens an existing file, for reading or also for writing.
    fn open(&self, path: &Path, write: bool) -> io::Result<Box<dyn StoredFile>>;
    /// Opens `path` for writing, creating it empty if it does not exist.
    fn create(&self, path: &Path) -> io::Result<Box<dyn StoredFile>>;
    fn exists(&self, path: &Path) -> bool;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `path`'s directory durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// An open file.
pub trait StoredFile: Send + Sync {
    fn size(&self) -> io::Result<u64>;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes every write so far durable.
    fn sync(&self) -> io::Result<()>;
    /// The whole file for reading: a memory map for a real file.
    fn map(&self) -> io::Result<Mapped>;
    /// Takes the file's lock, shared or exclusive; without `wait`, false when another
    /// process holds it. The lock lasts as long as this handle.
    fn lock(&self, exclusive: bool, wait: bool) -> io::Result<bool>;
    /// Whether `path` still names this file (a rename may have replaced it).
    fn is_at(&self, path: &Path) -> io::Result<bool>;
    /// The descriptor overlapped reads go through; none for a file held in memory.
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }
}

/// A file's bytes for reading.
pub enum Mapped {
    File(Mmap),
    Memory(Arc<[u8]>),
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Mapped::File(map) => map,
            Mapped::Memory(bytes) => bytes,
        }
    }
}

impl Mapped {
    /// Tells the kernel reads will jump around: read-ahead only wastes I/O then.
    pub fn advise_random(&self) {
        if let Mapped::File(map) = self {
            // Advice is a hint; failing to give it changes nothing else.
            let _ = map.advise(Advice::Random);
        }
    }

    /// The share of the file's pages in the page cache (1 for a file held in memory; None
    /// where the system cannot tell).
    pub fn resident_share(&self) -> Option<f64> {
        match self {
            Mapped::Memory(_) => Some(1.0),
            #[cfg(target_os = "linux")]
            Mapped::File(map) => {
                use crate::format::PAGE;
                // Asked a window at a time, so the answer's buffer stays small for any file.
                const WINDOW: usize = 1 << 16;
                let pages = map.len().div_ceil(PAGE);
                let mut flags = vec![0u8; WINDOW.min(pages)];
                let mut resident = 0usize;
                for first in (0..pages).step_by(WINDOW) {
                    let count = WINDOW.min(pages - first);
                    // SAFETY: the range lies inside the map (page aligned: a map starts on a
                    // page), and `flags` has a byte for each of its `count` pages.
                    let ok = unsafe {
                        libc::mincore(
                            map.as_ptr().add(first * PAGE) as *mut libc::c_void,
                            (count * PAGE).min(map.len() - first * PAGE),
                            flags.as_mut_ptr(),
                        )
                    };
                    if ok != 0 {
                        return None;
                    }
                    resident += flags[..count].iter().filter(|f| *f & 1 == 1).count();
                }
                Some(resident as f64 / pages.max(1) as f64)
            }
            #[cfg(not(target_os = "linux"))]
            Mapped::File(_) => None,
        }
    }

    /// Asks the kernel to start reading `len` bytes at `at`.
    pub fn will_need(&self, at: usize, len: usize) {
        if let Mapped::File(map) = self {
            let _ = map.advise_range(Advice::WillNeed, at, len);
        }
    }
}

/// The file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileStorage;

impl Storage for FileStorage {
    fn open(&self, path: &Path, write: bool) -> io::Result<Box<dyn StoredFile>> {
        let file = OpenOptions::new().read(true).write(write).open(path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "not a regular file"));
        }
        Ok(Box::new(file))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StoredFile>> {
        Ok(Box::new(OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(parent(path))?.sync_all()
    }
}

/// The directory that holds `path`.
pub(super) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

impl StoredFile for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.write_all_at(bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn sync(&self) -> io::Result<()> {
        self.sync_all()
    }

    fn map(&self) -> io::Result<Mapped> {
        // SAFETY: the map is read-only. The file could still be truncated or rewritten by
        // a process that ignores our lock (truncation raises SIGBUS on access); every
        // lmdiskann reader holds a shared lock and every writer an exclusive one, writers
        // change a file only after their last read through a map, and `build` replaces
        // files by rename (the mapped inode never changes). A partitioned build's scratch
        // files live in a folder its lock keeps other builds out of; they are written in
        // full before they are mapped, and the one changed while mapped (the merged graph)
        // is changed in place, never truncated.
        Ok(Mapped::File(unsafe { Mmap::map(self) }?))
    }

    fn lock(&self, exclusive: bool, wait: bool) -> io::Result<bool> {
        let tried = match (exclusive, wait) {
            (true, true) => return File::lock(self).map(|()| true),
            (false, true) => return File::lock_shared(self).map(|()| true),
            (true, false) => self.try_lock(),
            (false, false) => self.try_lock_shared(),
        };
        match tried {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    fn is_at(&self, path: &Path) -> io::Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let (held, named) = (self.metadata()?, std::fs::metadata(path)?);
        Ok(held.dev() == named.dev() && held.ino() == named.ino())
    }
}

/// Files in memory, one flat directory, for tests. It remembers what was made durable
/// (file syncs, directory syncs) apart from what was only written, so
/// [`MemoryStorage::crash_image`] can tell what a power cut might leave. Locks always
/// succeed: one process uses it. Clones share the files; `deep_clone` copies them.
#[derive(Clone, Default)]
pub struct MemoryStorage {
    fs: Arc<Mutex<Fs>>,
}

#[derive(Clone, Default)]
struct Fs {
    /// Names as processes see them, to inode numbers.
    names: HashMap<PathBuf, usize>,
    /// Names as of the last directory sync, and the changes since, in order.
    durable_names: HashMap<PathBuf, usize>,
    name_changes: Vec<NameChange>,
    inodes: Vec<Inode>,
}

#[derive(Clone)]
enum NameChange {
    Link(PathBuf, usize),
    Unlink(PathBuf),
}

#[derive(Clone, Default)]
struct Inode {
    data: Vec<u8>,
    /// The bytes as of the last sync, and the changes since, in order.
    durable: Vec<u8>,
    changes: Vec<Change>,
}

#[derive(Clone)]
enum Change {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

/// A disk writes whole sectors; a torn write keeps some of them.
pub const SECTOR: u64 = 512;

/// The pieces of a write of `bytes` at `offset`, one per sector it touches, as (offset,
/// bytes): the units a torn write keeps or loses.
pub(super) fn sectors(offset: u64, bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let end = offset + bytes.len() as u64;
    let mut at = offset;
    std::iter::from_fn(move || {
        (at < end).then(|| {
            let next = ((at / SECTOR + 1) * SECTOR).min(end);
            let piece = (at, &bytes[(at - offset) as usize..(next - offset) as usize]);
            at = next;
            piece
        })
    })
}

impl Inode {
    fn apply(data: &mut Vec<u8>, change: &Change) {
        match change {
            Change::Write(offset, bytes) => {
                let (at, end) = (*offset as usize, *offset as usize + bytes.len());
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[at..end].copy_from_slice(bytes);
            }
            Change::SetLen(len) => data.resize(*len as usize, 0),
        }
    }

    fn change(&mut self, change: Change) {
        Inode::apply(&mut self.data, &change);
        self.changes.push(change);
    }
}

impl Fs {
    fn link(&mut self, path: &Path, inode: usize) {
        self.names.insert(path.into(), inode);
        self.name_changes.push(NameChange::Link(path.into(), inode));
    }

    fn unlink(&mut self, path: &Path) -> io::Result<usize> {
        let inode = self.names.remove(path).ok_or_else(|| not_found(path))?;
        self.name_changes.push(NameChange::Unlink(path.into()));
        Ok(inode)
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found in memory storage", path.display()))
}

impl MemoryStorage {
    pub fn new() -> Self {
        MemoryStorage::default()
    }

    fn fs(&self) -> MutexGuard<'_, Fs> {
        // A panicking test thread cannot leave the maps half-changed in a way that
        // matters to the others: every change is one insert or push.
        self.fs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An independent copy of every file, durable state included.
    pub fn deep_clone(&self) -> MemoryStorage {
        MemoryStorage { fs: Arc::new(Mutex::new(self.fs().clone())) }
    }

    /// The bytes of `path` as processes see them, if it exists.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let fs = self.fs();
        fs.names.get(path).map(|&i| fs.inodes[i].data.clone())
    }

    /// What the disk might hold after a power cut now: every name and byte made durable,
    /// plus, chosen by `seed`, a prefix of the later name changes and a subset of the later
    /// writes (in order, each whole, torn to some of its sectors, or lost).
    pub fn crash_image(&self, seed: u64) -> MemoryStorage {
        let fs = self.fs();
        let mut rng = Rng::new(seed);
        let mut names = fs.durable_names.clone();
        let kept = rng.below(fs.name_changes.len() as u64 + 1) as usize;
        for change in &fs.name_changes[..kept] {
            match change {
                NameChange::Link(path, inode) => names.insert(path.clone(), *inode),
                NameChange::Unlink(path) => names.remove(path),
            };
        }
        let inodes = fs
            .inodes
            .iter()
            .map(|inode| {
                let mut data = inode.durable.clone();
                for change in &inode.changes {
                    match (rng.below(3), change) {
                        (0, _) => {}
                        (1, Change::Write(offset, bytes)) => {
                            // Torn: some of its sectors reached the disk.
                            for (at, part) in sectors(*offset, bytes) {
                                if rng.below(2) == 0 {
                                    Inode::apply(&mut data, &Change::Write(at, part.to_vec()));
                                }
                            }
                        }
                        _ => Inode::apply(&mut data, change),
                    }
                }
                Inode { durable: data.clone(), data, changes: Vec::new() }
            })
            .collect();
        let fs = Fs { durable_names: names.clone(), names, name_changes: Vec::new(), inodes };
        MemoryStorage { fs: Arc::new(Mutex::new(fs)) }
    }
}

impl Storage for MemoryStorage {
    fn open(&self, path: &Path, _write: bool) -> io::Result<Box<dyn StoredFile>> {
        let inode = *self.fs().names.get(path).ok_or_else(|| not_found(path))?;
        Ok(Box::new(MemoryFile { fs: self.clone(), inode }))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StoredFile>> {
        let mut fs = self.fs();
        let inode = match fs.names.get(path) {
            Some(&inode) => inode,
            None => {
                fs.inodes.push(Inode::default());
                let inode = fs.inodes.len() - 1;
                fs.link(path, inode);
                inode
            }
        };
        drop(fs);
        Ok(Box::new(MemoryFile { fs: self.clone(), inode }))
    }

    fn exists(&self, path: &Path) -> bool {
        self.fs().names.contains_key(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        let inode = fs.unlink(from)?;
        if fs.names.contains_key(to) {
            fs.unlink(to)?;
        }
        fs.link(to, inode);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.fs().unlink(path).map(|_| ())
    }

    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        let mut fs = self.fs();
        fs.durable_names = fs.names.clone();
        fs.name_changes.clear();
        Ok(())
    }
}

struct MemoryFile {
    fs: MemoryStorage,
    inode: usize,
}

impl MemoryFile {
    fn with<T>(&self, f: impl FnOnce(&mut Inode) -> T) -> T {
        f(&mut self.fs.fs().inodes[self.inode])
    }
}

impl StoredFile for MemoryFile {
    fn size(&self) -> io::Result<u64> {
        Ok(self.with(|i| i.data.len() as u64))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.with(|i| match i.data.get(offset as usize..offset as usize + buf.len()) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            // As a file does, an empty read succeeds anywhere.
            None if buf.is_empty() => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read beyond the end of the file")),
        })
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.with(|i| i.change(Change::Write(offset, bytes.to_vec())));
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|i| i.change(Change::SetLen(len)));
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        self.with(|i| {
            i.durable = i.data.clone();
            i.changes.clear();
        });
        Ok(())
    }

    fn map(&self) -> io::Result<Mapped> {
        Ok(Mapped::Memory(self.with(|i| i.data.clone()).into()))
    }

    fn lock(&self, _exclusive: bool, _wait: bool) -> io::Result<bool> {
        Ok(true)
    }

    fn is_at(&self, path: &Path) -> io::Result<bool> {
        Ok(self.fs.fs().names.get(path) == Some(&self.inode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_what_was_synced_and_maybe_some_of_the_rest() {
        let storage = MemoryStorage::new();
        let (a, b) = (Path::new("a"), Path::new("b"));
        let file = storage.create(a).unwrap();
        file.write_at(&[1; 1024], 0).unwrap();
        file.sync().unwrap();
        storage.sync_dir(a).unwrap();
        file.write_at(&[2; 1024], 0).unwrap();
        storage.create(b).unwrap();
        let mut seen = std::collections::HashSet::new();
        for seed in 0..400 {
            let image = storage.crash_image(seed);
            let bytes = image.read(a).unwrap();
            assert_eq!(bytes.len(), 1024);
            // Each sector holds the old or the new bytes, never a mix within it.
            for sector in bytes.chunks(SECTOR as usize) {
                assert!(sector.iter().all(|&x| x == sector[0]) && (sector[0] == 1 || sector[0] == 2));
            }
            seen.insert((bytes[0], bytes[512], image.exists(b)));
        }
        // Every combination shows up: sectors are torn independently, names may be lost.
        assert_eq!(seen.len(), 8, "{seen:?}");
        assert_eq!(storage.read(a).unwrap(), vec![2; 1024]);
    }
}
