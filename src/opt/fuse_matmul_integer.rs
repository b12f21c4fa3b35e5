//! MatMulInteger → Cast(float) → Mul(·, a_scale · b_scale) becomes one com.microsoft
//! `MatMulIntegerToFloat` node, as ONNX Runtime's MatMulIntegerToFloatFusion does for the
//! graphs its dynamic quantizer writes (DynamicQuantizeLinear → MatMulInteger → Cast → Mul).
//! Conditions: the int32 product and its float cast each have exactly one reader and are not
//! graph outputs or read by subgraphs; the multiplier is a `Mul` of two f32 values, one of
//! them a scalar (A's scale) and the other a scalar or a vector of B's last dim (B's scale per
//! column). A following `Add` of a constant f32 vector of B's last dim becomes the bias input
//! (ORT fuses it too). The fused node takes the last absorbed node's place in the order; the
//! scale product node stays for dead-code removal when nothing else reads it.

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, ValueId};
use crate::ops::elementwise::BinaryOp;
use crate::ops::qoperator::MatMulIntegerToFloat;
use crate::tensor::DType;

pub struct FuseMatMulInteger;

impl Pass for FuseMatMulInteger {
    fn name(&self) -> &'static str {
        "fuse-matmul-integer"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        // Every rewrite removes at least one node.
        Ok(super::rewrite_all(g, find, apply))
    }
}

struct Rewrite {
    /// The nodes that go (the MatMulInteger, the Cast, and the Mul when a bias Add is absorbed).
    gone: Vec<usize>,
    /// The last absorbed node (the Mul or the bias Add), whose place the fused node takes.
    place: usize,
    node: Node,
}

/// The main-graph readers of each value.
fn readers(g: &Graph) -> Vec<Vec<usize>> {
    let mut r = vec![Vec::new(); g.values.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        for v in n.reads() {
            r[v.idx()].push(i);
        }
    }
    r
}

/// The single main-graph reader of `v`, when `v` is not visible anywhere else.
fn sole_reader(g: &Graph, readers: &[Vec<usize>], hidden: &[bool], v: ValueId) -> Option<usize> {
    if hidden[v.idx()] || g.outputs.contains(&v) {
        return None;
    }
    match readers[v.idx()].as_slice() {
        [r] => Some(*r),
        _ => None,
    }
}

/// The known dims of `v`.
fn dims(g: &Graph, v: ValueId) -> Option<Vec<usize>> {
    g.value(v).ty.as_ref()?.dims.iter().map(|d| d.known()).collect()
}

fn f32_value(g: &Graph, v: ValueId) -> bool {
    g.value(v).ty.as_ref().is_some_and(|t| t.dtype == DType::F32)
}

fn find(g: &Graph) -> Option<Rewrite> {
    let readers = readers(g);
    let hidden = hidden_reads(g);
    g.nodes.iter().enumerate().find_map(|(i, n)| {
        if !matches!(n.op, Op::MatMulInteger(_)) {
            return None;
        }
        let prod = n.outputs.first().copied().flatten()?;
        let c = sole_reader(g, &readers, &hidden, prod)?;
        let cast = &g.nodes[c];
        if !matches!(&cast.op, Op::Cast(k) if k.to == DType::F32) {
            return None;
        }
        let cast_out = cast.outputs.first().copied().flatten()?;
        let m = sole_reader(g, &readers, &hidden, cast_out)?;
        let mul = &g.nodes[m];
        if !matches!(&mul.op, Op::Binary(b) if b.op == BinaryOp::Mul) || mul.inputs.len() != 2 {
            return None;
        }
        let other = match (mul.inputs[0]?, mul.inputs[1]?) {
            (a, b) if a == cast_out && b != cast_out => b,
            (a, b) if b == cast_out && a != cast_out => a,
            _ => return None,
        };
        // The multiplier: Mul(a_scale, b_scale) computed in the main graph.
        let sp = g.value(other).producer.filter(|p| p.list == 0)?;
        let sm = &g.nodes[sp.idx()];
        if !matches!(&sm.op, Op::Binary(b) if b.op == BinaryOp::Mul) || sm.inputs.len() != 2 {
            return None;
        }
        let (x, y) = (sm.inputs[0]?, sm.inputs[1]?);
        let out = mul.outputs.first().copied().flatten()?;
        if ![x, y, other, out].iter().all(|&v| f32_value(g, v)) {
            return None;
        }
        let n_cols = *dims(g, n.inputs.get(1).copied().flatten()?)?.last()?;
        let scalar = |v: ValueId| dims(g, v).is_some_and(|d| d.iter().product::<usize>() == 1 && d.len() <= 1);
        let column = |v: ValueId| scalar(v) || dims(g, v).is_some_and(|d| d == [n_cols]);
        let (a_scale, b_scale) = if scalar(x) && column(y) {
            (x, y)
        } else if scalar(y) && column(x) {
            (y, x)
        } else {
            return None;
        };
        // The product's shape must be the Mul's (the multiplier only broadcasts into it).
        if dims(g, prod)? != dims(g, out)? {
            return None;
        }
        let zp = |k: usize| n.inputs.get(k).copied().flatten();
        let mut inputs = vec![n.inputs[0], n.inputs[1], Some(a_scale), Some(b_scale), zp(2), zp(3)];
        // A following Add of a constant f32 vector of N elements becomes the bias input.
        let (mut place, mut gone, mut out, mut name) = (m, vec![i, c], out, mul.name.clone());
        if let Some(a) = sole_reader(g, &readers, &hidden, out) {
            let add = &g.nodes[a];
            if matches!(&add.op, Op::Binary(b) if b.op == BinaryOp::Add) && add.inputs.len() == 2 {
                let bias = match (add.inputs[0], add.inputs[1]) {
                    (Some(p), Some(q)) if p == out => Some(q),
                    (Some(p), Some(q)) if q == out => Some(p),
                    _ => None,
                };
                let add_out = add.outputs.first().copied().flatten();
                if let (Some(bias), Some(add_out)) = (bias, add_out) {
                    let konst = g.value(bias).konst.as_ref();
                    if konst.is_some_and(|t| t.dtype() == DType::F32 && t.shape() == [n_cols]) && f32_value(g, add_out)
                    {
                        inputs.push(Some(bias));
                        gone.push(m);
                        (place, out, name) = (a, add_out, add.name.clone());
                    }
                }
            }
        }
        let node = Node {
            name,
            op_type: "MatMulIntegerToFloat".into(),
            domain: "com.microsoft".into(),
            opset: 1,
            op: Op::MatMulIntegerToFloat(MatMulIntegerToFloat { dynamic: false }),
            inputs,
            outputs: vec![Some(out)],
            captures: vec![],
        };
        Some(Rewrite { gone, place, node })
    })
}

fn apply(g: &mut Graph, rw: Rewrite) {
    g.nodes[rw.place] = rw.node;
    let mut gone = rw.gone;
    gone.sort_unstable();
    for d in gone.into_iter().rev() {
        g.nodes.remove(d);
    }
    g.relink();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::tensor::Tensor;
    use crate::{Backend, Session};

    /// DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale product) → Add bias, as ORT's
    /// dynamic quantizer writes it.
    fn model(b_scale_per_column: bool) -> Vec<u8> {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3, 8]);
        let w: Vec<i8> = (0..8 * 5).map(|i| ((i * 37) % 255) as i8).collect();
        b.initializer("w", Tensor::new(&[8, 5], w).unwrap());
        b.initializer("wz", Tensor::scalar(3i8));
        let ws = if b_scale_per_column {
            Tensor::new(&[5], vec![0.01f32, 0.02, 0.03, 0.015, 0.025]).unwrap()
        } else {
            Tensor::scalar(0.02f32)
        };
        b.initializer("ws", ws);
        b.initializer("bias", Tensor::new(&[5], vec![0.5f32, -0.25, 0.0, 1.0, -1.0]).unwrap());
        b.node("DynamicQuantizeLinear", &["x"], &["xq", "xs", "xz"], &[]);
        b.node("Mul", &["xs", "ws"], &["s"], &[]);
        b.node("MatMulInteger", &["xq", "w", "xz", "wz"], &["acc"], &[]);
        b.node("Cast", &["acc"], &["accf"], &[("to", 1i64.into())]);
        b.node("Mul", &["accf", "s"], &["y0"], &[]);
        b.node("Add", &["y0", "bias"], &["y"], &[]);
        b.output("y", DType::F32, &[3, 5]);
        b.to_bytes()
    }

    fn kinds(g: &Graph) -> Vec<String> {
        g.nodes.iter().map(|n| n.op_type.clone()).collect()
    }

    #[test]
    fn dynamic_quantized_matmul_becomes_matmul_integer_to_float() {
        for per_column in [false, true] {
            let bytes = model(per_column);
            let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
            assert_eq!(kinds(&g), ["DynamicQuantizeLinear", "Mul", "MatMulInteger", "Cast", "Mul", "Add"]);
            assert!(FuseMatMulInteger.run(&mut g).unwrap());
            assert_eq!(kinds(&g), ["DynamicQuantizeLinear", "Mul", "MatMulIntegerToFloat"]);
            assert_eq!(g.nodes[2].inputs.len(), 7, "the bias Add is absorbed");
            assert!(!FuseMatMulInteger.run(&mut g).unwrap(), "a second run changes nothing");
            // Optimized and unoptimized sessions agree.
            let x = Tensor::new(&[3, 8], (0..24).map(|i| (i as f32 * 0.37).sin() * 3.0).collect::<Vec<f32>>()).unwrap();
            let run = |opt: bool| {
                let s = Session::builder().backend(Backend::Cpu).optimize(opt).from_bytes(&bytes).unwrap();
                s.run(&[("x", x.clone())]).unwrap().0.remove(0).1.to_f64_vec().unwrap()
            };
            let (a, b) = (run(true), run(false));
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-6 * q.abs().max(1.0), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn a_product_read_twice_is_not_fused() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 4]);
        b.initializer("w", Tensor::new(&[4, 2], vec![1i8, -2, 3, -4, 5, -6, 7, -8]).unwrap());
        b.initializer("ws", Tensor::scalar(0.5f32));
        b.node("DynamicQuantizeLinear", &["x"], &["xq", "xs", "xz"], &[]);
        b.node("Mul", &["xs", "ws"], &["s"], &[]);
        b.node("MatMulInteger", &["xq", "w", "xz"], &["acc"], &[]);
        b.node("Cast", &["acc"], &["accf"], &[("to", 1i64.into())]);
        b.node("Mul", &["accf", "s"], &["y"], &[]);
        b.output("y", DType::F32, &[2, 2]);
        b.output("acc", DType::I32, &[2, 2]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert!(!FuseMatMulInteger.run(&mut g).unwrap());
    }
}
