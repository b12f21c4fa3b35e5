//! The packed int8 product (`dp4_lib.wgsl` with the tiled `matmul_dp4.wgsl` and the
//! few-row `matmul_dp4_gemv.wgsl`) that MatMulInteger, QLinearMatMul, QGemm,
//! MatMulIntegerToFloat / DynamicQuantizeMatMul and ConvInteger / QLinearConv (as an implicit
//! GEMM) run on, one dispatch per product.
//!
//! Storage: 8-bit values live one per 32-bit word on the GPU (the storage policy of
//! `types.rs`). The product multiplies them four at a time along K as the signed bytes
//! `dot4I8Packed` takes (WGSL's `packed_4x8_integer_dot_product`; naga emits SPIR-V `OpSDot`
//! where the device has `VK_KHR_shader_integer_dot_product`, lavapipe included, and a
//! bit-extract polyfill elsewhere). A uint8 value is taken as `v - 128`, so any mix of
//! signedness is one signed product; the offsets and zero points are folded in by algebra with
//! row/column sums (see the shader's header), so results are exact int32, identical to the
//! reference.
//! - Constant operands (weights) are packed on the host at plan time, with their row sums
//!   (the "column sums" of B), and uploaded once as plan constants ([`Src::Packed`]).
//! - Run-time operands are read in their one-value-per-word storage and packed by the product
//!   as it stages them ([`Src::Raw`], through element strides); their sums, when needed, are
//!   computed by the product too (`SA_CALC` / `SB_CALC`, a `dot4I8Packed` with 0x01010101 per
//!   word). No separate pack dispatch runs.
//! - A convolution's input is read in im2col order ([`Src::Im2Col`]: the window geometry in
//!   the uniforms, padding reading the zero point), or as a raw operand where the window is
//!   the identity (1 x 1, stride 1, no padding), so ConvInteger/QLinearConv are one GEMM per
//!   (image, group) with the weights as A.

use super::convert::{codec_prelude, Layout};
use super::{u32_of, FamilyKey, GpuKernel, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::plan::{Lowered, LoweredDispatch, Operand, Ref};
use crate::tensor::{DType, Tensor};

/// The shape of the product's kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    /// `matmul_dp4.wgsl`: 64 x 64 outputs per workgroup of 16 x 16 invocations (4 x 4 each),
    /// 16 words (64 values) of K staged per step.
    Big,
    /// `matmul_dp4_gemv.wgsl`: up to four rows, one workgroup of 64 per 8 output columns.
    Gemv,
}

/// Rows up to which the GEMV kernel runs, and its columns per workgroup (GC).
const GEMV_ROWS: usize = 4;
const GEMV_COLS: usize = 8;
/// The tiled kernel's workgroup (WG_R, WG_C) and staged words of K (BK).
const TILE: (u32, u32, u32) = (16, 16, 16);

impl Tile {
    /// The kernel for an M-row product.
    pub fn for_rows(m: usize) -> Tile {
        if m <= GEMV_ROWS {
            Tile::Gemv
        } else {
            Tile::Big
        }
    }
    /// The dispatch grid of an m x n product over `batches`.
    fn grid(self, m: usize, n: usize, batches: usize) -> [usize; 3] {
        match self {
            Tile::Big => [n.div_ceil(4 * TILE.1 as usize), m.div_ceil(4 * TILE.0 as usize), batches],
            Tile::Gemv => {
                let groups = n.div_ceil(GEMV_COLS);
                [groups.min(65535), groups.div_ceil(65535), batches]
            }
        }
    }
}

/// What the product does with each int32 sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Epi {
    /// Store it (MatMulInteger, ConvInteger, an int32 scratch).
    Int,
    /// QLinearMatMul / QLinearConv requantization through the exact codec library.
    QLinear,
    /// QGemm to float32: `scale_j * acc`.
    QGemmF32,
    /// QGemm requantized as MLAS does.
    QGemmQ,
    /// MatMulIntegerToFloat: `(a_s * b_s_j) * acc` (+ a float32 bias after the scaling).
    Float,
}

impl Epi {
    const ALL: [Epi; 5] = [Epi::Int, Epi::QLinear, Epi::QGemmF32, Epi::QGemmQ, Epi::Float];
}

/// Where the product reads an operand's words from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src {
    /// Packed on the host ([batch][rows][k4] words).
    Packed,
    /// One value per word, packed as the product reads it (element strides).
    Raw,
    /// A convolution's input in im2col order (B only).
    Im2Col,
}

impl Src {
    const ALL: [Src; 3] = [Src::Packed, Src::Raw, Src::Im2Col];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dp4Variant {
    pub tile: Tile,
    pub a_src: Src,
    pub b_src: Src,
    pub sa_calc: bool,
    pub sb_calc: bool,
    pub epi: Epi,
    pub bias: bool,
    /// The QLinear scales' layout (Word or Half); Word otherwise.
    pub s_layout: Layout,
}

impl KernelVariant for Dp4Variant {
    fn file(&self) -> &'static ShaderFile {
        match self.tile {
            Tile::Big => &shaders::QUANT_MATMUL_DP4,
            Tile::Gemv => &shaders::QUANT_MATMUL_DP4_GEMV,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.lib(&shaders::QUANT_REQUANT_LIB).lib(&shaders::QUANT_DP4_LIB);
        if self.tile == Tile::Big {
            p.u32("WG_R", TILE.0).u32("WG_C", TILE.1).u32("BK", TILE.2);
        }
        p.codes("SRC", &Src::ALL, |s| s as u32).u32("A_SRC", self.a_src as u32).u32("B_SRC", self.b_src as u32);
        p.bool("SA_CALC", self.sa_calc).bool("SB_CALC", self.sb_calc);
        p.codes("EPI", &Epi::ALL, |e| e as u32).u32("EPI", self.epi as u32);
        p.bool("HAS_BIAS", self.bias).u32("S_LAYOUT", self.s_layout as u32);
    }
    fn storage_bindings(&self) -> u32 {
        12
    }
    fn all() -> Vec<Self> {
        // Sums are computed in the kernel only for operands it packs itself; im2col is B's.
        let a_srcs = [(Src::Packed, false), (Src::Raw, false), (Src::Raw, true)];
        let b_srcs =
            [(Src::Packed, false), (Src::Raw, false), (Src::Raw, true), (Src::Im2Col, false), (Src::Im2Col, true)];
        let mut v = Vec::new();
        for tile in [Tile::Big, Tile::Gemv] {
            for (a_src, sa_calc) in a_srcs {
                for (b_src, sb_calc) in b_srcs {
                    for epi in Epi::ALL {
                        for bias in [false, true] {
                            for s_layout in [Layout::Word, Layout::Half] {
                                if s_layout == Layout::Half && epi != Epi::QLinear {
                                    continue;
                                }
                                v.push(Dp4Variant { tile, a_src, b_src, sa_calc, sb_calc, epi, bias, s_layout });
                            }
                        }
                    }
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/quant/dp4_lib.wgsl` Params (both product kernels).
    Dp4Params {
        m: u32,
        n: u32,
        k: u32,
        k4: u32,
        batch_rank: u32,
        row_mod: u32,
        az_row: u32,
        bz_col: u32,
        oa: i32,
        ob: i32,
        sa_buf: u32,
        sb_buf: u32,
        bias_row: u32,
        bias_col: u32,
        as_row: u32,
        bs_col: u32,
        s_fmt: u32,
        ts_fmt: u32,
        lo: i32,
        hi: i32,
        y_zp: i32,
        a_sr: u32,
        a_sk: u32,
        b_sr: u32,
        b_sk: u32,
        isz: u32,
        ksz: u32,
        nd: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
        pad3: u32,
        batch: super::Dims8,
        a_strides: super::Dims8,
        b_strides: super::Dims8,
        in_sp: super::Dims8,
        out_sp: super::Dims8,
        kernel: super::Dims8,
        strides: super::Dims8,
        dilations: super::Dims8,
        pads: super::Dims8,
    }
);

/// Words per packed row of `k` values (at least one, so that sums index by `offset / k4`).
pub fn k_words(k: usize) -> usize {
    k.div_ceil(4).max(1)
}

/// The byte offset making 8-bit values signed: 128 for uint8, 0 for int8.
pub fn offset(d: DType) -> i32 {
    if d == DType::U8 {
        128
    } else {
        0
    }
}

/// Whether a zero point (`z`: the operand of an optional input; absent means 0) may differ
/// from `off` anywhere, i.e. whether its coefficient `z - off` in the product may be nonzero.
pub fn may_differ(z: Option<&Operand>, off: i32) -> Result<bool, String> {
    match z {
        None => Ok(off != 0),
        Some(o) => match &o.value {
            Some(t) => Ok(t.to_i64_vec()?.iter().any(|&v| v != off as i64)),
            None => Ok(true),
        },
    }
}

/// A row-major operand as `mats` matrices of `rows` x `k` logical values: value (b, r, t) at
/// element `b * rows * k + r * sr + t * sk` of the tensor bound at `r#ref`.
pub struct MatSrc<'a> {
    pub r#ref: Ref,
    pub op: &'a Operand,
    pub mats: usize,
    pub rows: usize,
    pub k: usize,
    pub sr: usize,
    pub sk: usize,
}

/// Where the product finds an operand's row sums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sums {
    /// Not needed (their coefficient is zero).
    None,
    /// A plan constant (one per packed row).
    Buf(Ref),
    /// Computed by the product.
    Calc,
}

fn push_const(out: &mut Lowered<GpuKernel>, t: Tensor) -> Ref {
    out.consts.push(t);
    Ref::Const(out.consts.len() - 1)
}

/// A one-element zero constant for an unused binding.
pub fn dummy(out: &mut Lowered<GpuKernel>) -> Result<Ref, String> {
    Ok(push_const(out, Tensor::zeros(DType::I32, &[1])?))
}

/// Packs `vals` (mats x rows x k values through `sr`/`sk`) on the host: the words and each
/// row's sum of `v - off`.
pub fn pack_host(vals: &[i64], s: &MatSrc, off: i32) -> Result<(Vec<i32>, Vec<i32>), String> {
    let k4 = k_words(s.k);
    let mut words = vec![0i32; s.mats * s.rows * k4];
    let mut sums = vec![0i32; s.mats * s.rows];
    for b in 0..s.mats {
        for r in 0..s.rows {
            let row = b * s.rows + r;
            for t in 0..s.k {
                let i = b * s.rows * s.k + r * s.sr + t * s.sk;
                let v = *vals.get(i).ok_or("packed operand index out of range")? - off as i64;
                if !(-128..=127).contains(&v) {
                    return Err(format!("value {} is not 8-bit", v + off as i64));
                }
                sums[row] = sums[row].wrapping_add(v as i32);
                words[row * k4 + t / 4] |= (((v as i32) & 0xff) << (8 * (t % 4))) as u32 as i32;
            }
        }
    }
    Ok((words, sums))
}

/// An operand as the product reads it: its binding, source, row sums, batch strides (packed
/// words for `Src::Packed`, elements otherwise), and for `Src::Raw` the element strides of a
/// row and of K; for `Src::Im2Col`, the convolution window.
pub struct Dp4Operand {
    pub r#ref: Ref,
    pub src: Src,
    pub sums: Sums,
    pub strides: Vec<usize>,
    pub sr: usize,
    pub sk: usize,
    pub im2col: Option<Im2Col>,
}

/// An operand of the product (`need_sums`: whether the product needs its row sums), batches
/// at element strides `elem_strides`. Constants are packed on the host (their batch strides
/// become word strides: each matrix of `rows * k` values takes `rows * k4` words); run-time
/// values are read raw.
pub fn operand(
    out: &mut Lowered<GpuKernel>,
    s: &MatSrc,
    need_sums: bool,
    elem_strides: &[usize],
) -> Result<Dp4Operand, String> {
    let off = offset(s.op.dtype);
    let k4 = k_words(s.k);
    u32_of(s.mats * s.rows * k4)?;
    u32_of(s.mats * s.rows * s.k)?;
    if let Some(t) = &s.op.value {
        let (words, sums) = pack_host(&t.to_i64_vec()?, s, off)?;
        let w = push_const(out, Tensor::new(&[words.len()], words)?);
        let sums = if need_sums { Sums::Buf(push_const(out, Tensor::new(&[sums.len()], sums)?)) } else { Sums::None };
        let strides = word_strides(elem_strides, s.rows * s.k, s.rows * k4);
        return Ok(Dp4Operand { r#ref: w, src: Src::Packed, sums, strides, sr: 0, sk: 0, im2col: None });
    }
    Ok(Dp4Operand {
        r#ref: s.r#ref,
        src: Src::Raw,
        sums: if need_sums { Sums::Calc } else { Sums::None },
        strides: elem_strides.to_vec(),
        sr: s.sr,
        sk: s.sk,
        im2col: None,
    })
}

/// A convolution window read in im2col order as the implicit GEMM's B^T: column = output
/// position, K = cg * ksz (channel-major, then the window); the batch strides of the operand
/// carry the (image, group) base channel.
#[derive(Clone, Debug)]
pub struct Im2Col {
    pub cg: usize,
    pub kernel: Vec<usize>,
    pub in_sp: Vec<usize>,
    pub out_sp: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads: Vec<usize>,
}

impl Im2Col {
    /// Whether the window maps output position r to input position r (1 x 1, stride 1, no
    /// padding): then the input is a plain raw operand, rows at stride 1, K at the plane size.
    pub fn is_identity(&self) -> bool {
        self.kernel.iter().all(|&k| k == 1)
            && self.strides.iter().all(|&s| s == 1)
            && self.pads.iter().all(|&p| p == 0)
            && self.in_sp == self.out_sp
    }
}

/// The requantization / epilogue inputs of the product: bindings for A's and B's scales,
/// y's scale and zero point, and the bias (dummies where unused).
pub struct EpiRefs {
    pub a_s: Ref,
    pub b_s: Ref,
    pub y_s: Ref,
    pub yz: Ref,
    pub bias: Option<Ref>,
}

/// The product of two operands: `m` x `n` per batch, batches over `batch` dims (with each
/// operand's strides); the zero points' bindings and whether they are per row/column; `p`
/// carries the epilogue fields (scales' formats, lo/hi, bias strides...), whose geometry
/// fields are filled here.
#[allow(clippy::too_many_arguments)]
pub fn product(
    out: &mut Lowered<GpuKernel>,
    a: Dp4Operand,
    b: Dp4Operand,
    (az, az_row): (Ref, bool),
    (bz, bz_col): (Ref, bool),
    (oa, ob): (i32, i32),
    batch: &[usize],
    epi: Epi,
    s_layout: Layout,
    refs: EpiRefs,
    mut p: Dp4Params,
    y: Ref,
) -> Result<(), String> {
    let (m, n) = (p.m as usize, p.n as usize);
    let tile = Tile::for_rows(m);
    let batches: usize = batch.iter().product();
    let grid = tile.grid(m, n, batches);
    if grid.iter().any(|&g| g > 65535) {
        return Err(format!("a {batches} x {m} x {n} int8 product exceeds the dispatch grid"));
    }
    if batch.len() > 8 {
        return Err("more than 8 batch dims".into());
    }
    if a.src == Src::Im2Col {
        return Err("A cannot be read in im2col order".into());
    }
    u32_of(batches * m * n)?;
    p.k4 = u32_of(k_words(p.k as usize))?;
    p.batch_rank = batch.len() as u32;
    p.batch = super::dims8(batch)?;
    p.a_strides = super::dims8(&a.strides)?;
    p.b_strides = super::dims8(&b.strides)?;
    (p.a_sr, p.a_sk, p.b_sr, p.b_sk) = (u32_of(a.sr)?, u32_of(a.sk)?, u32_of(b.sr)?, u32_of(b.sk)?);
    if let Some(c) = &b.im2col {
        if c.kernel.len() > 8 {
            return Err("more than 8 spatial dims".into());
        }
        p.isz = u32_of(c.in_sp.iter().product())?;
        p.ksz = u32_of(c.kernel.iter().product())?;
        p.nd = c.kernel.len() as u32;
        p.in_sp = super::dims8(&c.in_sp)?;
        p.out_sp = super::dims8(&c.out_sp)?;
        p.kernel = super::dims8(&c.kernel)?;
        p.strides = super::dims8(&c.strides)?;
        p.dilations = super::dims8(&c.dilations)?;
        p.pads = super::dims8(&c.pads)?;
    }
    p.az_row = az_row as u32;
    p.bz_col = bz_col as u32;
    p.oa = oa;
    p.ob = ob;
    if p.row_mod == 0 {
        p.row_mod = 1;
    }
    let sum_ref = |s: Sums, buf: &mut u32, out: &mut Lowered<GpuKernel>| -> Result<Ref, String> {
        match s {
            Sums::Buf(r) => {
                *buf = 1;
                Ok(r)
            }
            _ => dummy(out),
        }
    };
    let (mut sa_buf, mut sb_buf) = (0, 0);
    let sa_ref = sum_ref(a.sums, &mut sa_buf, out)?;
    let sb_ref = sum_ref(b.sums, &mut sb_buf, out)?;
    p.sa_buf = sa_buf;
    p.sb_buf = sb_buf;
    let bias = match refs.bias {
        Some(r) => r,
        None => dummy(out)?,
    };
    let v = Dp4Variant {
        tile,
        a_src: a.src,
        b_src: b.src,
        sa_calc: a.sums == Sums::Calc,
        sb_calc: b.sums == Sums::Calc,
        epi,
        bias: refs.bias.is_some(),
        s_layout,
    };
    let k = GpuKernel::new(
        KernelKey::Family(FamilyKey::QuantMatMulDp4(v)),
        &p,
        [grid[0] as u32, grid[1] as u32, grid[2] as u32],
    );
    out.dispatches.push(LoweredDispatch {
        kernel: k,
        bindings: vec![a.r#ref, b.r#ref, az, bz, sa_ref, sb_ref, bias, refs.a_s, refs.b_s, refs.y_s, refs.yz, y],
    });
    Ok(())
}

/// Packed word strides of a matmul operand's batch dims from its element strides
/// (`mat`: elements per matrix, `words`: packed words per matrix).
pub fn word_strides(elem: &[usize], mat: usize, words: usize) -> Vec<usize> {
    elem.iter().map(|&s| s.checked_div(mat).unwrap_or(0) * words).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match() {
        let v = Dp4Variant {
            tile: Tile::Big,
            a_src: Src::Raw,
            b_src: Src::Im2Col,
            sa_calc: true,
            sb_calc: false,
            epi: Epi::QLinear,
            bias: true,
            s_layout: Layout::Half,
        };
        check::<Dp4Params>(KernelKey::Family(FamilyKey::QuantMatMulDp4(v)));
        check::<Dp4Params>(KernelKey::Family(FamilyKey::QuantMatMulDp4(Dp4Variant { tile: Tile::Gemv, ..v })));
    }

    #[test]
    fn host_packing_offsets_and_sums() {
        // A 2 x 5 uint8 matrix: bytes v - 128, zero past K = 5, row sums of v - 128.
        let vals: Vec<i64> = vec![0, 255, 128, 1, 200, 10, 20, 30, 40, 50];
        let op = Operand { dtype: DType::U8, shape: vec![2, 5], value: None };
        let s = MatSrc { r#ref: Ref::Input(0), op: &op, mats: 1, rows: 2, k: 5, sr: 5, sk: 1 };
        let (w, sums) = pack_host(&vals, &s, 128).unwrap();
        assert_eq!(w.len(), 4);
        let bytes = |x: i32| (0..4).map(|q| ((x as u32) >> (8 * q)) as u8 as i8 as i64).collect::<Vec<_>>();
        assert_eq!(bytes(w[0]), vec![-128, 127, 0, -127]);
        assert_eq!(bytes(w[1]), vec![72, 0, 0, 0]);
        assert_eq!(sums[0], vals[..5].iter().map(|v| (v - 128) as i32).sum::<i32>());
        // Read transposed (B as B^T): rows are the 5 columns of a 2 x 5 matrix.
        let s = MatSrc { r#ref: Ref::Input(0), op: &op, mats: 1, rows: 5, k: 2, sr: 1, sk: 5 };
        let (w, sums) = pack_host(&vals, &s, 128).unwrap();
        assert_eq!(bytes(w[1]), vec![127, -108, 0, 0]);
        assert_eq!(sums[1], 127 - 108);
    }
}
