//! Vamana graphs: the in-memory build (parallel batch insertion with robust pruning) and
//! the on-disk search that reads one block per hop.

mod build;
mod candidates;
mod connect;
mod order;
mod prune;
mod search;
mod space;
mod update;
mod visited;

pub use build::{build, BuildParams, Graph, PointRows, PointSet};
pub use candidates::Candidates;
pub use connect::{nearest_expanded, place, reconnect, Reconnect};
pub use order::SlotOrder;
pub use prune::robust_prune_split;
pub use search::{beam_search, search, Beam, Expanded, Search, SearchParams, SearchStats};
pub use space::Measure;
pub use update::{back_edges, consolidate, edges_of, link_new, Consolidation, Edges, NewNodes, UpdateSpace};
pub use visited::Marks;
