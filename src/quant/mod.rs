//! Neighbour codes: the compressed copies of a node's neighbours kept inside its block,
//! so a search ranks a node's neighbours without reading their blocks.
//!
//! One kind today, `1bit` (RaBitQ-style): the vector minus a global centroid is randomly
//! rotated, and the code keeps the sign of every coordinate plus two floats, which give an
//! unbiased-in-expectation estimate of the inner product with a full-precision query.

mod one_bit;
mod rotation;

pub use one_bit::{CodeSpace, QueryCodes};
pub use rotation::Rotation;

/// Which neighbour code a file uses; recorded in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// Sign bits of the rotated, centred vector + (offset, scale) as f32.
    OneBit,
}

impl CodeKind {
    pub fn code(self) -> u8 {
        match self {
            CodeKind::OneBit => 1,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(CodeKind::OneBit),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CodeKind::OneBit => "1bit",
        }
    }

    /// Bytes of one code for `dims`-dim vectors.
    pub fn code_len(self, dims: usize) -> usize {
        match self {
            CodeKind::OneBit => dims.div_ceil(8) + 8,
        }
    }
}
