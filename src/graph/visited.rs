//! The nodes one search has seen. Searches of an index on disk use a small open-addressing
//! set, cheaper than a HashSet and, unlike a bitmap over all nodes, sized by the search
//! (O(L*R)), not by the index; the in-memory build, whose points are in memory anyway,
//! uses a bit per point ([`Marks`]).

pub struct Visited {
    slots: Vec<u32>,
    len: usize,
    /// 32 - log2(slots): a slot is the top bits of a multiplicative hash, which mix every
    /// bit of the id (the low bits of the product depend on the id's low bits alone).
    shift: u32,
}

const EMPTY: u32 = u32::MAX;

impl Visited {
    pub fn with_capacity(n: usize) -> Self {
        let slots = Self::slots_for(n);
        Visited { slots: vec![EMPTY; slots], len: 0, shift: 32 - slots.trailing_zeros() }
    }

    /// Bytes of a set made for `n` ids.
    pub fn bytes_for(n: usize) -> usize {
        Self::slots_for(n) * std::mem::size_of::<u32>()
    }

    /// At most half full.
    fn slots_for(n: usize) -> usize {
        (n * 2).next_power_of_two().max(64)
    }

    /// Inserts `id`; returns true when it was not there yet.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        debug_assert_ne!(id, EMPTY);
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (id.wrapping_mul(0x9E37_79B1) >> self.shift) as usize;
        loop {
            match self.slots[i] {
                EMPTY => {
                    self.slots[i] = id;
                    self.len += 1;
                    return true;
                }
                x if x == id => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.len = 0;
        self.shift -= 1;
        for id in old.into_iter().filter(|x| *x != EMPTY) {
            self.insert(id);
        }
    }
}

/// A bit per point, for the build's searches (its points are all in memory anyway, and a
/// bit each is 1/128 of their f32 rows): the test and set has no probe and no branch, which
/// a search filtering R neighbours per hop feels. Cleared through the ids it was given, so
/// a search costs O(visited), not O(points).
pub struct Marks {
    words: Vec<u64>,
    given: Vec<u32>,
}

impl Marks {
    pub fn new(points: usize) -> Self {
        Marks { words: vec![0; points.div_ceil(64)], given: Vec::new() }
    }

    /// Unmarks every point.
    pub fn clear(&mut self) {
        if self.given.len() > self.words.len() {
            self.words.fill(0);
        } else {
            self.given.iter().for_each(|&id| self.words[id as usize / 64] = 0);
        }
        self.given.clear();
    }

    /// Marks `id`; returns true when it was not marked yet.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let word = &mut self.words[id as usize / 64];
        let bit = 1u64 << (id % 64);
        let new = *word & bit == 0;
        *word |= bit;
        self.given.push(id);
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_report_first_sight_only_and_clear_whole() {
        let mut m = Marks::new(1000);
        for round in 0..3 {
            for id in (0..1000u32).step_by(7 + round) {
                assert!(m.insert(id), "round {round}, id {id}");
                assert!(!m.insert(id), "round {round}, id {id}");
            }
            m.clear();
        }
        // The full wipe (more ids given than words) as well as the per-id one.
        (0..1000u32).for_each(|id| assert!(m.insert(id)));
        m.clear();
        (0..1000u32).for_each(|id| assert!(m.insert(id)));
    }

    #[test]
    fn insert_reports_first_sight_only_across_growth() {
        let mut v = Visited::with_capacity(4);
        for id in 0..10_000u32 {
            assert!(v.insert(id * 7));
        }
        for id in 0..10_000u32 {
            assert!(!v.insert(id * 7));
            assert!(v.insert(id * 7 + 1) || id * 7 + 1 == 0);
        }
    }
}
