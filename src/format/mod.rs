//! THE file format: every byte of an `.lmd` file is placed by this module.
//!
//! ```text
//! block 0                header (fixed fields, CRC32C) + the code centroid
//! blocks 1 ..= slots     slot s in block s + 1: a node (see `node`), a free slot, or a
//!                        page of the rowid map's B+tree (see `rowid_map`)
//! ```
//! The file ends with the last slot.
//! All integers are little-endian and fixed-width; nothing host-sized reaches the disk.

pub mod header;
pub mod node;
pub mod planner;
pub mod rowid_map;

pub use header::{Header, VacuumRecord, FORMAT_MAJOR, FORMAT_MINOR, MAGIC, NO_SLOT};
pub use node::{NodeLayout, NodeState};
pub use planner::{default_code_kind, plan, Plan, PlanRequest, MIN_EDGES, PAGE};

/// Reads a little-endian u16 at `at`.
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
pub(crate) fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
pub(crate) fn get_f32(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_f32(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Copies little-endian f32s out of `bytes` into `out`.
pub(crate) fn read_f32s(bytes: &[u8], out: &mut [f32]) {
    for (x, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *x = f32::from_le_bytes(c.try_into().expect("4 bytes"));
    }
}

/// Writes `values` as little-endian f32s into `bytes`.
pub(crate) fn write_f32s(bytes: &mut [u8], values: &[f32]) {
    for (c, x) in bytes.chunks_exact_mut(4).zip(values) {
        c.copy_from_slice(&x.to_le_bytes());
    }
}
