//! The data-driven conformance runner behind `onnx-wgpu test` and the integration tests. A case
//! is a folder holding `model.onnx` and `test_data_set_*/input_K.pb, output_K.pb` (serialized
//! `TensorProto`s, ONNX's backend-test layout). Outputs are compared with dtype-aware
//! tolerances: `|got − want| ≤ atol + rtol·|want|` for floats (looser for 16-bit floats), exact
//! equality for integers, bools and strings; NaN must meet NaN and infinities must match.

use crate::ir::Graph;
use crate::onnx::proto::{OptionalProto, SequenceProto, TensorProto};
use crate::onnx::tensor_proto::{to_tensor, ExternalBase};
use crate::{Backend, DType, Data, Kind, Session, Tensor};

use prost::Message;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One test case folder.
#[derive(Clone, Debug)]
pub struct Case {
    /// The folder's path relative to the searched root (or its name).
    pub name: String,
    pub dir: PathBuf,
}

/// Finds case folders under `root` (itself a case, or any depth of folders holding cases),
/// sorted by name.
pub fn find_cases(root: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let base = root.parent().unwrap_or(root).to_path_buf();
    walk(root, &base, &mut out);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<Case>) {
    if dir.join("model.onnx").is_file() {
        let name = dir.strip_prefix(base).unwrap_or(dir).display().to_string();
        out.push(Case { name, dir: dir.to_path_buf() });
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    subs.sort();
    for s in subs {
        walk(&s, base, out);
    }
}

/// Comparison tolerances for f32/f64 outputs; 16-bit floats use 10× (f16) and 20× (bf16).
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { rtol: 1e-3, atol: 1e-4 }
    }
}

impl Tolerance {
    pub fn for_dtype(&self, d: DType) -> (f64, f64) {
        match d {
            DType::F16 => (self.rtol * 10.0, self.atol * 10.0),
            DType::BF16 => (self.rtol * 20.0, self.atol * 100.0),
            _ => (self.rtol, self.atol),
        }
    }
}

/// Compares one output; returns the largest absolute difference.
pub fn compare(got: &Tensor, want: &Tensor, tol: &Tolerance) -> Result<f64, String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {} but expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} but expected {:?}", got.shape(), want.shape()));
    }
    if want.dtype() == DType::String {
        return if got.strings()? == want.strings()? { Ok(0.0) } else { Err("strings differ".into()) };
    }
    if !want.dtype().is_float() {
        let (g, w) = (got.to_i64_vec()?, want.to_i64_vec()?);
        if let Some(i) = (0..w.len()).find(|&i| g[i] != w[i]) {
            let diff = (0..w.len()).filter(|&i| g[i] != w[i]).count();
            return Err(format!("{diff} of {} elements differ; first at {i}: {} vs {}", w.len(), g[i], w[i]));
        }
        return Ok(0.0);
    }
    let (rtol, atol) = tol.for_dtype(want.dtype());
    let (g, w) = (got.to_f64_vec()?, want.to_f64_vec()?);
    let mut worst = 0.0f64;
    let mut bad = 0usize;
    let mut first = None;
    for i in 0..w.len() {
        let (a, b) = (g[i], w[i]);
        let ok = if b.is_nan() {
            a.is_nan()
        } else if b.is_infinite() {
            a == b
        } else {
            let d = (a - b).abs();
            if d.is_finite() {
                worst = worst.max(d);
            }
            d <= atol + rtol * b.abs()
        };
        if !ok {
            bad += 1;
            first.get_or_insert((i, a, b));
        }
    }
    match first {
        None => Ok(worst),
        Some((i, a, b)) => Err(format!(
            "{bad} of {} elements outside rtol {rtol:e} atol {atol:e}; max abs diff {worst:.3e}; first at {i}: {a} vs {b}",
            w.len()
        )),
    }
}

/// Reads a serialized TensorProto.
pub fn read_pb(path: &Path) -> Result<(String, Tensor), String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let p = TensorProto::decode(b.as_slice()).map_err(|e| format!("{}: {e}", path.display()))?;
    let t =
        to_tensor(&p, &ExternalBase { dir: path.parent() }, 1 << 31).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((p.name().to_string(), t))
}

fn tensor_of(p: &TensorProto) -> Result<Tensor, String> {
    to_tensor(p, &ExternalBase { dir: None }, 1 << 31).map_err(|e| e.to_string())
}

fn sequence_of(p: &SequenceProto) -> Result<Data, String> {
    let mut v: Vec<Data> = p.tensor_values.iter().map(|t| tensor_of(t).map(Data::Tensor)).collect::<Result<_, _>>()?;
    v.extend(p.sequence_values.iter().map(sequence_of).collect::<Result<Vec<_>, _>>()?);
    v.extend(p.optional_values.iter().map(optional_of).collect::<Result<Vec<_>, _>>()?);
    Ok(Data::Sequence(v))
}

fn optional_of(p: &OptionalProto) -> Result<Data, String> {
    let inner = if let Some(t) = &p.tensor_value {
        Some(Data::Tensor(tensor_of(t)?))
    } else if let Some(s) = &p.sequence_value {
        Some(sequence_of(s)?)
    } else if let Some(o) = &p.optional_value {
        Some(optional_of(o)?)
    } else {
        None
    };
    Ok(Data::Optional(inner.map(Box::new)))
}

/// Reads a serialized value of the given kind (TensorProto, SequenceProto or OptionalProto).
pub fn read_data(path: &Path, kind: &Kind) -> Result<(String, Data), String> {
    let ctx = |e: String| format!("{}: {e}", path.display());
    let b = std::fs::read(path).map_err(|e| ctx(e.to_string()))?;
    match kind {
        Kind::Tensor => read_pb(path).map(|(n, t)| (n, Data::Tensor(t))),
        Kind::Sequence(_) => {
            let p = SequenceProto::decode(b.as_slice()).map_err(|e| ctx(e.to_string()))?;
            Ok((p.name().to_string(), sequence_of(&p).map_err(ctx)?))
        }
        Kind::Optional(_) => {
            let p = OptionalProto::decode(b.as_slice()).map_err(|e| ctx(e.to_string()))?;
            Ok((p.name().to_string(), optional_of(&p).map_err(ctx)?))
        }
    }
}

/// Compares values of any kind; returns the largest absolute difference of their tensors.
pub fn compare_data(got: &Data, want: &Data, tol: &Tolerance) -> Result<f64, String> {
    match (got, want) {
        (Data::Tensor(a), Data::Tensor(b)) => compare(a, b, tol),
        (Data::Sequence(a), Data::Sequence(b)) => {
            if a.len() != b.len() {
                return Err(format!("sequence of {} but expected {}", a.len(), b.len()));
            }
            let mut worst = 0.0f64;
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                worst = worst.max(compare_data(x, y, tol).map_err(|e| format!("element {i}: {e}"))?);
            }
            Ok(worst)
        }
        (Data::Optional(a), Data::Optional(b)) => match (a, b) {
            (None, None) => Ok(0.0),
            (Some(x), Some(y)) => compare_data(x, y, tol),
            (x, _) => Err(format!(
                "optional is {} but expected {}",
                if x.is_some() { "present" } else { "empty" },
                if x.is_some() { "empty" } else { "present" }
            )),
        },
        (a, b) => Err(format!("a {} but expected a {}", a.kind_name(), b.kind_name())),
    }
}

fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let k = name.strip_prefix(prefix)?.strip_suffix(".pb")?.parse().ok()?;
            Some((k, e.path()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|x| x.1).collect()
}

/// A case's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

#[derive(Clone, Debug)]
pub struct CaseResult {
    pub name: String,
    pub outcome: Outcome,
    /// Largest absolute difference over all float outputs (0 when none compared).
    pub max_abs_diff: f64,
    /// Wall time of load + runs.
    pub millis: f64,
}

/// How to run cases.
#[derive(Clone, Copy, Debug)]
pub struct CaseOptions {
    pub backend: Backend,
    /// Let the GPU place nodes without a GPU kernel on the CPU.
    pub cpu_fallback: bool,
    pub tolerance: Tolerance,
    /// Reduced-precision models (fp16): also accept an absolute error of this fraction of the
    /// reference output's range (max - min of its finite values).
    pub range_atol: Option<f64>,
    /// Quantized models: also accept this many quantization steps on an output computed by a
    /// DequantizeLinear with a constant per-tensor scale (one step = that scale).
    pub quant_steps: Option<f64>,
    /// Run the model in f16 (`SessionBuilder::precision`).
    pub precision: crate::Precision,
}

impl CaseOptions {
    pub fn new(backend: Backend) -> Self {
        CaseOptions {
            backend,
            cpu_fallback: true,
            tolerance: Tolerance::default(),
            range_atol: None,
            quant_steps: None,
            precision: crate::Precision::F32,
        }
    }

    /// The tolerance for one output: the base one, widened by `range_atol` and `quant_steps`.
    fn output_tolerance(&self, graph: &Graph, name: &str, want: &Data) -> Tolerance {
        let mut tol = self.tolerance;
        if let (Some(f), Data::Tensor(t)) = (self.range_atol, want) {
            if let Ok(v) = t.to_f64_vec() {
                let (lo, hi) =
                    v.iter().filter(|x| x.is_finite()).fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
                if lo <= hi {
                    tol.atol = tol.atol.max(f * (hi - lo));
                }
            }
        }
        if let Some(steps) = self.quant_steps {
            if let Some(scale) = dequantize_scale(graph, name) {
                tol.atol = tol.atol.max(steps * scale);
            }
        }
        tol
    }
}

/// The constant per-tensor scale of the DequantizeLinear that computes graph output `name`.
fn dequantize_scale(graph: &Graph, name: &str) -> Option<f64> {
    let out = graph.outputs.iter().find(|&&v| graph.value(v).name == name)?;
    let node = graph.node(graph.value(*out).producer?);
    if node.op_type != "DequantizeLinear" {
        return None;
    }
    let scale = graph.value((*node.inputs.get(1)?)?).konst.as_ref()?;
    match scale.to_f64_vec().ok()?.as_slice() {
        [s] => Some(s.abs()),
        _ => None,
    }
}

/// Runs every data set of a case.
pub fn run_case(case: &Case, opts: &CaseOptions) -> CaseResult {
    let t0 = Instant::now();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case_inner(case, opts)));
    let (outcome, max_abs_diff) = match r {
        Ok(Ok(d)) => (Outcome::Pass, d),
        Ok(Err(o)) => (o, 0.0),
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            (Outcome::Fail(format!("panic: {}", msg.unwrap_or_default())), 0.0)
        }
    };
    CaseResult { name: case.name.clone(), outcome, max_abs_diff, millis: t0.elapsed().as_secs_f64() * 1e3 }
}

fn run_case_inner(case: &Case, opts: &CaseOptions) -> Result<f64, Outcome> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&case.dir)
        .map_err(|e| Outcome::Skip(e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_")))
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err(Outcome::Skip("no test_data_set_* folder".into()));
    }
    let session = Session::builder()
        .backend(opts.backend)
        .cpu_fallback(opts.cpu_fallback)
        .precision(opts.precision)
        .from_file(case.dir.join("model.onnx"))
        .map_err(|e| Outcome::Fail(e.to_string()))?;
    let mut worst = 0.0f64;
    for set in sets {
        let mut inputs: Vec<(String, Data)> = Vec::new();
        for (k, p) in numbered(&set, "input_").iter().enumerate() {
            let info = session
                .inputs()
                .get(k)
                .ok_or_else(|| Outcome::Fail(format!("test data has more inputs than the model ({})", p.display())))?;
            let (name, d) = read_data(p, &info.kind).map_err(Outcome::Fail)?;
            let name = if session.inputs().iter().any(|i| i.name == name) { name } else { info.name.clone() };
            inputs.push((name, d));
        }
        let named: Vec<(&str, Data)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let outs = session.run_data(&named).map_err(|e| Outcome::Fail(e.to_string()))?;
        for (k, p) in numbered(&set, "output_").iter().enumerate() {
            let kind = session.outputs().get(k).map(|o| o.kind.clone()).unwrap_or_default();
            let (name, want) = read_data(p, &kind).map_err(Outcome::Fail)?;
            let got = outs
                .iter()
                .find(|(n, _)| *n == name)
                .or_else(|| outs.get(k))
                .map(|x| &x.1)
                .ok_or_else(|| Outcome::Fail(format!("no output for {}", p.display())))?;
            let label = if name.is_empty() { format!("output {k}") } else { format!("output '{name}'") };
            let tol = opts.output_tolerance(session.graph(), &name, &want);
            worst = worst.max(compare_data(got, &want, &tol).map_err(|e| Outcome::Fail(format!("{label}: {e}")))?);
        }
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances() {
        let t = Tolerance::default();
        let a = Tensor::new(&[3], vec![1.0f32, f32::NAN, f32::INFINITY]).unwrap();
        let b = Tensor::new(&[3], vec![1.0005f32, f32::NAN, f32::INFINITY]).unwrap();
        assert!(compare(&a, &b, &t).is_ok());
        let c = Tensor::new(&[3], vec![1.01f32, f32::NAN, f32::INFINITY]).unwrap();
        assert!(compare(&a, &c, &t).is_err());
        let d = Tensor::new(&[3], vec![1.0f32, 0.0, f32::INFINITY]).unwrap();
        assert!(compare(&a, &d, &t).is_err());
        let i = Tensor::new(&[2], vec![1i64, 2]).unwrap();
        let j = Tensor::new(&[2], vec![1i64, 3]).unwrap();
        assert!(compare(&i, &j, &t).is_err());
        assert!(compare(&i, &a, &t).is_err());
    }
}

/// The reason class of a failure, for the summary table of `onnx-wgpu test`: the op and why
/// for node errors (node names dropped), each unsupported operator, or "wrong values".
pub fn failure_class(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or("").trim();
    if let Some(rest) = line.strip_prefix("unsupported operators: ") {
        // "d::A (opset 1) at n1, n2; d::B (opset 1) at n3"
        let ops: Vec<&str> = rest.split("; ").filter_map(|s| s.split(" (opset").next()).collect();
        return format!("unsupported operator {}", ops.join(", "));
    }
    if line.starts_with("output '") {
        return "wrong values (outside tolerance)".into();
    }
    if let Some(rest) = line.strip_prefix("node '") {
        // node 'NAME' (Op): reason
        if let Some(after) = rest.split_once("' (").map(|x| x.1) {
            if let Some((op, why)) = after.split_once("): ") {
                let why: String = why.chars().take(90).collect();
                return format!("{op}: {why}");
            }
        }
    }
    line.chars().take(90).collect()
}

#[cfg(test)]
mod class_tests {
    use super::failure_class;

    #[test]
    fn failure_classes_drop_names_and_group() {
        assert_eq!(
            failure_class("unsupported operators: ai.onnx::StringSplit (opset 20) at substrings"),
            "unsupported operator ai.onnx::StringSplit"
        );
        assert_eq!(failure_class("node 'y' (Scan): Scan runs on the CPU"), "Scan: Scan runs on the CPU");
        assert_eq!(
            failure_class("unsupported operators: m::A (opset 1) at a, b; m::B (opset 1) at c"),
            "unsupported operator m::A, m::B"
        );
        assert_eq!(failure_class("output 'z': 2 of 3 elements differ"), "wrong values (outside tolerance)");
    }
}
