//! The points as the build measures them: a byte per value where that loses nothing or next
//! to nothing, else the f32 values themselves.
//!
//! Every value v of dim d becomes `round((v - low[d]) / step)`, with one step for all dims so
//! that squared distances between byte rows are the true ones divided by step^2: the same
//! order, so the same searches and prunes. Data of whole numbers spanning at most 256 values
//! per dim (SIFT, MNIST, any u8 or i8 input) is copied exactly (step 1). Other data is
//! rounded when the rounding's noise is at most [`MAX_NOISE`] of the data's variance, else the
//! build keeps f32 (dims of very unequal ranges, outliers). A distance between byte rows reads
//! a quarter of the bytes and is exact integer arithmetic, the same on every CPU.

use super::build::PointSet;
use crate::vector::{l2_squared_rows, l2_squared_u8_rows};

/// The most rounding noise (dims x step^2 / 12, the expected squared error a row gets) the
/// byte copy may carry, as a share of the data's variance (the sum of the dims' variances).
/// The synthetic 25k x 384 and 1M x 128 sets measure about 1e-4, and graphs built on their
/// byte copies search with the recall of graphs built on f32.
const MAX_NOISE: f64 = 1e-3;

/// What the distances of a build are computed on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// Exact byte copies: whole numbers, at most 256 of them per dim.
    ExactBytes,
    /// Byte copies in steps of this size.
    RoundedBytes { step: f32 },
    /// The f32 values.
    Floats,
}

pub(super) struct Space<'a> {
    dims: usize,
    rows: Rows<'a>,
    pub(super) measure: Measure,
}

enum Rows<'a> {
    Bytes(Vec<u8>),
    Floats(&'a [f32]),
}

impl<'a> Space<'a> {
    pub(super) fn of(points: &PointSet<'a>) -> Self {
        let (dims, n) = (points.dims, points.len());
        let mut low = vec![f32::INFINITY; dims];
        let mut high = vec![f32::NEG_INFINITY; dims];
        let (mut sum, mut squares) = (vec![0.0f64; dims], vec![0.0f64; dims]);
        let mut whole = true;
        for i in 0..n as u32 {
            for (d, &v) in points.get(i).iter().enumerate() {
                low[d] = low[d].min(v);
                high[d] = high[d].max(v);
                sum[d] += v as f64;
                squares[d] += v as f64 * v as f64;
                whole &= v.fract() == 0.0;
            }
        }
        let widest = low.iter().zip(&high).map(|(l, h)| (h - l) as f64).fold(0.0, f64::max);
        let variance: f64 = sum.iter().zip(&squares).map(|(s, q)| (q / n as f64 - (s / n as f64).powi(2)).max(0.0)).sum();
        let measure = if widest == 0.0 || (whole && widest <= 255.0) {
            Measure::ExactBytes
        } else {
            let step = widest / 255.0;
            if dims as f64 * step * step / 12.0 <= MAX_NOISE * variance {
                Measure::RoundedBytes { step: step as f32 }
            } else {
                Measure::Floats
            }
        };
        let step = match measure {
            Measure::ExactBytes => 1.0,
            Measure::RoundedBytes { step } => step,
            Measure::Floats => return Space { dims, rows: Rows::Floats(points.data), measure },
        };
        let mut bytes = Vec::with_capacity(n * dims);
        for i in 0..n as u32 {
            bytes.extend(points.get(i).iter().zip(&low).map(|(&v, &l)| ((v - l) / step).round().clamp(0.0, 255.0) as u8));
        }
        Space { dims, rows: Rows::Bytes(bytes), measure }
    }

    pub(super) fn len(&self) -> usize {
        match &self.rows {
            Rows::Bytes(bytes) => bytes.len() / self.dims,
            Rows::Floats(data) => data.len() / self.dims,
        }
    }

    /// `out[i]` = the distance from point `v` to point `ids[i]`.
    pub(super) fn dists_from(&self, v: u32, ids: &[u32], out: &mut [f32]) {
        let at = v as usize * self.dims;
        match &self.rows {
            Rows::Bytes(bytes) => l2_squared_u8_rows(&bytes[at..][..self.dims], bytes, ids, out),
            Rows::Floats(data) => l2_squared_rows(&data[at..][..self.dims], data, ids, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::l2_squared;

    fn measure(data: &[f32], dims: usize) -> (Measure, Space<'_>) {
        let space = Space::of(&PointSet { dims, data });
        (space.measure, space)
    }

    #[test]
    fn byte_valued_data_is_copied_exactly_and_measured_exactly() {
        // Whole numbers within 256 of each other per dim, at any offset (u8, i8, SIFT-like).
        let dims = 37;
        let data: Vec<f32> = (0..50 * dims).map(|i| ((i * 7919) % 256) as f32 - 128.0 + (i % dims) as f32 * 1000.0).collect();
        let (m, space) = measure(&data, dims);
        assert_eq!(m, Measure::ExactBytes);
        let ids: Vec<u32> = (0..50).collect();
        let mut out = vec![0.0; 50];
        for v in 0..50u32 {
            space.dists_from(v, &ids, &mut out);
            for (&id, &d) in ids.iter().zip(&out) {
                let (a, b) = (&data[v as usize * dims..][..dims], &data[id as usize * dims..][..dims]);
                assert_eq!(d, l2_squared(a, b), "{v} -> {id}");
            }
        }
    }

    #[test]
    fn evenly_spread_floats_are_rounded_and_keep_their_order() {
        let dims = 16;
        let data: Vec<f32> = (0..200 * dims).map(|i| ((i as f32 * 0.618).fract() - 0.5) * 3.0).collect();
        let (m, space) = measure(&data, dims);
        let Measure::RoundedBytes { step } = m else { panic!("{m:?}") };
        assert!((step - 3.0 / 255.0).abs() < 1e-3, "{step}");
        // Byte distances times step^2 stay within the rounding's reach of the true ones.
        let ids: Vec<u32> = (0..200).collect();
        let mut out = vec![0.0; 200];
        space.dists_from(7, &ids, &mut out);
        for (&id, &d) in ids.iter().zip(&out) {
            let truth = l2_squared(&data[7 * dims..][..dims], &data[id as usize * dims..][..dims]);
            let error = (d * step * step - truth).abs();
            assert!(error <= 2.0 * step * truth.sqrt() * (dims as f32).sqrt() + dims as f32 * step * step, "{id}: {d} vs {truth}");
        }
    }

    #[test]
    fn an_outlier_keeps_f32() {
        // One value far out stretches the step for every dim: the other values would all
        // round to a few steps. (Its share of the variance falls as rows grow; its step's
        // noise does not.)
        let dims = 8;
        let mut data: Vec<f32> = (0..1000 * dims).map(|i| (i as f32 * 0.618).fract()).collect();
        data[5] = 1e4;
        assert_eq!(measure(&data, dims).0, Measure::Floats);
        data[5] = 0.5;
        assert!(matches!(measure(&data, dims).0, Measure::RoundedBytes { .. }));
    }

    #[test]
    fn constant_data_is_exact() {
        let data = vec![3.25f32; 10 * 4];
        assert_eq!(measure(&data, 4).0, Measure::ExactBytes);
    }
}
