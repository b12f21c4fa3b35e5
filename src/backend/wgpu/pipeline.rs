//! Compute pipelines and bind-group layouts. Layouts are explicit: `n` read-write storage
//! buffers at bindings `0..n` (inputs, then outputs) and one uniform at binding `n` — storage
//! is read-write even for inputs so that slices of one arena can be bound together. Pipelines
//! are cached by [`KernelKey`]; creation runs inside error scopes that name the kernel.

use super::kernels::KernelKey;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct PipelineCache {
    layouts: Mutex<HashMap<u32, Arc<(::wgpu::BindGroupLayout, ::wgpu::PipelineLayout)>>>,
    pipelines: Mutex<HashMap<KernelKey, Arc<::wgpu::ComputePipeline>>>,
    created: std::sync::atomic::AtomicUsize,
}

impl PipelineCache {
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
        let pipeline = compile(device, &key.label(), key.source(), &layout.1)?;
        self.created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
        cache: None,
    });
    let validation = pollster::block_on(scope.pop());
    let driver = pollster::block_on(internal.pop());
    if let Some(e) = validation.or(driver) {
        return Err(Error::Kernel { kernel: label.to_string(), reason: e.to_string() });
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
            match compile(dev, label, src.to_string(), &layout.1) {
                Err(Error::Kernel { kernel, reason }) => assert_eq!(kernel, label, "{reason}"),
                Err(e) => panic!("{label}: expected a kernel error, got {e}"),
                Ok(_) => panic!("{label} compiled"),
            }
        }
        assert!(ctx.take_uncaptured().is_empty());
        let ok = "@group(0) @binding(0) var<storage, read_write> y: array<u32>;\n\
                  @compute @workgroup_size(1) fn main() { y[0] = 1u; }";
        compile(dev, "good_kernel", ok.to_string(), &layout.1).expect("a valid kernel after the failures");
    }
}
