//! The rowid map: (rowid u64, slot u64) entries sorted by rowid, stored after the node
//! blocks, so a rowid is found by binary search in O(log n) without reading any node.

use super::{get_u64, put_u64};

pub const ENTRY_LEN: usize = 16;

/// Encodes sorted `(rowid, slot)` pairs.
pub fn encode(entries: &[(u64, u64)]) -> Vec<u8> {
    debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
    let mut out = vec![0u8; entries.len() * ENTRY_LEN];
    for (chunk, (rowid, slot)) in out.chunks_exact_mut(ENTRY_LEN).zip(entries) {
        put_u64(chunk, 0, *rowid);
        put_u64(chunk, 8, *slot);
    }
    out
}

/// The `i`th entry of an encoded map.
pub fn entry(map: &[u8], i: usize) -> (u64, u64) {
    (get_u64(map, i * ENTRY_LEN), get_u64(map, i * ENTRY_LEN + 8))
}

/// Finds the slot of `rowid` in an encoded map.
pub fn lookup(map: &[u8], rowid: u64) -> Option<u64> {
    let n = map.len() / ENTRY_LEN;
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (r, slot) = entry(map, mid);
        match r.cmp(&rowid) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(slot),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_every_rowid_and_nothing_else() {
        let entries: Vec<(u64, u64)> = (0..100u64).map(|i| (i * 7 + 3, 99 - i)).chain([(u64::MAX, 5)]).collect();
        let map = encode(&entries);
        for (rowid, slot) in &entries {
            assert_eq!(lookup(&map, *rowid), Some(*slot));
        }
        for missing in [0, 4, 702, u64::MAX - 1] {
            assert_eq!(lookup(&map, missing), None);
        }
    }
}
