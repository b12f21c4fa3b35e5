//! Einsum (ai.onnx): an equation `term,term,…[->term]` whose terms are letters and at most one
//! ellipsis. A letter repeated within one term takes the diagonal, letters absent from the
//! output are summed over, ellipsis dims broadcast (right-aligned) across the operands, and
//! without `->` the output is the ellipsis dims followed by the letters used exactly once,
//! in alphabetical order. Size-1 dims broadcast against the same label's larger size.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::strides;
use crate::tensor::{Dim, Tensor};

/// One term: letters (as bytes) and where the ellipsis sits, if any.
#[derive(Clone, Debug)]
struct Term {
    letters: Vec<u8>,
    /// Index into `letters` at which the ellipsis dims are inserted.
    ellipsis: Option<usize>,
}

fn parse_term(t: &str) -> Result<Term, String> {
    let mut letters = Vec::new();
    let mut ellipsis = None;
    let b = t.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' {
            if b.get(i + 1) != Some(&b'.') || b.get(i + 2) != Some(&b'.') || ellipsis.is_some() {
                return Err(format!("malformed ellipsis in einsum term '{t}'"));
            }
            ellipsis = Some(letters.len());
            i += 3;
        } else if b[i].is_ascii_alphabetic() {
            letters.push(b[i]);
            i += 1;
        } else {
            return Err(format!("unexpected character '{}' in einsum term '{t}'", b[i] as char));
        }
    }
    Ok(Term { letters, ellipsis })
}

/// Einsum with its parsed equation.
#[derive(Clone, Debug)]
pub struct Einsum {
    pub equation: String,
    inputs: Vec<Term>,
    output: Option<Term>,
}

/// Labels: letters are their byte value; ellipsis dim k (of `n_ell`, right-aligned) is 256 + k.
struct Resolved {
    /// Per input, the label of each axis.
    inputs: Vec<Vec<usize>>,
    output: Vec<usize>,
}

impl Einsum {
    pub fn new(equation: &str) -> Result<Einsum, String> {
        let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l, Some(r)),
            None => (eq.as_str(), None),
        };
        let inputs = lhs.split(',').map(parse_term).collect::<Result<Vec<_>, _>>()?;
        let output = rhs.map(parse_term).transpose()?;
        if let Some(o) = &output {
            let mut seen = std::collections::HashSet::new();
            for &l in &o.letters {
                if !seen.insert(l) {
                    return Err(format!("output label '{}' repeats in '{equation}'", l as char));
                }
                if !inputs.iter().any(|t| t.letters.contains(&l)) {
                    return Err(format!("output label '{}' is not in any input of '{equation}'", l as char));
                }
            }
        }
        Ok(Einsum { equation: equation.to_string(), inputs, output })
    }

    fn resolve(&self, ranks: &[usize]) -> Result<Resolved, String> {
        if ranks.len() != self.inputs.len() {
            return Err(format!("equation '{}' has {} inputs, got {}", self.equation, self.inputs.len(), ranks.len()));
        }
        let mut n_ell = 0;
        let mut ells = Vec::new();
        for (t, &r) in self.inputs.iter().zip(ranks) {
            let e = r
                .checked_sub(t.letters.len())
                .ok_or_else(|| format!("einsum term has {} labels for a rank-{r} input", t.letters.len()))?;
            if e > 0 && t.ellipsis.is_none() {
                return Err(format!("einsum term has {} labels for a rank-{r} input", t.letters.len()));
            }
            n_ell = n_ell.max(e);
            ells.push(e);
        }
        let expand = |t: &Term, e: usize| -> Vec<usize> {
            let mut out: Vec<usize> = t.letters.iter().map(|&l| l as usize).collect();
            if let Some(p) = t.ellipsis {
                let ell: Vec<usize> = (n_ell - e..n_ell).map(|k| 256 + k).collect();
                out.splice(p..p, ell);
            }
            out
        };
        let inputs: Vec<Vec<usize>> = self.inputs.iter().zip(&ells).map(|(t, &e)| expand(t, e)).collect();
        let output = match &self.output {
            Some(o) => {
                if o.ellipsis.is_none() && n_ell > 0 {
                    return Err(format!(
                        "'{}' has ellipsis dims in its inputs but no ellipsis in its output",
                        self.equation
                    ));
                }
                expand(o, n_ell)
            }
            None => {
                let mut count = [0usize; 256];
                for t in &self.inputs {
                    for &l in &t.letters {
                        count[l as usize] += 1;
                    }
                }
                let mut out: Vec<usize> = (0..n_ell).map(|k| 256 + k).collect();
                let mut once: Vec<usize> = (0..256).filter(|&l| count[l] == 1).collect();
                once.sort_unstable();
                out.extend(once);
                out
            }
        };
        Ok(Resolved { inputs, output })
    }
}

/// The size of every label, checking that the operands agree (size 1 broadcasts).
fn label_sizes(r: &Resolved, dims: &[Vec<Dim>]) -> Result<std::collections::BTreeMap<usize, Dim>, String> {
    let mut sizes: std::collections::BTreeMap<usize, Dim> = std::collections::BTreeMap::new();
    for (labels, ds) in r.inputs.iter().zip(dims) {
        for (&l, d) in labels.iter().zip(ds) {
            let cur = sizes.entry(l).or_insert(Dim::Known(1));
            *cur = match (cur.known(), d.known()) {
                (Some(1), _) => d.clone(),
                (_, Some(1)) => cur.clone(),
                (Some(a), Some(b)) if a != b => {
                    return Err(format!("einsum label sizes disagree: {a} vs {b}"));
                }
                (Some(_), _) => cur.clone(),
                _ => d.clone(),
            };
        }
    }
    Ok(sizes)
}

/// How [`Einsum`] indexes its operands for concrete shapes: every label (the output's first,
/// then the summed ones) with its size, and per input the element stride of each label
/// (repeated axes add up, taking the diagonal; size-1 axes get 0, broadcasting).
#[derive(Clone, Debug)]
pub struct EinsumIndex {
    pub out_shape: Vec<usize>,
    /// The first `n_out_labels` labels are the output's axes; the rest are summed.
    pub n_out_labels: usize,
    pub lsize: Vec<usize>,
    pub in_strides: Vec<Vec<usize>>,
}

impl Einsum {
    /// The index plan for inputs of `shapes`.
    pub fn index_plan(&self, shapes: &[&[usize]]) -> Result<EinsumIndex, String> {
        let r = self.resolve(&shapes.iter().map(|s| s.len()).collect::<Vec<_>>())?;
        let dims: Vec<Vec<Dim>> = shapes.iter().map(|s| s.iter().map(|&d| Dim::Known(d)).collect()).collect();
        let sizes = label_sizes(&r, &dims)?;
        let size = |l: &usize| sizes.get(l).and_then(|d| d.known()).unwrap_or(1);
        // All labels: output ones first, then the summed ones.
        let mut labels = r.output.clone();
        for l in sizes.keys() {
            if !labels.contains(l) {
                labels.push(*l);
            }
        }
        let lsize: Vec<usize> = labels.iter().map(size).collect();
        let out_shape: Vec<usize> = r.output.iter().map(size).collect();
        // Per input, the stride of each label (sum over repeated axes = diagonal; 0 = broadcast).
        let in_strides: Vec<Vec<usize>> = shapes
            .iter()
            .zip(&r.inputs)
            .map(|(shape, ls)| {
                let st = strides(shape);
                labels
                    .iter()
                    .map(|l| ls.iter().enumerate().filter(|&(a, x)| x == l && shape[a] != 1).map(|(a, _)| st[a]).sum())
                    .collect()
            })
            .collect();
        Ok(EinsumIndex { out_shape, n_out_labels: r.output.len(), lsize, in_strides })
    }
}

impl OpSpec for Einsum {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let ins: Vec<_> = (0..cx.inputs.len()).map(|i| cx.input(i)).collect::<Result<_, _>>()?;
        let dt = ins.first().ok_or("Einsum needs at least one input")?.dtype;
        if !(dt.is_float() || dt.is_int()) || ins.iter().any(|x| x.dtype != dt) {
            return Err("Einsum inputs must share one numeric dtype".into());
        }
        let r = self.resolve(&ins.iter().map(|x| x.rank()).collect::<Vec<_>>())?;
        let dims: Vec<Vec<Dim>> = ins.iter().map(|x| x.dims.clone()).collect();
        let sizes = label_sizes(&r, &dims)?;
        let out = r.output.iter().map(|l| sizes.get(l).cloned().unwrap_or(Dim::Known(1))).collect();
        Ok(vec![vt(dt, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let ts: Vec<&Tensor> = (0..inputs.len()).map(|i| need(inputs, i)).collect::<Result<_, _>>()?;
        let dt = ts.first().ok_or("Einsum needs at least one input")?.dtype();
        if ts.iter().any(|t| t.dtype() != dt) {
            return Err("Einsum inputs must share one dtype".into());
        }
        let shapes: Vec<&[usize]> = ts.iter().map(|t| t.shape()).collect();
        let EinsumIndex { out_shape, n_out_labels: n_o, lsize, in_strides } = self.index_plan(&shapes)?;
        let n_out: usize = out_shape.iter().product();
        let total: usize = lsize.iter().product();
        let ints = dt.is_int();
        let fvals: Vec<Vec<f64>> =
            if ints { Vec::new() } else { ts.iter().map(|t| t.to_f64_vec()).collect::<Result<_, _>>()? };
        let ivals: Vec<Vec<i64>> =
            if ints { ts.iter().map(|t| t.to_i64_vec()).collect::<Result<_, _>>()? } else { Vec::new() };
        let mut facc = vec![0.0f64; n_out];
        let mut iacc = vec![0i64; n_out];
        let mut idx = vec![0usize; lsize.len()];
        let ost = strides(&out_shape);
        for _ in 0..total {
            let o: usize = (0..n_o).map(|k| idx[k] * ost[k]).sum();
            let offs = in_strides.iter().map(|st| idx.iter().zip(st).map(|(i, s)| i * s).sum::<usize>());
            if ints {
                let mut p = 1i64;
                for (v, off) in ivals.iter().zip(offs) {
                    p = p.wrapping_mul(v[off]);
                }
                iacc[o] = iacc[o].wrapping_add(p);
            } else {
                let mut p = 1.0;
                for (v, off) in fvals.iter().zip(offs) {
                    p *= v[off];
                }
                facc[o] += p;
            }
            for d in (0..lsize.len()).rev() {
                idx[d] += 1;
                if idx[d] < lsize[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        let t = if ints { Tensor::from_i64(dt, &out_shape, &iacc)? } else { Tensor::from_f64(dt, &out_shape, &facc)? };
        Ok(vec![t])
    }
}

pub fn import_einsum(c: &NodeCtx) -> Result<Op, String> {
    let eq = c.attrs.opt_string("equation")?.ok_or("Einsum needs an 'equation' attribute")?;
    Ok(Op::Einsum(Einsum::new(&eq)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(eq: &str, ins: &[(&[usize], Vec<f64>)]) -> (Vec<usize>, Vec<f64>) {
        let e = Einsum::new(eq).unwrap();
        let ts: Vec<Tensor> = ins.iter().map(|(s, v)| Tensor::new(s, v.clone()).unwrap()).collect();
        let refs: Vec<Option<&Tensor>> = ts.iter().map(Some).collect();
        let y = e.eval(&refs, 1).unwrap().remove(0);
        (y.shape().to_vec(), y.to_vec::<f64>().unwrap())
    }

    #[test]
    fn matmul_trace_diagonal_implicit() {
        let a = vec![1.0, 2.0, 3.0, 4.0];
        let (s, v) = run("ij,jk->ik", &[(&[2, 2], a.clone()), (&[2, 2], a.clone())]);
        assert_eq!((s, v), (vec![2, 2], vec![7.0, 10.0, 15.0, 22.0]));
        assert_eq!(run("ii", &[(&[2, 2], a.clone())]), (vec![], vec![5.0]));
        assert_eq!(run("ii->i", &[(&[2, 2], a.clone())]), (vec![2], vec![1.0, 4.0]));
        // implicit output: letters used once, sorted: "ba" -> "ab" is a transpose
        assert_eq!(run("ba", &[(&[2, 2], a.clone())]), (vec![2, 2], vec![1.0, 3.0, 2.0, 4.0]));
        // ellipsis broadcasting
        let (s, _) = run("...ij,...jk", &[(&[3, 2, 2], vec![1.0; 12]), (&[2, 2], a)]);
        assert_eq!(s, vec![3, 2, 2]);
        assert!(Einsum::new("ij->ii").is_err());
        assert!(Einsum::new("i.j").is_err());
    }
}
