//! Node blocks: one graph node per fixed-size block.
//!
//! ```text
//! offset            size          field
//!      0               8          rowid
//!      8               1          state: 0 free, 1 live, 2 tombstoned (3 is a rowid-map
//!                                 page, see `rowid_map`)
//!      9               1          reserved (0)
//!     10               2          degree (edges in use)
//!     12               4          CRC32C of the block with these 4 bytes left out
//!     16          d*elem          full vector
//!  ids_at            4*R          neighbour slot ids (u32; the first `degree` are in use)
//!  codes_at   R*code_len          neighbour codes, in the order of the ids
//!  ...                            zero padding to the block size
//! ```
//!
//! A free slot is all zero but for its state, its CRC and, in the rowid field, the next
//! free slot (u64::MAX ends the list).

use super::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};

const ROWID_AT: usize = 0;
pub(super) const STATE_AT: usize = ROWID_AT + 8;
const DEGREE_AT: usize = STATE_AT + 2;
pub(super) const CRC_AT: usize = DEGREE_AT + 2;
/// Where the vector starts.
pub const VECTOR_AT: usize = CRC_AT + 4;

/// What a slot holds: a node in its life cycle (free, live, tombstoned) or a page of the
/// rowid map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Free,
    Live,
    Tombstoned,
    MapPage,
}

impl NodeState {
    pub(super) fn code(self) -> u8 {
        match self {
            NodeState::Free => 0,
            NodeState::Live => 1,
            NodeState::Tombstoned => 2,
            NodeState::MapPage => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(NodeState::Free),
            1 => Some(NodeState::Live),
            2 => Some(NodeState::Tombstoned),
            3 => Some(NodeState::MapPage),
            _ => None,
        }
    }

    /// A graph node: it has a vector and edges, and searches may pass through it.
    pub fn is_node(self) -> bool {
        matches!(self, NodeState::Live | NodeState::Tombstoned)
    }
}

/// Where each field of a node block lives, for one index's geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLayout {
    pub block_size: usize,
    pub dims: usize,
    pub vector_len: usize,
    pub max_degree: usize,
    pub code_len: usize,
}

impl NodeLayout {
    pub fn new(block_size: usize, dims: usize, element_size: usize, max_degree: usize, code_len: usize) -> Self {
        NodeLayout { block_size, dims, vector_len: dims * element_size, max_degree, code_len }
    }

    /// Bytes the fields need; the planner keeps this within the block size.
    pub fn used_len(&self) -> usize {
        self.codes_at() + self.max_degree * self.code_len
    }

    pub fn ids_at(&self) -> usize {
        VECTOR_AT + self.vector_len
    }

    pub fn codes_at(&self) -> usize {
        self.ids_at() + 4 * self.max_degree
    }

    pub fn rowid(&self, block: &[u8]) -> u64 {
        get_u64(block, ROWID_AT)
    }

    pub fn state(&self, block: &[u8]) -> Option<NodeState> {
        NodeState::from_code(block[STATE_AT])
    }

    /// A free slot's link to the next free slot.
    pub fn next_free(&self, block: &[u8]) -> u64 {
        get_u64(block, ROWID_AT)
    }

    /// Fills `block` with a free slot linking to `next`.
    pub fn encode_free(&self, block: &mut [u8], next: u64) {
        block.fill(0);
        put_u64(block, ROWID_AT, next);
        block[STATE_AT] = NodeState::Free.code();
        let crc = block_crc(block);
        put_u32(block, CRC_AT, crc);
    }

    /// Rewrites a node's state in place (tombstoning), keeping its checksum right.
    pub fn set_state(&self, block: &mut [u8], state: NodeState) {
        block[STATE_AT] = state.code();
        let crc = block_crc(block);
        put_u32(block, CRC_AT, crc);
    }

    pub fn degree(&self, block: &[u8]) -> usize {
        get_u16(block, DEGREE_AT) as usize
    }

    pub fn vector_bytes<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        &block[VECTOR_AT..VECTOR_AT + self.vector_len]
    }

    pub fn neighbour(&self, block: &[u8], i: usize) -> u32 {
        get_u32(block, self.ids_at() + 4 * i)
    }

    /// Every neighbour's code, one after another (`code_len` bytes each).
    pub fn codes<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        &block[self.codes_at()..self.codes_at() + self.max_degree * self.code_len]
    }

    pub fn code<'a>(&self, block: &'a [u8], i: usize) -> &'a [u8] {
        let at = self.codes_at() + i * self.code_len;
        &block[at..at + self.code_len]
    }

    /// Checks the block's checksum and the fields a reader trusts before using them.
    pub fn check(&self, block: &[u8]) -> Result<(), String> {
        if block_crc(block) != get_u32(block, CRC_AT) {
            return Err("block checksum mismatch".into());
        }
        self.check_fields(block)
    }

    /// Checks the fields a reader trusts, without the checksum: for a block whose
    /// checksum was verified when it was read before.
    pub fn check_fields(&self, block: &[u8]) -> Result<(), String> {
        if self.state(block).is_none() {
            return Err(format!("unknown node state {}", block[STATE_AT]));
        }
        if self.degree(block) > self.max_degree {
            return Err(format!("degree {} exceeds the max degree {}", self.degree(block), self.max_degree));
        }
        Ok(())
    }

    /// Fills `block` with a node: header fields, vector bytes, edges and their codes.
    /// `codes` holds `ids.len()` codes back to back.
    pub fn encode(&self, block: &mut [u8], rowid: u64, state: NodeState, vector: &[u8], ids: &[u32], codes: &[u8]) {
        debug_assert!(ids.len() <= self.max_degree && codes.len() == ids.len() * self.code_len);
        block.fill(0);
        put_u64(block, ROWID_AT, rowid);
        block[STATE_AT] = state.code();
        put_u16(block, DEGREE_AT, ids.len() as u16);
        block[VECTOR_AT..VECTOR_AT + self.vector_len].copy_from_slice(vector);
        for (i, id) in ids.iter().enumerate() {
            put_u32(block, self.ids_at() + 4 * i, *id);
        }
        block[self.codes_at()..self.codes_at() + codes.len()].copy_from_slice(codes);
        let crc = block_crc(block);
        put_u32(block, CRC_AT, crc);
    }
}

pub(super) fn block_crc(block: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&block[..CRC_AT]), &block[VECTOR_AT..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_round_trips_and_any_flipped_bit_is_caught() {
        let layout = NodeLayout::new(512, 4, 4, 16, 9);
        assert!(layout.used_len() <= 512);
        let vector: Vec<u8> = (0..16).collect();
        let ids = [3u32, 9, 1];
        let codes: Vec<u8> = (0..27).map(|i| i * 3).collect();
        let mut block = vec![0u8; 512];
        layout.encode(&mut block, 42, NodeState::Live, &vector, &ids, &codes);
        layout.check(&block).unwrap();
        assert_eq!(layout.rowid(&block), 42);
        assert_eq!(layout.state(&block), Some(NodeState::Live));
        assert_eq!(layout.degree(&block), 3);
        assert_eq!(layout.vector_bytes(&block), &vector[..]);
        assert_eq!(layout.neighbour(&block, 1), 9);
        assert_eq!(layout.code(&block, 2), &codes[18..27]);
        for byte in 0..512 {
            let mut bad = block.clone();
            bad[byte] ^= 0x10;
            assert!(layout.check(&bad).is_err(), "flip at byte {byte} accepted");
        }
    }
}
