//! The part every code kind shares: centring, rotation, the exact offset `a`, and turning
//! an estimate of <y, q'> into a ranking distance (see the module docs of `quant`).

use super::{code_parts, lut, scalar, CodeKind, Rotation};
use crate::format::{get_f32, put_f32};
use crate::vector::{dot, norm_squared, Metric};

/// Everything needed to encode vectors and prepare queries for one index.
#[derive(Clone, Debug)]
pub struct CodeSpace {
    kind: CodeKind,
    metric: Metric,
    centroid: Vec<f32>,
    rotation: Rotation,
    body_len: usize,
}

impl CodeSpace {
    pub fn new(kind: CodeKind, metric: Metric, centroid: Vec<f32>, seed: u64) -> Self {
        let dims = centroid.len();
        CodeSpace { kind, metric, rotation: Rotation::new(dims, seed), body_len: kind.body_len(dims), centroid }
    }

    pub fn kind(&self) -> CodeKind {
        self.kind
    }

    pub fn code_len(&self) -> usize {
        self.kind.code_len(self.centroid.len())
    }

    /// Writes the code of stored vector `x` (already prepared for the metric) into `out`.
    pub fn encode(&self, x: &[f32], out: &mut [u8]) {
        let mut y: Vec<f32> = x.iter().zip(&self.centroid).map(|(a, c)| a - c).collect();
        let offset = match self.metric {
            Metric::L2 => norm_squared(&y),
            Metric::Cosine | Metric::InnerProduct => dot(x, &self.centroid),
        };
        self.rotation.apply(&mut y);
        let (body, params) = out.split_at_mut(self.body_len);
        put_f32(params, 0, offset);
        let params = &mut params[4..];
        match self.kind {
            CodeKind::F32 | CodeKind::F16 | CodeKind::Int8 => scalar::encode(self.kind, &y, body, params),
            CodeKind::FourBit | CodeKind::TwoBit | CodeKind::Ternary | CodeKind::OneBit => lut::encode(self.kind, &y, body, params),
        }
    }

    /// Prepares a query (already prepared for the metric) for estimating distances to codes.
    pub fn query(&self, q: &[f32]) -> QueryCodes {
        let mut qr: Vec<f32> = q.iter().zip(&self.centroid).map(|(a, c)| a - c).collect();
        let constant = match self.metric {
            Metric::L2 => norm_squared(&qr),
            Metric::Cosine | Metric::InnerProduct => dot(q, &self.centroid) - norm_squared(&self.centroid),
        };
        self.rotation.apply(&mut qr);
        let inner = match self.kind {
            CodeKind::F32 | CodeKind::F16 | CodeKind::Int8 => Inner::Scalar(scalar::Query::new(self.kind, qr)),
            CodeKind::FourBit | CodeKind::TwoBit | CodeKind::Ternary | CodeKind::OneBit => {
                Inner::Lut(lut::Query::new(self.kind, &qr, self.body_len))
            }
        };
        QueryCodes { metric: self.metric, constant, code_len: self.code_len(), body_len: self.body_len, inner }
    }
}

enum Inner {
    Scalar(scalar::Query),
    Lut(lut::Query),
}

/// A query prepared against one `CodeSpace`.
pub struct QueryCodes {
    metric: Metric,
    constant: f32,
    code_len: usize,
    body_len: usize,
    inner: Inner,
}

impl QueryCodes {
    /// Estimated ranking distances from the query to the codes `which` of `codes` (a node's
    /// codes, one after another), into `out` in the order of `which`.
    pub fn distances(&self, codes: &[u8], which: &[u32], out: &mut Vec<f32>) {
        out.clear();
        let (code_len, body_len) = (self.code_len, self.body_len);
        match &self.inner {
            Inner::Scalar(q) => out.extend(which.iter().map(|&i| {
                let (body, params) = code_parts(codes, i, code_len, body_len);
                q.inner(body, params)
            })),
            Inner::Lut(q) => q.inner_many(codes, code_len, body_len, which, out),
        }
        for (d, &i) in out.iter_mut().zip(which) {
            let offset = get_f32(codes, i as usize * code_len + body_len);
            *d = match self.metric {
                Metric::L2 => offset + self.constant - 2.0 * *d,
                Metric::Cosine | Metric::InnerProduct => -(*d + offset + self.constant),
            };
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

    /// 400 shifted Gaussian points and a query, prepared for `metric`; the centroid is
    /// their mean, as a build computes it.
    fn points(metric: Metric, dims: usize) -> (Vec<Vec<f32>>, Vec<f32>, Vec<f32>) {
        let mut rng = Rng::new(dims as u64);
        let n = 400;
        let mut data: Vec<Vec<f32>> = (0..n).map(|_| gaussian(&mut rng, dims, 3.0)).collect();
        data.iter_mut().for_each(|v| assert!(metric.prepare(v)));
        let mut centroid = vec![0.0f32; dims];
        for v in &data {
            centroid.iter_mut().zip(v).for_each(|(c, x)| *c += x / n as f32);
        }
        let mut q = gaussian(&mut rng, dims, 3.0);
        assert!(metric.prepare(&mut q));
        (data, centroid, q)
    }

    /// (exact, estimated) ranking distances from the query to every point.
    fn distances(kind: CodeKind, metric: Metric, dims: usize) -> Vec<(f32, f32)> {
        let (data, centroid, q) = points(metric, dims);
        let space = kind.space(metric, centroid, 5);
        let query = space.query(&q);
        let (mut code, mut estimate) = (vec![0u8; space.code_len()], Vec::new());
        data.iter()
            .map(|v| {
                space.encode(v, &mut code);
                query.distances(&code, &[0], &mut estimate);
                (metric.rank_distance(&q, v), estimate[0])
            })
            .collect()
    }

    /// Fraction of pairs the estimate orders like the exact distance, and the rank the
    /// estimate gives the true nearest neighbour.
    fn ordering_quality(d: &[(f32, f32)]) -> (f64, usize) {
        let (mut agree, mut pairs) = (0, 0);
        for i in 0..d.len() {
            for j in i + 1..d.len() {
                pairs += 1;
                agree += usize::from((d[i].0 < d[j].0) == (d[i].1 < d[j].1));
            }
        }
        let best = (0..d.len()).min_by(|&a, &b| d[a].0.total_cmp(&d[b].0)).unwrap();
        (agree as f64 / pairs as f64, d.iter().filter(|e| e.1 < d[best].1).count())
    }

    /// Worst error of the estimate relative to the spread of exact distances (the
    /// estimate only has to rank; a relative error of |d| would mislead under ip).
    fn worst_error(d: &[(f32, f32)]) -> f32 {
        let (lo, hi) = d.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), e| (lo.min(e.0), hi.max(e.0)));
        d.iter().map(|(e, x)| (e - x).abs()).fold(0.0, f32::max) / (hi - lo)
    }

    #[test]
    fn every_kind_estimates_distances_within_its_precision() {
        // (kind, max error / spread of exact distances, min pair agreement, max rank of
        // the true nearest among 400)
        let bounds = [
            (CodeKind::F32, 1e-4, 0.999, 0),
            (CodeKind::F16, 2e-3, 0.99, 0),
            (CodeKind::Int8, 2e-2, 0.97, 2),
            (CodeKind::FourBit, 0.1, 0.9, 10),
            (CodeKind::TwoBit, 0.3, 0.8, 30),
            (CodeKind::Ternary, 0.3, 0.8, 30),
            (CodeKind::OneBit, 0.5, 0.75, 40),
        ];
        for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
            for dims in [64, 100, 128, 784] {
                for (kind, max_error, min_agreement, max_rank) in bounds {
                    let d = distances(kind, metric, dims);
                    let error = worst_error(&d);
                    let (agreement, rank) = ordering_quality(&d);
                    let what = format!("{} {metric:?} dims {dims}", kind.name());
                    assert!(error <= max_error, "{what}: error {error:.2e} of the spread, above {max_error}");
                    assert!(agreement >= min_agreement, "{what}: pair agreement {agreement:.4} below {min_agreement}");
                    assert!(rank <= max_rank, "{what}: true nearest ranked {rank}");
                }
            }
        }
    }

    #[test]
    fn more_precise_kinds_order_better() {
        for metric in [Metric::L2, Metric::Cosine] {
            let agreement = |kind| ordering_quality(&distances(kind, metric, 128)).0;
            let chain = [CodeKind::F32, CodeKind::Int8, CodeKind::FourBit, CodeKind::TwoBit, CodeKind::OneBit];
            for pair in chain.windows(2) {
                let (better, worse) = (agreement(pair[0]), agreement(pair[1]));
                assert!(better >= worse - 0.005, "{metric:?}: {} {better:.4} < {} {worse:.4}", pair[0].name(), pair[1].name());
            }
            // Three levels beat two.
            assert!(agreement(CodeKind::Ternary) > agreement(CodeKind::OneBit), "{metric:?}");
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names_and_codes() {
        for kind in CodeKind::ALL {
            assert_eq!(CodeKind::from_code(kind.code()), Some(kind));
            assert_eq!(CodeKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(CodeKind::OneBit.code_len(128), 16 + 8);
        assert_eq!(CodeKind::Ternary.code_len(100), 2 * 13 + 8);
        assert_eq!(CodeKind::Int8.code_len(128), 128 + 12);
        assert_eq!(CodeKind::F16.code_len(128), 256 + 4);
    }
}
