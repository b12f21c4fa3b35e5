//! Device-resident tensors (IO binding): [`DeviceTensor`], a tensor kept in the memory of the
//! device that made it, [`Value`] (a host tensor or a device tensor, what an IO-bound run
//! takes and returns), and the per-session [`TransferStats`] that count every host↔device
//! transfer of run-time data. On the GPU a device tensor owns a buffer outside the stages'
//! activation arenas (a run's device outputs are copied out of the arena device-to-device, so
//! the next run may reuse the arena); on the CPU backend it wraps a host tensor, so the same
//! code runs on both backends.

use super::wgpu::resident::GpuBuffer;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A tensor in the memory of a session's device. Cloning shares the storage (it is never
/// written after creation). Made by [`Session::to_device`](crate::Session::to_device) or as an
/// output of [`Session::run_binding`](crate::Session::run_binding); fed back as an input of a
/// session on the same device without a host round trip.
#[derive(Clone)]
pub struct DeviceTensor {
    dtype: DType,
    shape: Vec<usize>,
    pub(crate) data: DeviceData,
}

/// Where a device tensor's bytes are.
#[derive(Clone)]
pub(crate) enum DeviceData {
    /// The CPU backend's "device" memory is host memory.
    Host(Tensor),
    /// A GPU buffer in the backend's storage layout.
    Gpu(Arc<GpuBuffer>),
}

impl std::fmt::Debug for DeviceTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceTensor({} {:?} on {})", self.dtype, self.shape, self.device())
    }
}

impl DeviceTensor {
    pub(crate) fn new(dtype: DType, shape: Vec<usize>, data: DeviceData) -> DeviceTensor {
        DeviceTensor { dtype, shape, data }
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// The device holding the tensor (the adapter's name, or `CPU`).
    pub fn device(&self) -> String {
        match &self.data {
            DeviceData::Host(_) => "CPU".into(),
            DeviceData::Gpu(b) => b.device_name(),
        }
    }
    /// True when the tensor lives in GPU memory (false for the CPU backend's tensors).
    pub fn is_gpu(&self) -> bool {
        matches!(self.data, DeviceData::Gpu(_))
    }
    /// Copies the tensor to the host: one download on the GPU, counted in the transfer
    /// statistics of the session that made the tensor; a clone on the CPU backend.
    pub fn to_host(&self) -> Result<Tensor> {
        match &self.data {
            DeviceData::Host(t) => Ok(t.clone()),
            DeviceData::Gpu(b) => b.download(self.dtype, &self.shape, None),
        }
    }
    /// The same storage viewed with another shape of the same element count.
    pub(crate) fn reshaped(&self, shape: &[usize]) -> Result<DeviceTensor> {
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::Usage(format!("cannot view a {:?} device tensor as {shape:?}", self.shape)));
        }
        let data = match &self.data {
            DeviceData::Host(t) => DeviceData::Host(t.reshape(shape).map_err(Error::Usage)?),
            DeviceData::Gpu(b) => DeviceData::Gpu(b.clone()),
        };
        Ok(DeviceTensor { dtype: self.dtype, shape: shape.to_vec(), data })
    }
}

/// A tensor on the host or on a session's device: the inputs and outputs of
/// [`Session::run_binding`](crate::Session::run_binding).
#[derive(Clone, Debug)]
pub enum Value {
    Host(Tensor),
    Device(DeviceTensor),
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Host(t)
    }
}

impl From<DeviceTensor> for Value {
    fn from(t: DeviceTensor) -> Value {
        Value::Device(t)
    }
}

impl Value {
    pub fn dtype(&self) -> DType {
        match self {
            Value::Host(t) => t.dtype(),
            Value::Device(t) => t.dtype(),
        }
    }
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Host(t) => t.shape(),
            Value::Device(t) => t.shape(),
        }
    }
    pub fn is_device(&self) -> bool {
        matches!(self, Value::Device(_))
    }
    /// The device tensor, if the value is one.
    pub fn as_device(&self) -> Option<&DeviceTensor> {
        match self {
            Value::Device(t) => Some(t),
            Value::Host(_) => None,
        }
    }
    /// The host tensor, if the value is one.
    pub fn as_host(&self) -> Option<&Tensor> {
        match self {
            Value::Host(t) => Some(t),
            Value::Device(_) => None,
        }
    }
    /// The value on the host (a download for a GPU tensor, see [`DeviceTensor::to_host`]).
    pub fn to_host(&self) -> Result<Tensor> {
        match self {
            Value::Host(t) => Ok(t.clone()),
            Value::Device(t) => t.to_host(),
        }
    }
}

/// Host↔device transfers of run-time data made by a session: inputs written to the device,
/// values read back (outputs, and values a later stage or a CPU-placed node needs on the
/// host), and [`DeviceTensor`] uploads and downloads. Each tensor moved counts once. Bytes
/// uploaded when a stage is prepared (weights on first use, per-shape plan constants and
/// kernel parameters) are counted apart, in `plan_*`. Device-to-device copies (a device
/// input into the arena, a device output out of it) are not transfers, and are counted apart
/// too. All zero on the CPU backend, whose device is the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    pub uploads: u64,
    pub upload_bytes: u64,
    pub downloads: u64,
    pub download_bytes: u64,
    pub device_copies: u64,
    pub device_copy_bytes: u64,
    /// Stages prepared (a new input-shape signature, or new values at a barrier).
    pub plan_stages: u64,
    pub plan_upload_bytes: u64,
}

impl std::ops::Sub for TransferStats {
    type Output = TransferStats;
    /// The transfers between two readings.
    fn sub(self, o: TransferStats) -> TransferStats {
        TransferStats {
            uploads: self.uploads - o.uploads,
            upload_bytes: self.upload_bytes - o.upload_bytes,
            downloads: self.downloads - o.downloads,
            download_bytes: self.download_bytes - o.download_bytes,
            device_copies: self.device_copies - o.device_copies,
            device_copy_bytes: self.device_copy_bytes - o.device_copy_bytes,
            plan_stages: self.plan_stages - o.plan_stages,
            plan_upload_bytes: self.plan_upload_bytes - o.plan_upload_bytes,
        }
    }
}

/// The live counters behind [`TransferStats`], shared by a session's backend and the device
/// tensors it makes.
#[derive(Debug, Default)]
pub(crate) struct TransferCounters {
    uploads: AtomicU64,
    upload_bytes: AtomicU64,
    downloads: AtomicU64,
    download_bytes: AtomicU64,
    device_copies: AtomicU64,
    device_copy_bytes: AtomicU64,
    plan_stages: AtomicU64,
    plan_upload_bytes: AtomicU64,
}

impl TransferCounters {
    fn add(count: &AtomicU64, bytes: &AtomicU64, n: u64) {
        count.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(n, Ordering::Relaxed);
    }
    pub fn upload(&self, bytes: u64) {
        Self::add(&self.uploads, &self.upload_bytes, bytes)
    }
    pub fn download(&self, bytes: u64) {
        Self::add(&self.downloads, &self.download_bytes, bytes)
    }
    pub fn device_copy(&self, bytes: u64) {
        Self::add(&self.device_copies, &self.device_copy_bytes, bytes)
    }
    pub fn plan_stage(&self, bytes: u64) {
        Self::add(&self.plan_stages, &self.plan_upload_bytes, bytes)
    }
    pub fn snapshot(&self) -> TransferStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TransferStats {
            uploads: r(&self.uploads),
            upload_bytes: r(&self.upload_bytes),
            downloads: r(&self.downloads),
            download_bytes: r(&self.download_bytes),
            device_copies: r(&self.device_copies),
            device_copy_bytes: r(&self.device_copy_bytes),
            plan_stages: r(&self.plan_stages),
            plan_upload_bytes: r(&self.plan_upload_bytes),
        }
    }
}

/// A run input or output as the engines see it: host data (tensor, sequence, optional) or a
/// device tensor.
#[derive(Clone, Debug)]
pub(crate) enum Bound {
    Host(crate::tensor::Data),
    Device(DeviceTensor),
}
