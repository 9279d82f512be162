//! RaBitQ-style codes (`1bit`, `2bit`, `4bit`, `ternary`) and their estimators.
//!
//! Each rotated coordinate y_i is kept as a small reconstruction level r_i: B-bit codes
//! use `r_i = code_i - (2^B - 1)/2` on a per-vector grid, ternary codes r_i in {-1, 0, +1}
//! in two bit-planes (the positive and the negative coordinates). The code keeps the
//! rescale `s = |y|^2 / <r, y>`, with which `<y, q'> ≈ s <r, q'>` (RaBitQ's estimator).
//! 1-bit codes sum `<r, q'>` with popcounts against the query on a small integer grid
//! ([`Planes`]); the other kinds from 256-entry lookup tables built once per query, one
//! per code byte.

use super::{code_parts, CodeKind};
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

/// A query prepared for scoring codes.
pub(super) enum Query {
    /// 256-entry tables, one per code byte, summed in float.
    Tables { ternary: bool, lut: Vec<f32> },
    /// 1-bit codes: the query on a small integer grid, scored with popcounts.
    Planes(Planes),
}

/// Bits each rotated query coordinate keeps when 1-bit codes are scored with popcounts.
/// With 6, recall@10 is that of the float tables (384-d text at L 16: 0.886 against 0.884;
/// MNIST at L 12: 0.919 both); RaBitQ's 4 cost 0.3-0.4 points for 2-3% more speed. The
/// search reranks with exact distances either way.
const QUERY_BITS: usize = 6;

/// The query q' ≈ low + step * u, u in [0, 2^QUERY_BITS), as QUERY_BITS bit-planes per
/// 64 coordinates: bit i of plane j of word w is bit j of u for coordinate 64w + i. For
/// a 1-bit code b (levels b - 1/2),
///
/// ```text
/// <b - 1/2, q'> ≈ low * popcount(b) + step * sum_j 2^j popcount(b & plane_j) - sum(q') / 2
/// ```
///
/// integer popcounts over 64 coordinates at a time: no 256-entry tables to fill per query
/// (100 KB at 784 dims) and no chain of dependent float additions per code.
pub(super) struct Planes {
    /// Plane j is `planes[j * words..(j + 1) * words]`: each plane's words in a run, so
    /// the popcounts of one plane against a code vectorise over the words.
    planes: Vec<u64>,
    words: usize,
    low: f32,
    step: f32,
    half_sum: f32,
}

impl Query {
    pub(super) fn new(kind: CodeKind, q: &[f32], body_len: usize) -> Query {
        match kind {
            CodeKind::OneBit => Query::Planes(Planes::new(q)),
            // One table per 8 coordinates, shared by both planes: entry b = sum of the
            // q_i whose bit is set in b.
            CodeKind::Ternary => Query::Tables { ternary: true, lut: tables(q, body_len / 2, 1, 0.0) },
            _ => {
                let bits = bits(kind);
                Query::Tables { ternary: false, lut: tables(q, body_len, bits, half_range(bits)) }
            }
        }
    }

    /// Appends to `out` the `<y, q'>` estimates of the codes `which` of `codes`
    /// (consecutive codes of `code_len` bytes: a body of `body_len`, `a`, the rescale).
    pub(super) fn inner_many(&self, codes: &[u8], code_len: usize, body_len: usize, which: &[u32], out: &mut Vec<f32>) {
        match self {
            Query::Planes(planes) => planes_inner_many(planes, codes, code_len, body_len, which, out),
            Query::Tables { ternary, lut } => out.extend(which.iter().map(|&i| {
                let (body, params) = code_parts(codes, i, code_len, body_len);
                let sum: f32 = if *ternary {
                    let (positive, negative) = body.split_at(body.len() / 2);
                    lut.chunks_exact(256)
                        .zip(positive.iter().zip(negative))
                        .map(|(table, (p, n))| table[*p as usize] - table[*n as usize])
                        .sum()
                } else {
                    lut.chunks_exact(256).zip(body).map(|(table, byte)| table[*byte as usize]).sum()
                };
                get_f32(params, 0) * sum
            })),
        }
    }
}

/// [`Planes::inner`] over a node's codes: one run-time dispatch per node, and popcount
/// instructions where the CPU has them (the portable count is a dozen instructions).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vpopcntdq+popcnt", "x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
fn planes_inner_many(planes: &Planes, codes: &[u8], code_len: usize, body_len: usize, which: &[u32], out: &mut Vec<f32>) {
    out.extend(which.iter().map(|&i| {
        let (body, params) = code_parts(codes, i, code_len, body_len);
        get_f32(params, 0) * planes.inner(body)
    }));
}

impl Planes {
    fn new(q: &[f32]) -> Planes {
        let top = ((1 << QUERY_BITS) - 1) as f32;
        let (low, high) = q.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let step = if high > low { (high - low) / top } else { 0.0 };
        let scale = if step > 0.0 { 1.0 / step } else { 0.0 };
        // Non-negative, so adding a half and truncating rounds to nearest.
        let grid: Vec<u8> = q.iter().map(|&v| ((v - low) * scale + 0.5).min(top) as u8).collect();
        let words = q.len().div_ceil(64);
        let mut planes = vec![0u64; QUERY_BITS * words];
        // Eight coordinates at a time: bit j of each of their grid bytes, gathered into one
        // byte by a multiply (byte k of the masked word lands on bit 56 + k).
        for (group, bytes) in grid.chunks(8).enumerate() {
            let mut eight = [0u8; 8];
            eight[..bytes.len()].copy_from_slice(bytes);
            let eight = u64::from_le_bytes(eight);
            for j in 0..QUERY_BITS {
                let gathered = ((eight >> j) & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56;
                planes[j * words + group / 8] |= gathered << (8 * (group % 8));
            }
        }
        let low = if q.is_empty() { 0.0 } else { low };
        Planes { planes, words, low, step, half_sum: 0.5 * q.iter().sum::<f32>() }
    }

    /// `<b - 1/2, q'>` for the 1-bit code body `body`. Always inlined: inside the
    /// dispatched caller it compiles to (vector) popcount instructions.
    #[inline(always)]
    fn inner(&self, body: &[u8]) -> f32 {
        let full = body.len() / 8;
        // The bytes past the last whole word, as a word: the top bytes of the body's last
        // eight (no copy) unless the body is shorter than a word.
        let tail = match body.len() % 8 {
            0 => 0,
            rest if body.len() >= 8 => u64::from_le_bytes(body[body.len() - 8..].try_into().unwrap()) >> (8 * (8 - rest)),
            _ => body.iter().rev().fold(0u64, |word, &b| word << 8 | b as u64),
        };
        let count = |plane: Option<&[u64]>| -> u32 {
            let words = body.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()));
            match plane {
                None => words.map(u64::count_ones).sum::<u32>() + tail.count_ones(),
                Some(plane) => {
                    let last = plane.get(full).map_or(0, |p| (tail & p).count_ones());
                    words.zip(plane).map(|(w, p)| (w & p).count_ones()).sum::<u32>() + last
                }
            }
        };
        let weighted: u32 = self.planes.chunks_exact(self.words).enumerate().map(|(j, plane)| count(Some(plane)) << j).sum();
        self.low * count(None) as f32 + self.step * weighted as f32 - self.half_sum
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
    fn planes_score_a_query_on_their_grid_exactly() {
        // Coordinates on the grid (low -5, step 1, every level used), so the popcount sum
        // must equal the float sum exactly: that checks the bit gathering and the tail word.
        let mut rng = crate::rng::Rng::new(3);
        for dims in [64, 1, 7, 8, 63, 65, 100, 784] {
            let mut q: Vec<f32> = (0..dims).map(|i| (i * 37 % 64) as f32 - 5.0).collect();
            if dims > 1 {
                (q[0], q[dims - 1]) = (-5.0, 58.0);
            }
            let planes = Planes::new(&q);
            let mut body: Vec<u8> = (0..dims.div_ceil(8)).map(|_| rng.next_u64() as u8).collect();
            // Bits past the last dimension are zero in a real code.
            if dims % 8 != 0 {
                *body.last_mut().unwrap() &= (1u8 << (dims % 8)) - 1;
            }
            let exact: f32 = q.iter().enumerate().map(|(i, v)| (((body[i / 8] >> (i % 8)) & 1) as f32 - 0.5) * v).sum();
            assert_eq!(planes.inner(&body), exact, "dims {dims}");
        }
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
