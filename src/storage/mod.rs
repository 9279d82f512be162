//! The only place that touches index files: the mmap reader, the atomic whole-file
//! writer, and the locks that keep readers and writers apart.

// The crate denies unsafe code everywhere else; mapping a file needs it.
#![allow(unsafe_code)]

mod atomic;
mod mmap;

pub use atomic::{patch_atomically, write_atomically};
pub use mmap::IndexFile;
