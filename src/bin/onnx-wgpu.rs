//! The `onnx-wgpu` command line.
//!
//! - no arguments: run the embedded default model on the best backend;
//! - `run MODEL`: run a model on given or generated inputs;
//! - `info MODEL`: inputs, outputs, opsets, op histogram, unsupported ops, and the plan;
//! - `test PATH…`: the headless conformance runner over ONNX backend-test folders;
//! - `bench MODEL…`: latency, throughput, memory and the per-op profile of models.
//!
//! Errors print one line to stderr and exit with status 1 (2 for bad usage).

use clap::{Args, Parser, Subcommand};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::proto::ModelProto;
use onnx_wgpu::testing::{self, Outcome, Tolerance};
use onnx_wgpu::{Backend, DType, Dim, Error, Precision, Session, Tensor};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "onnx-wgpu", version, about = "Run ONNX models on the GPU through wgpu (or on the CPU)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a model and print its outputs.
    Run(RunArgs),
    /// Describe a model: inputs, outputs, opsets, ops, and (with --plan) the execution plan.
    Info(InfoArgs),
    /// Run ONNX backend-test case folders and compare with their expected outputs.
    Test(TestArgs),
    /// Benchmark models: session creation, latency (median/p90/min), throughput, memory,
    /// dispatches per inference, and the ops that take the most time (from the profiler).
    Bench(BenchArgs),
}

#[derive(Args)]
struct DimArgs {
    /// Size of a symbolic dim, as NAME=N (repeatable).
    #[arg(long = "dim", value_name = "NAME=N")]
    dims: Vec<String>,
}

#[derive(Args)]
struct RunArgs {
    model: PathBuf,
    /// An input from a .npy file, as NAME=FILE.npy (repeatable); others get seeded random data.
    #[arg(long = "input", value_name = "NAME=FILE")]
    inputs: Vec<String>,
    #[arg(long, default_value = "auto")]
    backend: Backend,
    #[command(flatten)]
    dims: DimArgs,
    /// Write each output as OUTPUT_NAME.npy into this folder.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Timed runs after the first.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Threads of the CPU backend (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Run the f32 model in f16 (weights converted at load; inputs and outputs stay f32).
    #[arg(long)]
    fp16: bool,
    /// With --fp16: also run the model in f32 and print each output's max abs difference,
    /// absolute and relative to the f32 output's range.
    #[arg(long, requires = "fp16")]
    compare_fp32: bool,
}

#[derive(Args)]
struct InfoArgs {
    model: PathBuf,
    /// Print the execution plan: steps, kernels, buffers and peak memory.
    #[arg(long)]
    plan: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "auto")]
    backend: Backend,
    #[command(flatten)]
    dims: DimArgs,
    /// Run the f32 model in f16 (weights converted at load; inputs and outputs stay f32).
    #[arg(long)]
    fp16: bool,
}

#[derive(Args)]
struct TestArgs {
    /// Case folders, or folders holding case folders at any depth.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long, default_value = "auto")]
    backend: Backend,
    /// Relative tolerance for float outputs (16-bit floats use 10×/20×).
    #[arg(long, default_value_t = 1e-3)]
    rtol: f64,
    /// Absolute tolerance for float outputs.
    #[arg(long, default_value_t = 1e-4)]
    atol: f64,
    /// Also accept an absolute error of this fraction of each reference output's range
    /// (reduced-precision models: the fp16 cases use 1e-2).
    #[arg(long, value_name = "FRACTION")]
    range_atol: Option<f64>,
    /// Also accept this many quantization steps on outputs computed by a DequantizeLinear with a
    /// constant scale (quantized models: 1).
    #[arg(long, value_name = "N")]
    quant_steps: Option<f64>,
    /// Only cases whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Write per-case results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the names of passing cases, one per line.
    #[arg(long, value_name = "FILE")]
    write_passing: Option<PathBuf>,
    /// Print only failures and the summary.
    #[arg(long, short)]
    quiet: bool,
    /// On the GPU, fail nodes without a GPU kernel instead of running them on the CPU.
    #[arg(long)]
    no_fallback: bool,
    /// Run the f32 model in f16 (weights converted at load; inputs and outputs stay f32).
    #[arg(long)]
    fp16: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Model files.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    #[arg(long, default_value = "auto")]
    backend: Backend,
    /// Timed runs per model.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Untimed runs before the timed ones.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Threads of the CPU backend's pool (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    dims: DimArgs,
    /// On the GPU, fail nodes without a GPU kernel instead of running them on the CPU.
    #[arg(long)]
    no_fallback: bool,
    /// Write one JSON object per model (latencies, memory, dispatches, top ops) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write a Chrome trace (chrome://tracing, Perfetto) of one profiled run per model to FILE.
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Rows of the per-op table.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Run the f32 model in f16 (weights converted at load; inputs and outputs stay f32).
    #[arg(long)]
    fp16: bool,
}

fn main() -> ExitCode {
    // Mesa's Vulkan loader complains on stderr when XDG_RUNTIME_DIR is unset (common in
    // containers and CI); give it the temp folder before any thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let cli = Cli::parse();
    // Panics inside the library come back as `Error::Internal` (see `error::guard`) and are
    // printed on one line below; the default hook's multi-line report only with RUST_BACKTRACE.
    std::panic::set_hook(Box::new(|info| {
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            eprintln!("{info}");
        }
    }));

    let r = std::panic::catch_unwind(|| match cli.command {
        None => run_default(),
        Some(Command::Run(a)) => cmd_run(a),
        Some(Command::Info(a)) => cmd_info(a),
        Some(Command::Test(a)) => cmd_test(a),
        Some(Command::Bench(a)) => cmd_bench(a),
    });
    match r {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!("error: internal error (a bug): the command panicked");
            ExitCode::from(70)
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_kv(s: &str, what: &str) -> Result<(String, String), Error> {
    let (k, v) =
        s.split_once('=').ok_or_else(|| Error::Usage(format!("{what} must look like NAME=VALUE, got '{s}'")))?;
    Ok((k.to_string(), v.to_string()))
}

fn dim_map(d: &DimArgs) -> Result<HashMap<String, usize>, Error> {
    d.dims
        .iter()
        .map(|s| {
            let (k, v) = parse_kv(s, "--dim")?;
            let n = v.parse().map_err(|_| Error::Usage(format!("--dim {k}: '{v}' is not a size")))?;
            Ok((k, n))
        })
        .collect()
}

/// Concrete input shapes from declared dims and `--dim` values.
fn input_shapes(s: &Session, dims: &HashMap<String, usize>) -> Result<Vec<Vec<usize>>, Error> {
    s.inputs()
        .iter()
        .map(|i| {
            i.dims
                .iter()
                .enumerate()
                .map(|(k, d)| match d {
                    Dim::Known(n) => Ok(*n),
                    Dim::Sym(name) => dims.get(name.as_ref()).copied().ok_or_else(|| {
                        Error::Usage(format!(
                            "input '{}' has symbolic dim '{name}': give it with --dim {name}=N",
                            i.name
                        ))
                    }),
                    Dim::Unknown => dims.get(&format!("{}:{k}", i.name)).copied().ok_or_else(|| {
                        Error::Usage(format!(
                            "input '{}' dim {k} is unknown: give it with --dim {}:{k}=N",
                            i.name, i.name
                        ))
                    }),
                })
                .collect()
        })
        .collect()
}

/// Seeded random data: floats uniform in [-1, 1), integers and bools 0 or 1 (valid indices for
/// the smallest tables models gather from, such as BERT's two token types).
fn random_tensor(dtype: DType, shape: &[usize], rng: &mut Rng) -> Result<Tensor, Error> {
    let n: usize = shape.iter().product();
    let bad = |e: String| Error::Usage(e);
    if dtype.is_float() {
        let v: Vec<f64> = (0..n).map(|_| rng.uniform() as f64).collect();
        Tensor::from_f64(dtype, shape, &v).map_err(bad)
    } else if dtype.is_int() || dtype == DType::Bool {
        let v: Vec<i64> = (0..n).map(|_| (rng.next_u64() % 2) as i64).collect();
        Tensor::from_i64(dtype, shape, &v).map_err(bad)
    } else {
        Err(Error::Usage(format!("cannot generate {dtype} inputs; pass them with --input")))
    }
}

/// The inputs of a run: from the given .npy files, else seeded random data (seed 1, in input
/// order) shaped by the declared dims and `--dim`.
fn make_inputs(
    s: &Session,
    dims: &HashMap<String, usize>,
    given: &HashMap<String, PathBuf>,
) -> Result<Vec<(String, Tensor)>, Error> {
    let mut rng = Rng::new(1);
    let shapes = input_shapes(s, dims);
    let mut inputs = Vec::new();
    for (k, info) in s.inputs().iter().enumerate() {
        let t = match given.get(&info.name) {
            Some(p) => {
                let b = std::fs::read(p).map_err(|e| Error::Io { path: p.display().to_string(), source: e })?;
                onnx_wgpu::tensor::npy::read(&b)
                    .map_err(|e| Error::input(&info.name, format!("{}: {e}", p.display())))?
            }
            None => {
                let shapes = shapes.as_ref().map_err(|e| Error::Usage(e.to_string()))?;
                random_tensor(info.dtype, &shapes[k], &mut rng)?
            }
        };
        inputs.push((info.name.clone(), t));
    }
    Ok(inputs)
}

fn print_outputs(outs: &onnx_wgpu::Outputs) {
    for (name, t) in outs.iter() {
        println!("  {name}: {}", t.summary());
    }
}

fn run_default() -> Result<ExitCode, Error> {
    let t0 = Instant::now();
    let s = Session::builder().backend(Backend::Auto).from_bytes(onnx_wgpu::embedded::TINY_CNN)?;
    let load = t0.elapsed();
    println!("onnx-wgpu: embedded default model (tiny CNN classifier, input {:?})", onnx_wgpu::embedded::INPUT.1);
    println!("backend: {:?} on {}", s.backend(), s.device_name());
    let x = onnx_wgpu::embedded::input();
    let t1 = Instant::now();
    let outs = s.run(&[(onnx_wgpu::embedded::INPUT.0, x.clone())])?;
    let first = t1.elapsed();
    let t2 = Instant::now();
    let reps = 10;
    for _ in 0..reps {
        s.run(&[(onnx_wgpu::embedded::INPUT.0, x.clone())])?;
    }
    let avg = t2.elapsed() / reps;
    print_outputs(&outs);
    let probs = outs[0].to_f64_vec().map_err(Error::Usage)?;
    let (best, p) = probs.iter().enumerate().fold((0, f64::MIN), |b, (i, &p)| if p > b.1 { (i, p) } else { b });
    println!("  predicted class {best} (p = {p:.4})");
    println!(
        "timing: session {:.1} ms, first run {:.2} ms, mean of {reps} runs {:.3} ms",
        load.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        avg.as_secs_f64() * 1e3
    );
    println!("next: `onnx-wgpu run MODEL.onnx`, `onnx-wgpu info MODEL.onnx --plan`, `onnx-wgpu test DIR`");
    Ok(ExitCode::SUCCESS)
}

fn precision(fp16: bool) -> Precision {
    if fp16 {
        Precision::F16
    } else {
        Precision::F32
    }
}

fn cmd_run(a: RunArgs) -> Result<ExitCode, Error> {
    let t0 = Instant::now();
    let mut b = Session::builder().backend(a.backend).precision(precision(a.fp16));
    if let Some(n) = a.threads {
        b = b.threads(n);
    }
    let reference = if a.compare_fp32 { Some(b.clone().precision(Precision::F32)) } else { None };
    let s = b.from_file(&a.model)?;
    let load = t0.elapsed();
    let given: HashMap<String, PathBuf> = a
        .inputs
        .iter()
        .map(|x| parse_kv(x, "--input").map(|(k, v)| (k, PathBuf::from(v))))
        .collect::<Result<_, _>>()?;
    for k in given.keys() {
        if !s.inputs().iter().any(|i| &i.name == k) {
            return Err(Error::input(k, "the model has no such input"));
        }
    }
    let inputs = make_inputs(&s, &dim_map(&a.dims)?, &given)?;
    let named: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let t1 = Instant::now();
    let outs = s.run(&named)?;
    let first = t1.elapsed();
    let t2 = Instant::now();
    for _ in 0..a.iterations {
        s.run(&named)?;
    }
    let mean = if a.iterations > 0 { t2.elapsed().as_secs_f64() * 1e3 / a.iterations as f64 } else { f64::NAN };
    println!("model: {}", a.model.display());
    println!("backend: {:?} on {}", s.backend(), s.device_name());
    for (n, t) in &inputs {
        println!(
            "  input {n}: {} {}{}",
            t.dtype(),
            onnx_wgpu::tensor::shape::fmt_shape(t.shape()),
            if given.contains_key(n) { "" } else { " (seeded random)" }
        );
    }
    print_outputs(&outs);
    if let Some(rb) = reference {
        let want = rb.from_file(&a.model)?.run(&named)?;
        println!("fp16 vs fp32 (max abs diff; relative to the f32 output's range):");
        for ((name, got), (_, w)) in outs.iter().zip(want.iter()) {
            let (g, w) = (got.to_f64_vec().map_err(Error::Usage)?, w.to_f64_vec().map_err(Error::Usage)?);
            let fin = || w.iter().copied().filter(|x| x.is_finite());
            let range = fin().fold(f64::MIN, f64::max) - fin().fold(f64::MAX, f64::min);
            let diff = g.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            println!("  {name}: {diff:.3e} (range {range:.3e}, relative {:.3e})", diff / range.max(f64::MIN_POSITIVE));
        }
    }
    println!(
        "timing: session {:.1} ms, first run {:.2} ms, mean of {} runs {:.3} ms",
        load.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        a.iterations,
        mean
    );
    if let Some(dir) = &a.output {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.display().to_string(), source: e })?;
        for (name, t) in outs.iter() {
            let safe: String = name
                .chars()
                .map(|c| if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' { c } else { '_' })
                .collect();
            let p = dir.join(format!("{safe}.npy"));
            let b = onnx_wgpu::tensor::npy::write(t).map_err(Error::Usage)?;
            std::fs::write(&p, b).map_err(|e| Error::Io { path: p.display().to_string(), source: e })?;
            println!("wrote {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn type_string(t: &Option<onnx_wgpu::onnx::proto::TypeProto>) -> String {
    let vi = onnx_wgpu::onnx::proto::ValueInfoProto { r#type: t.clone(), ..Default::default() };
    match onnx_wgpu::onnx::import::value_info_type(&vi) {
        Ok(Some(t)) => t.to_string(),
        Ok(None) => "tensor (shape not declared)".into(),
        Err(_) => "non-tensor type".into(),
    }
}

fn cmd_info(a: InfoArgs) -> Result<ExitCode, Error> {
    let bytes = std::fs::read(&a.model).map_err(|e| Error::Io { path: a.model.display().to_string(), source: e })?;
    let m = ModelProto::decode(bytes.as_slice()).map_err(|e| Error::Decode(e.to_string()))?;
    let g = m.graph.clone().ok_or_else(|| Error::Decode("the model has no graph".into()))?;
    let inits: std::collections::HashSet<&str> = g.initializer.iter().map(|t| t.name()).collect();
    let inputs: Vec<(String, String)> = g
        .input
        .iter()
        .filter(|i| !inits.contains(i.name()))
        .map(|i| (i.name().to_string(), type_string(&i.r#type)))
        .collect();
    let outputs: Vec<(String, String)> =
        g.output.iter().map(|o| (o.name().to_string(), type_string(&o.r#type))).collect();
    let opsets: BTreeMap<String, i64> = m
        .opset_import
        .iter()
        .map(|o| (if o.domain().is_empty() { "ai.onnx".to_string() } else { o.domain().to_string() }, o.version()))
        .collect();
    let mut hist: BTreeMap<String, usize> = BTreeMap::new();
    for n in &g.node {
        let k = if n.domain().is_empty() || n.domain() == "ai.onnx" {
            n.op_type().to_string()
        } else {
            format!("{}::{}", n.domain(), n.op_type())
        };
        *hist.entry(k).or_default() += 1;
    }
    let session = Session::builder().backend(a.backend).precision(precision(a.fp16)).from_file(&a.model);
    let (unsupported, load_error): (Vec<String>, Option<String>) = match &session {
        Ok(_) => (vec![], None),
        Err(Error::Unsupported(list)) => (list.iter().map(|u| u.to_string()).collect(), None),
        Err(e) => (vec![], Some(one_line(&e.to_string()))),
    };
    let weight_bytes: u64 =
        g.initializer.iter().map(|t| t.raw_data.as_ref().map(|r| r.len()).unwrap_or(0) as u64).sum();
    let mut plan = None;
    if a.plan || a.json {
        if let Ok(s) = &session {
            match input_shapes(s, &dim_map(&a.dims)?) {
                Ok(shapes) => {
                    plan = Some((s.plan_report(&shapes), s.device_name(), s.backend(), s.graph().weight_bytes() as u64))
                }
                Err(e) if a.plan => return Err(e),
                Err(_) => {}
            }
        }
    }
    if a.json {
        let mut j = serde_json::json!({
            "model": a.model.display().to_string(),
            "ir_version": m.ir_version(),
            "producer": format!("{} {}", m.producer_name(), m.producer_version()),
            "opsets": opsets,
            "inputs": inputs.iter().map(|(n, t)| serde_json::json!({"name": n, "type": t})).collect::<Vec<_>>(),
            "outputs": outputs.iter().map(|(n, t)| serde_json::json!({"name": n, "type": t})).collect::<Vec<_>>(),
            "ops": hist,
            "nodes": g.node.len(),
            "unsupported": unsupported,
            "load_error": load_error,
            "weight_bytes": weight_bytes,
        });
        if let Some((r, dev, be, w)) = &plan {
            match r {
                Ok(r) => {
                    j["backend"] = format!("{be:?}").into();
                    j["device"] = dev.clone().into();
                    j["dispatches"] = r.dispatches.into();
                    j["peak_activation_bytes"] = r.memory.peak_activation_bytes.into();
                    j["activation_lower_bound_bytes"] = r.memory.activation_lower_bound_bytes.into();
                    j["arenas"] = r.memory.arenas.into();
                    j["weight_bytes"] = (*w).into();
                    j["plan_constant_bytes"] = r.memory.plan_const_bytes.into();
                    j["nodes_folded"] = r.nodes_folded.into();
                    j["nodes_aliased"] = r.nodes_aliased.into();
                }
                Err(e) => j["plan_error"] = one_line(&e.to_string()).into(),
            }
        }
        println!("{}", serde_json::to_string_pretty(&j).unwrap());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "model: {} (IR {}, producer {} {})",
        a.model.display(),
        m.ir_version(),
        m.producer_name(),
        m.producer_version()
    );
    println!("opsets: {}", opsets.iter().map(|(d, v)| format!("{d} {v}")).collect::<Vec<_>>().join(", "));
    println!("inputs:");
    for (n, t) in &inputs {
        println!("  {n}: {t}");
    }
    println!("outputs:");
    for (n, t) in &outputs {
        println!("  {n}: {t}");
    }
    println!("initializers: {} ({} bytes of raw data)", g.initializer.len(), weight_bytes);
    println!(
        "ops ({} nodes): {}",
        g.node.len(),
        hist.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(" ")
    );
    if !unsupported.is_empty() {
        println!("unsupported ({}):", unsupported.len());
        for u in &unsupported {
            println!("  {u}");
        }
    } else if let Some(e) = &load_error {
        println!("load error: {e}");
    } else {
        println!("unsupported: none");
    }
    if a.plan {
        if let Some((r, dev, be, _)) = plan {
            let r = r?;
            println!("plan ({be:?} on {dev}):");
            print!("{}", r.text);
            println!(
                "summary: {} dispatches, {} nodes folded, {} aliased; peak activation {} bytes vs liveness lower bound {} bytes",
                r.dispatches, r.nodes_folded, r.nodes_aliased, r.memory.peak_activation_bytes, r.memory.activation_lower_bound_bytes
            );
        } else {
            session?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_test(a: TestArgs) -> Result<ExitCode, Error> {
    let opts = testing::CaseOptions {
        backend: a.backend,
        cpu_fallback: !a.no_fallback,
        tolerance: Tolerance { rtol: a.rtol, atol: a.atol },
        range_atol: a.range_atol,
        quant_steps: a.quant_steps,
        precision: precision(a.fp16),
    };
    let mut cases = Vec::new();
    for p in &a.paths {
        if !p.exists() {
            return Err(Error::Usage(format!("{}: no such file or folder", p.display())));
        }
        cases.extend(testing::find_cases(p));
    }
    if let Some(f) = &a.filter {
        cases.retain(|c| c.name.contains(f.as_str()));
    }
    // GPU runs: fail clearly up front when there is no adapter.
    if a.backend == Backend::Gpu {
        onnx_wgpu::backend::wgpu::device::GpuContext::shared()?;
    }

    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    let mut results = Vec::new();
    let stdout = std::io::stdout();
    for c in &cases {
        let r = testing::run_case(c, &opts);
        let mut out = stdout.lock();
        match &r.outcome {
            Outcome::Pass => {
                pass += 1;
                if !a.quiet {
                    let _ = writeln!(out, "PASS {} ({:.1} ms, max abs diff {:.2e})", r.name, r.millis, r.max_abs_diff);
                }
            }
            Outcome::Fail(why) => {
                fail += 1;
                let _ = writeln!(out, "FAIL {}: {}", r.name, one_line(why));
            }
            Outcome::Skip(why) => {
                skip += 1;
                if !a.quiet {
                    let _ = writeln!(out, "SKIP {}: {}", r.name, one_line(why));
                }
            }
        }
        results.push(r);
    }
    if let Some(p) = &a.json {
        let j: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                let (status, reason) = match &r.outcome {
                    Outcome::Pass => ("pass", String::new()),
                    Outcome::Fail(w) => ("fail", w.clone()),
                    Outcome::Skip(w) => ("skip", w.clone()),
                };
                serde_json::json!({"case": r.name, "status": status, "reason": reason, "max_abs_diff": r.max_abs_diff, "ms": r.millis})
            })
            .collect();
        let doc = serde_json::json!({"backend": format!("{:?}", a.backend), "cpu_fallback": !a.no_fallback, "rtol": a.rtol, "atol": a.atol, "cases": j});

        write_file(p, serde_json::to_string_pretty(&doc).unwrap().as_bytes())?;
    }
    if let Some(p) = &a.write_passing {
        let names: Vec<&str> = results.iter().filter(|r| r.outcome == Outcome::Pass).map(|r| r.name.as_str()).collect();
        write_file(p, (names.join("\n") + "\n").as_bytes())?;
    }
    if fail > 0 {
        let mut classes: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &results {
            if let Outcome::Fail(why) = &r.outcome {
                *classes.entry(testing::failure_class(why)).or_default() += 1;
            }
        }
        let mut rows: Vec<(String, usize)> = classes.into_iter().collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        println!("failures by reason:");
        for (class, n) in rows {
            println!("{n:6}  {class}");
        }
    }
    println!("{pass} passed, {fail} failed, {skip} skipped");
    Ok(if fail == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn write_file(p: &Path, b: &[u8]) -> Result<(), Error> {
    std::fs::write(p, b).map_err(|e| Error::Io { path: p.display().to_string(), source: e })
}

/// The `q`-quantile (0..=1) of sorted values, by linear interpolation.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let x = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo as f64)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// On the GPU: the matrix-product configurations in the plan (counted from its kernel labels),
/// the autotuner's decisions since the previous model, and whether the pipeline cache came
/// from disk (warm) or not (cold).
fn matmul_report(plan_text: &str, backend: Backend, seen: &mut usize) -> serde_json::Value {
    let Ok(ctx) = onnx_wgpu::backend::wgpu::device::GpuContext::shared() else {
        return serde_json::Value::Null;
    };
    if backend != Backend::Gpu {
        return serde_json::Value::Null;
    }
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for part in plan_text.split("matmulvariant_").skip(1) {
        if let Some(algo) = part.split("algo_").nth(1).and_then(|r| r.split('_').next()) {
            *counts.entry(algo.to_string()).or_default() += 1;
        }
    }
    let decisions = ctx.tune.decisions();
    let new = &decisions[(*seen).min(decisions.len())..];
    *seen = decisions.len();
    let cache = ctx.pipelines.loaded_bytes;
    let kernels: Vec<String> = counts.iter().map(|(k, n)| format!("{k}×{n}")).collect();
    let tuned: Vec<String> = new
        .iter()
        .map(|d| {
            let times: Vec<String> = d.times_us.iter().map(|(k, t)| format!("{k} {t} µs")).collect();
            let class = d.key.split("|matmul|").nth(1).unwrap_or(&d.key);
            format!("{class} → {} ({}: {})", d.algo, d.how, times.join(", "))
        })
        .collect();
    let summary = format!(
        "matmul kernels: {}; autotune: {}; pipeline cache: {}",
        if kernels.is_empty() { "none".to_string() } else { kernels.join(", ") },
        if !onnx_wgpu::backend::wgpu::tune::enabled(&ctx) {
            "off (ONNX_WGPU_AUTOTUNE=0, or a CPU adapter without ONNX_WGPU_AUTOTUNE=1)".to_string()
        } else if tuned.is_empty() {
            "no new shape class (small products take the default)".to_string()
        } else {
            tuned.join("; ")
        },
        if cache > 0 { format!("warm ({cache} bytes loaded from disk)") } else { "cold".to_string() }
    );
    serde_json::json!({
        "kernels": counts,
        "autotune": new.iter().map(|d| serde_json::json!({"key": d.key, "winner": d.algo, "how": d.how, "times_us": d.times_us})).collect::<Vec<_>>(),
        "pipeline_cache_loaded_bytes": cache,
        "summary": summary,
    })
}

fn cmd_bench(a: BenchArgs) -> Result<ExitCode, Error> {
    let dims = dim_map(&a.dims)?;
    if a.backend == Backend::Gpu {
        onnx_wgpu::backend::wgpu::device::GpuContext::shared()?;
    }
    let mut reports = Vec::new();
    let mut trace: Vec<serde_json::Value> = Vec::new();
    let mut tuned_seen = 0usize;
    for (mi, path) in a.models.iter().enumerate() {
        let name = path
            .parent()
            .and_then(|p| p.file_name())
            .filter(|_| path.file_name().is_some_and(|f| f == "model.onnx"))
            .or(path.file_stem())
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| path.display().to_string());
        let t0 = Instant::now();
        let mut b = Session::builder().backend(a.backend).cpu_fallback(!a.no_fallback).precision(precision(a.fp16));
        if let Some(n) = a.threads {
            b = b.threads(n);
        }
        let s = b.from_file(path)?;
        let create_ms = t0.elapsed().as_secs_f64() * 1e3;
        let inputs = make_inputs(&s, &dims, &HashMap::new())?;
        let named: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|(_, t)| t.shape().to_vec()).collect();
        let bar = indicatif::ProgressBar::new((a.warmup + a.iterations) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} {msg}")
                .map_err(|e| Error::Usage(e.to_string()))?
                .progress_chars("=> "),
        );
        bar.set_prefix(name.clone());
        let t1 = Instant::now();
        s.run(&named)?;
        let first_ms = t1.elapsed().as_secs_f64() * 1e3;
        bar.set_message("warm-up");
        for _ in 0..a.warmup {
            s.run(&named)?;
            bar.inc(1);
        }
        bar.set_message("timing");
        let mut lat = Vec::with_capacity(a.iterations);
        for _ in 0..a.iterations {
            let t = Instant::now();
            s.run(&named)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            bar.inc(1);
        }
        bar.set_message("profiling");
        s.set_profiling(true);
        s.run(&named)?;
        s.set_profiling(false);
        bar.finish_and_clear();
        let profile = s.last_profile().unwrap_or_default();
        let plan = s.plan_report(&shapes)?;
        let mean = lat.iter().sum::<f64>() / lat.len().max(1) as f64;
        let mut sorted = lat.clone();
        sorted.sort_by(f64::total_cmp);
        let (median, p90, min) =
            (quantile(&sorted, 0.5), quantile(&sorted, 0.9), sorted.first().copied().unwrap_or(f64::NAN));
        let timed: u64 = profile.steps.iter().map(|t| t.nanos).sum();
        let ops = profile.by_op();
        println!("{name} ({})", path.display());
        println!("  backend: {:?} on {}", s.backend(), s.device_name());
        println!(
            "  session {create_ms:.1} ms, first run {first_ms:.2} ms; {} runs: median {median:.3} ms, p90 {p90:.3} ms, min {min:.3} ms, mean {mean:.3} ms, {:.3} inferences/s",
            lat.len(),
            1e3 / mean
        );
        println!(
            "  {} dispatches in {} stage(s), {} nodes on the CPU; peak activations {:.2} MiB (lower bound {:.2} MiB), weights {:.2} MiB",
            plan.dispatches,
            plan.stages,
            plan.nodes_on_cpu,
            mib(plan.memory.peak_activation_bytes),
            mib(plan.memory.activation_lower_bound_bytes),
            mib(s.graph().weight_bytes() as u64)
        );
        let mm = matmul_report(&plan.text, s.backend(), &mut tuned_seen);
        if !mm.is_null() {
            println!("  {}", mm["summary"].as_str().unwrap_or(""));
        }
        if let Some(n) = &profile.note {
            println!("  profile: {n}");
        }
        if !ops.is_empty() {
            println!(
                "  profiled run: {:.3} ms wall, {:.3} ms in steps ({} steps)",
                profile.wall_ns as f64 / 1e6,
                timed as f64 / 1e6,
                profile.steps.len()
            );
            print!("{}", profile.op_table(a.top, "  "));
        }
        trace.extend(profile.chrome_trace(mi as u32, &format!("{name} ({:?})", s.backend())));
        reports.push(serde_json::json!({
            "model": name,
            "path": path.display().to_string(),
            "backend": format!("{:?}", s.backend()),
            "adapter": s.device_name(),
            "threads": a.threads,
            "inputs": inputs.iter().map(|(n, t)| serde_json::json!({"name": n, "dtype": t.dtype().to_string(), "shape": t.shape()})).collect::<Vec<_>>(),
            "session_create_ms": create_ms,
            "matmul": mm,
            "first_run_ms": first_ms,
            "iterations": lat.len(),
            "warmup": a.warmup,
            "median_ms": median,
            "p90_ms": p90,
            "min_ms": min,
            "mean_ms": mean,
            "throughput_per_s": 1e3 / mean,
            "latencies_ms": lat,
            "dispatches": plan.dispatches,
            "stages": plan.stages,
            "nodes_on_cpu": plan.nodes_on_cpu,
            "peak_activation_bytes": plan.memory.peak_activation_bytes,
            "activation_lower_bound_bytes": plan.memory.activation_lower_bound_bytes,
            "weight_bytes": s.graph().weight_bytes(),
            "profile_wall_ms": profile.wall_ns as f64 / 1e6,
            "profile_steps_ms": timed as f64 / 1e6,
            "profile_note": profile.note,
            "top_ops": ops.iter().map(|o| serde_json::json!({
                "op": o.op_type,
                "clock": if o.clock == onnx_wgpu::Clock::Gpu { "gpu" } else { "host" },
                "steps": o.steps,
                "ms": o.nanos as f64 / 1e6,
            })).collect::<Vec<_>>(),
        }));
    }
    if !reports.is_empty() {
        println!();
        println!("| model | backend | median ms | p90 ms | min ms | inf/s | session ms | dispatches | peak act. MiB |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &reports {
            println!(
                "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {} | {:.2} |",
                r["model"].as_str().unwrap_or(""),
                r["backend"].as_str().unwrap_or(""),
                r["median_ms"].as_f64().unwrap_or(f64::NAN),
                r["p90_ms"].as_f64().unwrap_or(f64::NAN),
                r["min_ms"].as_f64().unwrap_or(f64::NAN),
                r["throughput_per_s"].as_f64().unwrap_or(f64::NAN),
                r["session_create_ms"].as_f64().unwrap_or(f64::NAN),
                r["dispatches"],
                mib(r["peak_activation_bytes"].as_u64().unwrap_or(0)),
            );
        }
    }
    if let Some(p) = &a.json {
        let doc = serde_json::json!({ "models": reports });
        write_file(p, serde_json::to_string_pretty(&doc).unwrap_or_default().as_bytes())?;
    }
    if let Some(p) = &a.profile {
        let doc = serde_json::json!({ "traceEvents": trace, "displayTimeUnit": "ms" });
        write_file(p, serde_json::to_string(&doc).unwrap_or_default().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
