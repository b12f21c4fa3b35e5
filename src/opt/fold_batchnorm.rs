//! BatchNormalization folded into the Conv that feeds it (inference mode, constant weights):
//! with `s = scale / √(var + ε)`, `Conv(X, W, B) → BN` becomes `Conv(X, W·s[m], (B − mean)·s + bias)`.
//! The Conv's output must have no other reader; W, B and the four BN parameters must be
//! constants. The new Conv takes the BatchNorm's place and outputs.

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, ValueId};
use crate::tensor::Tensor;

pub struct FoldBatchNorm;

impl Pass for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold-batchnorm"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        while let Some((conv, bn, w, b)) = find(g) {
            let wv = add_const(g, conv, "w", w);
            let bv = add_const(g, conv, "b", b);
            let c = &g.nodes[conv];
            let mut inputs = c.inputs.clone();
            inputs.resize(3, None);
            inputs[1] = Some(wv);
            inputs[2] = Some(bv);
            g.nodes[bn] = Node { inputs, outputs: g.nodes[bn].outputs.clone(), ..c.clone() };
            g.nodes.remove(conv);
            g.relink();
            changed = true;
        }
        Ok(changed)
    }
}

fn add_const(g: &mut Graph, conv: usize, what: &str, t: Tensor) -> ValueId {
    let name = format!("{}.bn_folded_{what}", g.nodes[conv].label(g));
    g.add_const(&name, t)
}

/// (Conv index, BatchNorm index, folded W, folded B).
fn find(g: &Graph) -> Option<(usize, usize, Tensor, Tensor)> {
    let cons = g.consumers();
    for (j, n) in g.nodes.iter().enumerate() {
        let Op::BatchNorm(bn) = &n.op else { continue };
        if n.outputs.iter().skip(1).any(|o| o.is_some()) {
            continue;
        }
        let Some(Some(y)) = n.inputs.first().copied() else { continue };
        let Some(ci) = g.value(y).producer.filter(|p| p.list == 0).map(|p| p.idx()) else { continue };
        let c = &g.nodes[ci];
        if !matches!(c.op, Op::Conv(_)) || cons[y.idx()].len() != 1 || g.outputs.contains(&y) {
            continue;
        }
        if g.subgraphs.iter().any(|s| s.nodes.iter().any(|sn| sn.reads().any(|v| v == y))) {
            continue;
        }
        let konst = |v: Option<ValueId>| v.and_then(|v| g.value(v).konst.as_ref());
        let Some(w) = konst(c.inputs.get(1).copied().flatten()) else { continue };
        let bias_in = c.inputs.get(2).copied().flatten();
        let b = match bias_in {
            Some(_) => match konst(bias_in) {
                Some(b) => Some(b),
                None => continue,
            },
            None => None,
        };
        let p: Option<Vec<&Tensor>> = (1..5).map(|i| konst(n.inputs.get(i).copied().flatten())).collect();
        let Some(p) = p else { continue };
        if let Some(r) = fold(w, b, &p, bn.epsilon) {
            return Some((ci, j, r.0, r.1));
        }
    }
    None
}

/// The folded weights and bias, or `None` when the shapes do not fit.
fn fold(w: &Tensor, b: Option<&Tensor>, p: &[&Tensor], eps: f32) -> Option<(Tensor, Tensor)> {
    let m = *w.shape().first()?;
    let pv: Vec<Vec<f64>> = p.iter().map(|t| t.to_f64_vec().ok()).collect::<Option<_>>()?;
    if pv.iter().any(|v| v.len() != m) {
        return None;
    }
    let (scale, bias, mean, var) = (&pv[0], &pv[1], &pv[2], &pv[3]);
    let s: Vec<f64> = (0..m).map(|i| scale[i] / (var[i] + eps as f64).sqrt()).collect();
    let mut wv = w.to_f64_vec().ok()?;
    let per = wv.len() / m;
    for (i, e) in wv.iter_mut().enumerate() {
        *e *= s[i / per];
    }
    let bv = match b {
        Some(b) => b.to_f64_vec().ok()?,
        None => vec![0.0; m],
    };
    if bv.len() != m {
        return None;
    }
    let nb: Vec<f64> = (0..m).map(|i| (bv[i] - mean[i]) * s[i] + bias[i]).collect();
    Some((Tensor::from_f64(w.dtype(), w.shape(), &wv).ok()?, Tensor::from_f64(w.dtype(), &[m], &nb).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::tensor::DType;
    use crate::{Backend, Session};

    fn ramp(shape: &[usize], scale: f32, off: f32) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new(shape, (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) * scale + off).collect::<Vec<f32>>()).unwrap()
    }

    #[test]
    fn conv_batchnorm_becomes_one_conv() {
        // before: Conv(x, w) → BatchNormalization → Relu; after: Conv(x, w', b') → Relu
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 3, 4, 4]);
        b.initializer("w", ramp(&[2, 3, 3, 3], 0.1, 0.0));
        for (name, off) in [("scale", 1.0), ("bias", 0.2), ("mean", 0.1), ("var", 2.0)] {
            b.initializer(name, ramp(&[2], 0.05, off));
        }
        b.node("Conv", &["x", "w"], &["y"], &[]);
        b.node("BatchNormalization", &["y", "scale", "bias", "mean", "var"], &["z"], &[]);
        b.node("Relu", &["z"], &["out"], &[]);
        b.output("out", DType::F32, &[1, 2, 2, 2]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FoldBatchNorm.run(&mut g).unwrap());
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Conv", "Unary"]);
        assert_eq!(g.nodes[0].inputs.len(), 3);
        let x = ramp(&[1, 3, 4, 4], 0.3, 0.1);
        let run = |opt: bool| {
            let s = Session::builder().backend(Backend::Cpu).optimize(opt).from_bytes(&bytes).unwrap();
            s.run(&[("x", x.clone())]).unwrap().into_vec().remove(0).1.to_f64_vec().unwrap()
        };
        for (a, b) in run(false).iter().zip(run(true)) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
        }
    }
}
