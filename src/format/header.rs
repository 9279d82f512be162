//! The header: block 0 of every index.
//!
//! ```text
//! offset size field
//!      0    8 magic "LMDISKAN"
//!      8    2 format major (readers refuse a newer major)
//!     10    2 format minor (additions a reader of the same major may ignore)
//!     12    4 block size in bytes (a multiple of 512)
//!     16    4 dims
//!     20    1 element type code
//!     21    1 metric code
//!     22    1 neighbour-code kind
//!     23    1 reserved (0)
//!     24    4 max degree R
//!     28    4 build list L
//!     32    4 alpha (f32)
//!     36    4 default search list (0 = the library default)
//!     40    8 seed
//!     48    8 slots (node blocks in the file)
//!     56    8 live nodes
//!     64    8 tombstoned nodes
//!     72    8 entry slot
//!     80    8 free-list head slot (u64::MAX = none)
//!     88    8 rowid map: root page slot (u64::MAX = empty map)
//!     96    8 rowid map: entries (one per live node)
//!    104    4 rowid map: height in levels (0 = empty, 1 = the root is a leaf)
//!    108    4 reserved (0)
//!    112    8 generation (bumped by every committed change)
//!    120    8 created, ms since the Unix epoch
//!    128    8 modified, ms since the Unix epoch
//!    136    4 element scale (f32): integer element types store value / scale; 1 otherwise
//!    140    4 largest squared norm at build (f32; inner product builds in a space where
//!             every vector is lifted to this norm)
//!    144    8 rowid map pages
//!    152    8 free slots
//!    160    8 last vacuum: when, ms since the Unix epoch (0 = never)
//!    168    8 last vacuum: tombstones it freed
//!    176    8 last vacuum: live nodes it re-pruned
//!    184    8 last vacuum: how long it took, ms
//!    192   60 reserved (0)
//!    252    4 CRC32C of bytes 0..252 followed by the centroid bytes
//!    256 4*d code centroid (f32), the point neighbour codes are taken relative to
//! ```
//!
//! Every slot is a node (live or tombstoned), a free slot or a rowid-map page, and the
//! header counts each kind: `live + tombstoned + free slots + map pages = slots`.
//!
//! Format 1.x (read-only here) kept the rowid map as a sorted array after the blocks:
//! bytes 88..108 were its byte offset, entry count and CRC, and 140.. was reserved.

use super::{get_f32, get_u16, get_u32, get_u64, put_f32, put_u16, put_u32, put_u64};
use crate::quant::CodeKind;
use crate::vector::{ElementCodec, ElementType, Metric};

pub const MAGIC: [u8; 8] = *b"LMDISKAN";
/// Major 2: the rowid map became a B+tree of pages among the slots, so in-place updates
/// change O(log n) bytes of it; a 1.x reader would misread it, hence a new major.
/// (1.1 added element types other than f32, the element scale, more code kinds and block
/// sizes that are any multiple of 512.)
pub const FORMAT_MAJOR: u16 = 2;
pub const FORMAT_MINOR: u16 = 0;
/// Block sizes are multiples of this: a disk sector.
pub const BLOCK_ALIGN: u32 = 512;

const MAGIC_AT: usize = 0;
const MAJOR_AT: usize = MAGIC_AT + 8;
const MINOR_AT: usize = MAJOR_AT + 2;
const BLOCK_SIZE_AT: usize = MINOR_AT + 2;
const DIMS_AT: usize = BLOCK_SIZE_AT + 4;
const ELEMENT_AT: usize = DIMS_AT + 4;
const METRIC_AT: usize = ELEMENT_AT + 1;
const CODE_KIND_AT: usize = METRIC_AT + 1;
const MAX_DEGREE_AT: usize = CODE_KIND_AT + 2;
const BUILD_LIST_AT: usize = MAX_DEGREE_AT + 4;
const ALPHA_AT: usize = BUILD_LIST_AT + 4;
const SEARCH_LIST_AT: usize = ALPHA_AT + 4;
const SEED_AT: usize = SEARCH_LIST_AT + 4;
const SLOTS_AT: usize = SEED_AT + 8;
const LIVE_AT: usize = SLOTS_AT + 8;
const TOMBSTONED_AT: usize = LIVE_AT + 8;
const ENTRY_AT: usize = TOMBSTONED_AT + 8;
const FREE_HEAD_AT: usize = ENTRY_AT + 8;
const MAP_ROOT_AT: usize = FREE_HEAD_AT + 8;
const MAP_ENTRIES_AT: usize = MAP_ROOT_AT + 8;
const MAP_HEIGHT_AT: usize = MAP_ENTRIES_AT + 8;
const GENERATION_AT: usize = MAP_HEIGHT_AT + 8;
const CREATED_AT: usize = GENERATION_AT + 8;
const MODIFIED_AT: usize = CREATED_AT + 8;
const ELEMENT_SCALE_AT: usize = MODIFIED_AT + 8;
const MAX_NORM_AT: usize = ELEMENT_SCALE_AT + 4;
const MAP_PAGES_AT: usize = MAX_NORM_AT + 4;
const FREE_SLOTS_AT: usize = MAP_PAGES_AT + 8;
const VACUUMED_AT: usize = FREE_SLOTS_AT + 8;
const VACUUM_FREED_AT: usize = VACUUMED_AT + 8;
const VACUUM_REPRUNED_AT: usize = VACUUM_FREED_AT + 8;
const VACUUM_MS_AT: usize = VACUUM_REPRUNED_AT + 8;
// Format 1.x: the sorted rowid array after the blocks.
const V1_MAP_OFFSET_AT: usize = MAP_ROOT_AT;
const V1_MAP_ENTRIES_AT: usize = MAP_ENTRIES_AT;
const V1_MAP_ENTRY_LEN: u64 = 16;
const CRC_AT: usize = 252;
/// Bytes of fixed fields; the centroid follows.
pub const FIXED_LEN: usize = CRC_AT + 4;

/// No slot: an empty free list.
pub const NO_SLOT: u64 = u64::MAX;

fn header_crc(block: &[u8], dims: usize) -> u32 {
    let crc = crc32c::crc32c(&block[..CRC_AT]);
    crc32c::crc32c_append(crc, &block[FIXED_LEN..FIXED_LEN + 4 * dims])
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub version_major: u16,
    pub version_minor: u16,
    pub block_size: u32,
    pub dims: u32,
    pub element_type: ElementType,
    pub element_scale: f32,
    pub metric: Metric,
    pub code_kind: CodeKind,
    pub max_degree: u32,
    pub build_list: u32,
    pub alpha: f32,
    pub default_search_list: u32,
    pub seed: u64,
    pub slots: u64,
    pub live: u64,
    pub tombstoned: u64,
    pub entry_slot: u64,
    pub free_head: u64,
    pub free_slots: u64,
    pub map_root: u64,
    pub map_entries: u64,
    pub map_height: u32,
    pub map_pages: u64,
    pub generation: u64,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// Inner product only: the largest squared norm the build saw (0 otherwise).
    pub max_norm_squared: f32,
    pub last_vacuum: VacuumRecord,
    pub centroid: Vec<f32>,
}

/// What the last vacuum did, for `stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VacuumRecord {
    /// When it ran, ms since the Unix epoch; 0 = never.
    pub at_ms: u64,
    pub freed: u64,
    pub repruned: u64,
    pub took_ms: u64,
}

/// Why a header could not be decoded. `Foreign` and `TooNew` mean "not ours to read";
/// `Corrupted` means it was ours and was damaged.
#[derive(Debug, PartialEq)]
pub enum HeaderError {
    Foreign(String),
    TooNew(String),
    Corrupted(String),
}

impl Header {
    /// Bytes the header needs in block 0: the planner makes blocks at least this large.
    pub fn len_for(dims: usize) -> usize {
        FIXED_LEN + 4 * dims
    }

    /// The file's length: the header block and one block per slot (format 2).
    pub fn file_len(&self) -> u64 {
        (self.slots + 1) * self.block_size as u64
    }

    /// The rowid map's root and shape.
    pub fn rowid_map(&self) -> super::rowid_map::RowidMap {
        super::rowid_map::RowidMap {
            root: self.map_root,
            height: self.map_height,
            entries: self.map_entries,
            pages: self.map_pages,
            block_size: self.block_size as usize,
        }
    }

    /// Records a changed rowid map.
    pub fn set_rowid_map(&mut self, map: &super::rowid_map::RowidMap) {
        self.map_root = map.root;
        self.map_height = map.height;
        self.map_entries = map.entries;
        self.map_pages = map.pages;
    }

    /// How node blocks store vectors.
    pub fn element_codec(&self) -> ElementCodec {
        ElementCodec { element: self.element_type, scale: self.element_scale }
    }

    /// Encodes into `block` (the whole of block 0; the tail is zeroed).
    pub fn encode(&self, block: &mut [u8]) {
        block.fill(0);
        block[MAGIC_AT..MAGIC_AT + 8].copy_from_slice(&MAGIC);
        put_u16(block, MAJOR_AT, self.version_major);
        put_u16(block, MINOR_AT, self.version_minor);
        put_u32(block, BLOCK_SIZE_AT, self.block_size);
        put_u32(block, DIMS_AT, self.dims);
        block[ELEMENT_AT] = self.element_type.code();
        block[METRIC_AT] = self.metric.code();
        block[CODE_KIND_AT] = self.code_kind.code();
        put_u32(block, MAX_DEGREE_AT, self.max_degree);
        put_u32(block, BUILD_LIST_AT, self.build_list);
        put_f32(block, ALPHA_AT, self.alpha);
        put_u32(block, SEARCH_LIST_AT, self.default_search_list);
        put_u64(block, SEED_AT, self.seed);
        put_u64(block, SLOTS_AT, self.slots);
        put_u64(block, LIVE_AT, self.live);
        put_u64(block, TOMBSTONED_AT, self.tombstoned);
        put_u64(block, ENTRY_AT, self.entry_slot);
        put_u64(block, FREE_HEAD_AT, self.free_head);
        put_u64(block, MAP_ROOT_AT, self.map_root);
        put_u64(block, MAP_ENTRIES_AT, self.map_entries);
        put_u32(block, MAP_HEIGHT_AT, self.map_height);
        put_u64(block, GENERATION_AT, self.generation);
        put_u64(block, CREATED_AT, self.created_ms);
        put_u64(block, MODIFIED_AT, self.modified_ms);
        put_f32(block, ELEMENT_SCALE_AT, self.element_scale);
        put_f32(block, MAX_NORM_AT, self.max_norm_squared);
        put_u64(block, MAP_PAGES_AT, self.map_pages);
        put_u64(block, FREE_SLOTS_AT, self.free_slots);
        put_u64(block, VACUUMED_AT, self.last_vacuum.at_ms);
        put_u64(block, VACUUM_FREED_AT, self.last_vacuum.freed);
        put_u64(block, VACUUM_REPRUNED_AT, self.last_vacuum.repruned);
        put_u64(block, VACUUM_MS_AT, self.last_vacuum.took_ms);
        super::write_f32s(&mut block[FIXED_LEN..FIXED_LEN + 4 * self.centroid.len()], &self.centroid);
        let crc = header_crc(block, self.centroid.len());
        put_u32(block, CRC_AT, crc);
    }

    /// Decodes and checks a header. `bytes` is the start of the file (at least
    /// `FIXED_LEN` bytes when it is ours); `file_len` is used to check the geometry
    /// before any arithmetic is done with it.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Header, HeaderError> {
        if bytes.len() < MAGIC.len() || bytes[..8] != MAGIC {
            return Err(HeaderError::Foreign("not an lmdiskann index (bad magic); build one with `lmdiskann build`".into()));
        }
        if bytes.len() < FIXED_LEN {
            return Err(HeaderError::Corrupted(format!("file is only {} bytes, shorter than a header", bytes.len())));
        }
        let major = get_u16(bytes, MAJOR_AT);
        let minor = get_u16(bytes, MINOR_AT);
        if major > FORMAT_MAJOR {
            return Err(HeaderError::TooNew(format!(
                "format version {major}.{minor} is newer than this lmdiskann reads ({FORMAT_MAJOR}.x); upgrade lmdiskann"
            )));
        }
        let corrupt = |what: String| HeaderError::Corrupted(what);
        let dims = get_u32(bytes, DIMS_AT);
        if Header::len_for(dims as usize) > bytes.len() {
            return Err(corrupt(format!("header claims {dims} dims, more than the file holds")));
        }
        if header_crc(bytes, dims as usize) != get_u32(bytes, CRC_AT) {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let block_size = get_u32(bytes, BLOCK_SIZE_AT);
        if block_size == 0 || !block_size.is_multiple_of(BLOCK_ALIGN) {
            return Err(corrupt(format!("block size {block_size} is not a positive multiple of {BLOCK_ALIGN}")));
        }
        if dims == 0 || Header::len_for(dims as usize) > block_size as usize {
            return Err(corrupt(format!("{dims} dims do not fit a {block_size}-byte header block")));
        }
        let element_type = ElementType::from_code(bytes[ELEMENT_AT])
            .ok_or_else(|| HeaderError::TooNew(format!("unknown element type {}; upgrade lmdiskann", bytes[ELEMENT_AT])))?;
        let metric = Metric::from_code(bytes[METRIC_AT])
            .ok_or_else(|| HeaderError::TooNew(format!("unknown metric {}; upgrade lmdiskann", bytes[METRIC_AT])))?;
        let code_kind = CodeKind::from_code(bytes[CODE_KIND_AT])
            .ok_or_else(|| HeaderError::TooNew(format!("unknown neighbour-code kind {}; upgrade lmdiskann", bytes[CODE_KIND_AT])))?;
        let v1 = major == 1;
        let header = Header {
            version_major: major,
            version_minor: minor,
            block_size,
            dims,
            element_type,
            element_scale: get_f32(bytes, ELEMENT_SCALE_AT),
            metric,
            code_kind,
            max_degree: get_u32(bytes, MAX_DEGREE_AT),
            build_list: get_u32(bytes, BUILD_LIST_AT),
            alpha: get_f32(bytes, ALPHA_AT),
            default_search_list: get_u32(bytes, SEARCH_LIST_AT),
            seed: get_u64(bytes, SEED_AT),
            slots: get_u64(bytes, SLOTS_AT),
            live: get_u64(bytes, LIVE_AT),
            tombstoned: get_u64(bytes, TOMBSTONED_AT),
            entry_slot: get_u64(bytes, ENTRY_AT),
            free_head: get_u64(bytes, FREE_HEAD_AT),
            free_slots: if v1 { 0 } else { get_u64(bytes, FREE_SLOTS_AT) },
            map_root: if v1 { NO_SLOT } else { get_u64(bytes, MAP_ROOT_AT) },
            map_entries: get_u64(bytes, MAP_ENTRIES_AT),
            map_height: if v1 { 0 } else { get_u32(bytes, MAP_HEIGHT_AT) },
            map_pages: if v1 { 0 } else { get_u64(bytes, MAP_PAGES_AT) },
            generation: get_u64(bytes, GENERATION_AT),
            created_ms: get_u64(bytes, CREATED_AT),
            modified_ms: get_u64(bytes, MODIFIED_AT),
            max_norm_squared: if v1 { 0.0 } else { get_f32(bytes, MAX_NORM_AT) },
            last_vacuum: if v1 {
                VacuumRecord::default()
            } else {
                VacuumRecord {
                    at_ms: get_u64(bytes, VACUUMED_AT),
                    freed: get_u64(bytes, VACUUM_FREED_AT),
                    repruned: get_u64(bytes, VACUUM_REPRUNED_AT),
                    took_ms: get_u64(bytes, VACUUM_MS_AT),
                }
            },
            centroid: {
                let mut c = vec![0.0; dims as usize];
                super::read_f32s(&bytes[FIXED_LEN..], &mut c);
                c
            },
        };
        if v1 {
            header.check_v1_map(bytes, file_len).map_err(corrupt)?;
        }
        header.check_geometry(file_len).map_err(corrupt)?;
        Ok(header)
    }

    /// Checks that counts and offsets are consistent with each other and with the file.
    fn check_geometry(&self, file_len: u64) -> Result<(), String> {
        let bs = self.block_size as u64;
        let nodes_end = self
            .slots
            .checked_add(1)
            .and_then(|b| b.checked_mul(bs))
            .ok_or_else(|| format!("{} slots overflow the file size", self.slots))?;
        if self.live.checked_add(self.tombstoned).is_none_or(|n| n > self.slots) {
            return Err(format!("{} live + {} tombstoned nodes exceed {} slots", self.live, self.tombstoned, self.slots));
        }
        if self.live + self.tombstoned > 0 && self.entry_slot >= self.slots {
            return Err(format!("entry slot {} is outside {} slots", self.entry_slot, self.slots));
        }
        if self.element_type.is_integer() && !(self.element_scale.is_finite() && self.element_scale > 0.0) {
            return Err(format!("element scale {} of {} vectors is not a positive number", self.element_scale, self.element_type.name()));
        }
        if self.max_degree == 0 || self.max_degree > u16::MAX as u32 {
            return Err(format!("max degree {} is out of range", self.max_degree));
        }
        if self.version_major == 1 {
            return Ok(());
        }
        if nodes_end != file_len {
            return Err(format!(
                "the file is {file_len} bytes but {} slots of {bs} bytes make {nodes_end}; it was truncated or extended",
                self.slots
            ));
        }
        let kinds = [self.live, self.tombstoned, self.free_slots, self.map_pages];
        if kinds.iter().try_fold(0u64, |sum, n| sum.checked_add(*n)) != Some(self.slots) {
            return Err(format!(
                "{} live + {} tombstoned + {} free + {} map pages do not add up to {} slots",
                self.live, self.tombstoned, self.free_slots, self.map_pages, self.slots
            ));
        }
        if (self.free_head == NO_SLOT) != (self.free_slots == 0) || (self.free_head != NO_SLOT && self.free_head >= self.slots) {
            return Err(format!("free-list head {} does not fit {} free slots of {}", self.free_head, self.free_slots, self.slots));
        }
        let empty_map = self.map_root == NO_SLOT;
        if empty_map != (self.map_height == 0) || (!empty_map && self.map_root >= self.slots) || self.map_entries != self.live {
            return Err(format!(
                "rowid map (root {}, height {}, {} entries) does not fit {} slots and {} live nodes",
                self.map_root, self.map_height, self.map_entries, self.slots, self.live
            ));
        }
        Ok(())
    }

    /// Format 1.x: the sorted rowid array must lie between the node blocks and the end.
    fn check_v1_map(&self, bytes: &[u8], file_len: u64) -> Result<(), String> {
        let offset = get_u64(bytes, V1_MAP_OFFSET_AT);
        let nodes_end = (self.slots + 1).saturating_mul(self.block_size as u64);
        let map_end = get_u64(bytes, V1_MAP_ENTRIES_AT)
            .checked_mul(V1_MAP_ENTRY_LEN)
            .and_then(|n| n.checked_add(offset))
            .ok_or("rowid map size overflows")?;
        if offset < nodes_end || map_end > file_len {
            return Err(format!(
                "rowid map at bytes {offset}..{map_end} does not lie between the node blocks (end {nodes_end}) and the file end ({file_len}); the file may be truncated"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            version_major: FORMAT_MAJOR,
            version_minor: FORMAT_MINOR,
            block_size: 4096,
            dims: 3,
            element_type: ElementType::I8,
            element_scale: 0.25,
            metric: Metric::Cosine,
            code_kind: CodeKind::OneBit,
            max_degree: 40,
            build_list: 100,
            alpha: 1.2,
            default_search_list: 0,
            seed: 7,
            slots: 3,
            live: 2,
            tombstoned: 0,
            entry_slot: 1,
            free_head: NO_SLOT,
            free_slots: 0,
            map_root: 0,
            map_entries: 2,
            map_height: 1,
            map_pages: 1,
            generation: 1,
            created_ms: 5,
            modified_ms: 6,
            max_norm_squared: 0.0,
            last_vacuum: VacuumRecord { at_ms: 9, freed: 1, repruned: 2, took_ms: 3 },
            centroid: vec![0.5, -1.0, 2.0],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = sample();
        let mut block = vec![0u8; 4096];
        h.encode(&mut block);
        assert_eq!(Header::decode(&block, 4 * 4096).unwrap(), h);
    }

    #[test]
    fn every_flipped_bit_in_the_header_is_caught() {
        let h = sample();
        let mut block = vec![0u8; 4096];
        h.encode(&mut block);
        for byte in 0..Header::len_for(3) {
            for bit in 0..8 {
                let mut bad = block.clone();
                bad[byte] ^= 1 << bit;
                assert!(Header::decode(&bad, 4 * 4096).is_err(), "flip at byte {byte} bit {bit} accepted");
            }
        }
    }

    #[test]
    fn newer_major_is_refused_with_upgrade_hint() {
        let mut h = sample();
        h.version_major = FORMAT_MAJOR + 1;
        let mut block = vec![0u8; 4096];
        h.encode(&mut block);
        match Header::decode(&block, 4 * 4096) {
            Err(HeaderError::TooNew(m)) => assert!(m.contains("upgrade"), "{m}"),
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn truncated_file_is_rejected() {
        let h = sample();
        let mut block = vec![0u8; 4096];
        h.encode(&mut block);
        assert!(matches!(Header::decode(&block, 3 * 4096 + 512), Err(HeaderError::Corrupted(_))));
    }
}
