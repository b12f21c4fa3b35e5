//! How each ONNX dtype lives on the GPU, and the WGSL type library each one brings.
//!
//! Storage policy (WGSL has no 8/16-bit integer storage, no bool storage and no i64):
//! - f32, i32, u32 native; f16 native with `shader-f16`; f64 native with `shader-f64`;
//! - bfloat16 widened to f32 (results rounded back to bfloat16 by its type library);
//! - int8/uint8/int16/uint16 widened to 32 bits (results wrapped to the narrow width);
//! - bool as u32 0/1; int64/uint64 as two u32 words (arithmetic emulated exactly);
//! - the narrow types ([`NarrowType`]: float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz/e8m0, float4e2m1,
//!   int4/uint4/int2/uint2) widened to one u32 word per element: the floats as their raw code
//!   (zero-extended bits), the integers as their value (int4/int2 sign-extended like int8).
//!   They have no type library: [`GpuType::of`] rejects them, so every kernel that does not
//!   name them returns an error; only data movement ([`ElemBits`]) and the kernels that decode
//!   them explicitly (Cast, quantization) accept them.
//!
//! Everything else (strings, complex) has no GPU storage and runs on the CPU.
//! Uploads and read-backs convert between these layouts and ONNX's.

use super::shaders::{self, Prelude};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use half::{bf16, f16};

/// Optional adapter capabilities that decide which dtypes have GPU storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GpuCaps {
    pub f16: bool,
    pub f64: bool,
}

/// An element type of the GPU kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GpuType {
    F32,
    F16,
    F64,
    BF16,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

impl GpuType {
    /// Every type, for validation.
    pub const ALL: [GpuType; 13] = [
        GpuType::F32,
        GpuType::F16,
        GpuType::F64,
        GpuType::BF16,
        GpuType::I8,
        GpuType::U8,
        GpuType::I16,
        GpuType::U16,
        GpuType::I32,
        GpuType::U32,
        GpuType::I64,
        GpuType::U64,
        GpuType::Bool,
    ];

    /// The GPU type of a dtype on an adapter with `caps`.
    pub fn of(d: DType, caps: GpuCaps) -> Result<GpuType, String> {
        Ok(match d {
            DType::F32 => GpuType::F32,
            DType::F16 if caps.f16 => GpuType::F16,
            DType::F64 if caps.f64 => GpuType::F64,
            DType::BF16 => GpuType::BF16,
            DType::I8 => GpuType::I8,
            DType::U8 => GpuType::U8,
            DType::I16 => GpuType::I16,
            DType::U16 => GpuType::U16,
            DType::I32 => GpuType::I32,
            DType::U32 => GpuType::U32,
            DType::I64 => GpuType::I64,
            DType::U64 => GpuType::U64,
            DType::Bool => GpuType::Bool,
            d if NarrowType::of(d).is_some() => {
                return Err(format!("{d} tensors are stored as codes on the GPU and have no arithmetic type"))
            }
            d => {
                return Err(format!(
                    "{d} tensors have no GPU storage (this adapter: f16 {}, f64 {})",
                    caps.f16, caps.f64
                ))
            }
        })
    }

    /// The WGSL type of one stored element.
    pub fn storage(self) -> &'static str {
        match self {
            GpuType::F32 | GpuType::BF16 => "f32",
            GpuType::F16 => "f16",
            GpuType::F64 => "f64",
            GpuType::I8 | GpuType::I16 | GpuType::I32 => "i32",
            GpuType::U8 | GpuType::U16 | GpuType::U32 | GpuType::Bool => "u32",
            GpuType::I64 | GpuType::U64 => "vec2<u32>",
        }
    }

    /// Bytes per stored element.
    pub fn bytes(self) -> usize {
        match self {
            GpuType::F16 => 2,
            GpuType::F64 | GpuType::I64 | GpuType::U64 => 8,
            _ => 4,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, GpuType::F32 | GpuType::F16 | GpuType::F64 | GpuType::BF16)
    }

    /// Adds the type library (`alias T`, `alias F`, the `t_*` functions) to a prelude,
    /// optionally also as the alias `name` for a second role.
    pub fn lib(self, p: &mut Prelude) {
        match self {
            GpuType::F32 => p.lib(&shaders::TYPE_F32),
            GpuType::F16 => p.lib(&shaders::TYPE_F16),
            GpuType::F64 => p.lib(&shaders::TYPE_F64),
            GpuType::BF16 => p.lib(&shaders::TYPE_BF16),
            GpuType::I8 | GpuType::I16 | GpuType::I32 => {
                p.u32("T_BITS", self.int_bits());
                p.lib(&shaders::TYPE_SINT)
            }
            GpuType::U8 | GpuType::U16 | GpuType::U32 | GpuType::Bool => {
                p.u32("T_BITS", self.int_bits());
                p.lib(&shaders::TYPE_UINT)
            }
            GpuType::I64 | GpuType::U64 => {
                p.bool("T_SIGNED64", self == GpuType::I64);
                p.lib(&shaders::TYPE_INT64)
            }
        };
    }

    fn int_bits(self) -> u32 {
        match self {
            GpuType::I8 | GpuType::U8 => 8,
            GpuType::I16 | GpuType::U16 => 16,
            GpuType::Bool => 1,
            _ => 32,
        }
    }
}

/// A dtype narrower than a byte or without IEEE arithmetic, stored one u32 word per element
/// (see the module doc): float codes zero-extended, integers sign- or zero-extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NarrowType {
    F8E4M3FN,
    F8E4M3FNUZ,
    F8E5M2,
    F8E5M2FNUZ,
    F8E8M0,
    F4E2M1,
    I4,
    U4,
    I2,
    U2,
}

impl NarrowType {
    pub const ALL: [NarrowType; 10] = [
        NarrowType::F8E4M3FN,
        NarrowType::F8E4M3FNUZ,
        NarrowType::F8E5M2,
        NarrowType::F8E5M2FNUZ,
        NarrowType::F8E8M0,
        NarrowType::F4E2M1,
        NarrowType::I4,
        NarrowType::U4,
        NarrowType::I2,
        NarrowType::U2,
    ];

    pub fn of(d: DType) -> Option<NarrowType> {
        Some(match d {
            DType::F8E4M3FN => NarrowType::F8E4M3FN,
            DType::F8E4M3FNUZ => NarrowType::F8E4M3FNUZ,
            DType::F8E5M2 => NarrowType::F8E5M2,
            DType::F8E5M2FNUZ => NarrowType::F8E5M2FNUZ,
            DType::F8E8M0 => NarrowType::F8E8M0,
            DType::F4E2M1 => NarrowType::F4E2M1,
            DType::I4 => NarrowType::I4,
            DType::U4 => NarrowType::U4,
            DType::I2 => NarrowType::I2,
            DType::U2 => NarrowType::U2,
            _ => return None,
        })
    }

    pub fn dtype(self) -> DType {
        match self {
            NarrowType::F8E4M3FN => DType::F8E4M3FN,
            NarrowType::F8E4M3FNUZ => DType::F8E4M3FNUZ,
            NarrowType::F8E5M2 => DType::F8E5M2,
            NarrowType::F8E5M2FNUZ => DType::F8E5M2FNUZ,
            NarrowType::F8E8M0 => DType::F8E8M0,
            NarrowType::F4E2M1 => DType::F4E2M1,
            NarrowType::I4 => DType::I4,
            NarrowType::U4 => DType::U4,
            NarrowType::I2 => DType::I2,
            NarrowType::U2 => DType::U2,
        }
    }

    pub fn is_float(self) -> bool {
        self.dtype().is_float()
    }
}

/// The element as raw bits, for data-movement kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemBits {
    B16,
    B32,
    B64,
}

impl ElemBits {
    pub fn of(d: DType, caps: GpuCaps) -> Result<ElemBits, String> {
        if NarrowType::of(d).is_some() {
            return Ok(ElemBits::B32);
        }
        Ok(match GpuType::of(d, caps)?.bytes() {
            2 => ElemBits::B16,
            8 => ElemBits::B64,
            _ => ElemBits::B32,
        })
    }
    pub fn wgsl(self) -> &'static str {
        match self {
            ElemBits::B16 => "f16",
            ElemBits::B32 => "u32",
            ElemBits::B64 => "vec2<u32>",
        }
    }
}

/// Bytes the GPU stores for `n` elements of `d` (ONNX's own size where there is no GPU type).
pub fn storage_bytes(d: DType, n: usize, caps: GpuCaps) -> u64 {
    if NarrowType::of(d).is_some() {
        return (4 * n) as u64;
    }
    match GpuType::of(d, caps) {
        Ok(t) => (t.bytes() * n) as u64,
        Err(_) => d.storage_bytes(n) as u64,
    }
}

/// A tensor's bytes in GPU layout, padded to whole words, at least 16 bytes.
pub fn to_gpu_bytes(t: &Tensor, caps: GpuCaps) -> Result<Vec<u8>> {
    let err = |e: String| Error::Gpu(format!("upload: {e}"));
    let widen32 = |v: Vec<i64>| -> Vec<u8> { v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect() };
    let bytes = t.bytes();
    let mut b: Vec<u8> = match NarrowType::of(t.dtype()) {
        Some(NarrowType::F4E2M1) => {
            (0..t.numel()).flat_map(|i| (((bytes[i / 2] >> (4 * (i % 2))) & 0xF) as u32).to_le_bytes()).collect()
        }
        Some(n) if n.is_float() => bytes[..t.numel()].iter().flat_map(|&c| (c as u32).to_le_bytes()).collect(),
        Some(_) => widen32(t.to_i64_vec().map_err(err)?),
        None => match GpuType::of(t.dtype(), caps) {
            Ok(GpuType::BF16) => t
                .as_slice::<bf16>()
                .map_err(err)?
                .iter()
                .flat_map(|x| ((x.to_bits() as u32) << 16).to_le_bytes())
                .collect(),
            Ok(GpuType::I8 | GpuType::I16 | GpuType::U8 | GpuType::U16 | GpuType::Bool) => {
                widen32(t.to_i64_vec().map_err(err)?)
            }
            _ => t.bytes().to_vec(),
        },
    };
    // At least 16 bytes, as the planner binds (one element of the widest storage type).
    b.resize(b.len().div_ceil(4).max(4) * 4, 0);
    Ok(b)
}

/// A host tensor from GPU-layout bytes.
pub fn from_gpu_bytes(dtype: DType, shape: &[usize], b: &[u8], caps: GpuCaps) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let words = |k: usize| -> Vec<u32> {
        b[..4 * k].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    if let Some(nt) = NarrowType::of(dtype) {
        let w = words(n);
        let r = match nt {
            NarrowType::F4E2M1 => {
                let mut packed = vec![0u8; n.div_ceil(2)];
                for (i, c) in w.iter().enumerate() {
                    packed[i / 2] |= ((c & 0xF) as u8) << (4 * (i % 2));
                }
                Tensor::from_bytes(dtype, shape, &packed)
            }
            nt if nt.is_float() => Tensor::from_bytes(dtype, shape, &w.iter().map(|&c| c as u8).collect::<Vec<_>>()),
            _ => Tensor::from_i64(dtype, shape, &w.iter().map(|&c| c as i32 as i64).collect::<Vec<_>>()),
        };
        return r.map_err(|e| Error::Gpu(format!("read-back: {e}")));
    }
    let r = match GpuType::of(dtype, caps) {
        Ok(GpuType::BF16) => {
            let v: Vec<bf16> = words(n).into_iter().map(|w| bf16::from_bits((w >> 16) as u16)).collect();
            Tensor::new(shape, v)
        }
        Ok(GpuType::I8 | GpuType::I16 | GpuType::U8 | GpuType::U16 | GpuType::Bool) => {
            let v: Vec<i64> = words(n).into_iter().map(|w| w as i32 as i64).collect();
            Tensor::from_i64(dtype, shape, &v)
        }
        Ok(GpuType::F16) => {
            let v: Vec<f16> =
                b[..2 * n].chunks_exact(2).map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]]))).collect();
            Tensor::new(shape, v)
        }
        _ => Tensor::from_bytes(dtype, shape, &b[..dtype.storage_bytes(n)]),
    };
    r.map_err(|e| Error::Gpu(format!("read-back: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip() {
        let caps = GpuCaps { f16: true, f64: true };
        let cases = [
            Tensor::from_i64(DType::I8, &[3], &[-128, 0, 127]).unwrap(),
            Tensor::from_i64(DType::U16, &[2], &[65535, 1]).unwrap(),
            Tensor::from_bools(&[3], &[true, false, true]).unwrap(),
            Tensor::from_f64(DType::BF16, &[2], &[1.5, -3.0]).unwrap(),
            Tensor::from_f64(DType::F16, &[3], &[0.5, -2.0, 1024.0]).unwrap(),
            Tensor::new(&[2], vec![i64::MIN, 7]).unwrap(),
            Tensor::from_i64(DType::I4, &[3], &[-8, 7, -1]).unwrap(),
            Tensor::from_i64(DType::U2, &[5], &[3, 0, 1, 2, 3]).unwrap(),
            Tensor::from_bytes(DType::F8E4M3FN, &[3], &[0x7f, 0x80, 0x12]).unwrap(),
            Tensor::from_bytes(DType::F8E8M0, &[2], &[0xff, 0x00]).unwrap(),
            Tensor::from_bytes(DType::F4E2M1, &[3], &[0x9f, 0x03]).unwrap(),
        ];
        for t in cases {
            let b = to_gpu_bytes(&t, caps).unwrap();
            let want = storage_bytes(t.dtype(), t.numel(), caps).max(16).div_ceil(4) as usize * 4;
            assert_eq!(b.len(), want, "{:?}", t.dtype());
            assert_eq!(from_gpu_bytes(t.dtype(), t.shape(), &b, caps).unwrap(), t, "{:?}", t.dtype());
        }
    }
}
