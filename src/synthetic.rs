//! Seeded synthetic data: clustered Gaussian vectors, as real embeddings cluster. Tests,
//! the demo and the benchmarks share it, so their numbers are comparable.

use crate::io::VectorSet;
use crate::rng::Rng;

/// A mixture of isotropic Gaussians around seeded centres.
#[derive(Clone, Debug)]
pub struct Clustered {
    dims: usize,
    centres: Vec<Vec<f32>>,
    spread: f32,
    seed: u64,
}

impl Clustered {
    /// `clusters` centres drawn from N(0, 1) per coordinate; points scatter around them
    /// with standard deviation `spread`.
    pub fn new(dims: usize, clusters: usize, spread: f32, seed: u64) -> Self {
        let mut rng = Rng::derive(seed, 0x4345_4E54); // "CENT"
        let centres = (0..clusters.max(1)).map(|_| (0..dims).map(|_| rng.normal() as f32).collect()).collect();
        Clustered { dims, centres, spread, seed }
    }

    /// The default mix used by the demo, tests and benchmarks.
    pub fn standard(dims: usize, seed: u64) -> Self {
        Clustered::new(dims, 64, 0.5, seed)
    }

    /// `n` points of stream `stream` (base and queries use different streams, so queries
    /// are fresh draws from the same distribution). Rowids are 0..n.
    pub fn sample(&self, n: usize, stream: u64) -> VectorSet {
        let mut rng = Rng::derive(self.seed, stream.wrapping_add(1));
        let mut data = Vec::with_capacity(n * self.dims);
        for _ in 0..n {
            let centre = &self.centres[rng.below(self.centres.len() as u64) as usize];
            data.extend(centre.iter().map(|c| c + self.spread * rng.normal() as f32));
        }
        VectorSet { dims: self.dims, rowids: (0..n as u64).collect(), data }
    }
}
