//! Traditional-ML operators of the ai.onnx.ml domain: Binarizer, ArrayFeatureExtractor and
//! LabelEncoder (opset 1's classes_strings form, opset 2's keys_*/values_* lists and opset
//! 4's tensor attributes).

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::onnx::attrs::AttrValue;
use crate::tensor::{DType, Dim, Tensor};
use std::collections::HashMap;

/// Binarizer: 1 where `x > threshold`, else 0, in X's type.
#[derive(Clone, Debug)]
pub struct Binarizer {
    pub threshold: f32,
}

/// `x > t` for an integer x, exactly.
fn int_greater(x: i64, t: f64) -> bool {
    if t.is_nan() || t >= 9.3e18 {
        false
    } else if t < -9.3e18 {
        true
    } else {
        // x > t ⟺ x > floor(t) for integers.
        (x as i128) > (t.floor() as i128)
    }
}

impl OpSpec for Binarizer {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !(x.dtype.is_float() || x.dtype.is_int()) {
            return Err(format!("Binarizer needs a numeric input, got {}", x.dtype));
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let t = self.threshold as f64;
        let y = if x.dtype().is_int() {
            let v: Vec<i64> = x.to_i64_vec()?.into_iter().map(|e| int_greater(e, t) as i64).collect();
            Tensor::from_i64(x.dtype(), x.shape(), &v)?
        } else if x.dtype().is_float() {
            let v: Vec<f64> = x.to_f64_vec()?.into_iter().map(|e| if e > t { 1.0 } else { 0.0 }).collect();
            Tensor::from_f64(x.dtype(), x.shape(), &v)?
        } else {
            return Err(format!("Binarizer needs a numeric input, got {}", x.dtype()));
        };
        Ok(vec![y])
    }
}

/// ArrayFeatureExtractor: X[..., indices] along the last axis (indices flattened); a 1-D X
/// gives a [1, n] result (as ONNX Runtime does).
#[derive(Clone, Debug)]
pub struct ArrayFeatureExtractor;

impl OpSpec for ArrayFeatureExtractor {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, y) = (cx.input(0)?, cx.input(1)?);
        if !y.dtype.is_int() {
            return Err(format!("ArrayFeatureExtractor indices must be int64, got {}", y.dtype));
        }
        if x.rank() == 0 {
            return Err("ArrayFeatureExtractor needs an input of rank ≥ 1".into());
        }
        let n = y.dims.iter().try_fold(1usize, |acc, d| d.known().map(|k| acc * k)).map_or(Dim::Unknown, Dim::Known);
        let mut dims = if x.rank() == 1 { vec![Dim::Known(1)] } else { x.dims[..x.rank() - 1].to_vec() };
        dims.push(n);
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, y) = (need(inputs, 0)?, need(inputs, 1)?);
        if !y.dtype().is_int() {
            return Err(format!("ArrayFeatureExtractor indices must be int64, got {}", y.dtype()));
        }
        let s = x.shape();
        if s.is_empty() {
            return Err("ArrayFeatureExtractor needs an input of rank ≥ 1".into());
        }
        let last = s[s.len() - 1];
        let idx: Vec<usize> = y
            .to_i64_vec()?
            .into_iter()
            .map(|i| {
                if i < 0 || i as u64 >= last as u64 {
                    Err(format!("index {i} is out of range for a last axis of {last}"))
                } else {
                    Ok(i as usize)
                }
            })
            .collect::<Result<_, _>>()?;
        let outer: usize = s[..s.len() - 1].iter().product();
        let mut shape = if s.len() == 1 { vec![1] } else { s[..s.len() - 1].to_vec() };
        shape.push(idx.len());
        let flat: Vec<usize> = (0..outer).flat_map(|o| idx.iter().map(move |&i| o * last + i)).collect();
        Ok(vec![x.take(&flat, &shape)?])
    }
}

/// Keys of a LabelEncoder map, by kind of input.
#[derive(Clone, Debug)]
pub enum LabelKeys {
    Strings(HashMap<String, usize>),
    Ints(HashMap<i64, usize>),
    /// Normalized f64 bits (NaN matches NaN; −0 matches +0).
    Floats(HashMap<u64, usize>),
}

fn float_key(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

#[derive(Clone, Debug)]
pub enum LabelMap {
    /// Opset 1: strings → their index in `classes` (int64), or int64 → `classes[i]`.
    Classes { classes: Vec<String>, default_int: i64, default_string: String },
    /// Opset 2+: key `i` → `values[i]`, else `default` (a 1-element tensor of the values' dtype).
    Map { key_dtype: DType, keys: LabelKeys, values: Tensor, default: Tensor },
}

#[derive(Clone, Debug)]
pub struct LabelEncoder {
    pub map: LabelMap,
}

impl OpSpec for LabelEncoder {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let out = match &self.map {
            LabelMap::Classes { .. } => match x.dtype {
                DType::String => DType::I64,
                DType::I64 => DType::String,
                d => return Err(format!("LabelEncoder-1 maps strings or int64s, got {d}")),
            },
            LabelMap::Map { key_dtype, values, .. } => {
                if x.dtype != *key_dtype {
                    return Err(format!("LabelEncoder keys are {key_dtype} but the input is {}", x.dtype));
                }
                values.dtype()
            }
        };
        Ok(vec![vt(out, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        match &self.map {
            LabelMap::Classes { classes, default_int, default_string } => match x.dtype() {
                DType::String => {
                    let v: Vec<i64> = x
                        .strings()?
                        .iter()
                        .map(|s| classes.iter().position(|c| c == s).map_or(*default_int, |i| i as i64))
                        .collect();
                    Ok(vec![Tensor::from_i64(DType::I64, x.shape(), &v)?])
                }
                DType::I64 => {
                    let v: Vec<String> = x
                        .to_i64_vec()?
                        .into_iter()
                        .map(|i| usize::try_from(i).ok().and_then(|i| classes.get(i)).unwrap_or(default_string).clone())
                        .collect();
                    Ok(vec![Tensor::from_strings(x.shape(), v)?])
                }
                d => Err(format!("LabelEncoder-1 maps strings or int64s, got {d}")),
            },
            LabelMap::Map { key_dtype, keys, values, default } => {
                if x.dtype() != *key_dtype {
                    return Err(format!("LabelEncoder keys are {key_dtype} but the input is {}", x.dtype()));
                }
                let miss = values.numel();
                let idx: Vec<usize> = match keys {
                    LabelKeys::Strings(m) => x.strings()?.iter().map(|s| *m.get(s).unwrap_or(&miss)).collect(),
                    LabelKeys::Ints(m) => x.to_i64_vec()?.iter().map(|k| *m.get(k).unwrap_or(&miss)).collect(),
                    LabelKeys::Floats(m) => {
                        x.to_f64_vec()?.iter().map(|&k| *m.get(&float_key(k)).unwrap_or(&miss)).collect()
                    }
                };
                Ok(vec![values.concat_flat(default)?.take(&idx, x.shape())?])
            }
        }
    }
}

fn strings_attr(c: &NodeCtx, name: &str) -> Result<Option<Vec<String>>, String> {
    match c.attrs.get(name) {
        None => Ok(None),
        Some(AttrValue::Strings(v)) => Ok(Some(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())),
        Some(o) => Err(format!("attribute '{name}' must be strings, got {}", o.type_name())),
    }
}

/// The one attribute of `names` that is set (exactly one must be).
fn only_one(c: &NodeCtx, names: &[&'static str]) -> Result<&'static str, String> {
    let set: Vec<&'static str> = names.iter().copied().filter(|n| c.attrs.has(n)).collect();
    match set.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("LabelEncoder needs one of {names:?}")),
        _ => Err(format!("LabelEncoder takes only one of {set:?}")),
    }
}

fn build_keys(c: &NodeCtx) -> Result<(DType, LabelKeys, usize), String> {
    fn index<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> (HashMap<K, usize>, usize) {
        // A repeated key: the last one wins.
        let mut m = HashMap::new();
        let mut n = 0;
        for (i, k) in keys.enumerate() {
            m.insert(k, i);
            n = i + 1;
        }
        (m, n)
    }
    let which = if c.opset >= 4 {
        only_one(c, &["keys_strings", "keys_int64s", "keys_floats", "keys_tensor"])?
    } else {
        only_one(c, &["keys_strings", "keys_int64s", "keys_floats"])?
    };
    Ok(match which {
        "keys_strings" => {
            let (m, n) = index(strings_attr(c, which)?.unwrap_or_default().into_iter());
            (DType::String, LabelKeys::Strings(m), n)
        }
        "keys_int64s" => {
            let (m, n) = index(c.attrs.ints(which, vec![])?.into_iter());
            (DType::I64, LabelKeys::Ints(m), n)
        }
        "keys_floats" => {
            let (m, n) = index(c.attrs.floats(which, vec![])?.into_iter().map(|f| float_key(f as f64)));
            (DType::F32, LabelKeys::Floats(m), n)
        }
        _ => {
            let t = c.attrs.tensor(which, Tensor::zeros(DType::I64, &[0])?)?;
            let d = t.dtype();
            if d == DType::String {
                let (m, n) = index(t.strings()?.iter().cloned());
                (d, LabelKeys::Strings(m), n)
            } else if d.is_int() {
                let (m, n) = index(t.to_i64_vec()?.into_iter());
                (d, LabelKeys::Ints(m), n)
            } else if d.is_float() {
                let (m, n) = index(t.to_f64_vec()?.into_iter().map(float_key));
                (d, LabelKeys::Floats(m), n)
            } else {
                return Err(format!("LabelEncoder keys_tensor of {d} is not supported"));
            }
        }
    })
}

/// The values (1-D) and the default (1 element, the values' dtype).
fn build_values(c: &NodeCtx) -> Result<(Tensor, Tensor), String> {
    let which = if c.opset >= 4 {
        only_one(c, &["values_strings", "values_int64s", "values_floats", "values_tensor"])?
    } else {
        only_one(c, &["values_strings", "values_int64s", "values_floats"])?
    };
    Ok(match which {
        "values_strings" => {
            let v = strings_attr(c, which)?.unwrap_or_default();
            let d = c.attrs.string("default_string", "_Unused")?;
            (Tensor::from_strings(&[v.len()], v)?, Tensor::from_strings(&[1], vec![d])?)
        }
        "values_int64s" => {
            let v = c.attrs.ints(which, vec![])?;
            (Tensor::new(&[v.len()], v)?, Tensor::new(&[1], vec![c.attrs.int("default_int64", -1)?])?)
        }
        "values_floats" => {
            let v = c.attrs.floats(which, vec![])?;
            (Tensor::new(&[v.len()], v)?, Tensor::new(&[1], vec![c.attrs.float("default_float", -0.0)?])?)
        }
        _ => {
            let t = c.attrs.tensor(which, Tensor::zeros(DType::I64, &[0])?)?;
            let d = t.dtype();
            let values = t.reshape(&[t.numel()])?;
            let default = match c.attrs.opt_tensor("default_tensor")? {
                Some(dt) => {
                    if dt.dtype() != d || dt.numel() != 1 {
                        return Err(format!(
                            "LabelEncoder default_tensor must be one {d} element, got {} {:?}",
                            dt.dtype(),
                            dt.shape()
                        ));
                    }
                    dt.reshape(&[1])?
                }
                None if d == DType::String => Tensor::from_strings(&[1], vec!["_Unused".into()])?,
                None if d.is_int() => Tensor::from_i64(d, &[1], &[-1])?,
                None if d.is_float() => Tensor::from_f64(d, &[1], &[-0.0])?,
                None => return Err(format!("LabelEncoder values_tensor of {d} is not supported")),
            };
            (values, default)
        }
    })
}

pub fn import_binarizer(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Binarizer(Binarizer { threshold: c.attrs.float("threshold", 0.0)? }))
}
pub fn import_array_feature_extractor(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ArrayFeatureExtractor(ArrayFeatureExtractor))
}
pub fn import_label_encoder(c: &NodeCtx) -> Result<Op, String> {
    if c.opset < 2 {
        let classes = strings_attr(c, "classes_strings")?.unwrap_or_default();
        return Ok(Op::LabelEncoder(LabelEncoder {
            map: LabelMap::Classes {
                classes,
                default_int: c.attrs.int("default_int64", -1)?,
                default_string: c.attrs.string("default_string", "_Unused")?,
            },
        }));
    }
    let (key_dtype, keys, n) = build_keys(c)?;
    let (values, default) = build_values(c)?;
    if values.numel() != n {
        return Err(format!("LabelEncoder has {n} keys but {} values", values.numel()));
    }
    Ok(Op::LabelEncoder(LabelEncoder { map: LabelMap::Map { key_dtype, keys, values, default } }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::attrs::Attrs;

    fn ctx<'a>(attrs: &'a Attrs, opset: i64) -> NodeCtx<'a> {
        NodeCtx {
            name: "n",
            op_type: "LabelEncoder",
            domain: "ai.onnx.ml",
            opset,
            attrs,
            n_inputs: 1,
            n_outputs: 1,
            subgraphs: &[],
        }
    }

    fn encoder(attrs: Vec<(&str, AttrValue)>, opset: i64) -> Result<LabelEncoder, String> {
        let a = Attrs { map: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect() };
        match import_label_encoder(&ctx(&a, opset))? {
            Op::LabelEncoder(l) => Ok(l),
            _ => unreachable!(),
        }
    }

    #[test]
    fn binarizer_on_integers_is_exact() {
        assert!(int_greater(2, 1.5) && !int_greater(1, 1.5) && !int_greater(1, 1.0));
        assert!(int_greater(-1, -1.5) && !int_greater(i64::MAX, f64::NAN) && int_greater(i64::MIN, -1e19));
        let x = Tensor::new(&[3], vec![i64::MAX, 0, -3]).unwrap();
        let y = Binarizer { threshold: -3.0 }.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![1, 1, 0]);
    }

    #[test]
    fn feature_extractor_on_vectors_and_bad_indices() {
        let x = Tensor::from_strings(&[3], vec!["a".into(), "b".into(), "c".into()]).unwrap();
        let i = Tensor::new(&[2], vec![2i64, 0]).unwrap();
        let y = ArrayFeatureExtractor.eval(&[Some(&x), Some(&i)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 2]);
        assert_eq!(y.strings().unwrap(), &["c".to_string(), "a".to_string()]);
        let bad = Tensor::new(&[1], vec![3i64]).unwrap();
        assert!(ArrayFeatureExtractor.eval(&[Some(&x), Some(&bad)], 1).is_err());
    }

    #[test]
    fn label_encoder_forms() {
        // Float keys: NaN matches NaN, −0 matches 0, a repeated key takes the last value.
        let l = encoder(
            vec![
                ("keys_floats", AttrValue::Floats(vec![f32::NAN, 0.0, 1.5, 1.5])),
                (
                    "values_strings",
                    AttrValue::Strings(vec![b"nan".to_vec(), b"zero".to_vec(), b"x".to_vec(), b"y".to_vec()]),
                ),
            ],
            2,
        )
        .unwrap();
        let x = Tensor::new(&[4], vec![f32::NAN, -0.0, 1.5, 2.0]).unwrap();
        let y = l.eval(&[Some(&x)], 1).unwrap().remove(0);
        let want: Vec<String> = ["nan", "zero", "y", "_Unused"].iter().map(|s| s.to_string()).collect();
        assert_eq!(y.strings().unwrap(), want.as_slice());
        // Opset 1: both directions through classes_strings.
        let l = encoder(vec![("classes_strings", AttrValue::Strings(vec![b"a".to_vec(), b"b".to_vec()]))], 1).unwrap();
        let s = Tensor::from_strings(&[2], vec!["b".into(), "z".into()]).unwrap();
        assert_eq!(l.eval(&[Some(&s)], 1).unwrap()[0].to_vec::<i64>().unwrap(), vec![1, -1]);
        let i = Tensor::new(&[2], vec![0i64, 5]).unwrap();
        let back = l.eval(&[Some(&i)], 1).unwrap().remove(0);
        assert_eq!(back.strings().unwrap(), &["a".to_string(), "_Unused".to_string()]);
        // Mismatched lengths and two key lists are errors.
        assert!(encoder(
            vec![("keys_int64s", AttrValue::Ints(vec![1, 2])), ("values_int64s", AttrValue::Ints(vec![1]))],
            2
        )
        .is_err());
        assert!(encoder(
            vec![
                ("keys_int64s", AttrValue::Ints(vec![1])),
                ("keys_floats", AttrValue::Floats(vec![1.0])),
                ("values_int64s", AttrValue::Ints(vec![1]))
            ],
            2
        )
        .is_err());
    }
}
