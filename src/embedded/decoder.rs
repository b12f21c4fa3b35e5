//! A tiny GPT-style decoder with a KV cache, written by this crate's model builder with
//! seeded weights, and the two greedy decode loops the test and the `decode` example share:
//! one that keeps the cache (and the next token) on the device through an [`IoBinding`], and
//! one that round-trips every tensor through the host with [`Session::run`].
//!
//! The graph (opset 20): `input_ids` int64 `[1, seq]`, per layer `past_key_{l}` /
//! `past_value_{l}` f32 `[1, heads, past_len, head_dim]` (`past_len` symbolic, 0 at the start)
//! → token embedding (Gather) + position embedding (positions `past_len .. past_len + seq`,
//! computed from shapes), per layer LayerNorm → causal self-attention whose K/V are the
//! concatenation of the past with the new tokens' K/V (`present_key_{l}` / `present_value_{l}`
//! outputs) → residual → LayerNorm → MLP with Gelu → residual; final LayerNorm → `logits`
//! `[1, seq, vocab]`, and `next_token` int64 `[1, 1]` = ArgMax of the last position's logits,
//! shaped like a one-token `input_ids` so greedy decoding can feed it straight back.

use super::Rng;
use crate::backend::resident::TransferStats;
use crate::error::{Error, Result};
use crate::onnx::builder::{Attr, DimSpec, ModelBuilder};
use crate::tensor::{DType, Tensor};
use crate::{IoBinding, Session};
use std::time::Instant;

/// The decoder's sizes and weight seed.
#[derive(Clone, Copy, Debug)]
pub struct TinyGpt {
    pub vocab: usize,
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    pub ff: usize,
    /// Rows of the position embedding: the longest context.
    pub max_pos: usize,
    pub seed: u64,
}

impl Default for TinyGpt {
    fn default() -> Self {
        TinyGpt { vocab: 128, d_model: 64, heads: 4, layers: 2, ff: 256, max_pos: 256, seed: 42 }
    }
}

fn tensor(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::new(shape, v).expect("shape")
}

fn ints(v: &[i64]) -> Tensor {
    Tensor::new(&[v.len()], v.to_vec()).expect("shape")
}

impl TinyGpt {
    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }

    /// `(present output, past input)` name pairs of the cache, layer by layer.
    pub fn cache_names(&self) -> Vec<(String, String)> {
        (0..self.layers)
            .flat_map(|l| {
                [
                    (format!("present_key_{l}"), format!("past_key_{l}")),
                    (format!("present_value_{l}"), format!("past_value_{l}")),
                ]
            })
            .collect()
    }

    /// The empty cache (`past_len` = 0), by input name.
    pub fn empty_cache(&self) -> Vec<(String, Tensor)> {
        let shape = [1, self.heads, 0, self.head_dim()];
        self.cache_names()
            .into_iter()
            .map(|(_, past)| (past, Tensor::zeros(DType::F32, &shape).expect("shape")))
            .collect()
    }

    /// The model's bytes.
    pub fn build(&self) -> Vec<u8> {
        let (d, h, dh, v) = (self.d_model, self.heads, self.head_dim(), self.vocab);
        let mut r = Rng::new(self.seed);
        let mut b = ModelBuilder::new(20);
        let seq = DimSpec::Name("seq".into());
        let past = DimSpec::Name("past_len".into());
        b.input_dims("input_ids", DType::I64, &[DimSpec::Size(1), seq.clone()]);
        let cache_dims = [DimSpec::Size(1), DimSpec::Size(h as i64), past.clone(), DimSpec::Size(dh as i64)];
        for (_, past_name) in self.cache_names() {
            b.input_dims(&past_name, DType::F32, &cache_dims);
        }
        let w = |r: &mut Rng, rows: usize, cols: usize| {
            tensor(&[rows, cols], r.vec(rows * cols, 1.0 / (rows as f32).sqrt()))
        };
        b.initializer("wte", tensor(&[v, d], r.vec(v * d, 1.0)));
        b.initializer("wpe", tensor(&[self.max_pos, d], r.vec(self.max_pos * d, 0.3)));
        b.initializer("one", Tensor::scalar(1i64));
        b.initializer("zero", Tensor::scalar(0i64));
        b.initializer("heads_shape", ints(&[0, 0, h as i64, dh as i64]));
        b.initializer("merged_shape", ints(&[0, 0, d as i64]));
        b.initializer("scale", Tensor::scalar(1.0f32 / (dh as f32).sqrt()));
        b.initializer("masked", Tensor::scalar(-1e9f32));
        b.initializer("open", Tensor::scalar(0.0f32));
        b.initializer("last_start", ints(&[-1]));
        b.initializer("last_end", ints(&[i64::MAX]));
        b.initializer("axis1", ints(&[1]));
        b.initializer("axis0", ints(&[0]));

        // Positions past_len .. past_len + seq and the causal mask, from shapes only (folded
        // when each stage is planned).
        b.node("Shape", &["past_key_0"], &["past_len_1"], &[("start", Attr::Int(2)), ("end", Attr::Int(3))]);
        b.node("Shape", &["input_ids"], &["seq_1"], &[("start", Attr::Int(1)), ("end", Attr::Int(2))]);
        b.node("Squeeze", &["past_len_1", "axis0"], &["past_len"], &[]);
        b.node("Squeeze", &["seq_1", "axis0"], &["seq_len"], &[]);
        b.node("Add", &["past_len", "seq_len"], &["total"], &[]);
        b.node("Range", &["past_len", "total", "one"], &["positions"], &[]);
        b.node("Range", &["zero", "total", "one"], &["columns"], &[]);
        b.node("Unsqueeze", &["positions", "axis1"], &["rows"], &[]);
        b.node("LessOrEqual", &["columns", "rows"], &["allowed"], &[]);
        b.node("Where", &["allowed", "open", "masked"], &["mask"], &[]);

        b.node("Gather", &["wte", "input_ids"], &["tok"], &[]);
        b.node("Gather", &["wpe", "positions"], &["pos"], &[]);
        b.node("Add", &["tok", "pos"], &["x0"], &[]);

        let mut x = "x0".to_string();
        let ln = |b: &mut ModelBuilder, r: &mut Rng, name: &str, input: &str| {
            let g = format!("{name}.g");
            let bias = format!("{name}.b");
            b.initializer(&g, tensor(&[d], r.vec(d, 0.2).into_iter().map(|x| 1.0 + x).collect()));
            b.initializer(&bias, tensor(&[d], r.vec(d, 0.1)));
            b.node("LayerNormalization", &[input, &g, &bias], &[name], &[("axis", Attr::Int(-1))]);
        };
        for l in 0..self.layers {
            let n = |s: &str| format!("l{l}.{s}");
            ln(&mut b, &mut r, &n("ln1"), &x);
            for p in ["q", "k", "v"] {
                b.initializer(&n(&format!("w{p}")), w(&mut r, d, d));
                b.node("MatMul", &[&n("ln1"), &n(&format!("w{p}"))], &[&n(&format!("{p}_flat"))], &[]);
                b.node("Reshape", &[&n(&format!("{p}_flat")), "heads_shape"], &[&n(&format!("{p}_split"))], &[]);
                b.node(
                    "Transpose",
                    &[&n(&format!("{p}_split"))],
                    &[&n(&format!("{p}_new"))],
                    &[("perm", Attr::Ints(vec![0, 2, 1, 3]))],
                );
            }
            let (pk, pv) = (format!("past_key_{l}"), format!("past_value_{l}"));
            let (ck, cv) = (format!("present_key_{l}"), format!("present_value_{l}"));
            b.node("Concat", &[&pk, &n("k_new")], &[&ck], &[("axis", Attr::Int(2))]);
            b.node("Concat", &[&pv, &n("v_new")], &[&cv], &[("axis", Attr::Int(2))]);
            b.node("Transpose", &[&ck], &[&n("k_t")], &[("perm", Attr::Ints(vec![0, 1, 3, 2]))]);
            b.node("MatMul", &[&n("q_new"), &n("k_t")], &[&n("scores_raw")], &[]);
            b.node("Mul", &[&n("scores_raw"), "scale"], &[&n("scores_scaled")], &[]);
            b.node("Add", &[&n("scores_scaled"), "mask"], &[&n("scores")], &[]);
            b.node("Softmax", &[&n("scores")], &[&n("probs")], &[("axis", Attr::Int(-1))]);
            b.node("MatMul", &[&n("probs"), &cv], &[&n("ctx_heads")], &[]);
            b.node("Transpose", &[&n("ctx_heads")], &[&n("ctx_t")], &[("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
            b.node("Reshape", &[&n("ctx_t"), "merged_shape"], &[&n("ctx")], &[]);
            b.initializer(&n("wo"), w(&mut r, d, d));
            b.node("MatMul", &[&n("ctx"), &n("wo")], &[&n("attn")], &[]);
            b.node("Add", &[&x, &n("attn")], &[&n("res1")], &[]);
            ln(&mut b, &mut r, &n("ln2"), &n("res1"));
            b.initializer(&n("w1"), w(&mut r, d, self.ff));
            b.initializer(&n("b1"), tensor(&[self.ff], r.vec(self.ff, 0.1)));
            b.initializer(&n("w2"), w(&mut r, self.ff, d));
            b.initializer(&n("b2"), tensor(&[d], r.vec(d, 0.1)));
            b.node("MatMul", &[&n("ln2"), &n("w1")], &[&n("ff_mm")], &[]);
            b.node("Add", &[&n("ff_mm"), &n("b1")], &[&n("ff_pre")], &[]);
            b.node("Gelu", &[&n("ff_pre")], &[&n("ff_act")], &[]);
            b.node("MatMul", &[&n("ff_act"), &n("w2")], &[&n("ff_out_mm")], &[]);
            b.node("Add", &[&n("ff_out_mm"), &n("b2")], &[&n("ff_out")], &[]);
            b.node("Add", &[&n("res1"), &n("ff_out")], &[&n("out")], &[]);
            x = n("out");
        }
        ln(&mut b, &mut r, "ln_f", &x);
        b.initializer("w_lm", w(&mut r, d, v));
        b.node("MatMul", &["ln_f", "w_lm"], &["logits"], &[]);
        b.node("Slice", &["logits", "last_start", "last_end", "axis1"], &["last_logits"], &[]);
        b.node("ArgMax", &["last_logits"], &["next_token"], &[("axis", Attr::Int(-1)), ("keepdims", Attr::Int(0))]);

        b.output_dims("logits", DType::F32, &[DimSpec::Size(1), seq, DimSpec::Size(v as i64)]);
        b.output_dims("next_token", DType::I64, &[DimSpec::Size(1), DimSpec::Size(1)]);
        let total = DimSpec::Name("total_len".into());
        for (present, _) in self.cache_names() {
            b.output_dims(
                &present,
                DType::F32,
                &[DimSpec::Size(1), DimSpec::Size(h as i64), total.clone(), DimSpec::Size(dh as i64)],
            );
        }
        b.to_bytes()
    }
}

/// What a greedy decode produced, on the host.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The generated token ids (not the prompt).
    pub tokens: Vec<i64>,
    /// The last step's logits and the final cache (`present_*` by output name).
    pub last_logits: Tensor,
    pub cache: Vec<(String, Tensor)>,
    /// The session's transfers during each step (one run per generated token).
    pub per_token: Vec<TransferStats>,
    /// Wall time of the loop, excluding the final downloads for checking.
    pub seconds: f64,
}

fn prompt_tensor(prompt: &[i64]) -> Result<Tensor> {
    if prompt.is_empty() {
        return Err(Error::Usage("the prompt needs at least one token".into()));
    }
    Tensor::new(&[1, prompt.len()], prompt.to_vec()).map_err(Error::Usage)
}

/// Greedy decoding of `steps` tokens after `prompt`, every output kept on the device: the
/// prompt and the empty cache are uploaded by the first run; each later run takes the last
/// run's `next_token` and `present_*` device tensors as `input_ids` and `past_*`.
pub fn greedy_device(session: &Session, gpt: &TinyGpt, prompt: &[i64], steps: usize) -> Result<Decoded> {
    let mut io = IoBinding::new();
    io.bind_input("input_ids", prompt_tensor(prompt)?).bind_outputs_to_device();
    for (name, t) in gpt.empty_cache() {
        io.bind_input(&name, t);
    }
    let mut per_token = Vec::with_capacity(steps);
    let mut token_values = Vec::with_capacity(steps);
    let start = Instant::now();
    for _ in 0..steps {
        let before = session.transfer_stats();
        session.run_binding(&mut io)?;
        per_token.push(session.transfer_stats() - before);
        io.feed("next_token", "input_ids")?;
        for (present, past) in gpt.cache_names() {
            io.feed(&present, &past)?;
        }
        token_values.push(io.output("next_token").cloned().ok_or_else(|| Error::Usage("no next_token".into()))?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut tokens = Vec::with_capacity(steps);
    for t in &token_values {
        tokens.extend(t.to_host()?.to_i64_vec().map_err(Error::Usage)?);
    }
    let get = |name: &str| -> Result<Tensor> {
        io.output(name).ok_or_else(|| Error::Usage(format!("no output '{name}'")))?.to_host()
    };
    let cache = gpt.cache_names().into_iter().map(|(p, _)| Ok((p.clone(), get(&p)?))).collect::<Result<_>>()?;
    Ok(Decoded { tokens, last_logits: get("logits")?, cache, per_token, seconds })
}

/// The same decode with every tensor on the host between runs ([`Session::run`]).
pub fn greedy_host(session: &Session, gpt: &TinyGpt, prompt: &[i64], steps: usize) -> Result<Decoded> {
    let mut ids = prompt_tensor(prompt)?;
    let mut cache = gpt.empty_cache();
    let mut per_token = Vec::with_capacity(steps);
    let mut tokens = Vec::with_capacity(steps);
    let mut last_logits = None;
    let start = Instant::now();
    for _ in 0..steps {
        let before = session.transfer_stats();
        let mut inputs: Vec<(&str, Tensor)> = vec![("input_ids", ids.clone())];
        inputs.extend(cache.iter().map(|(n, t)| (n.as_str(), t.clone())));
        let outs = session.run(&inputs)?;
        per_token.push(session.transfer_stats() - before);
        let out = |name: &str| outs.get(name).cloned().ok_or_else(|| Error::Usage(format!("no output '{name}'")));
        ids = out("next_token")?;
        tokens.extend(ids.to_i64_vec().map_err(Error::Usage)?);
        cache = gpt.cache_names().into_iter().map(|(p, past)| Ok((past, out(&p)?))).collect::<Result<_>>()?;
        last_logits = Some(out("logits")?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let names = gpt.cache_names();
    let cache = cache.into_iter().zip(names).map(|((_, t), (present, _))| (present, t)).collect();
    let last_logits = last_logits.ok_or_else(|| Error::Usage("no steps".into()))?;
    Ok(Decoded { tokens, last_logits, cache, per_token, seconds })
}
