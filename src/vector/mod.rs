//! Vectors: element types, metrics and the distance kernels every other module uses.

mod element;
mod kernels;
mod metric;

pub(crate) use element::worse;
pub use element::{f16_to_f32, CodecScan, ElementCodec, ElementType, Loss};
pub use kernels::{dot, dot_many, l2_squared, l2_squared_many, l2_squared_rows, l2_squared_u16_rows, l2_squared_u8_rows, norm_squared};
pub use metric::{lift, Metric};
