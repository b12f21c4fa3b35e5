//! Element types: the ONNX `TensorProto.DataType` codes, their sizes, and the Rust element
//! types that host tensors store. Covers every code of IR version 11; sub-byte types (int4,
//! uint4, int2, uint2, float4) are packed little-nibble-first like ONNX.

use std::fmt;

/// The element type of a tensor, one variant per ONNX `TensorProto.DataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    U8,
    I8,
    U16,
    I16,
    I32,
    I64,
    String,
    Bool,
    F16,
    F64,
    U32,
    U64,
    Complex64,
    Complex128,
    BF16,
    F8E4M3FN,
    F8E4M3FNUZ,
    F8E5M2,
    F8E5M2FNUZ,
    U4,
    I4,
    F4E2M1,
    F8E8M0,
    U2,
    I2,
}

impl DType {
    /// Every dtype, in ONNX code order.
    pub const ALL: [DType; 26] = [
        DType::F32,
        DType::U8,
        DType::I8,
        DType::U16,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::String,
        DType::Bool,
        DType::F16,
        DType::F64,
        DType::U32,
        DType::U64,
        DType::Complex64,
        DType::Complex128,
        DType::BF16,
        DType::F8E4M3FN,
        DType::F8E4M3FNUZ,
        DType::F8E5M2,
        DType::F8E5M2FNUZ,
        DType::U4,
        DType::I4,
        DType::F4E2M1,
        DType::F8E8M0,
        DType::U2,
        DType::I2,
    ];

    /// The dtype for an ONNX `TensorProto.DataType` code.
    pub fn from_onnx(code: i32) -> Option<DType> {
        if code >= 1 && (code as usize) <= Self::ALL.len() {
            Some(Self::ALL[code as usize - 1])
        } else {
            None
        }
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        Self::ALL.iter().position(|d| *d == self).unwrap() as i32 + 1
    }

    /// Storage bits per element (0 for strings, which are not stored as bytes).
    pub fn bits(self) -> usize {
        use DType::*;
        match self {
            String => 0,
            U2 | I2 => 2,
            U4 | I4 | F4E2M1 => 4,
            U8 | I8 | Bool | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F8E8M0 => 8,
            U16 | I16 | F16 | BF16 => 16,
            F32 | I32 | U32 => 32,
            F64 | I64 | U64 | Complex64 => 64,
            Complex128 => 128,
        }
    }

    /// Bytes needed to store `n` elements (sub-byte types packed, rounded up).
    pub fn storage_bytes(self, n: usize) -> usize {
        (n * self.bits()).div_ceil(8)
    }

    pub fn is_float(self) -> bool {
        use DType::*;
        matches!(self, F32 | F16 | F64 | BF16 | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F4E2M1 | F8E8M0)
    }

    pub fn is_int(self) -> bool {
        use DType::*;
        matches!(self, U8 | I8 | U16 | I16 | I32 | I64 | U32 | U64 | U4 | I4 | U2 | I2)
    }

    pub fn is_signed_int(self) -> bool {
        use DType::*;
        matches!(self, I8 | I16 | I32 | I64 | I4 | I2)
    }

    /// Lower-case name as ONNX spells it in type constraints (`float`, `int64`, …).
    pub fn name(self) -> &'static str {
        use DType::*;
        match self {
            F32 => "float",
            U8 => "uint8",
            I8 => "int8",
            U16 => "uint16",
            I16 => "int16",
            I32 => "int32",
            I64 => "int64",
            String => "string",
            Bool => "bool",
            F16 => "float16",
            F64 => "double",
            U32 => "uint32",
            U64 => "uint64",
            Complex64 => "complex64",
            Complex128 => "complex128",
            BF16 => "bfloat16",
            F8E4M3FN => "float8e4m3fn",
            F8E4M3FNUZ => "float8e4m3fnuz",
            F8E5M2 => "float8e5m2",
            F8E5M2FNUZ => "float8e5m2fnuz",
            U4 => "uint4",
            I4 => "int4",
            F4E2M1 => "float4e2m1",
            F8E8M0 => "float8e8m0",
            U2 => "uint2",
            I2 => "int2",
        }
    }

    /// Parses the names of [`DType::name`] plus common aliases (`f32`, `i64`, …).
    pub fn parse(s: &str) -> Option<DType> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "f32" | "float32" => Some(DType::F32),
            "f16" => Some(DType::F16),
            "f64" | "float64" => Some(DType::F64),
            "i8" => Some(DType::I8),
            "u8" => Some(DType::U8),
            "i16" => Some(DType::I16),
            "u16" => Some(DType::U16),
            "i32" => Some(DType::I32),
            "u32" => Some(DType::U32),
            "i64" => Some(DType::I64),
            "u64" => Some(DType::U64),
            "bf16" => Some(DType::BF16),
            _ => None,
        };
        alias.or_else(|| Self::ALL.iter().copied().find(|d| d.name() == s))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that host tensors store directly, one per byte-addressable dtype.
pub trait Element: bytemuck::Pod + Copy + Send + Sync + 'static {
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),* $(,)?) => {
        $(impl Element for $t { const DTYPE: DType = DType::$d; })*
    };
}

element! {
    f32 => F32, f64 => F64, half::f16 => F16, half::bf16 => BF16,
    i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32, i64 => I64, u64 => U64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_onnx(d.onnx_code()), Some(d));
            assert_eq!(DType::parse(d.name()), Some(d));
        }
        assert_eq!(DType::F32.onnx_code(), 1);
        assert_eq!(DType::I64.onnx_code(), 7);
        assert_eq!(DType::BF16.onnx_code(), 16);
        assert_eq!(DType::I4.onnx_code(), 22);
        assert_eq!(DType::from_onnx(0), None);
        assert_eq!(DType::from_onnx(99), None);
    }
}
