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

/// Defines a multiversioned row kernel over integer rows of `$t`, for at most `$max_dims`
/// dims: each clone calls the kernel written for its instructions (`inherit_target` gives
/// the wrapper the clone's features, so the call needs no unsafe), the others the portable
/// sum.
macro_rules! integer_rows {
    ($(#[$doc:meta])* $name:ident, $t:ty, $avx512:ident, $avx2:ident, $portable:ident, $max_dims:expr) => {
        $(#[$doc])*
        #[multiversion::multiversion(targets("x86_64+avx512bw", "x86_64+avx2", "aarch64+neon"))]
        pub fn $name(query: &[$t], data: &[$t], ids: &[u32], out: &mut [f32]) {
            #[multiversion::target::target_cfg(all(target_arch = "x86_64", target_feature = "avx512bw"))]
            #[multiversion::inherit_target]
            fn l2(a: &[$t], b: &[$t]) -> u32 {
                x86::$avx512(a, b)
            }
            #[multiversion::target::target_cfg(all(target_arch = "x86_64", target_feature = "avx2", not(target_feature = "avx512bw")))]
            #[multiversion::inherit_target]
            fn l2(a: &[$t], b: &[$t]) -> u32 {
                x86::$avx2(a, b)
            }
            #[multiversion::target::target_cfg(not(all(target_arch = "x86_64", any(target_feature = "avx2", target_feature = "avx512bw"))))]
            #[inline(always)]
            fn l2(a: &[$t], b: &[$t]) -> u32 {
                $portable(a, b)
            }

            assert!(query.len() <= $max_dims, "sums fit 32 bits");
            #[allow(clippy::redundant_closure)] // a function with target features is not `Fn`
            score_rows(query, data, ids, out, |a, b| l2(a, b));
        }
    };
}

integer_rows!(
    /// Squared Euclidean distances between byte rows: `out[i]` = the sum over the dims of
    /// `(query[d] - row ids[i][d])^2`, exactly (integers: the same on every CPU), for up to
    /// 66,051 dims. The build scores on byte copies of the points with it (see
    /// `graph::space`): a quarter of the bytes of f32 rows, and 32 or 64 dims a step.
    l2_squared_u8_rows, u8, l2_u8_avx512, l2_u8_avx2, l2_u8, u32::MAX as usize / (255 * 255)
);

integer_rows!(
    /// Squared Euclidean distances between rows of 16-bit codes, as [`l2_squared_u8_rows`]
    /// does between bytes. The caller keeps the codes below 2^15 and `dims x (largest
    /// difference)^2` below 2^32, so every sum is exact.
    l2_squared_u16_rows, u16, l2_u16_avx512, l2_u16_avx2, l2_u16, usize::MAX
);

/// `out[i] = l2(query, row ids[i] of data)`, asking for each row [`PREFETCH_ROWS`] ahead.
/// Inlined into each clone of its callers, with their instructions.
#[inline(always)]
fn score_rows<T>(query: &[T], data: &[T], ids: &[u32], out: &mut [f32], l2: impl Fn(&[T], &[T]) -> u32) {
    let dims = query.len();
    assert!(dims > 0 && out.len() == ids.len(), "one distance per id");
    let row = |id: u32| &data[id as usize * dims..][..dims];
    let prefetch = |id: u32| crate::storage::prefetch(row(id), usize::MAX);
    ids.iter().take(PREFETCH_ROWS).for_each(|&id| prefetch(id));
    for (at, (&id, out)) in ids.iter().zip(out.iter_mut()).enumerate() {
        if let Some(&ahead) = ids.get(at + PREFETCH_ROWS) {
            prefetch(ahead);
        }
        *out = l2(query, row(id)) as f32;
    }
}

/// Sum of squared differences of 16-bit codes (see [`l2_squared_u16_rows`]).
#[inline(always)]
fn l2_u16(a: &[u16], b: &[u16]) -> u32 {
    a.iter().zip(b).map(|(&x, &y)| (x as i32 - y as i32).pow(2) as u32).fold(0, u32::wrapping_add)
}

/// The byte and 16-bit kernels in x86 SIMD. LLVM vectorises the plain loop ([`l2_u8`]) at the
/// width of its 32-bit sums, which leaves the 16-bit multiply-adds half empty: 2x slower than
/// these at 784 dims, measured. A byte step: |a - b| (two saturating subtractions), widened
/// to 16 bits, squared and summed in pairs into 32-bit lanes (at most 2 x 255^2 a step). A
/// 16-bit step: a - b (codes below 2^15), squared and summed in pairs; the lanes wrap as
/// u32, whose total the caller keeps below 2^32.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512bw")]
    pub(super) fn l2_u8_avx512(a: &[u8], b: &[u8]) -> u32 {
        let zero = _mm512_setzero_si512();
        let (mut low, mut high) = (zero, zero);
        let (a_steps, a_tail) = a.as_chunks::<64>();
        let (b_steps, b_tail) = b.as_chunks::<64>();
        for (x, y) in a_steps.iter().zip(b_steps) {
            // SAFETY: x and y are 64 readable bytes each; the loads need no alignment.
            let (x, y) = unsafe { (_mm512_loadu_si512(x.as_ptr().cast()), _mm512_loadu_si512(y.as_ptr().cast())) };
            let d = _mm512_or_si512(_mm512_subs_epu8(x, y), _mm512_subs_epu8(y, x));
            let (d_low, d_high) = (_mm512_unpacklo_epi8(d, zero), _mm512_unpackhi_epi8(d, zero));
            low = _mm512_add_epi32(low, _mm512_madd_epi16(d_low, d_low));
            high = _mm512_add_epi32(high, _mm512_madd_epi16(d_high, d_high));
        }
        _mm512_reduce_add_epi32(_mm512_add_epi32(low, high)) as u32 + super::l2_u8(a_tail, b_tail)
    }

    #[target_feature(enable = "avx512bw")]
    pub(super) fn l2_u16_avx512(a: &[u16], b: &[u16]) -> u32 {
        let mut sum = _mm512_setzero_si512();
        let (a_steps, a_tail) = a.as_chunks::<32>();
        let (b_steps, b_tail) = b.as_chunks::<32>();
        for (x, y) in a_steps.iter().zip(b_steps) {
            // SAFETY: x and y are 64 readable bytes each; the loads need no alignment.
            let (x, y) = unsafe { (_mm512_loadu_si512(x.as_ptr().cast()), _mm512_loadu_si512(y.as_ptr().cast())) };
            let d = _mm512_sub_epi16(x, y);
            sum = _mm512_add_epi32(sum, _mm512_madd_epi16(d, d));
        }
        (_mm512_reduce_add_epi32(sum) as u32).wrapping_add(super::l2_u16(a_tail, b_tail))
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn l2_u16_avx2(a: &[u16], b: &[u16]) -> u32 {
        let mut sum = _mm256_setzero_si256();
        let (a_steps, a_tail) = a.as_chunks::<16>();
        let (b_steps, b_tail) = b.as_chunks::<16>();
        for (x, y) in a_steps.iter().zip(b_steps) {
            // SAFETY: x and y are 32 readable bytes each; the loads need no alignment.
            let (x, y) = unsafe { (_mm256_loadu_si256(x.as_ptr().cast()), _mm256_loadu_si256(y.as_ptr().cast())) };
            let d = _mm256_sub_epi16(x, y);
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(d, d));
        }
        horizontal_sum(sum).wrapping_add(super::l2_u16(a_tail, b_tail))
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn l2_u8_avx2(a: &[u8], b: &[u8]) -> u32 {
        let zero = _mm256_setzero_si256();
        let (mut low, mut high) = (zero, zero);
        let (a_steps, a_tail) = a.as_chunks::<32>();
        let (b_steps, b_tail) = b.as_chunks::<32>();
        for (x, y) in a_steps.iter().zip(b_steps) {
            // SAFETY: x and y are 32 readable bytes each; the loads need no alignment.
            let (x, y) = unsafe { (_mm256_loadu_si256(x.as_ptr().cast()), _mm256_loadu_si256(y.as_ptr().cast())) };
            let d = _mm256_or_si256(_mm256_subs_epu8(x, y), _mm256_subs_epu8(y, x));
            let (d_low, d_high) = (_mm256_unpacklo_epi8(d, zero), _mm256_unpackhi_epi8(d, zero));
            low = _mm256_add_epi32(low, _mm256_madd_epi16(d_low, d_low));
            high = _mm256_add_epi32(high, _mm256_madd_epi16(d_high, d_high));
        }
        horizontal_sum(_mm256_add_epi32(low, high)) + super::l2_u8(a_tail, b_tail)
    }

    #[target_feature(enable = "avx2")]
    fn horizontal_sum(sum: __m256i) -> u32 {
        let sum = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256::<1>(sum));
        let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b00_00_11_10>(sum));
        let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b00_00_00_01>(sum));
        _mm_cvtsi128_si32(sum) as u32
    }
}

/// Sum of squared byte differences, in 32-bit sums that cannot overflow for dims <= 66,051.
#[inline(always)]
fn l2_u8(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(&x, &y)| (x as i32 - y as i32).pow(2) as u32).sum()
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

    #[test]
    fn byte_rows_are_exact_for_every_width_and_tail() {
        // Widths around the 32- and 64-byte steps, and the extremes 0 and 255 side by side
        // (the largest difference, whose square the 16-bit multiply-add must not overflow).
        for dims in [1, 15, 31, 32, 33, 63, 64, 65, 100, 128, 130, 784] {
            let data: Vec<u8> = (0..9 * dims)
                .map(|i| {
                    if i % 5 == 0 {
                        255
                    } else if i % 7 == 0 {
                        0
                    } else {
                        (i * 37 % 256) as u8
                    }
                })
                .collect();
            let query: Vec<u8> = (0..dims).map(|i| if i % 2 == 0 { 0 } else { (i * 91 % 256) as u8 }).collect();
            let ids: Vec<u32> = (0..9).rev().collect();
            let mut out = vec![f32::NAN; ids.len()];
            l2_squared_u8_rows(&query, &data, &ids, &mut out);
            for (&id, &d) in ids.iter().zip(&out) {
                let row = &data[id as usize * dims..][..dims];
                let exact: u64 = query.iter().zip(row).map(|(&a, &b)| (a as i64 - b as i64).pow(2) as u64).sum();
                assert_eq!(d, exact as f32, "dims {dims}, id {id}");
                assert_eq!(l2_u8(&query, row) as u64, exact, "portable, dims {dims}");
                #[cfg(target_arch = "x86_64")]
                #[allow(unsafe_code)]
                {
                    if std::is_x86_feature_detected!("avx2") {
                        // SAFETY: the CPU has AVX2 (checked on the line above).
                        assert_eq!(unsafe { x86::l2_u8_avx2(&query, row) } as u64, exact, "avx2, dims {dims}");
                    }
                    if std::is_x86_feature_detected!("avx512bw") {
                        // SAFETY: the CPU has AVX-512BW (checked on the line above).
                        assert_eq!(unsafe { x86::l2_u8_avx512(&query, row) } as u64, exact, "avx512bw, dims {dims}");
                    }
                }
            }
        }
    }

    #[test]
    fn word_rows_are_exact_for_every_width_and_tail() {
        // Codes of 12 bits at 128 dims and of 10 at 1536, the widest the build uses there,
        // with the extremes side by side: totals up to 2^32 - 1 must come out exact.
        for (dims, top) in
            [(1, 4095u16), (15, 4095), (16, 4095), (17, 4095), (31, 4095), (33, 4095), (128, 4095), (130, 4095), (1536, 1023)]
        {
            let data: Vec<u16> = (0..9 * dims).map(|i| if i % 3 == 0 { top } else { (i * 37 % (top as usize + 1)) as u16 }).collect();
            let query: Vec<u16> = (0..dims).map(|i| if i % 4 == 0 { 0 } else { (i * 91 % (top as usize + 1)) as u16 }).collect();
            let ids: Vec<u32> = (0..9).rev().collect();
            let mut out = vec![f32::NAN; ids.len()];
            l2_squared_u16_rows(&query, &data, &ids, &mut out);
            for (&id, &d) in ids.iter().zip(&out) {
                let row = &data[id as usize * dims..][..dims];
                let exact: u64 = query.iter().zip(row).map(|(&a, &b)| (a as i64 - b as i64).pow(2) as u64).sum();
                assert!(exact < 1 << 32);
                assert_eq!(d, exact as f32, "dims {dims}, id {id}");
                assert_eq!(l2_u16(&query, row) as u64, exact, "portable, dims {dims}");
                #[cfg(target_arch = "x86_64")]
                #[allow(unsafe_code)]
                {
                    if std::is_x86_feature_detected!("avx2") {
                        // SAFETY: the CPU has AVX2 (checked on the line above).
                        assert_eq!(unsafe { x86::l2_u16_avx2(&query, row) } as u64, exact, "avx2, dims {dims}");
                    }
                    if std::is_x86_feature_detected!("avx512bw") {
                        // SAFETY: the CPU has AVX-512BW (checked on the line above).
                        assert_eq!(unsafe { x86::l2_u16_avx512(&query, row) } as u64, exact, "avx512bw, dims {dims}");
                    }
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
