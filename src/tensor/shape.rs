//! Shapes: symbolic dims for graph-level inference ([`Dim`]) and concrete helpers (element
//! counts, row-major strides, numpy-style multidirectional broadcasting per the ONNX spec's
//! Broadcasting.md).

use std::fmt;
use std::sync::Arc;

/// One dimension of a value's shape as known at load time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A concrete size.
    Known(usize),
    /// A named symbolic size (`batch`, `sequence`): equal names are equal sizes.
    Sym(Arc<str>),
    /// Not known and not named.
    Unknown,
}

impl Dim {
    pub fn known(&self) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(*n),
            _ => None,
        }
    }

    /// Product of two dims; symbolic products become `Unknown` (unless one side is 1).
    pub fn mul(&self, other: &Dim) -> Dim {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => Dim::Known(a * b),
            (Dim::Known(1), d) | (d, Dim::Known(1)) => d.clone(),
            (Dim::Known(0), _) | (_, Dim::Known(0)) => Dim::Known(0),
            _ => Dim::Unknown,
        }
    }

    pub fn add(&self, other: &Dim) -> Dim {
        match (self, other) {
            (Dim::Known(a), Dim::Known(b)) => Dim::Known(a + b),
            (Dim::Known(0), d) | (d, Dim::Known(0)) => d.clone(),
            _ => Dim::Unknown,
        }
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Dim {
        Dim::Known(n)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => write!(f, "{s}"),
            Dim::Unknown => write!(f, "?"),
        }
    }
}

/// Formats a symbolic shape as `[1,3,batch,?]`.
pub fn fmt_dims(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// Formats a concrete shape as `[1,3,224,224]`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// Converts a concrete shape to known dims.
pub fn known_dims(shape: &[usize]) -> Vec<Dim> {
    shape.iter().map(|&d| Dim::Known(d)).collect()
}

/// The concrete shape if every dim is known.
pub fn concrete(dims: &[Dim]) -> Option<Vec<usize>> {
    dims.iter().map(|d| d.known()).collect()
}

/// Number of elements of a concrete shape, `None` on overflow.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Number of elements (saturating; callers that trust no input use [`checked_numel`]).
pub fn numel(shape: &[usize]) -> usize {
    checked_numel(shape).unwrap_or(usize::MAX)
}

/// Row-major (C-order) strides in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Normalizes a possibly negative axis against `rank` (`-1` is the last axis).
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if rank == 0 && (axis == 0 || axis == -1) {
        return Ok(0);
    }
    if a < 0 || a >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

/// Multidirectional broadcast of symbolic shapes.
pub fn broadcast_dims(shapes: &[&[Dim]]) -> Result<Vec<Dim>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let mut d = Dim::Known(1);
        for s in shapes {
            let off = rank - s.len();
            if i < off {
                continue;
            }
            let e = &s[i - off];
            d = match (&d, e) {
                (Dim::Known(1), x) | (x, Dim::Known(1)) => x.clone(),
                (Dim::Known(a), Dim::Known(b)) if a == b => Dim::Known(*a),
                (Dim::Known(a), Dim::Known(b)) => {
                    return Err(format!(
                        "shapes {} cannot be broadcast together (dim {a} vs {b})",
                        shapes.iter().map(|s| fmt_dims(s)).collect::<Vec<_>>().join(" and ")
                    ))
                }
                (Dim::Known(a), _) | (_, Dim::Known(a)) => Dim::Known(*a),
                (Dim::Sym(a), Dim::Sym(b)) if a == b => Dim::Sym(a.clone()),
                _ => Dim::Unknown,
            };
        }
        out.push(d);
    }
    Ok(out)
}

/// Multidirectional broadcast of concrete shapes.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!(
                    "shapes {} cannot be broadcast together",
                    shapes.iter().map(|s| fmt_shape(s)).collect::<Vec<_>>().join(" and ")
                ));
            }
        }
    }
    Ok(out)
}

/// Strides (in elements) to read a tensor of `shape` as if broadcast to `out` (rank
/// `out.len()`): broadcast dims get stride 0.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    let off = out.len() - shape.len();
    (0..out.len()).map(|i| if i < off || shape[i - off] == 1 { 0 } else { st[i - off] }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[&[2, 3, 4], &[4]]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shapes(&[&[2, 1, 4], &[3, 1]]).unwrap(), vec![2, 3, 4]);
        assert!(broadcast_shapes(&[&[2, 3], &[4]]).is_err());
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        let b = Dim::Sym("batch".into());
        let d = broadcast_dims(&[&[b.clone(), Dim::Known(1)], &[Dim::Known(5)]]).unwrap();
        assert_eq!(d, vec![b, Dim::Known(5)]);
    }

    #[test]
    fn axes() {
        assert_eq!(norm_axis(-1, 4).unwrap(), 3);
        assert_eq!(norm_axis(0, 1).unwrap(), 0);
        assert!(norm_axis(4, 4).is_err());
        assert!(norm_axis(-5, 4).is_err());
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
