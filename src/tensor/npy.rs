//! The NumPy `.npy` format (versions 1–3), little-endian, C order: enough to exchange
//! tensors with numpy and ONNX Runtime scripts. Fortran order and big-endian are refused.

use super::{DType, Tensor};

fn descr(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::F16 => "<f2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
        _ => return None,
    })
}

/// Serializes a tensor as `.npy` bytes.
pub fn write(t: &Tensor) -> Result<Vec<u8>, String> {
    let d = descr(t.dtype()).ok_or_else(|| format!("{} tensors cannot be written as .npy", t.dtype()))?;
    let shape = match t.shape().len() {
        0 => "()".to_string(),
        1 => format!("({},)", t.shape()[0]),
        _ => format!("({})", t.shape().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {shape}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(t.bytes());
    Ok(out)
}

fn field<'a>(header: &'a str, key: &str) -> Result<&'a str, String> {
    let k = format!("'{key}':");
    let at = header.find(&k).ok_or_else(|| format!("npy header lacks '{key}'"))?;
    Ok(header[at + k.len()..].trim_start())
}

/// Parses `.npy` bytes.
pub fn read(bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start.checked_add(hlen).filter(|&e| e <= bytes.len()).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "npy header is not UTF-8")?;
    let d = field(header, "descr")?;
    let d = d.trim_start_matches(['\'', '"']);
    let d = &d[..d.find(['\'', '"']).ok_or("bad descr")?];
    let dtype = DType::ALL
        .iter()
        .copied()
        .find(|&t| descr(t).is_some_and(|x| x == d || (x.starts_with('|') && x[1..] == d[1..] && d.starts_with('<'))))
        .ok_or_else(|| format!("unsupported .npy dtype '{d}'"))?;
    if field(header, "fortran_order")?.starts_with("True") {
        return Err("Fortran-order .npy files are not supported".into());
    }
    let s = field(header, "shape")?;
    let s = &s[1..s.find(')').ok_or("bad shape")?];
    let shape: Vec<usize> = s
        .split(',')
        .map(|x| x.trim())
        .filter(|x| !x.is_empty())
        .map(|x| x.parse::<usize>().map_err(|_| format!("bad dim '{x}' in .npy shape")))
        .collect::<Result<_, _>>()?;
    Tensor::from_bytes(dtype, &shape, &bytes[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for t in [
            Tensor::new(&[2, 3], vec![1.5f32, 2., 3., 4., 5., 6.]).unwrap(),
            Tensor::new(&[], vec![7i64]).unwrap(),
            Tensor::from_bools(&[3], &[true, false, true]).unwrap(),
        ] {
            let b = write(&t).unwrap();
            assert_eq!((b.len() - t.byte_len()) % 64, 0);
            assert_eq!(read(&b).unwrap(), t);
        }
        assert!(read(b"nonsense").is_err());
    }
}
