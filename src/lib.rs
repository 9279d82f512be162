//! # lmdiskann
//!
//! A disk-resident LM-DiskANN vector index in one `.lmd` file.
//!
//! Every graph node lives in one fixed-size block holding its rowid, its full vector, its
//! neighbours' slot ids and compressed codes of its neighbours' vectors. A search reads one
//! block per hop: the codes rank the node's neighbours, the full vector gives the exact
//! distance. Nothing else is needed in memory, so search memory is O(L), not O(N).
//!
//! ## The life of an index
//! 1. [`io::read_vectors`] reads Parquet or fvecs into a [`io::VectorSet`] (rowids from a
//!    `rowid` column or the row position, as DuckDB numbers rows).
//! 2. [`index::build_index`] builds a Vamana graph ([`graph`]) and writes the file
//!    ([`format`]) atomically ([`storage`]).
//! 3. [`index::Index::open`] maps the file; [`index::Index::search`] answers queries.
//! 4. [`index::collect_stats`] reports what is in the file.

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod error;
pub mod exact;
pub mod format;
pub mod graph;
pub mod index;
pub mod io;
pub mod quant;
pub mod rng;
pub mod storage;
pub mod synthetic;
pub mod vector;

pub use error::{Error, Result};
pub use graph::{SearchParams, SearchStats};
pub use index::{build_index, BuildOptions, Index, Neighbour};
pub use io::VectorSet;
pub use vector::Metric;

/// `n` and `noun`, plural unless `n` is 1 ("1 row", "2 rows", "0 queries"): for messages.
pub fn plural(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plural_counts() {
        let said = [(1, "row"), (0, "row"), (2, "live node"), (1, "query"), (3, "query"), (2, "key")].map(|(n, w)| super::plural(n, w));
        assert_eq!(said, ["1 row", "0 rows", "2 live nodes", "1 query", "3 queries", "2 keys"]);
    }
}
