//! Reading vector sets (`.fvecs`, `.bvecs`, `.npy`, CSV/TSV, Parquet), writing search results, and ground truth.
//!
//! Self-contained: nothing here refers to other crate modules, so the folder
//! can move between crates unchanged.

mod csv_input;
mod fvecs;
mod groundtruth;
pub mod input;
mod npy;
pub mod output;
mod parquet_input;
mod probe;
mod rowid_list;
#[cfg(test)]
mod test_util;

pub use fvecs::{write_fvecs, write_fvecs_to};
pub use groundtruth::{read_groundtruth, write_ivecs};
pub use input::{
    read_vectors, read_vectors_chunked, InputError, InputOptions, InputType, PositionRowids, RowidSource, StreamSummary, VectorSet,
    MAX_DIMS,
};
pub use output::{write_hits, Hit, OutputError, OutputFormat, ParquetMarker, PARQUET_MARKER};
pub use parquet_input::{write_vectors_parquet, write_vectors_parquet_to};
pub use probe::{probe, Probe};
pub use rowid_list::read_rowids;
