//! Pattern recognition of un-fused exports into single kernels:
//! - Gelu, erf form: `x · 0.5 · (1 + Erf(x / √2))` (the division may be a multiplication by
//!   1/√2; the three factors in any association and order) → `Gelu`;
//! - Gelu, tanh form: `x · 0.5 · (1 + Tanh(√(2/π) · (x + 0.044715 · x³)))` with `x³` as
//!   `Pow(x, 3)` → `Gelu` with `approximate = "tanh"`;
//! - LayerNormalization over the last axis: `d = x − ReduceMean(x)`, `v = ReduceMean(d²)`
//!   (`Pow(d, 2)` or `d · d`), `(d / Sqrt(v + ε)) · γ + β` (γ, β constants, either operand
//!   order) → `LayerNormalization(x, γ, β)`.
//!
//! Every intermediate must be read only inside the pattern (not by other nodes, subgraphs or
//! graph outputs); the recognized node takes the pattern's last node's place. Constants must
//! match to 1e-4 (relative).

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, NodeId, Op, ValueId};
use crate::ops::elementwise::{BinaryOp, Unary, UnaryOp};
use crate::ops::norm::LayerNorm;
use crate::ops::reduce::ReduceKind;
use crate::tensor::DType;

pub struct Recognize;

impl Pass for Recognize {
    fn name(&self) -> &'static str {
        "recognize"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        while let Some(m) = find(g) {
            let last = m.last;
            let n = &g.nodes[last];
            g.nodes[last] = Node {
                name: n.name.clone(),
                op_type: m.op_type.into(),
                domain: n.domain.clone(),
                opset: n.opset,
                op: m.op,
                inputs: m.inputs,
                outputs: n.outputs.clone(),
                captures: vec![],
            };
            let mut drop = m.drop;
            drop.sort_unstable();
            drop.dedup();
            for d in drop.into_iter().rev() {
                g.nodes.remove(d);
            }
            g.relink();
            changed = true;
        }
        Ok(changed)
    }
}

struct Match {
    last: usize,
    drop: Vec<usize>,
    op: Op,
    op_type: &'static str,
    inputs: Vec<Option<ValueId>>,
}

/// Read-only views of the graph the matchers share.
struct Cx<'a> {
    g: &'a Graph,
    cons: Vec<Vec<NodeId>>,
    hidden: Vec<bool>,
}

impl Cx<'_> {
    /// The main-graph node producing `v` when `v` is read by exactly one node and nothing else.
    fn inner(&self, v: ValueId) -> Option<usize> {
        let p = self.g.value(v).producer?;
        (p.list == 0 && self.cons[v.idx()].len() == 1 && !self.hidden[v.idx()]).then_some(p.idx())
    }
    fn node(&self, i: usize) -> &Node {
        &self.g.nodes[i]
    }
    fn binary(&self, i: usize, op: BinaryOp) -> Option<[ValueId; 2]> {
        let n = self.node(i);
        match (&n.op, &n.inputs[..]) {
            (Op::Binary(b), [Some(a), Some(c)]) if b.op == op && n.outputs.len() == 1 => Some([*a, *c]),
            _ => None,
        }
    }
    fn unary(&self, i: usize, op: UnaryOp) -> Option<ValueId> {
        let n = self.node(i);
        match (&n.op, &n.inputs[..]) {
            (Op::Unary(u), [Some(a)]) if u.op == op && n.outputs.len() == 1 => Some(*a),
            _ => None,
        }
    }
    /// A scalar constant's value.
    fn konst(&self, v: ValueId) -> Option<f64> {
        let k = self.g.value(v).konst.as_ref()?;
        if k.numel() != 1 {
            return None;
        }
        k.to_f64_vec().ok()?.first().copied()
    }
    fn is(&self, v: ValueId, want: f64) -> bool {
        self.konst(v).is_some_and(|x| (x - want).abs() <= 1e-4 * want.abs())
    }
    /// `(other, node)` when `v` is `op(other, c)` or `op(c, other)` with constant `c ≈ want`
    /// (only `op(other, c)` for non-commutative ops).
    fn with_const(&self, v: ValueId, op: BinaryOp, want: f64) -> Option<(ValueId, usize)> {
        let i = self.inner(v)?;
        let [a, b] = self.binary(i, op)?;
        if self.is(b, want) {
            return Some((a, i));
        }
        let commutes = matches!(op, BinaryOp::Add | BinaryOp::Mul);
        (commutes && self.is(a, want)).then_some((b, i))
    }
}

fn find(g: &Graph) -> Option<Match> {
    let cx = Cx { g, cons: g.consumers(), hidden: hidden_reads(g) };
    (0..g.nodes.len()).find_map(|i| gelu(&cx, i).or_else(|| layer_norm(&cx, i)))
}

/// `x · 0.5 · (1 + inner)` rooted at Mul node `f`: (x, the Add producing `1 + inner`, the
/// inner value, the absorbed nodes).
fn half_x_one_plus(cx: &Cx, f: usize) -> Option<(ValueId, ValueId, Vec<usize>)> {
    let [u, w] = cx.binary(f, BinaryOp::Mul)?;
    for (u, w) in [(u, w), (w, u)] {
        let Some(i) = cx.inner(w) else { continue };
        let Some([p, q]) = cx.binary(i, BinaryOp::Mul) else { continue };
        let factors = [u, p, q];
        let Some(h) = factors.iter().position(|&v| cx.is(v, 0.5)) else { continue };
        let rest: Vec<ValueId> = (0..3).filter(|&k| k != h).map(|k| factors[k]).collect();
        for (x, a) in [(rest[0], rest[1]), (rest[1], rest[0])] {
            if let Some((inner, ai)) = cx.with_const(a, BinaryOp::Add, 1.0) {
                return Some((x, inner, vec![i, ai]));
            }
        }
    }
    None
}

fn gelu(cx: &Cx, f: usize) -> Option<Match> {
    let (x, inner, mut drop) = half_x_one_plus(cx, f)?;
    let e = cx.inner(inner)?;
    let approximate = if let Some(d) = cx.unary(e, UnaryOp::Erf) {
        let (y, di) = cx
            .with_const(d, BinaryOp::Div, std::f64::consts::SQRT_2)
            .or_else(|| cx.with_const(d, BinaryOp::Mul, std::f64::consts::FRAC_1_SQRT_2))?;
        if y != x {
            return None;
        }
        drop.extend([e, di]);
        false
    } else {
        let m = cx.unary(e, UnaryOp::Tanh)?;
        let (s, mi) = cx.with_const(m, BinaryOp::Mul, (2.0 / std::f64::consts::PI).sqrt())?;
        let si = cx.inner(s)?;
        let [a, b] = cx.binary(si, BinaryOp::Add)?;
        let q = if a == x {
            b
        } else if b == x {
            a
        } else {
            return None;
        };
        let (p, qi) = cx.with_const(q, BinaryOp::Mul, 0.044715)?;
        let pi = cx.inner(p)?;
        let [base, exp] = cx.binary(pi, BinaryOp::Pow)?;
        if base != x || !cx.is(exp, 3.0) {
            return None;
        }
        drop.extend([e, mi, si, qi, pi]);
        true
    };
    let op = if approximate { UnaryOp::GeluTanh } else { UnaryOp::Gelu };
    Some(Match {
        last: f,
        drop,
        op: Op::Unary(Unary { op, alpha: 0.0, beta: 0.0 }),
        op_type: "Gelu",
        inputs: vec![Some(x)],
    })
}

/// A ReduceMean over the last axis only, keeping dims, at node `i`: its input.
fn mean_last(cx: &Cx, i: usize) -> Option<ValueId> {
    let n = cx.node(i);
    let Op::Reduce(r) = &n.op else { return None };
    let x = n.inputs.first().copied().flatten()?;
    let rank = cx.g.value(x).ty.as_ref()?.dims.len() as i64;
    let axes = if r.axes_input {
        cx.g.value(n.inputs.get(1).copied().flatten()?).konst.as_ref()?.to_i64_vec().ok()?
    } else {
        r.axes.clone()?
    };
    let last = matches!(axes[..], [a] if a == -1 || a == rank - 1);
    (r.kind == ReduceKind::Mean && r.keepdims && last && rank >= 1).then_some(x)
}

fn layer_norm(cx: &Cx, o: usize) -> Option<Match> {
    // o = Add(m, β); m = Mul(n, γ); n = Div(d, s); s = Sqrt(Add(v, ε)); v = Mean(d²); d = x − Mean(x)
    let g = cx.g;
    let [a, b] = cx.binary(o, BinaryOp::Add)?;
    let is_const = |v: ValueId| g.value(v).konst.is_some();
    let (m, beta) = if is_const(b) {
        (a, b)
    } else if is_const(a) {
        (b, a)
    } else {
        return None;
    };
    let mi = cx.inner(m)?;
    let [a, b] = cx.binary(mi, BinaryOp::Mul)?;
    let (nv, gamma) = if is_const(b) {
        (a, b)
    } else if is_const(a) {
        (b, a)
    } else {
        return None;
    };
    let ni = cx.inner(nv)?;
    let [d, s] = cx.binary(ni, BinaryOp::Div)?;
    let si = cx.inner(s)?;
    let av = cx.unary(si, UnaryOp::Sqrt)?;
    let ai = cx.inner(av)?;
    let [v, e] = cx.binary(ai, BinaryOp::Add)?;
    let (v, eps) = match (cx.konst(e), cx.konst(v)) {
        (Some(x), _) => (v, x),
        (None, Some(x)) => (e, x),
        _ => return None,
    };
    let vi = cx.inner(v)?;
    let sq = mean_last(cx, vi)?;
    let qi = cx.inner(sq)?;
    let sq_ok = match cx.binary(qi, BinaryOp::Pow) {
        Some([base, p]) => base == d && cx.is(p, 2.0),
        None => cx.binary(qi, BinaryOp::Mul) == Some([d, d]),
    };
    // d is read by the square and the division (exactly those two nodes).
    let dp = g.value(d).producer?;
    let dcons: Vec<usize> = cx.cons[d.idx()].iter().map(|c| c.idx()).collect();
    if !sq_ok || dp.list != 0 || cx.hidden[d.idx()] || dcons.len() != 2 || !dcons.contains(&qi) || !dcons.contains(&ni)
    {
        return None;
    }
    let di = dp.idx();
    let [x, mu] = cx.binary(di, BinaryOp::Sub)?;
    let mui = cx.inner(mu)?;
    if mean_last(cx, mui)? != x {
        return None;
    }
    // γ and β are per-channel vectors of the last axis (or scalars) of x's type.
    let xty = g.value(x).ty.as_ref()?;
    let c = xty.dims.last()?.known()?;
    for p in [gamma, beta] {
        let k = g.value(p).konst.as_ref()?;
        let s = k.shape();
        if k.dtype() != xty.dtype || !(s.iter().product::<usize>() == c && s.last() == Some(&c)) {
            return None;
        }
    }
    if !matches!(xty.dtype, DType::F32 | DType::F16 | DType::BF16) {
        return None;
    }
    Some(Match {
        last: o,
        drop: vec![mi, ni, si, ai, vi, qi, di, mui],
        op: Op::LayerNorm(LayerNorm { axis: -1, epsilon: eps as f32, stash: DType::F32 }),
        op_type: "LayerNormalization",
        inputs: vec![Some(x), Some(gamma), Some(beta)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::opt::testutil::{ramp, same_outputs};
    use crate::tensor::Tensor;

    fn kinds(g: &Graph) -> Vec<String> {
        g.nodes.iter().map(|n| n.op.kind().to_string()).collect()
    }

    #[test]
    fn gelu_erf_and_tanh_forms_are_recognized() {
        // before: erf form as bert exports it, then the tanh form as gpt2 exports it
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 5]);
        for (n, v) in [("s2", std::f32::consts::SQRT_2), ("one", 1.0), ("half", 0.5), ("three", 3.0)] {
            b.initializer(n, Tensor::scalar(v));
        }
        b.initializer("c1", Tensor::scalar(0.044715f32));
        b.initializer("c2", Tensor::scalar((2.0f32 / std::f32::consts::PI).sqrt()));
        b.node("Div", &["x", "s2"], &["d"], &[]);
        b.node("Erf", &["d"], &["e"], &[]);
        b.node("Add", &["e", "one"], &["a"], &[]);
        b.node("Mul", &["half", "a"], &["h"], &[]);
        b.node("Mul", &["x", "h"], &["y"], &[]);
        b.node("Mul", &["y", "half"], &["yh"], &[]);
        b.node("Pow", &["y", "three"], &["p"], &[]);
        b.node("Mul", &["p", "c1"], &["q"], &[]);
        b.node("Add", &["y", "q"], &["s"], &[]);
        b.node("Mul", &["s", "c2"], &["m"], &[]);
        b.node("Tanh", &["m"], &["t"], &[]);
        b.node("Add", &["one", "t"], &["u"], &[]);
        b.node("Mul", &["yh", "u"], &["out"], &[]);
        b.output("out", DType::F32, &[2, 5]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert_eq!(g.nodes.len(), 13);
        assert!(Recognize.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["Unary", "Unary"]);
        let ops: Vec<UnaryOp> =
            g.nodes.iter().map(|n| if let Op::Unary(u) = &n.op { u.op } else { panic!() }).collect();
        assert_eq!(ops, [UnaryOp::Gelu, UnaryOp::GeluTanh]);
        same_outputs(&bytes, ramp(&[2, 5], 0.6), 1e-5);
    }

    #[test]
    fn layer_norm_by_parts_is_recognized() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3, 4]);
        b.initializer("two", Tensor::scalar(2f32));
        b.initializer("eps", Tensor::scalar(1e-5f32));
        b.initializer("gamma", ramp(&[4], 0.5));
        b.initializer("beta", ramp(&[4], 0.2));
        let axes = ("axes", vec![-1i64].into());
        b.node("ReduceMean", &["x"], &["mu"], std::slice::from_ref(&axes));
        b.node("Sub", &["x", "mu"], &["d"], &[]);
        b.node("Pow", &["d", "two"], &["sq"], &[]);
        b.node("ReduceMean", &["sq"], &["v"], &[axes]);
        b.node("Add", &["v", "eps"], &["ve"], &[]);
        b.node("Sqrt", &["ve"], &["s"], &[]);
        b.node("Div", &["d", "s"], &["n"], &[]);
        b.node("Mul", &["n", "gamma"], &["m"], &[]);
        b.node("Add", &["m", "beta"], &["out"], &[]);
        b.output("out", DType::F32, &[3, 4]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert_eq!(g.nodes.len(), 9);
        assert!(Recognize.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["LayerNorm"]);
        same_outputs(&bytes, ramp(&[3, 4], 0.8), 1e-5);
    }
}
