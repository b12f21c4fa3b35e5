//! Control flow (ai.onnx If, Loop, Scan). The ops hold indices of their subgraphs (bodies in
//! the graph's arena, see `ir::SubGraph`); they are typed and run with the graph at hand:
//! [`infer_control`] types outputs from the bodies; the planner inlines the taken If branch
//! once the condition is known; Loop and Scan run on the host through [`eval_control`], a
//! small interpreter of subgraphs that also serves nested control flow.

use super::{need, InferCx, NodeCtx, OpSpec};
use crate::ir::{Graph, Node, Op, ValueId, ValueType};
use crate::tensor::shape::norm_axis;
use crate::tensor::{DType, Data, Dim, Tensor};
use std::collections::HashMap;

/// If(cond) then_branch else else_branch.
#[derive(Clone, Debug)]
pub struct If {
    pub then_branch: usize,
    pub else_branch: usize,
}

/// Loop(M, cond, v_initial…) with body(iter, cond, v…) → (cond, v…, scan_outputs…).
#[derive(Clone, Debug)]
pub struct Loop {
    pub body: usize,
}

/// Scan over `num_scan_inputs` inputs; opset 8 has a batch axis and `sequence_lens`.
#[derive(Clone, Debug)]
pub struct Scan {
    pub body: usize,
    pub num_scan_inputs: usize,
    pub input_directions: Vec<i64>,
    pub output_directions: Vec<i64>,
    pub input_axes: Vec<i64>,
    pub output_axes: Vec<i64>,
    /// Opset 8 form: input 0 is `sequence_lens` and every tensor has a batch dim 0.
    pub batched: bool,
}

/// SequenceMap(input_sequence, additional_inputs…): the body runs once per element; sequence
/// inputs contribute their i-th element, tensors themselves; outputs are sequences.
#[derive(Clone, Debug)]
pub struct SequenceMap {
    pub body: usize,
}

const TYPED_BY_GRAPH: &str = "control flow is typed and run with its subgraphs by the graph, not by itself";

macro_rules! control_spec {
    ($t:ty) => {
        impl OpSpec for $t {
            fn infer(&self, _: &InferCx) -> Result<Vec<ValueType>, String> {
                Err(TYPED_BY_GRAPH.into())
            }
            fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
                Err(TYPED_BY_GRAPH.into())
            }
            fn foldable(&self) -> bool {
                false
            }
            fn shape_inputs(&self) -> &'static [usize] {
                &[0]
            }
        }
    };
}
control_spec!(If);
control_spec!(Loop);
control_spec!(Scan);
control_spec!(SequenceMap);

pub fn import_sequence_map(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SequenceMap(SequenceMap { body: c.subgraph("body")? }))
}

pub fn import_if(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::If(If { then_branch: c.subgraph("then_branch")?, else_branch: c.subgraph("else_branch")? }))
}

pub fn import_loop(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Loop(Loop { body: c.subgraph("body")? }))
}

pub fn import_scan(c: &NodeCtx) -> Result<Op, String> {
    let m = c.attrs.opt_int("num_scan_inputs")?.ok_or("Scan needs num_scan_inputs")?;
    if m < 1 {
        return Err(format!("num_scan_inputs must be ≥ 1, got {m}"));
    }
    let batched = c.opset < 9;
    let dirs = if batched { c.attrs.opt_ints("directions")? } else { c.attrs.opt_ints("scan_input_directions")? };
    Ok(Op::Scan(Scan {
        body: c.subgraph("body")?,
        num_scan_inputs: m as usize,
        input_directions: dirs.unwrap_or_default(),
        output_directions: c.attrs.ints("scan_output_directions", vec![])?,
        input_axes: c.attrs.ints("scan_input_axes", vec![])?,
        output_axes: c.attrs.ints("scan_output_axes", vec![])?,
        batched,
    }))
}

/// True for ops whose semantics involve subgraphs.
pub fn is_control(op: &Op) -> bool {
    matches!(op, Op::If(_) | Op::Loop(_) | Op::Scan(_) | Op::SequenceMap(_))
}

fn merge(a: &ValueType, b: &ValueType) -> Option<ValueType> {
    if a.dtype != b.dtype {
        return None;
    }
    if a.dims.len() != b.dims.len() {
        return None;
    }
    let dims = a.dims.iter().zip(&b.dims).map(|(x, y)| if x == y { x.clone() } else { Dim::Unknown }).collect();
    Some(ValueType { dtype: a.dtype, dims })
}

/// Types a control-flow node's outputs (and its bodies' values) at load time. Output dims that
/// differ between branches or iterations are left unknown; the planner learns them at run time.
pub fn infer_control(g: &mut Graph, node: &Node) -> Result<(), String> {
    let ty = |g: &Graph, v: ValueId| g.value(v).ty.clone();
    match &node.op {
        Op::If(i) => {
            crate::ir::infer::infer_list(g, i.then_branch as u32 + 1).map_err(|e| e.to_string())?;
            crate::ir::infer::infer_list(g, i.else_branch as u32 + 1).map_err(|e| e.to_string())?;
            let (t, e) = (&g.subgraphs[i.then_branch].outputs, &g.subgraphs[i.else_branch].outputs);
            if t.len() != e.len() || t.len() < node.outputs.len() {
                return Err(format!(
                    "branches yield {} and {} outputs for {} node outputs",
                    t.len(),
                    e.len(),
                    node.outputs.len()
                ));
            }
            let outs: Vec<Option<ValueType>> = t
                .iter()
                .zip(e)
                .map(|(a, b)| match (ty(g, *a), ty(g, *b)) {
                    (Some(a), Some(b)) => merge(&a, &b),
                    _ => None,
                })
                .collect();
            for (slot, t) in node.outputs.iter().zip(outs) {
                if let Some(v) = slot {
                    g.values[v.idx()].ty = t;
                }
            }
        }
        Op::Loop(l) => {
            let body = g.subgraphs[l.body].clone();
            let n_carried = node.inputs.len().saturating_sub(2);
            if body.inputs.len() != n_carried + 2 {
                return Err(format!("the body takes {} inputs, Loop passes {}", body.inputs.len(), n_carried + 2));
            }
            if body.outputs.len() < n_carried + 1 {
                return Err(format!("the body yields {} outputs for {n_carried} carried values", body.outputs.len()));
            }
            g.values[body.inputs[0].idx()].ty = Some(ValueType { dtype: DType::I64, dims: vec![] });
            g.values[body.inputs[1].idx()].ty = Some(ValueType { dtype: DType::Bool, dims: vec![] });
            for k in 0..n_carried {
                if let Some(d) = node.inputs[2 + k].and_then(|v| ty(g, v)) {
                    g.values[body.inputs[2 + k].idx()].ty =
                        Some(ValueType { dtype: d.dtype, dims: vec![Dim::Unknown; d.dims.len()] });
                }
            }
            crate::ir::infer::infer_list(g, l.body as u32 + 1).map_err(|e| e.to_string())?;
            for (k, slot) in node.outputs.iter().enumerate() {
                let Some(v) = slot else { continue };
                let bo = body.outputs.get(1 + k).copied();
                let t = bo.and_then(|b| ty(g, b)).map(|t| {
                    if k < n_carried {
                        ValueType { dtype: t.dtype, dims: vec![Dim::Unknown; t.dims.len()] }
                    } else {
                        let mut dims = vec![Dim::Unknown];
                        dims.extend(t.dims);
                        ValueType { dtype: t.dtype, dims }
                    }
                });
                g.values[v.idx()].ty = t;
            }
        }
        Op::Scan(s) => {
            let body = g.subgraphs[s.body].clone();
            let first = s.batched as usize;
            let n_in = node.inputs.len() - first;
            let n_state = n_in.checked_sub(s.num_scan_inputs).ok_or("fewer inputs than num_scan_inputs")?;
            if body.inputs.len() != n_in {
                return Err(format!("the body takes {} inputs, Scan passes {n_in}", body.inputs.len()));
            }
            for k in 0..n_in {
                if let Some(t) = node.inputs[first + k].and_then(|v| ty(g, v)) {
                    let mut dims = t.dims.clone();
                    if s.batched && !dims.is_empty() {
                        dims.remove(0);
                    }
                    if k >= n_state && !dims.is_empty() {
                        let j = k - n_state;
                        let ax = s.input_axes.get(j).copied().unwrap_or(0);
                        if let Ok(a) = norm_axis(ax, dims.len()) {
                            if !s.batched {
                                dims.remove(a);
                            } else {
                                dims.remove(0);
                            }
                        }
                    }
                    g.values[body.inputs[k].idx()].ty = Some(ValueType { dtype: t.dtype, dims });
                }
            }
            crate::ir::infer::infer_list(g, s.body as u32 + 1).map_err(|e| e.to_string())?;
            for (k, slot) in node.outputs.iter().enumerate() {
                let Some(v) = slot else { continue };
                let t = body.outputs.get(k).and_then(|b| ty(g, *b)).map(|t| {
                    let mut dims = t.dims.clone();
                    if k >= n_state {
                        dims.insert(0, Dim::Unknown);
                    }
                    ValueType { dtype: t.dtype, dims: vec![Dim::Unknown; dims.len()] }
                });
                g.values[v.idx()].ty = t;
            }
        }
        Op::SequenceMap(m) => {
            let body = g.subgraphs[m.body].clone();
            for (k, v) in body.inputs.iter().enumerate() {
                if let Some(t) = node.inputs.get(k).copied().flatten().and_then(|v| ty(g, v)) {
                    g.values[v.idx()].ty = Some(t);
                }
            }
            crate::ir::infer::infer_list(g, m.body as u32 + 1).map_err(|e| e.to_string())?;
            for (slot, b) in node.outputs.iter().zip(&body.outputs) {
                if let Some(v) = slot {
                    g.values[v.idx()].ty = ty(g, *b).map(|t| ValueType { dtype: t.dtype, dims: vec![] });
                }
            }
        }
        _ => return Err("not a control-flow op".into()),
    }
    Ok(())
}

/// Values visible to an interpreted subgraph: its own, then the enclosing scope's.
type Scope<'a> = dyn Fn(ValueId) -> Option<Data> + 'a;

/// The value of `v` in an interpreted scope.
fn lookup(g: &Graph, vals: &HashMap<ValueId, Data>, outer: &Scope, v: ValueId) -> Result<Data, String> {
    vals.get(&v)
        .cloned()
        .or_else(|| g.value(v).konst.clone().map(Data::Tensor))
        .or_else(|| outer(v))
        .ok_or_else(|| format!("'{}' has no value", g.value(v).name))
}

/// Runs the nodes of list `l` on the host, reading values from `vals`, constants, or `outer`.
pub fn run_list(g: &Graph, l: u32, vals: &mut HashMap<ValueId, Data>, outer: &Scope) -> Result<(), String> {
    for node in g.list(l) {
        let ins: Vec<Option<Data>> =
            node.inputs.iter().map(|s| s.map(|v| lookup(g, vals, outer, v)).transpose()).collect::<Result<_, _>>()?;
        let label = node.label(g).to_string();
        let outs = if is_control(&node.op) {
            let snapshot: &HashMap<ValueId, Data> = vals;
            let scope = |v: ValueId| snapshot.get(&v).cloned().or_else(|| outer(v));
            eval_control(g, node, &ins, &scope)
        } else {
            let refs: Vec<Option<&Data>> = ins.iter().map(|t| t.as_ref()).collect();
            node.op.spec().eval_data(&refs, node.outputs.len())
        }
        .map_err(|e| format!("node '{label}' ({}): {e}", node.op_type))?;
        for (slot, t) in node.outputs.iter().zip(outs) {
            if let Some(v) = slot {
                vals.insert(*v, t);
            }
        }
    }
    Ok(())
}

fn scalar_bool(t: &Tensor) -> Result<bool, String> {
    let v = t.to_i64_vec()?;
    if v.len() != 1 {
        return Err(format!("expected a single boolean, got {} elements", v.len()));
    }
    Ok(v[0] != 0)
}

/// Stacks equal-shaped tensors along a new axis `axis` (a concatenation of unsqueezed parts).
fn stack(parts: &[Tensor], axis: usize, dtype: DType, elem_shape: &[usize]) -> Result<Tensor, String> {
    let n = parts.len();
    let mut shape = elem_shape.to_vec();
    shape.insert(axis.min(shape.len()), n);
    if n == 0 {
        return Tensor::zeros(dtype, &shape);
    }
    let mut all = parts[0].clone();
    for p in &parts[1..] {
        if p.shape() != parts[0].shape() {
            return Err(format!("iteration outputs differ in shape: {:?} vs {:?}", p.shape(), parts[0].shape()));
        }
        all = all.concat_flat(p)?;
    }
    let outer: usize = elem_shape[..axis.min(elem_shape.len())].iter().product();
    let inner: usize = elem_shape[axis.min(elem_shape.len())..].iter().product();
    let mut idx = Vec::with_capacity(n * outer * inner);
    for o in 0..outer {
        for k in 0..n {
            let base = k * outer * inner + o * inner;
            idx.extend(base..base + inner);
        }
    }
    all.take(&idx, &shape)
}

/// The `k`-th slice of `t` along `axis` (the axis removed).
fn slice_at(t: &Tensor, axis: usize, k: usize) -> Result<Tensor, String> {
    let s = t.shape();
    let outer: usize = s[..axis].iter().product();
    let inner: usize = s[axis + 1..].iter().product();
    let mut idx = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        let base = (o * s[axis] + k) * inner;
        idx.extend(base..base + inner);
    }
    let mut shape = s.to_vec();
    shape.remove(axis);
    t.take(&idx, &shape)
}

/// Runs a control-flow node on the host.
pub fn eval_control(g: &Graph, node: &Node, ins: &[Option<Data>], outer: &Scope) -> Result<Vec<Data>, String> {
    match &node.op {
        Op::If(i) => {
            let cond = ins.first().cloned().flatten().ok_or("If needs a condition")?.into_tensor()?;
            let branch = if scalar_bool(&cond)? { i.then_branch } else { i.else_branch };
            let mut vals = HashMap::new();
            run_list(g, branch as u32 + 1, &mut vals, outer)?;
            g.subgraphs[branch].outputs.iter().map(|v| lookup(g, &vals, outer, *v)).collect()
        }
        Op::Loop(l) => eval_loop(g, l, node, ins, outer),
        Op::SequenceMap(m) => {
            let body = &g.subgraphs[m.body];
            let first = ins.first().cloned().flatten().ok_or("SequenceMap needs a sequence")?;
            let len = first.as_sequence()?.len();
            let mut outs: Vec<Vec<Data>> = vec![Vec::new(); body.outputs.len()];
            for i in 0..len {
                let mut vals: HashMap<ValueId, Data> = HashMap::new();
                for (k, v) in body.inputs.iter().enumerate() {
                    let d = ins.get(k).cloned().flatten().ok_or_else(|| format!("input {k} is missing"))?;
                    let item = match d {
                        Data::Sequence(s) => {
                            s.get(i).cloned().ok_or_else(|| format!("sequence input {k} is shorter than the first"))?
                        }
                        other => other,
                    };
                    vals.insert(*v, item);
                }
                run_list(g, m.body as u32 + 1, &mut vals, outer)?;
                for (j, o) in body.outputs.iter().enumerate() {
                    outs[j].push(lookup(g, &vals, outer, *o)?);
                }
            }
            Ok(outs.into_iter().map(Data::Sequence).collect())
        }
        Op::Scan(s) => {
            let ts: Vec<Option<Tensor>> =
                ins.iter().map(|d| d.clone().map(|d| d.into_tensor()).transpose()).collect::<Result<_, _>>()?;
            let refs: Vec<Option<&Tensor>> = ts.iter().map(|t| t.as_ref()).collect();
            Ok(eval_scan(g, s, node, &refs, outer)?.into_iter().map(Data::Tensor).collect())
        }
        _ => Err("not a control-flow op".into()),
    }
}

/// Upper bound on interpreted iterations (a hostile trip count must not hang the host).
const MAX_ITERATIONS: i64 = 1 << 24;

fn eval_loop(g: &Graph, l: &Loop, node: &Node, ins: &[Option<Data>], outer: &Scope) -> Result<Vec<Data>, String> {
    let body = &g.subgraphs[l.body];
    let arg = |k: usize| -> Result<Option<Tensor>, String> {
        ins.get(k).cloned().flatten().map(|d| d.into_tensor()).transpose()
    };
    let trip = arg(0)?.map(|t| t.to_i64_vec().map(|v| v.first().copied().unwrap_or(0))).transpose()?;
    let mut cond = match arg(1)? {
        Some(c) => scalar_bool(&c)?,
        None => true,
    };
    let n_carried = ins.len().saturating_sub(2);
    let mut carried: Vec<Data> = (0..n_carried)
        .map(|k| ins.get(2 + k).cloned().flatten().ok_or_else(|| format!("carried value {k} is missing")))
        .collect::<Result<_, _>>()?;
    let n_scan = body.outputs.len().saturating_sub(1 + n_carried);
    let mut scans: Vec<Vec<Tensor>> = vec![Vec::new(); n_scan];
    let mut i = 0i64;
    while trip.is_none_or(|m| i < m) && cond {
        if i >= MAX_ITERATIONS {
            return Err(format!("Loop exceeded {MAX_ITERATIONS} iterations"));
        }
        let mut vals: HashMap<ValueId, Data> = HashMap::new();
        vals.insert(body.inputs[0], Data::Tensor(Tensor::scalar(i)));
        vals.insert(body.inputs[1], Data::Tensor(Tensor::from_bools(&[], &[cond])?));
        for (k, t) in carried.iter().enumerate() {
            vals.insert(body.inputs[2 + k], t.clone());
        }
        run_list(g, l.body as u32 + 1, &mut vals, outer)?;
        cond = scalar_bool(&lookup(g, &vals, outer, body.outputs[0])?.into_tensor()?)?;
        for k in 0..n_carried {
            carried[k] = lookup(g, &vals, outer, body.outputs[1 + k])?;
        }
        for (j, s) in scans.iter_mut().enumerate() {
            s.push(lookup(g, &vals, outer, body.outputs[1 + n_carried + j])?.into_tensor()?);
        }
        i += 1;
    }
    let mut res = carried;
    for (j, s) in scans.into_iter().enumerate() {
        let bo = body.outputs[1 + n_carried + j];
        let (dtype, elem) = match s.first() {
            Some(t) => (t.dtype(), t.shape().to_vec()),
            None => {
                let t = g.value(bo).ty.clone().ok_or("the scan output's type is unknown")?;
                (t.dtype, t.dims.iter().map(|d| d.known().unwrap_or(0)).collect())
            }
        };
        res.push(Data::Tensor(stack(&s, 0, dtype, &elem)?));
    }
    res.truncate(node.outputs.len());
    Ok(res)
}

fn eval_scan(g: &Graph, s: &Scan, node: &Node, ins: &[Option<&Tensor>], outer: &Scope) -> Result<Vec<Tensor>, String> {
    let body = &g.subgraphs[s.body];
    if s.batched {
        // Opset 8: run the batch items one by one (sequence_lens must be full length).
        let first = 1;
        let xs: Vec<&Tensor> = (first..ins.len()).map(|k| need(ins, k)).collect::<Result<_, _>>()?;
        let batch = xs.first().map(|t| t.shape().first().copied().unwrap_or(0)).unwrap_or(0);
        if let Some(lens) = ins.first().copied().flatten() {
            let lens = lens.to_i64_vec()?;
            let n_state = xs.len() - s.num_scan_inputs;
            let full = xs.get(n_state).map(|t| t.shape().get(1).copied().unwrap_or(0) as i64).unwrap_or(0);
            if lens.iter().any(|&l| l != full) {
                return Err("Scan (opset 8) with partial sequence_lens is not supported".into());
            }
        }
        let mut per: Vec<Vec<Tensor>> = Vec::new();
        for b in 0..batch {
            let items: Vec<Tensor> = xs.iter().map(|t| slice_at(t, 0, b)).collect::<Result<_, _>>()?;
            let item_refs: Vec<Option<&Tensor>> = items.iter().map(Some).collect();
            let mut one = s.clone();
            one.batched = false;
            per.push(eval_scan_items(g, &one, body, &item_refs, outer)?);
        }
        let n_out = per.first().map(|p| p.len()).unwrap_or(node.outputs.len());
        return (0..n_out)
            .map(|k| {
                let parts: Vec<Tensor> = per.iter().map(|p| p[k].clone()).collect();
                let shape = parts.first().map(|t| t.shape().to_vec()).unwrap_or_default();
                let dtype = parts.first().map(|t| t.dtype()).unwrap_or(DType::F32);
                stack(&parts, 0, dtype, &shape)
            })
            .collect();
    }
    eval_scan_items(g, s, body, ins, outer)
}

fn eval_scan_items(
    g: &Graph,
    s: &Scan,
    body: &crate::ir::SubGraph,
    ins: &[Option<&Tensor>],
    outer: &Scope,
) -> Result<Vec<Tensor>, String> {
    let n_in = ins.len();
    let n_state = n_in.checked_sub(s.num_scan_inputs).ok_or("fewer inputs than num_scan_inputs")?;
    let mut states: Vec<Tensor> = (0..n_state).map(|k| need(ins, k).cloned()).collect::<Result<_, _>>()?;
    let mut scan_in = Vec::new();
    let mut len = None;
    for j in 0..s.num_scan_inputs {
        let t = need(ins, n_state + j)?;
        let axis = norm_axis(s.input_axes.get(j).copied().unwrap_or(0), t.rank())?;
        let l = t.shape()[axis];
        if len.is_some_and(|x| x != l) {
            return Err("scan inputs differ in sequence length".into());
        }
        len = Some(l);
        scan_in.push((t, axis, s.input_directions.get(j).copied().unwrap_or(0) == 1));
    }
    let len = len.unwrap_or(0);
    let n_scan_out = body.outputs.len() - n_state;
    let mut outs: Vec<Vec<Tensor>> = vec![Vec::new(); n_scan_out];
    for it in 0..len {
        let mut vals: HashMap<ValueId, Data> = HashMap::new();
        for (k, t) in states.iter().enumerate() {
            vals.insert(body.inputs[k], Data::Tensor(t.clone()));
        }
        for (j, (t, axis, rev)) in scan_in.iter().enumerate() {
            let k = if *rev { len - 1 - it } else { it };
            vals.insert(body.inputs[n_state + j], Data::Tensor(slice_at(t, *axis, k)?));
        }
        run_list(g, s.body as u32 + 1, &mut vals, outer)?;
        let get = |v: ValueId| lookup(g, &vals, outer, v).and_then(|d| d.into_tensor());

        for (k, st) in states.iter_mut().enumerate() {
            *st = get(body.outputs[k])?;
        }
        for (j, o) in outs.iter_mut().enumerate() {
            o.push(get(body.outputs[n_state + j])?);
        }
    }
    let mut res = states;
    for (j, mut parts) in outs.into_iter().enumerate() {
        if s.output_directions.get(j).copied().unwrap_or(0) == 1 {
            parts.reverse();
        }
        let bo = body.outputs[n_state + j];
        let (dtype, elem) = match parts.first() {
            Some(t) => (t.dtype(), t.shape().to_vec()),
            None => {
                let t = g.value(bo).ty.clone().ok_or("the scan output's type is unknown")?;
                (t.dtype, t.dims.iter().map(|d| d.known().unwrap_or(0)).collect())
            }
        };
        let axis = norm_axis(s.output_axes.get(j).copied().unwrap_or(0), elem.len() + 1)?;
        res.push(stack(&parts, axis, dtype, &elem)?);
    }
    Ok(res)
}
