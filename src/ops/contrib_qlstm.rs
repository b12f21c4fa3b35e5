//! com.microsoft DynamicQuantizeLSTM (opset 1): an ai.onnx LSTM whose weights W and R are
//! int8/uint8 with float scales and zero points (per direction, or per output channel), run the
//! way ONNX Runtime's CPU kernel runs it (`contrib_ops/cpu/quantization/dynamic_quantize_lstm.cc`
//! on `rnn/uni_directional_lstm.cc`), so its float outputs match ORT's:
//!
//! - Inputs: X, W [dirs, input, 4·hidden], R [dirs, hidden, 4·hidden] (note: transposed against
//!   LSTM's W/R), B, sequence_lens, initial_h, initial_c, P (as LSTM), then W_scale,
//!   W_zero_point, R_scale, R_zero_point, each [dirs] (per tensor) or [dirs, 4·hidden] (per
//!   channel). int8 zero points must be 0 and uint8 zero points constant per direction (ORT's
//!   checks; only the first of each direction is used). Gate order i, o, f, c as LSTM.
//! - The input projection of a direction quantizes the rows X[0 .. max(sequence_lens)] (all batch
//!   entries) to uint8 with one dynamic scale/zero point (DynamicQuantizeLinear's arithmetic,
//!   `ops::quant::dynamic_quantize_u8`) and multiplies in int32 with the quantized W:
//!   proj = f32(Σ (qx − zx)(qw − zw)) · (sx · sw[n]).
//! - Every step quantizes the previous hidden states of ALL batch entries of the direction
//!   together (one scale/zero point per step) and adds f32(Σ (qh − zh)(qr − zr)) · (sh · sr[n]).
//!   The matrix quantized is ORT's: the initial state at step 0; later, when Y is an output,
//!   the previous step's Y rows (zeros for entries past their length), else every entry's latest
//!   hidden state. ORT splits the batch across threads when it has several (each chunk then
//!   quantized on its own); these semantics are ORT's with one intra-op thread.
//! - The cell is then LSTM's in f32: i = f(pi + Pi·c + b), f likewise (or 1 − i with
//!   input_forget), c̃ = g(pc + b), C = f·c + i·c̃, o = f(po + Po·C + b), H = o·h(C), with `clip`
//!   bounding each gate input and B's Wb + Rb added as one fused bias (as ORT does).
//! - Entries past their length leave Y zero and keep their state; length 0 gives zero final
//!   states. Only layout 0 (ORT rejects batch-major). With no Y output, an entry of length 0
//!   contributes its initial state to later steps' quantization ranges (ORT reads uninitialized
//!   memory there).

use super::quant::dynamic_quantize_u8;
use super::recurrent::{resolve_activations, sequence_lengths, Cell, Direction, RecShape, Recurrent};
use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Dim, Tensor};

/// DynamicQuantizeLSTM with decoded attributes.
#[derive(Clone, Debug)]
pub struct DynamicQuantizeLstm {
    /// The float LSTM's attributes (cell LSTM, layout 0, `hidden_size` set).
    pub lstm: Recurrent,
    /// Whether output Y is present: it changes which hidden states later steps quantize.
    pub y_output: bool,
}

/// The quantization of one weight tensor for one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightQuant {
    /// One scale per output column (a per-tensor scale repeated).
    pub scales: Vec<f32>,
    pub zero_point: i32,
}

impl DynamicQuantizeLstm {
    /// Validates the shapes of all 12 inputs and returns the sizes and whether W's and R's
    /// scales are per channel.
    pub fn shape_of(&self, shapes: &[Option<&[usize]>]) -> Result<(RecShape, bool, bool), String> {
        let get = |i: usize| shapes.get(i).copied().flatten();
        let w = get(1).ok_or("input W is required")?;
        let r = get(2).ok_or("input R is required")?;
        if w.len() != 3 || r.len() != 3 {
            return Err(format!("W and R must be 3-D, got {w:?} and {r:?}"));
        }
        // The float LSTM's W/R layout ([dirs, 4·hidden, K]) for its shape rule.
        let (wt, rt) = ([w[0], w[2], w[1]], [r[0], r[2], r[1]]);
        let mut fl: Vec<Option<&[usize]>> = (0..8).map(get).collect();
        fl[1] = Some(&wt);
        fl[2] = Some(&rt);
        let s = self.lstm.shape_of(&fl)?;
        let n4 = 4 * s.hidden;
        let mut per_channel = [false; 2];
        for (k, (first, name)) in [(8, "W"), (10, "R")].into_iter().enumerate() {
            let mut pc = None;
            for (i, what) in [(first, "scale"), (first + 1, "zero_point")] {
                let sh = get(i).ok_or(format!("input {name}_{what} is required"))?;
                let this = if sh == [s.dirs] {
                    false
                } else if sh == [s.dirs, n4] {
                    true
                } else {
                    return Err(format!(
                        "{name}_{what} must have shape [{}] (per tensor) or [{}, {n4}] (per channel), got {sh:?}",
                        s.dirs, s.dirs
                    ));
                };
                if pc.is_some_and(|p| p != this) {
                    return Err(format!("{name}_scale and {name}_zero_point have different shapes"));
                }
                pc = Some(this);
            }
            per_channel[k] = pc.unwrap_or(false);
        }
        Ok((s, per_channel[0], per_channel[1]))
    }
}

/// Scales and the zero point of direction `d` of a weight, with ORT's checks (int8 zero points
/// must be 0, uint8 zero points constant within the direction).
pub fn weight_quant(
    name: &str,
    scale: &Tensor,
    zp: &Tensor,
    d: usize,
    n4: usize,
    per_channel: bool,
) -> Result<WeightQuant, String> {
    let sv = scale.as_slice::<f32>()?;
    let zv = zp.to_i64_vec()?;
    let per = if per_channel { n4 } else { 1 };
    let (s, z) = (&sv[d * per..(d + 1) * per], &zv[d * per..(d + 1) * per]);
    if zp.dtype() == DType::I8 && z.iter().any(|&v| v != 0) {
        return Err(format!("{name}: int8 weight zero points must be 0, got {z:?}"));
    }
    if z.iter().any(|&v| v != z[0]) {
        return Err(format!("{name}: weight zero points must be constant within a direction, got {z:?}"));
    }
    let scales = if per_channel { s.to_vec() } else { vec![s[0]; n4] };
    Ok(WeightQuant { scales, zero_point: z[0] as i32 })
}

impl OpSpec for DynamicQuantizeLstm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        if cx.n_outputs > 3 {
            return Err(format!("DynamicQuantizeLSTM has at most 3 outputs, got {}", cx.n_outputs));
        }
        let x = cx.input(0)?;
        if x.dtype != DType::F32 {
            return Err(format!("X must be float, got {}", x.dtype));
        }
        let (w, r) = (cx.input(1)?, cx.input(2)?);
        if !matches!(w.dtype, DType::I8 | DType::U8) || r.dtype != w.dtype {
            return Err(format!("W and R must both be int8 or both uint8, got {} and {}", w.dtype, r.dtype));
        }
        for (i, nm, dt) in [
            (3, "B", DType::F32),
            (4, "sequence_lens", DType::I32),
            (5, "initial_h", DType::F32),
            (6, "initial_c", DType::F32),
            (7, "P", DType::F32),
            (8, "W_scale", DType::F32),
            (9, "W_zero_point", w.dtype),
            (10, "R_scale", DType::F32),
            (11, "R_zero_point", w.dtype),
        ] {
            if let Some(v) = cx.opt(i) {
                if v.dtype != dt {
                    return Err(format!("{nm} must be {dt}, got {}", v.dtype));
                }
            }
        }
        for i in 8..12 {
            cx.input(i)?;
        }
        if x.rank() != 3 || w.rank() != 3 || r.rank() != 3 {
            return Err("X, W and R must be 3-D".into());
        }
        let dirs = self.lstm.direction.count();
        let hidden = self.lstm.hidden_size.ok_or("hidden_size is required")?;
        if let Some(d) = w.dims[0].known() {
            if d != dirs {
                return Err(format!("W has {d} directions, the direction attribute needs {dirs}"));
            }
        }
        if let Some(rh) = r.dims[1].known() {
            if rh != hidden {
                return Err(format!("hidden_size is {hidden} but R has shape {:?}", r.dims));
            }
        }
        let (seq, batch) = (x.dims[0].clone(), x.dims[1].clone());
        let (d, h) = (Dim::Known(dirs), Dim::Known(hidden));
        let mut out = vec![
            vt(DType::F32, vec![seq, d.clone(), batch.clone(), h.clone()]),
            vt(DType::F32, vec![d.clone(), batch.clone(), h.clone()]),
            vt(DType::F32, vec![d, batch, h]),
        ];
        out.truncate(cx.n_outputs);
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let get = |i: usize| inputs.get(i).copied().flatten();
        let shapes: Vec<Option<&[usize]>> = (0..12).map(|i| get(i).map(|t| t.shape())).collect();
        let (s, w_pc, r_pc) = self.shape_of(&shapes)?;
        let x = need(inputs, 0)?.as_slice::<f32>()?;
        let w = need(inputs, 1)?.to_i64_vec()?;
        let r = need(inputs, 2)?.to_i64_vec()?;
        let (hs, n4) = (s.hidden, 4 * s.hidden);
        let lens = sequence_lengths(get(4), s.batch, s.seq)?;
        let max_len = lens.iter().copied().max().unwrap_or(0);
        let f32s = |i: usize| -> Result<Option<&[f32]>, String> { get(i).map(|t| t.as_slice::<f32>()).transpose() };
        let (bias, h0, c0, peep) = (f32s(3)?, f32s(5)?, f32s(6)?, f32s(7)?);
        let bh = s.batch * hs;
        let mut y = vec![0f32; s.seq * s.dirs * bh];
        let mut yh = vec![0f32; s.dirs * bh];
        let mut yc = vec![0f32; s.dirs * bh];
        let (f_act, g_act, h_act) = (0, 1, 2);
        let clip = |v: f32| match self.lstm.clip {
            Some(c) => v.clamp(-c, c),
            None => v,
        };
        let (qx, sx, zx) = dynamic_quantize_u8(&x[..max_len * s.batch * s.input]);
        for d in 0..s.dirs {
            let wq = weight_quant("W", need(inputs, 8)?, need(inputs, 9)?, d, n4, w_pc)?;
            let rq = weight_quant("R", need(inputs, 10)?, need(inputs, 11)?, d, n4, r_pc)?;
            let acts = &self.lstm.acts[d * 3..d * 3 + 3];
            let act = |k: usize, v: f32| acts[k].apply(v as f64) as f32;
            let rev = self.lstm.direction.reversed(d);
            // Input projection of every row below max_len: [t, b, n].
            let mult_x: Vec<f32> = wq.scales.iter().map(|&sw| sx * sw).collect();
            let wd = &w[d * s.input * n4..(d + 1) * s.input * n4];
            let mut proj = vec![0f32; max_len * s.batch * n4];
            for row in 0..max_len * s.batch {
                let xr = &qx[row * s.input..(row + 1) * s.input];
                for n in 0..n4 {
                    let acc: i64 = (0..s.input)
                        .map(|k| (xr[k] as i64 - zx as i64) * (wd[k * n4 + n] - wq.zero_point as i64))
                        .sum();
                    proj[row * n4 + n] = acc as i32 as f32 * mult_x[n];
                }
            }
            // Fused bias Wb + Rb per gate row; peepholes i, o, f.
            let fused: Vec<f32> = match bias {
                Some(b) => (0..n4).map(|n| b[d * 2 * n4 + n] + b[d * 2 * n4 + n4 + n]).collect(),
                None => vec![0.0; n4],
            };
            let pd: Vec<f32> = peep.map_or(vec![0.0; 3 * hs], |p| p[d * 3 * hs..(d + 1) * 3 * hs].to_vec());
            let load = |t: Option<&[f32]>| t.map_or(vec![0f32; bh], |v| v[d * bh..(d + 1) * bh].to_vec());
            let mut hq = load(h0); // the matrix the next step quantizes
            let mut hlast = hq.clone();
            let mut c = load(c0);
            let rd = &r[d * hs * n4..(d + 1) * hs * n4];
            let mut g = vec![0f32; n4];
            for step in 0..max_len {
                let (qh, sh, zh) = dynamic_quantize_u8(&hq);
                let mult_r: Vec<f32> = rq.scales.iter().map(|&sr| sh * sr).collect();
                let mut next = if self.y_output { vec![0f32; bh] } else { hq.clone() };
                for (b, &len) in lens.iter().enumerate() {
                    if step >= len {
                        continue;
                    }
                    let t = if rev { len - 1 - step } else { step };
                    let hr = &qh[b * hs..(b + 1) * hs];
                    for n in 0..n4 {
                        let acc: i64 =
                            (0..hs).map(|k| (hr[k] as i64 - zh as i64) * (rd[k * n4 + n] - rq.zero_point as i64)).sum();
                        g[n] = proj[(t * s.batch + b) * n4 + n] + acc as i32 as f32 * mult_r[n];
                    }
                    for j in 0..hs {
                        let cp = c[b * hs + j];
                        let i = act(f_act, clip(g[j] + cp * pd[j] + fused[j]));
                        let f = if matches!(self.lstm.cell, Cell::Lstm { input_forget: true }) {
                            1.0 - i
                        } else {
                            act(f_act, clip(g[2 * hs + j] + cp * pd[2 * hs + j] + fused[2 * hs + j]))
                        };
                        let cc = act(g_act, clip(g[3 * hs + j] + fused[3 * hs + j]));
                        let cn = cp * f + i * cc;
                        let o = act(f_act, clip(g[hs + j] + cn * pd[hs + j] + fused[hs + j]));
                        let h = act(h_act, cn) * o;
                        c[b * hs + j] = cn;
                        next[b * hs + j] = h;
                        hlast[b * hs + j] = h;
                        y[((t * s.dirs + d) * s.batch + b) * hs + j] = h;
                    }
                }
                hq = next;
            }
            for (b, &len) in lens.iter().enumerate() {
                if len > 0 {
                    let o = (d * s.batch + b) * hs;
                    yh[o..o + hs].copy_from_slice(&hlast[b * hs..(b + 1) * hs]);
                    yc[o..o + hs].copy_from_slice(&c[b * hs..(b + 1) * hs]);
                }
            }
        }
        let st = [s.dirs, s.batch, hs];
        let mut out =
            vec![Tensor::new(&[s.seq, s.dirs, s.batch, hs], y)?, Tensor::new(&st, yh)?, Tensor::new(&st, yc)?];
        out.truncate(n_outputs);
        Ok(out)
    }
}

pub fn import_dynamic_quantize_lstm(c: &NodeCtx) -> Result<Op, String> {
    let dir = c.attrs.string("direction", "forward")?;
    let direction = match dir.as_str() {
        "forward" => Direction::Forward,
        "reverse" => Direction::Reverse,
        "bidirectional" => Direction::Bidirectional,
        d => return Err(format!("unknown direction '{d}'")),
    };
    let hidden = c.attrs.opt_int("hidden_size")?.ok_or("attribute hidden_size is required")?;
    if hidden <= 0 {
        return Err(format!("hidden_size must be positive, got {hidden}"));
    }
    let names = match c.attrs.get("activations") {
        None => None,
        Some(crate::onnx::attrs::AttrValue::Strings(v)) => {
            Some(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>())
        }
        Some(o) => return Err(format!("attribute 'activations' must be strings, got {}", o.type_name())),
    };
    // ORT requires exactly three activations per direction when the list is given.
    if let Some(n) = &names {
        if n.len() != 3 * direction.count() {
            return Err(format!("activations must list {} functions, got {}", 3 * direction.count(), n.len()));
        }
    }
    let cell = Cell::Lstm { input_forget: c.attrs.int("input_forget", 0)? != 0 };
    let alphas = c.attrs.floats("activation_alpha", vec![])?;
    let betas = c.attrs.floats("activation_beta", vec![])?;
    let acts = resolve_activations(cell, direction.count(), names, &alphas, &betas)?;
    let clip = match c.attrs.opt_float("clip")? {
        Some(v) if v.is_nan() || v <= 0.0 => return Err(format!("clip must be positive, got {v}")),
        v => v,
    };
    if c.attrs.int("layout", 0)? != 0 {
        return Err("only layout 0 is supported (as in ONNX Runtime)".into());
    }
    let lstm = Recurrent { cell, direction, hidden_size: Some(hidden as usize), acts, clip, layout: 0 };
    let y_output = c.outputs_present.first().copied().unwrap_or(false);
    Ok(Op::DynamicQuantizeLstm(DynamicQuantizeLstm { lstm, y_output }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_quant_checks_zero_points_like_ort() {
        let s = Tensor::new(&[2, 4], vec![0.5f32, 1.0, 1.5, 2.0, 3.0, 3.0, 3.0, 3.0]).unwrap();
        let z = Tensor::new(&[2, 4], vec![7u8; 8]).unwrap();
        let q = weight_quant("W", &s, &z, 1, 4, true).unwrap();
        assert_eq!(q, WeightQuant { scales: vec![3.0; 4], zero_point: 7 });
        let zbad = Tensor::new(&[2, 4], vec![7u8, 7, 8, 7, 7, 7, 7, 7]).unwrap();
        assert!(weight_quant("W", &s, &zbad, 0, 4, true).is_err());
        let zi = Tensor::new(&[2], vec![0i8, 1]).unwrap();
        let st = Tensor::new(&[2], vec![0.5f32, 0.25]).unwrap();
        assert_eq!(weight_quant("R", &st, &zi, 0, 3, false).unwrap().scales, vec![0.5; 3]);
        assert!(weight_quant("R", &st, &zi, 1, 3, false).is_err());
    }
}
