//! B-bit RaBitQ-style codes (B = 1, 2 or 4) and their query-side estimator.
//!
//! With centroid c and rotation P, a stored vector x becomes y = P(x - c). Each rotated
//! coordinate is quantised to one of 2^B levels `ŷ_i = code_i - (2^B - 1)/2` on a
//! per-vector grid; the code keeps those B-bit numbers plus two floats: the rescale
//! `s = |y|^2 / <ŷ, y>` and an offset `a` (|x - c|^2 under l2, <x, c> under the
//! inner-product metrics). For a query q with q' = P(q - c):
//!
//! ```text
//! <x - c, q - c> = <y, q'> ≈ s <ŷ, q'>                 (RaBitQ's estimator)
//! l2:  |x - q|^2 ≈ a + |q - c|^2 - 2 s <ŷ, q'>
//! ip:  <x, q>    ≈ s <ŷ, q'> + a + <c, q> - |c|^2
//! ```
//! `<ŷ, q'>` is summed from one 256-entry lookup table per code byte, built once per query,
//! so scoring a neighbour costs one table lookup per byte whatever B is.

use super::Rotation;
use crate::format::{get_f32, put_f32};
use crate::vector::{dot, norm_squared, Metric};

/// Grid scales tried when encoding with B > 1, as fractions of max |y_i|; the one whose
/// reconstruction points most nearly along y wins (extended RaBitQ's criterion).
const GRID_FRACTIONS: [f32; 10] = [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Everything needed to encode vectors and prepare queries for one index.
#[derive(Clone, Debug)]
pub struct CodeSpace {
    metric: Metric,
    bits: usize,
    centroid: Vec<f32>,
    rotation: Rotation,
    bytes_len: usize,
}

impl CodeSpace {
    pub fn new(metric: Metric, bits: usize, centroid: Vec<f32>, seed: u64) -> Self {
        debug_assert!(matches!(bits, 1 | 2 | 4));
        let dims = centroid.len();
        CodeSpace { metric, bits, rotation: Rotation::new(dims, seed), bytes_len: (dims * bits).div_ceil(8), centroid }
    }

    pub fn code_len(&self) -> usize {
        self.bytes_len + 8
    }

    fn half_range(&self) -> f32 {
        ((1u32 << self.bits) - 1) as f32 / 2.0
    }

    /// Writes the code of stored vector `x` (already prepared for the metric) into `out`.
    pub fn encode(&self, x: &[f32], out: &mut [u8]) {
        let mut y: Vec<f32> = x.iter().zip(&self.centroid).map(|(a, c)| a - c).collect();
        let offset = match self.metric {
            Metric::L2 => norm_squared(&y),
            Metric::Cosine | Metric::InnerProduct => dot(x, &self.centroid),
        };
        self.rotation.apply(&mut y);
        let levels = self.quantise(&y);
        let half = self.half_range();
        let along: f32 = levels.iter().zip(&y).map(|(&l, v)| (l as f32 - half) * v).sum();
        let scale = if along > 0.0 { norm_squared(&y) / along } else { 0.0 };
        let (bytes, tail) = out.split_at_mut(self.bytes_len);
        bytes.fill(0);
        let per_byte = 8 / self.bits;
        for (i, &l) in levels.iter().enumerate() {
            bytes[i / per_byte] |= l << ((i % per_byte) * self.bits);
        }
        put_f32(tail, 0, offset);
        put_f32(tail, 4, scale);
    }

    /// The B-bit level of every coordinate of `y`.
    fn quantise(&self, y: &[f32]) -> Vec<u8> {
        if self.bits == 1 {
            return y.iter().map(|&v| u8::from(v >= 0.0)).collect();
        }
        let half = self.half_range();
        let top = ((1u32 << self.bits) - 1) as f32;
        let max = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if max == 0.0 {
            return vec![(half.floor()) as u8; y.len()];
        }
        let level = |v: f32, step: f32| (v / step + half).round().clamp(0.0, top);
        // Score each grid by the cosine between y and its reconstruction, without
        // materialising the levels; only the winner's are kept.
        let cosine = |fraction: f32| -> f32 {
            let step = fraction * max / half;
            let (mut along, mut norm) = (0.0f32, 0.0f32);
            for &v in y {
                let r = level(v, step) - half;
                along += r * v;
                norm += r * r;
            }
            if norm > 0.0 { along / norm.sqrt() } else { f32::NEG_INFINITY }
        };
        let (_, fraction) = GRID_FRACTIONS.iter().fold((f32::NEG_INFINITY, 1.0), |best, &f| {
            let c = cosine(f);
            if c > best.0 { (c, f) } else { best }
        });
        let step = fraction * max / half;
        y.iter().map(|&v| level(v, step) as u8).collect()
    }

    /// Prepares a query (already prepared for the metric) for estimating distances to codes.
    pub fn query(&self, q: &[f32]) -> QueryCodes {
        let mut qr: Vec<f32> = q.iter().zip(&self.centroid).map(|(a, c)| a - c).collect();
        let constant = match self.metric {
            Metric::L2 => norm_squared(&qr),
            Metric::Cosine | Metric::InnerProduct => dot(q, &self.centroid) - norm_squared(&self.centroid),
        };
        self.rotation.apply(&mut qr);
        let per_byte = 8 / self.bits;
        qr.resize(self.bytes_len * per_byte, 0.0);
        let half = self.half_range();
        let mask = (1usize << self.bits) - 1;
        let mut lut = vec![0.0f32; self.bytes_len * 256];
        for (table, chunk) in lut.chunks_exact_mut(256).zip(qr.chunks_exact(per_byte)) {
            // Fill the table one field at a time: after field t, entries below
            // 2^(B(t+1)) are final, and each higher field's entries extend a lower entry.
            for (t, qv) in chunk.iter().enumerate() {
                let shift = t * self.bits;
                for level in 1..=mask {
                    let add = (level as f32 - half) * qv;
                    for low in 0..1usize << shift {
                        table[(level << shift) | low] = table[low] + add;
                    }
                }
                let zero = -half * qv;
                table[..1usize << shift].iter_mut().for_each(|e| *e += zero);
            }
        }
        QueryCodes { metric: self.metric, lut, constant, bytes_len: self.bytes_len }
    }
}

/// A query prepared against one `CodeSpace`.
pub struct QueryCodes {
    metric: Metric,
    lut: Vec<f32>,
    constant: f32,
    bytes_len: usize,
}

impl QueryCodes {
    /// Estimated ranking distance (`Metric::rank_distance`) from the query to a code.
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        let (bytes, tail) = code.split_at(self.bytes_len);
        let mut sum = 0.0f32;
        for (table, byte) in self.lut.chunks_exact(256).zip(bytes) {
            sum += table[*byte as usize];
        }
        let offset = get_f32(tail, 0);
        let scale = get_f32(tail, 4);
        match self.metric {
            Metric::L2 => offset + self.constant - 2.0 * scale * sum,
            Metric::Cosine | Metric::InnerProduct => -(scale * sum + offset + self.constant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn gaussian(rng: &mut Rng, dims: usize, shift: f32) -> Vec<f32> {
        (0..dims).map(|_| rng.normal() as f32 + shift).collect()
    }

    /// Fraction of pairs the estimate orders like the exact distance, and the rank the
    /// estimate gives the true nearest neighbour, over 400 Gaussian points.
    fn estimate_quality(metric: Metric, bits: usize, dims: usize) -> (f64, usize) {
        let mut rng = Rng::new(dims as u64);
        let n = 400;
        let mut data: Vec<Vec<f32>> = (0..n).map(|_| gaussian(&mut rng, dims, 3.0)).collect();
        data.iter_mut().for_each(|v| assert!(metric.prepare(v)));
        let mut centroid = vec![0.0f32; dims];
        for v in &data {
            centroid.iter_mut().zip(v).for_each(|(c, x)| *c += x / n as f32);
        }
        let space = CodeSpace::new(metric, bits, centroid, 5);
        let codes: Vec<Vec<u8>> = data
            .iter()
            .map(|v| {
                let mut c = vec![0u8; space.code_len()];
                space.encode(v, &mut c);
                c
            })
            .collect();
        let mut q = gaussian(&mut rng, dims, 3.0);
        assert!(metric.prepare(&mut q));
        let qc = space.query(&q);
        let exact: Vec<f32> = data.iter().map(|v| metric.rank_distance(&q, v)).collect();
        let est: Vec<f32> = codes.iter().map(|c| qc.distance(c)).collect();
        let (mut agree, mut pairs) = (0, 0);
        for i in 0..n {
            for j in i + 1..n {
                pairs += 1;
                if (exact[i] < exact[j]) == (est[i] < est[j]) {
                    agree += 1;
                }
            }
        }
        let best = (0..n).min_by(|&a, &b| exact[a].total_cmp(&exact[b])).unwrap();
        (agree as f64 / pairs as f64, est.iter().filter(|e| **e < est[best]).count())
    }

    #[test]
    fn estimates_order_neighbours_like_exact_distances() {
        for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
            for dims in [64, 128, 784] {
                let mut last = 0.0;
                for bits in [1, 2, 4] {
                    let (concordance, rank) = estimate_quality(metric, bits, dims);
                    assert!(concordance > 0.75, "{metric:?} {bits} bits dims {dims}: pair agreement {concordance:.3}");
                    assert!(rank < 40, "{metric:?} {bits} bits dims {dims}: true nearest ranked {rank}");
                    // More bits must not estimate worse.
                    assert!(concordance > last - 0.01, "{metric:?} dims {dims}: {bits} bits {concordance:.3} < {last:.3}");
                    last = concordance;
                }
                assert!(last > 0.9, "{metric:?} dims {dims}: 4-bit agreement only {last:.3}");
            }
        }
    }

    #[test]
    fn four_bit_estimate_is_close_to_exact() {
        let dims = 128;
        let mut rng = Rng::new(1);
        let space = CodeSpace::new(Metric::L2, 4, vec![0.0; dims], 3);
        let x = gaussian(&mut rng, dims, 0.0);
        let q = gaussian(&mut rng, dims, 0.0);
        let mut code = vec![0u8; space.code_len()];
        space.encode(&x, &mut code);
        let exact = Metric::L2.rank_distance(&q, &x);
        let est = space.query(&q).distance(&code);
        assert!((est - exact).abs() < 0.05 * exact, "estimate {est} vs exact {exact}");
    }
}
