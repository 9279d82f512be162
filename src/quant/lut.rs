//! RaBitQ-style codes (`1bit`, `2bit`, `4bit`, `ternary`) and their lookup-table estimator.
//!
//! Each rotated coordinate y_i is kept as a small reconstruction level r_i: B-bit codes
//! use `r_i = code_i - (2^B - 1)/2` on a per-vector grid, ternary codes r_i in {-1, 0, +1}
//! in two bit-planes (the positive and the negative coordinates). The code keeps the
//! rescale `s = |y|^2 / <r, y>`, with which `<y, q'> ≈ s <r, q'>` (RaBitQ's estimator).
//! `<r, q'>` is summed from 256-entry lookup tables built once per query, one per code
//! byte, so scoring costs one lookup per byte whatever the kind.

use super::CodeKind;
use crate::format::{get_f32, put_f32};
use crate::vector::norm_squared;

/// Grid scales tried when encoding with B > 1, as fractions of max |y_i|; the one whose
/// reconstruction points most nearly along y wins (extended RaBitQ's criterion).
const GRID_FRACTIONS: [f32; 10] = [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

fn bits(kind: CodeKind) -> usize {
    match kind {
        CodeKind::OneBit => 1,
        CodeKind::TwoBit => 2,
        CodeKind::FourBit => 4,
        _ => unreachable!("{kind:?} has no bit grid"),
    }
}

fn half_range(bits: usize) -> f32 {
    ((1u32 << bits) - 1) as f32 / 2.0
}

/// Writes the body of `y`'s code and its rescale (`params[0..4]`).
pub(super) fn encode(kind: CodeKind, y: &[f32], body: &mut [u8], params: &mut [u8]) {
    body.fill(0);
    let along = if kind == CodeKind::Ternary { encode_ternary(y, body) } else { encode_bits(bits(kind), y, body) };
    put_f32(params, 0, if along > 0.0 { norm_squared(y) / along } else { 0.0 });
}

/// Packs B-bit levels; returns <r, y>.
fn encode_bits(bits: usize, y: &[f32], body: &mut [u8]) -> f32 {
    let levels = quantise(bits, y);
    let half = half_range(bits);
    let per_byte = 8 / bits;
    for (i, &l) in levels.iter().enumerate() {
        body[i / per_byte] |= l << ((i % per_byte) * bits);
    }
    levels.iter().zip(y).map(|(&l, v)| (l as f32 - half) * v).sum()
}

/// The B-bit level of every coordinate of `y`.
fn quantise(bits: usize, y: &[f32]) -> Vec<u8> {
    if bits == 1 {
        return y.iter().map(|&v| u8::from(v >= 0.0)).collect();
    }
    let half = half_range(bits);
    let top = ((1u32 << bits) - 1) as f32;
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
        if norm > 0.0 {
            along / norm.sqrt()
        } else {
            f32::NEG_INFINITY
        }
    };
    let (_, fraction) = GRID_FRACTIONS.iter().fold((f32::NEG_INFINITY, 1.0), |best, &f| {
        let c = cosine(f);
        if c > best.0 {
            (c, f)
        } else {
            best
        }
    });
    let step = fraction * max / half;
    y.iter().map(|&v| level(v, step) as u8).collect()
}

/// Keeps the k largest |y_i| as their signs, with the k that points the ternary vector
/// most nearly along y (maximises sum of the k largest |y_i| / sqrt(k): the optimum over
/// all ternary vectors). Returns <r, y>.
fn encode_ternary(y: &[f32], body: &mut [u8]) -> f32 {
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_by(|&a, &b| y[b].abs().total_cmp(&y[a].abs()).then(a.cmp(&b)));
    let (mut sum, mut best, mut keep) = (0.0f32, 0.0f32, 0);
    for (k, &i) in order.iter().enumerate() {
        sum += y[i].abs();
        let score = sum / ((k + 1) as f32).sqrt();
        if score > best {
            (best, keep) = (score, k + 1);
        }
    }
    let (positive, negative) = body.split_at_mut(body.len() / 2);
    let mut along = 0.0;
    for &i in &order[..keep] {
        let plane = if y[i] >= 0.0 { &mut *positive } else { &mut *negative };
        plane[i / 8] |= 1 << (i % 8);
        along += y[i].abs();
    }
    along
}

/// A query's lookup tables.
pub(super) struct Query {
    ternary: bool,
    lut: Vec<f32>,
}

impl Query {
    pub(super) fn new(kind: CodeKind, q: &[f32], body_len: usize) -> Query {
        if kind == CodeKind::Ternary {
            // One table per 8 coordinates, shared by both planes: entry b = sum of the
            // q_i whose bit is set in b.
            return Query { ternary: true, lut: tables(q, body_len / 2, 1, 0.0) };
        }
        let bits = bits(kind);
        Query { ternary: false, lut: tables(q, body_len, bits, half_range(bits)) }
    }

    /// `<y, q'>` estimated from a code.
    #[inline]
    pub(super) fn inner(&self, body: &[u8], params: &[u8]) -> f32 {
        let sum: f32 = if self.ternary {
            let (positive, negative) = body.split_at(body.len() / 2);
            self.lut
                .chunks_exact(256)
                .zip(positive.iter().zip(negative))
                .map(|(table, (p, n))| table[*p as usize] - table[*n as usize])
                .sum()
        } else {
            self.lut.chunks_exact(256).zip(body).map(|(table, byte)| table[*byte as usize]).sum()
        };
        get_f32(params, 0) * sum
    }
}

/// `count` tables of 256 entries: entry b of table j = sum over the fields t of byte b
/// (`bits` wide) of `(field_t - half) * q[j * per_byte + t]`.
fn tables(q: &[f32], count: usize, bits: usize, half: f32) -> Vec<f32> {
    let per_byte = 8 / bits;
    let mut q = q.to_vec();
    q.resize(count * per_byte, 0.0);
    let mask = (1usize << bits) - 1;
    let mut lut = vec![0.0f32; count * 256];
    for (table, chunk) in lut.chunks_exact_mut(256).zip(q.chunks_exact(per_byte)) {
        // Fill the table one field at a time: after field t, entries below
        // 2^(B(t+1)) are final, and each higher field's entries extend a lower entry.
        // (Whole slices at a time: the compiler turns them into vector adds, where
        // indexing entry by entry was a fifth of a warm search.)
        for (t, qv) in chunk.iter().enumerate() {
            let filled = 1usize << (t * bits);
            let (low, high) = table.split_at_mut(filled);
            for level in 1..=mask {
                let add = (level as f32 - half) * qv;
                let start = (level - 1) * filled;
                high[start..start + filled].iter_mut().zip(low.iter()).for_each(|(e, l)| *e = l + add);
            }
            let zero = -half * qv;
            low.iter_mut().for_each(|e| *e += zero);
        }
    }
    lut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ternary_code_is_the_best_ternary_direction() {
        // y = (3, -2.5, 0.2, 0.1): keeping the two large coordinates beats keeping one
        // (5.5/sqrt 2 > 3) and beats keeping more (5.7/sqrt 3, 5.8/2).
        let y = [3.0, -2.5, 0.2, 0.1];
        let mut body = [0u8; 2];
        let along = encode_ternary(&y, &mut body);
        assert_eq!(body, [0b0001, 0b0010]);
        assert_eq!(along, 5.5);
    }

    #[test]
    fn tables_sum_the_levels_of_every_field() {
        let q = [1.0, 10.0, 100.0, 1000.0];
        let lut = tables(&q, 1, 2, 1.5);
        // byte 0b11_10_01_00: levels 0, 1, 2, 3 -> -1.5, -0.5, 0.5, 1.5
        let expected = -1.5 * 1.0 - 0.5 * 10.0 + 0.5 * 100.0 + 1.5 * 1000.0;
        assert_eq!(lut[0b11_10_01_00], expected);
        let lut = tables(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0], 1, 1, 0.0);
        assert!((0..256).all(|b| lut[b] == b as f32));
    }
}
