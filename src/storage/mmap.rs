//! Read access to an index through a memory map, block by block.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap};

use crate::error::{Error, Result};
use crate::format::header::HeaderError;
use crate::format::rowid_map::{Page, PageRead};
use crate::format::{Header, NodeLayout};

/// An open index: the header, decoded and checked, and the mapped file.
///
/// Holds a shared lock on the file for its lifetime, so cooperating writers (which take
/// an exclusive lock) never change the bytes under the map.
pub struct IndexFile {
    path: PathBuf,
    header: Header,
    layout: NodeLayout,
    map: Mmap,
    rolled_back: bool,
    _file: File,
}

impl IndexFile {
    /// Opens and checks the header (O(1): no node block is read). A hot journal left by a
    /// writer that did not finish is rolled back first.
    pub fn open(path: &Path) -> Result<IndexFile> {
        let rolled_back = super::journal::recover(path)?;
        let file = File::open(path).map_err(|e| Error::io(path, "cannot open index", e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, "cannot stat index", e))?;
        if !meta.is_file() {
            return Err(Error::NotAnIndex { path: path.into(), reason: "not a regular file".into() });
        }
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked { path: path.into(), what: "a writer is changing this index; try again when it finishes".into() })
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(path, "cannot lock index", e)),
        }
        if meta.len() == 0 {
            return Err(Error::NotAnIndex { path: path.into(), reason: "empty file, not an lmdiskann index".into() });
        }
        // SAFETY: the map is read-only and private to this value. The file could still be
        // truncated by a process that ignores our lock, which would raise SIGBUS on access;
        // every cooperating writer takes an exclusive lock first, and `build` replaces files
        // by rename (the mapped inode is never changed), so lmdiskann itself never does that.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, "cannot map index", e))?;
        // Searches jump from block to block: read-ahead of neighbouring pages only wastes
        // I/O and page cache. Advice is a hint; failing to give it changes nothing else.
        let _ = map.advise(Advice::Random);
        let header = Header::decode(&map, meta.len()).map_err(|e| match e {
            HeaderError::Foreign(reason) | HeaderError::TooNew(reason) => Error::NotAnIndex { path: path.into(), reason },
            HeaderError::Corrupted(reason) => Error::Corrupted { path: path.into(), reason },
        })?;
        let layout = layout_of(path, &header)?;
        Ok(IndexFile { path: path.into(), header, layout, map, rolled_back, _file: file })
    }

    /// True when opening rolled back a change that a writer did not finish.
    pub fn rolled_back(&self) -> bool {
        self.rolled_back
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn layout(&self) -> NodeLayout {
        self.layout
    }

    /// File size in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A "corrupted" error for this file.
    pub fn corrupted(&self, reason: String) -> Error {
        Error::Corrupted { path: self.path.clone(), reason }
    }

    /// The block of `slot`, its checksum and fields checked.
    pub fn block(&self, slot: u64) -> Result<&[u8]> {
        checked_block(&self.map, &self.header, &self.layout, slot).map_err(|why| self.corrupted(why))
    }

    /// Asks the kernel to start reading `slot`'s block, so the reads of one beam overlap.
    pub fn prefetch(&self, slot: u64) {
        if slot < self.header.slots {
            let bs = self.layout.block_size;
            // Advice is only a hint; a failure costs nothing but the overlap.
            let _ = self.map.advise_range(Advice::WillNeed, (slot as usize + 1) * bs, bs);
        }
    }
}

/// The node layout `header` describes, refused when its edges do not fit its blocks.
pub(super) fn layout_of(path: &Path, header: &Header) -> Result<NodeLayout> {
    let code_len = header.code_kind.code_len(header.dims as usize);
    let layout =
        NodeLayout::new(header.block_size as usize, header.dims as usize, header.element_type.size(), header.max_degree as usize, code_len);
    if layout.used_len() > layout.block_size {
        return Err(Error::Corrupted {
            path: path.into(),
            reason: format!("max degree {} does not fit a {}-byte block", header.max_degree, header.block_size),
        });
    }
    Ok(layout)
}

/// Slot `slot`'s block in the mapped file `map`, checked.
pub(super) fn checked_block<'a>(map: &'a [u8], header: &Header, layout: &NodeLayout, slot: u64) -> Result<&'a [u8], String> {
    let block = block_in(map, header, layout, slot)?;
    layout.check(block).map_err(|why| format!("slot {slot}: {why}"))?;
    Ok(block)
}

/// Slot `slot`'s block in the mapped file `map`, if the file holds it (not checked).
pub(super) fn block_in<'a>(map: &'a [u8], header: &Header, layout: &NodeLayout, slot: u64) -> Result<&'a [u8], String> {
    if slot >= header.slots {
        return Err(format!("slot {slot} is beyond the {} slots", header.slots));
    }
    let bs = layout.block_size;
    let at = (slot as usize + 1) * bs;
    map.get(at..at + bs).ok_or_else(|| format!("slot {slot} lies beyond the end of the file"))
}

impl super::Blocks for IndexFile {
    fn header(&self) -> &Header {
        &self.header
    }

    fn layout(&self) -> NodeLayout {
        self.layout
    }

    fn block(&self, slot: u64) -> Result<&[u8]> {
        IndexFile::block(self, slot)
    }

    fn block_again(&self, slot: u64) -> Result<&[u8]> {
        block_in(&self.map, &self.header, &self.layout, slot).map_err(|why| self.corrupted(why))
    }

    fn prefetch(&self, slot: u64) {
        IndexFile::prefetch(self, slot)
    }

    fn corrupted(&self, reason: String) -> Error {
        IndexFile::corrupted(self, reason)
    }
}

impl PageRead for IndexFile {
    fn read_page(&self, slot: u64) -> Result<Page, String> {
        Page::decode(checked_block(&self.map, &self.header, &self.layout, slot)?)
    }
}
