//! The matrix-product autotuner and the on-disk cache folder it shares with the pipeline cache.
//!
//! On the first product of a (type, accumulation, B layout, shape class, adapter), the candidate
//! tile configurations ([`Algo`]) are timed on the device with the product's own shape (wall
//! clock around submits of several dispatches after an untimed one; the best of three) and the
//! winner is kept in memory and in `autotune.json` in the cache folder, keyed by the adapter's
//! name, driver and driver version, so later processes do not time it again. A shape class is
//! the ceiling log2 of N and K (fixed by the weights) and M as 1, 2-8 or more, so that a model
//! with dynamic batch or sequence dims keeps one decision (and compiles no new pipelines) as
//! they change. Batched products (attention) and products with fewer than
//! [`MIN_TUNED_WEIGHTS`] weights are not timed: they take the deterministic default of
//! `MatMulConfig::default_algo`, as does everything when tuning is off ([`enabled`]: by
//! `ONNX_WGPU_AUTOTUNE=0`, and by default on CPU adapters, so tests on lavapipe are
//! deterministic and fast; `ONNX_WGPU_AUTOTUNE=1` tunes there too).
//!
//! Cache folder: `$ONNX_WGPU_CACHE_DIR`, else `$XDG_CACHE_HOME/onnx-wgpu`, else
//! `$HOME/.cache/onnx-wgpu`; `ONNX_WGPU_CACHE_DIR=off` keeps everything in memory. Files are
//! written to a temporary name and renamed, so concurrent processes never read a torn file.

use super::device::GpuContext;
use super::kernels::matmul::{Algo, MatMulParams, MatMulVariant, Problem};
use super::kernels::{GpuType, KernelKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Products with fewer weights (N·K) take the default configuration untimed: dispatch
/// overhead dominates them. (A function of the key alone, so a key is always or never tuned.)
pub const MIN_TUNED_WEIGHTS: usize = 1 << 16;

/// The cache folder (see the module docs), or None when disabled or unknown.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var("ONNX_WGPU_CACHE_DIR") {
        Ok(d) if d == "off" || d.is_empty() => None,
        Ok(d) => Some(PathBuf::from(d)),
        Err(_) => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .map(|d| d.join("onnx-wgpu")),
    }
}

/// Whether autotuning is on for `ctx`: `ONNX_WGPU_AUTOTUNE=0` (`off`, `false`) turns it off,
/// `=1` on; unset, it is on except on CPU adapters (lavapipe, llvmpipe, WARP), where timing a
/// shape class costs seconds and which serve as test drivers, not as targets.
pub fn enabled(ctx: &GpuContext) -> bool {
    match std::env::var("ONNX_WGPU_AUTOTUNE").as_deref() {
        Ok("0" | "off" | "false") => false,
        Ok(_) => true,
        Err(_) => ctx.info.device_type != ::wgpu::DeviceType::Cpu,
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// One tuned shape class.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub winner: String,
    /// Microseconds per dispatch of each candidate timed.
    pub times_us: BTreeMap<String, f64>,
}

/// How a product's configuration was decided (for `onnx-wgpu bench`).
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub key: String,
    pub algo: String,
    /// `tuned` (timed now), `cached` (from memory or disk).
    pub how: &'static str,
    pub times_us: BTreeMap<String, f64>,
}

/// The tuner state of one device: winners by key, loaded from disk on first use.
#[derive(Default)]
pub struct TuneState {
    inner: Mutex<Option<BTreeMap<String, Entry>>>,
    decisions: Mutex<Vec<Decision>>,
}

impl TuneState {
    /// Decisions made so far in this process (each key once).
    pub fn decisions(&self) -> Vec<Decision> {
        self.decisions.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn note(&self, d: Decision) {
        let mut v = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|x| x.key == d.key) {
            v.push(d);
        }
    }
}

fn file() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("autotune.json"))
}

fn load() -> BTreeMap<String, Entry> {
    file().and_then(|f| std::fs::read(f).ok()).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Ceiling log2 (the shape class of one dim).
fn class(x: usize) -> u32 {
    x.max(1).next_power_of_two().trailing_zeros()
}

/// Times matrix-product candidates on a device and remembers the winners.
pub struct Tuner {
    ctx: Arc<GpuContext>,
}

impl Tuner {
    pub fn new(ctx: Arc<GpuContext>) -> Tuner {
        Tuner { ctx }
    }

    /// The cache key of `prob` on this adapter.
    pub fn key(&self, prob: &Problem) -> String {
        let i = &self.ctx.info;
        format!(
            "{}|{}|{}|{:?}|matmul|{:?}|acc_{}|{}|{}|n2^{}|k2^{}",
            i.name,
            i.driver,
            i.driver_info,
            i.backend,
            prob.t,
            if prob.f16_acc && prob.t == GpuType::F16 { "f16" } else { "f32" },
            if prob.b.0 == 1 { "bT" } else { "bN" },
            match prob.m {
                0 | 1 => "m1",
                2..=8 => "m2-8",
                _ => "m>8",
            },
            class(prob.n),
            class(prob.k)
        )
    }

    /// The winner among `cands` for `prob`: cached, or timed now; None when the product is too
    /// small to time or timing failed (the caller then takes its default).
    pub fn pick(&self, prob: &Problem, cands: &[Algo]) -> Option<Algo> {
        let key = self.key(prob);
        let st = &self.ctx.tune;
        let mut guard = st.inner.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(load);
        if let Some(e) = map.get(&key) {
            if let Some(a) = Algo::from_name(&e.winner).filter(|a| cands.contains(a)) {
                st.note(Decision { key, algo: e.winner.clone(), how: "cached", times_us: e.times_us.clone() });
                return Some(a);
            }
        }
        if prob.batch > 1 || prob.n.saturating_mul(prob.k) < MIN_TUNED_WEIGHTS {
            return None;
        }
        let times = match measure(&self.ctx, prob, cands) {
            Ok(t) if !t.is_empty() => t,
            _ => return None,
        };
        let (best, _) = times.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1))?;
        let entry = Entry {
            winner: best.name().to_string(),
            times_us: times.iter().map(|(a, t)| (a.name().to_string(), (t * 1e6).round())).collect(),
        };
        st.note(Decision {
            key: key.clone(),
            algo: entry.winner.clone(),
            how: "tuned",
            times_us: entry.times_us.clone(),
        });
        map.insert(key, entry);
        if let (Some(f), Ok(bytes)) = (file(), serde_json::to_vec_pretty(&*map)) {
            // A cache that cannot be written only costs a re-tune next time.
            let _ = write_atomic(&f, &bytes);
        }
        Some(best)
    }
}

fn entry(binding: u32, buf: &::wgpu::Buffer) -> ::wgpu::BindGroupEntry<'_> {
    ::wgpu::BindGroupEntry { binding, resource: buf.as_entire_binding() }
}

/// Seconds per dispatch of each candidate on zero-filled buffers of `prob`'s shape.
fn measure(ctx: &GpuContext, prob: &Problem, cands: &[Algo]) -> Result<Vec<(Algo, f64)>, String> {
    let dev = &ctx.device;
    let es = if prob.t == GpuType::F16 { 2 } else { 4 };
    let bytes = |n: usize| ((n * es).div_ceil(4) * 4).max(4) as u64;
    let buffer = |label: &str, size: u64, usage: ::wgpu::BufferUsages| {
        dev.create_buffer(&::wgpu::BufferDescriptor { label: Some(label), size, usage, mapped_at_creation: false })
    };
    let max = ctx.limits.max_storage_buffer_binding_size;
    let z = prob.batch.max(1);
    let (sa, sb, sy) = (bytes(z * prob.m * prob.k), bytes(z * prob.k * prob.n), bytes(z * prob.m * prob.n));
    if sa.max(sb).max(sy) > max {
        return Err("too large to time".into());
    }
    let storage = ::wgpu::BufferUsages::STORAGE;
    let a = buffer("tune.a", sa, storage);
    let b = buffer("tune.b", sb, storage);
    let y = buffer("tune.y", sy, storage);
    let u32_of = |x: usize| u32::try_from(x).map_err(|_| "dims exceed 32 bits".to_string());
    let params = MatMulParams {
        m: u32_of(prob.m)?,
        n: u32_of(prob.n)?,
        k: u32_of(prob.k)?,
        a_row: u32_of(prob.k)?,
        a_col: 1,
        b_row: u32_of(prob.b.0)?,
        b_col: u32_of(prob.b.1)?,
        alpha: 1.0,
        y_row: u32_of(prob.n)?,
        batch_rank: 1,
        batch_shape: [u32_of(z)?, 1, 1, 1],
        a_batch: [u32_of(prob.m * prob.k)?, 0, 0, 0],
        b_batch: [u32_of(prob.k * prob.n)?, 0, 0, 0],
        y_batch: [u32_of(prob.m * prob.n)?, 0, 0, 0],
        ..Default::default()
    };
    let uniform = {
        use ::wgpu::util::DeviceExt;
        dev.create_buffer_init(&::wgpu::util::BufferInitDescriptor {
            label: Some("tune.params"),
            contents: bytemuck::bytes_of(&params),
            usage: ::wgpu::BufferUsages::UNIFORM,
        })
    };
    let mut out: Vec<(Algo, f64)> = Vec::new();
    for &algo in cands {
        let v = MatMulVariant {
            f16_acc: prob.f16_acc && prob.t == GpuType::F16,
            ..MatMulVariant::new(prob.t, false, algo)
        };
        let key = KernelKey::MatMul(v);
        let pipeline = ctx.pipelines.get(dev, &key).map_err(|e| e.to_string())?;
        let layout = ctx.pipelines.layout(dev, 5);
        let bg = dev.create_bind_group(&::wgpu::BindGroupDescriptor {
            label: Some("tune"),
            layout: &layout.0,
            entries: &[entry(0, &a), entry(1, &b), entry(2, &a), entry(3, &y), entry(4, &a), entry(5, &uniform)],
        });
        let grid = algo.grid(prob.m, prob.n, z)?;
        let run = |reps: u32| -> Result<f64, String> {
            let mut enc = dev.create_command_encoder(&Default::default());
            for _ in 0..reps {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
            }
            let t0 = Instant::now();
            ctx.queue.submit([enc.finish()]);
            dev.poll(::wgpu::PollType::wait_indefinitely()).map_err(|e| e.to_string())?;
            Ok(t0.elapsed().as_secs_f64() / reps as f64)
        };
        // The first dispatch of a pipeline may pay for lazy driver work (lavapipe's JIT).
        run(1)?;
        let first = run(1)?;
        let best = out.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
        // A candidate 10× slower than the best on its first run is not worth repeating; the
        // others take the best of three timings (a shared machine's noise only adds time).
        let t = if first > 10.0 * best {
            first
        } else {
            let reps = ((0.05 / first.max(1e-6)).ceil() as u32).clamp(1, 20);
            run(reps)?.min(run(reps)?).min(first)
        };
        out.push((algo, t));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_cache_dir() {
        assert_eq!([1, 2, 3, 4, 5, 4096].map(class), [0, 1, 2, 2, 3, 12]);
        let e = Entry { winner: "tile64".into(), times_us: BTreeMap::from([("tile64".into(), 12.0)]) };
        let m = BTreeMap::from([("k".to_string(), e)]);
        let s = serde_json::to_vec(&m).unwrap();
        let back: BTreeMap<String, Entry> = serde_json::from_slice(&s).unwrap();
        assert_eq!(back, m);
        let dir = std::env::temp_dir().join(format!("onnx-wgpu-tune-test-{}", std::process::id()));
        let f = dir.join("x.json");
        write_atomic(&f, b"{}").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"{}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
