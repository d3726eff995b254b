//! Upstream jobs as a graph: the order a set of jobs runs in (every job after the upstreams it
//! has in the set), the jobs downstream of one, and the cycle a new edge would close. Pure, so
//! plain `cargo test` covers it; the graph is read from `insync.jobs` by `crate::pipeline`.

use std::collections::{BTreeMap, BTreeSet};

/// Job id → the ids of the jobs it runs after.
pub type Graph = BTreeMap<i64, Vec<i64>>;

/// The jobs of `set` in an order where each comes after its upstreams that are in the set
/// (upstreams outside the set are not waited for here). Among jobs free to go, the order of
/// `set` is kept, so the result is deterministic. `Err` carries a cycle, if the graph has one.
pub fn dependency_order(set: &[i64], graph: &Graph) -> Result<Vec<i64>, Vec<i64>> {
    let members: BTreeSet<i64> = set.iter().copied().collect();
    let upstreams_in_set = |id: i64| -> Vec<i64> {
        graph
            .get(&id)
            .map(|u| u.iter().copied().filter(|u| members.contains(u)).collect())
            .unwrap_or_default()
    };
    let mut done: BTreeSet<i64> = BTreeSet::new();
    let mut order = Vec::with_capacity(set.len());
    let mut pending: Vec<i64> = Vec::new();
    for id in set {
        if !pending.contains(id) {
            pending.push(*id);
        }
    }
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|&id| upstreams_in_set(id).iter().all(|u| done.contains(u)));
        match ready {
            Some(i) => {
                let id = pending.remove(i);
                done.insert(id);
                order.push(id);
            }
            None => {
                let start = pending[0];
                return Err(find_cycle_from(start, graph).unwrap_or_else(|| pending.clone()));
            }
        }
    }
    Ok(order)
}

/// Every job that runs after `root`, directly or through others (not `root` itself).
pub fn downstream(root: i64, graph: &Graph) -> BTreeSet<i64> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(id) = frontier.pop() {
        for (&job, ups) in graph {
            if ups.contains(&id) && job != root && found.insert(job) {
                frontier.push(job);
            }
        }
    }
    found
}

/// The cycle `job` would be part of if it ran after `upstreams` (the rest of the graph as it
/// is): `[job, u1, ..., job]`, following upstream edges; `None` when there is none.
pub fn cycle_with(job: i64, upstreams: &[i64], graph: &Graph) -> Option<Vec<i64>> {
    let mut graph = graph.clone();
    graph.insert(job, upstreams.to_vec());
    find_cycle_from(job, &graph).filter(|c| c.first() == Some(&job))
}

/// A cycle through `start` (following upstream edges), as `[start, ..., start]`; or, when
/// `start` is not on a cycle but reaches one, that cycle.
fn find_cycle_from(start: i64, graph: &Graph) -> Option<Vec<i64>> {
    // Depth-first search with the current path on a stack.
    fn visit(
        id: i64,
        graph: &Graph,
        path: &mut Vec<i64>,
        finished: &mut BTreeSet<i64>,
    ) -> Option<Vec<i64>> {
        if let Some(at) = path.iter().position(|&p| p == id) {
            let mut cycle = path[at..].to_vec();
            cycle.push(id);
            return Some(cycle);
        }
        if finished.contains(&id) {
            return None;
        }
        path.push(id);
        for &up in graph.get(&id).map(|v| v.as_slice()).unwrap_or(&[]) {
            if let Some(cycle) = visit(up, graph, path, finished) {
                return Some(cycle);
            }
        }
        path.pop();
        finished.insert(id);
        None
    }
    visit(start, graph, &mut Vec::new(), &mut BTreeSet::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(i64, &[i64])]) -> Graph {
        edges.iter().map(|(j, u)| (*j, u.to_vec())).collect()
    }

    #[test]
    fn upstreams_come_first_and_the_rest_keeps_its_order() {
        // 3 (order lines) after 1 (orders) and 2 (customers); 4 after 3.
        let g = graph(&[(1, &[]), (2, &[]), (3, &[1, 2]), (4, &[3])]);
        assert_eq!(dependency_order(&[4, 3, 2, 1], &g), Ok(vec![2, 1, 3, 4]));
        assert_eq!(dependency_order(&[1, 2, 3, 4], &g), Ok(vec![1, 2, 3, 4]));
        // An upstream outside the set is not waited for.
        assert_eq!(dependency_order(&[4, 3], &g), Ok(vec![3, 4]));
        assert_eq!(dependency_order(&[], &g), Ok(vec![]));
    }

    #[test]
    fn a_cycle_in_the_set_is_reported() {
        let g = graph(&[(1, &[3]), (2, &[1]), (3, &[2]), (4, &[])]);
        assert_eq!(dependency_order(&[4, 1, 2, 3], &g), Err(vec![1, 3, 2, 1]));
    }

    #[test]
    fn downstream_follows_every_path_once() {
        let g = graph(&[(1, &[]), (2, &[1]), (3, &[1, 2]), (4, &[3]), (5, &[])]);
        assert_eq!(downstream(1, &g), [2, 3, 4].into_iter().collect());
        assert_eq!(downstream(3, &g), [4].into_iter().collect());
        assert!(downstream(5, &g).is_empty());
    }

    #[test]
    fn a_new_edge_closing_a_cycle_is_found() {
        let g = graph(&[(1, &[]), (2, &[1]), (3, &[2])]);
        // 1 after 3 closes 1 -> 3 -> 2 -> 1.
        assert_eq!(cycle_with(1, &[3], &g), Some(vec![1, 3, 2, 1]));
        // A job after itself.
        assert_eq!(cycle_with(2, &[2], &g), Some(vec![2, 2]));
        // No cycle: 3 after 1 as well as 2; a new job 4 after 3.
        assert_eq!(cycle_with(3, &[1, 2], &g), None);
        assert_eq!(cycle_with(4, &[3], &g), None);
    }
}
