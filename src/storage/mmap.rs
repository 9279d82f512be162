//! Read access to an index through a memory map, block by block.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::vfs::{FileStorage, Mapped, Storage, StoredFile};
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
    map: Mapped,
    /// A bit per slot whose block's checksum this process has verified (None for an index
    /// of more than `VERIFIED_MAX_SLOTS` slots): a search reads the blocks near the entry
    /// point for every query, and checksumming them each time was a quarter of a warm
    /// search. The bytes cannot change while the file is open: the shared lock keeps
    /// writers out.
    verified: Option<Box<[AtomicU64]>>,
    rolled_back: bool,
    file: Box<dyn StoredFile>,
}

impl IndexFile {
    /// Opens and checks the header (O(1): no node block is read). A hot journal left by a
    /// writer that did not finish is rolled back first.
    pub fn open(path: &Path) -> Result<IndexFile> {
        IndexFile::open_in(&FileStorage, path)
    }

    /// [`IndexFile::open`] in `storage`.
    pub fn open_in(storage: &dyn Storage, path: &Path) -> Result<IndexFile> {
        let rolled_back = super::journal::recover(storage, path)?;
        let file = open_for_reading(storage, path)?;
        if !file.lock(false, false).map_err(|e| Error::io(path, "cannot lock index", e))? {
            return Err(Error::Locked { path: path.into(), what: super::journal::WRITER_BUSY.into() });
        }
        let (map, header) = map_header(path, &*file)?;
        // Searches jump from block to block: read-ahead of neighbouring pages only wastes
        // I/O and page cache.
        map.advise_random();
        let layout = layout_of(path, &header)?;
        let verified = (header.slots <= VERIFIED_MAX_SLOTS).then(|| (0..header.slots.div_ceil(64)).map(|_| AtomicU64::new(0)).collect());
        Ok(IndexFile { path: path.into(), header, layout, map, verified, rolled_back, file })
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

    /// Block 0, which holds the header (its checksum was checked on open).
    pub fn header_block(&self) -> &[u8] {
        &self.map[..self.layout.block_size]
    }

    /// The block of `slot`, its checksum (the first time it is read) and fields checked.
    pub fn block(&self, slot: u64) -> Result<&[u8]> {
        let block = block_in(&self.map, &self.header, &self.layout, slot).map_err(|why| self.corrupted(why))?;
        self.checked(slot, block)
    }

    /// `block`, the bytes of `slot`'s block (from the map or read into a buffer), checked:
    /// its fields always, its checksum unless this process verified it before.
    pub fn checked<'a>(&self, slot: u64, block: &'a [u8]) -> Result<&'a [u8]> {
        let word = self.verified.as_ref().and_then(|bits| bits.get(slot as usize / 64));
        let bit = 1u64 << (slot % 64);
        let checked = match word {
            Some(word) if word.load(Ordering::Relaxed) & bit != 0 => self.layout.check_fields(block),
            _ => self.layout.check(block).inspect(|()| {
                // Set once: a write to a word every thread reads would bounce its cache line.
                word.map(|word| word.fetch_or(bit, Ordering::Relaxed));
            }),
        };
        checked.map_err(|why| self.corrupted(format!("slot {slot}: {why}")))?;
        Ok(block)
    }

    /// The share of the file in the page cache now (None where the system cannot tell).
    pub fn resident_share(&self) -> Option<f64> {
        self.map.resident_share()
    }

    /// The descriptor of the file, when it is one.
    pub(super) fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.file.raw_fd()
    }

    /// Reads up to `bytes` of the node blocks, from slot 0 on, into the page cache, in large
    /// sequential reads. A build writes the nodes searches read most first, so these are the
    /// blocks searches share: warmed, they cost no disk read, as
    /// DiskANN's node cache loaded at open. Returns the bytes read; nothing stays in this
    /// process's memory.
    pub fn warm_up(&self, bytes: u64) -> Result<u64> {
        const CHUNK: u64 = 1 << 20;
        let first = self.layout.block_size as u64;
        let end = first.saturating_add(bytes).min(self.len());
        let mut buf = vec![0u8; CHUNK.min(end.saturating_sub(first)) as usize];
        let mut at = first;
        while at < end {
            let len = (end - at).min(CHUNK) as usize;
            self.file.read_at(&mut buf[..len], at).map_err(|e| Error::io(&self.path, "cannot read index", e))?;
            at += len as u64;
        }
        Ok(end.saturating_sub(first))
    }

    /// Asks the kernel to start reading `slot`'s block, so the reads of one beam overlap.
    pub fn prefetch(&self, slot: u64) {
        if slot < self.header.slots {
            let bs = self.layout.block_size;
            self.map.will_need((slot as usize + 1) * bs, bs);
        }
    }
}

/// Slots up to which an open index keeps a bit per slot for checksums verified (8 MiB).
const VERIFIED_MAX_SLOTS: u64 = 1 << 26;

/// Opens `path` to read, a directory being "not an index" rather than an I/O failure.
fn open_for_reading(storage: &dyn Storage, path: &Path) -> Result<Box<dyn StoredFile>> {
    storage.open(path, false).map_err(|e| match e.kind() {
        std::io::ErrorKind::IsADirectory => Error::NotAnIndex { path: path.into(), reason: "not a regular file".into() },
        _ => Error::io(path, "cannot open index", e),
    })
}

/// Maps `file` and decodes its header; an empty file is not an index.
pub(super) fn map_header(path: &Path, file: &dyn StoredFile) -> Result<(Mapped, Header)> {
    let len = file.size().map_err(|e| Error::io(path, "cannot stat index", e))?;
    if len == 0 {
        return Err(Error::NotAnIndex { path: path.into(), reason: "empty file, not an lmdiskann index".into() });
    }
    let map = file.map().map_err(|e| Error::io(path, "cannot map index", e))?;
    let header = Header::decode(&map, len).map_err(|e| match e {
        HeaderError::Foreign(reason) | HeaderError::TooNew(reason) => Error::NotAnIndex { path: path.into(), reason },
        HeaderError::Corrupted(reason) => Error::Corrupted { path: path.into(), reason },
    })?;
    Ok((map, header))
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
