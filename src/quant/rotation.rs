//! A seeded random rotation in O(d log d): rounds of random sign flips followed by a
//! normalised Walsh-Hadamard transform on the first and (when d is not a power of two)
//! the last 2^k coordinates. Each step is orthogonal, so norms and inner products are
//! kept, while the energy of any vector is spread evenly over the coordinates, which is
//! what makes one sign bit per coordinate informative (SIFT's all-positive coordinates
//! would otherwise all get the same sign).

use crate::rng::Rng;

const ROUNDS: usize = 4;
const RNG_STREAM: u64 = 0x524F_5441_5445; // "ROTATE"

#[derive(Clone, Debug)]
pub struct Rotation {
    dims: usize,
    block: usize,
    /// Per round, sign flips (+1/-1) applied before the head and tail transforms.
    head_signs: Vec<Vec<f32>>,
    tail_signs: Vec<Vec<f32>>,
}

impl Rotation {
    pub fn new(dims: usize, seed: u64) -> Self {
        let block = if dims.is_power_of_two() { dims } else { dims.next_power_of_two() / 2 };
        let mut rng = Rng::derive(seed, RNG_STREAM);
        let mut signs = || -> Vec<f32> { (0..dims).map(|_| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 }).collect() };
        let head_signs = (0..ROUNDS).map(|_| signs()).collect();
        let tail_signs = (0..ROUNDS).map(|_| signs()).collect();
        Rotation { dims, block, head_signs, tail_signs }
    }

    /// Rotates `v` in place.
    pub fn apply(&self, v: &mut [f32]) {
        debug_assert_eq!(v.len(), self.dims);
        rotate(self, v);
    }
}

/// [`Rotation::apply`], compiled for wider vectors too and chosen at run time: every step
/// is a lane-wise IEEE operation, so the width never changes a result, and every query
/// pays for a rotation.
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2", "aarch64+neon"))]
fn rotate(rotation: &Rotation, v: &mut [f32]) {
    let Rotation { dims, block, head_signs, tail_signs } = rotation;
    let scale = 1.0 / (*block as f32).sqrt();
    for round in 0..ROUNDS {
        flip(v, &head_signs[round]);
        hadamard(&mut v[..*block], scale);
        if block < dims {
            flip(v, &tail_signs[round]);
            hadamard(&mut v[dims - block..], scale);
        }
    }
}

#[inline(always)]
fn flip(v: &mut [f32], signs: &[f32]) {
    v.iter_mut().zip(signs).for_each(|(x, s)| *x *= s);
}

/// In-place fast Walsh-Hadamard transform, scaled by `scale` (1/sqrt(n) keeps it orthogonal).
#[inline(always)]
fn hadamard(v: &mut [f32], scale: f32) {
    let n = v.len();
    debug_assert!(n.is_power_of_two());
    let mut h = 1;
    if n >= 8 {
        // The three shortest strides within each run of eight, in registers: the slices of
        // one or two elements below would not vectorise. The same additions in the same
        // order as the loop below.
        for run in v.chunks_exact_mut(8) {
            let mut x: [f32; 8] = (&*run).try_into().expect("a run of eight");
            for stride in [1, 2, 4] {
                let y = x;
                x = std::array::from_fn(|i| if i & stride == 0 { y[i] + y[i + stride] } else { y[i - stride] - y[i] });
            }
            run.copy_from_slice(&x);
        }
        h = 8;
    }
    while h < n {
        // Halves of each 2h-run as two slices: no index checks, so LLVM vectorises the
        // butterflies (the same additions as indexing by i and i + h).
        for run in v.chunks_exact_mut(2 * h) {
            let (low, high) = run.split_at_mut(h);
            for (a, b) in low.iter_mut().zip(high) {
                (*a, *b) = (*a + *b, *a - *b);
            }
        }
        h *= 2;
    }
    v.iter_mut().for_each(|x| *x *= scale);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::{dot, norm_squared};

    #[test]
    fn rotation_keeps_norms_and_inner_products() {
        for dims in [1, 2, 5, 8, 100, 128, 784] {
            let r = Rotation::new(dims, 11);
            let a: Vec<f32> = (0..dims).map(|i| (i as f32 * 0.3).sin() + 0.5).collect();
            let b: Vec<f32> = (0..dims).map(|i| (i as f32 * 0.7).cos()).collect();
            let (mut ra, mut rb) = (a.clone(), b.clone());
            r.apply(&mut ra);
            r.apply(&mut rb);
            let tol = 1e-3 * (1.0 + norm_squared(&a));
            assert!((norm_squared(&ra) - norm_squared(&a)).abs() < tol, "dims {dims}");
            assert!((dot(&ra, &rb) - dot(&a, &b)).abs() < tol, "dims {dims}");
        }
    }

    #[test]
    fn rotation_spreads_a_one_hot_vector() {
        let dims = 128;
        let mut v = vec![0.0f32; dims];
        v[5] = 1.0;
        Rotation::new(dims, 1).apply(&mut v);
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(max < 0.5, "energy stayed concentrated: max |x| = {max}");
    }
}
