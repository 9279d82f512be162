//! Float and byte codes (`f32`, `f16`, `int8`): y kept coordinate by coordinate, and
//! <y, q'> computed from it directly.

use super::CodeKind;
use crate::format::{get_f32, put_f32};
use crate::vector::{f16_to_f32, ElementCodec, ElementType};

/// Writes the body of `y`'s code; `int8` also writes its grid (offset, step) to `params`.
pub(super) fn encode(kind: CodeKind, y: &[f32], body: &mut [u8], params: &mut [u8]) {
    match kind {
        // The same bytes as a stored vector of that type.
        CodeKind::F32 => ElementCodec { element: ElementType::F32, scale: 1.0 }.encode(y, body),
        CodeKind::F16 => ElementCodec { element: ElementType::F16, scale: 1.0 }.encode(y, body),
        CodeKind::Int8 => {
            let (lo, hi) = y.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            let step = (hi - lo) / 255.0;
            let level = |v: f32| if step > 0.0 { ((v - lo) / step).round().clamp(0.0, 255.0) as u8 } else { 0 };
            body.iter_mut().zip(y).for_each(|(b, v)| *b = level(*v));
            put_f32(params, 0, lo);
            put_f32(params, 4, step);
        }
        _ => unreachable!("{kind:?} is not a scalar code"),
    }
}

/// A query as the scalar estimators need it.
pub(super) struct Query {
    kind: CodeKind,
    q: Vec<f32>,
    /// Sum of the query's coordinates (int8: the offset's share of <y, q'>).
    sum: f32,
}

impl Query {
    pub(super) fn new(kind: CodeKind, q: Vec<f32>) -> Query {
        Query { kind, sum: q.iter().sum(), q }
    }

    /// `<y, q'>` from a code.
    #[inline]
    pub(super) fn inner(&self, body: &[u8], params: &[u8]) -> f32 {
        match self.kind {
            CodeKind::F32 => dot_with::<4>(&self.q, body, |b| f32::from_le_bytes(*b)),
            CodeKind::F16 => dot_with::<2>(&self.q, body, |b| f16_to_f32(u16::from_le_bytes(*b))),
            CodeKind::Int8 => get_f32(params, 0) * self.sum + get_f32(params, 4) * dot_with::<1>(&self.q, body, |b| f32::from(b[0])),
            _ => unreachable!("{:?} is not a scalar code", self.kind),
        }
    }
}

/// <q, values> where `body` holds the values as N-byte fields, summed in eight
/// independent lanes so the loop vectorises.
#[inline]
fn dot_with<const N: usize>(q: &[f32], body: &[u8], value: impl Fn(&[u8; N]) -> f32) -> f32 {
    let field = |b: &[u8]| value(b.try_into().expect("N bytes"));
    let mut lanes = [0.0f32; 8];
    let (q_chunks, body_chunks) = (q.chunks_exact(8), body.chunks_exact(8 * N));
    let (q_rest, body_rest) = (q_chunks.remainder(), body_chunks.remainder());
    for (qs, bs) in q_chunks.zip(body_chunks) {
        for (lane, (a, b)) in lanes.iter_mut().zip(qs.iter().zip(bs.chunks_exact(N))) {
            *lane += a * field(b);
        }
    }
    let rest: f32 = q_rest.iter().zip(body_rest.chunks_exact(N)).map(|(a, b)| a * field(b)).sum();
    lanes.iter().sum::<f32>() + rest
}
