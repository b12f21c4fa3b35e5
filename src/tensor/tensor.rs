//! Host tensors: a dtype, a concrete shape and 8-byte-aligned storage shared by `Arc`, so
//! clones and reshapes are cheap. Numeric conversions to/from `f64`/`i64` serve the CPU
//! reference kernels; typed slices serve callers and the GPU upload path.

use super::dtype::{DType, Element};
use super::minifloat::{self, CastMode, MiniFloat};
use super::shape::{checked_numel, fmt_shape};
use half::{bf16, f16};
use std::fmt;
use std::sync::Arc;

/// Bytes kept in `u64` words so that every element type can be viewed in place.
#[derive(Clone, Default)]
struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    fn zeroed(len: usize) -> Self {
        AlignedBytes { words: vec![0u64; len.div_ceil(8)], len }
    }
    fn from_bytes(b: &[u8]) -> Self {
        let mut a = Self::zeroed(b.len());
        a.as_bytes_mut().copy_from_slice(b);
        a
    }
    fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

#[derive(Clone)]
enum Storage {
    Bytes(AlignedBytes),
    Strings(Vec<String>),
}

/// A tensor held in host memory.
#[derive(Clone)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Arc<Storage>,
}

fn count(shape: &[usize]) -> Result<usize, String> {
    checked_numel(shape).ok_or_else(|| format!("shape {} overflows", fmt_shape(shape)))
}

impl Tensor {
    /// A tensor from a vector of elements; `data.len()` must equal the shape's element count.
    pub fn new<T: Element>(shape: &[usize], data: Vec<T>) -> Result<Tensor, String> {
        Self::from_slice(shape, &data)
    }

    /// A tensor copied from a slice of elements.
    pub fn from_slice<T: Element>(shape: &[usize], data: &[T]) -> Result<Tensor, String> {
        let n = count(shape)?;
        if n != data.len() {
            return Err(format!("shape {} needs {n} elements, got {}", fmt_shape(shape), data.len()));
        }
        Ok(Tensor {
            dtype: T::DTYPE,
            shape: shape.to_vec(),
            data: Arc::new(Storage::Bytes(AlignedBytes::from_bytes(bytemuck::cast_slice(data)))),
        })
    }

    /// A tensor from raw little-endian bytes in ONNX's layout (sub-byte types packed).
    pub fn from_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, String> {
        if dtype == DType::String {
            return Err("string tensors cannot be built from bytes".into());
        }
        let n = count(shape)?;
        let want = dtype.storage_bytes(n);
        if bytes.len() != want {
            return Err(format!(
                "{dtype} tensor of shape {} needs {want} bytes, got {}",
                fmt_shape(shape),
                bytes.len()
            ));
        }
        Ok(Tensor { dtype, shape: shape.to_vec(), data: Arc::new(Storage::Bytes(AlignedBytes::from_bytes(bytes))) })
    }

    pub fn from_bools(shape: &[usize], data: &[bool]) -> Result<Tensor, String> {
        let b: Vec<u8> = data.iter().map(|&x| x as u8).collect();
        Self::from_bytes(DType::Bool, shape, &b)
    }

    pub fn from_strings(shape: &[usize], data: Vec<String>) -> Result<Tensor, String> {
        let n = count(shape)?;
        if n != data.len() {
            return Err(format!("shape {} needs {n} strings, got {}", fmt_shape(shape), data.len()));
        }
        Ok(Tensor { dtype: DType::String, shape: shape.to_vec(), data: Arc::new(Storage::Strings(data)) })
    }

    pub fn scalar<T: Element>(v: T) -> Tensor {
        Self::from_slice(&[], &[v]).expect("scalar")
    }

    /// A zero-filled tensor (empty strings for string tensors).
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor, String> {
        let n = count(shape)?;
        if dtype == DType::String {
            return Self::from_strings(shape, vec![String::new(); n]);
        }
        Ok(Tensor {
            dtype,
            shape: shape.to_vec(),
            data: Arc::new(Storage::Bytes(AlignedBytes::zeroed(dtype.storage_bytes(n)))),
        })
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The raw little-endian bytes (empty for string tensors).
    pub fn bytes(&self) -> &[u8] {
        match &*self.data {
            Storage::Bytes(b) => b.as_bytes(),
            Storage::Strings(_) => &[],
        }
    }

    /// Storage size in bytes.
    pub fn byte_len(&self) -> usize {
        self.bytes().len()
    }

    /// The elements as a typed slice; the dtype must match `T` exactly.
    pub fn as_slice<T: Element>(&self) -> Result<&[T], String> {
        if self.dtype != T::DTYPE {
            return Err(format!("tensor is {}, not {}", self.dtype, T::DTYPE));
        }
        match &*self.data {
            Storage::Bytes(b) => Ok(bytemuck::cast_slice(&bytemuck::cast_slice::<u64, u8>(&b.words)[..b.len])),
            Storage::Strings(_) => unreachable!(),
        }
    }

    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, String> {
        self.as_slice::<T>().map(|s| s.to_vec())
    }

    pub fn as_bools(&self) -> Result<Vec<bool>, String> {
        if self.dtype != DType::Bool {
            return Err(format!("tensor is {}, not bool", self.dtype));
        }
        Ok(self.bytes().iter().map(|&b| b != 0).collect())
    }

    pub fn strings(&self) -> Result<&[String], String> {
        match &*self.data {
            Storage::Strings(s) => Ok(s),
            _ => Err(format!("tensor is {}, not string", self.dtype)),
        }
    }

    /// The same data under a new shape with the same element count (no copy).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor, String> {
        if count(shape)? != self.numel() {
            return Err(format!("cannot reshape {} to {}", fmt_shape(&self.shape), fmt_shape(shape)));
        }
        Ok(Tensor { dtype: self.dtype, shape: shape.to_vec(), data: self.data.clone() })
    }

    /// Every element widened to `f64` (exact for every float format; integers exactly up to
    /// 2^53; bool as 0/1).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, String> {
        let b = self.bytes();
        let mini = |f: MiniFloat| b.iter().map(|&x| f.decode(x as u16)).collect();
        Ok(match self.dtype {
            DType::F32 => self.as_slice::<f32>()?.iter().map(|&x| x as f64).collect(),
            DType::F64 => self.as_slice::<f64>()?.to_vec(),
            DType::F16 => self.as_slice::<f16>()?.iter().map(|x| x.to_f64()).collect(),
            DType::BF16 => self.as_slice::<bf16>()?.iter().map(|x| x.to_f64()).collect(),
            DType::Bool | DType::U8 => b.iter().map(|&x| x as f64).collect(),
            DType::I8 => b.iter().map(|&x| x as i8 as f64).collect(),
            DType::I16 => self.as_slice::<i16>()?.iter().map(|&x| x as f64).collect(),
            DType::U16 => self.as_slice::<u16>()?.iter().map(|&x| x as f64).collect(),
            DType::I32 => self.as_slice::<i32>()?.iter().map(|&x| x as f64).collect(),
            DType::U32 => self.as_slice::<u32>()?.iter().map(|&x| x as f64).collect(),
            DType::I64 => self.as_slice::<i64>()?.iter().map(|&x| x as f64).collect(),
            DType::U64 => self.as_slice::<u64>()?.iter().map(|&x| x as f64).collect(),
            DType::I4 | DType::U4 | DType::I2 | DType::U2 => self.to_i64_vec()?.into_iter().map(|x| x as f64).collect(),
            DType::F8E4M3FN => mini(minifloat::E4M3FN),
            DType::F8E4M3FNUZ => mini(minifloat::E4M3FNUZ),
            DType::F8E5M2 => mini(minifloat::E5M2),
            DType::F8E5M2FNUZ => mini(minifloat::E5M2FNUZ),
            DType::F8E8M0 => b.iter().map(|&x| minifloat::e8m0_decode(x)).collect(),
            DType::F4E2M1 => self.sub_byte_codes().into_iter().map(|c| minifloat::E2M1.decode(c as u16)).collect(),
            d => return Err(format!("{d} tensors have no numeric conversion here")),
        })
    }

    /// Every element as `i64` (floats truncated toward zero, saturating; bool as 0/1; uint64
    /// above `i64::MAX` wraps, keeping its bits).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, String> {
        let b = self.bytes();
        Ok(match self.dtype {
            DType::I64 => self.as_slice::<i64>()?.to_vec(),
            DType::I32 => self.as_slice::<i32>()?.iter().map(|&x| x as i64).collect(),
            DType::U32 => self.as_slice::<u32>()?.iter().map(|&x| x as i64).collect(),
            DType::U64 => self.as_slice::<u64>()?.iter().map(|&x| x as i64).collect(),
            DType::I16 => self.as_slice::<i16>()?.iter().map(|&x| x as i64).collect(),
            DType::U16 => self.as_slice::<u16>()?.iter().map(|&x| x as i64).collect(),
            DType::Bool | DType::U8 => b.iter().map(|&x| x as i64).collect(),
            DType::I8 => b.iter().map(|&x| x as i8 as i64).collect(),
            DType::U4 | DType::U2 => self.sub_byte_codes().into_iter().map(|c| c as i64).collect(),
            DType::I4 | DType::I2 => {
                let sh = 8 - self.dtype.bits() as u32;
                self.sub_byte_codes().into_iter().map(|c| (((c << sh) as i8) >> sh) as i64).collect()
            }
            _ => self.to_f64_vec()?.into_iter().map(|x| x as i64).collect(),
        })
    }

    /// The raw codes of a sub-byte tensor (2- and 4-bit types), unpacked low bits first.
    fn sub_byte_codes(&self) -> Vec<u8> {
        let bits = self.dtype.bits();
        let per = 8 / bits;
        let mask = ((1u16 << bits) - 1) as u8;
        let b = self.bytes();
        (0..self.numel()).map(|i| (b[i / per] >> ((i % per) * bits)) & mask).collect()
    }

    /// Packs raw codes of a sub-byte dtype (only their low bits are kept).
    fn from_sub_byte_codes(dtype: DType, shape: &[usize], codes: &[u8]) -> Result<Tensor, String> {
        let n = count(shape)?;
        if codes.len() != n {
            return Err(format!("shape {} needs {n} elements, got {}", fmt_shape(shape), codes.len()));
        }
        let bits = dtype.bits();
        let per = 8 / bits;
        let mask = ((1u16 << bits) - 1) as u8;
        let mut b = vec![0u8; dtype.storage_bytes(n)];
        for (i, &c) in codes.iter().enumerate() {
            b[i / per] |= (c & mask) << ((i % per) * bits);
        }
        Self::from_bytes(dtype, shape, &b)
    }

    /// A tensor of `dtype` from `f64` values with ONNX Cast's default rounding: floats rounded
    /// to nearest even (float8 saturating, E8M0 rounding up), integers truncated toward zero and
    /// wrapped to the width (the C cast ONNX's Cast specifies), bool as `!= 0`.
    pub fn from_f64(dtype: DType, shape: &[usize], v: &[f64]) -> Result<Tensor, String> {
        Self::from_f64_with(dtype, shape, v, CastMode::default())
    }

    /// [`Tensor::from_f64`] with explicit float8 saturation and E8M0 rounding.
    pub fn from_f64_with(dtype: DType, shape: &[usize], v: &[f64], mode: CastMode) -> Result<Tensor, String> {
        let bytes = |f: &dyn Fn(f64) -> u8| -> Result<Tensor, String> {
            let n = count(shape)?;
            if v.len() != n {
                return Err(format!("shape {} needs {n} elements, got {}", fmt_shape(shape), v.len()));
            }
            Self::from_bytes(dtype, shape, &v.iter().map(|&x| f(x)).collect::<Vec<_>>())
        };
        let mini = |f: MiniFloat| bytes(&|x| f.encode(x, mode.saturate) as u8);
        match dtype {
            DType::F32 => Self::new(shape, v.iter().map(|&x| x as f32).collect::<Vec<_>>()),
            DType::F64 => Self::from_slice(shape, v),
            DType::F16 => {
                Self::new(shape, v.iter().map(|&x| f16::from_bits(minifloat::F16.encode(x, false))).collect::<Vec<_>>())
            }
            DType::BF16 => Self::new(
                shape,
                v.iter().map(|&x| bf16::from_bits(minifloat::BF16.encode(x, false))).collect::<Vec<_>>(),
            ),
            DType::F8E4M3FN => mini(minifloat::E4M3FN),
            DType::F8E4M3FNUZ => mini(minifloat::E4M3FNUZ),
            DType::F8E5M2 => mini(minifloat::E5M2),
            DType::F8E5M2FNUZ => mini(minifloat::E5M2FNUZ),
            DType::F8E8M0 => bytes(&|x| minifloat::e8m0_encode(x, mode.saturate, mode.round)),
            DType::F4E2M1 => {
                let codes: Vec<u8> = v.iter().map(|&x| minifloat::E2M1.encode(x, true) as u8).collect();
                Self::from_sub_byte_codes(dtype, shape, &codes)
            }
            DType::Bool => Self::from_bools(shape, &v.iter().map(|&x| x != 0.0).collect::<Vec<_>>()),
            d if d.is_int() => {
                let iv: Vec<i64> = v
                    .iter()
                    .map(|&x| if d == DType::U64 && x >= 9.2e18 { x as u64 as i64 } else { x as i64 })
                    .collect();
                Self::from_i64(d, shape, &iv)
            }
            d => Err(format!("cannot build a {d} tensor from numbers here")),
        }
    }

    /// A tensor of `dtype` from `i64` values, wrapping to the width; floats are rounded once
    /// (to nearest even) from the exact integer.
    pub fn from_i64(dtype: DType, shape: &[usize], v: &[i64]) -> Result<Tensor, String> {
        match dtype {
            DType::I64 => Self::from_slice(shape, v),
            DType::I32 => Self::new(shape, v.iter().map(|&x| x as i32).collect::<Vec<_>>()),
            DType::U32 => Self::new(shape, v.iter().map(|&x| x as u32).collect::<Vec<_>>()),
            DType::U64 => Self::new(shape, v.iter().map(|&x| x as u64).collect::<Vec<_>>()),
            DType::I16 => Self::new(shape, v.iter().map(|&x| x as i16).collect::<Vec<_>>()),
            DType::U16 => Self::new(shape, v.iter().map(|&x| x as u16).collect::<Vec<_>>()),
            DType::I8 => Self::new(shape, v.iter().map(|&x| x as i8).collect::<Vec<_>>()),
            DType::U8 => Self::new(shape, v.iter().map(|&x| x as u8).collect::<Vec<_>>()),
            DType::Bool => Self::from_bools(shape, &v.iter().map(|&x| x != 0).collect::<Vec<_>>()),
            DType::I4 | DType::U4 | DType::I2 | DType::U2 => {
                Self::from_sub_byte_codes(dtype, shape, &v.iter().map(|&x| x as u8).collect::<Vec<_>>())
            }
            d if d.is_float() => {
                let w: Vec<i128> = v.iter().map(|&x| x as i128).collect();
                Self::from_ints_exact(d, shape, &w, CastMode::default())
            }
            d => Err(format!("cannot build a {d} tensor from integers here")),
        }
    }

    /// A float tensor from exact integers (wide enough for uint64), each rounded once.
    pub fn from_ints_exact(dtype: DType, shape: &[usize], v: &[i128], mode: CastMode) -> Result<Tensor, String> {
        let f: Vec<f64> = match minifloat::precision(dtype) {
            Some(p) => v.iter().map(|&x| minifloat::round_int_to_bits(x, p)).collect(),
            // E8M0 rounds from the float32 image (as ONNX's reference does)
            None if dtype == DType::F8E8M0 => v.iter().map(|&x| minifloat::round_int_to_bits(x, 24)).collect(),
            None => return Err(format!("{dtype} is not a float type")),
        };
        Self::from_f64_with(dtype, shape, &f, mode)
    }

    /// A new tensor whose element `i` is this tensor's flat element `idx[i]` (any dtype, strings
    /// included).
    pub fn take(&self, idx: &[usize], shape: &[usize]) -> Result<Tensor, String> {
        let n = self.numel();
        if let Some(&bad) = idx.iter().find(|&&i| i >= n) {
            return Err(format!("element index {bad} is out of range for {n} elements"));
        }
        if let Storage::Strings(s) = &*self.data {
            return Self::from_strings(shape, idx.iter().map(|&i| s[i].clone()).collect());
        }
        let es = self.dtype.bits() / 8;
        if es == 0 || self.dtype.bits() % 8 != 0 {
            let c = self.sub_byte_codes();
            return Self::from_sub_byte_codes(self.dtype, shape, &idx.iter().map(|&i| c[i]).collect::<Vec<_>>());
        }
        let b = self.bytes();
        let mut out = Vec::with_capacity(idx.len() * es);
        for &i in idx {
            out.extend_from_slice(&b[i * es..(i + 1) * es]);
        }
        Self::from_bytes(self.dtype, shape, &out)
    }

    /// The flat concatenation of two tensors of one dtype (a 1-D tensor).
    pub fn concat_flat(&self, other: &Tensor) -> Result<Tensor, String> {
        if self.dtype != other.dtype {
            return Err(format!("cannot join {} and {} tensors", self.dtype, other.dtype));
        }
        let n = self.numel() + other.numel();
        if let (Storage::Strings(a), Storage::Strings(b)) = (&*self.data, &*other.data) {
            return Self::from_strings(&[n], a.iter().chain(b.iter()).cloned().collect());
        }
        if self.dtype.bits() % 8 != 0 {
            let mut c = self.sub_byte_codes();
            c.extend(other.sub_byte_codes());
            return Self::from_sub_byte_codes(self.dtype, &[n], &c);
        }
        let mut b = self.bytes().to_vec();
        b.extend_from_slice(other.bytes());
        Self::from_bytes(self.dtype, &[n], &b)
    }

    /// A short human summary: dtype, shape, and min/mean/max for numeric data.
    pub fn summary(&self) -> String {
        let head = format!("{} {}", self.dtype, fmt_shape(&self.shape));
        match self.to_f64_vec() {
            Ok(v) if !v.is_empty() => {
                let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let first: Vec<String> = v.iter().take(4).map(|x| format!("{x:.5}")).collect();
                format!(
                    "{head} min {min:.5} mean {mean:.5} max {max:.5} first [{}{}]",
                    first.join(", "),
                    if v.len() > 4 { ", …" } else { "" }
                )
            }
            _ => head,
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({})", self.summary())
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.dtype == other.dtype
            && self.shape == other.shape
            && match (&*self.data, &*other.data) {
                (Storage::Strings(a), Storage::Strings(b)) => a == b,
                _ => self.bytes() == other.bytes(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_round_trip() {
        let t = Tensor::new(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.as_slice::<f32>().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
        assert!(t.as_slice::<i32>().is_err());
        assert!(Tensor::new(&[3], vec![1.0f32]).is_err());
        let r = t.reshape(&[4]).unwrap();
        assert_eq!(r.shape(), &[4]);
        assert!(t.reshape(&[5]).is_err());
    }

    #[test]
    fn int4_packing() {
        let t = Tensor::from_i64(DType::I4, &[3], &[-1, 7, -8]).unwrap();
        assert_eq!(t.bytes(), &[0x7F, 0x08]);
        assert_eq!(t.to_i64_vec().unwrap(), vec![-1, 7, -8]);
    }

    #[test]
    fn conversions() {
        let t = Tensor::from_f64(DType::I32, &[2], &[3.9, -3.9]).unwrap();
        assert_eq!(t.as_slice::<i32>().unwrap(), &[3, -3]);
        let h = Tensor::from_f64(DType::F16, &[1], &[0.5]).unwrap();
        assert_eq!(h.to_f64_vec().unwrap(), vec![0.5]);
    }
}
