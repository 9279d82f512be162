//! Seeded synthetic data shaped like real embeddings: clusters, each spread along a few
//! directions of its own (real embeddings have a low intrinsic dimension: SIFT and MNIST
//! about 10-20), plus a little isotropic noise. Tests, the demo and the benchmarks share
//! it, so their numbers are comparable.
//!
//! Isotropic Gaussian clusters are deliberately not the default: in d dimensions they have
//! intrinsic dimension d, every point is nearly equidistant from every other, and "nearest
//! neighbour" loses its meaning, for exact and approximate search alike.

use crate::io::VectorSet;
use crate::rng::Rng;

/// A mixture of low-rank Gaussian clusters around seeded centres.
#[derive(Clone, Debug)]
pub struct Clustered {
    dims: usize,
    centres: Vec<Vec<f32>>,
    /// Per cluster, `intrinsic` direction vectors of `dims` values each.
    directions: Vec<Vec<Vec<f32>>>,
    noise: f32,
    seed: u64,
}

impl Clustered {
    /// `clusters` centres drawn from N(0, 1) per coordinate; each cluster spreads with
    /// standard deviation about `spread` along `intrinsic` random directions, and with
    /// `noise` in every coordinate.
    pub fn new(dims: usize, clusters: usize, intrinsic: usize, spread: f32, noise: f32, seed: u64) -> Self {
        let mut rng = Rng::derive(seed, 0x4345_4E54); // "CENT"
        let clusters = clusters.max(1);
        let centres = (0..clusters).map(|_| (0..dims).map(|_| rng.normal() as f32).collect()).collect();
        let scale = spread / (intrinsic.max(1) as f32).sqrt();
        let directions =
            (0..clusters).map(|_| (0..intrinsic).map(|_| (0..dims).map(|_| scale * rng.normal() as f32).collect()).collect()).collect();
        Clustered { dims, centres, directions, noise, seed }
    }

    /// The mix used by the demo, tests and benchmarks: 64 clusters of intrinsic
    /// dimension 12.
    pub fn standard(dims: usize, seed: u64) -> Self {
        Clustered::new(dims, 64, 12, 0.5, 0.02, seed)
    }

    /// `n` points of stream `stream` (base and queries use different streams, so queries
    /// are fresh draws from the same distribution). Rowids are 0..n.
    pub fn sample(&self, n: usize, stream: u64) -> VectorSet {
        let mut rng = Rng::derive(self.seed, stream.wrapping_add(1));
        let mut data = Vec::with_capacity(n * self.dims);
        let mut point = vec![0.0f32; self.dims];
        for _ in 0..n {
            let k = rng.below(self.centres.len() as u64) as usize;
            point.copy_from_slice(&self.centres[k]);
            for direction in &self.directions[k] {
                let z = rng.normal() as f32;
                point.iter_mut().zip(direction).for_each(|(p, d)| *p += z * d);
            }
            point.iter_mut().for_each(|p| *p += self.noise * rng.normal() as f32);
            data.extend_from_slice(&point);
        }
        VectorSet { dims: self.dims, rowids: (0..n as u64).collect(), data, ..VectorSet::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_seeded_and_streams_differ() {
        let c = Clustered::standard(16, 3);
        assert_eq!(c.sample(50, 0).data, Clustered::standard(16, 3).sample(50, 0).data);
        assert_ne!(c.sample(50, 0).data, c.sample(50, 1).data);
        assert_eq!(c.sample(50, 0).rowids, (0..50).collect::<Vec<u64>>());
    }
}
