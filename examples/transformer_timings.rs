//! Times a transformer: loads a model (default: the corpus bert_tiny, found through
//! `$ONNX_WGPU_CORPUS` or `../shared/corpus`), runs a batch of N inferences on seeded random
//! inputs, prints the time per run, then profiles one run and prints the time per op type.
//!
//! ```sh
//! cargo run --release --example transformer_timings -- [MODEL.onnx] [--runs N] [--backend auto|gpu|cpu]
//! ```
//! Symbolic input dims are set to 1 (batch) or 128 (any other name) unless given as
//! `--dim NAME=N`.

use onnx_wgpu::embedded::Rng;
use onnx_wgpu::{Backend, DType, Dim, Session, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

fn default_model() -> PathBuf {
    let corpus = std::env::var_os("ONNX_WGPU_CORPUS").map(PathBuf::from).unwrap_or_else(|| "../shared/corpus".into());
    corpus.join("models/bert_tiny/model.onnx")
}

fn input(dtype: DType, shape: &[usize], rng: &mut Rng) -> Result<Tensor, String> {
    let n: usize = shape.iter().product();
    if dtype.is_float() {
        Tensor::from_f64(dtype, shape, &(0..n).map(|_| rng.uniform() as f64).collect::<Vec<_>>())
    } else {
        Tensor::from_i64(dtype, shape, &(0..n).map(|_| (rng.next_u64() % 2) as i64).collect::<Vec<_>>())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut model = None;
    let (mut runs, mut backend) = (20usize, Backend::Auto);
    let mut dims: HashMap<String, usize> = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            "--backend" => backend = args.next().ok_or("--backend NAME")?.parse()?,
            "--dim" => {
                let kv = args.next().ok_or("--dim NAME=N")?;
                let (k, v) = kv.split_once('=').ok_or("--dim NAME=N")?;
                dims.insert(k.to_string(), v.parse()?);
            }
            _ => model = Some(PathBuf::from(a)),
        }
    }
    let model = model.unwrap_or_else(default_model);
    let t0 = Instant::now();
    let s = Session::builder().backend(backend).from_file(&model)?;
    println!(
        "{} on {:?} ({}), session {:.1} ms",
        model.display(),
        s.backend(),
        s.device_name(),
        t0.elapsed().as_secs_f64() * 1e3
    );

    let mut rng = Rng::new(1);
    let mut inputs = Vec::new();
    for i in s.inputs() {
        let shape: Vec<usize> = i
            .dims
            .iter()
            .map(|d| match d {
                Dim::Known(n) => *n,
                Dim::Sym(name) => {
                    dims.get(name.as_ref()).copied().unwrap_or(if name.contains("batch") { 1 } else { 128 })
                }
                Dim::Unknown => 1,
            })
            .collect();
        println!("  input {}: {} {:?}", i.name, i.dtype, shape);
        inputs.push((i.name.clone(), input(i.dtype, &shape, &mut rng)?));
    }
    let named: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();

    let t = Instant::now();
    s.run(&named)?;
    println!("first run {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    let mut lat = Vec::with_capacity(runs);
    let t = Instant::now();
    for _ in 0..runs {
        let r = Instant::now();
        s.run(&named)?;
        lat.push(r.elapsed().as_secs_f64() * 1e3);
    }
    let total = t.elapsed().as_secs_f64() * 1e3;
    lat.sort_by(f64::total_cmp);
    println!(
        "{runs} runs in {total:.1} ms: {:.3} ms per run (median {:.3}, min {:.3}, max {:.3})",
        total / runs.max(1) as f64,
        lat.get(lat.len() / 2).copied().unwrap_or(f64::NAN),
        lat.first().copied().unwrap_or(f64::NAN),
        lat.last().copied().unwrap_or(f64::NAN)
    );

    s.set_profiling(true);
    s.run(&named)?;
    let p = s.last_profile().ok_or("no profile")?;
    if let Some(n) = &p.note {
        println!("profile: {n}");
    }
    let timed: u64 = p.steps.iter().map(|s| s.nanos).sum();
    println!(
        "profiled run: {:.3} ms wall, {:.3} ms in {} timed steps",
        p.wall_ns as f64 / 1e6,
        timed as f64 / 1e6,
        p.steps.len()
    );
    print!("{}", p.op_table(usize::MAX, ""));
    let mut slow = p.steps.clone();
    slow.sort_by_key(|s| std::cmp::Reverse(s.nanos));
    println!("slowest steps:");
    for st in slow.iter().take(5) {
        println!("  {:>9.3} ms  {} ({}, {})", st.nanos as f64 / 1e6, st.node, st.op_type, st.kernel);
    }
    Ok(())
}
