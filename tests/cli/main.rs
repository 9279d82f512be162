//! End-to-end tests that run the real `lmdiskann` binary.

mod build_search;
mod concurrency;
mod duckdb;
mod errors;
mod golden;
mod kill;
mod leftovers;
mod limits;
mod memory;
mod outputs;
mod overwrite;
mod recall_gate;
mod rowids;
mod shard;
mod types;
mod update;
mod util;
mod validate;
