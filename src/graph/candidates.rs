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
}

impl Candidates {
    /// Memory grows with the candidates inserted, not with `capacity`.
    pub fn new(capacity: usize) -> Self {
        Candidates { items: Vec::with_capacity(capacity.min(1024) + 1), capacity }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Empties the list, keeping its memory.
    pub fn clear(&mut self) {
        self.items.clear();
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
    }

    /// Marks and returns the nearest unexpanded candidate.
    pub fn next_unexpanded(&mut self) -> Option<Candidate> {
        let c = self.items.iter_mut().find(|c| !c.expanded)?;
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
    fn set_distance_reorders() {
        let mut c = Candidates::new(4);
        c.insert(1.0, 1);
        c.insert(2.0, 2);
        c.set_distance(1, 3.0);
        assert_eq!(c.next_unexpanded().unwrap().id, 2);
    }
}
