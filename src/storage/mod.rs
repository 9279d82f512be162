//! The only place that touches index files: the mmap reader, the atomic whole-file
//! writer, in-place writes under a rollback journal, and the locks that keep readers and
//! writers apart.

// The crate denies unsafe code everywhere else; mapping a file needs it.
#![allow(unsafe_code)]

mod atomic;
mod journal;
mod mmap;

pub use atomic::write_atomically;
pub use journal::{journal_path, recover, write_in_place};
pub use mmap::IndexFile;
