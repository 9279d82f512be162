//! Changing a graph on disk: linking new nodes in (insert) and routing around deleted
//! ones (FreshDiskANN consolidation). Both read blocks through `Blocks`, in parallel, and
//! return new edge lists; the caller writes them. Every function is a pure function of
//! the blocks it reads, so results do not depend on the number of threads.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::prune::robust_prune_split;
use super::search::{beam_search, Beam, SearchStats};
use crate::error::Result;
use crate::format::{Header, NodeLayout, NodeState};
use crate::quant::CodeSpace;
use crate::storage::Blocks;
use crate::vector::{l2_squared, lift, ElementCodec, Metric};

/// What changing a graph needs to know about its index.
pub struct UpdateSpace<'a> {
    pub metric: Metric,
    pub codec: ElementCodec,
    pub codes: &'a CodeSpace,
    /// Inner product: vectors are lifted to this squared norm for graph distances.
    pub max_norm_squared: f32,
    pub alpha: f32,
    pub max_degree: usize,
    /// Search list of the searches that find an insert's neighbours.
    pub list: usize,
}

/// A prune candidate: its slot, its prepared vector, and its code when already known.
type Candidate<'a> = (u32, &'a [f32], Option<&'a [u8]>);

/// A node's edge list: neighbour slots and their codes, back to back in the same order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Edges {
    pub ids: Vec<u32>,
    pub codes: Vec<u8>,
}

impl Edges {
    /// An edge to `id` with its `code`: in place of the edge at `replace`, else appended.
    pub fn place(&mut self, replace: Option<usize>, id: u32, code: &[u8]) {
        super::connect::place(&mut self.ids, replace, id);
        match replace {
            Some(at) => self.codes[at * code.len()..(at + 1) * code.len()].copy_from_slice(code),
            None => self.codes.extend_from_slice(code),
        }
    }
}

impl<'a> UpdateSpace<'a> {
    pub fn new(header: &Header, codes: &'a CodeSpace) -> Self {
        UpdateSpace {
            metric: header.metric,
            codec: header.element_codec(),
            codes,
            max_norm_squared: header.max_norm_squared,
            alpha: header.alpha,
            max_degree: header.max_degree as usize,
            list: (header.build_list as usize).max(header.max_degree as usize),
        }
    }

    /// The graph distance between two prepared vectors (l2, in the lifted space under
    /// inner product, as the build measured it).
    pub fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = l2_squared(a, b);
        match self.metric {
            Metric::InnerProduct => {
                let lift = |v: &[f32]| lift(self.max_norm_squared, v);
                d + (lift(a) - lift(b)).powi(2)
            }
            Metric::L2 | Metric::Cosine => d,
        }
    }

    /// The prepared vector of a node block.
    pub fn vector<B: Blocks>(&self, blocks: &B, slot: u32, block: &[u8]) -> Result<Vec<f32>> {
        let mut v = vec![0.0; blocks.layout().dims];
        self.vector_into(blocks, slot, block, &mut v)?;
        Ok(v)
    }

    /// [`Self::vector`], into `out`.
    fn vector_into<B: Blocks>(&self, blocks: &B, slot: u32, block: &[u8], out: &mut [f32]) -> Result<()> {
        if !self.codec.decode_prepared(self.metric, blocks.layout().vector_bytes(block), out) {
            return Err(blocks.corrupted(format!("slot {slot} holds a zero vector, which cosine cannot rank")));
        }
        Ok(())
    }

    /// The block of `slot`, refused unless it is a graph node.
    fn node<'b, B: Blocks>(&self, blocks: &'b B, slot: u32) -> Result<&'b [u8]> {
        let block = blocks.block(slot as u64)?;
        match blocks.layout().state(block) {
            Some(s) if s.is_node() => Ok(block),
            other => Err(blocks.corrupted(format!("an edge leads to slot {slot}, which is not a node ({other:?})"))),
        }
    }

    /// The neighbour code of a prepared vector.
    pub fn code(&self, v: &[f32]) -> Vec<u8> {
        let mut c = vec![0u8; self.codes.code_len()];
        self.codes.encode(v, &mut c);
        c
    }

    /// Robust-prunes `pool` (slot, vector, code if known) for the node at `p_slot` with
    /// vector `p`; codes not known are encoded for the kept candidates only.
    fn prune(&self, p_slot: u32, p: &[f32], pool: &[Candidate]) -> Edges {
        self.prune_keeping(p_slot, p, pool, &[])
    }

    /// [`Self::prune`], and then every slot of `keep` that the prune dropped takes the
    /// place of a saturating edge (the farthest first), while there are such edges.
    fn prune_keeping(&self, p_slot: u32, p: &[f32], pool: &[Candidate], keep: &[u32]) -> Edges {
        // The prune works on slots (its tie order hashes them with `p_slot`); a sorted
        // (slot, position) list finds a slot's candidate faster than hashing, for pools
        // of a hundred or so.
        let mut by_slot: Vec<(u32, usize)> = pool.iter().enumerate().map(|(i, c)| (c.0, i)).collect();
        by_slot.sort_unstable();
        let at = |slot: u32| by_slot[by_slot.partition_point(|e| e.0 < slot)].1;
        let mut ranked: Vec<(f32, u32)> = pool.iter().map(|c| (self.distance(p, c.1), c.0)).collect();
        let (mut kept, chosen) =
            robust_prune_split(p_slot, &mut ranked, self.alpha, self.max_degree, true, |a, b| self.distance(pool[at(a)].1, pool[at(b)].1));
        let mut replaceable = kept.len() - chosen;
        for &slot in keep {
            if replaceable == 0 {
                break;
            }
            if !kept.contains(&slot) {
                kept[chosen + replaceable - 1] = slot;
                replaceable -= 1;
            }
        }
        let mut edges = Edges::default();
        for slot in kept {
            let (_, vector, code) = pool[at(slot)];
            edges.ids.push(slot);
            match code {
                Some(code) => edges.codes.extend_from_slice(code),
                None => edges.codes.extend_from_slice(&self.code(vector)),
            }
        }
        edges
    }
}

/// New nodes being linked in: prepared vectors (`dims` wide), their codes, and the slots
/// they go to.
pub struct NewNodes<'a> {
    pub vectors: &'a [f32],
    pub codes: Vec<Vec<u8>>,
    pub slots: Vec<u32>,
}

impl<'a> NewNodes<'a> {
    pub fn new(space: &UpdateSpace, dims: usize, vectors: &'a [f32], slots: Vec<u32>) -> Self {
        NewNodes { vectors, codes: vectors.par_chunks(dims).map(|v| space.code(v)).collect(), slots }
    }
}

/// Out-edges for each new node, chosen from the live nodes a search of `blocks` expands
/// plus the other new nodes (so that a batch of copies of one vector links its copies
/// together).
pub fn link_new<B: Blocks>(blocks: &B, space: &UpdateSpace, new: &NewNodes) -> Result<Vec<Edges>> {
    let dims = blocks.layout().dims;
    let (vectors, slots, new_codes) = (new.vectors, &new.slots, &new.codes);
    vectors
        .par_chunks(dims)
        .enumerate()
        .map(|(i, p)| {
            // (slot, vector) of every live node the search expands.
            let mut found: Vec<(u32, Vec<f32>)> = Vec::new();
            let mut stats = SearchStats::default();
            beam_search(blocks, space.codes, space.metric, p, Beam { list: space.list, width: 1 }, &mut stats, &mut |node| {
                if node.state == NodeState::Live {
                    found.push((node.slot, node.vector.to_vec()));
                }
            })?;
            // The nearest other new vectors, as many as a search list.
            let mut siblings: Vec<(f32, usize)> =
                vectors.chunks_exact(dims).enumerate().filter(|(j, _)| *j != i).map(|(j, v)| (space.distance(p, v), j)).collect();
            if siblings.len() > space.list {
                siblings.select_nth_unstable_by(space.list, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                siblings.truncate(space.list);
            }
            let mut pool: Vec<Candidate> = found.iter().map(|(s, v)| (*s, &v[..], None)).collect();
            pool.extend(siblings.iter().map(|&(_, j)| (slots[j], &vectors[j * dims..(j + 1) * dims], Some(&new_codes[j][..]))));
            Ok(space.prune(slots[i], p, &pool))
        })
        .collect()
}

/// The back-edges of newly linked nodes: for each node that a new node's out-edges reach,
/// its edge list with all its new in-neighbours merged in at once, pruned if it
/// overflows. `out[i]` are the out-edges of new node `i`, whose block must already be
/// readable.
pub fn back_edges<B: Blocks>(blocks: &B, space: &UpdateSpace, new: &NewNodes, out: &[Edges]) -> Result<Vec<(u32, Edges)>> {
    let dims = blocks.layout().dims;
    let (vectors, slots) = (new.vectors, &new.slots);
    let layout = blocks.layout();
    let mut back: Vec<(u32, usize)> = out.iter().enumerate().flat_map(|(i, e)| e.ids.iter().map(move |&q| (q, i))).collect();
    back.par_sort_unstable();
    back.dedup();
    let groups: Vec<&[(u32, usize)]> = back.chunk_by(|a, b| a.0 == b.0).collect();
    let updates: Vec<Option<(u32, Edges)>> = groups
        .par_iter()
        .map(|group| {
            let q = group[0].0;
            let block = space.node(blocks, q)?;
            let mut current = edges_of(&layout, block);
            let incoming: Vec<usize> = group.iter().map(|g| g.1).filter(|&i| !current.ids.contains(&slots[i])).collect();
            if incoming.is_empty() {
                return Ok(None);
            }
            if current.ids.len() + incoming.len() <= space.max_degree {
                for &i in &incoming {
                    current.ids.push(slots[i]);
                    current.codes.extend_from_slice(&new.codes[i]);
                }
                return Ok(Some((q, current)));
            }
            let q_vector = space.vector(blocks, q, block)?;
            let old_vectors: Vec<Vec<f32>> =
                current.ids.iter().map(|&n| space.vector(blocks, n, space.node(blocks, n)?)).collect::<Result<_>>()?;
            let code_len = space.codes.code_len();
            let mut pool: Vec<Candidate> = current
                .ids
                .iter()
                .zip(&old_vectors)
                .enumerate()
                .map(|(k, (&n, v))| (n, &v[..], Some(&current.codes[k * code_len..(k + 1) * code_len])))
                .collect();
            pool.extend(incoming.iter().map(|&i| (slots[i], &vectors[i * dims..(i + 1) * dims], Some(&new.codes[i][..]))));
            // A new node that q's prune drops may have no other way in; the edges that
            // saturation added are extra, so the new node takes one of their places.
            let keep: Vec<u32> = incoming.iter().map(|&i| slots[i]).collect();
            Ok(Some((q, space.prune_keeping(q, &q_vector, &pool, &keep))))
        })
        .collect::<Result<_>>()?;
    Ok(updates.into_iter().flatten().collect())
}

/// A node block's edges.
pub fn edges_of(layout: &NodeLayout, block: &[u8]) -> Edges {
    let degree = layout.degree(block);
    let ids = (0..degree).map(|i| layout.neighbour(block, i)).collect();
    let codes = block[layout.codes_at()..layout.codes_at() + degree * layout.code_len].to_vec();
    Edges { ids, codes }
}

/// What consolidation decided.
pub struct Consolidation {
    /// New edge lists of live nodes that had edges to tombstones.
    pub updates: Vec<(u32, Edges)>,
    /// Every tombstoned slot (to be freed).
    pub tombstones: Vec<u32>,
    /// A live node to enter by when the entry point is a tombstone: the one nearest the
    /// centroid.
    pub entry: Option<u32>,
}

/// Tombstones visited per live node while gathering candidates: bounds the work when
/// deletes cluster and chains of deleted nodes must be followed.
const MAX_TOMBSTONES_FOLLOWED: usize = 64;

/// FreshDiskANN consolidation: each live node with an edge to a tombstone re-prunes over
/// its live neighbours plus the live neighbours of its tombstoned ones (followed through
/// further tombstones while that pool is too small to fill the node), so routes through
/// the tombstones survive their freeing. Edges the alpha rule does not choose are filled
/// from the node's own live edges first. A node whose last in-edge came through a
/// tombstone is linked in again by the reachability pass that ends every change.
/// `progress(done, total)` follows the live nodes checked.
pub fn consolidate<B: Blocks>(blocks: &B, space: &UpdateSpace, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Consolidation> {
    let header = blocks.header();
    let layout = blocks.layout();
    let states: Vec<NodeState> = (0..header.slots)
        .into_par_iter()
        .map(|s| blocks.block(s).map(|b| layout.state(b).unwrap_or(NodeState::Free)))
        .collect::<Result<_>>()?;
    let tombstones: Vec<u32> = (0..states.len() as u32).filter(|&s| states[s as usize] == NodeState::Tombstoned).collect();
    let is = |s: u32, state: NodeState| states.get(s as usize) == Some(&state);
    let entry_gone = !is(header.entry_slot as u32, NodeState::Live);
    let live_count = states.iter().filter(|s| **s == NodeState::Live).count();
    let entry = if entry_gone && live_count > 0 {
        // Nearest live node to the centroid (ties: smaller slot).
        let nearest = (0..states.len() as u32)
            .into_par_iter()
            .filter(|&s| is(s, NodeState::Live))
            .map(|s| Ok((space.distance(&space.vector(blocks, s, blocks.block(s as u64)?)?, &header.centroid), s)))
            .collect::<Result<Vec<_>>>()?;
        nearest.into_iter().min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))).map(|(_, s)| s)
    } else {
        None
    };
    if tombstones.is_empty() {
        return Ok(Consolidation { updates: Vec::new(), tombstones, entry });
    }
    let dims = layout.dims;
    let checked = AtomicU64::new(0);
    let updates: Vec<Option<(u32, Edges)>> = (0..states.len() as u32)
        .into_par_iter()
        .filter(|&s| is(s, NodeState::Live))
        .map(|p| {
            let done = checked.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(1024) || done == live_count as u64 {
                progress(done, live_count as u64);
            }
            // Every block was checked when the states were read.
            let block = blocks.block_again(p as u64)?;
            let current = edges_of(&layout, block);
            if !current.ids.iter().any(|&n| is(n, NodeState::Tombstoned)) {
                return Ok(None);
            }
            // Live edges p already has are kept where the prune would only saturate: they
            // may be the in-edges a recent insert relies on.
            let keep: Vec<u32> = current.ids.iter().copied().filter(|&n| is(n, NodeState::Live)).collect();
            // (slot, code) of candidates, the code read from the block that held the edge.
            // Level by level: p's edges, then those of its tombstoned neighbours, and
            // deeper only while the pool cannot fill p's edges. (Following every chain
            // explodes: at 5% deleted and R = 34 each tombstone leads to 1.7 more.)
            let mut candidates: Vec<(u32, &[u8])> = Vec::new();
            let mut followed: Vec<u32> = Vec::new();
            let mut level: Vec<&[u8]> = vec![block];
            while !level.is_empty() {
                let mut next = Vec::new();
                for held in level {
                    for k in 0..layout.degree(held) {
                        let n = layout.neighbour(held, k);
                        if is(n, NodeState::Live) && n != p {
                            candidates.push((n, layout.code(held, k)));
                        } else if is(n, NodeState::Tombstoned) && !followed.contains(&n) && followed.len() < MAX_TOMBSTONES_FOLLOWED {
                            followed.push(n);
                            next.push(blocks.block_again(n as u64)?);
                        }
                    }
                }
                candidates.sort_unstable_by_key(|c| c.0);
                candidates.dedup_by_key(|c| c.0);
                level = if candidates.len() < space.max_degree { next } else { Vec::new() };
            }
            // p's vector, then the candidates', in one allocation.
            let mut vectors = vec![0.0; (candidates.len() + 1) * dims];
            let (p_vector, pool_vectors) = vectors.split_at_mut(dims);
            space.vector_into(blocks, p, block, p_vector)?;
            for (c, v) in candidates.iter().zip(pool_vectors.chunks_exact_mut(dims)) {
                space.vector_into(blocks, c.0, blocks.block_again(c.0 as u64)?, v)?;
            }
            let pool: Vec<Candidate> = candidates.iter().zip(pool_vectors.chunks_exact(dims)).map(|(c, v)| (c.0, v, Some(c.1))).collect();
            Ok(Some((p, space.prune_keeping(p, p_vector, &pool, &keep))))
        })
        .collect::<Result<_>>()?;
    let updates = updates.into_iter().flatten().collect();
    Ok(Consolidation { updates, tombstones, entry })
}
