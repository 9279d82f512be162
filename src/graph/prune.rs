//! RobustPrune (Vamana): keep the nearest candidate, drop every candidate it "covers"
//! (alpha * d(kept, v) <= d(p, v)), repeat until R edges are kept. With `saturate`, the
//! slots pruning left empty are filled with the nearest dropped candidates: a node's block
//! has room for R edges whatever its degree, so on disk those edges are free.

/// The order among candidates at the same distance from `p`: a hash of both ids, not the
/// ids themselves, so that the copies of a repeated vector do not all choose the same
/// few copies (with smaller ids) as neighbours and leave the rest without in-edges.
fn tie(p: u32, id: u32) -> u64 {
    // The splitmix64 finaliser: every input bit moves every output bit.
    let mut x = u64::from(p) << 32 | u64::from(id);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// RobustPrune of `pool`, which holds (distance to p, id), any order, and may hold
/// duplicates and p itself; `dist(a, b)` is the build distance between two points. Returns
/// the edges and how many of them the alpha rule chose (they come first; the saturating
/// ones follow, nearest first).
pub fn robust_prune_split(
    p: u32,
    pool: &mut Vec<(f32, u32)>,
    alpha: f32,
    max_degree: usize,
    saturate: bool,
    dist: impl Fn(u32, u32) -> f32,
) -> (Vec<u32>, usize) {
    robust_prune_batched(p, pool, alpha, max_degree, saturate, pairwise(dist))
}

/// A pairwise distance as the lists of distances the batched functions take.
fn pairwise(dist: impl Fn(u32, u32) -> f32) -> impl FnMut(u32, &[u32], &mut [f32]) {
    move |v, ids, out| ids.iter().zip(out).for_each(|(&id, d)| *d = dist(v, id))
}

/// [`robust_prune_split`] with `dists(v, ids, out)` scoring one candidate against several
/// kept points in one call: `out[i]` = the build distance from `v` to `ids[i]`.
///
/// Candidates are taken nearest first, each checked against the points kept so far until
/// one covers it: the same choice as dropping every candidate a newly kept point covers,
/// without scoring candidates already covered or never reached.
pub fn robust_prune_batched(
    p: u32,
    pool: &mut Vec<(f32, u32)>,
    alpha: f32,
    max_degree: usize,
    saturate: bool,
    mut dists: impl FnMut(u32, &[u32], &mut [f32]),
) -> (Vec<u32>, usize) {
    pool.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| tie(p, a.1).cmp(&tie(p, b.1))));
    pool.dedup_by_key(|c| c.1);
    pool.retain(|c| c.1 != p);
    let mut kept: Vec<u32> = Vec::with_capacity(max_degree);
    let mut covered: Vec<u32> = Vec::new();
    for &(to_p, v) in pool.iter() {
        if kept.len() == max_degree {
            break;
        }
        if covers_any(&kept, (to_p, v), alpha, &mut dists) {
            covered.push(v);
        } else {
            kept.push(v);
        }
    }
    let chosen = kept.len();
    if saturate {
        let room = max_degree - kept.len();
        kept.extend(covered.into_iter().take(room));
    }
    (kept, chosen)
}

/// Whether one of `stars` covers candidate `v` (at distance `to_p` from the point pruned):
/// `alpha * d(star, v) <= to_p`. The first star alone first (the nearest kept point covers
/// most candidates), then [`COVER_CHUNK`] at a time.
fn covers_any(stars: &[u32], (to_p, v): (f32, u32), alpha: f32, dists: &mut impl FnMut(u32, &[u32], &mut [f32])) -> bool {
    let mut d = [0.0f32; COVER_CHUNK];
    let (first, rest) = stars.split_at(stars.len().min(1));
    std::iter::once(first).chain(rest.chunks(COVER_CHUNK)).filter(|s| !s.is_empty()).any(|chunk| {
        let d = &mut d[..chunk.len()];
        dists(v, chunk, d);
        d.iter().any(|&dv| alpha * dv <= to_p)
    })
}

/// Kept points a candidate is scored against per call after the first.
const COVER_CHUNK: usize = 4;

/// Adds candidate `v` (distance to `p`, id) to `edges`, the (distance, id) list a saturated
/// [`robust_prune_batched`] of `p` returned, whose first `chosen` edges the alpha rule chose,
/// so that `edges` becomes what that prune returns for `edges` plus `v`, at the cost of
/// scoring `v` against the chosen edges only.
///
/// Pruning `edges` again returns `edges`; adding `v` changes nothing before `v`'s place in
/// the distance order, and after it only when the alpha rule keeps `v`: a chosen edge `v`
/// covers would be dropped, and what that edge alone covered would be chosen in turn. That
/// case is left to a full prune: it returns false and leaves `edges` as they were.
pub fn insert_pruned(
    p: u32,
    edges: &mut Vec<(f32, u32)>,
    chosen: &mut usize,
    v: (f32, u32),
    alpha: f32,
    max_degree: usize,
    mut dists: impl FnMut(u32, &[u32], &mut [f32]),
) -> bool {
    let before = |a: &(f32, u32)| a.0.total_cmp(&v.0).then_with(|| tie(p, a.1).cmp(&tie(p, v.1))).is_lt();
    let at = edges[..*chosen].partition_point(before);
    let nearer: Vec<u32> = edges[..at].iter().map(|e| e.1).collect();
    if covers_any(&nearer, v, alpha, &mut dists) {
        let place = *chosen + edges[*chosen..].partition_point(before);
        if place < max_degree {
            edges.insert(place, v);
            edges.truncate(max_degree);
        }
        return true;
    }
    let farther: Vec<u32> = edges[at..*chosen].iter().map(|e| e.1).collect();
    let mut d = vec![0.0; farther.len()];
    dists(v.1, &farther, &mut d);
    if d.iter().zip(&edges[at..*chosen]).any(|(&dv, e)| alpha * dv <= e.0) {
        return false;
    }
    edges.insert(at, v);
    edges.truncate(max_degree);
    *chosen = (*chosen + 1).min(max_degree);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_nearest_and_drops_covered_points() {
        // Points on a line: p at 0; candidates at 1, 2, 3 and -1.5. From p, 2 and 3 lie
        // behind 1, so they are covered; -1.5 lies the other way and is kept.
        let pos = [0.0f32, 1.0, 2.0, 3.0, -1.5];
        let d = |a: u32, b: u32| (pos[a as usize] - pos[b as usize]).powi(2);
        let mut pool: Vec<(f32, u32)> = (0..5).map(|i| (d(0, i), i)).chain([(1.0, 1)]).collect();
        let kept = robust_prune_split(0, &mut pool.clone(), 1.2, 10, false, d).0;
        assert_eq!(kept, vec![1, 4]);
        // Saturated, the dropped candidates fill the free slots, nearest first.
        assert_eq!(robust_prune_split(0, &mut pool.clone(), 1.2, 3, true, d).0, vec![1, 4, 2]);
        assert_eq!(robust_prune_split(0, &mut pool, 1.2, 10, true, d).0, vec![1, 4, 2, 3]);
    }

    #[test]
    fn copies_of_one_vector_spread_their_edges() {
        // 100 identical points: each keeps one copy and saturates with others. With ties
        // broken by id every point would pick the same few; hashed ties spread in-edges.
        let d = |_: u32, _: u32| 0.0f32;
        let mut in_edges = vec![0; 100];
        for p in 0..100u32 {
            let mut pool: Vec<(f32, u32)> = (0..100).map(|i| (0.0, i)).collect();
            let kept = robust_prune_split(p, &mut pool, 1.2, 8, true, d).0;
            assert_eq!(kept.len(), 8);
            assert!(!kept.contains(&p));
            kept.iter().for_each(|&k| in_edges[k as usize] += 1);
        }
        let without = in_edges.iter().filter(|n| **n == 0).count();
        assert!(without < 5, "{without} of 100 copies have no in-edge");
    }

    /// Random points in a few dimensions, and their squared l2 distance.
    fn random_points(seed: u64, n: usize, dims: usize) -> (Vec<f32>, impl Fn(u32, u32) -> f32) {
        let mut rng = crate::rng::Rng::new(seed);
        let pos: Vec<f32> = (0..n * dims).map(|_| rng.normal() as f32).collect();
        let at = pos.clone();
        let dist = move |a: u32, b: u32| {
            let (a, b) = (&at[a as usize * dims..][..dims], &at[b as usize * dims..][..dims]);
            a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
        };
        (pos, dist)
    }

    /// RobustPrune as the papers state it: each kept point drops every later candidate it covers.
    fn eager_prune(p: u32, pool: &mut Vec<(f32, u32)>, alpha: f32, max_degree: usize, dist: impl Fn(u32, u32) -> f32) -> (Vec<u32>, usize) {
        pool.sort_by(|a, b| a.0.total_cmp(&b.0).then(tie(p, a.1).cmp(&tie(p, b.1))));
        pool.dedup_by_key(|c| c.1);
        pool.retain(|c| c.1 != p);
        let (mut kept, mut alive) = (Vec::new(), vec![true; pool.len()]);
        for i in 0..pool.len() {
            if alive[i] {
                kept.push(pool[i].1);
                if kept.len() == max_degree {
                    break;
                }
                (i + 1..pool.len()).for_each(|j| alive[j] &= alpha * dist(pool[i].1, pool[j].1) > pool[j].0);
            }
        }
        let chosen = kept.len();
        let dropped: Vec<u32> = pool.iter().zip(&alive).filter(|(_, a)| !**a).map(|(c, _)| c.1).collect();
        kept.extend(dropped.into_iter().take(max_degree - chosen));
        (kept, chosen)
    }

    #[test]
    fn lazy_covering_checks_choose_as_the_eager_prune_does() {
        for seed in 0..200 {
            let (_, dist) = random_points(seed, 80, 2 + seed as usize % 6);
            let pool: Vec<(f32, u32)> = (1..80).map(|v| (dist(0, v), v)).collect();
            let (alpha, r) = ([1.0, 1.2][seed as usize % 2], 4 + seed as usize % 20);
            let lazy = robust_prune_split(0, &mut pool.clone(), alpha, r, true, &dist);
            assert_eq!(lazy, eager_prune(0, &mut pool.clone(), alpha, r, &dist), "seed {seed}");
        }
    }

    #[test]
    fn insert_pruned_gives_the_full_prune_or_declines() {
        // Each case: a point's saturated edges from a random pool, then one more candidate.
        let (mut same, mut declined) = (0, 0);
        for seed in 0..400 {
            let (_, dist) = random_points(seed, 120, 2 + seed as usize % 6);
            let (alpha, r) = (1.2, 4 + seed as usize % 20);
            let mut pool: Vec<(f32, u32)> = (1..100).map(|v| (dist(0, v), v)).collect();
            let (edges, chosen) = robust_prune_split(0, &mut pool, alpha, r, true, &dist);
            for v in 100..120 {
                let mut with_v: Vec<(f32, u32)> = edges.iter().chain([&v]).map(|&e| (dist(0, e), e)).collect();
                let full = robust_prune_split(0, &mut with_v, alpha, r, true, &dist);
                let (mut incremental, mut c) = (edges.iter().map(|&e| (dist(0, e), e)).collect::<Vec<_>>(), chosen);
                if insert_pruned(0, &mut incremental, &mut c, (dist(0, v), v), alpha, r, pairwise(&dist)) {
                    assert_eq!((incremental.iter().map(|e| e.1).collect(), c), full, "seed {seed}, v {v}");
                    same += 1;
                } else {
                    assert_eq!(incremental.iter().map(|e| e.1).collect::<Vec<_>>(), edges, "declined, yet changed");
                    declined += 1;
                }
            }
        }
        assert!(same > 10 * declined, "{same} inserted, {declined} declined");
    }

    #[test]
    fn prune_respects_max_degree() {
        let d = |a: u32, b: u32| ((a as f32) * 10.0 - (b as f32)).abs() + (a as f32 - b as f32).abs() * 100.0;
        let mut pool: Vec<(f32, u32)> = (1..50).map(|i| (i as f32, i)).collect();
        assert_eq!(robust_prune_split(0, &mut pool, 1.0, 5, false, d).0.len(), 5);
    }
}
