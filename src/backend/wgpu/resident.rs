//! GPU storage of device-resident tensors ([`crate::DeviceTensor`]): a buffer of its own
//! (outside every stage arena) in the backend's storage layout, tied to the [`GpuContext`]
//! that made it. Uploads and downloads here are counted in the owning session's
//! [`TransferCounters`].

use super::device::GpuContext;
use super::types::{from_gpu_bytes, to_gpu_bytes};
use crate::backend::resident::{DeviceData, DeviceTensor, TransferCounters};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use std::sync::Arc;

/// A device tensor's GPU buffer.
pub struct GpuBuffer {
    pub(crate) ctx: Arc<GpuContext>,
    pub(crate) buffer: ::wgpu::Buffer,
    /// Counters of the session that made the buffer (its downloads count there).
    counters: Arc<TransferCounters>,
}

fn usage() -> ::wgpu::BufferUsages {
    ::wgpu::BufferUsages::STORAGE | ::wgpu::BufferUsages::COPY_SRC | ::wgpu::BufferUsages::COPY_DST
}

impl GpuBuffer {
    pub fn device_name(&self) -> String {
        self.ctx.describe()
    }

    pub fn size(&self) -> u64 {
        self.buffer.size()
    }

    /// An empty buffer of `size` bytes (a multiple of 4) for a copy out of an arena.
    pub(crate) fn empty(ctx: &Arc<GpuContext>, size: u64, counters: &Arc<TransferCounters>) -> GpuBuffer {
        let buffer = ctx.device.create_buffer(&::wgpu::BufferDescriptor {
            label: Some("device tensor"),
            size: size.max(16),
            usage: usage(),
            mapped_at_creation: false,
        });
        GpuBuffer { ctx: ctx.clone(), buffer, counters: counters.clone() }
    }

    /// Uploads a host tensor (one counted upload).
    pub(crate) fn upload(ctx: &Arc<GpuContext>, t: &Tensor, counters: &Arc<TransferCounters>) -> Result<DeviceTensor> {
        let bytes = to_gpu_bytes(t, ctx.caps())?;
        let b = GpuBuffer::empty(ctx, bytes.len() as u64, counters);
        ctx.queue.write_buffer(&b.buffer, 0, &bytes);
        counters.upload(t.byte_len() as u64);
        Ok(DeviceTensor::new(t.dtype(), t.shape().to_vec(), DeviceData::Gpu(Arc::new(b))))
    }

    /// Reads the buffer back as a `dtype`/`shape` tensor: one counted download, in `counters`
    /// when given (the session that needs the value), else in the owning session's.
    pub(crate) fn download(
        &self,
        dtype: DType,
        shape: &[usize],
        counters: Option<&TransferCounters>,
    ) -> Result<Tensor> {
        let ctx = &self.ctx;
        ctx.check_lost()?;
        let dev = &ctx.device;
        let size = self.buffer.size();
        let staging = dev.create_buffer(&::wgpu::BufferDescriptor {
            label: Some("device tensor read-back"),
            size,
            usage: ::wgpu::BufferUsages::MAP_READ | ::wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = dev.create_command_encoder(&::wgpu::CommandEncoderDescriptor { label: Some("download") });
        enc.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, size);
        ctx.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.slice(..).map_async(::wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        dev.poll(::wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        rx.recv()
            .map_err(|_| Error::Gpu("the read-back was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("mapping a device tensor: {e}")))?;
        let t = {
            let view =
                staging.get_mapped_range(..).map_err(|e| Error::Gpu(format!("mapping a device tensor: {e:?}")))?;
            from_gpu_bytes(dtype, shape, &view, ctx.caps())?
        };
        staging.unmap();
        counters.unwrap_or(&self.counters).download(t.byte_len() as u64);
        Ok(t)
    }
}

/// Copies arena byte ranges `(buffer, offset, size)` into new device tensors, in one command
/// encoder and one submit (no wait: later work on the queue is ordered after the copies).
pub(crate) fn export(
    ctx: &Arc<GpuContext>,
    sources: &[(&::wgpu::Buffer, u64, u64, DType, Vec<usize>)],
    counters: &Arc<TransferCounters>,
) -> Result<Vec<DeviceTensor>> {
    if sources.is_empty() {
        return Ok(vec![]);
    }
    let dev = &ctx.device;
    let scope = dev.push_error_scope(::wgpu::ErrorFilter::Validation);
    let mut enc = dev.create_command_encoder(&::wgpu::CommandEncoderDescriptor { label: Some("export") });
    let mut out = Vec::with_capacity(sources.len());
    for (buf, off, size, dtype, shape) in sources {
        let b = GpuBuffer::empty(ctx, *size, counters);
        enc.copy_buffer_to_buffer(buf, *off, &b.buffer, 0, *size);
        counters.device_copy(*size);
        out.push(DeviceTensor::new(*dtype, shape.clone(), DeviceData::Gpu(Arc::new(b))));
    }
    ctx.queue.submit([enc.finish()]);
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::Gpu(format!("copying device outputs: {e}")));
    }
    Ok(out)
}
