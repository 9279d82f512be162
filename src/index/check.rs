//! The structural check of a whole index: every block readable, the header's counts equal
//! to what the blocks hold, edges only between nodes (no self or repeated edges, degree
//! <= R), the free list and the rowid map in one-to-one agreement with the blocks, and
//! every live node reachable from the entry point.

use std::collections::HashSet;

use crate::format::{Header, NodeState, NO_SLOT};
use crate::graph::edges_of;
use crate::storage::IndexFile;

/// Problems reported per kind before the rest are only counted.
const SHOWN: usize = 5;

/// What the check found: an empty list means sound.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub problems: Vec<String>,
    pub live: u64,
    pub tombstoned: u64,
    pub free: u64,
    pub map_pages: u64,
    pub unreachable: u64,
}

/// Checks `file` block by block (reads the whole file).
pub fn check_index(file: &IndexFile) -> CheckReport {
    let h = file.header();
    let layout = file.layout();
    let mut report = CheckReport::default();
    let mut problems: Vec<String> = Vec::new();
    let mut note = |p: String| problems.push(p);
    // The header's checksum covers its fields; the rest of its block is written as zeros
    // and nothing reads it, so only this check can see damage there.
    let padding = &file.header_block()[Header::len_for(h.dims as usize)..];
    if let Some(at) = padding.iter().position(|&b| b != 0) {
        note(format!("the header block holds non-zero bytes after the header (from byte {})", Header::len_for(h.dims as usize) + at));
    }
    // One read of every block: its state and, for a node, its edges.
    let mut states = vec![None; h.slots as usize];
    let mut edges: Vec<Vec<u32>> = vec![Vec::new(); h.slots as usize];
    for slot in 0..h.slots {
        match file.block(slot) {
            Ok(block) => {
                let state = layout.state(block);
                states[slot as usize] = state;
                if state.is_some_and(|s| s.is_node()) {
                    edges[slot as usize] = edges_of(&layout, block).ids;
                }
            }
            // Its state stays None: a block that passes its check always has one.
            Err(e) => note(e.to_string()),
        }
    }
    let count = |s: NodeState| states.iter().filter(|x| **x == Some(s)).count() as u64;
    report.live = count(NodeState::Live);
    report.tombstoned = count(NodeState::Tombstoned);
    report.free = count(NodeState::Free);
    report.map_pages = count(NodeState::MapPage);
    let v1 = h.version_major < 2;
    // A damaged block's kind is unknown: the counts cannot be compared, and edges to it
    // are not problems of their own.
    let damaged = |s: u32| states.get(s as usize).is_some_and(Option::is_none);
    let any_damaged = states.iter().any(Option::is_none);
    if !any_damaged {
        for (what, found, said) in [
            ("live node", report.live, h.live),
            ("tombstone", report.tombstoned, h.tombstoned),
            ("free slot", report.free, if v1 { report.free } else { h.free_slots }),
            ("map page", report.map_pages, h.map_pages),
        ] {
            if found != said {
                note(format!("the header counts {} but the blocks hold {found}", crate::plural(said, what)));
            }
        }
    }
    let is_node = |s: u32| states.get(s as usize).copied().flatten().is_some_and(|s| s.is_node());
    for (slot, ids) in edges.iter().enumerate() {
        let mut seen = HashSet::new();
        for &n in ids {
            if n as usize == slot {
                note(format!("slot {slot} has an edge to itself"));
            } else if !seen.insert(n) {
                note(format!("slot {slot} has two edges to slot {n}"));
            } else if !is_node(n) && !damaged(n) {
                note(format!("slot {slot} has an edge to slot {n}, which is not a node"));
            }
        }
    }
    // Free list: a chain through every free slot, once.
    if !v1 {
        let mut at = h.free_head;
        let mut walked = 0u64;
        while at != NO_SLOT && walked <= h.slots {
            if states.get(at as usize).copied().flatten() != Some(NodeState::Free) {
                note(format!("the free list reaches slot {at}, which is not free"));
                break;
            }
            walked += 1;
            at = file.block(at).map(|b| layout.next_free(b)).unwrap_or(NO_SLOT);
        }
        if walked != report.free {
            note(format!("the free list links {walked} slots but {} are free", report.free));
        }
    }
    // Rowid map: exactly the live nodes, each at its own slot.
    if !v1 {
        let map = h.rowid_map();
        let mut mapped = 0u64;
        let mut pages = HashSet::new();
        let walk = map.walk(
            file,
            &mut |rowid, slot| {
                mapped += 1;
                let ok = states.get(slot as usize).copied().flatten() == Some(NodeState::Live)
                    && file.block(slot as u64).is_ok_and(|b| layout.rowid(b) == rowid);
                if !ok {
                    problems.push(format!("the rowid map sends rowid {rowid} to slot {slot}, which is not its live node"));
                }
            },
            &mut |slot| {
                pages.insert(slot);
            },
        );
        if let Err(e) = walk {
            problems.push(e);
        }
        if mapped != report.live {
            problems.push(format!(
                "the rowid map holds {} for {}",
                crate::plural(mapped, "rowid"),
                crate::plural(report.live, "live node")
            ));
        }
        if pages.len() as u64 != report.map_pages {
            problems.push(format!("the rowid map reaches {} of {}", crate::plural(pages.len() as u64, "page"), report.map_pages));
        }
    }
    // Reachability from the entry point through any node.
    let nodes = report.live + report.tombstoned;
    if nodes > 0 {
        let entry = h.entry_slot as u32;
        let mut reached = vec![false; h.slots as usize];
        if is_node(entry) {
            let mut stack = vec![entry];
            reached[entry as usize] = true;
            while let Some(v) = stack.pop() {
                for &w in &edges[v as usize] {
                    if is_node(w) && !reached[w as usize] {
                        reached[w as usize] = true;
                        stack.push(w);
                    }
                }
            }
        } else {
            problems.push(format!("the entry point, slot {entry}, is not a node"));
        }
        let unreachable: Vec<u32> =
            (0..h.slots as u32).filter(|&s| states[s as usize] == Some(NodeState::Live) && !reached[s as usize]).collect();
        report.unreachable = unreachable.len() as u64;
        if !unreachable.is_empty() {
            let rowids: Vec<String> =
                unreachable.iter().take(SHOWN).filter_map(|&s| file.block(s as u64).ok().map(|b| layout.rowid(b).to_string())).collect();
            let through = if !any_damaged { String::new() } else { " (some may be reachable through the damaged blocks)".into() };
            problems.push(format!(
                "{} cannot be reached from the entry point{through} (rowids {}...)",
                crate::plural(unreachable.len() as u64, "live node"),
                rowids.join(", ")
            ));
        }
    }
    if problems.len() > 4 * SHOWN {
        let more = problems.len() - 4 * SHOWN;
        problems.truncate(4 * SHOWN);
        problems.push(format!("... and {}", crate::plural(more as u64, "more problem")));
    }
    report.problems = problems;
    report
}
