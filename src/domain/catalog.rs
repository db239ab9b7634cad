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

#[cfg(test)]
mod tests {
    use super::*;

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
