//! Vectors: element types, metrics and the distance kernels every other module uses.

mod kernels;
mod metric;

pub use kernels::{dot, dot_many, l2_squared, l2_squared_many, norm_squared};
pub use metric::Metric;

/// How vector elements are stored in node blocks. Only `F32` is written today; the code is
/// recorded in the header so later versions can add types without a format break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementType {
    F32,
}

impl ElementType {
    /// Code recorded in the header.
    pub fn code(self) -> u8 {
        match self {
            ElementType::F32 => 1,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ElementType::F32),
            _ => None,
        }
    }

    /// Bytes one element takes on disk.
    pub fn size(self) -> usize {
        match self {
            ElementType::F32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
        }
    }
}
