//! Adapter and device setup. One [`GpuContext`] per process is shared by every session (and
//! every test): the device, its queue, limits and features, the pipeline cache, and the
//! handlers for uncaptured errors and device loss.
//!
//! Adapter choice: `WGPU_BACKEND` (e.g. `vulkan`, `metal`, `dx12`, `gl`) restricts backends;
//! `WGPU_ADAPTER_NAME` picks the first adapter whose name contains it; otherwise discrete >
//! integrated > virtual > CPU adapters, and the GL backend only when asked for (its compute
//! support is partial and it would otherwise be picked silently where Vulkan is missing).

use super::pipeline::PipelineCache;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The shared device.
pub struct GpuContext {
    pub info: ::wgpu::AdapterInfo,
    pub device: ::wgpu::Device,
    pub queue: ::wgpu::Queue,
    pub limits: ::wgpu::Limits,
    pub features: ::wgpu::Features,
    pub pipelines: PipelineCache,
    /// The matrix-product autotuner's winners (`tune.rs`).
    pub tune: super::tune::TuneState,
    lost: Arc<AtomicBool>,
    lost_reason: Arc<Mutex<String>>,
    uncaptured: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuContext({})", self.describe())
    }
}

fn rank(info: &::wgpu::AdapterInfo) -> u32 {
    use ::wgpu::DeviceType::*;
    let t = match info.device_type {
        DiscreteGpu => 5,
        IntegratedGpu => 4,
        VirtualGpu => 3,
        Cpu => 2,
        Other => 1,
    };
    let b = match info.backend {
        ::wgpu::Backend::Vulkan | ::wgpu::Backend::Metal | ::wgpu::Backend::Dx12 => 1,
        _ => 0,
    };
    t * 2 + b
}

impl GpuContext {
    /// Opens the best adapter (see the module docs).
    pub fn create() -> Result<GpuContext> {
        let desc = ::wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        let gl_asked = std::env::var("WGPU_BACKEND").map(|v| v.to_lowercase().contains("gl")).unwrap_or(false);
        let instance = ::wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(::wgpu::Backends::all()));
        let mut candidates: Vec<::wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| gl_asked || a.get_info().backend != ::wgpu::Backend::Gl)
            .filter(|a| a.get_downlevel_capabilities().flags.contains(::wgpu::DownlevelFlags::COMPUTE_SHADERS))
            .collect();
        if candidates.is_empty() {
            return Err(Error::NoAdapter(
                "no adapter with compute shaders was found (on Linux without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers)".into(),
            ));
        }
        let adapter = match std::env::var("WGPU_ADAPTER_NAME") {
            Ok(name) => {
                let name = name.to_lowercase();
                let pos = candidates.iter().position(|a| a.get_info().name.to_lowercase().contains(&name)).ok_or_else(
                    || Error::NoAdapter(format!("no adapter's name contains WGPU_ADAPTER_NAME='{name}'")),
                )?;
                candidates.swap_remove(pos)
            }
            Err(_) => {
                candidates.sort_by_key(|a| std::cmp::Reverse(rank(&a.get_info())));
                candidates.swap_remove(0)
            }
        };
        let info = adapter.get_info();
        let want = ::wgpu::Features::SHADER_F16
            | ::wgpu::Features::SHADER_F64
            | ::wgpu::Features::SUBGROUP
            | ::wgpu::Features::TIMESTAMP_QUERY
            | ::wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | ::wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | ::wgpu::Features::PIPELINE_CACHE;
        let features = adapter.features() & want;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&::wgpu::DeviceDescriptor {
            label: Some("onnx-wgpu"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::NoAdapter(format!("{}: {e}", info.name)))?;
        let lost = Arc::new(AtomicBool::new(false));
        let lost_reason = Arc::new(Mutex::new(String::new()));
        {
            let (lost, why) = (lost.clone(), lost_reason.clone());
            device.set_device_lost_callback(move |reason, msg| {
                lost.store(true, Ordering::SeqCst);
                *why.lock().unwrap_or_else(|e| e.into_inner()) = format!("{reason:?}: {msg}");
            });
        }
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        {
            let sink = uncaptured.clone();
            device.on_uncaptured_error(Arc::new(move |e: ::wgpu::Error| {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                if s.len() < 16 {
                    s.push(describe_error(&e));
                }
            }));
        }
        let pipelines = PipelineCache::new(&device, &info);
        Ok(GpuContext {
            info,
            device,
            queue,
            limits,
            features,
            pipelines,
            tune: Default::default(),
            lost,
            lost_reason,
            uncaptured,
        })
    }

    /// The process-wide shared context, created on first use and recreated after device loss
    /// (sessions made before the loss keep failing with it; new ones get the new device).
    pub fn shared() -> Result<Arc<GpuContext>> {
        static SHARED: Mutex<Option<Arc<GpuContext>>> = Mutex::new(None);
        let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.as_ref() {
            // A non-blocking poll delivers a pending loss (wgpu reports a destroyed device's
            // loss from its next poll).
            let _ = c.device.poll(::wgpu::PollType::Poll);
            if !c.is_lost() {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(GpuContext::create()?);
        *g = Some(c.clone());
        Ok(c)
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Fails with the loss reason if the device was lost.
    pub fn check_lost(&self) -> Result<()> {
        if self.is_lost() {
            return Err(Error::Gpu(format!(
                "device lost ({}); create a new session",
                self.lost_reason.lock().unwrap_or_else(|e| e.into_inner())
            )));
        }
        Ok(())
    }

    /// Errors the device reported outside any error scope since the last call.
    pub fn take_uncaptured(&self) -> Vec<String> {
        std::mem::take(&mut *self.uncaptured.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn has_f16(&self) -> bool {
        self.features.contains(::wgpu::Features::SHADER_F16)
    }

    pub fn has_subgroups(&self) -> bool {
        self.features.contains(::wgpu::Features::SUBGROUP)
    }

    /// The optional capabilities that decide which dtypes have GPU storage.
    pub fn caps(&self) -> super::types::GpuCaps {
        super::types::GpuCaps { f16: self.has_f16(), f64: self.features.contains(::wgpu::Features::SHADER_F64) }
    }

    /// `name (backend, driver)`.
    pub fn describe(&self) -> String {
        format!("{} ({:?}, {} {})", self.info.name, self.info.backend, self.info.driver, self.info.driver_info)
    }
}

/// A wgpu error on one line (wgpu's description is "Validation Error", a blank line and an
/// indented "Caused by:" chain).
pub fn describe_error(e: &::wgpu::Error) -> String {
    e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}
