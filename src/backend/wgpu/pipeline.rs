//! Compute pipelines and bind-group layouts. Layouts are explicit: `n` read-write storage
//! buffers at bindings `0..n` (inputs, then outputs) and one uniform at binding `n` — storage
//! is read-write even for inputs so that slices of one arena can be bound together. Pipelines
//! are cached by [`KernelKey`]; creation runs inside error scopes that name the kernel.
//! [`PipelineCache::precompile`] compiles a stage's missing pipelines on several threads (wgpu
//! devices are `Sync`, error scopes thread-local). Where the adapter has
//! `Features::PIPELINE_CACHE` (Vulkan), the driver's compiled pipelines are also kept on disk
//! in the cache folder (`tune::cache_dir`), one file per `wgpu::util::pipeline_cache_key`,
//! loaded at device creation and rewritten by [`PipelineCache::persist`] after new pipelines.

use super::kernels::KernelKey;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct PipelineCache {
    layouts: Mutex<HashMap<u32, Arc<(::wgpu::BindGroupLayout, ::wgpu::PipelineLayout)>>>,
    pipelines: Mutex<HashMap<KernelKey, Arc<::wgpu::ComputePipeline>>>,
    created: std::sync::atomic::AtomicUsize,
    /// The driver's pipeline cache and its file, with `PIPELINE_CACHE`.
    disk: Option<(::wgpu::PipelineCache, std::path::PathBuf)>,
    /// Pipelines created since the last [`PipelineCache::persist`].
    dirty: std::sync::atomic::AtomicBool,
    /// Bytes of cache data loaded from disk at creation (0: a cold start).
    pub loaded_bytes: usize,
}

impl PipelineCache {
    /// A cache for `device`, backed by the driver's pipeline cache on disk when the device has
    /// `PIPELINE_CACHE` and a cache folder is known.
    pub fn new(device: &::wgpu::Device, info: &::wgpu::AdapterInfo) -> PipelineCache {
        let mut c = PipelineCache::default();
        let file = match (device.features().contains(::wgpu::Features::PIPELINE_CACHE), super::tune::cache_dir()) {
            (true, Some(dir)) => ::wgpu::util::pipeline_cache_key(info).map(|k| dir.join(k)),
            _ => None,
        };
        if let Some(file) = file {
            let data = std::fs::read(&file).ok();
            c.loaded_bytes = data.as_ref().map_or(0, |d| d.len());
            // SAFETY: the data was written by `get_data` of a cache for an adapter with the same
            // `pipeline_cache_key` (vendor, device, driver); with `fallback`, data the driver
            // rejects gives an empty cache.
            let cache = unsafe {
                device.create_pipeline_cache(&::wgpu::PipelineCacheDescriptor {
                    label: Some("onnx-wgpu"),
                    data: data.as_deref(),
                    fallback: true,
                })
            };
            c.disk = Some((cache, file));
        }
        c
    }

    /// Writes the driver's pipeline cache to disk if pipelines were created since the last call.
    pub fn persist(&self) {
        if !self.dirty.swap(false, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Some((cache, file)) = &self.disk {
            if let Some(data) = cache.get_data() {
                // A cache that cannot be written only costs compile time next run.
                let _ = super::tune::write_atomic(file, &data);
            }
        }
    }

    /// Compiles the pipelines of `keys` (and of their [`KernelKey::shape_siblings`]) that are not
    /// cached yet, on up to `available_parallelism` threads; the first error is returned.
    pub fn precompile<'a>(&self, device: &::wgpu::Device, keys: impl IntoIterator<Item = &'a KernelKey>) -> Result<()> {
        let mut missing: Vec<KernelKey> = {
            let have = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
            keys.into_iter()
                .flat_map(|k| std::iter::once(k.clone()).chain(k.shape_siblings()))
                .filter(|k| !have.contains_key(k))
                .collect()
        };
        missing.sort_by_cached_key(|k| k.label());
        missing.dedup();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(missing.len());
        if threads <= 1 {
            return missing.into_iter().try_for_each(|k| self.get(device, &k).map(|_| ()));
        }
        for k in &missing {
            // Layouts first, so that threads do not race to create the same one.
            self.layout(device, k.storage_bindings());
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| -> Result<()> {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            match missing.get(i) {
                                Some(k) => self.get(device, k).map(|_| ())?,
                                None => return Ok(()),
                            }
                        }
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join().unwrap_or_else(|_| Err(Error::Internal("a pipeline compile thread panicked".into())))
            })
        })
    }
    /// The layout for `n` storage bindings plus one uniform.
    pub fn layout(&self, device: &::wgpu::Device, n: u32) -> Arc<(::wgpu::BindGroupLayout, ::wgpu::PipelineLayout)> {
        self.layouts
            .lock()
            .unwrap()
            .entry(n)
            .or_insert_with(|| {
                let mut entries: Vec<::wgpu::BindGroupLayoutEntry> = (0..n)
                    .map(|i| ::wgpu::BindGroupLayoutEntry {
                        binding: i,
                        visibility: ::wgpu::ShaderStages::COMPUTE,
                        ty: ::wgpu::BindingType::Buffer {
                            ty: ::wgpu::BufferBindingType::Storage { read_only: false },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect();
                entries.push(::wgpu::BindGroupLayoutEntry {
                    binding: n,
                    visibility: ::wgpu::ShaderStages::COMPUTE,
                    ty: ::wgpu::BindingType::Buffer {
                        ty: ::wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                });
                let bgl = device.create_bind_group_layout(&::wgpu::BindGroupLayoutDescriptor {
                    label: Some(&format!("storage{n}+uniform")),
                    entries: &entries,
                });
                let pl = device.create_pipeline_layout(&::wgpu::PipelineLayoutDescriptor {
                    label: Some(&format!("storage{n}+uniform")),
                    bind_group_layouts: &[Some(&bgl)],
                    immediate_size: 0,
                });
                Arc::new((bgl, pl))
            })
            .clone()
    }

    /// The pipeline for `key`, compiled on first use.
    pub fn get(&self, device: &::wgpu::Device, key: &KernelKey) -> Result<Arc<::wgpu::ComputePipeline>> {
        if let Some(p) = self.pipelines.lock().unwrap_or_else(|e| e.into_inner()).get(key) {
            return Ok(p.clone());
        }
        let layout = self.layout(device, key.storage_bindings());
        let pipeline = compile(device, &key.label(), key.source(), &layout.1, self.disk.as_ref().map(|d| &d.0))?;
        self.created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        let p = Arc::new(pipeline);
        self.pipelines.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), p.clone());
        Ok(p)
    }

    /// How many pipelines were compiled so far.
    pub fn created(&self) -> usize {
        self.created.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Compiles `source` for `layout`. Validation errors (the WGSL or the layout) and internal ones
/// (the driver's compiler failing on valid WGSL) both come back naming the kernel `label`.
fn compile(
    device: &::wgpu::Device,
    label: &str,
    source: String,
    layout: &::wgpu::PipelineLayout,
    cache: Option<&::wgpu::PipelineCache>,
) -> Result<::wgpu::ComputePipeline> {
    let internal = device.push_error_scope(::wgpu::ErrorFilter::Internal);
    let scope = device.push_error_scope(::wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(::wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: ::wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&::wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache,
    });
    let validation = pollster::block_on(scope.pop());
    let driver = pollster::block_on(internal.pop());
    if let Some(e) = validation.or(driver) {
        return Err(Error::Kernel { kernel: label.to_string(), reason: super::device::describe_error(&e) });
    }
    Ok(pipeline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::device::GpuContext;

    /// A shader that does not compile, and one that compiles but does not fit its layout, both
    /// fail with [`Error::Kernel`] naming the kernel (and leave the device usable).
    #[test]
    fn shader_and_pipeline_failures_name_the_kernel() {
        let Ok(ctx) = GpuContext::shared() else {
            eprintln!("SKIP shader_and_pipeline_failures_name_the_kernel: no GPU adapter");
            return;
        };
        let dev = &ctx.device;
        let layout = ctx.pipelines.layout(dev, 1);
        let cases = [
            ("bad_wgsl_kernel", "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }"),
            (
                "bad_layout_kernel",
                "@group(0) @binding(7) var<storage, read_write> y: array<u32>;\n\
                 @compute @workgroup_size(1) fn main() { y[0] = 1u; }",
            ),
        ];
        for (label, src) in cases {
            match compile(dev, label, src.to_string(), &layout.1, None) {
                Err(Error::Kernel { kernel, reason }) => assert_eq!(kernel, label, "{reason}"),
                Err(e) => panic!("{label}: expected a kernel error, got {e}"),
                Ok(_) => panic!("{label} compiled"),
            }
        }
        assert!(ctx.take_uncaptured().is_empty());
        let ok = "@group(0) @binding(0) var<storage, read_write> y: array<u32>;\n\
                  @compute @workgroup_size(1) fn main() { y[0] = 1u; }";
        compile(dev, "good_kernel", ok.to_string(), &layout.1, None).expect("a valid kernel after the failures");
    }
}
