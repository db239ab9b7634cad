//! The service catalog's rules: dependencies form a graph without cycles.

use std::collections::{BTreeMap, BTreeSet};

/// Whether making `service` depend on `depends_on` (replacing its current dependencies) would
/// close a cycle, given every other edge `(service, depends on)`.
pub fn creates_cycle(edges: &[(i64, i64)], service: i64, depends_on: &[i64]) -> bool {
    let mut graph: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (from, to) in edges.iter().filter(|(from, _)| *from != service) {
        graph.entry(*from).or_default().push(*to);
    }
    graph.insert(service, depends_on.to_vec());
    // Depth-first from the service: reaching it again is a cycle.
    let mut stack: Vec<i64> = depends_on.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(node) = stack.pop() {
        if node == service {
            return true;
        }
        if seen.insert(node) {
            stack.extend(graph.get(&node).into_iter().flatten().copied());
        }
    }
    false
}

/// Every service `roots` depend on, directly or through others, with the shortest path that
/// reaches it (starting at a root, ending at the service); the roots come first, as paths of
/// one. Breadth first, so a service two levels down is said to come through the level between.
pub fn dependency_paths(edges: &[(i64, i64)], roots: &[i64]) -> Vec<Vec<i64>> {
    let mut graph: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(*from).or_default().push(*to);
    }
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut paths: Vec<Vec<i64>> = Vec::new();
    let mut queue: std::collections::VecDeque<Vec<i64>> = roots.iter().map(|r| vec![*r]).collect();
    while let Some(path) = queue.pop_front() {
        let node = *path.last().expect("paths are never empty");
        if !seen.insert(node) {
            continue;
        }
        for next in graph.get(&node).into_iter().flatten() {
            if !seen.contains(next) {
                let mut longer = path.clone();
                longer.push(*next);
                queue.push_back(longer);
            }
        }
        paths.push(path);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_reached_transitively_by_their_shortest_path() {
        // checkout → payments → ledger → db; checkout → db too; search is unrelated.
        let edges = [(1, 2), (2, 3), (3, 4), (1, 4), (5, 6)];
        let paths = dependency_paths(&edges, &[1]);
        assert_eq!(paths, vec![vec![1], vec![1, 2], vec![1, 4], vec![1, 2, 3]]);
        // Two affected services sharing a dependency reach it once.
        let paths = dependency_paths(&[(1, 3), (2, 3)], &[1, 2]);
        assert_eq!(paths, vec![vec![1], vec![2], vec![1, 3]]);
    }

    #[test]
    fn cycles_are_found_however_long() {
        // checkout -> orders-db -> storage
        let edges = [(1, 2), (2, 3)];
        assert!(!creates_cycle(&edges, 4, &[1]));
        assert!(
            creates_cycle(&edges, 3, &[1]),
            "storage -> checkout closes the loop"
        );
        assert!(
            creates_cycle(&edges, 1, &[1]),
            "a service cannot depend on itself"
        );
        assert!(
            !creates_cycle(&edges, 1, &[3]),
            "replacing checkout's dependencies is fine"
        );
    }
}
