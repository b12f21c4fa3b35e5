//! Topological ordering of one node list (Kahn's algorithm, stable: ties keep file order),
//! counting captures of subgraphs as dependencies, with cycle detection that names the nodes
//! involved. Values not produced in the list (graph inputs, constants, enclosing scopes) are
//! available from the start.

use super::{Graph, Node};
use crate::error::{Error, Result};

/// Orders `nodes` so that every node follows the producers of what it reads.
pub fn sort(g: &Graph, nodes: Vec<Node>) -> Result<Vec<Node>> {
    let n = nodes.len();
    let mut producer = vec![usize::MAX; g.values.len()];
    for (i, node) in nodes.iter().enumerate() {
        for o in node.outputs.iter().flatten() {
            producer[o.idx()] = i;
        }
    }
    let mut indeg = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in nodes.iter().enumerate() {
        let mut deps: Vec<usize> = node.reads().map(|v| producer[v.idx()]).filter(|&p| p != usize::MAX).collect();
        deps.sort_unstable();
        deps.dedup();
        indeg[i] = deps.len();
        for d in deps {
            users[d].push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> =
        (0..n).filter(|&i| indeg[i] == 0).map(std::cmp::Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.push(std::cmp::Reverse(u));
            }
        }
    }
    if order.len() != n {
        let label = |node: &Node| {
            if !node.name.is_empty() {
                node.name.clone()
            } else {
                node.outputs.iter().flatten().next().map(|v| g.value(*v).name.clone()).unwrap_or_default()
            }
        };
        let stuck: Vec<String> =
            (0..n).filter(|&i| indeg[i] > 0).take(8).map(|i| format!("'{}'", label(&nodes[i]))).collect();
        return Err(Error::Model(format!("the graph has a cycle through nodes {}", stuck.join(", "))));
    }
    let mut old: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().map(|i| old[i].take().unwrap()).collect())
}
