//! Text rendering of a chain of stages: one line per node (where it runs, its output types),
//! its kernels and buffers, the host transfers between stages, and the memory figures.

use super::*;
use crate::ir::Graph;
use crate::tensor::shape::fmt_shape;
use std::fmt::Write;

fn fmt_buf(g: &Graph, b: &BufRef) -> String {
    match b {
        BufRef::Arena { stage, arena, offset, size } => format!("s{stage}.arena{arena}[{offset}+{size}]"),
        BufRef::GraphConst { value, offset, size } => {
            let k = g.value(*value).konst.as_ref().map(|k| k.byte_len() as u64).unwrap_or(0);
            if *offset == 0 && *size >= k {
                format!("weight '{}'", g.value(*value).name)
            } else {
                format!("weight '{}'[{offset}+{size}]", g.value(*value).name)
            }
        }
        BufRef::PlanConst { stage, index, .. } => format!("s{stage}.const{index}"),
    }
}

/// Renders the stages of one run (as far as they can be planned without running).
pub fn describe<K: KernelInfo>(g: &Graph, stages: &[&Stage<K>]) -> String {
    let mut s = String::new();
    for st in stages {
        let env = &st.env;
        let _ = writeln!(s, "stage {}:", st.index);
        for (v, _) in &st.uploads {
            let _ = writeln!(s, "  upload    '{}'", g.value(*v).name);
        }
        for (nid, fate) in &st.fates {
            let node = g.node(*nid);
            let out = node
                .outputs
                .iter()
                .flatten()
                .map(|v| match &env.types[v.idx()] {
                    Some((d, sh)) => format!("{d}{}", fmt_shape(sh)),
                    None => "-".into(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let (tag, extra) = match fate {
                NodeFate::Folded => ("fold", String::new()),
                NodeFate::Inlined(b) => ("inline", format!("  ({b} branch)")),
                NodeFate::Dead => ("dead", String::new()),
                NodeFate::Alias => ("alias", String::new()),
                NodeFate::Host(why) => ("cpu", format!("  ({why})")),
                NodeFate::Dispatch(_) => ("device", String::new()),
            };
            let _ = writeln!(s, "  {tag:<9} {:<28} {:<18} → {out}{extra}", node.label(g), node.op_type);
            if let NodeFate::Dispatch(r) = fate {
                for step in &st.steps[r.clone()] {
                    let b: Vec<String> = step.bindings.iter().map(|b| fmt_buf(g, b)).collect();
                    let _ = writeln!(s, "              {:<24} {}", step.kernel.label(), b.join(" "));
                }
            }
        }
        for (v, _) in &st.readbacks {
            let _ = writeln!(s, "  readback  '{}'", g.value(*v).name);
        }
        match &st.end {
            StageEnd::Done => {}
            StageEnd::Next { key, shapes } if key.is_empty() && shapes.is_empty() => {}
            StageEnd::Next { key, shapes } => {
                let names: Vec<String> = key.iter().chain(shapes).map(|v| format!("'{}'", g.value(*v).name)).collect();
                let what = if key.is_empty() { "the shapes of" } else { "the values of" };
                let _ = writeln!(
                    s,
                    "  barrier   the next stage is planned once {what} {} are known at run time",
                    names.join(", ")
                );
            }
        }
    }
    let m = MemoryStats::sum(stages.iter().map(|s| &s.memory));
    let dispatches: usize = stages.iter().map(|s| s.steps.len()).sum();
    let _ = writeln!(
        s,
        "stages {}  dispatches {}  arenas {}  peak activation {} B  liveness lower bound {} B  ({:.3}×)  weights {} B  plan constants {} B",
        stages.len(),
        dispatches,
        m.arenas,
        m.peak_activation_bytes,
        m.activation_lower_bound_bytes,
        if m.activation_lower_bound_bytes > 0 {
            m.peak_activation_bytes as f64 / m.activation_lower_bound_bytes as f64
        } else {
            1.0
        },
        m.weight_bytes,
        m.plan_const_bytes
    );
    let by_op = weights_by_op(g, stages);
    if !by_op.is_empty() {
        let parts: Vec<String> =
            by_op.iter().map(|(op, (n, bytes))| format!("{op} {bytes} B ({n} tensor{})", plural(*n))).collect();
        let _ = writeln!(s, "weights by consuming op: {}", parts.join(", "));
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Device weight bytes grouped by the op type of the first dispatch that binds each weight
/// (so a 4-bit model's packed MatMulNBits weights show beside its float embedding tables).
fn weights_by_op<K: KernelInfo>(g: &Graph, stages: &[&Stage<K>]) -> std::collections::BTreeMap<String, (usize, u64)> {
    let mut seen = std::collections::HashSet::new();
    let mut by_op = std::collections::BTreeMap::<String, (usize, u64)>::new();
    for st in stages {
        for (nid, fate) in &st.fates {
            let NodeFate::Dispatch(r) = fate else { continue };
            for step in &st.steps[r.clone()] {
                for b in &step.bindings {
                    if let BufRef::GraphConst { value, .. } = b {
                        if seen.insert(*value) {
                            let bytes = g.value(*value).konst.as_ref().map(|k| k.byte_len() as u64).unwrap_or(0);
                            let e = by_op.entry(g.node(*nid).op_type.clone()).or_default();
                            e.0 += 1;
                            e.1 += bytes;
                        }
                    }
                }
            }
        }
    }
    by_op
}
