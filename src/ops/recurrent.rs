//! Recurrent layers (ai.onnx): RNN, GRU and LSTM, every opset form (1/3/7/14/22). One op
//! struct, [`Recurrent`], covers the three cells: directions forward/reverse/bidirectional,
//! per-direction activations with their alpha/beta, `clip`, `sequence_lens`, initial states,
//! LSTM peepholes and `input_forget`, GRU `linear_before_reset`, and both layouts.
//!
//! Inputs: X, W, R, B, sequence_lens, initial_h (and for LSTM initial_c, P). Outputs (all
//! optional): Y, Y_h (and for LSTM Y_c). With layout 0, X is [seq, batch, input], Y is
//! [seq, dirs, batch, hidden] and the states are [dirs, batch, hidden]; with layout 1, X is
//! [batch, seq, input], Y is [batch, seq, dirs, hidden] and the states are [batch, dirs, hidden].
//!
//! Conventions where the spec is silent (those of ONNX Runtime): steps beyond a batch entry's
//! sequence length leave zeros in Y and do not change its state; the reverse direction starts
//! at the entry's last valid step; an entry of length 0 has zero final states. `clip` bounds
//! every gate's input before its activation (the LSTM cell state passed to `h` is not
//! clipped). With `input_forget`, the forget gate is `1 − input gate`.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Dim, Tensor};

/// Which recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Rnn,
    Gru { linear_before_reset: bool },
    Lstm { input_forget: bool },
}

impl Cell {
    /// Gates per direction in W/R (rows are `gates · hidden`).
    pub fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 3,
            Cell::Lstm { .. } => 4,
        }
    }
    /// Activations per direction (f; f, g; f, g, h).
    pub fn n_acts(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 2,
            Cell::Lstm { .. } => 3,
        }
    }
    /// Outputs the op may declare.
    pub fn max_outputs(self) -> usize {
        match self {
            Cell::Lstm { .. } => 3,
            _ => 2,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Cell::Rnn => "RNN",
            Cell::Gru { .. } => "GRU",
            Cell::Lstm { .. } => "LSTM",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    pub fn count(self) -> usize {
        if self == Direction::Bidirectional {
            2
        } else {
            1
        }
    }
    /// Whether direction index `d` runs from the last step to the first.
    pub fn reversed(self, d: usize) -> bool {
        self == Direction::Reverse || (self == Direction::Bidirectional && d == 1)
    }
}

/// The activation functions the spec lists (codes are shared with the GPU kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActKind {
    Relu = 0,
    Tanh = 1,
    Sigmoid = 2,
    Affine = 3,
    LeakyRelu = 4,
    ThresholdedRelu = 5,
    ScaledTanh = 6,
    HardSigmoid = 7,
    Elu = 8,
    Softsign = 9,
    Softplus = 10,
}

impl ActKind {
    pub const ALL: [ActKind; 11] = [
        ActKind::Relu,
        ActKind::Tanh,
        ActKind::Sigmoid,
        ActKind::Affine,
        ActKind::LeakyRelu,
        ActKind::ThresholdedRelu,
        ActKind::ScaledTanh,
        ActKind::HardSigmoid,
        ActKind::Elu,
        ActKind::Softsign,
        ActKind::Softplus,
    ];
}

/// One activation with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation {
    pub kind: ActKind,
    pub alpha: f32,
    pub beta: f32,
}

impl Activation {
    pub fn plain(kind: ActKind) -> Activation {
        Activation { kind, alpha: 0.0, beta: 0.0 }
    }

    pub fn apply(&self, x: f64) -> f64 {
        let (a, b) = (self.alpha as f64, self.beta as f64);
        match self.kind {
            ActKind::Relu => x.max(0.0),
            ActKind::Tanh => x.tanh(),
            ActKind::Sigmoid => sigmoid(x),
            ActKind::Affine => a * x + b,
            ActKind::LeakyRelu => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            ActKind::ThresholdedRelu => {
                if x >= a {
                    x
                } else {
                    0.0
                }
            }
            ActKind::ScaledTanh => a * (b * x).tanh(),
            ActKind::HardSigmoid => (a * x + b).clamp(0.0, 1.0),
            ActKind::Elu => {
                if x >= 0.0 {
                    x
                } else {
                    a * (x.exp() - 1.0)
                }
            }
            ActKind::Softsign => x / (1.0 + x.abs()),
            ActKind::Softplus => {
                if x > 30.0 {
                    x
                } else {
                    x.exp().ln_1p()
                }
            }
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// (kind, uses alpha, uses beta, default alpha, default beta) by case-insensitive name.
/// Defaults follow the corresponding ONNX operators.
fn act_info(name: &str) -> Option<(ActKind, bool, bool, f32, f32)> {
    Some(match name.to_ascii_lowercase().as_str() {
        "relu" => (ActKind::Relu, false, false, 0.0, 0.0),
        "tanh" => (ActKind::Tanh, false, false, 0.0, 0.0),
        "sigmoid" => (ActKind::Sigmoid, false, false, 0.0, 0.0),
        "affine" => (ActKind::Affine, true, true, 1.0, 0.0),
        "leakyrelu" => (ActKind::LeakyRelu, true, false, 0.01, 0.0),
        "thresholdedrelu" => (ActKind::ThresholdedRelu, true, false, 1.0, 0.0),
        "scaledtanh" => (ActKind::ScaledTanh, true, true, 1.0, 1.0),
        "hardsigmoid" => (ActKind::HardSigmoid, true, true, 0.2, 0.5),
        "elu" => (ActKind::Elu, true, false, 1.0, 0.0),
        "softsign" => (ActKind::Softsign, false, false, 0.0, 0.0),
        "softplus" => (ActKind::Softplus, false, false, 0.0, 0.0),
        _ => return None,
    })
}

/// Resolves the `activations` attribute to `per · dirs` activations: a list for one direction
/// is repeated for the second; alpha/beta values are consumed in order by the activations that
/// take them, with the operators' defaults once the lists run out.
pub fn resolve_activations(
    cell: Cell,
    dirs: usize,
    names: Option<Vec<String>>,
    alphas: &[f32],
    betas: &[f32],
) -> Result<Vec<Activation>, String> {
    let per = cell.n_acts();
    let defaults: &[&str] = match cell {
        Cell::Rnn => &["Tanh"],
        Cell::Gru { .. } => &["Sigmoid", "Tanh"],
        Cell::Lstm { .. } => &["Sigmoid", "Tanh", "Tanh"],
    };
    let mut names: Vec<String> = names.unwrap_or_else(|| defaults.iter().map(|s| s.to_string()).collect());
    if names.len() == per && dirs == 2 {
        names.extend(names.clone());
    }
    if names.len() < per * dirs {
        return Err(format!(
            "{} needs {} activations for {dirs} direction(s), got {}",
            cell.name(),
            per * dirs,
            names.len()
        ));
    }
    // A longer list (e.g. RNN's schema default ["Tanh", "Tanh"] on one direction): the rest is unused.
    names.truncate(per * dirs);
    let (mut ai, mut bi) = (alphas.iter(), betas.iter());
    names
        .iter()
        .map(|n| {
            let (kind, ua, ub, da, db) = act_info(n).ok_or_else(|| format!("unknown activation function '{n}'"))?;
            let alpha = if ua { ai.next().copied().unwrap_or(da) } else { 0.0 };
            let beta = if ub { bi.next().copied().unwrap_or(db) } else { 0.0 };
            Ok(Activation { kind, alpha, beta })
        })
        .collect()
}

/// RNN, GRU or LSTM with decoded attributes.
#[derive(Clone, Debug)]
pub struct Recurrent {
    pub cell: Cell,
    pub direction: Direction,
    pub hidden_size: Option<usize>,
    /// `cell.n_acts()` per direction, forward direction first.
    pub acts: Vec<Activation>,
    pub clip: Option<f32>,
    /// 0: sequence-major, 1: batch-major.
    pub layout: i64,
}

/// Concrete sizes of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecShape {
    pub seq: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
    pub dirs: usize,
}

impl Recurrent {
    /// Validates the input shapes (`shapes[i]`: `None` for an omitted input) and returns the sizes.
    pub fn shape_of(&self, shapes: &[Option<&[usize]>]) -> Result<RecShape, String> {
        let get = |i: usize| shapes.get(i).copied().flatten();
        let x = get(0).ok_or("input X is required")?;
        let w = get(1).ok_or("input W is required")?;
        let r = get(2).ok_or("input R is required")?;
        if x.len() != 3 || w.len() != 3 || r.len() != 3 {
            return Err(format!("X, W and R must be 3-D, got {x:?}, {w:?} and {r:?}"));
        }
        let (seq, batch) = if self.layout == 0 { (x[0], x[1]) } else { (x[1], x[0]) };
        let input = x[2];
        let dirs = self.direction.count();
        let g = self.cell.gates();
        let hidden = r[2];
        if let Some(h) = self.hidden_size {
            if h != hidden {
                return Err(format!("hidden_size is {h} but R has shape {r:?}"));
            }
        }
        if w != [dirs, g * hidden, input] {
            return Err(format!("W must have shape [{dirs}, {}, {input}], got {w:?}", g * hidden));
        }
        if r != [dirs, g * hidden, hidden] {
            return Err(format!("R must have shape [{dirs}, {}, {hidden}], got {r:?}", g * hidden));
        }
        if let Some(b) = get(3) {
            if b != [dirs, 2 * g * hidden] {
                return Err(format!("B must have shape [{dirs}, {}], got {b:?}", 2 * g * hidden));
            }
        }
        if let Some(l) = get(4) {
            if l != [batch] {
                return Err(format!("sequence_lens must have shape [{batch}], got {l:?}"));
            }
        }
        let state = self.state_shape(dirs, batch, hidden);
        for (i, name) in [(5, "initial_h"), (6, "initial_c")] {
            if let Some(s) = get(i) {
                if s != state {
                    return Err(format!("{name} must have shape {state:?}, got {s:?}"));
                }
            }
        }
        if let Some(p) = get(7) {
            if p != [dirs, 3 * hidden] {
                return Err(format!("P must have shape [{dirs}, {}], got {p:?}", 3 * hidden));
            }
        }
        Ok(RecShape { seq, batch, input, hidden, dirs })
    }

    /// The shape of Y_h / Y_c / initial states.
    pub fn state_shape(&self, dirs: usize, batch: usize, hidden: usize) -> [usize; 3] {
        if self.layout == 0 {
            [dirs, batch, hidden]
        } else {
            [batch, dirs, hidden]
        }
    }

    /// The shape of Y.
    pub fn y_shape(&self, s: &RecShape) -> [usize; 4] {
        if self.layout == 0 {
            [s.seq, s.dirs, s.batch, s.hidden]
        } else {
            [s.batch, s.seq, s.dirs, s.hidden]
        }
    }

    /// Element index of state (d, b, j) in a state-shaped tensor.
    fn state_index(&self, s: &RecShape, d: usize, b: usize, j: usize) -> usize {
        if self.layout == 0 {
            (d * s.batch + b) * s.hidden + j
        } else {
            (b * s.dirs + d) * s.hidden + j
        }
    }

    fn clip(&self, x: f64) -> f64 {
        match self.clip {
            Some(c) => x.clamp(-(c as f64), c as f64),
            None => x,
        }
    }
}

/// Sequence lengths per batch entry (all `seq` when absent), validated to `0..=seq`.
pub fn sequence_lengths(lens: Option<&Tensor>, batch: usize, seq: usize) -> Result<Vec<usize>, String> {
    match lens {
        None => Ok(vec![seq; batch]),
        Some(t) => {
            if !t.dtype().is_int() {
                return Err(format!("sequence_lens must be int32, got {}", t.dtype()));
            }
            t.to_i64_vec()?
                .into_iter()
                .map(|l| {
                    if l < 0 || l as u64 > seq as u64 {
                        Err(format!("sequence_lens value {l} is outside [0, {seq}]"))
                    } else {
                        Ok(l as usize)
                    }
                })
                .collect()
        }
    }
}

impl OpSpec for Recurrent {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let name = self.cell.name();
        if cx.n_outputs > self.cell.max_outputs() {
            return Err(format!("{name} has at most {} outputs, got {}", self.cell.max_outputs(), cx.n_outputs));
        }
        let x = cx.input(0)?;
        let (w, r) = (cx.input(1)?, cx.input(2)?);
        if !x.dtype.is_float() {
            return Err(format!("{name} needs a float X, got {}", x.dtype));
        }
        for (i, nm) in [(1, "W"), (2, "R"), (3, "B"), (5, "initial_h"), (6, "initial_c"), (7, "P")] {
            if let Some(v) = cx.opt(i) {
                if v.dtype != x.dtype {
                    return Err(format!("{name}: {nm} must have X's dtype {}, got {}", x.dtype, v.dtype));
                }
            }
        }
        if let Some(l) = cx.opt(4) {
            if l.dtype != DType::I32 {
                return Err(format!("{name}: sequence_lens must be int32, got {}", l.dtype));
            }
        }
        if !matches!(self.cell, Cell::Lstm { .. }) && (cx.opt(6).is_some() || cx.opt(7).is_some()) {
            return Err(format!("{name} has at most 6 inputs"));
        }
        if x.rank() != 3 || w.rank() != 3 || r.rank() != 3 {
            return Err(format!("{name}: X, W and R must be 3-D"));
        }
        let (seq, batch) = if self.layout == 0 {
            (x.dims[0].clone(), x.dims[1].clone())
        } else {
            (x.dims[1].clone(), x.dims[0].clone())
        };
        let dirs = self.direction.count();
        if let Some(d) = w.dims[0].known() {
            if d != dirs {
                return Err(format!("{name}: W has {d} directions, the direction attribute needs {dirs}"));
            }
        }
        let hidden = match (self.hidden_size, r.dims[2].known()) {
            (Some(h), Some(rh)) if h != rh => {
                return Err(format!("{name}: hidden_size is {h} but R's last dim is {rh}"))
            }
            (Some(h), _) => Dim::Known(h),
            (None, _) => r.dims[2].clone(),
        };
        let d = Dim::Known(dirs);
        let y = if self.layout == 0 {
            vec![seq, d.clone(), batch.clone(), hidden.clone()]
        } else {
            vec![batch.clone(), seq, d.clone(), hidden.clone()]
        };
        let st = if self.layout == 0 { vec![d, batch, hidden] } else { vec![batch, d, hidden] };
        let mut out = vec![vt(x.dtype, y)];
        while out.len() < cx.n_outputs {
            out.push(vt(x.dtype, st.clone()));
        }
        out.truncate(cx.n_outputs);
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let get = |i: usize| inputs.get(i).copied().flatten();
        let shapes: Vec<Option<&[usize]>> = (0..8).map(|i| get(i).map(|t| t.shape())).collect();
        let s = self.shape_of(&shapes)?;
        if !matches!(self.cell, Cell::Lstm { .. }) && (get(6).is_some() || get(7).is_some()) {
            return Err(format!("{} has at most 6 inputs", self.cell.name()));
        }
        if self.acts.len() != self.cell.n_acts() * s.dirs {
            return Err(format!("{} activations for {} direction(s)", self.acts.len(), s.dirs));
        }
        let (hs, g) = (s.hidden, self.cell.gates());
        let gh = g * hs;
        let xv = x.to_f64_vec()?;
        let w = need(inputs, 1)?.to_f64_vec()?;
        let r = need(inputs, 2)?.to_f64_vec()?;
        let bias = match get(3) {
            Some(t) => t.to_f64_vec()?,
            None => vec![0.0; s.dirs * 2 * gh],
        };
        let peep = match get(7) {
            Some(t) => t.to_f64_vec()?,
            None => vec![0.0; s.dirs * 3 * hs],
        };
        let lens = sequence_lengths(get(4), s.batch, s.seq)?;
        let st_n = s.dirs * s.batch * hs;
        // Internal states are [dirs, batch, hidden].
        let load_state = |t: Option<&Tensor>| -> Result<Vec<f64>, String> {
            let mut v = vec![0.0; st_n];
            if let Some(t) = t {
                let src = t.to_f64_vec()?;
                for d in 0..s.dirs {
                    for b in 0..s.batch {
                        for j in 0..hs {
                            v[(d * s.batch + b) * hs + j] = src[self.state_index(&s, d, b, j)];
                        }
                    }
                }
            }
            Ok(v)
        };
        let mut h = load_state(get(5))?;
        let mut c = load_state(get(6))?;
        let y_shape = self.y_shape(&s);
        let mut y = vec![0.0; y_shape.iter().product()];
        let x_index = |t: usize, b: usize, k: usize| {
            if self.layout == 0 {
                (t * s.batch + b) * s.input + k
            } else {
                (b * s.seq + t) * s.input + k
            }
        };
        let y_index = |t: usize, d: usize, b: usize, j: usize| {
            if self.layout == 0 {
                ((t * s.dirs + d) * s.batch + b) * hs + j
            } else {
                ((b * s.seq + t) * s.dirs + d) * hs + j
            }
        };
        let mut gx = vec![0.0; gh];
        let mut gr = vec![0.0; gh];
        for d in 0..s.dirs {
            let acts = &self.acts[d * self.cell.n_acts()..(d + 1) * self.cell.n_acts()];
            let wd = &w[d * gh * s.input..(d + 1) * gh * s.input];
            let rd = &r[d * gh * hs..(d + 1) * gh * hs];
            let (wb, rb) = (&bias[d * 2 * gh..d * 2 * gh + gh], &bias[d * 2 * gh + gh..(d + 1) * 2 * gh]);
            let pd = &peep[d * 3 * hs..(d + 1) * 3 * hs];
            for (b, &len) in lens.iter().enumerate() {
                let base = (d * s.batch + b) * hs;
                if len == 0 {
                    h[base..base + hs].fill(0.0);
                    c[base..base + hs].fill(0.0);
                    continue;
                }
                for step in 0..len {
                    let t = if self.direction.reversed(d) { len - 1 - step } else { step };
                    let xt = &xv[x_index(t, b, 0)..x_index(t, b, 0) + s.input];
                    let hp: Vec<f64> = h[base..base + hs].to_vec();
                    for row in 0..gh {
                        gx[row] = dot(xt, &wd[row * s.input..(row + 1) * s.input]) + wb[row];
                        gr[row] = dot(&hp, &rd[row * hs..(row + 1) * hs]) + rb[row];
                    }
                    match self.cell {
                        Cell::Rnn => {
                            for j in 0..hs {
                                h[base + j] = acts[0].apply(self.clip(gx[j] + gr[j]));
                            }
                        }
                        Cell::Gru { linear_before_reset } => {
                            // Gate order z, r, h.
                            let z: Vec<f64> = (0..hs).map(|j| acts[0].apply(self.clip(gx[j] + gr[j]))).collect();
                            let rg: Vec<f64> =
                                (0..hs).map(|j| acts[0].apply(self.clip(gx[hs + j] + gr[hs + j]))).collect();
                            let rh: Vec<f64> = (0..hs).map(|k| rg[k] * hp[k]).collect();
                            for j in 0..hs {
                                let row = 2 * hs + j;
                                let pre = if linear_before_reset {
                                    gx[row] + rg[j] * gr[row]
                                } else {
                                    gx[row] + dot(&rh, &rd[row * hs..(row + 1) * hs]) + rb[row]
                                };
                                let hh = acts[1].apply(self.clip(pre));
                                h[base + j] = (1.0 - z[j]) * hh + z[j] * hp[j];
                            }
                        }
                        Cell::Lstm { input_forget } => {
                            // Gate order i, o, f, c; peepholes i, o, f.
                            for j in 0..hs {
                                let cp = c[base + j];
                                let pre = |gate: usize| gx[gate * hs + j] + gr[gate * hs + j];
                                let i = acts[0].apply(self.clip(pre(0) + pd[j] * cp));
                                let f = if input_forget {
                                    1.0 - i
                                } else {
                                    acts[0].apply(self.clip(pre(2) + pd[2 * hs + j] * cp))
                                };
                                let cc = acts[1].apply(self.clip(pre(3)));
                                let cn = f * cp + i * cc;
                                let o = acts[0].apply(self.clip(pre(1) + pd[hs + j] * cn));
                                c[base + j] = cn;
                                h[base + j] = o * acts[2].apply(cn);
                            }
                        }
                    }
                    for j in 0..hs {
                        y[y_index(t, d, b, j)] = h[base + j];
                    }
                }
            }
        }
        let st_shape = self.state_shape(s.dirs, s.batch, hs);
        let to_layout = |v: &[f64]| -> Vec<f64> {
            let mut o = vec![0.0; st_n];
            for d in 0..s.dirs {
                for b in 0..s.batch {
                    for j in 0..hs {
                        o[self.state_index(&s, d, b, j)] = v[(d * s.batch + b) * hs + j];
                    }
                }
            }
            o
        };
        let dt = x.dtype();
        let mut out = vec![Tensor::from_f64(dt, &y_shape, &y)?];
        if n_outputs > 1 {
            out.push(Tensor::from_f64(dt, &st_shape, &to_layout(&h))?);
        }
        if n_outputs > 2 {
            out.push(Tensor::from_f64(dt, &st_shape, &to_layout(&c))?);
        }
        out.truncate(n_outputs);
        Ok(out)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn import(c: &NodeCtx, cell: Cell) -> Result<Op, String> {
    let dir = c.attrs.string("direction", "forward")?;
    let direction = match dir.as_str() {
        // GRU-1's schema default is spelled "foward".
        "forward" | "foward" => Direction::Forward,
        "reverse" => Direction::Reverse,
        "bidirectional" => Direction::Bidirectional,
        d => return Err(format!("unknown direction '{d}'")),
    };
    let hidden_size = match c.attrs.opt_int("hidden_size")? {
        Some(h) if h <= 0 => return Err(format!("hidden_size must be positive, got {h}")),
        Some(h) => Some(h as usize),
        None => None,
    };
    let names = match c.attrs.get("activations") {
        None => None,
        Some(crate::onnx::attrs::AttrValue::Strings(v)) => {
            Some(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        }
        Some(o) => return Err(format!("attribute 'activations' must be strings, got {}", o.type_name())),
    };
    let alphas = c.attrs.floats("activation_alpha", vec![])?;
    let betas = c.attrs.floats("activation_beta", vec![])?;
    let acts = resolve_activations(cell, direction.count(), names, &alphas, &betas)?;
    let clip = match c.attrs.opt_float("clip")? {
        Some(v) if v.is_nan() || v < 0.0 => return Err(format!("clip must be non-negative, got {v}")),
        v => v,
    };
    let layout = if c.opset >= 14 { c.attrs.int("layout", 0)? } else { 0 };
    if layout != 0 && layout != 1 {
        return Err(format!("layout must be 0 or 1, got {layout}"));
    }
    Ok(Op::Recurrent(Recurrent { cell, direction, hidden_size, acts, clip, layout }))
}

pub fn import_rnn(c: &NodeCtx) -> Result<Op, String> {
    import(c, Cell::Rnn)
}
pub fn import_gru(c: &NodeCtx) -> Result<Op, String> {
    let lbr = if c.opset >= 3 { c.attrs.int("linear_before_reset", 0)? != 0 } else { false };
    import(c, Cell::Gru { linear_before_reset: lbr })
}
pub fn import_lstm(c: &NodeCtx) -> Result<Op, String> {
    import(c, Cell::Lstm { input_forget: c.attrs.int("input_forget", 0)? != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rnn(direction: Direction, layout: i64, act: Activation) -> Recurrent {
        let acts = vec![act; direction.count()];
        Recurrent { cell: Cell::Rnn, direction, hidden_size: Some(1), acts, clip: None, layout }
    }

    fn identity() -> Activation {
        Activation { kind: ActKind::Affine, alpha: 1.0, beta: 0.0 }
    }

    /// With W = R = 1 and an identity activation, an RNN computes running sums.
    #[test]
    fn sequence_lens_and_directions() {
        // X: [seq 3, batch 2, input 1]; batch 1 has length 2.
        let x = Tensor::new(&[3, 2, 1], vec![1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0]).unwrap();
        let w = Tensor::new(&[2, 1, 1], vec![1.0f32, 1.0]).unwrap();
        let r = Tensor::new(&[2, 1, 1], vec![1.0f32, 1.0]).unwrap();
        let lens = Tensor::new(&[2], vec![3i32, 2]).unwrap();
        let op = rnn(Direction::Bidirectional, 0, identity());
        let out = op.eval(&[Some(&x), Some(&w), Some(&r), None, Some(&lens)], 2).unwrap();
        // Y: [seq, dirs, batch, hidden]
        let y = out[0].to_vec::<f32>().unwrap();
        assert_eq!(out[0].shape(), &[3, 2, 2, 1]);
        #[rustfmt::skip]
        assert_eq!(y, vec![
            1.0, 10.0, 6.0, 30.0, // t0: fwd, rev
            3.0, 30.0, 5.0, 20.0, // t1
            6.0, 0.0, 3.0, 0.0,   // t2: beyond batch 1's length
        ]);
        // Y_h: forward ends at each entry's last valid step, reverse at step 0.
        assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![6.0, 30.0, 6.0, 30.0]);
    }

    #[test]
    fn zero_length_entries_have_zero_states() {
        let x = Tensor::new(&[1, 1, 1], vec![5.0f32]).unwrap();
        let w = Tensor::new(&[1, 1, 1], vec![1.0f32]).unwrap();
        let h0 = Tensor::new(&[1, 1, 1], vec![7.0f32]).unwrap();
        let lens = Tensor::new(&[1], vec![0i32]).unwrap();
        let op = rnn(Direction::Forward, 0, identity());
        let out = op.eval(&[Some(&x), Some(&w), Some(&w), None, Some(&lens), Some(&h0)], 2).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![0.0]);
        assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![0.0]);
        let bad = Tensor::new(&[1], vec![2i32]).unwrap();
        assert!(op.eval(&[Some(&x), Some(&w), Some(&w), None, Some(&bad)], 2).is_err());
    }

    #[test]
    fn batch_major_layout_matches_sequence_major() {
        let xs: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        let x0 = Tensor::new(&[3, 2, 2], xs.clone()).unwrap();
        // The same data transposed to [batch, seq, input].
        let mut xt = vec![0.0f32; 12];
        for t in 0..3 {
            for b in 0..2 {
                for k in 0..2 {
                    xt[(b * 3 + t) * 2 + k] = xs[(t * 2 + b) * 2 + k];
                }
            }
        }
        let x1 = Tensor::new(&[2, 3, 2], xt).unwrap();
        let w = Tensor::new(&[1, 4, 2], (0..8).map(|i| 0.1 * i as f32 - 0.3).collect()).unwrap();
        let r = Tensor::new(&[1, 4, 1], vec![0.5f32, -0.2, 0.3, 0.1]).unwrap();
        let acts = resolve_activations(Cell::Lstm { input_forget: false }, 1, None, &[], &[]).unwrap();
        let mk = |layout| Recurrent {
            cell: Cell::Lstm { input_forget: false },
            direction: Direction::Reverse,
            hidden_size: None,
            acts: acts.clone(),
            clip: Some(0.4),
            layout,
        };
        let a = mk(0).eval(&[Some(&x0), Some(&w), Some(&r)], 3).unwrap();
        let b = mk(1).eval(&[Some(&x1), Some(&w), Some(&r)], 3).unwrap();
        assert_eq!(a[0].shape(), &[3, 1, 2, 1]);
        assert_eq!(b[0].shape(), &[2, 3, 1, 1]);
        let (ya, yb) = (a[0].to_vec::<f32>().unwrap(), b[0].to_vec::<f32>().unwrap());
        for t in 0..3 {
            for bb in 0..2 {
                assert_eq!(ya[t * 2 + bb], yb[bb * 3 + t]);
            }
        }
        assert_eq!(a[1].to_vec::<f32>().unwrap(), b[1].to_vec::<f32>().unwrap());
        assert_eq!(a[2].to_vec::<f32>().unwrap(), b[2].to_vec::<f32>().unwrap());
    }

    #[test]
    fn lstm_input_forget_couples_gates() {
        // One step, hidden 1, input 1, zero weights except the input gate's bias:
        // i = sigmoid(1), f = 1 − i, c̃ = tanh(0) = 0 → C = f·C0.
        let x = Tensor::new(&[1, 1, 1], vec![0.0f32]).unwrap();
        let w = Tensor::new(&[1, 4, 1], vec![0.0f32; 4]).unwrap();
        let r = Tensor::new(&[1, 4, 1], vec![0.0f32; 4]).unwrap();
        let mut bv = vec![0.0f32; 8];
        bv[0] = 1.0;
        let b = Tensor::new(&[1, 8], bv).unwrap();
        let c0 = Tensor::new(&[1, 1, 1], vec![2.0f32]).unwrap();
        let cell = Cell::Lstm { input_forget: true };
        let acts = resolve_activations(cell, 1, None, &[], &[]).unwrap();
        let op = Recurrent { cell, direction: Direction::Forward, hidden_size: Some(1), acts, clip: None, layout: 0 };
        let out = op.eval(&[Some(&x), Some(&w), Some(&r), Some(&b), None, None, Some(&c0)], 3).unwrap();
        let i = sigmoid(1.0);
        let c = (1.0 - i) * 2.0;
        assert!((out[2].to_vec::<f32>().unwrap()[0] as f64 - c).abs() < 1e-6);
        let h = 0.5 * c.tanh();
        assert!((out[1].to_vec::<f32>().unwrap()[0] as f64 - h).abs() < 1e-6);
    }

    #[test]
    fn activation_lists() {
        let cell = Cell::Gru { linear_before_reset: false };
        // One direction's list repeats for the second; alphas go to the activations that take them.
        let names = Some(vec!["LeakyRelu".to_string(), "hardsigmoid".to_string()]);
        let a = resolve_activations(cell, 2, names, &[0.5, 0.25], &[0.125]).unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a[0], Activation { kind: ActKind::LeakyRelu, alpha: 0.5, beta: 0.0 });
        assert_eq!(a[1], Activation { kind: ActKind::HardSigmoid, alpha: 0.25, beta: 0.125 });
        // The lists ran out: the operators' defaults.
        assert_eq!(a[2], Activation { kind: ActKind::LeakyRelu, alpha: 0.01, beta: 0.0 });
        assert_eq!(a[3], Activation { kind: ActKind::HardSigmoid, alpha: 0.2, beta: 0.5 });
        assert!(resolve_activations(cell, 1, Some(vec!["Tanh".into()]), &[], &[]).is_err());
        assert!(resolve_activations(Cell::Rnn, 1, Some(vec!["Bogus".into()]), &[], &[]).is_err());
        let d = resolve_activations(Cell::Rnn, 1, Some(vec!["Tanh".into(), "Tanh".into()]), &[], &[]).unwrap();
        assert_eq!(d, vec![Activation::plain(ActKind::Tanh)]);
        let e = Activation { kind: ActKind::Elu, alpha: 2.0, beta: 0.0 };
        assert!((e.apply(-1.0) - 2.0 * ((-1.0f64).exp() - 1.0)).abs() < 1e-12);
        assert_eq!(Activation { kind: ActKind::ThresholdedRelu, alpha: 1.0, beta: 0.0 }.apply(0.5), 0.0);
        assert!((Activation::plain(ActKind::Softplus).apply(0.0) - 2f64.ln()).abs() < 1e-12);
    }
}
