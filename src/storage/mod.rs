//! The only place that touches index files: the storage they live in (the file system, or
//! memory and fault injection for tests), the mmap reader, the atomic whole-file writer,
//! in-place writes under a rollback journal, and the locks that keep readers and writers
//! apart; and cache hints for memory about to be read.

// The crate denies unsafe code everywhere else; mapping a file and hinting the cache need it.
#![allow(unsafe_code)]

mod atomic;
mod cache;
pub mod destination;
mod faults;
mod journal;
mod large;
mod mmap;
#[cfg(target_os = "linux")]
mod overlapped;
mod scratch;
mod vfs;
mod writer;

pub use atomic::{remove_stale_tmp, temporaries_being_written, tmp_path, write_atomically, write_index_atomically};
pub use cache::prefetch;
pub use destination::{check_index_destination, destination, Destination, Refusal, Written};
pub use faults::{Fault, Faulty};
pub use journal::{journal_path, recover, Left};
pub use large::{LargeArray, Plain};
pub use mmap::IndexFile;
#[cfg(target_os = "linux")]
pub use overlapped::OverlappedReads;
#[cfg(test)]
pub(crate) use scratch::LOCK as SCRATCH_LOCK;
pub use scratch::{map_scratch, remove_stale_scratch, scratch_path, ScratchDir};
pub use vfs::{FileStorage, Mapped, MemoryStorage, Storage, StoredFile};
pub use writer::IndexWriter;

use crate::error::{Error, Result};
use crate::format::{Header, NodeLayout};

/// Blocks of an index as a search reads them: the file as it is, or as a writer's
/// uncommitted changes make it.
pub trait Blocks: Sync {
    fn header(&self) -> &Header;
    fn layout(&self) -> NodeLayout;
    /// The block of `slot`, checked.
    fn block(&self, slot: u64) -> Result<&[u8]>;
    /// The block of `slot` without checking it again: only for a block this command has
    /// already read through [`Blocks::block`]. (A vacuum reads each node once per
    /// neighbour that re-prunes; re-checksumming every read was a third of its time.)
    fn block_again(&self, slot: u64) -> Result<&[u8]>;
    /// A hint that `slot` will be read soon.
    fn prefetch(&self, _slot: u64) {}
    /// A "corrupted" error naming the file.
    fn corrupted(&self, reason: String) -> Error;
}
