//! GPU timestamp queries for the profiler. A profiled run records each dispatch in its own
//! compute pass whose `timestamp_writes` put a timestamp at the pass's start and end (this needs
//! only `TIMESTAMP_QUERY`, not the inside-pass or inside-encoder features, so it works on every
//! adapter that has timestamps). The queries of a stage live in query sets of at most
//! `QUERY_SET_MAX_QUERIES`, are resolved into one buffer after the passes, copied to a mapped
//! read-back buffer in the same submit, and converted to nanoseconds with the queue's timestamp
//! period.

use super::device::GpuContext;
use crate::backend::profile::RawTiming;
use crate::error::{Error, Result};

const PER_SET: u32 = ::wgpu::QUERY_SET_MAX_QUERIES;

/// Query sets and buffers for `dispatches` timed dispatches (two timestamps each).
pub struct Timestamps {
    sets: Vec<(::wgpu::QuerySet, u32)>,
    resolve: ::wgpu::Buffer,
    readback: ::wgpu::Buffer,
    bytes: u64,
    dispatches: usize,
}

impl Timestamps {
    /// `None` with the reason when the device has no timestamp queries.
    pub fn new(ctx: &GpuContext, dispatches: usize) -> std::result::Result<Timestamps, String> {
        if !ctx.features.contains(::wgpu::Features::TIMESTAMP_QUERY) {
            return Err(format!("{} has no TIMESTAMP_QUERY: GPU steps are not timed", ctx.info.name));
        }
        let queries = 2 * dispatches.max(1) as u64;
        let mut sets = Vec::new();
        let mut left = queries;
        while left > 0 {
            let n = left.min(PER_SET as u64) as u32;
            sets.push((
                ctx.device.create_query_set(&::wgpu::QuerySetDescriptor {
                    label: Some("profile.timestamps"),
                    ty: ::wgpu::QueryType::Timestamp,
                    count: n,
                }),
                n,
            ));
            left -= n as u64;
        }
        // Each set resolves at a multiple of PER_SET * 8 bytes (a multiple of the 256-byte
        // resolve alignment).
        let bytes = (sets.len() as u64 - 1) * PER_SET as u64 * 8 + sets.last().map_or(0, |s| s.1 as u64 * 8);
        let buffer = |label, usage| {
            ctx.device.create_buffer(&::wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Ok(Timestamps {
            resolve: buffer("profile.resolve", ::wgpu::BufferUsages::QUERY_RESOLVE | ::wgpu::BufferUsages::COPY_SRC),
            readback: buffer("profile.readback", ::wgpu::BufferUsages::MAP_READ | ::wgpu::BufferUsages::COPY_DST),
            sets,
            bytes,
            dispatches,
        })
    }

    /// The start/end timestamp writes of dispatch `i`'s pass.
    pub fn writes(&self, i: usize) -> ::wgpu::ComputePassTimestampWrites<'_> {
        let q = 2 * i as u32;
        ::wgpu::ComputePassTimestampWrites {
            query_set: &self.sets[(q / PER_SET) as usize].0,
            beginning_of_pass_write_index: Some(q % PER_SET),
            end_of_pass_write_index: Some(q % PER_SET + 1),
        }
    }

    /// Resolves every query and copies them to the read-back buffer (after the passes).
    pub fn resolve(&self, enc: &mut ::wgpu::CommandEncoder) {
        for (k, (set, n)) in self.sets.iter().enumerate() {
            enc.resolve_query_set(set, 0..*n, &self.resolve, k as u64 * PER_SET as u64 * 8);
        }
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, self.bytes);
    }

    /// After the submit: (dispatch, start ns, duration ns) on the GPU's clock.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<RawTiming>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.readback.slice(..).map_async(::wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        ctx.device
            .poll(::wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the timestamps: {e}")))?;
        rx.recv()
            .map_err(|_| Error::Gpu("the timestamp read-back was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("mapping the timestamps: {e}")))?;
        let period = ctx.queue.get_timestamp_period() as f64;
        let out = {
            let view =
                self.readback.get_mapped_range(..).map_err(|e| Error::Gpu(format!("mapping the timestamps: {e:?}")))?;
            let ticks: Vec<u64> =
                view.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
            (0..self.dispatches)
                .map(|i| {
                    let (a, b) = (ticks[2 * i], ticks[2 * i + 1]);
                    (i, (a as f64 * period) as u64, (b.saturating_sub(a) as f64 * period) as u64)
                })
                .collect()
        };
        self.readback.unmap();
        Ok(out)
    }
}
