//! `TensorProto` ↔ [`Tensor`]: `raw_data` (little-endian, sub-byte types packed), the typed
//! fields (`float_data`, `int32_data` holding int8/16/uint8/16/bool/float16/bfloat16/float8
//! and int4 bit patterns, `int64_data`, `uint64_data`, `double_data`, `string_data`), and
//! external data (`location`/`offset`/`length`) resolved inside the model's folder only.

use super::proto::{tensor_proto::DataLocation, TensorProto};
use crate::error::{Error, Result};
use crate::tensor::{shape::checked_numel, DType, Tensor};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

fn terr(name: &str, reason: impl Into<String>) -> Error {
    Error::Tensor { tensor: name.to_string(), reason: reason.into() }
}

/// Reads the dims of a TensorProto as a concrete shape, refusing negative or absurd sizes.
pub fn dims_of(t: &TensorProto, max_elements: usize) -> Result<Vec<usize>> {
    let name = t.name();
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(terr(name, format!("negative dim {d}")));
        }
        shape.push(d as usize);
    }
    let n = checked_numel(&shape).ok_or_else(|| terr(name, "element count overflows"))?;
    if n > max_elements {
        return Err(terr(name, format!("{n} elements exceed the limit of {max_elements}")));
    }
    Ok(shape)
}

/// Where external tensor data may be read from.
pub struct ExternalBase<'a> {
    /// The folder of the model file; `None` when the model came from bytes.
    pub dir: Option<&'a Path>,
}

/// Decodes a TensorProto into a host tensor.
pub fn to_tensor(t: &TensorProto, base: &ExternalBase<'_>, max_elements: usize) -> Result<Tensor> {
    let name = t.name();
    let dtype =
        DType::from_onnx(t.data_type()).ok_or_else(|| terr(name, format!("unknown data_type {}", t.data_type())))?;
    let shape = dims_of(t, max_elements)?;
    let n: usize = shape.iter().product();
    let mk = |r: std::result::Result<Tensor, String>| r.map_err(|e| terr(name, e));

    if t.data_location() == DataLocation::External {
        let bytes = read_external(t, base, dtype.storage_bytes(n))?;
        return mk(Tensor::from_bytes(dtype, &shape, &bytes));
    }
    if dtype == DType::String {
        let s: Vec<String> = t.string_data.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        return mk(Tensor::from_strings(&shape, s));
    }
    if let Some(raw) = &t.raw_data {
        return mk(Tensor::from_bytes(dtype, &shape, raw));
    }
    let want = |have: usize| -> Result<()> {
        if have != n {
            Err(terr(name, format!("shape {shape:?} needs {n} values, the typed field holds {have}")))
        } else {
            Ok(())
        }
    };
    typed_fields(t, name, dtype, &shape, n, want, mk)
}

#[allow(clippy::too_many_arguments)]
fn typed_fields(
    t: &TensorProto,
    name: &str,
    dtype: DType,
    shape: &[usize],
    n: usize,
    want: impl Fn(usize) -> Result<()>,
    mk: impl Fn(std::result::Result<Tensor, String>) -> Result<Tensor>,
) -> Result<Tensor> {
    use DType::*;
    let shape = shape.to_vec();
    match dtype {
        F32 => {
            want(t.float_data.len())?;
            mk(Tensor::from_slice(&shape, &t.float_data))
        }
        F64 => {
            want(t.double_data.len())?;
            mk(Tensor::from_slice(&shape, &t.double_data))
        }
        I64 => {
            want(t.int64_data.len())?;
            mk(Tensor::from_slice(&shape, &t.int64_data))
        }
        U64 => {
            want(t.uint64_data.len())?;
            mk(Tensor::from_slice(&shape, &t.uint64_data))
        }
        U32 => {
            want(t.uint64_data.len())?;
            let v: Vec<u32> = t.uint64_data.iter().map(|&x| x as u32).collect();
            mk(Tensor::new(&shape, v))
        }
        I32 => {
            want(t.int32_data.len())?;
            mk(Tensor::from_slice(&shape, &t.int32_data))
        }
        Complex64 => {
            want(t.float_data.len() / 2)?;
            mk(Tensor::from_bytes(dtype, &shape, bytemuck::cast_slice(&t.float_data)))
        }
        Complex128 => {
            want(t.double_data.len() / 2)?;
            mk(Tensor::from_bytes(dtype, &shape, bytemuck::cast_slice(&t.double_data)))
        }
        I8 | U8 | Bool | F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F8E8M0 => {
            want(t.int32_data.len())?;
            let b: Vec<u8> = t.int32_data.iter().map(|&x| x as u8).collect();
            mk(Tensor::from_bytes(dtype, &shape, &b))
        }
        I16 | U16 | F16 | BF16 => {
            want(t.int32_data.len())?;
            let b: Vec<u8> = t.int32_data.iter().flat_map(|&x| (x as u16).to_le_bytes()).collect();
            mk(Tensor::from_bytes(dtype, &shape, &b))
        }
        I4 | U4 | F4E2M1 | I2 | U2 => {
            // int32_data holds the packed bytes, one byte per entry.
            let nbytes = dtype.storage_bytes(n);
            if t.int32_data.len() != nbytes {
                return Err(terr(
                    name,
                    format!("{n} {dtype} values need {nbytes} packed entries, got {}", t.int32_data.len()),
                ));
            }
            let b: Vec<u8> = t.int32_data.iter().map(|&x| x as u8).collect();
            mk(Tensor::from_bytes(dtype, &shape, &b))
        }
        String => unreachable!(),
    }
}

/// Resolves `location` under the model folder, refusing absolute paths, `..` that climbs out,
/// and symlinks whose target lies outside.
fn resolve_location(name: &str, location: &str, dir: &Path) -> Result<std::path::PathBuf> {
    let rel = Path::new(location);
    if rel.is_absolute() || location.starts_with('/') || location.starts_with('\\') {
        return Err(terr(name, format!("external data location '{location}' is absolute")));
    }
    let mut depth = 0i32;
    for c in rel.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(terr(name, format!("external data location '{location}' escapes the model folder")));
                }
            }
            _ => return Err(terr(name, format!("external data location '{location}' is not a relative path"))),
        }
    }
    let path = dir.join(rel);
    let real = path.canonicalize().map_err(|e| terr(name, format!("external data '{}': {e}", path.display())))?;
    let root = dir.canonicalize().map_err(|e| terr(name, format!("model folder '{}': {e}", dir.display())))?;
    if !real.starts_with(&root) {
        return Err(terr(name, format!("external data location '{location}' resolves outside the model folder")));
    }
    Ok(real)
}

fn read_external(t: &TensorProto, base: &ExternalBase<'_>, expect: usize) -> Result<Vec<u8>> {
    let name = t.name();
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for kv in &t.external_data {
        let v = kv.value();
        let parse = |what: &str| {
            v.parse::<u64>().map_err(|_| terr(name, format!("external data {what} '{v}' is not a number")))
        };
        match kv.key() {
            "location" => location = Some(v.to_string()),
            "offset" => offset = parse("offset")?,
            "length" => length = Some(parse("length")?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| terr(name, "external data without a location"))?;
    let dir =
        base.dir.ok_or_else(|| terr(name, "external data needs the model's folder; load the model from a path"))?;
    let path = resolve_location(name, &location, dir)?;
    let len = length.unwrap_or(expect as u64);
    if len != expect as u64 {
        return Err(terr(
            name,
            format!("external data length {len} does not match the {expect} bytes its shape needs"),
        ));
    }
    let mut f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let size = f.metadata().map_err(|e| Error::io(&path, e))?.len();
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(terr(
            name,
            format!("external data [{offset}, +{len}) lies beyond the end of '{location}' ({size} bytes)"),
        ));
    }
    f.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(&path, e))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).map_err(|e| Error::io(&path, e))?;
    Ok(buf)
}

/// Encodes a host tensor as a TensorProto with `raw_data` (strings in `string_data`).
pub fn from_tensor(name: &str, t: &Tensor) -> TensorProto {
    let mut p = TensorProto {
        name: Some(name.to_string()),
        data_type: Some(t.dtype().onnx_code()),
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        ..Default::default()
    };
    if t.dtype() == DType::String {
        p.string_data = t.strings().unwrap_or(&[]).iter().map(|s| s.as_bytes().to_vec()).collect();
    } else {
        p.raw_data = Some(t.bytes().to_vec());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(dtype: DType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: Some("t".into()),
            data_type: Some(dtype.onnx_code()),
            dims: dims.to_vec(),
            ..Default::default()
        }
    }
    const NOBASE: ExternalBase<'static> = ExternalBase { dir: None };

    #[test]
    fn typed_fields() {
        let mut p = proto(DType::F16, &[2]);
        p.int32_data = vec![0x3C00, 0x4000];
        let t = to_tensor(&p, &NOBASE, 1 << 20).unwrap();
        assert_eq!(t.to_f64_vec().unwrap(), vec![1.0, 2.0]);
        let mut p = proto(DType::I64, &[3]);
        p.int64_data = vec![1, 2];
        assert!(to_tensor(&p, &NOBASE, 1 << 20).is_err());
        let mut p = proto(DType::Bool, &[2]);
        p.int32_data = vec![1, 0];
        assert_eq!(to_tensor(&p, &NOBASE, 1 << 20).unwrap().as_bools().unwrap(), vec![true, false]);
    }

    #[test]
    fn raw_round_trip_and_limits() {
        let t = Tensor::new(&[2, 2], vec![1i32, -2, 3, -4]).unwrap();
        let p = from_tensor("w", &t);
        assert_eq!(to_tensor(&p, &NOBASE, 1 << 20).unwrap(), t);
        let mut big = proto(DType::F32, &[1 << 20, 1 << 20]);
        big.raw_data = Some(vec![]);
        assert!(to_tensor(&big, &NOBASE, 1 << 30).is_err());
        assert!(dims_of(&proto(DType::F32, &[-1]), 10).is_err());
    }

    #[test]
    fn external_data_stays_in_folder() {
        let dir = std::env::temp_dir().join(format!("onnx_wgpu_ext_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("w.bin"), [0u8, 0, 128, 63, 0, 0, 0, 64]).unwrap();
        let base = ExternalBase { dir: Some(&dir) };
        let ext = |loc: &str, off: &str| {
            let mut p = proto(DType::F32, &[1]);
            p.data_location = Some(DataLocation::External as i32);
            for (k, v) in [("location", loc), ("offset", off), ("length", "4")] {
                p.external_data
                    .push(super::super::proto::StringStringEntryProto { key: Some(k.into()), value: Some(v.into()) });
            }
            p
        };
        assert_eq!(to_tensor(&ext("w.bin", "4"), &base, 100).unwrap().to_f64_vec().unwrap(), vec![2.0]);
        for bad in ["../w.bin", "/etc/passwd", "a/../../w.bin"] {
            let e = to_tensor(&ext(bad, "0"), &base, 100).unwrap_err().to_string();
            assert!(e.contains("absolute") || e.contains("escapes"), "{bad}: {e}");
        }
        assert!(to_tensor(&ext("w.bin", "8"), &base, 100).is_err());
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink("/etc/hostname", dir.join("link.bin"));
            let e = to_tensor(&ext("link.bin", "0"), &base, 100).unwrap_err().to_string();
            assert!(e.contains("outside"), "{e}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
