//! Helpers shared by the io tests: seeded data and error-message checks.

use std::path::Path;

use super::{read_vectors, InputOptions, VectorSet};

/// Tiny LCG so tests are deterministic without a rand dependency.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 29) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

pub fn random_data(n: usize, dims: usize, seed: u64) -> Vec<f32> {
    let mut rng = Lcg::new(seed);
    (0..n * dims).map(|_| rng.next_f32()).collect()
}

/// Rowids are sparse and unordered so they can't be confused with positions.
pub fn random_set(n: usize, dims: usize, seed: u64) -> VectorSet {
    let rowids = (0..n as u64).map(|i| (i * 7919 + 13) % 100_003 + 1_000).collect();
    VectorSet { dims, rowids, data: random_data(n, dims, seed), ..Default::default() }
}

pub fn read_err(path: &Path, opts: &InputOptions) -> String {
    match read_vectors(path, opts) {
        Ok(set) => panic!("expected an error for {}, read {} vectors", path.display(), set.len()),
        Err(e) => e.to_string(),
    }
}

/// Every InputError is one line starting with the path.
pub fn assert_one_line(msg: &str, path: &Path) {
    assert!(msg.starts_with(&format!("{}: ", path.display())), "does not start with path: {msg}");
    assert!(!msg.contains('\n'), "multi-line: {msg}");
}

pub fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} does not contain {p:?}");
    }
}
