//! GPU lowerings of the ONNX Runtime contrib quantized operators (`crate::ops::contrib_quant`):
//! MatMulNBits dequantizes the packed 2/4/8-bit weights on the fly. With plan-time weights (the
//! usual initializer) they are repacked four bytes per u32 word and run by a GEMV kernel for one
//! row of A (`matmul_nbits_gemv.wgsl`: a workgroup per column, every packed word read once) or a
//! tiled kernel for several rows (`matmul_nbits_tiled.wgsl`: 16 x 16 output tiles, B's slices
//! dequantized once per tile into workgroup memory); run-time weights use the one-invocation-
//! per-output kernel (`matmul_nbits.wgsl`) on the byte-per-word storage.

use super::{grid_1d, grid_groups, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::contrib_quant::MatMulNBits;
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::{DType, Tensor};

/// How MatMulNBits' zero points are given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZpMode {
    /// Absent: the midpoint 2^(bits-1).
    None = 0,
    /// Packed uint8 (one u32 word per byte on the GPU).
    Packed = 1,
    /// f32 values (only with f32 data).
    Float = 2,
}

/// Which MatMulNBits kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NBitsKernel {
    /// One invocation per output element; B one word per byte.
    Element,
    /// M = 1: a workgroup per column; B packed four bytes per word.
    Gemv,
    /// M > 1: 16 x 16 output tiles; B packed four bytes per word.
    Tiled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NBitsVariant {
    /// Type of A, the scales, the bias and Y.
    pub t: GpuType,
    pub bits: u32,
    pub zp: ZpMode,
    pub bias: bool,
    pub kernel: NBitsKernel,
    /// A `g_idx` input (Element kernel only).
    pub gidx: bool,
}

impl KernelVariant for NBitsVariant {
    fn file(&self) -> &'static ShaderFile {
        match self.kernel {
            NBitsKernel::Element => &shaders::CONTRIB_QUANT_MATMUL_NBITS,
            NBitsKernel::Gemv => &shaders::CONTRIB_QUANT_MATMUL_NBITS_GEMV,
            NBitsKernel::Tiled => &shaders::CONTRIB_QUANT_MATMUL_NBITS_TILED,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.lib(&shaders::CONTRIB_QUANT_NBITS_LIB);
        p.u32("BITS", self.bits).u32("ZP_MODE", self.zp as u32).bool("HAS_BIAS", self.bias);
        p.bool("GIDX", self.gidx);
    }
    fn storage_bindings(&self) -> u32 {
        7
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for t in [GpuType::F32, GpuType::F16, GpuType::BF16] {
            for bits in [2, 4, 8] {
                for zp in [ZpMode::None, ZpMode::Packed, ZpMode::Float] {
                    if zp == ZpMode::Float && t != GpuType::F32 {
                        continue;
                    }
                    for bias in [false, true] {
                        for kernel in [NBitsKernel::Element, NBitsKernel::Gemv, NBitsKernel::Tiled] {
                            v.push(NBitsVariant { t, bits, zp, bias, kernel, gidx: false });
                        }
                        v.push(NBitsVariant { t, bits, zp, bias, kernel: NBitsKernel::Element, gidx: true });
                    }
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/contrib_quant/matmul_nbits.wgsl` Params.
    NBitsParams { m: u32, n: u32, k: u32, block: u32, nblocks: u32, blob: u32, zp_row: u32, pad0: u32 }
);

pub fn lower_matmul_n_bits(l: &GpuLowering, cx: &LowerCx, op: &MatMulNBits) -> Result<Lowered<GpuKernel>, String> {
    let (a, b, s, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output(0)?);
    let t = l.ty(a)?;
    if !matches!(t, GpuType::F32 | GpuType::F16 | GpuType::BF16) {
        return Err(format!("MatMulNBits on {} has no GPU kernel", a.dtype));
    }
    if s.dtype != a.dtype || y.dtype != a.dtype {
        return Err(format!(
            "MatMulNBits with scales {} / output {} for A {} has no GPU kernel",
            s.dtype, y.dtype, a.dtype
        ));
    }
    if b.dtype != DType::U8 {
        return Err(format!("MatMulNBits needs uint8 B, got {}", b.dtype));
    }
    let (k, n, nb, blob) = (op.k, op.n, op.n_blocks(), op.blob_size());
    if a.shape.last() != Some(&k) {
        return Err(format!("A's last dim must be K = {k}, A is {:?}", a.shape));
    }
    let bn: usize = b.shape.iter().product();
    let sn: usize = s.shape.iter().product();
    if bn != n * nb * blob || sn != n * nb {
        return Err(format!(
            "MatMulNBits B has {bn} bytes and scales {sn} entries, expected {} and {}",
            n * nb * blob,
            n * nb
        ));
    }
    let m = a.shape.iter().product::<usize>() / k.max(1);
    let mut consts: Vec<Tensor> = Vec::new();
    let dummy = |consts: &mut Vec<Tensor>, d: DType| -> Result<Ref, String> {
        consts.push(Tensor::zeros(d, &[1])?);
        Ok(Ref::Const(consts.len() - 1))
    };
    let (zp, zref) = match cx.inputs.get(3).and_then(|o| o.as_ref()) {
        None => (ZpMode::None, dummy(&mut consts, DType::U8)?),
        Some(z) if z.dtype == DType::U8 => {
            let zn: usize = z.shape.iter().product();
            if zn != n * op.zp_row_bytes() {
                return Err(format!("zero_points has {zn} bytes, expected {}", n * op.zp_row_bytes()));
            }
            (ZpMode::Packed, Ref::Input(3))
        }
        Some(z) if z.dtype == DType::F32 && a.dtype == DType::F32 => {
            if z.shape.iter().product::<usize>() != n * nb {
                return Err("float zero_points must have N·blocks entries".into());
            }
            (ZpMode::Float, Ref::Input(3))
        }
        Some(z) => return Err(format!("MatMulNBits with {} zero points has no GPU kernel", z.dtype)),
    };
    let (bias, bref) = match cx.inputs.get(5).and_then(|o| o.as_ref()) {
        None => (false, dummy(&mut consts, a.dtype)?),
        Some(bi) => {
            if bi.dtype != a.dtype || bi.shape.iter().product::<usize>() != n {
                return Err(format!("bias must be {} of N = {n} entries", a.dtype));
            }
            (true, Ref::Input(5))
        }
    };
    let total = m * n;
    if total == 0 {
        return Ok(Lowered::empty());
    }
    let p = NBitsParams {
        m: u32_of(m)?,
        n: u32_of(n)?,
        k: u32_of(k)?,
        block: u32_of(op.block_size)?,
        nblocks: u32_of(nb)?,
        blob: u32_of(blob)?,
        zp_row: u32_of(op.zp_row_bytes())?,
        pad0: 0,
    };
    u32_of(total)?;
    u32_of(bn)?;
    let gidx = match cx.inputs.get(4).and_then(|o| o.as_ref()) {
        None => None,
        Some(g) => {
            // Validated on the host: an out-of-range group would index past the scales.
            let v = g.value.as_ref().ok_or("MatMulNBits with a run-time g_idx has no GPU kernel")?;
            let groups = op.groups(Some(v))?;
            consts.push(Tensor::new(&[k], groups.iter().map(|&x| x as i32).collect::<Vec<_>>())?);
            Some(Ref::Const(consts.len() - 1))
        }
    };
    let gref = match gidx {
        Some(r) => r,
        None => dummy(&mut consts, DType::I32)?,
    };
    // Plan-time weights are repacked four bytes per word for the GEMV and tiled kernels.
    let (kernel, bind_b, grid) = match &b.value {
        Some(bv) if gidx.is_none() => {
            consts.push(pack_bytes(bv.as_slice::<u8>()?)?);
            let bref = Ref::Const(consts.len() - 1);
            if m == 1 {
                (NBitsKernel::Gemv, bref, grid_groups(n))
            } else {
                (NBitsKernel::Tiled, bref, grid_groups(m.div_ceil(16) * n.div_ceil(16)))
            }
        }
        _ => (NBitsKernel::Element, Ref::Input(1), grid_1d(total, 256)),
    };
    let v = NBitsVariant { t, bits: op.bits as u32, zp, bias, kernel, gidx: gidx.is_some() };
    let kernel = GpuKernel::new(KernelKey::Family(FamilyKey::ContribQuantNBits(v)), &p, grid);
    Ok(Lowered {
        dispatches: vec![LoweredDispatch {
            kernel,
            bindings: vec![Ref::Input(0), bind_b, Ref::Input(2), zref, bref, Ref::Output(0), gref],
        }],
        scratch: vec![],
        consts,
    })
}

/// Bytes packed four per u32 word, little-endian (the last word zero-padded).
fn pack_bytes(bytes: &[u8]) -> Result<Tensor, String> {
    let words: Vec<u32> =
        bytes.chunks(4).map(|c| c.iter().enumerate().fold(0u32, |w, (i, &b)| w | (b as u32) << (8 * i))).collect();
    Tensor::new(&[words.len().max(1)], if words.is_empty() { vec![0] } else { words })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_shader() {
        for kernel in [NBitsKernel::Element, NBitsKernel::Gemv, NBitsKernel::Tiled] {
            let v = NBitsVariant { t: GpuType::F32, bits: 4, zp: ZpMode::Packed, bias: true, kernel, gidx: false };
            crate::backend::wgpu::kernels::tests::check::<NBitsParams>(KernelKey::Family(
                FamilyKey::ContribQuantNBits(v),
            ));
        }
    }
}

// ---- QLinearAdd / QLinearMul / QLinearSoftmax -------------------------------------------------

/// Which quantized uint8/int8 kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QLinearKernel {
    Add,
    Mul,
    Softmax,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QLinearVariant {
    pub kind: QLinearKernel,
    /// int8 data (else uint8).
    pub signed: bool,
}

impl KernelVariant for QLinearVariant {
    fn file(&self) -> &'static ShaderFile {
        match self.kind {
            QLinearKernel::Softmax => &shaders::CONTRIB_QUANT_QLINEAR_SOFTMAX,
            _ => &shaders::CONTRIB_QUANT_QLINEAR_BINARY,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        p.bool("SIGNED", self.signed);
        if self.kind != QLinearKernel::Softmax {
            p.bool("MUL", self.kind == QLinearKernel::Mul);
        }
    }
    fn storage_bindings(&self) -> u32 {
        3
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for kind in [QLinearKernel::Add, QLinearKernel::Mul, QLinearKernel::Softmax] {
            for signed in [false, true] {
                v.push(QLinearVariant { kind, signed });
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/contrib_quant/qlinear_binary.wgsl` Params.
    QBinaryParams {
        n: u32,
        rank: u32,
        pad0: u32,
        pad1: u32,
        dims: super::Dims8,
        sa: super::Dims8,
        sb: super::Dims8,
        a_scale: f32,
        a_zp: f32,
        b_scale: f32,
        b_zp: f32,
        c_scale: f32,
        c_zp: f32,
        pad2: u32,
        pad3: u32,
    }
);

gpu_params!(
    /// `shaders/contrib_quant/qlinear_softmax.wgsl` Params.
    QSoftmaxParams { rows: u32, d: u32, inner: u32, y_zp: i32, y_scale: f32, pad0: u32, pad1: u32, pad2: u32 }
);

fn signed_of(d: DType, what: &str) -> Result<bool, String> {
    match d {
        DType::U8 => Ok(false),
        DType::I8 => Ok(true),
        _ => Err(format!("{what} on {d} has no GPU kernel")),
    }
}

/// A plan-time scalar parameter (scale or zero point); `default` when the input is absent.
fn plan_scalar(cx: &LowerCx, i: usize, default: Option<f64>, what: &str) -> Result<f64, String> {
    match cx.inputs.get(i).and_then(|o| o.as_ref()) {
        None => default.ok_or_else(|| format!("{what} (input {i}) is required")),
        Some(o) => {
            let v = o.value.as_ref().ok_or_else(|| format!("{what} is only known at run time: no GPU kernel"))?;
            let f = v.to_f64_vec()?;
            if f.len() != 1 {
                return Err(format!("{what} must have one element, got {}", f.len()));
            }
            Ok(f[0])
        }
    }
}

pub fn lower_qlinear_binary(
    _l: &GpuLowering,
    cx: &LowerCx,
    q: &crate::ops::contrib_quant::QLinearBinary,
) -> Result<Lowered<GpuKernel>, String> {
    use crate::tensor::shape::broadcast_strides;
    let (a, b, c) = (cx.input(0)?, cx.input(3)?, cx.output(0)?);
    let signed = signed_of(a.dtype, "QLinearAdd/QLinearMul")?;
    if b.dtype != a.dtype || c.dtype != a.dtype {
        return Err("QLinearAdd/QLinearMul need one data type".into());
    }
    let out = &c.shape;
    let n: usize = out.iter().product();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let f = |i, d, w| plan_scalar(cx, i, d, w).map(|v| v as f32);
    let p = QBinaryParams {
        n: u32_of(n)?,
        rank: u32_of(out.len())?,
        dims: super::dims8(out)?,
        sa: super::dims8(&broadcast_strides(&a.shape, out))?,
        sb: super::dims8(&broadcast_strides(&b.shape, out))?,
        a_scale: f(1, None, "A_scale")?,
        a_zp: f(2, Some(0.0), "A_zero_point")?,
        b_scale: f(4, None, "B_scale")?,
        b_zp: f(5, Some(0.0), "B_zero_point")?,
        c_scale: f(6, None, "C_scale")?,
        c_zp: f(7, Some(0.0), "C_zero_point")?,
        ..Default::default()
    };
    let kind = if q.mul { QLinearKernel::Mul } else { QLinearKernel::Add };
    let key = KernelKey::Family(FamilyKey::ContribQuantQLinear(QLinearVariant { kind, signed }));
    Ok(Lowered {
        dispatches: vec![LoweredDispatch {
            kernel: GpuKernel::new(key, &p, grid_1d(n, 256)),
            bindings: vec![Ref::Input(0), Ref::Input(3), Ref::Output(0)],
        }],
        scratch: vec![],
        consts: vec![],
    })
}

pub fn lower_qlinear_softmax(
    _l: &GpuLowering,
    cx: &LowerCx,
    q: &crate::ops::contrib_quant::QLinearSoftmax,
) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let signed = signed_of(x.dtype, "QLinearSoftmax")?;
    let shape = &x.shape;
    let axis = q.norm_axis(shape.len())?;
    let total: usize = shape.iter().product();
    if total == 0 {
        return Ok(Lowered::empty());
    }
    let (d, inner) = if q.opset < 13 {
        (shape[axis..].iter().product::<usize>(), 1)
    } else {
        (shape.get(axis).copied().unwrap_or(1), shape[axis + 1..].iter().product::<usize>())
    };
    let x_s = plan_scalar(cx, 1, None, "X_scale")? as f32;
    let y_s = plan_scalar(cx, 3, None, "Y_scale")? as f32;
    let y_z = plan_scalar(cx, 4, Some(0.0), "Y_zero_point")? as i32;
    let table = crate::ops::contrib_quant::exp_table(x_s, d, signed);
    let p = QSoftmaxParams {
        rows: u32_of(total / d)?,
        d: u32_of(d)?,
        inner: u32_of(inner)?,
        y_zp: y_z,
        y_scale: (1.0f32 / y_s).floor(),
        ..Default::default()
    };
    u32_of(total)?;
    let key =
        KernelKey::Family(FamilyKey::ContribQuantQLinear(QLinearVariant { kind: QLinearKernel::Softmax, signed }));
    Ok(Lowered {
        dispatches: vec![LoweredDispatch {
            kernel: GpuKernel::new(key, &p, grid_1d(total / d, 64)),
            bindings: vec![Ref::Input(0), Ref::Const(0), Ref::Output(0)],
        }],
        scratch: vec![],
        consts: vec![Tensor::new(&[256], table.to_vec())?],
    })
}

#[cfg(test)]
mod qlinear_tests {
    use super::*;

    #[test]
    fn params_match_shaders() {
        let k = |kind| KernelKey::Family(FamilyKey::ContribQuantQLinear(QLinearVariant { kind, signed: true }));
        crate::backend::wgpu::kernels::tests::check::<QBinaryParams>(k(QLinearKernel::Add));
        crate::backend::wgpu::kernels::tests::check::<QSoftmaxParams>(k(QLinearKernel::Softmax));
    }
}
