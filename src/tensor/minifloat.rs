//! Exact conversions between `f64` and the narrow float formats ONNX defines: float16,
//! bfloat16, the four float8 variants (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ), float4 E2M1 and the
//! exponent-only E8M0. (The `half` crate's `from_f64` rounds twice or drops sticky bits, so
//! f16/bf16 go through the same exact path.)
//!
//! Rounding is round-to-nearest-even on the exact `f64` value (so a value that came from f32,
//! f16 or bf16 is rounded once). Overflow follows ONNX's Cast tables: with `saturate` a value
//! beyond the largest finite one (infinities included) becomes ±max; without it, it becomes ±inf
//! where the format has infinities (E5M2) and NaN otherwise. Float4 has neither, so it always
//! saturates. The bit patterns for NaN follow ml_dtypes, which ONNX's reference uses.

use super::DType;

/// How a format encodes its special values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Special {
    /// IEEE-like: the all-ones exponent holds ±inf (mantissa 0) and NaN.
    Ieee,
    /// "Finite": only S.1111.111 is NaN, no infinities (E4M3FN).
    Fn,
    /// "Finite, unsigned zero": 0x80 is the single NaN, no -0, no infinities.
    Fnuz,
    /// Neither infinities nor NaN (E2M1).
    None,
}

/// A sign/exponent/mantissa format of at most 16 bits.
#[derive(Clone, Copy, Debug)]
pub struct MiniFloat {
    ebits: u32,
    mbits: u32,
    bias: i32,
    special: Special,
}

pub const E4M3FN: MiniFloat = MiniFloat { ebits: 4, mbits: 3, bias: 7, special: Special::Fn };
pub const E4M3FNUZ: MiniFloat = MiniFloat { ebits: 4, mbits: 3, bias: 8, special: Special::Fnuz };
pub const E5M2: MiniFloat = MiniFloat { ebits: 5, mbits: 2, bias: 15, special: Special::Ieee };
pub const E5M2FNUZ: MiniFloat = MiniFloat { ebits: 5, mbits: 2, bias: 16, special: Special::Fnuz };
pub const E2M1: MiniFloat = MiniFloat { ebits: 2, mbits: 1, bias: 1, special: Special::None };
pub const F16: MiniFloat = MiniFloat { ebits: 5, mbits: 10, bias: 15, special: Special::Ieee };
pub const BF16: MiniFloat = MiniFloat { ebits: 8, mbits: 7, bias: 127, special: Special::Ieee };

/// `2^e` for any exponent an f64 can hold (including subnormal results).
fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

/// `floor(log2(a))` for a finite `a > 0`.
fn ilog2(a: f64) -> i32 {
    let bits = a.to_bits();
    let e = ((bits >> 52) & 0x7FF) as i32;
    if e == 0 {
        // subnormal f64
        -1011 - (bits & ((1u64 << 52) - 1)).leading_zeros() as i32
    } else {
        e - 1023
    }
}

impl MiniFloat {
    fn sign_bit(&self) -> u16 {
        1 << (self.ebits + self.mbits)
    }
    fn emax_field(&self) -> i32 {
        (1 << self.ebits) - 1
    }
    /// The largest finite value.
    pub fn max(&self) -> f64 {
        let m = self.mbits as i32;
        let (e, mant) = match self.special {
            // the all-ones exponent is reserved
            Special::Ieee => (self.emax_field() - 1, (1 << m) - 1),
            // S.1111.111 is NaN, S.1111.110 is the max
            Special::Fn => (self.emax_field(), (1 << m) - 2),
            Special::Fnuz | Special::None => (self.emax_field(), (1 << m) - 1),
        };
        (1.0 + mant as f64 / (1 << m) as f64) * pow2(e - self.bias)
    }
    fn max_bits(&self) -> u16 {
        let m = self.mbits;
        match self.special {
            Special::Ieee => (((self.emax_field() - 1) as u16) << m) | ((1 << m) - 1) as u16,
            Special::Fn => ((self.emax_field() as u16) << m) | ((1 << m) - 2) as u16,
            Special::Fnuz | Special::None => ((self.emax_field() as u16) << m) | ((1 << m) - 1) as u16,
        }
    }
    fn nan_bits(&self, neg: bool) -> u16 {
        let s = if neg { self.sign_bit() } else { 0 };
        match self.special {
            Special::Ieee => s | ((self.emax_field() as u16) << self.mbits) | (1 << (self.mbits - 1)),
            Special::Fn => s | ((self.emax_field() as u16) << self.mbits) | ((1 << self.mbits) - 1) as u16,
            Special::Fnuz => self.sign_bit(),
            // No NaN: ml_dtypes yields a zero whose sign bit is the NaN's inverted.
            Special::None => {
                if neg {
                    0
                } else {
                    self.sign_bit()
                }
            }
        }
    }

    /// Decodes a bit pattern (the low `1 + ebits + mbits` bits of `b`).
    pub fn decode(&self, b: u16) -> f64 {
        let m = self.mbits;
        let neg = b & self.sign_bit() != 0;
        let e = ((b >> m) as i32) & self.emax_field();
        let mant = (b & ((1 << m) - 1) as u16) as i32;
        match self.special {
            Special::Fnuz if b == self.sign_bit() => return f64::NAN,
            Special::Fn if e == self.emax_field() && mant == (1 << m) - 1 => return f64::NAN,
            Special::Ieee if e == self.emax_field() => {
                return if mant != 0 {
                    f64::NAN
                } else if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            _ => {}
        }
        let mag = if e == 0 {
            mant as f64 * pow2(1 - self.bias - m as i32)
        } else {
            (1.0 + mant as f64 / (1 << m) as f64) * pow2(e - self.bias)
        };
        if neg {
            -mag
        } else {
            mag
        }
    }

    /// Encodes `x` with round-to-nearest-even; see the module doc for overflow.
    pub fn encode(&self, x: f64, saturate: bool) -> u16 {
        let neg = x.is_sign_negative();
        let sign = if neg { self.sign_bit() } else { 0 };
        if x.is_nan() {
            return self.nan_bits(neg);
        }
        let overflow = || -> u16 {
            if saturate || self.special == Special::None {
                sign | self.max_bits()
            } else {
                match self.special {
                    Special::Ieee => sign | ((self.emax_field() as u16) << self.mbits),
                    _ => self.nan_bits(neg),
                }
            }
        };
        let a = x.abs();
        if a.is_infinite() {
            return overflow();
        }
        if a == 0.0 {
            return if self.special == Special::Fnuz { 0 } else { sign };
        }
        let m = self.mbits as i32;
        let emin = 1 - self.bias;
        let max = self.max();
        if a >= 2.0 * max {
            return overflow();
        }
        let e = ilog2(a).max(emin);
        let q = e - m;
        // a / 2^q is exact (a power-of-two scaling well inside f64's range).
        let n = (a * pow2(-q)).round_ties_even() as u32;
        let v = n as f64 * pow2(q);
        if v > max {
            return overflow();
        }
        if n == 0 {
            return if self.special == Special::Fnuz { 0 } else { sign };
        }
        let mag = if ilog2(a) < emin {
            // subnormal range: the code is the multiple of the smallest subnormal (a carry into
            // the exponent field is the smallest normal, which the same formula gives)
            n as u16
        } else {
            // n in [2^m, 2^(m+1)]; n == 2^(m+1) carries into the next exponent
            ((((e + self.bias) as u32) << m) + n - (1 << m)) as u16
        };
        sign | mag
    }
}

/// Rounding direction for casts to E8M0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E8M0Round {
    Up,
    Down,
    Nearest,
}

impl E8M0Round {
    pub fn parse(s: &str) -> Result<E8M0Round, String> {
        match s {
            "up" => Ok(E8M0Round::Up),
            "down" => Ok(E8M0Round::Down),
            "nearest" => Ok(E8M0Round::Nearest),
            _ => Err(format!("round_mode must be 'up', 'down' or 'nearest', got '{s}'")),
        }
    }
}

/// E8M0 (`2^(e-127)`, 0xFF = NaN) from a value, rounded as ONNX's reference does: on the
/// float32 image of `x`, ignoring the sign (negative inputs are undefined by the spec).
pub fn e8m0_encode(x: f64, saturate: bool, round: E8M0Round) -> u8 {
    let bits = (x as f32).to_bits();
    let exp = (bits >> 23) & 0xFF;
    if exp == 0xFF {
        return 0xFF;
    }
    let frac = bits & 0x7F_FFFF;
    let up = match round {
        E8M0Round::Down => false,
        E8M0Round::Up => frac != 0,
        E8M0Round::Nearest => {
            let g = bits & 0x40_0000 != 0;
            let r = bits & 0x20_0000 != 0;
            let s = bits & 0x1F_FFFF != 0;
            let lsb = exp > 0;
            g && (r || s || lsb)
        }
    };
    if up && !(saturate && exp == 0xFE) {
        (exp + 1) as u8
    } else {
        exp as u8
    }
}

pub fn e8m0_decode(b: u8) -> f64 {
    if b == 0xFF {
        f64::NAN
    } else {
        pow2(b as i32 - 127)
    }
}

/// How a cast treats overflow into float8 and rounding into E8M0 (ONNX Cast's `saturate` and
/// `round_mode`; the default is theirs: saturate, round up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CastMode {
    pub saturate: bool,
    pub round: E8M0Round,
}

impl Default for CastMode {
    fn default() -> Self {
        CastMode { saturate: true, round: E8M0Round::Up }
    }
}

/// Significant bits (implicit bit included) of a float dtype with a mantissa; `None` for E8M0
/// and non-float types.
pub fn precision(d: DType) -> Option<u32> {
    Some(match d {
        DType::F64 => 53,
        DType::F32 => 24,
        DType::F16 => 11,
        DType::BF16 => 8,
        DType::F8E4M3FN | DType::F8E4M3FNUZ => 4,
        DType::F8E5M2 | DType::F8E5M2FNUZ => 3,
        DType::F4E2M1 => 2,
        _ => return None,
    })
}

/// `v` rounded to the nearest value of float dtype `d` (f64 and non-float dtypes: unchanged).
/// Emulates arithmetic carried out in `d`: an exact f64 result rounded once (f64 is wide
/// enough that this equals the correctly rounded narrow operation for + − × ÷).
pub fn round_to(d: DType, v: f64) -> f64 {
    match d {
        DType::F32 => v as f32 as f64,
        DType::F16 => F16.decode(F16.encode(v, false)),
        DType::BF16 => BF16.decode(BF16.encode(v, false)),
        _ => v,
    }
}

/// Rounds an integer to `p` significant bits (round-to-nearest-even); the result is exactly
/// representable in f64 when `p <= 53`. Used so that integer → float casts round once.
pub fn round_int_to_bits(v: i128, p: u32) -> f64 {
    let mag = v.unsigned_abs();
    let bits = 128 - mag.leading_zeros();
    let r = if bits <= p {
        mag
    } else {
        let shift = bits - p;
        let q = mag >> shift;
        let rem = mag & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        let q = if rem > half || (rem == half && q & 1 == 1) { q + 1 } else { q };
        q << shift
    };
    let f = r as f64;
    if v < 0 {
        -f
    } else {
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxima() {
        assert_eq!(E4M3FN.max(), 448.0);
        assert_eq!(E4M3FNUZ.max(), 240.0);
        assert_eq!(E5M2.max(), 57344.0);
        assert_eq!(E5M2FNUZ.max(), 57344.0);
        assert_eq!(E2M1.max(), 6.0);
        for f in [E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E2M1] {
            assert_eq!(f.decode(f.max_bits()), f.max());
        }
    }

    #[test]
    fn every_code_round_trips() {
        for f in [E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ] {
            for b in 0..=255u16 {
                let v = f.decode(b);
                if v.is_nan() {
                    assert!(f.decode(f.encode(v, false)).is_nan());
                } else if f.special == Special::Fnuz && b == 0 {
                    assert_eq!(f.encode(v, true), 0);
                } else {
                    assert_eq!(f.encode(v, false), b, "{f:?} code {b:#x} value {v}");
                }
            }
        }
        for b in 0..16u16 {
            assert_eq!(E2M1.encode(E2M1.decode(b), true), b);
        }
    }

    #[test]
    fn rounding_and_overflow() {
        // ties to even between 448 (…110) and 480 (would be …111 = NaN)
        assert_eq!(E4M3FN.encode(464.0, false), 0x7E);
        assert_eq!(E4M3FN.encode(465.0, false), 0x7F);
        assert_eq!(E4M3FN.encode(465.0, true), 0x7E);
        assert_eq!(E4M3FN.encode(f64::NEG_INFINITY, false), 0xFF);
        assert_eq!(E4M3FN.encode(f64::NEG_INFINITY, true), 0xFE);
        assert_eq!(E5M2.encode(1e6, false), 0x7C);
        assert_eq!(E5M2.encode(-1e6, true), 0xFB);
        assert_eq!(E4M3FNUZ.encode(-1e-5, false), 0);
        assert_eq!(E4M3FN.encode(-1e-5, false), 0x80);
        // smallest subnormal of E4M3FN is 2^-9; half of it ties to 0, more rounds up
        assert_eq!(E4M3FN.encode(pow2(-10), true), 0);
        assert_eq!(E4M3FN.encode(pow2(-10) * 1.5, true), 1);
        assert_eq!(E4M3FN.encode(1.5 * pow2(-9), true), 2);
        // f4: 0.25 ties to 0, 0.75 ties to 1, 5 ties to 4, inf saturates
        assert_eq!(E2M1.encode(0.25, false), 0);
        assert_eq!(E2M1.encode(0.75, false), 2);
        assert_eq!(E2M1.encode(5.0, false), 6);
        assert_eq!(E2M1.encode(f64::INFINITY, false), 7);
        assert_eq!(E2M1.encode(-100.0, false), 15);
    }

    #[test]
    fn half_formats_are_exact() {
        for b in 0..=u16::MAX {
            let h = half::f16::from_bits(b).to_f64();
            let d = F16.decode(b);
            assert!(h == d || (h.is_nan() && d.is_nan()), "f16 {b:#x}");
            if !h.is_nan() {
                assert_eq!(F16.encode(h, false), b);
            }
            let h = half::bf16::from_bits(b).to_f64();
            let d = BF16.decode(b);
            assert!(h == d || (h.is_nan() && d.is_nan()), "bf16 {b:#x}");
            if !h.is_nan() {
                assert_eq!(BF16.encode(h, false), b);
            }
        }
        // just above the midpoint between 1 and 1 + 2^-10: a trip through f32 would tie to 1
        assert_eq!(F16.encode(1.0 + pow2(-11) + pow2(-40), false), 0x3C01);
        assert_eq!(BF16.encode(1.0 + pow2(-8) + pow2(-40), false), 0x3F81);
        assert_eq!(F16.encode(65520.0, false), 0x7C00);
        assert_eq!(F16.encode(65519.0, false), 0x7BFF);
        assert_eq!(F16.encode(pow2(-25), false), 0);
        assert_eq!(F16.encode(pow2(-25) * 1.000001, false), 1);
    }

    #[test]
    fn e8m0() {
        assert_eq!(e8m0_encode(1.0, true, E8M0Round::Up), 127);
        assert_eq!(e8m0_encode(1.5, true, E8M0Round::Up), 128);
        assert_eq!(e8m0_encode(1.5, true, E8M0Round::Down), 127);
        assert_eq!(e8m0_encode(1.5, true, E8M0Round::Nearest), 128);
        assert_eq!(e8m0_encode(1.25, true, E8M0Round::Nearest), 127);
        assert_eq!(e8m0_encode(f64::INFINITY, true, E8M0Round::Up), 0xFF);
        assert_eq!(e8m0_encode(3.0e38, true, E8M0Round::Up), 0xFE);
        assert_eq!(e8m0_encode(3.0e38, false, E8M0Round::Up), 0xFF);
        assert_eq!(e8m0_decode(127), 1.0);
        assert!(e8m0_decode(255).is_nan());
    }

    #[test]
    fn integer_rounding() {
        assert_eq!(round_int_to_bits(17, 4), 16.0);
        assert_eq!(round_int_to_bits(19, 4), 20.0);
        assert_eq!(round_int_to_bits(-25, 4), -24.0);
        assert_eq!(round_int_to_bits((1 << 60) + 1, 53), (1u64 << 60) as f64);
    }
}
