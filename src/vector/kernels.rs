//! Distance kernels on f32 slices.
//!
//! Eight independent accumulators let LLVM vectorise without fast-math; the summation order
//! is fixed, so results are bit-identical on every run and thread count (the build's
//! byte-identical-output promise depends on it).

const LANES: usize = 8;

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    l2_tile([a], [b])[0][0]
}

/// Inner product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    dot_tile([a], [b])[0][0]
}

/// Squared Euclidean norm.
#[inline]
pub fn norm_squared(a: &[f32]) -> f32 {
    dot(a, a)
}

/// Squared Euclidean distances from every query to every base vector, both row-major with
/// `dims` columns: `out[i * base_rows + j] = l2_squared(query i, base j)`, bit for bit.
///
/// One pair at a time, a distance is a single chain of dependent additions; tiles of
/// queries x base vectors keep many chains in flight and load each vector once per tile.
/// Compiled for AVX2 too, chosen at run time: lane-wise IEEE operations give the same bits
/// at any vector width, so the choice never changes a result.
#[multiversion::multiversion(targets("x86_64+avx2", "aarch64+neon"))]
pub fn l2_squared_many(queries: &[f32], base: &[f32], dims: usize, out: &mut [f32]) {
    many(queries, base, dims, out, l2_tile::<QUERY_TILE, BASE_TILE>, l2_tile::<1, 1>);
}

/// Inner products from every query to every base vector, laid out as in
/// [`l2_squared_many`], bit for bit equal to [`dot`].
#[multiversion::multiversion(targets("x86_64+avx2", "aarch64+neon"))]
pub fn dot_many(queries: &[f32], base: &[f32], dims: usize, out: &mut [f32]) {
    many(queries, base, dims, out, dot_tile::<QUERY_TILE, BASE_TILE>, dot_tile::<1, 1>);
}

/// Squared Euclidean distances from `query` to the rows `ids` of `data` (row-major, as wide
/// as `query`): `out[i] = l2_squared(query, row ids[i])`, bit for bit. The build scores
/// every neighbour list and every prune candidate list with it: one run-time dispatch per
/// list, and [`ROW_TILE`] rows in flight at once.
#[multiversion::multiversion(targets("x86_64+avx2", "aarch64+neon"))]
pub fn l2_squared_rows(query: &[f32], data: &[f32], ids: &[u32], out: &mut [f32]) {
    let dims = query.len();
    assert!(dims > 0 && out.len() == ids.len(), "one distance per id");
    let row = |id: u32| &data[id as usize * dims..][..dims];
    // The rows are scattered over memory much larger than the cache in a big build: asking
    // for the rows PREFETCH_ROWS ahead overlaps their loads (1M x 128: 1.6x faster). Only
    // the head of a row: the CPU's own prefetcher follows a long row once it is read.
    let prefetch = |ids: &[u32]| ids.iter().for_each(|&id| crate::storage::prefetch(row(id), PREFETCH_BYTES));
    prefetch(&ids[..ids.len().min(PREFETCH_ROWS)]);
    let mut tiles = ids.chunks_exact(ROW_TILE);
    let mut outs = out.chunks_exact_mut(ROW_TILE);
    for (at, (tile, out)) in (&mut tiles).zip(&mut outs).enumerate() {
        let ahead = at * ROW_TILE + PREFETCH_ROWS;
        prefetch(&ids[ahead.min(ids.len())..(ahead + ROW_TILE).min(ids.len())]);
        out.copy_from_slice(&l2_tile::<1, ROW_TILE>([query], std::array::from_fn(|b| row(tile[b])))[0]);
    }
    for (&id, out) in tiles.remainder().iter().zip(outs.into_remainder()) {
        *out = l2_tile::<1, 1>([query], [row(id)])[0][0];
    }
}

const ROW_TILE: usize = 4;
const PREFETCH_ROWS: usize = 8;
const PREFETCH_BYTES: usize = 512;
const QUERY_TILE: usize = 3;
const BASE_TILE: usize = 4;

type Tile<const Q: usize, const B: usize> = fn([&[f32]; Q], [&[f32]; B]) -> [[f32; B]; Q];

/// Walks the query x base grid in tiles, with single pairs for the ragged edges.
#[inline(always)]
fn many(queries: &[f32], base: &[f32], dims: usize, out: &mut [f32], tile: Tile<QUERY_TILE, BASE_TILE>, single: Tile<1, 1>) {
    assert!(dims > 0 && queries.len().is_multiple_of(dims) && base.len().is_multiple_of(dims));
    let (nq, nb) = (queries.len() / dims, base.len() / dims);
    assert_eq!(out.len(), nq * nb, "one distance per query and base vector");
    let query = |i: usize| &queries[i * dims..(i + 1) * dims];
    let vector = |j: usize| &base[j * dims..(j + 1) * dims];
    let full_q = nq / QUERY_TILE * QUERY_TILE;
    let full_b = nb / BASE_TILE * BASE_TILE;
    for i in (0..full_q).step_by(QUERY_TILE) {
        for j in (0..full_b).step_by(BASE_TILE) {
            let d = tile(std::array::from_fn(|a| query(i + a)), std::array::from_fn(|b| vector(j + b)));
            for (a, row) in d.iter().enumerate() {
                out[(i + a) * nb + j..][..BASE_TILE].copy_from_slice(row);
            }
        }
    }
    for i in 0..nq {
        let j0 = if i < full_q { full_b } else { 0 };
        for j in j0..nb {
            out[i * nb + j] = single([query(i)], [vector(j)])[0][0];
        }
    }
}

#[inline(always)]
fn l2_tile<const Q: usize, const B: usize>(q: [&[f32]; Q], b: [&[f32]; B]) -> [[f32; B]; Q] {
    tile(q, b, |x, y| {
        let d = x - y;
        d * d
    })
}

#[inline(always)]
fn dot_tile<const Q: usize, const B: usize>(q: [&[f32]; Q], b: [&[f32]; B]) -> [[f32; B]; Q] {
    tile(q, b, |x, y| x * y)
}

/// The per-pair arithmetic of [`l2_squared`] and [`dot`] (eight lanes, pairwise reduction,
/// sequential tail), for a Q x B tile at once. Lanes are whole `[f32; LANES]` values so
/// LLVM keeps each accumulator in one vector register.
#[inline(always)]
fn tile<const Q: usize, const B: usize>(q: [&[f32]; Q], b: [&[f32]; B], term: impl Fn(f32, f32) -> f32 + Copy) -> [[f32; B]; Q] {
    let dims = q[0].len();
    let chunks = dims / LANES;
    let qc = q.map(|v| &v.as_chunks::<LANES>().0[..chunks]);
    let bc = b.map(|v| &v.as_chunks::<LANES>().0[..chunks]);
    let mut acc = [[[0.0f32; LANES]; B]; Q];
    for c in 0..chunks {
        let qv: [[f32; LANES]; Q] = std::array::from_fn(|a| qc[a][c]);
        let bv: [[f32; LANES]; B] = std::array::from_fn(|e| bc[e][c]);
        for (acc_row, x) in acc.iter_mut().zip(&qv) {
            for (acc, y) in acc_row.iter_mut().zip(&bv) {
                *acc = std::array::from_fn(|l| acc[l] + term(x[l], y[l]));
            }
        }
    }
    // An optimisation barrier, not a change of arithmetic: left to see the reduction below,
    // LLVM vectorises the whole loop two lanes wide to match it (four 64-bit halves per
    // chunk instead of one 256-bit register under AVX2, about 2.5x slower).
    let acc = std::hint::black_box(acc);
    let mut out = [[0.0f32; B]; Q];
    for a in 0..Q {
        for e in 0..B {
            let mut tail = 0.0;
            for d in chunks * LANES..dims {
                tail += term(q[a][d], b[e][d]);
            }
            out[a][e] = reduce(acc[a][e]) + tail;
        }
    }
    out
}

#[inline(always)]
fn reduce(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_kernels_equal_the_pairwise_ones_bit_for_bit() {
        for dims in [1, 7, 8, 9, 31, 128, 131] {
            for (nq, nb) in [(1, 1), (3, 5), (4, 8), (5, 13)] {
                let q: Vec<f32> = (0..nq * dims).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
                let b: Vec<f32> = (0..nb * dims).map(|i| (i as f32 * 0.91).cos() * 2.0).collect();
                let mut l2 = vec![f32::NAN; nq * nb];
                let mut ip = vec![f32::NAN; nq * nb];
                l2_squared_many(&q, &b, dims, &mut l2);
                dot_many(&q, &b, dims, &mut ip);
                for i in 0..nq {
                    for j in 0..nb {
                        let (x, y) = (&q[i * dims..][..dims], &b[j * dims..][..dims]);
                        assert_eq!(l2[i * nb + j].to_bits(), l2_squared(x, y).to_bits(), "dims {dims} ({i},{j})");
                        assert_eq!(ip[i * nb + j].to_bits(), dot(x, y).to_bits(), "dims {dims} ({i},{j})");
                    }
                }
            }
        }
    }

    /// The arithmetic every kernel must reproduce, one scalar operation at a time: eight
    /// lane sums over whole chunks, halved pairwise (4, 2, 1), then the tail in order.
    fn scalar_l2(a: &[f32], b: &[f32]) -> f32 {
        let chunks = a.len() / LANES * LANES;
        let mut lanes = [0.0f32; LANES];
        for d in 0..chunks {
            let x = a[d] - b[d];
            lanes[d % LANES] += x * x;
        }
        let mut tail = 0.0f32;
        for d in chunks..a.len() {
            let x = a[d] - b[d];
            tail += x * x;
        }
        let quads = [lanes[0] + lanes[4], lanes[1] + lanes[5], lanes[2] + lanes[6], lanes[3] + lanes[7]];
        let pairs = [quads[0] + quads[2], quads[1] + quads[3]];
        (pairs[0] + pairs[1]) + tail
    }

    #[test]
    fn row_kernel_equals_the_scalar_arithmetic_bit_for_bit() {
        for dims in [1, 7, 8, 9, 31, 128, 131, 384] {
            let data: Vec<f32> = (0..11 * dims).map(|i| (i as f32 * 0.91).cos() * 2.0).collect();
            let query: Vec<f32> = (0..dims).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            for n in 0..=11 {
                let ids: Vec<u32> = (0..n).map(|i| (i * 7 % 11) as u32).collect();
                let mut out = vec![f32::NAN; n];
                l2_squared_rows(&query, &data, &ids, &mut out);
                for (&id, d) in ids.iter().zip(&out) {
                    let row = &data[id as usize * dims..][..dims];
                    assert_eq!(d.to_bits(), scalar_l2(&query, row).to_bits(), "dims {dims}, {n} ids, id {id}");
                    assert_eq!(d.to_bits(), l2_squared(&query, row).to_bits(), "dims {dims}, {n} ids, id {id}");
                }
            }
        }
    }

    fn naive_l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
    }

    #[test]
    fn kernels_match_naive_sums_for_every_tail_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.91).cos()).collect();
            let naive_dot: f64 = a.iter().zip(&b).map(|(x, y)| (x * y) as f64).sum();
            assert!((l2_squared(&a, &b) as f64 - naive_l2(&a, &b)).abs() < 1e-4, "n={n}");
            assert!((dot(&a, &b) as f64 - naive_dot).abs() < 1e-4, "n={n}");
        }
    }
}
