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
    let one_by_one = |star: u32, ids: &[u32], out: &mut [f32]| ids.iter().zip(out).for_each(|(&id, d)| *d = dist(star, id));
    robust_prune_batched(p, pool, alpha, max_degree, saturate, one_by_one)
}

/// [`robust_prune_split`] with `dists(star, ids, out)` scoring the candidates still in play
/// against each kept point in one call: `out[i]` = the build distance from `star` to `ids[i]`.
pub fn robust_prune_batched(
    p: u32,
    pool: &mut Vec<(f32, u32)>,
    alpha: f32,
    max_degree: usize,
    saturate: bool,
    mut dists: impl FnMut(u32, &[u32], &mut [f32]),
) -> (Vec<u32>, usize) {
    pool.sort_by(|a, b| a.0.total_cmp(&b.0).then(tie(p, a.1).cmp(&tie(p, b.1))));
    pool.dedup_by_key(|c| c.1);
    pool.retain(|c| c.1 != p);
    let mut kept: Vec<u32> = Vec::with_capacity(max_degree);
    let mut alive = vec![true; pool.len()];
    // The candidates still in play after the current one (indices into `pool`), their ids
    // and their distances to it.
    let (mut rest, mut ids, mut d) = (Vec::with_capacity(pool.len()), Vec::with_capacity(pool.len()), Vec::new());
    for i in 0..pool.len() {
        if !alive[i] {
            continue;
        }
        let star = pool[i].1;
        kept.push(star);
        if kept.len() == max_degree {
            break;
        }
        rest.clear();
        rest.extend((i + 1..pool.len()).filter(|&j| alive[j]));
        ids.clear();
        ids.extend(rest.iter().map(|&j| pool[j].1));
        d.resize(ids.len(), 0.0);
        dists(star, &ids, &mut d);
        for (&j, &dj) in rest.iter().zip(&d) {
            if alpha * dj <= pool[j].0 {
                alive[j] = false;
            }
        }
    }
    let chosen = kept.len();
    if saturate {
        let room = max_degree - kept.len();
        let dropped = pool.iter().zip(&alive).filter(|(_, kept)| !**kept).map(|(c, _)| c.1);
        kept.extend(dropped.take(room));
    }
    (kept, chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn robust_prune(
        p: u32,
        pool: &mut Vec<(f32, u32)>,
        alpha: f32,
        max_degree: usize,
        saturate: bool,
        dist: impl Fn(u32, u32) -> f32,
    ) -> Vec<u32> {
        robust_prune_split(p, pool, alpha, max_degree, saturate, dist).0
    }

    #[test]
    fn prune_keeps_nearest_and_drops_covered_points() {
        // Points on a line: p at 0; candidates at 1, 2, 3 and -1.5. From p, 2 and 3 lie
        // behind 1, so they are covered; -1.5 lies the other way and is kept.
        let pos = [0.0f32, 1.0, 2.0, 3.0, -1.5];
        let d = |a: u32, b: u32| (pos[a as usize] - pos[b as usize]).powi(2);
        let mut pool: Vec<(f32, u32)> = (0..5).map(|i| (d(0, i), i)).chain([(1.0, 1)]).collect();
        let kept = robust_prune(0, &mut pool.clone(), 1.2, 10, false, d);
        assert_eq!(kept, vec![1, 4]);
        // Saturated, the dropped candidates fill the free slots, nearest first.
        assert_eq!(robust_prune(0, &mut pool.clone(), 1.2, 3, true, d), vec![1, 4, 2]);
        assert_eq!(robust_prune(0, &mut pool, 1.2, 10, true, d), vec![1, 4, 2, 3]);
    }

    #[test]
    fn copies_of_one_vector_spread_their_edges() {
        // 100 identical points: each keeps one copy and saturates with others. With ties
        // broken by id every point would pick the same few; hashed ties spread in-edges.
        let d = |_: u32, _: u32| 0.0f32;
        let mut in_edges = vec![0; 100];
        for p in 0..100u32 {
            let mut pool: Vec<(f32, u32)> = (0..100).map(|i| (0.0, i)).collect();
            let kept = robust_prune(p, &mut pool, 1.2, 8, true, d);
            assert_eq!(kept.len(), 8);
            assert!(!kept.contains(&p));
            kept.iter().for_each(|&k| in_edges[k as usize] += 1);
        }
        let without = in_edges.iter().filter(|n| **n == 0).count();
        assert!(without < 5, "{without} of 100 copies have no in-edge");
    }

    #[test]
    fn prune_respects_max_degree() {
        let d = |a: u32, b: u32| ((a as f32) * 10.0 - (b as f32)).abs() + (a as f32 - b as f32).abs() * 100.0;
        let mut pool: Vec<(f32, u32)> = (1..50).map(|i| (i as f32, i)).collect();
        assert_eq!(robust_prune(0, &mut pool, 1.0, 5, false, d).len(), 5);
    }
}
