//! Neighbour codes: the compressed copies of a node's neighbours kept inside its block,
//! so a search ranks a node's neighbours without reading their blocks.
//!
//! The kinds are RaBitQ-style: the vector minus a global centroid is randomly rotated and
//! each coordinate kept with 1, 2 or 4 bits, plus two floats that turn the estimate of
//! the inner product with a full-precision query into an unbiased one.

mod rabitq;
mod rotation;

pub use rabitq::{CodeSpace, QueryCodes};
pub use rotation::Rotation;

/// Which neighbour code a file uses; recorded in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// Sign bit of every rotated coordinate + (offset, scale) as f32.
    OneBit,
    /// Two bits per rotated coordinate + (offset, scale).
    TwoBit,
    /// Four bits per rotated coordinate + (offset, scale).
    FourBit,
}

impl CodeKind {
    pub fn code(self) -> u8 {
        match self {
            CodeKind::OneBit => 1,
            CodeKind::TwoBit => 2,
            CodeKind::FourBit => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(CodeKind::OneBit),
            2 => Some(CodeKind::TwoBit),
            4 => Some(CodeKind::FourBit),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CodeKind::OneBit => "1bit",
            CodeKind::TwoBit => "2bit",
            CodeKind::FourBit => "4bit",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [CodeKind::OneBit, CodeKind::TwoBit, CodeKind::FourBit].into_iter().find(|k| k.name() == name)
    }

    /// The kind a build uses unless told otherwise, by dimension (see the README's table).
    pub fn default_for(dims: usize) -> Self {
        if dims >= 512 { CodeKind::OneBit } else { CodeKind::TwoBit }
    }

    /// Bits kept per coordinate.
    pub fn bits(self) -> usize {
        self.code() as usize
    }

    /// The code space of an index of this kind.
    pub fn space(self, metric: crate::vector::Metric, centroid: Vec<f32>, seed: u64) -> CodeSpace {
        CodeSpace::new(metric, self.bits(), centroid, seed)
    }

    /// Bytes of one code for `dims`-dim vectors.
    pub fn code_len(self, dims: usize) -> usize {
        (dims * self.bits()).div_ceil(8) + 8
    }
}
