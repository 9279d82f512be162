//! Metrics: what "near" means, fixed at build time and recorded in the header.

use rayon::prelude::*;

use super::{dot, l2_squared, norm_squared};

/// The distance a user asked for. Smaller is always nearer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Euclidean distance (reported unsquared, as DuckDB's `array_distance`).
    L2,
    /// Cosine distance `1 - cos` (as DuckDB's `array_cosine_distance`); vectors are
    /// normalised once when stored, so search uses inner products.
    Cosine,
    /// Negative inner product (as DuckDB's `array_negative_inner_product`).
    InnerProduct,
}

impl Metric {
    pub fn code(self) -> u8 {
        match self {
            Metric::L2 => 1,
            Metric::Cosine => 2,
            Metric::InnerProduct => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Metric::L2),
            2 => Some(Metric::Cosine),
            3 => Some(Metric::InnerProduct),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::InnerProduct => "ip",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "l2" | "euclidean" => Some(Metric::L2),
            "cosine" => Some(Metric::Cosine),
            "ip" | "dot" | "inner_product" => Some(Metric::InnerProduct),
            _ => None,
        }
    }

    /// Whether stored vectors (and queries) are scaled to unit length first.
    pub fn normalises(self) -> bool {
        self == Metric::Cosine
    }

    /// The ranking key between a (prepared) query and a stored vector: monotone in the
    /// user-facing distance and cheaper (no square root).
    #[inline]
    pub fn rank_distance(self, query: &[f32], stored: &[f32]) -> f32 {
        match self {
            Metric::L2 => l2_squared(query, stored),
            Metric::Cosine | Metric::InnerProduct => -dot(query, stored),
        }
    }

    /// Turns a ranking key into the distance reported to users.
    #[inline]
    pub fn user_distance(self, rank_distance: f32) -> f32 {
        match self {
            Metric::L2 => rank_distance.max(0.0).sqrt(),
            Metric::Cosine => 1.0 + rank_distance,
            Metric::InnerProduct => rank_distance,
        }
    }

    /// Prepares a vector for storage or querying: normalises it under cosine.
    /// Returns false when the vector cannot be normalised (zero length).
    pub fn prepare(self, v: &mut [f32]) -> bool {
        if !self.normalises() {
            return true;
        }
        let norm = norm_squared(v).sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return false;
        }
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
        true
    }

    /// [`Metric::prepare`]s every `dims`-wide row of `data` in parallel; the first row that
    /// cannot be prepared, if any.
    pub fn prepare_rows(self, data: &mut [f32], dims: usize) -> Option<usize> {
        if !self.normalises() {
            return None;
        }
        data.par_chunks_mut(dims).enumerate().filter_map(|(i, v)| (!self.prepare(v)).then_some(i)).min()
    }
}

/// Maximum inner product search is l2 search once every vector gets one more coordinate
/// that lifts it to the same squared norm `max_norm_squared`; this is that coordinate (0
/// for a vector already at or beyond it, as an insert's may be).
pub fn lift(max_norm_squared: f32, v: &[f32]) -> f32 {
    (max_norm_squared - norm_squared(v)).max(0.0).sqrt()
}
