//! Orders a new index writes its nodes in. Breadth first from the entry point is the base:
//! a node's neighbours get consecutive slots, so blocks smaller than a page share it with
//! nodes the same search is likely to read (Starling, SIGMOD 2024, orders blocks for the
//! same reason). A build then sorts it by how often searches read each node (see
//! `index::hot`), so a prefix of the file is the cache a disk index wants.

/// A permutation of the slots `0..n`: `order[new]` is the old slot written at `new`, and
/// `rank[old]` where the old slot went.
pub struct SlotOrder {
    pub order: Vec<u32>,
    pub rank: Vec<u32>,
}

const UNRANKED: u32 = u32::MAX;

impl SlotOrder {
    /// Breadth first from `entry` over `edges(slot, out)` (neighbours in their stored order,
    /// nearest first), then any node no edge reaches in slot order. Deterministic.
    pub fn breadth_first(n: usize, entry: u32, mut edges: impl FnMut(u32, &mut Vec<u32>)) -> SlotOrder {
        assert!(n < UNRANKED as usize && (entry as usize) < n, "entry {entry} of {n} slots");
        let mut rank = vec![UNRANKED; n];
        // The order is its own queue: nodes are appended when first reached and expanded in
        // the order they were appended.
        let mut order = Vec::with_capacity(n);
        let mut out = Vec::new();
        let mut unreached = 0..n as u32;
        loop {
            let start = match order.len() {
                0 => entry,
                len if len == n => break,
                // Whatever the edges do not reach (none, after a build's reconnection).
                _ => unreached.find(|&s| rank[s as usize] == UNRANKED).expect("a slot is unranked"),
            };
            rank[start as usize] = order.len() as u32;
            order.push(start);
            let mut head = order.len() - 1;
            while head < order.len() {
                edges(order[head], &mut out);
                for &next in &out {
                    if rank[next as usize] == UNRANKED {
                        rank[next as usize] = order.len() as u32;
                        order.push(next);
                    }
                }
                head += 1;
            }
        }
        SlotOrder { order, rank }
    }

    /// This order sorted by `key` of each slot, stably: slots of equal key keep their places.
    pub fn sorted_by_key<K: Ord>(mut self, key: impl Fn(u32) -> K) -> SlotOrder {
        self.order.sort_by_key(|&slot| key(slot));
        for (new, &old) in self.order.iter().enumerate() {
            self.rank[old as usize] = new as u32;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_of(adjacency: &[&[u32]], entry: u32) -> SlotOrder {
        SlotOrder::breadth_first(adjacency.len(), entry, |s, out| {
            out.clear();
            out.extend_from_slice(adjacency[s as usize]);
        })
    }

    #[test]
    fn levels_come_in_order_and_rank_inverts_order() {
        // 3 -> {1, 4}, 1 -> {0}, 4 -> {0, 2}, 0 -> {3}, 2 -> {}; 5 is reached by no edge.
        let adjacency: [&[u32]; 6] = [&[3], &[0], &[], &[1, 4], &[0, 2], &[2]];
        let o = order_of(&adjacency, 3);
        assert_eq!(o.order, vec![3, 1, 4, 0, 2, 5]);
        for (new, &old) in o.order.iter().enumerate() {
            assert_eq!(o.rank[old as usize], new as u32);
        }
    }

    #[test]
    fn a_sort_by_key_keeps_the_order_among_equals_and_rank_inverts_it() {
        let adjacency: [&[u32]; 6] = [&[3], &[0], &[], &[1, 4], &[0, 2], &[2]];
        let heat = [0, 5, 1, 9, 5, 0];
        let o = order_of(&adjacency, 3).sorted_by_key(|s| std::cmp::Reverse(heat[s as usize]));
        assert_eq!(o.order, vec![3, 1, 4, 2, 0, 5]);
        for (new, &old) in o.order.iter().enumerate() {
            assert_eq!(o.rank[old as usize], new as u32);
        }
    }

    #[test]
    fn every_slot_is_placed_once_whatever_the_edges_reach() {
        let adjacency: [&[u32]; 5] = [&[], &[0], &[1], &[], &[3]];
        let o = order_of(&adjacency, 2);
        assert_eq!(o.order, vec![2, 1, 0, 3, 4]);
        let mut seen = o.order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..5).collect::<Vec<u32>>());
    }
}
