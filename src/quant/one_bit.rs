//! The 1-bit code and its query-side estimator.
//!
//! With centroid c and rotation P, a stored vector x becomes y = P(x - c). Its code keeps
//! sign(y) (one bit per coordinate), `s = |y|^2 / |y|_1` and an offset `a` (|x - c|^2
//! under l2, <x, c> under the inner-product metrics). For a query q with q' = P(q - c):
//!
//! ```text
//! <x - c, q - c> = <y, q'> ≈ s * <sign(y), q'>          (RaBitQ's estimator)
//! l2:  |x - q|^2 ≈ a + |q - c|^2 - 2 s <sign(y), q'>
//! ip:  <x, q>    ≈ s <sign(y), q'> + a + <c, q> - |c|^2
//! ```
//! `<sign(y), q'>` is summed from per-byte lookup tables built once per query.

use super::Rotation;
use crate::format::{get_f32, put_f32};
use crate::vector::{dot, norm_squared, Metric};

/// Everything needed to encode vectors and prepare queries for one index.
#[derive(Clone, Debug)]
pub struct CodeSpace {
    metric: Metric,
    centroid: Vec<f32>,
    rotation: Rotation,
    bits_len: usize,
}

impl CodeSpace {
    pub fn new(metric: Metric, centroid: Vec<f32>, seed: u64) -> Self {
        let dims = centroid.len();
        CodeSpace { metric, rotation: Rotation::new(dims, seed), bits_len: dims.div_ceil(8), centroid }
    }

    pub fn code_len(&self) -> usize {
        self.bits_len + 8
    }

    /// Writes the code of stored vector `x` (already prepared for the metric) into `out`.
    pub fn encode(&self, x: &[f32], out: &mut [u8]) {
        let mut y: Vec<f32> = x.iter().zip(&self.centroid).map(|(a, c)| a - c).collect();
        let offset = match self.metric {
            Metric::L2 => norm_squared(&y),
            Metric::Cosine | Metric::InnerProduct => dot(x, &self.centroid),
        };
        self.rotation.apply(&mut y);
        let l1: f32 = y.iter().map(|v| v.abs()).sum();
        let scale = if l1 > 0.0 { norm_squared(&y) / l1 } else { 0.0 };
        let (bits, tail) = out.split_at_mut(self.bits_len);
        bits.fill(0);
        for (i, v) in y.iter().enumerate() {
            if *v >= 0.0 {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        put_f32(tail, 0, offset);
        put_f32(tail, 4, scale);
    }

    /// Prepares a query (already prepared for the metric) for estimating distances to codes.
    pub fn query(&self, q: &[f32]) -> QueryCodes {
        let mut qr: Vec<f32> = q.iter().zip(&self.centroid).map(|(a, c)| a - c).collect();
        let constant = match self.metric {
            Metric::L2 => norm_squared(&qr),
            Metric::Cosine | Metric::InnerProduct => dot(q, &self.centroid) - norm_squared(&self.centroid),
        };
        self.rotation.apply(&mut qr);
        qr.resize(self.bits_len * 8, 0.0);
        let mut lut = vec![0.0f32; self.bits_len * 256];
        for (table, chunk) in lut.chunks_exact_mut(256).zip(qr.chunks_exact(8)) {
            for byte in 1..256usize {
                // The sum for `byte` is the sum for it without its lowest bit, plus that bit's value.
                table[byte] = table[byte & (byte - 1)] + chunk[byte.trailing_zeros() as usize];
            }
        }
        QueryCodes { metric: self.metric, lut, sum: qr.iter().sum(), constant, bits_len: self.bits_len }
    }
}

/// A query prepared against one `CodeSpace`.
pub struct QueryCodes {
    metric: Metric,
    lut: Vec<f32>,
    sum: f32,
    constant: f32,
    bits_len: usize,
}

impl QueryCodes {
    /// Estimated ranking distance (`Metric::rank_distance`) from the query to a code.
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        let (bits, tail) = code.split_at(self.bits_len);
        let mut set_sum = 0.0f32;
        for (table, byte) in self.lut.chunks_exact(256).zip(bits) {
            set_sum += table[*byte as usize];
        }
        let signed = 2.0 * set_sum - self.sum;
        let offset = get_f32(tail, 0);
        let scale = get_f32(tail, 4);
        match self.metric {
            Metric::L2 => offset + self.constant - 2.0 * scale * signed,
            Metric::Cosine | Metric::InnerProduct => -(scale * signed + offset + self.constant),
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

    /// Spearman-free check: the estimate must order pairs like the exact distance most of
    /// the time, and its error must be small relative to the spread of distances.
    fn check_estimates(metric: Metric, dims: usize) {
        let mut rng = Rng::new(dims as u64);
        let n = 400;
        let mut data: Vec<Vec<f32>> = (0..n).map(|_| gaussian(&mut rng, dims, 3.0)).collect();
        data.iter_mut().for_each(|v| assert!(metric.prepare(v)));
        let mut centroid = vec![0.0f32; dims];
        for v in &data {
            centroid.iter_mut().zip(v).for_each(|(c, x)| *c += x / n as f32);
        }
        let space = CodeSpace::new(metric, centroid, 5);
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
        let concordance = agree as f64 / pairs as f64;
        assert!(concordance > 0.75, "{metric:?} dims {dims}: pair order agreement {concordance:.3}");
        // The true nearest neighbour must rank near the top of the estimates.
        let best = (0..n).min_by(|&a, &b| exact[a].total_cmp(&exact[b])).unwrap();
        let rank = est.iter().filter(|e| **e < est[best]).count();
        assert!(rank < n / 10, "{metric:?} dims {dims}: true nearest ranked {rank} by the code");
    }

    #[test]
    fn one_bit_estimates_order_neighbours_like_exact_distances() {
        for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
            for dims in [64, 128, 784] {
                check_estimates(metric, dims);
            }
        }
    }
}
