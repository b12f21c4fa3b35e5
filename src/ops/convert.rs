//! Type conversions (ai.onnx): Cast (every numeric dtype, float8 `saturate`, E8M0
//! `round_mode`, strings both ways), CastLike (the target is the second input's dtype) and
//! BitCast (same bits, another dtype of the same width).
//!
//! Numeric casts round once from the exact source value: floats are widened to f64 exactly,
//! integers (uint64 included) are kept as exact integers until rounded to the target's
//! precision. Float → integer truncates toward zero and wraps to the width, as ONNX's C-cast
//! rule and its reference do.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::minifloat::{CastMode, E8M0Round};
use crate::tensor::{DType, Tensor};

fn int_like(d: DType) -> bool {
    d.is_int() || d == DType::Bool
}

fn castable(d: DType) -> bool {
    d.is_int() || d.is_float() || d == DType::Bool || d == DType::String
}

/// Casts `x` to `to` under ONNX Cast semantics.
pub fn cast_tensor(x: &Tensor, to: DType, mode: CastMode) -> Result<Tensor, String> {
    let from = x.dtype();
    if !castable(from) || !castable(to) {
        return Err(format!("Cast from {from} to {to} is not supported"));
    }
    if from == to {
        return Ok(x.clone());
    }
    if to == DType::String {
        return Tensor::from_strings(x.shape(), to_strings(x)?);
    }
    if from == DType::String {
        return parse_strings(x.strings()?, x.shape(), to, mode);
    }
    if int_like(from) {
        if int_like(to) {
            return Tensor::from_i64(to, x.shape(), &x.to_i64_vec()?);
        }
        return Tensor::from_ints_exact(to, x.shape(), &exact_ints(x)?, mode);
    }
    Tensor::from_f64_with(to, x.shape(), &x.to_f64_vec()?, mode)
}

/// The elements of an integer or bool tensor as exact integers (uint64 included).
fn exact_ints(x: &Tensor) -> Result<Vec<i128>, String> {
    if x.dtype() == DType::U64 {
        return Ok(x.as_slice::<u64>()?.iter().map(|&v| v as i128).collect());
    }
    Ok(x.to_i64_vec()?.into_iter().map(|v| v as i128).collect())
}

/// numpy's `str()` of a float: positional between 1e-4 and 1e16 (with a trailing `.0` when
/// integral), scientific with a signed two-digit exponent outside.
fn format_float(v: f64, shortest: impl Fn(bool) -> String) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = shortest(true);
        // Rust writes `1e20` / `1.5e-5`; numpy writes `1e+20` / `1.5e-05`.
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mant}e{sign}{digits:0>2}");
    }
    let s = shortest(false);
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn to_strings(x: &Tensor) -> Result<Vec<String>, String> {
    Ok(match x.dtype() {
        DType::Bool => x.as_bools()?.into_iter().map(|b| if b { "True" } else { "False" }.to_string()).collect(),
        DType::U64 => x.as_slice::<u64>()?.iter().map(|v| v.to_string()).collect(),
        d if d.is_int() => x.to_i64_vec()?.iter().map(|v| v.to_string()).collect(),
        DType::F64 => x
            .as_slice::<f64>()?
            .iter()
            .map(|&v| format_float(v, |sci| if sci { format!("{v:e}") } else { format!("{v}") }))
            .collect(),
        // Narrower floats print as their (exact) float32 value's shortest form.
        _ => x
            .to_f64_vec()?
            .into_iter()
            .map(|v| {
                let f = v as f32;
                format_float(v, |sci| if sci { format!("{f:e}") } else { format!("{f}") })
            })
            .collect(),
    })
}

/// Parses one string as a float: plain and scientific notation, and the reserved literals
/// `INF`, `+INF`, `-INF`, `NaN` in any case.
fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let l = t.to_ascii_lowercase();
    match l.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Ok(f64::NAN),
        _ => {}
    }
    t.parse::<f64>().map_err(|_| format!("cannot cast string '{s}' to a number"))
}

fn parse_strings(s: &[String], shape: &[usize], to: DType, mode: CastMode) -> Result<Tensor, String> {
    if to == DType::Bool {
        let v = s
            .iter()
            .map(|x| match x.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => parse_float(x).map(|f| f != 0.0),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Tensor::from_bools(shape, &v);
    }
    if to.is_int() {
        // Integers parse exactly; anything else goes through a float, truncated.
        let v = s
            .iter()
            .map(|x| match x.trim().trim_start_matches('+').parse::<i128>() {
                Ok(i) => Ok(i as i64),
                Err(_) => {
                    parse_float(x).map(|f| if to == DType::U64 && f >= 9.2e18 { f as u64 as i64 } else { f as i64 })
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Tensor::from_i64(to, shape, &v);
    }
    if to == DType::F32 {
        // parse straight to f32 so the decimal is rounded once
        let v = s
            .iter()
            .map(|x| {
                let f = parse_float(x)?;
                if f.is_finite() {
                    x.trim().parse::<f32>().map_err(|_| format!("cannot cast string '{x}' to a number"))
                } else {
                    Ok(f as f32)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Tensor::new(shape, v);
    }
    let v = s.iter().map(|x| parse_float(x)).collect::<Result<Vec<_>, _>>()?;
    Tensor::from_f64_with(to, shape, &v, mode)
}

/// Cast to the dtype of the `to` attribute.
#[derive(Clone, Debug)]
pub struct Cast {
    pub to: DType,
    pub mode: CastMode,
}

impl OpSpec for Cast {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !castable(x.dtype) {
            return Err(format!("Cast from {} is not supported", x.dtype));
        }
        Ok(vec![vt(self.to, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        Ok(vec![cast_tensor(need(inputs, 0)?, self.to, self.mode)?])
    }
}

/// Cast to the dtype of the second input (whose values are not read).
#[derive(Clone, Debug)]
pub struct CastLike {
    pub mode: CastMode,
}

impl OpSpec for CastLike {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, t) = (cx.input(0)?, cx.input(1)?);
        if !castable(x.dtype) || !castable(t.dtype) {
            return Err(format!("CastLike from {} to {} is not supported", x.dtype, t.dtype));
        }
        Ok(vec![vt(t.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, t) = (need(inputs, 0)?, need(inputs, 1)?);
        Ok(vec![cast_tensor(x, t.dtype(), self.mode)?])
    }
}

/// Reinterprets the bits of each element as another dtype of the same width.
#[derive(Clone, Debug)]
pub struct BitCast {
    pub to: DType,
}

impl BitCast {
    fn check(&self, from: DType) -> Result<(), String> {
        if from == DType::String || self.to == DType::String {
            return Err("BitCast does not apply to strings".into());
        }
        if from.bits() != self.to.bits() {
            return Err(format!(
                "BitCast needs types of one width, got {from} ({} bits) and {} ({} bits)",
                from.bits(),
                self.to,
                self.to.bits()
            ));
        }
        Ok(())
    }
}

impl OpSpec for BitCast {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        self.check(x.dtype)?;
        Ok(vec![vt(self.to, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        self.check(x.dtype())?;
        Ok(vec![Tensor::from_bytes(self.to, x.shape(), x.bytes())?])
    }
}

/// `TensorProto.DataType` names in code order (Cast-1 spells its `to` attribute this way).
const TYPE_NAMES: [&str; 26] = [
    "FLOAT",
    "UINT8",
    "INT8",
    "UINT16",
    "INT16",
    "INT32",
    "INT64",
    "STRING",
    "BOOL",
    "FLOAT16",
    "DOUBLE",
    "UINT32",
    "UINT64",
    "COMPLEX64",
    "COMPLEX128",
    "BFLOAT16",
    "FLOAT8E4M3FN",
    "FLOAT8E4M3FNUZ",
    "FLOAT8E5M2",
    "FLOAT8E5M2FNUZ",
    "UINT4",
    "INT4",
    "FLOAT4E2M1",
    "FLOAT8E8M0",
    "UINT2",
    "INT2",
];

fn target(c: &NodeCtx) -> Result<DType, String> {
    if let Ok(Some(name)) = c.attrs.opt_string("to") {
        // Cast-1 names the type
        let up = name.to_ascii_uppercase();
        return TYPE_NAMES
            .iter()
            .position(|n| *n == up)
            .and_then(|i| DType::from_onnx(i as i32 + 1))
            .ok_or_else(|| format!("unknown {} target type '{name}'", c.op_type));
    }
    let to = c.attrs.opt_int("to")?.ok_or_else(|| format!("{} needs a 'to' attribute", c.op_type))?;
    i32::try_from(to)
        .ok()
        .and_then(DType::from_onnx)
        .ok_or_else(|| format!("unknown or unsupported {} target type {to}", c.op_type))
}

fn cast_mode(c: &NodeCtx) -> Result<CastMode, String> {
    let saturate = match c.attrs.int("saturate", 1)? {
        0 => false,
        1 => true,
        s => return Err(format!("saturate must be 0 or 1, got {s}")),
    };
    let round = E8M0Round::parse(&c.attrs.string("round_mode", "up")?)?;
    Ok(CastMode { saturate, round })
}

pub fn import_cast(c: &NodeCtx) -> Result<Op, String> {
    let to = target(c)?;
    if !castable(to) {
        return Err(format!("Cast to {to} is not supported"));
    }
    Ok(Op::Cast(Cast { to, mode: cast_mode(c)? }))
}

pub fn import_cast_like(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::CastLike(CastLike { mode: cast_mode(c)? }))
}

pub fn import_bitcast(c: &NodeCtx) -> Result<Op, String> {
    let to = target(c)?;
    if to == DType::String {
        return Err("BitCast to string is not supported".into());
    }
    Ok(Op::BitCast(BitCast { to }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast(x: &Tensor, to: DType) -> Tensor {
        cast_tensor(x, to, CastMode::default()).unwrap()
    }

    #[test]
    fn integers_round_once() {
        // 2^60 + 2^36 + 1 is just above the midpoint between two f32 neighbours; a trip through
        // f64 would drop the final 1 and tie to even (down)
        let v = (1i64 << 60) + (1i64 << 36) + 1;
        let t = cast(&Tensor::from_slice(&[1], &[v]).unwrap(), DType::F32);
        assert_eq!(t.as_slice::<f32>().unwrap()[0], ((1u64 << 60) + (1u64 << 37)) as f32);
        let big = Tensor::from_slice(&[1], &[u64::MAX]).unwrap();
        assert_eq!(cast(&big, DType::F64).as_slice::<f64>().unwrap()[0], 18446744073709551616.0);
        assert_eq!(cast(&big, DType::I8).as_slice::<i8>().unwrap()[0], -1);
    }

    #[test]
    fn floats_to_small_ints_wrap() {
        let x = Tensor::from_slice(&[6], &[-9.0f32, 7.5, 8.0, 15.0, -2.5, 1.9]).unwrap();
        assert_eq!(cast(&x, DType::I4).to_i64_vec().unwrap(), vec![7, 7, -8, -1, -2, 1]);
        assert_eq!(cast(&x, DType::U2).to_i64_vec().unwrap(), vec![3, 3, 0, 3, 2, 1]);
        assert_eq!(cast(&x, DType::I2).to_i64_vec().unwrap(), vec![-1, -1, 0, -1, -2, 1]);
    }

    #[test]
    fn float8_saturation() {
        let x = Tensor::from_slice(&[3], &[1000.0f32, f32::INFINITY, -1e-4]).unwrap();
        let sat = cast(&x, DType::F8E4M3FN);
        assert_eq!(sat.bytes(), &[0x7E, 0x7E, 0x80]);
        let no = cast_tensor(&x, DType::F8E4M3FN, CastMode { saturate: false, round: E8M0Round::Up }).unwrap();
        assert_eq!(no.bytes(), &[0x7F, 0x7F, 0x80]);
        let no = cast_tensor(&x, DType::F8E5M2, CastMode { saturate: false, round: E8M0Round::Up }).unwrap();
        assert_eq!(no.to_f64_vec().unwrap()[..2], [1024.0, f64::INFINITY]);
    }

    #[test]
    fn strings_both_ways() {
        let x = Tensor::from_slice(&[5], &[0.5f32, 3.0, 1e20, 1.5e-5, f32::NAN]).unwrap();
        let s = cast(&x, DType::String);
        assert_eq!(s.strings().unwrap(), &["0.5", "3.0", "1e+20", "1.5e-05", "nan"]);
        let back = cast(&s, DType::F32);
        let v = back.as_slice::<f32>().unwrap();
        assert_eq!(&v[..4], &[0.5, 3.0, 1e20, 1.5e-5]);
        assert!(v[4].is_nan());
        let s = Tensor::from_strings(&[4], ["+INF", "-inf", "1E8", " 100 "].map(String::from).to_vec()).unwrap();
        assert_eq!(cast(&s, DType::F64).to_f64_vec().unwrap(), vec![f64::INFINITY, f64::NEG_INFINITY, 1e8, 100.0]);
        assert_eq!(cast(&s.take(&[3], &[1]).unwrap(), DType::I64).to_i64_vec().unwrap(), vec![100]);
        assert!(cast_tensor(&Tensor::from_strings(&[1], vec!["abc".into()]).unwrap(), DType::F32, CastMode::default())
            .is_err());
    }

    #[test]
    fn type_names_follow_codes() {
        use DType::*;
        for (name, d) in [
            ("FLOAT", F32),
            ("DOUBLE", F64),
            ("BOOL", Bool),
            ("STRING", String),
            ("BFLOAT16", BF16),
            ("FLOAT8E4M3FN", F8E4M3FN),
            ("FLOAT8E8M0", F8E8M0),
            ("INT4", I4),
            ("INT2", I2),
        ] {
            assert_eq!(TYPE_NAMES[d.onnx_code() as usize - 1], name);
        }
    }

    #[test]
    fn bitcast_keeps_bits() {
        let x = Tensor::from_slice(&[2], &[1.0f32, -2.0]).unwrap();
        let y = BitCast { to: DType::I32 }.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i32>().unwrap(), &[0x3F80_0000, 0xC000_0000u32 as i32]);
        assert!(BitCast { to: DType::I64 }.eval(&[Some(&x)], 1).is_err());
    }
}
