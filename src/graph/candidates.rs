//! The bounded, sorted candidate list of a beam search.

#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub distance: f32,
    pub id: u32,
    pub expanded: bool,
}

/// At most `capacity` candidates, nearest first; ties broken by smaller id so results
/// never depend on arrival order.
pub struct Candidates {
    items: Vec<Candidate>,
    capacity: usize,
    /// Every candidate before this position is expanded: the next search for an
    /// unexpanded one starts here instead of at the head (a beam expands about L nodes,
    /// so scanning from the head would cost O(L^2) per search).
    cursor: usize,
    /// [`Self::insert_many`]'s buffer, kept from call to call.
    incoming: Vec<(f32, u32)>,
}

impl Candidates {
    /// Memory grows with the candidates inserted, not with `capacity`.
    pub fn new(capacity: usize) -> Self {
        Candidates { items: Vec::with_capacity(capacity.min(1024) + 1), capacity, cursor: 0, incoming: Vec::new() }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Empties the list, keeping its memory.
    pub fn clear(&mut self) {
        self.items.clear();
        self.cursor = 0;
    }

    fn before(a: f32, a_id: u32, b: &Candidate) -> bool {
        a < b.distance || (a == b.distance && a_id < b.id)
    }

    /// Inserts unless the list is full and `distance` is no better than the worst.
    #[inline]
    pub fn insert(&mut self, distance: f32, id: u32) {
        if self.items.len() == self.capacity {
            match self.items.last() {
                Some(worst) if !Self::before(distance, id, worst) => return,
                _ => {}
            }
        }
        let at = self.items.partition_point(|c| !Self::before(distance, id, c));
        self.items.insert(at, Candidate { distance, id, expanded: false });
        self.items.truncate(self.capacity);
        self.cursor = self.cursor.min(at);
    }

    /// Inserts `ids[i]` at `distances[i]` for every i (ids not in the list), leaving the
    /// list [`Self::insert`] one at a time would: sorted, then merged in one pass, where
    /// each insert would binary-search and shift the list's tail (a build's search inserts a few
    /// dozen per hop). Returns the ones that entered the list (they may have pushed each
    /// other out again).
    pub fn insert_many(&mut self, ids: &[u32], distances: &[f32]) -> &[(f32, u32)] {
        let incoming = &mut self.incoming;
        incoming.clear();
        let worst = self.items.last().filter(|_| self.items.len() == self.capacity).copied();
        let competes = |d: f32, id: u32| worst.is_none_or(|w| Self::before(d, id, &w));
        incoming.extend(distances.iter().copied().zip(ids.iter().copied()).filter(|&(d, id)| competes(d, id)));
        if incoming.is_empty() {
            return &self.incoming;
        }
        incoming.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // Merged from the back, in place: the newcomers mostly land near the tail, so
        // the head of the list is never touched.
        let (mut old, mut new) = (self.items.len(), incoming.len());
        let mut to = old + new;
        self.items.resize(to, Candidate { distance: 0.0, id: 0, expanded: false });
        while new > 0 {
            let (d, id) = incoming[new - 1];
            to -= 1;
            if old > 0 && Self::before(d, id, &self.items[old - 1]) {
                old -= 1;
                self.items[to] = self.items[old];
            } else {
                new -= 1;
                self.items[to] = Candidate { distance: d, id, expanded: false };
            }
        }
        self.items.truncate(self.capacity);
        self.cursor = self.cursor.min(to);
        &self.incoming
    }

    /// Moves the cursor to the nearest unexpanded candidate; its position.
    fn first_unexpanded(&mut self) -> Option<usize> {
        self.cursor += self.items[self.cursor..].iter().position(|c| !c.expanded)?;
        Some(self.cursor)
    }

    /// Marks and returns the nearest unexpanded candidate.
    pub fn next_unexpanded(&mut self) -> Option<Candidate> {
        let at = self.first_unexpanded()?;
        self.cursor += 1;
        let c = &mut self.items[at];
        c.expanded = true;
        Some(*c)
    }

    /// Replaces the distance of candidate `id` (an estimate) by `distance` (exact) and
    /// restores the order.
    pub fn set_distance(&mut self, id: u32, distance: f32) {
        if let Some(at) = self.items.iter().position(|c| c.id == id) {
            let mut c = self.items.remove(at);
            c.distance = distance;
            let to = self.items.partition_point(|x| !Self::before(distance, id, x));
            self.items.insert(to, c);
            // Moving an unexpanded candidate may put it, or shift another, before the cursor.
            self.cursor = self.cursor.min(at).min(to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_nearest_in_order_and_expands_nearest_first() {
        let mut c = Candidates::new(3);
        for (d, id) in [(5.0, 1), (1.0, 2), (3.0, 3), (0.5, 4), (9.0, 5), (3.0, 0)] {
            c.insert(d, id);
        }
        let order: Vec<u32> = std::iter::from_fn(|| c.next_unexpanded().map(|x| x.id)).collect();
        assert_eq!(order, vec![4, 2, 0]);
        assert!(c.next_unexpanded().is_none());
    }

    #[test]
    fn expands_as_a_scan_from_the_head_would() {
        // The cursor must never skip an unexpanded candidate: random inserts, distance
        // changes and expansions against a list that always scans from its head.
        let mut rng = crate::rng::Rng::new(7);
        for _ in 0..200 {
            let capacity = 1 + rng.below(12) as usize;
            let (mut c, mut model) = (Candidates::new(capacity), Vec::<Candidate>::new());
            for _ in 0..60 {
                let (d, id) = (rng.below(20) as f32, rng.below(30) as u32);
                match rng.below(4) {
                    0 | 1 if !model.iter().any(|m| m.id == id) => {
                        c.insert(d, id);
                        if model.len() < capacity || Candidates::before(d, id, model.last().unwrap()) {
                            let at = model.partition_point(|m| !Candidates::before(d, id, m));
                            model.insert(at, Candidate { distance: d, id, expanded: false });
                            model.truncate(capacity);
                        }
                    }
                    2 if model.iter().any(|m| m.id == id) => {
                        c.set_distance(id, d);
                        let mut m = model.remove(model.iter().position(|m| m.id == id).unwrap());
                        m.distance = d;
                        model.insert(model.partition_point(|x| !Candidates::before(d, id, x)), m);
                    }
                    _ => {
                        let expected = model.iter_mut().find(|m| !m.expanded).map(|m| m.id);
                        assert_eq!(c.next_unexpanded().map(|x| x.id), expected);
                        if let Some(m) = model.iter_mut().find(|m| !m.expanded) {
                            m.expanded = true;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn insert_many_leaves_what_inserts_one_at_a_time_leave() {
        let mut rng = crate::rng::Rng::new(11);
        for _ in 0..300 {
            let capacity = 1 + rng.below(16) as usize;
            let (mut one, mut many) = (Candidates::new(capacity), Candidates::new(capacity));
            let mut next_id = 0;
            for _ in 0..12 {
                // Distances from a small range, so ties between distances are common.
                let n = rng.below(9) as usize;
                let ids: Vec<u32> = (next_id..next_id + n as u32).rev().collect();
                next_id += n as u32;
                let distances: Vec<f32> = ids.iter().map(|_| rng.below(10) as f32).collect();
                ids.iter().zip(&distances).for_each(|(&id, &d)| one.insert(d, id));
                many.insert_many(&ids, &distances);
                let listed = |c: &Candidates| c.items.iter().map(|x| (x.distance, x.id, x.expanded)).collect::<Vec<_>>();
                assert_eq!(listed(&one), listed(&many));
                if rng.below(2) == 0 {
                    assert_eq!(one.next_unexpanded().map(|x| x.id), many.next_unexpanded().map(|x| x.id));
                }
            }
        }
    }

    #[test]
    fn set_distance_reorders() {
        let mut c = Candidates::new(4);
        c.insert(1.0, 1);
        c.insert(2.0, 2);
        c.set_distance(1, 3.0);
        assert_eq!(c.next_unexpanded().unwrap().id, 2);
    }
}
