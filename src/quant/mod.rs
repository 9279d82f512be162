//! Neighbour codes: the compressed copies of a node's neighbours kept inside its block,
//! so a search ranks a node's neighbours without reading their blocks.
//!
//! Every kind codes the same thing: y = P(x - c), the vector minus a global centroid c,
//! randomly rotated by P, plus one exact float `a` (|x - c|^2 under l2, <x, c> under the
//! inner-product metrics). A code is then good for an estimate of <y, q'> with the
//! full-precision query q' = P(q - c), and the distance follows:
//!
//! ```text
//! l2:  |x - q|^2 = a + |q - c|^2 - 2 <y, q'>
//! ip:  <x, q>    = <y, q'> + a + <c, q> - |c|^2
//! ```
//! The kinds differ only in how they keep y: as floats (`f32`, `f16`), as bytes on a
//! per-vector grid (`int8`), or RaBitQ-style with 1, 2 or 4 bits or one of three levels
//! per coordinate and a per-vector rescale (`1bit`, `2bit`, `4bit`, `ternary`).

mod lut;
mod rotation;
mod scalar;
mod space;

pub use rotation::Rotation;
pub use space::{CodeSpace, QueryCodes};

/// Code `i` of `codes` (a node's codes one after another, `code_len` bytes each): its body
/// (the first `body_len` bytes) and the kind's own parameters (after the exact float `a`).
#[inline(always)]
fn code_parts(codes: &[u8], i: u32, code_len: usize, body_len: usize) -> (&[u8], &[u8]) {
    let (body, params) = codes[i as usize * code_len..][..code_len].split_at(body_len);
    (body, &params[4..])
}

/// Which neighbour code a file uses; recorded in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// y as f32: exact distances, 4 bytes per dimension.
    F32,
    /// y as f16.
    F16,
    /// y on a per-vector grid of 256 levels (offset and step as f32).
    Int8,
    /// Four bits per rotated coordinate + a rescale.
    FourBit,
    /// Two bits per rotated coordinate + a rescale.
    TwoBit,
    /// -1, 0 or +1 per rotated coordinate, kept in two bit-planes (positive, negative).
    Ternary,
    /// Sign bit of every rotated coordinate + a rescale (RaBitQ).
    OneBit,
}

impl CodeKind {
    /// Every kind, from the most to the least precise.
    pub const ALL: [CodeKind; 7] =
        [CodeKind::F32, CodeKind::F16, CodeKind::Int8, CodeKind::FourBit, CodeKind::TwoBit, CodeKind::Ternary, CodeKind::OneBit];

    /// Code recorded in the header (1, 2 and 4 are the bit counts format 1.0 used).
    pub fn code(self) -> u8 {
        match self {
            CodeKind::OneBit => 1,
            CodeKind::TwoBit => 2,
            CodeKind::Ternary => 3,
            CodeKind::FourBit => 4,
            CodeKind::Int8 => 8,
            CodeKind::F16 => 16,
            CodeKind::F32 => 32,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            CodeKind::F32 => "f32",
            CodeKind::F16 => "f16",
            CodeKind::Int8 => "int8",
            CodeKind::FourBit => "4bit",
            CodeKind::TwoBit => "2bit",
            CodeKind::Ternary => "ternary",
            CodeKind::OneBit => "1bit",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The code space of an index of this kind.
    pub fn space(self, metric: crate::vector::Metric, centroid: Vec<f32>, seed: u64) -> CodeSpace {
        CodeSpace::new(self, metric, centroid, seed)
    }

    /// Bytes of the part of a code that keeps y.
    fn body_len(self, dims: usize) -> usize {
        match self {
            CodeKind::F32 => 4 * dims,
            CodeKind::F16 => 2 * dims,
            CodeKind::Int8 => dims,
            CodeKind::FourBit => (dims * 4).div_ceil(8),
            CodeKind::TwoBit => (dims * 2).div_ceil(8),
            CodeKind::Ternary => 2 * dims.div_ceil(8),
            CodeKind::OneBit => dims.div_ceil(8),
        }
    }

    /// f32s after the body: `a`, then the kind's own parameters.
    fn params(self) -> usize {
        match self {
            CodeKind::F32 | CodeKind::F16 => 1,
            CodeKind::FourBit | CodeKind::TwoBit | CodeKind::Ternary | CodeKind::OneBit => 2,
            CodeKind::Int8 => 3,
        }
    }

    /// Heap a query prepared for this kind holds: the rotated query, its tables or planes.
    pub fn query_bytes(self, dims: usize) -> usize {
        match self {
            CodeKind::F32 | CodeKind::F16 | CodeKind::Int8 => 4 * dims,
            CodeKind::Ternary => 1024 * self.body_len(dims) / 2,
            CodeKind::FourBit | CodeKind::TwoBit => 1024 * self.body_len(dims),
            // Its grid (a byte per dimension) and bit-planes (6 bits per dimension).
            CodeKind::OneBit => 2 * dims,
        }
    }

    /// Bytes of one code for `dims`-dim vectors.
    pub fn code_len(self, dims: usize) -> usize {
        self.body_len(dims) + 4 * self.params()
    }
}
