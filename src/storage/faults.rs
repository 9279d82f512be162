//! Storage that fails on cue, for tests that prove no failure loses data. It counts every
//! I/O that changes something (create, write, set_len, sync, rename, remove, directory
//! sync) and at step N fails it, tears it, or "cuts the power" (that step and every later
//! one fail; [`super::MemoryStorage::crash_image`] then says what the disk kept).

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::vfs::{sectors, Mapped, Storage, StoredFile};
use crate::rng::Rng;

/// What happens at the chosen step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The step fails; the ones after it run.
    Fail,
    /// A write lands in part (a prefix, or some of its sectors, chosen by the seed) and
    /// fails; other steps fail as with `Fail`.
    Tear(u64),
    /// The step and every one after it fail: the process lost its disk.
    Crash,
}

struct Plan {
    at: Vec<(u64, Fault)>,
    steps: AtomicU64,
    crashed: AtomicBool,
}

/// `inner`, failing as planned.
pub struct Faulty<'a> {
    inner: &'a dyn Storage,
    plan: Arc<Plan>,
}

enum Step {
    Run,
    Tear(u64),
}

impl Plan {
    fn step(&self, path: &Path) -> io::Result<Step> {
        let injected = || io::Error::other(format!("injected fault at {}", path.display()));
        if self.crashed.load(Ordering::SeqCst) {
            return Err(injected());
        }
        let step = self.steps.fetch_add(1, Ordering::SeqCst);
        match self.at.iter().find(|(at, _)| *at == step) {
            Some(&(_, fault)) => match fault {
                Fault::Fail => Err(injected()),
                Fault::Tear(seed) => Ok(Step::Tear(seed)),
                Fault::Crash => {
                    self.crashed.store(true, Ordering::SeqCst);
                    Err(injected())
                }
            },
            None => Ok(Step::Run),
        }
    }

    /// Runs a step that is not a write: a tear fails it like `Fail`.
    fn check(&self, path: &Path) -> io::Result<()> {
        match self.step(path)? {
            Step::Run => Ok(()),
            Step::Tear(_) => Err(io::Error::other(format!("injected fault at {}", path.display()))),
        }
    }
}

impl<'a> Faulty<'a> {
    /// Counts steps and never fails.
    pub fn counting(inner: &'a dyn Storage) -> Self {
        Faulty::new(inner, Vec::new())
    }

    /// `fault` at step `at` (from 0).
    pub fn at(inner: &'a dyn Storage, at: u64, fault: Fault) -> Self {
        Faulty::new(inner, vec![(at, fault)])
    }

    /// Each `(at, fault)`: a failure, and another one while recovering from it.
    pub fn at_each(inner: &'a dyn Storage, faults: &[(u64, Fault)]) -> Self {
        Faulty::new(inner, faults.to_vec())
    }

    fn new(inner: &'a dyn Storage, at: Vec<(u64, Fault)>) -> Self {
        Faulty { inner, plan: Arc::new(Plan { at, steps: AtomicU64::new(0), crashed: AtomicBool::new(false) }) }
    }

    /// Steps taken (or refused) so far.
    pub fn steps(&self) -> u64 {
        self.plan.steps.load(Ordering::SeqCst)
    }

    fn wrap(&self, path: &Path, file: Box<dyn StoredFile>) -> Box<dyn StoredFile> {
        Box::new(FaultyFile { inner: file, plan: self.plan.clone(), path: path.into() })
    }
}

impl Storage for Faulty<'_> {
    fn open(&self, path: &Path, write: bool) -> io::Result<Box<dyn StoredFile>> {
        Ok(self.wrap(path, self.inner.open(path, write)?))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StoredFile>> {
        self.plan.check(path)?;
        Ok(self.wrap(path, self.inner.create(path)?))
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.plan.check(to)?;
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.plan.check(path)?;
        self.inner.remove(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.plan.check(path)?;
        self.inner.sync_dir(path)
    }
}

struct FaultyFile {
    inner: Box<dyn StoredFile>,
    plan: Arc<Plan>,
    path: std::path::PathBuf,
}

impl StoredFile for FaultyFile {
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_at(buf, offset)
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let Step::Tear(seed) = self.plan.step(&self.path)? else { return self.inner.write_at(bytes, offset) };
        let mut rng = Rng::new(seed);
        if rng.below(2) == 0 {
            // A prefix of the write.
            let cut = rng.below(bytes.len() as u64 + 1) as usize;
            self.inner.write_at(&bytes[..cut], offset)?;
        } else {
            // Some of its sectors.
            for (at, part) in sectors(offset, bytes) {
                if rng.below(2) == 0 {
                    self.inner.write_at(part, at)?;
                }
            }
        }
        Err(io::Error::other(format!("injected torn write at {}", self.path.display())))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.plan.check(&self.path)?;
        self.inner.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        self.plan.check(&self.path)?;
        self.inner.sync()
    }

    fn map(&self) -> io::Result<Mapped> {
        self.inner.map()
    }

    fn lock(&self, exclusive: bool, wait: bool) -> io::Result<bool> {
        self.inner.lock(exclusive, wait)
    }

    fn is_at(&self, path: &Path) -> io::Result<bool> {
        self.inner.is_at(path)
    }
}
