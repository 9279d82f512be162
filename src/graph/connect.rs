//! The last step of every build, insert and vacuum: every node that must be found is
//! reachable from the entry point.
//!
//! Pruning keeps a node's edges short and diverse, so it can drop the last edge into a
//! node; a Vamana build leaves a few such nodes on real data (1 of SIFT's 5,000 at the
//! default settings), and no search can ever return them. A breadth-first pass finds them.
//! Each one gets an in-edge from the nearest reachable node a search for its vector
//! expands: appended when that node has room, else in place of its farthest edge that is
//! not on the pass's spanning tree. Tree edges are never replaced, so everything reached
//! stays reached, and each repair ends with one more node (and all it leads to) reached.

use super::candidates::Candidates;
use super::visited::Visited;

/// A graph whose unreachable nodes can be linked in.
pub trait Reconnect {
    /// What reading or changing the graph can fail with.
    type Error;
    /// Slots: node ids are below this.
    fn slots(&self) -> u32;
    fn entry(&self) -> Option<u32>;
    fn max_degree(&self) -> usize;
    /// Whether `slot` must be reachable (a live node; tombstones and free slots need not).
    fn must_reach(&self, slot: u32) -> Result<bool, Self::Error>;
    /// Out-edges of `slot`, empty for a slot that is not a node.
    fn out_edges(&self, slot: u32) -> Result<Vec<u32>, Self::Error>;
    /// Nodes that may take an edge to `slot`, nearest first. Found by searching from the
    /// entry point, so every one is reachable.
    fn nearest_sources(&self, slot: u32) -> Result<Vec<u32>, Self::Error>;
    /// Gives `from` an edge to `to`: in place of its edge at `replace`, else appended.
    fn link(&mut self, from: u32, replace: Option<usize>, to: u32) -> Result<(), Self::Error>;
}

const UNREACHED: u32 = u32::MAX;

/// For [`Reconnect::nearest_sources`] of a graph kept outside memory: the nodes a greedy
/// search of list size `list` from `entry` expands, nearest first (ties: smaller id).
/// `distance(id)` is the distance to the node being linked; `edges(id, out)` fills `out`
/// with `id`'s out-edges.
pub fn nearest_expanded<E>(
    entry: u32,
    list: usize,
    distance: impl Fn(u32) -> Result<f32, E>,
    mut edges: impl FnMut(u32, &mut Vec<u32>) -> Result<(), E>,
) -> Result<Vec<u32>, E> {
    let mut candidates = Candidates::new(list);
    let mut seen = Visited::with_capacity(list * 16);
    let mut expanded = Vec::with_capacity(list * 2);
    let mut out = Vec::new();
    seen.insert(entry);
    candidates.insert(distance(entry)?, entry);
    while let Some(c) = candidates.next_unexpanded() {
        expanded.push((c.distance, c.id));
        edges(c.id, &mut out)?;
        for &nb in &out {
            if seen.insert(nb) {
                candidates.insert(distance(nb)?, nb);
            }
        }
    }
    expanded.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(expanded.into_iter().map(|(_, id)| id).collect())
}

/// `edges` with an edge to `to`: in place of the one at `replace`, else appended.
pub fn place(edges: &mut Vec<u32>, replace: Option<usize>, to: u32) {
    match replace {
        Some(at) => edges[at] = to,
        None => edges.push(to),
    }
}

/// Links every node that must be reachable but is not; returns how many needed it.
pub fn reconnect<G: Reconnect>(graph: &mut G) -> Result<u64, G::Error> {
    let Some(entry) = graph.entry() else { return Ok(0) };
    // parent[s]: the node the spanning tree reaches `s` from (the entry is its own).
    let mut parent = vec![UNREACHED; graph.slots() as usize];
    parent[entry as usize] = entry;
    reach_from(graph, entry, &mut parent)?;
    let mut linked = 0;
    for slot in 0..graph.slots() {
        if parent[slot as usize] != UNREACHED || !graph.must_reach(slot)? {
            continue;
        }
        let (from, replace) = choose_source(graph, slot, &parent)?;
        graph.link(from, replace, slot)?;
        parent[slot as usize] = from;
        reach_from(graph, slot, &mut parent)?;
        linked += 1;
    }
    Ok(linked)
}

/// Extends the spanning tree over everything `start` (already in it) leads to.
fn reach_from<G: Reconnect>(graph: &G, start: u32, parent: &mut [u32]) -> Result<(), G::Error> {
    let mut stack = vec![start];
    while let Some(v) = stack.pop() {
        for w in graph.out_edges(v)? {
            if parent[w as usize] == UNREACHED {
                parent[w as usize] = v;
                stack.push(w);
            }
        }
    }
    Ok(())
}

/// The node to give an edge to `slot`, and which of its edges that edge replaces: the
/// nearest source with room or with an edge off the spanning tree.
fn choose_source<G: Reconnect>(graph: &G, slot: u32, parent: &[u32]) -> Result<(u32, Option<usize>), G::Error> {
    let fits = |from: u32| -> Result<Option<(u32, Option<usize>)>, G::Error> {
        let edges = graph.out_edges(from)?;
        if edges.len() < graph.max_degree() {
            return Ok(Some((from, None)));
        }
        // The farthest replaceable edge: lists end with their farthest saturating edges.
        Ok(edges.iter().rposition(|&w| parent[w as usize] != from).map(|at| (from, Some(at))))
    };
    for from in graph.nearest_sources(slot)? {
        if parent[from as usize] != UNREACHED {
            if let Some(choice) = fits(from)? {
                return Ok(choice);
            }
        }
    }
    // Not one node near `slot` qualifies (it would take a list of nodes whose every edge
    // is on the tree): any reached node will do, and one exists, because a tree over m
    // nodes has m - 1 edges while full lists of R >= 1 edges hold m * R.
    for from in 0..graph.slots() {
        if parent[from as usize] != UNREACHED && graph.must_reach(from)? {
            if let Some(choice) = fits(from)? {
                return Ok(choice);
            }
        }
    }
    // Only the entry is reached and it has no edges: R = 0 is refused long before this.
    Ok((graph.entry().unwrap_or(0), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Result<T> = std::result::Result<T, std::convert::Infallible>;

    /// Adjacency lists; every slot must be reached; sources are all slots by distance
    /// on a line (slot ids as positions), as a search would rank them.
    struct Lists {
        edges: Vec<Vec<u32>>,
        max_degree: usize,
    }

    impl Reconnect for Lists {
        type Error = std::convert::Infallible;
        fn slots(&self) -> u32 {
            self.edges.len() as u32
        }
        fn entry(&self) -> Option<u32> {
            Some(0)
        }
        fn max_degree(&self) -> usize {
            self.max_degree
        }
        fn must_reach(&self, _: u32) -> Result<bool> {
            Ok(true)
        }
        fn out_edges(&self, slot: u32) -> Result<Vec<u32>> {
            Ok(self.edges[slot as usize].clone())
        }
        fn nearest_sources(&self, slot: u32) -> Result<Vec<u32>> {
            let mut all: Vec<u32> = (0..self.slots()).filter(|&s| s != slot).collect();
            all.sort_by_key(|&s| (s as i64 - slot as i64).abs());
            Ok(all)
        }
        fn link(&mut self, from: u32, replace: Option<usize>, to: u32) -> Result<()> {
            place(&mut self.edges[from as usize], replace, to);
            Ok(())
        }
    }

    fn unreached(g: &Lists) -> Vec<u32> {
        let mut parent = vec![UNREACHED; g.edges.len()];
        parent[0] = 0;
        reach_from(g, 0, &mut parent).unwrap();
        (0..g.slots()).filter(|&s| parent[s as usize] == UNREACHED).collect()
    }

    #[test]
    fn unreachable_nodes_are_linked_without_cutting_off_others() {
        // A full graph (R = 2) whose edges from 0..4 stay inside 0..4, and 5..7 form a
        // cycle nobody enters. Node 4, the nearest to 5, gives up an edge that is not on
        // the spanning tree.
        let mut g = Lists {
            edges: vec![vec![1, 2], vec![2, 3], vec![3, 1], vec![4, 0], vec![3, 0], vec![6, 7], vec![7, 5], vec![5, 6]],
            max_degree: 2,
        };
        assert_eq!(unreached(&g), vec![5, 6, 7]);
        assert_eq!(reconnect(&mut g).unwrap(), 1, "one link reaches the whole cycle");
        assert!(unreached(&g).is_empty());
        assert!(g.edges.iter().all(|e| e.len() <= 2));
        assert_eq!(g.edges[4], vec![3, 5], "4's last edge, to the entry, made way");
    }

    #[test]
    fn a_node_with_room_takes_the_edge_and_nothing_is_replaced() {
        let mut g = Lists { edges: vec![vec![1], vec![0], vec![]], max_degree: 4 };
        assert_eq!(reconnect(&mut g).unwrap(), 1);
        assert_eq!(g.edges[1], vec![0, 2]);
        assert_eq!(reconnect(&mut g).unwrap(), 0, "a connected graph is left as it is");
    }

    #[test]
    fn tree_edges_are_never_replaced_even_when_the_nearest_nodes_have_only_those() {
        // 0 -> 2 -> 3 -> 1 -> 0 with R = 1: the edges into 2, 3 and 1 are the tree, so 3 and
        // 2, the nearest to node 4, keep theirs and 1's edge back to the entry makes way.
        let mut g = Lists { edges: vec![vec![2], vec![0], vec![3], vec![1], vec![]], max_degree: 1 };
        assert_eq!(reconnect(&mut g).unwrap(), 1);
        assert_eq!(g.edges, vec![vec![2], vec![4], vec![3], vec![1], vec![]]);
        assert!(unreached(&g).is_empty());
    }
}
