//! A writer's view of an index: the file as it was opened plus the blocks this command has
//! changed, held in memory until `commit` writes them all under the rollback journal.
//!
//! The writer holds an exclusive lock from open to commit, so no reader sees a half-made
//! change and no second writer interleaves; its reads see its own changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::atomic::remove_stale_tmp;
use super::journal::{open_exclusive, roll_back_locked, write_locked};
use super::mmap::{block_in, checked_block, layout_of, map_header};
use super::vfs::{Mapped, Storage, StoredFile};
use crate::error::{Error, Result};
use crate::format::rowid_map::{Page, PageRead, PageStore};
use crate::format::{Header, NodeLayout, NodeState, FORMAT_MAJOR, NO_SLOT};

pub struct IndexWriter<'s> {
    storage: &'s dyn Storage,
    path: PathBuf,
    file: Box<dyn StoredFile>,
    map: Mapped,
    header: Header,
    layout: NodeLayout,
    /// Blocks changed or added by this command, by slot.
    dirty: HashMap<u64, Box<[u8]>>,
    rolled_back: bool,
    removed_tmp: bool,
}

impl<'s> IndexWriter<'s> {
    /// Opens `path` in `storage` for changing under an exclusive lock (waiting for it
    /// with `wait`), rolling back a hot journal and removing a temporary file an
    /// interrupted build or compaction left first.
    pub fn open(storage: &'s dyn Storage, path: &Path, wait: bool) -> Result<IndexWriter<'s>> {
        let file = open_exclusive(storage, path, wait)?;
        let rolled_back = roll_back_locked(storage, path, &*file)?;
        let removed_tmp = remove_stale_tmp(storage, path)?;
        // The map is only read: this writer changes the file in `commit`, after its last
        // read through the map, and never truncates it.
        let (map, header) = map_header(path, &*file)?;
        let layout = layout_of(path, &header)?;
        Ok(IndexWriter { storage, path: path.into(), file, map, header, layout, dirty: HashMap::new(), rolled_back, removed_tmp })
    }

    /// Refuses files of an older format, whose rowid map cannot be changed in place.
    pub fn require_current_format(&self) -> Result<()> {
        if self.header.version_major < FORMAT_MAJOR {
            return Err(Error::InvalidParameter(format!(
                "{}: format {}.{} cannot be changed in place; `lmdiskann vacuum --compact` rewrites it as format {FORMAT_MAJOR}.0",
                self.path.display(),
                self.header.version_major,
                self.header.version_minor
            )));
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The storage the index lives in.
    pub fn storage(&self) -> &'s dyn Storage {
        self.storage
    }

    /// The file's length as opened.
    pub fn file_len(&self) -> Result<u64> {
        self.file.size().map_err(|e| Error::io(&self.path, "cannot stat index", e))
    }

    /// True when opening rolled back a change that an earlier writer did not finish.
    pub fn rolled_back(&self) -> bool {
        self.rolled_back
    }

    /// True when opening removed a temporary file that an interrupted command left.
    pub fn removed_tmp(&self) -> bool {
        self.removed_tmp
    }

    pub fn header_mut(&mut self) -> &mut Header {
        &mut self.header
    }

    /// A copy of `slot`'s block to change; `put` it back.
    pub fn block_copy(&self, slot: u64) -> Result<Box<[u8]>> {
        Ok(super::Blocks::block(self, slot)?.into())
    }

    /// Replaces `slot`'s block.
    pub fn put(&mut self, slot: u64, block: Box<[u8]>) {
        debug_assert!(slot < self.header.slots && block.len() == self.layout.block_size);
        self.dirty.insert(slot, block);
    }

    /// A slot for a new node or page: the head of the free list, else a new one at the end.
    /// The caller fills it and counts it.
    pub fn allocate(&mut self) -> Result<u64> {
        let head = self.header.free_head;
        if head != NO_SLOT {
            let block = super::Blocks::block(self, head)?;
            if self.layout.state(block) != Some(NodeState::Free) {
                return Err(super::Blocks::corrupted(self, format!("free-list slot {head} is not free")));
            }
            let next = self.layout.next_free(block);
            self.header.free_head = next;
            self.header.free_slots -= 1;
            return Ok(head);
        }
        let slot = self.header.slots;
        if slot >= u32::MAX as u64 {
            return Err(Error::InvalidData(format!("the index is full: {} slots is the most edges can address", u32::MAX)));
        }
        self.header.slots += 1;
        self.dirty.insert(slot, vec![0u8; self.layout.block_size].into());
        Ok(slot)
    }

    /// Turns `slot` into a free slot at the head of the free list; the caller uncounts
    /// what it held.
    pub fn release(&mut self, slot: u64) {
        let mut block = vec![0u8; self.layout.block_size].into_boxed_slice();
        self.layout.encode_free(&mut block, self.header.free_head);
        self.put(slot, block);
        self.header.free_head = slot;
        self.header.free_slots += 1;
    }

    /// Slots changed so far.
    pub fn changed_blocks(&self) -> usize {
        self.dirty.len()
    }

    /// Writes every change and the header (generation bumped) all or nothing. On error
    /// the index is as it was and no journal is left, unless undoing the failed write
    /// failed too ([`Error::NotUndone`] then says what the file holds).
    pub fn commit(mut self) -> Result<()> {
        self.header.generation += 1;
        let bs = self.layout.block_size as u64;
        let mut header_block = vec![0u8; bs as usize];
        self.header.encode(&mut header_block);
        let mut slots: Vec<u64> = self.dirty.keys().copied().collect();
        slots.sort_unstable();
        let mut writes: Vec<(u64, &[u8])> = vec![(0, &header_block)];
        writes.extend(slots.iter().map(|s| ((s + 1) * bs, &self.dirty[s][..])));
        write_locked(self.storage, &self.path, &*self.file, &writes)
    }
}

impl super::Blocks for IndexWriter<'_> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn layout(&self) -> NodeLayout {
        self.layout
    }

    fn block(&self, slot: u64) -> Result<&[u8]> {
        match self.dirty.get(&slot) {
            Some(block) => Ok(block),
            None => checked_block(&self.map, &self.header, &self.layout, slot).map_err(|why| self.corrupted(why)),
        }
    }

    fn block_again(&self, slot: u64) -> Result<&[u8]> {
        match self.dirty.get(&slot) {
            Some(block) => Ok(block),
            None => block_in(&self.map, &self.header, &self.layout, slot).map_err(|why| self.corrupted(why)),
        }
    }

    fn corrupted(&self, reason: String) -> Error {
        Error::Corrupted { path: self.path.clone(), reason }
    }
}

impl PageRead for IndexWriter<'_> {
    fn read_page(&self, slot: u64) -> Result<Page, String> {
        match self.dirty.get(&slot) {
            Some(block) => Page::decode(block),
            None => Page::decode(checked_block(&self.map, &self.header, &self.layout, slot)?),
        }
    }
}

impl PageStore for IndexWriter<'_> {
    fn write_page(&mut self, slot: u64, page: &Page) {
        let mut block = vec![0u8; self.layout.block_size].into_boxed_slice();
        page.encode(&mut block);
        self.put(slot, block);
    }

    /// The tree counts its pages; the caller records them with `Header::set_rowid_map`.
    fn allocate_page(&mut self) -> Result<u64, String> {
        self.allocate().map_err(|e| e.to_string())
    }
}
