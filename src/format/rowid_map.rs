//! The rowid map (rowid -> slot): a B+tree whose pages are blocks among the node slots,
//! so a lookup reads O(log n) pages and a change rewrites O(log n) of them, never the map
//! as a whole. Any u64 rowid works.
//!
//! ```text
//! offset size field (a map page; framing shared with node blocks)
//!      0    8 reserved (0)
//!      8    1 state: 3 = rowid-map page
//!      9    1 level: 0 = leaf, n = n levels above the leaves
//!     10    2 reserved (0)
//!     12    4 CRC32C of the block with these 4 bytes left out
//!     16    4 entry count
//!     20      leaf:   count x (rowid u64, slot u32), rowids ascending
//!             branch: first child slot u32, then count x (key u64, child slot u32):
//!                     a child holds the rowids >= its key and < the next key; the
//!                     first child those below the first key
//! ```
//!
//! Removal never merges pages: an emptied leaf stays in the tree (its rowid range is
//! still searched correctly) until `vacuum --compact` rebuilds the map densely.

use super::node::{block_crc, NodeState, CRC_AT, STATE_AT};
use super::{get_u32, get_u64, put_u32, put_u64};

const LEVEL_AT: usize = STATE_AT + 1;
const COUNT_AT: usize = CRC_AT + 4;
const ENTRIES_AT: usize = COUNT_AT + 4;
const ENTRY_LEN: usize = 12;

/// Pages `bulk_load` makes for `entries` rowids.
pub fn pages_for(entries: u64, block_size: usize) -> u64 {
    if entries == 0 {
        return 0;
    }
    let mut level = entries.div_ceil(leaf_capacity(block_size) as u64);
    let mut pages = level;
    while level > 1 {
        level = level.div_ceil(branch_capacity(block_size) as u64 + 1);
        pages += level;
    }
    pages
}

/// A decoded map page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    Leaf(Vec<(u64, u32)>),
    /// `level` >= 1; children of `keys[i]` hold rowids >= `keys[i].0`.
    Branch {
        level: u8,
        first: u32,
        keys: Vec<(u64, u32)>,
    },
}

/// Entries a leaf of a `block_size`-byte page holds.
pub fn leaf_capacity(block_size: usize) -> usize {
    (block_size - ENTRIES_AT) / ENTRY_LEN
}

/// Keys a branch page holds (it has one child more).
pub fn branch_capacity(block_size: usize) -> usize {
    (block_size - ENTRIES_AT - 4) / ENTRY_LEN
}

impl Page {
    pub fn encode(&self, block: &mut [u8]) {
        block.fill(0);
        block[STATE_AT] = NodeState::MapPage.code();
        let (level, entries, at) = match self {
            Page::Leaf(entries) => (0, entries, ENTRIES_AT),
            Page::Branch { level, first, keys } => {
                put_u32(block, ENTRIES_AT, *first);
                (*level, keys, ENTRIES_AT + 4)
            }
        };
        debug_assert!(at + entries.len() * ENTRY_LEN <= block.len());
        block[LEVEL_AT] = level;
        put_u32(block, COUNT_AT, entries.len() as u32);
        for (i, (key, slot)) in entries.iter().enumerate() {
            put_u64(block, at + i * ENTRY_LEN, *key);
            put_u32(block, at + i * ENTRY_LEN + 8, *slot);
        }
        let crc = block_crc(block);
        put_u32(block, CRC_AT, crc);
    }

    /// Decodes a page, checking its checksum, kind and count.
    pub fn decode(block: &[u8]) -> Result<Page, String> {
        if block_crc(block) != get_u32(block, CRC_AT) {
            return Err("block checksum mismatch".into());
        }
        if block[STATE_AT] != NodeState::MapPage.code() {
            return Err(format!("expected a rowid-map page, found state {}", block[STATE_AT]));
        }
        let level = block[LEVEL_AT];
        let count = get_u32(block, COUNT_AT) as usize;
        let (capacity, at) =
            if level == 0 { (leaf_capacity(block.len()), ENTRIES_AT) } else { (branch_capacity(block.len()), ENTRIES_AT + 4) };
        if count > capacity {
            return Err(format!("rowid-map page holds {count} entries, more than its {capacity}"));
        }
        let entries: Vec<(u64, u32)> =
            (0..count).map(|i| (get_u64(block, at + i * ENTRY_LEN), get_u32(block, at + i * ENTRY_LEN + 8))).collect();
        if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("rowid-map page keys are not ascending".into());
        }
        Ok(if level == 0 { Page::Leaf(entries) } else { Page::Branch { level, first: get_u32(block, ENTRIES_AT), keys: entries } })
    }

    fn level(&self) -> u8 {
        match self {
            Page::Leaf(_) => 0,
            Page::Branch { level, .. } => *level,
        }
    }
}

/// Where a branch sends `rowid`.
fn child_for(first: u32, keys: &[(u64, u32)], rowid: u64) -> (usize, u32) {
    let i = keys.partition_point(|k| k.0 <= rowid);
    (i, if i == 0 { first } else { keys[i - 1].1 })
}

/// Pages as a reader of the tree sees them; errors say why a page is unreadable.
pub trait PageRead {
    fn read_page(&self, slot: u64) -> Result<Page, String>;
}

/// Pages as a writer of the tree sees them.
pub trait PageStore: PageRead {
    fn write_page(&mut self, slot: u64, page: &Page);
    /// A slot for a new page (reused or appended).
    fn allocate_page(&mut self) -> Result<u64, String>;
}

/// Pages being written after slot `first - 1` of a new file (a build or a compaction).
pub struct NewPages {
    pub first: u64,
    pub block_size: usize,
    pub blocks: Vec<Vec<u8>>,
}

impl PageRead for NewPages {
    fn read_page(&self, slot: u64) -> Result<Page, String> {
        let i = slot.checked_sub(self.first).ok_or("page slot before the map")?;
        Page::decode(self.blocks.get(i as usize).ok_or("page slot after the map")?)
    }
}

impl NewPages {
    /// Points every leaf entry at its node's new slot: `slot` becomes `new_slot[slot]`.
    pub fn renumber_leaves(&mut self, new_slot: &[u32]) -> Result<(), String> {
        for i in 0..self.blocks.len() {
            if let Page::Leaf(mut entries) = Page::decode(&self.blocks[i])? {
                entries.iter_mut().for_each(|(_, slot)| *slot = new_slot[*slot as usize]);
                Page::Leaf(entries).encode(&mut self.blocks[i]);
            }
        }
        Ok(())
    }
}

impl PageStore for NewPages {
    fn write_page(&mut self, slot: u64, page: &Page) {
        page.encode(&mut self.blocks[(slot - self.first) as usize]);
    }

    fn allocate_page(&mut self) -> Result<u64, String> {
        self.blocks.push(vec![0; self.block_size]);
        Ok(self.first + self.blocks.len() as u64 - 1)
    }
}

/// The tree's root and shape, as the header records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowidMap {
    pub root: u64,
    pub height: u32,
    pub entries: u64,
    pub pages: u64,
    pub block_size: usize,
}

impl RowidMap {
    pub fn empty(block_size: usize) -> Self {
        RowidMap { root: super::header::NO_SLOT, height: 0, entries: 0, pages: 0, block_size }
    }

    /// Packs sorted, unique `(rowid, slot)` pairs into full pages, bottom up.
    pub fn bulk_load(store: &mut impl PageStore, entries: &[(u64, u32)], block_size: usize) -> Result<RowidMap, String> {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        let mut map = RowidMap::empty(block_size);
        if entries.is_empty() {
            return Ok(map);
        }
        // (lowest rowid, page slot) of each page of the level being built.
        let mut level: Vec<(u64, u32)> = Vec::new();
        for chunk in entries.chunks(leaf_capacity(block_size)) {
            let slot = store.allocate_page()?;
            store.write_page(slot, &Page::Leaf(chunk.to_vec()));
            level.push((chunk[0].0, slot as u32));
        }
        map.pages = level.len() as u64;
        map.height = 1;
        while level.len() > 1 {
            let mut up = Vec::new();
            for chunk in level.chunks(branch_capacity(block_size) + 1) {
                let slot = store.allocate_page()?;
                store.write_page(slot, &Page::Branch { level: map.height as u8, first: chunk[0].1, keys: chunk[1..].to_vec() });
                up.push((chunk[0].0, slot as u32));
            }
            map.pages += up.len() as u64;
            map.height += 1;
            level = up;
        }
        map.root = level[0].1 as u64;
        map.entries = entries.len() as u64;
        Ok(map)
    }

    /// Reads a page and checks it sits at the level the descent expects.
    fn page_at(&self, store: &impl PageRead, slot: u64, level: u32) -> Result<Page, String> {
        let page = store.read_page(slot).map_err(|e| format!("rowid-map page at slot {slot}: {e}"))?;
        if page.level() as u32 != level {
            return Err(format!("rowid-map page at slot {slot} is at level {} where {level} was expected", page.level()));
        }
        Ok(page)
    }

    /// The pages from the root down to the leaf that holds (or would hold) `rowid`.
    fn path(&self, store: &impl PageRead, rowid: u64) -> Result<Vec<(u64, Page)>, String> {
        let mut path = Vec::with_capacity(self.height as usize);
        let mut slot = self.root;
        for level in (0..self.height).rev() {
            let page = self.page_at(store, slot, level)?;
            let next = match &page {
                Page::Branch { first, keys, .. } => child_for(*first, keys, rowid).1 as u64,
                Page::Leaf(_) => slot,
            };
            path.push((slot, page));
            slot = next;
        }
        Ok(path)
    }

    pub fn lookup(&self, store: &impl PageRead, rowid: u64) -> Result<Option<u32>, String> {
        if self.height == 0 {
            return Ok(None);
        }
        match self.path(store, rowid)?.pop() {
            Some((_, Page::Leaf(entries))) => Ok(entries.binary_search_by_key(&rowid, |e| e.0).ok().map(|i| entries[i].1)),
            _ => Err("rowid-map descent did not end at a leaf".into()),
        }
    }

    /// Adds `rowid -> slot`; the caller has checked that `rowid` is absent.
    pub fn insert(&mut self, store: &mut impl PageStore, rowid: u64, slot: u32) -> Result<(), String> {
        if self.height == 0 {
            let root = store.allocate_page()?;
            store.write_page(root, &Page::Leaf(vec![(rowid, slot)]));
            *self = RowidMap { root, height: 1, entries: 1, pages: 1, block_size: self.block_size };
            return Ok(());
        }
        let mut path = self.path(store, rowid)?;
        // Carried up the path: a new right sibling (its lowest key, its slot) to link in.
        let mut split: Option<(u64, u32)> = None;
        let (leaf_slot, leaf) = path.pop().ok_or("empty rowid-map path")?;
        let Page::Leaf(mut entries) = leaf else { return Err("rowid-map descent did not end at a leaf".into()) };
        let at = entries.partition_point(|e| e.0 < rowid);
        if entries.get(at).is_some_and(|e| e.0 == rowid) {
            return Err(format!("rowid {rowid} is already in the rowid map"));
        }
        entries.insert(at, (rowid, slot));
        if entries.len() > leaf_capacity(self.block_size) {
            // Appending at a leaf's end (rowids that grow, as DuckDB's do) leaves the old
            // leaf full and starts a new one; elsewhere the leaf splits in half.
            let cut = if at == entries.len() - 1 { at } else { entries.len() / 2 };
            let right = entries.split_off(cut);
            let right_slot = store.allocate_page()?;
            split = Some((right[0].0, right_slot as u32));
            store.write_page(right_slot, &Page::Leaf(right));
            self.pages += 1;
        }
        store.write_page(leaf_slot, &Page::Leaf(entries));
        while let Some((key, child)) = split.take() {
            match path.pop() {
                Some((slot, Page::Branch { level, first, mut keys })) => {
                    let at = keys.partition_point(|k| k.0 < key);
                    keys.insert(at, (key, child));
                    if keys.len() > branch_capacity(self.block_size) {
                        let cut = if at == keys.len() - 1 { at } else { keys.len() / 2 };
                        let mut right = keys.split_off(cut);
                        // The first right key moves up; its child becomes the right page's first.
                        let (up_key, right_first) = right.remove(0);
                        let right_slot = store.allocate_page()?;
                        store.write_page(right_slot, &Page::Branch { level, first: right_first, keys: right });
                        self.pages += 1;
                        split = Some((up_key, right_slot as u32));
                    }
                    store.write_page(slot, &Page::Branch { level, first, keys });
                }
                Some((_, Page::Leaf(_))) => return Err("rowid-map leaf above a leaf".into()),
                None => {
                    // The root split: a new root above both halves.
                    let root = store.allocate_page()?;
                    store.write_page(root, &Page::Branch { level: self.height as u8, first: self.root as u32, keys: vec![(key, child)] });
                    self.root = root;
                    self.height += 1;
                    self.pages += 1;
                }
            }
        }
        self.entries += 1;
        Ok(())
    }

    /// Removes `rowid`; returns its slot, or `None` when it was not there.
    pub fn remove(&mut self, store: &mut impl PageStore, rowid: u64) -> Result<Option<u32>, String> {
        if self.height == 0 {
            return Ok(None);
        }
        let Some((slot, Page::Leaf(mut entries))) = self.path(store, rowid)?.pop() else {
            return Err("rowid-map descent did not end at a leaf".into());
        };
        let Ok(at) = entries.binary_search_by_key(&rowid, |e| e.0) else { return Ok(None) };
        let (_, removed) = entries.remove(at);
        store.write_page(slot, &Page::Leaf(entries));
        self.entries -= 1;
        Ok(Some(removed))
    }

    /// Calls `f(rowid, slot)` for every entry in rowid order, and `page(slot)` for every
    /// page; checks every page's level and that each key lies in its parent's range.
    pub fn walk(&self, store: &impl PageRead, f: &mut dyn FnMut(u64, u32), page: &mut dyn FnMut(u64)) -> Result<(), String> {
        if self.height == 0 {
            return Ok(());
        }
        // (slot, level, lowest allowed rowid, highest allowed + 1 or None)
        let mut stack = vec![(self.root, self.height - 1, 0u64, None::<u64>)];
        while let Some((slot, level, lo, hi)) = stack.pop() {
            page(slot);
            let node = self.page_at(store, slot, level)?;
            let within = |k: u64| k >= lo && hi.is_none_or(|h| k < h);
            match node {
                Page::Leaf(entries) => {
                    if let Some(bad) = entries.iter().find(|e| !within(e.0)) {
                        return Err(format!("rowid {} in map page {slot} lies outside its parent's range", bad.0));
                    }
                    entries.iter().for_each(|e| f(e.0, e.1));
                }
                Page::Branch { first, keys, .. } => {
                    if let Some(bad) = keys.iter().find(|k| !within(k.0)) {
                        return Err(format!("key {} in map page {slot} lies outside its parent's range", bad.0));
                    }
                    // Pushed right to left so entries come out in rowid order.
                    for i in (0..=keys.len()).rev() {
                        let child = if i == 0 { first } else { keys[i - 1].1 };
                        let child_lo = if i == 0 { lo } else { keys[i - 1].0 };
                        let child_hi = keys.get(i).map(|k| k.0).or(hi);
                        stack.push((child as u64, level - 1, child_lo, child_hi));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::BTreeMap;

    fn memory() -> NewPages {
        NewPages { first: 0, block_size: 512, blocks: Vec::new() }
    }

    fn contents(map: &RowidMap, store: &NewPages) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        map.walk(store, &mut |r, s| out.push((r, s)), &mut |_| {}).unwrap();
        out
    }

    #[test]
    fn random_inserts_and_removes_agree_with_a_btreemap() {
        // 512-byte pages hold 41 entries: a few thousand rowids make a 3-level tree.
        let mut store = memory();
        let mut map = RowidMap::empty(512);
        let mut truth = BTreeMap::new();
        let mut rng = Rng::new(5);
        for step in 0..6000u32 {
            let rowid = match rng.below(3) {
                0 => rng.next_u64(),
                1 => step as u64,
                _ => rng.below(2000),
            };
            if rng.below(4) == 0 {
                assert_eq!(map.remove(&mut store, rowid).unwrap(), truth.remove(&rowid), "remove {rowid}");
            } else if let std::collections::btree_map::Entry::Vacant(e) = truth.entry(rowid) {
                e.insert(step);
                map.insert(&mut store, rowid, step).unwrap();
            } else {
                assert!(map.insert(&mut store, rowid, step).is_err(), "duplicate {rowid} accepted");
            }
        }
        assert!(map.height >= 3, "height {}", map.height);
        assert_eq!(map.entries, truth.len() as u64);
        assert_eq!(map.pages, store.blocks.len() as u64);
        assert_eq!(contents(&map, &store), truth.iter().map(|(r, s)| (*r, *s)).collect::<Vec<_>>());
        for (r, s) in &truth {
            assert_eq!(map.lookup(&store, *r).unwrap(), Some(*s));
        }
        for missing in [u64::MAX - 3, 2001, 123_456_789] {
            assert_eq!(map.lookup(&store, missing).unwrap(), truth.get(&missing).copied());
        }
    }

    #[test]
    fn bulk_load_then_growing_rowids_fill_pages() {
        let mut store = memory();
        let entries: Vec<(u64, u32)> = (0..1000u64).map(|r| (r * 3, r as u32)).collect();
        let mut map = RowidMap::bulk_load(&mut store, &entries, 512).unwrap();
        assert_eq!(contents(&map, &store), entries);
        assert_eq!(map.pages, pages_for(1000, 512));
        assert_eq!(map.height, 2);
        let before = map.pages;
        for r in 3000..3000 + 41 * 10 {
            map.insert(&mut store, r, 7).unwrap();
        }
        // Appends fill whole new leaves: 10 leaves and at most a few branch pages more.
        assert!(map.pages - before <= 12, "{} pages for 410 appends", map.pages - before);
        assert_eq!(map.lookup(&store, 3000 + 409).unwrap(), Some(7));
        assert_eq!(map.lookup(&store, 999 * 3).unwrap(), Some(999));
    }

    #[test]
    fn damaged_pages_are_reported_not_trusted() {
        let mut store = memory();
        let entries: Vec<(u64, u32)> = (0..100u64).map(|r| (r, r as u32)).collect();
        let map = RowidMap::bulk_load(&mut store, &entries, 512).unwrap();
        store.blocks[0][30] ^= 1;
        assert!(map.lookup(&store, 0).unwrap_err().contains("checksum"));
        let err = map.walk(&store, &mut |_, _| {}, &mut |_| {}).unwrap_err();
        assert!(err.contains("slot 0"), "{err}");
    }
}
