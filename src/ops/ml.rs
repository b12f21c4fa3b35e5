//! Traditional-ML operators of the ai.onnx.ml domain: Binarizer, ArrayFeatureExtractor,
//! LabelEncoder (opset 1's classes_strings form, opset 2's keys_*/values_* lists and opset
//! 4's tensor attributes) and TreeEnsemble (opset 5).

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::onnx::attrs::AttrValue;
use crate::tensor::{DType, Dim, Tensor};
use std::collections::HashMap;

/// Binarizer: 1 where `x > threshold`, else 0, in X's type.
#[derive(Clone, Debug)]
pub struct Binarizer {
    pub threshold: f32,
}

/// `x > t` for an integer x, exactly.
fn int_greater(x: i64, t: f64) -> bool {
    if t.is_nan() || t >= 9.3e18 {
        false
    } else if t < -9.3e18 {
        true
    } else {
        // x > t ⟺ x > floor(t) for integers.
        (x as i128) > (t.floor() as i128)
    }
}

impl OpSpec for Binarizer {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !(x.dtype.is_float() || x.dtype.is_int()) {
            return Err(format!("Binarizer needs a numeric input, got {}", x.dtype));
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let t = self.threshold as f64;
        let y = if x.dtype().is_int() {
            let v: Vec<i64> = x.to_i64_vec()?.into_iter().map(|e| int_greater(e, t) as i64).collect();
            Tensor::from_i64(x.dtype(), x.shape(), &v)?
        } else if x.dtype().is_float() {
            let v: Vec<f64> = x.to_f64_vec()?.into_iter().map(|e| if e > t { 1.0 } else { 0.0 }).collect();
            Tensor::from_f64(x.dtype(), x.shape(), &v)?
        } else {
            return Err(format!("Binarizer needs a numeric input, got {}", x.dtype()));
        };
        Ok(vec![y])
    }
}

/// ArrayFeatureExtractor: X[..., indices] along the last axis (indices flattened); a 1-D X
/// gives a [1, n] result (as ONNX Runtime does).
#[derive(Clone, Debug)]
pub struct ArrayFeatureExtractor;

impl OpSpec for ArrayFeatureExtractor {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, y) = (cx.input(0)?, cx.input(1)?);
        if !y.dtype.is_int() {
            return Err(format!("ArrayFeatureExtractor indices must be int64, got {}", y.dtype));
        }
        if x.rank() == 0 {
            return Err("ArrayFeatureExtractor needs an input of rank ≥ 1".into());
        }
        let n = y.dims.iter().try_fold(1usize, |acc, d| d.known().map(|k| acc * k)).map_or(Dim::Unknown, Dim::Known);
        let mut dims = if x.rank() == 1 { vec![Dim::Known(1)] } else { x.dims[..x.rank() - 1].to_vec() };
        dims.push(n);
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, y) = (need(inputs, 0)?, need(inputs, 1)?);
        if !y.dtype().is_int() {
            return Err(format!("ArrayFeatureExtractor indices must be int64, got {}", y.dtype()));
        }
        let s = x.shape();
        if s.is_empty() {
            return Err("ArrayFeatureExtractor needs an input of rank ≥ 1".into());
        }
        let last = s[s.len() - 1];
        let idx: Vec<usize> = y
            .to_i64_vec()?
            .into_iter()
            .map(|i| {
                if i < 0 || i as u64 >= last as u64 {
                    Err(format!("index {i} is out of range for a last axis of {last}"))
                } else {
                    Ok(i as usize)
                }
            })
            .collect::<Result<_, _>>()?;
        let outer: usize = s[..s.len() - 1].iter().product();
        let mut shape = if s.len() == 1 { vec![1] } else { s[..s.len() - 1].to_vec() };
        shape.push(idx.len());
        let flat: Vec<usize> = (0..outer).flat_map(|o| idx.iter().map(move |&i| o * last + i)).collect();
        Ok(vec![x.take(&flat, &shape)?])
    }
}

/// Keys of a LabelEncoder map, by kind of input.
#[derive(Clone, Debug)]
pub enum LabelKeys {
    Strings(HashMap<String, usize>),
    Ints(HashMap<i64, usize>),
    /// Normalized f64 bits (NaN matches NaN; −0 matches +0).
    Floats(HashMap<u64, usize>),
}

fn float_key(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

#[derive(Clone, Debug)]
pub enum LabelMap {
    /// Opset 1: strings → their index in `classes` (int64), or int64 → `classes[i]`.
    Classes { classes: Vec<String>, default_int: i64, default_string: String },
    /// Opset 2+: key `i` → `values[i]`, else `default` (a 1-element tensor of the values' dtype).
    Map { key_dtype: DType, keys: LabelKeys, values: Tensor, default: Tensor },
}

#[derive(Clone, Debug)]
pub struct LabelEncoder {
    pub map: LabelMap,
}

impl OpSpec for LabelEncoder {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let out = match &self.map {
            LabelMap::Classes { .. } => match x.dtype {
                DType::String => DType::I64,
                DType::I64 => DType::String,
                d => return Err(format!("LabelEncoder-1 maps strings or int64s, got {d}")),
            },
            LabelMap::Map { key_dtype, values, .. } => {
                if x.dtype != *key_dtype {
                    return Err(format!("LabelEncoder keys are {key_dtype} but the input is {}", x.dtype));
                }
                values.dtype()
            }
        };
        Ok(vec![vt(out, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        match &self.map {
            LabelMap::Classes { classes, default_int, default_string } => match x.dtype() {
                DType::String => {
                    let v: Vec<i64> = x
                        .strings()?
                        .iter()
                        .map(|s| classes.iter().position(|c| c == s).map_or(*default_int, |i| i as i64))
                        .collect();
                    Ok(vec![Tensor::from_i64(DType::I64, x.shape(), &v)?])
                }
                DType::I64 => {
                    let v: Vec<String> = x
                        .to_i64_vec()?
                        .into_iter()
                        .map(|i| usize::try_from(i).ok().and_then(|i| classes.get(i)).unwrap_or(default_string).clone())
                        .collect();
                    Ok(vec![Tensor::from_strings(x.shape(), v)?])
                }
                d => Err(format!("LabelEncoder-1 maps strings or int64s, got {d}")),
            },
            LabelMap::Map { key_dtype, keys, values, default } => {
                if x.dtype() != *key_dtype {
                    return Err(format!("LabelEncoder keys are {key_dtype} but the input is {}", x.dtype()));
                }
                let miss = values.numel();
                let idx: Vec<usize> = match keys {
                    LabelKeys::Strings(m) => x.strings()?.iter().map(|s| *m.get(s).unwrap_or(&miss)).collect(),
                    LabelKeys::Ints(m) => x.to_i64_vec()?.iter().map(|k| *m.get(k).unwrap_or(&miss)).collect(),
                    LabelKeys::Floats(m) => {
                        x.to_f64_vec()?.iter().map(|&k| *m.get(&float_key(k)).unwrap_or(&miss)).collect()
                    }
                };
                Ok(vec![values.concat_flat(default)?.take(&idx, x.shape())?])
            }
        }
    }
}

fn strings_attr(c: &NodeCtx, name: &str) -> Result<Option<Vec<String>>, String> {
    match c.attrs.get(name) {
        None => Ok(None),
        Some(AttrValue::Strings(v)) => Ok(Some(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())),
        Some(o) => Err(format!("attribute '{name}' must be strings, got {}", o.type_name())),
    }
}

/// The one attribute of `names` that is set (exactly one must be).
fn only_one(c: &NodeCtx, names: &[&'static str]) -> Result<&'static str, String> {
    let set: Vec<&'static str> = names.iter().copied().filter(|n| c.attrs.has(n)).collect();
    match set.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("LabelEncoder needs one of {names:?}")),
        _ => Err(format!("LabelEncoder takes only one of {set:?}")),
    }
}

fn build_keys(c: &NodeCtx) -> Result<(DType, LabelKeys, usize), String> {
    fn index<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> (HashMap<K, usize>, usize) {
        // A repeated key: the last one wins.
        let mut m = HashMap::new();
        let mut n = 0;
        for (i, k) in keys.enumerate() {
            m.insert(k, i);
            n = i + 1;
        }
        (m, n)
    }
    let which = if c.opset >= 4 {
        only_one(c, &["keys_strings", "keys_int64s", "keys_floats", "keys_tensor"])?
    } else {
        only_one(c, &["keys_strings", "keys_int64s", "keys_floats"])?
    };
    Ok(match which {
        "keys_strings" => {
            let (m, n) = index(strings_attr(c, which)?.unwrap_or_default().into_iter());
            (DType::String, LabelKeys::Strings(m), n)
        }
        "keys_int64s" => {
            let (m, n) = index(c.attrs.ints(which, vec![])?.into_iter());
            (DType::I64, LabelKeys::Ints(m), n)
        }
        "keys_floats" => {
            let (m, n) = index(c.attrs.floats(which, vec![])?.into_iter().map(|f| float_key(f as f64)));
            (DType::F32, LabelKeys::Floats(m), n)
        }
        _ => {
            let t = c.attrs.tensor(which, Tensor::zeros(DType::I64, &[0])?)?;
            let d = t.dtype();
            if d == DType::String {
                let (m, n) = index(t.strings()?.iter().cloned());
                (d, LabelKeys::Strings(m), n)
            } else if d.is_int() {
                let (m, n) = index(t.to_i64_vec()?.into_iter());
                (d, LabelKeys::Ints(m), n)
            } else if d.is_float() {
                let (m, n) = index(t.to_f64_vec()?.into_iter().map(float_key));
                (d, LabelKeys::Floats(m), n)
            } else {
                return Err(format!("LabelEncoder keys_tensor of {d} is not supported"));
            }
        }
    })
}

/// The values (1-D) and the default (1 element, the values' dtype).
fn build_values(c: &NodeCtx) -> Result<(Tensor, Tensor), String> {
    let which = if c.opset >= 4 {
        only_one(c, &["values_strings", "values_int64s", "values_floats", "values_tensor"])?
    } else {
        only_one(c, &["values_strings", "values_int64s", "values_floats"])?
    };
    Ok(match which {
        "values_strings" => {
            let v = strings_attr(c, which)?.unwrap_or_default();
            let d = c.attrs.string("default_string", "_Unused")?;
            (Tensor::from_strings(&[v.len()], v)?, Tensor::from_strings(&[1], vec![d])?)
        }
        "values_int64s" => {
            let v = c.attrs.ints(which, vec![])?;
            (Tensor::new(&[v.len()], v)?, Tensor::new(&[1], vec![c.attrs.int("default_int64", -1)?])?)
        }
        "values_floats" => {
            let v = c.attrs.floats(which, vec![])?;
            (Tensor::new(&[v.len()], v)?, Tensor::new(&[1], vec![c.attrs.float("default_float", -0.0)?])?)
        }
        _ => {
            let t = c.attrs.tensor(which, Tensor::zeros(DType::I64, &[0])?)?;
            let d = t.dtype();
            let values = t.reshape(&[t.numel()])?;
            let default = match c.attrs.opt_tensor("default_tensor")? {
                Some(dt) => {
                    if dt.dtype() != d || dt.numel() != 1 {
                        return Err(format!(
                            "LabelEncoder default_tensor must be one {d} element, got {} {:?}",
                            dt.dtype(),
                            dt.shape()
                        ));
                    }
                    dt.reshape(&[1])?
                }
                None if d == DType::String => Tensor::from_strings(&[1], vec!["_Unused".into()])?,
                None if d.is_int() => Tensor::from_i64(d, &[1], &[-1])?,
                None if d.is_float() => Tensor::from_f64(d, &[1], &[-0.0])?,
                None => return Err(format!("LabelEncoder values_tensor of {d} is not supported")),
            };
            (values, default)
        }
    })
}

/// Where a tree branch leads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Branch {
    Node(usize),
    Leaf(usize),
}

/// An interior node of a TreeEnsemble.
#[derive(Clone, Debug)]
pub struct TreeNode {
    /// 0 LEQ, 1 LT, 2 GTE, 3 GT, 4 EQ, 5 NEQ, 6 MEMBER.
    pub mode: u8,
    pub feature: usize,
    pub split: f64,
    /// The set of a MEMBER node.
    pub members: Vec<f64>,
    pub missing_true: bool,
    pub on_true: Branch,
    pub on_false: Branch,
}

impl TreeNode {
    fn goes_true(&self, x: f64) -> bool {
        let hit = match self.mode {
            0 => x <= self.split,
            1 => x < self.split,
            2 => x >= self.split,
            3 => x > self.split,
            4 => x == self.split,
            5 => x != self.split,
            _ => self.members.contains(&x),
        };
        hit || (self.missing_true && x.is_nan())
    }
}

/// TreeEnsemble (ai.onnx.ml opset 5): X [N, F] → [N, n_targets], the leaves reached in every
/// tree aggregated per target, then an optional post-transform.
#[derive(Clone, Debug)]
pub struct TreeEnsemble {
    pub nodes: Vec<TreeNode>,
    /// (target, weight) per leaf.
    pub leaves: Vec<(usize, f64)>,
    pub roots: Vec<usize>,
    pub n_targets: usize,
    /// 0 AVERAGE, 1 SUM, 2 MIN, 3 MAX.
    pub aggregate: i64,
    /// 0 NONE, 1 SOFTMAX, 2 LOGISTIC, 3 SOFTMAX_ZERO, 4 PROBIT.
    pub post_transform: i64,
}

/// The inverse error function: a rational first guess refined by Newton steps on `erf`.
fn erfinv(y: f64) -> f64 {
    if y <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if y >= 1.0 {
        return f64::INFINITY;
    }
    let w = -((1.0 - y) * (1.0 + y)).ln();
    let mut x = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = c + p * w;
        }
        p * y
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = c + p * w;
        }
        p * y
    };
    for _ in 0..3 {
        let e = super::elementwise::erf(x) - y;
        x -= e / (std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp());
    }
    x
}

impl TreeEnsemble {
    /// The leaf one tree sends row `x` to.
    fn leaf_of(&self, root: usize, x: &[f64]) -> Result<usize, String> {
        let mut at = root;
        // A well-formed tree visits each node at most once.
        for _ in 0..=self.nodes.len() {
            let n = &self.nodes[at];
            let v = *x
                .get(n.feature)
                .ok_or_else(|| format!("feature {} is out of range for {} features", n.feature, x.len()))?;
            match if n.goes_true(v) { n.on_true } else { n.on_false } {
                Branch::Leaf(l) => return Ok(l),
                Branch::Node(k) => at = k,
            }
        }
        Err("a TreeEnsemble tree has a cycle".into())
    }

    fn post(&self, row: &mut [f64]) {
        match self.post_transform {
            1 | 3 => {
                let zero = self.post_transform == 3;
                let m = row.iter().filter(|v| !zero || **v != 0.0).cloned().fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for v in row.iter_mut() {
                    if !(zero && *v == 0.0) {
                        *v = (*v - m).exp();
                        sum += *v;
                    }
                }
                for v in row.iter_mut() {
                    if !(zero && *v == 0.0) {
                        *v /= sum;
                    }
                }
            }
            2 => row.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
            4 => row.iter_mut().for_each(|v| *v = std::f64::consts::SQRT_2 * erfinv(2.0 * *v - 1.0)),
            _ => {}
        }
    }
}

impl OpSpec for TreeEnsemble {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("TreeEnsemble needs a float input, got {}", x.dtype));
        }
        if x.rank() != 2 {
            return Err(format!("TreeEnsemble needs a 2-D input [N, F], got rank {}", x.rank()));
        }
        Ok(vec![vt(x.dtype, vec![x.dims[0].clone(), Dim::Known(self.n_targets)])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        if s.len() != 2 || !x.dtype().is_float() {
            return Err(format!("TreeEnsemble needs a float [N, F] input, got {} {s:?}", x.dtype()));
        }
        let (n, f) = (s[0], s[1]);
        let xv = x.to_f64_vec()?;
        let nt = self.n_targets;
        let mut out = vec![0.0f64; n * nt];
        for r in 0..n {
            let row = &xv[r * f..(r + 1) * f];
            let acc = &mut out[r * nt..(r + 1) * nt];
            let mut hit = vec![false; nt];
            for &root in &self.roots {
                let (t, w) = self.leaves[self.leaf_of(root, row)?];
                acc[t] = match (self.aggregate, hit[t]) {
                    (2, true) => acc[t].min(w),
                    (3, true) => acc[t].max(w),
                    _ => acc[t] + w,
                };
                hit[t] = true;
            }
            if self.aggregate == 0 && !self.roots.is_empty() {
                acc.iter_mut().for_each(|v| *v /= self.roots.len() as f64);
            }
            self.post(acc);
        }
        Ok(vec![Tensor::from_f64(x.dtype(), &[n, nt], &out)?])
    }
}

pub fn import_tree_ensemble(c: &NodeCtx) -> Result<Op, String> {
    let a = c.attrs;
    let floats_of = |name: &str| -> Result<Option<Vec<f64>>, String> {
        match a.opt_tensor(name)? {
            Some(t) if t.dtype().is_float() => Ok(Some(t.to_f64_vec()?)),
            Some(t) => Err(format!("attribute '{name}' must be a float tensor, got {}", t.dtype())),
            None => Ok(None),
        }
    };
    let splits = floats_of("nodes_splits")?.ok_or("TreeEnsemble needs nodes_splits")?;
    let weights = floats_of("leaf_weights")?.ok_or("TreeEnsemble needs leaf_weights")?;
    let members = floats_of("membership_values")?.unwrap_or_default();
    let modes = match a.opt_tensor("nodes_modes")? {
        Some(t) => t.to_i64_vec()?,
        None => return Err("TreeEnsemble needs nodes_modes".into()),
    };
    let features = a.ints("nodes_featureids", vec![])?;
    let true_ids = a.ints("nodes_truenodeids", vec![])?;
    let false_ids = a.ints("nodes_falsenodeids", vec![])?;
    let true_leafs = a.ints("nodes_trueleafs", vec![])?;
    let false_leafs = a.ints("nodes_falseleafs", vec![])?;
    let missing = a.ints("nodes_missing_value_tracks_true", vec![])?;
    let targets = a.ints("leaf_targetids", vec![])?;
    let roots = a.ints("tree_roots", vec![])?;
    let n_targets = a.int("n_targets", 0)?;
    let aggregate = a.int("aggregate_function", 1)?;
    let post_transform = a.int("post_transform", 0)?;
    let nn = splits.len();
    for (name, len) in [
        ("nodes_modes", modes.len()),
        ("nodes_featureids", features.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
        ("nodes_trueleafs", true_leafs.len()),
        ("nodes_falseleafs", false_leafs.len()),
    ] {
        if len != nn {
            return Err(format!("TreeEnsemble: {name} has {len} entries, nodes_splits {nn}"));
        }
    }
    if !missing.is_empty() && missing.len() != nn {
        return Err(format!("TreeEnsemble: nodes_missing_value_tracks_true has {} entries, not {nn}", missing.len()));
    }
    if targets.len() != weights.len() {
        return Err(format!("TreeEnsemble: {} leaf_targetids but {} leaf_weights", targets.len(), weights.len()));
    }
    if n_targets <= 0 {
        return Err(format!("TreeEnsemble needs a positive n_targets, got {n_targets}"));
    }
    if !(0..=3).contains(&aggregate) || !(0..=4).contains(&post_transform) {
        return Err(format!("TreeEnsemble: unknown aggregate_function {aggregate} or post_transform {post_transform}"));
    }
    let branch = |id: i64, leaf: i64| -> Result<Branch, String> {
        let limit = if leaf != 0 { weights.len() } else { nn };
        let i = usize::try_from(id)
            .ok()
            .filter(|&i| i < limit)
            .ok_or_else(|| format!("TreeEnsemble: branch index {id} is out of range"))?;
        Ok(if leaf != 0 { Branch::Leaf(i) } else { Branch::Node(i) })
    };
    // MEMBER nodes take the NaN-delimited sets of membership_values in node order.
    let mut sets = members.split(|v| v.is_nan());
    let mut nodes = Vec::with_capacity(nn);
    for i in 0..nn {
        let mode = modes[i];
        if !(0..=6).contains(&mode) {
            return Err(format!("TreeEnsemble: unknown node mode {mode}"));
        }
        let members = if mode == 6 {
            sets.next().ok_or("TreeEnsemble: a BRANCH_MEMBER node has no membership_values set")?.to_vec()
        } else {
            vec![]
        };
        nodes.push(TreeNode {
            mode: mode as u8,
            feature: usize::try_from(features[i])
                .map_err(|_| format!("TreeEnsemble: feature id {} is negative", features[i]))?,
            split: splits[i],
            members,
            missing_true: missing.get(i).is_some_and(|&m| m != 0),
            on_true: branch(true_ids[i], true_leafs[i])?,
            on_false: branch(false_ids[i], false_leafs[i])?,
        });
    }
    let leaves = targets
        .iter()
        .zip(&weights)
        .map(|(&t, &w)| {
            usize::try_from(t)
                .ok()
                .filter(|&t| t < n_targets as usize)
                .map(|t| (t, w))
                .ok_or_else(|| format!("TreeEnsemble: leaf target {t} is out of range"))
        })
        .collect::<Result<_, _>>()?;
    let roots = roots
        .iter()
        .map(|&r| {
            usize::try_from(r)
                .ok()
                .filter(|&r| r < nn)
                .ok_or_else(|| format!("TreeEnsemble: tree root {r} is out of range"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Op::TreeEnsemble(TreeEnsemble {
        nodes,
        leaves,
        roots,
        n_targets: n_targets as usize,
        aggregate,
        post_transform,
    }))
}

pub fn import_binarizer(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Binarizer(Binarizer { threshold: c.attrs.float("threshold", 0.0)? }))
}
pub fn import_array_feature_extractor(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ArrayFeatureExtractor(ArrayFeatureExtractor))
}
pub fn import_label_encoder(c: &NodeCtx) -> Result<Op, String> {
    if c.opset < 2 {
        let classes = strings_attr(c, "classes_strings")?.unwrap_or_default();
        return Ok(Op::LabelEncoder(LabelEncoder {
            map: LabelMap::Classes {
                classes,
                default_int: c.attrs.int("default_int64", -1)?,
                default_string: c.attrs.string("default_string", "_Unused")?,
            },
        }));
    }
    let (key_dtype, keys, n) = build_keys(c)?;
    let (values, default) = build_values(c)?;
    if values.numel() != n {
        return Err(format!("LabelEncoder has {n} keys but {} values", values.numel()));
    }
    Ok(Op::LabelEncoder(LabelEncoder { map: LabelMap::Map { key_dtype, keys, values, default } }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::attrs::Attrs;

    fn ctx<'a>(attrs: &'a Attrs, opset: i64) -> NodeCtx<'a> {
        NodeCtx {
            name: "n",
            op_type: "LabelEncoder",
            domain: "ai.onnx.ml",
            opset,
            attrs,
            n_inputs: 1,
            n_outputs: 1,
            outputs_present: &[true],
            subgraphs: &[],
        }
    }

    fn encoder(attrs: Vec<(&str, AttrValue)>, opset: i64) -> Result<LabelEncoder, String> {
        let a = Attrs { map: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect() };
        match import_label_encoder(&ctx(&a, opset))? {
            Op::LabelEncoder(l) => Ok(l),
            _ => unreachable!(),
        }
    }

    #[test]
    fn binarizer_on_integers_is_exact() {
        assert!(int_greater(2, 1.5) && !int_greater(1, 1.5) && !int_greater(1, 1.0));
        assert!(int_greater(-1, -1.5) && !int_greater(i64::MAX, f64::NAN) && int_greater(i64::MIN, -1e19));
        let x = Tensor::new(&[3], vec![i64::MAX, 0, -3]).unwrap();
        let y = Binarizer { threshold: -3.0 }.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 1, 0]);
    }

    #[test]
    fn feature_extractor_on_vectors_and_bad_indices() {
        let x = Tensor::from_strings(&[3], vec!["a".into(), "b".into(), "c".into()]).unwrap();
        let i = Tensor::new(&[2], vec![2i64, 0]).unwrap();
        let y = ArrayFeatureExtractor.eval(&[Some(&x), Some(&i)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 2]);
        assert_eq!(y.strings().unwrap(), &["c".to_string(), "a".to_string()]);
        let bad = Tensor::new(&[1], vec![3i64]).unwrap();
        assert!(ArrayFeatureExtractor.eval(&[Some(&x), Some(&bad)], 1).is_err());
    }

    #[test]
    fn label_encoder_forms() {
        // Float keys: NaN matches NaN, −0 matches 0, a repeated key takes the last value.
        let l = encoder(
            vec![
                ("keys_floats", AttrValue::Floats(vec![f32::NAN, 0.0, 1.5, 1.5])),
                (
                    "values_strings",
                    AttrValue::Strings(vec![b"nan".to_vec(), b"zero".to_vec(), b"x".to_vec(), b"y".to_vec()]),
                ),
            ],
            2,
        )
        .unwrap();
        let x = Tensor::new(&[4], vec![f32::NAN, -0.0, 1.5, 2.0]).unwrap();
        let y = l.eval(&[Some(&x)], 1).unwrap().remove(0);
        let want: Vec<String> = ["nan", "zero", "y", "_Unused"].iter().map(|s| s.to_string()).collect();
        assert_eq!(y.strings().unwrap(), want.as_slice());
        // Opset 1: both directions through classes_strings.
        let l = encoder(vec![("classes_strings", AttrValue::Strings(vec![b"a".to_vec(), b"b".to_vec()]))], 1).unwrap();
        let s = Tensor::from_strings(&[2], vec!["b".into(), "z".into()]).unwrap();
        assert_eq!(l.eval(&[Some(&s)], 1).unwrap()[0].to_vec::<i64>().unwrap(), vec![1, -1]);
        let i = Tensor::new(&[2], vec![0i64, 5]).unwrap();
        let back = l.eval(&[Some(&i)], 1).unwrap().remove(0);
        assert_eq!(back.strings().unwrap(), &["a".to_string(), "_Unused".to_string()]);
        // Mismatched lengths and two key lists are errors.
        assert!(encoder(
            vec![("keys_int64s", AttrValue::Ints(vec![1, 2])), ("values_int64s", AttrValue::Ints(vec![1]))],
            2
        )
        .is_err());
        assert!(encoder(
            vec![
                ("keys_int64s", AttrValue::Ints(vec![1])),
                ("keys_floats", AttrValue::Floats(vec![1.0])),
                ("values_int64s", AttrValue::Ints(vec![1]))
            ],
            2
        )
        .is_err());
    }

    fn stump(on_true: Branch, on_false: Branch) -> TreeNode {
        TreeNode { mode: 0, feature: 0, split: 0.5, members: vec![], missing_true: false, on_true, on_false }
    }

    #[test]
    fn tree_ensemble_aggregates_and_transforms() {
        // Two one-node trees on feature 0: x ≤ 0.5 → leaf 0 (target 0, 2.0) else leaf 1 (target 1, −1.0);
        // the second tree sends everything to leaf 2 (target 0, 4.0).
        let mut t = TreeEnsemble {
            nodes: vec![stump(Branch::Leaf(0), Branch::Leaf(1)), stump(Branch::Leaf(2), Branch::Leaf(2))],
            leaves: vec![(0, 2.0), (1, -1.0), (0, 4.0)],
            roots: vec![0, 1],
            n_targets: 3,
            aggregate: 1,
            post_transform: 0,
        };
        let x = Tensor::new(&[2, 1], vec![0.0f32, 1.0]).unwrap();
        let run = |t: &TreeEnsemble| t.eval(&[Some(&x)], 1).unwrap().remove(0).to_vec::<f32>().unwrap();
        assert_eq!(run(&t), vec![6.0, 0.0, 0.0, 4.0, -1.0, 0.0]);
        t.aggregate = 2;
        assert_eq!(run(&t), vec![2.0, 0.0, 0.0, 4.0, -1.0, 0.0]);
        t.aggregate = 0;
        assert_eq!(run(&t), vec![3.0, 0.0, 0.0, 2.0, -0.5, 0.0]);
        // SOFTMAX_ZERO leaves zeros alone.
        t.post_transform = 3;
        let y = run(&t);
        assert_eq!((y[1], y[2], y[5]), (0.0, 0.0, 0.0));
        assert!((y[0] - 1.0).abs() < 1e-6 && (y[3] + y[4] - 1.0).abs() < 1e-6);
        // A cycle is an error, not a hang.
        t.nodes[0].on_true = Branch::Node(0);
        assert!(t.eval(&[Some(&x)], 1).is_err());
    }

    #[test]
    fn erfinv_inverts_erf() {
        for y in [-0.999, -0.5, 0.0, 0.1, 0.7, 0.9999] {
            assert!((super::super::elementwise::erf(erfinv(y)) - y).abs() < 1e-12, "{y}");
        }
    }
}
