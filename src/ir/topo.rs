//! Topological ordering of nodes (Kahn's algorithm, stable: ties keep file order), with cycle
//! detection that names the nodes involved.

use super::{Graph, Node};
use crate::error::{Error, Result};

/// Reorders `g.nodes` so that every node follows the producers of its inputs.
pub fn sort(g: &mut Graph) -> Result<()> {
    let n = g.nodes.len();
    // Which node produces each value.
    let mut producer = vec![usize::MAX; g.values.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        for o in node.outputs.iter().flatten() {
            producer[o.idx()] = i;
        }
    }
    let mut indeg = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in g.nodes.iter().enumerate() {
        let mut deps: Vec<usize> =
            node.inputs.iter().flatten().map(|v| producer[v.idx()]).filter(|&p| p != usize::MAX).collect();
        deps.sort_unstable();
        deps.dedup();
        indeg[i] = deps.len();
        for d in deps {
            users[d].push(i);
        }
    }
    // A min-heap over original positions keeps the order stable.
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
        let stuck: Vec<String> =
            (0..n).filter(|&i| indeg[i] > 0).take(8).map(|i| format!("'{}'", g.nodes[i].label(g))).collect();
        return Err(Error::Model(format!("the graph has a cycle through nodes {}", stuck.join(", "))));
    }
    let mut old: Vec<Option<Node>> = std::mem::take(&mut g.nodes).into_iter().map(Some).collect();
    g.nodes = order.into_iter().map(|i| old[i].take().unwrap()).collect();
    g.relink();
    Ok(())
}
