//! The points as the build measures them: small integers where that loses nothing or next to
//! nothing, else the f32 values themselves.
//!
//! Data of whole numbers spanning at most 256 values per dim (SIFT, MNIST, any u8 or i8
//! input) becomes an exact byte copy. Other data is rounded to 16-bit codes,
//! `round((v - low[d]) / step)` with one step for all dims (so squared distances between
//! codes are the true ones divided by step^2: the same order, the same searches and
//! prunes), as many bits as keep every distance an exact 32-bit integer (12 at 128 dims, 11
//! at 384 to 1024), when the rounding's noise is small beside the distances between near
//! neighbours ([`MAX_NOISE`]); else (an outlier, dims of very unequal ranges) the build keeps
//! f32. Integer distances read a half or a quarter of the bytes of f32 and are exact, the
//! same on every CPU.

use rayon::prelude::*;

use super::build::PointRows;
use crate::storage::{LargeArray, Plain};
use crate::vector::{l2_squared_rows, l2_squared_u16_rows, l2_squared_u8_rows};

/// The most noise rounding may add to the distance between a row and its nearest neighbour
/// (its standard deviation, `2 step sqrt(d / 6)` for a squared distance d), as a share of
/// that distance. On 1M x 128 in 64 tight clusters, 8-bit codes (6e-3) cost recall@10 at
/// L 64 2.0 and 2.3 points against f32 with two build seeds (whose own recall differed by
/// 2.8); 12-bit codes (4e-4) -0.8 and +1.0.
const MAX_NOISE: f64 = 1e-3;

/// Rows sampled to find the distance to a near neighbour, and the rows they look among.
const NOISE_QUERIES: usize = 256;
const NOISE_REFERENCES: usize = 4096;

/// What the distances of a build are computed on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// Exact byte copies: whole numbers, at most 256 of them per dim.
    ExactBytes,
    /// Codes of `bits` bits, in steps of `step`.
    Rounded { bits: u32, step: f32 },
    /// The f32 values.
    Floats,
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Measure::ExactBytes => write!(f, "exact bytes"),
            Measure::Rounded { bits, step } => write!(f, "{bits}-bit codes in steps of {step}"),
            Measure::Floats => write!(f, "f32"),
        }
    }
}

pub(super) struct Space<'a> {
    dims: usize,
    rows: Rows<'a>,
    pub(super) measure: Measure,
}

enum Rows<'a> {
    Bytes(LargeArray<u8>),
    Words(LargeArray<u16>),
    /// The points' own rows, when they are in memory already.
    InputFloats(&'a [f32]),
    Floats(LargeArray<f32>),
}

impl<'a> Space<'a> {
    /// The space of `points`. Reads them at most three times (their ranges, a sample of
    /// them, and to encode them), and holds a copy only when it stays on f32 and they are
    /// not in memory already.
    pub(super) fn of(points: &'a dyn PointRows) -> Self {
        let (dims, n) = (points.dims(), points.count());
        let floats = || {
            let rows = match points.in_memory() {
                Some(data) => Rows::InputFloats(data),
                None => Rows::Floats(encode(points, |row, out: &mut [f32]| out.copy_from_slice(row))),
            };
            Space { dims, rows, measure: Measure::Floats }
        };
        let Ranges { low, high, whole } = (0..n as u32)
            .into_par_iter()
            .fold(
                || (Ranges::new(dims), vec![0.0; dims]),
                |(mut ranges, mut row), i| {
                    points.read_point(i, &mut row);
                    ranges.add(&row);
                    (ranges, row)
                },
            )
            .map(|(ranges, _)| ranges)
            .reduce(|| Ranges::new(dims), Ranges::merge);
        let widest = low.iter().zip(&high).map(|(l, h)| (h - l) as f64).fold(0.0, f64::max);
        let code = |step: f64| move |(&v, &l): (&f32, &f32)| ((v - l) as f64 / step).round();
        if widest == 0.0 || (whole && widest <= 255.0) {
            let bytes = encode(points, |row, out: &mut [u8]| {
                out.iter_mut().zip(row.iter().zip(&low).map(code(1.0))).for_each(|(o, c)| *o = c as u8)
            });
            return Space { dims, rows: Rows::Bytes(bytes), measure: Measure::ExactBytes };
        }
        let bits = code_bits(dims);
        let step = widest / ((1u32 << bits) - 1) as f64;
        if noise(points, step) > MAX_NOISE {
            return floats();
        }
        let words = encode(points, |row, out: &mut [u16]| {
            out.iter_mut().zip(row.iter().zip(&low).map(code(step))).for_each(|(o, c)| *o = c as u16)
        });
        Space { dims, rows: Rows::Words(words), measure: Measure::Rounded { bits, step: step as f32 } }
    }

    pub(super) fn len(&self) -> usize {
        match &self.rows {
            Rows::Bytes(rows) => rows.len() / self.dims,
            Rows::Words(rows) => rows.len() / self.dims,
            Rows::InputFloats(rows) => rows.len() / self.dims,
            Rows::Floats(rows) => rows.len() / self.dims,
        }
    }

    /// `out[i]` = the distance from point `v` to point `ids[i]`.
    pub(super) fn dists_from(&self, v: u32, ids: &[u32], out: &mut [f32]) {
        let at = v as usize * self.dims;
        match &self.rows {
            Rows::Bytes(rows) => l2_squared_u8_rows(&rows[at..][..self.dims], rows, ids, out),
            Rows::Words(rows) => l2_squared_u16_rows(&rows[at..][..self.dims], rows, ids, out),
            Rows::InputFloats(rows) => l2_squared_rows(&rows[at..][..self.dims], rows, ids, out),
            Rows::Floats(rows) => l2_squared_rows(&rows[at..][..self.dims], rows, ids, out),
        }
    }
}

/// The most bits (at most 15) whose codes keep `dims x (largest difference)^2` below 2^32.
fn code_bits(dims: usize) -> u32 {
    (1..=15).rev().find(|&bits| dims as u64 * ((1u64 << bits) - 1).pow(2) <= u32::MAX as u64).unwrap_or(1)
}

/// Every point's values as `to` turns them, back to back.
fn encode<T: Plain + Default>(points: &dyn PointRows, to: impl Fn(&[f32], &mut [T]) + Sync) -> LargeArray<T> {
    let dims = points.dims();
    let mut out = LargeArray::zeroed(points.count() * dims);
    out.par_chunks_mut(dims).enumerate().for_each_init(
        || vec![0.0; dims],
        |row, (i, out)| {
            points.read_point(i as u32, row);
            to(row, out);
        },
    );
    out
}

/// Each dim's least and greatest value, and whether all are whole numbers.
struct Ranges {
    low: Vec<f32>,
    high: Vec<f32>,
    whole: bool,
}

impl Ranges {
    fn new(dims: usize) -> Self {
        Ranges { low: vec![f32::INFINITY; dims], high: vec![f32::NEG_INFINITY; dims], whole: true }
    }

    fn add(&mut self, row: &[f32]) {
        for ((l, h), &v) in self.low.iter_mut().zip(self.high.iter_mut()).zip(row) {
            *l = l.min(v);
            *h = h.max(v);
            self.whole &= v.fract() == 0.0;
        }
    }

    fn merge(mut self, other: Ranges) -> Ranges {
        self.low.iter_mut().zip(&other.low).for_each(|(a, b)| *a = a.min(*b));
        self.high.iter_mut().zip(&other.high).for_each(|(a, b)| *a = a.max(*b));
        self.whole &= other.whole;
        self
    }
}

/// Rounding in steps of `step`: its noise on the distance between a row and its nearest
/// neighbour, relative to that distance, at the median over sampled rows (rows with an
/// exact copy left out). Infinite when every sampled row has a copy.
fn noise(points: &dyn PointRows, step: f64) -> f64 {
    let (n, dims) = (points.count(), points.dims());
    let spaced = |count: usize, offset: usize| (0..count.min(n)).map(move |i| ((i * n / count.min(n) + offset) % n) as u32);
    let references: Vec<u32> = spaced(NOISE_REFERENCES, 0).collect();
    let mut reference_rows = vec![0.0; references.len() * dims];
    reference_rows.chunks_mut(dims).zip(&references).for_each(|(out, &r)| points.read_point(r, out));
    let positions: Vec<u32> = (0..references.len() as u32).collect();
    let mut nearest: Vec<f64> = spaced(NOISE_QUERIES, 1)
        .collect::<Vec<_>>()
        .par_iter()
        .map_init(
            || (vec![0.0; dims], vec![0.0; references.len()]),
            |(row, d), &q| {
                points.read_point(q, row);
                l2_squared_rows(row, &reference_rows, &positions, d);
                references.iter().zip(d.iter()).filter(|&(&r, &d)| r != q && d > 0.0).map(|(_, &d)| d as f64).fold(f64::INFINITY, f64::min)
            },
        )
        .filter(|d| d.is_finite())
        .collect();
    if nearest.is_empty() {
        return f64::INFINITY;
    }
    nearest.sort_by(f64::total_cmp);
    let median = nearest[nearest.len() / 2];
    2.0 * step / (6.0 * median).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::PointSet;
    use crate::vector::l2_squared;

    /// `rows x dims` values uniform in [0, 1), seeded.
    fn uniform(rows: usize, dims: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..rows * dims).map(|_| rng.unit() as f32).collect()
    }

    fn measure(data: &[f32], dims: usize) -> Measure {
        Space::of(&PointSet { dims, data }).measure
    }

    #[test]
    fn byte_valued_data_is_copied_exactly_and_measured_exactly() {
        // Whole numbers within 256 of each other per dim, at any offset (u8, i8, SIFT-like).
        let dims = 37;
        let data: Vec<f32> = (0..50 * dims).map(|i| ((i * 7919) % 256) as f32 - 128.0 + (i % dims) as f32 * 1000.0).collect();
        let points = PointSet { dims, data: &data };
        let space = Space::of(&points);
        assert_eq!(space.measure, Measure::ExactBytes);
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
        let data: Vec<f32> = uniform(200, dims, 1).iter().map(|v| (v - 0.5) * 3.0).collect();
        let points = PointSet { dims, data: &data };
        let space = Space::of(&points);
        let m = space.measure;
        // 16 dims: 14 bits, over the widest dim's range (just under 3).
        let Measure::Rounded { bits: 14, step } = m else { panic!("{m:?}") };
        assert!(step <= 3.0 / 16383.0 && step > 2.9 / 16383.0, "{step}");
        // Code distances times step^2 stay within the rounding's reach of the true ones.
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
        let mut data = uniform(1000, dims, 2);
        data[5] = 1e4;
        assert_eq!(measure(&data, dims), Measure::Floats);
        data[5] = 0.5;
        assert!(matches!(measure(&data, dims), Measure::Rounded { .. }));
    }

    #[test]
    fn codes_get_the_most_bits_that_keep_sums_exact() {
        assert_eq!([1, 16, 128, 384, 784, 1024, 1536, 65536].map(code_bits), [15, 14, 12, 11, 11, 11, 10, 8]);
    }

    #[test]
    fn tight_clusters_far_apart_keep_f32_when_the_step_is_too_coarse_for_them() {
        // Two clusters a million apart, points 0.01 apart inside: one step for the whole
        // range is far coarser than a neighbour's distance.
        let dims = 4;
        let data: Vec<f32> =
            (0..2000 * dims).map(|i| if (i / dims) % 2 == 0 { 0.0 } else { 1e6 } + ((i * 7919) % 1000) as f32 * 0.01 + 0.5).collect();
        assert_eq!(measure(&data, dims), Measure::Floats);
    }

    /// Points read a row at a time, as from a mapped file.
    struct Streamed<'a>(PointSet<'a>);

    impl PointRows for Streamed<'_> {
        fn dims(&self) -> usize {
            self.0.dims
        }

        fn count(&self) -> usize {
            self.0.count()
        }

        fn read_point(&self, i: u32, out: &mut [f32]) {
            self.0.read_point(i, out);
        }
    }

    #[test]
    fn points_read_a_row_at_a_time_measure_as_points_in_memory() {
        let dims = 8;
        let mut outlier = uniform(1000, dims, 2);
        outlier[5] = 1e4;
        let bytes: Vec<f32> = uniform(300, dims, 3).iter().map(|v| (v * 200.0).floor()).collect();
        for (data, kind) in [(uniform(500, dims, 4), "codes"), (outlier, "f32"), (bytes, "exact bytes")] {
            let in_memory = PointSet { dims, data: &data };
            let streamed = Streamed(PointSet { dims, data: &data });
            let (a, b) = (Space::of(&in_memory), Space::of(&streamed));
            assert_eq!(a.measure, b.measure);
            assert!(a.measure.to_string().contains(kind), "{} is not {kind}", a.measure);
            let ids: Vec<u32> = (0..a.len() as u32).collect();
            let (mut da, mut db) = (vec![0.0; ids.len()], vec![0.0; ids.len()]);
            for v in [0, 5, 99] {
                a.dists_from(v, &ids, &mut da);
                b.dists_from(v, &ids, &mut db);
                assert_eq!(da, db, "{:?}", a.measure);
            }
        }
    }

    #[test]
    fn constant_data_is_exact() {
        let data = vec![3.25f32; 10 * 4];
        assert_eq!(measure(&data, 4), Measure::ExactBytes);
    }
}
