//! Matrix-product kernels: MatMul with broadcast batch dims (up to 4) and Gemm with transposes
//! read through strides and C broadcast through zero strides, in five tile configurations
//! ([`Algo`]) sharing `shaders/matmul/matmul_lib.wgsl` (Params, the epilogue) and the operand
//! loads of `matmul_{a,b}[4]_lib.wgsl`: tiled through workgroup memory with 4×4 or 8×8 register
//! blocks per invocation (`matmul.wgsl`), register-blocked straight from storage
//! (`matmul_direct.wgsl`), and GEMVs for small M that read each weight once per row (`matmul_gemv.wgsl`, `matmul_gemv_sg.wgsl` with subgroup
//! reductions). f16 storage accumulates in f32 unless the session allows f16 accumulation.
//! The epilogue (bias C through broadcast strides, any [`ActKind`] activation) runs in every
//! configuration, so a fused product is one dispatch; the tiled kernels read A and B as vec4
//! where their strides and sizes allow it ([`vec4_ok`]; else the scalar variant).
//! Which configuration runs is [`MatMulConfig::choose`]: the autotuner's cached winner for the
//! (adapter, shape class), or a deterministic default (see `backend/wgpu/tune.rs`).
//! A weight larger than the adapter's binding limit is bound in aligned slices: split along N
//! when its rows are output columns (B transposed), else along K with the partial products
//! accumulated into Y.

use super::{u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::backend::wgpu::tune::Tuner;
use crate::gpu_params;
use crate::ops::fused::{Act, ActKind};
use crate::ops::matmul::{matmul_layout, Gemm};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::shape::broadcast_strides;
use std::sync::Arc;

/// A tile configuration of the matrix-product kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algo {
    /// Workgroup-memory tiles of 64×64, 4×4 outputs per invocation, K staged 16 at a time.
    Tile64,
    /// Workgroup-memory tiles of 128×128, 8×8 outputs per invocation, K staged 8 at a time.
    Tile128,
    /// 32×32 tiles, 4×4 outputs per invocation read straight from storage (no barriers).
    Direct,
    /// One row of A per workgroup row, 64 columns × 4 K-slices per workgroup.
    Gemv,
    /// One output element per 64-invocation workgroup, reduced with subgroupAdd.
    GemvSubgroup,
}

impl Algo {
    pub const ALL: [Algo; 5] = [Algo::Tile64, Algo::Tile128, Algo::Direct, Algo::Gemv, Algo::GemvSubgroup];

    pub fn name(self) -> &'static str {
        match self {
            Algo::Tile64 => "tile64",
            Algo::Tile128 => "tile128",
            Algo::Direct => "direct4x4",
            Algo::Gemv => "gemv",
            Algo::GemvSubgroup => "gemv_subgroup",
        }
    }

    pub fn from_name(s: &str) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.name() == s)
    }

    /// The workgroup grid for an m×n product of `batch` matrices, or why it does not fit.
    pub fn grid(self, m: usize, n: usize, batch: usize) -> Result<[u32; 3], String> {
        let (x, y) = match self {
            Algo::Tile64 => (n.div_ceil(64), m.div_ceil(64)),
            Algo::Tile128 => (n.div_ceil(128), m.div_ceil(128)),
            Algo::Direct => (n.div_ceil(32), m.div_ceil(32)),
            Algo::Gemv => (n.div_ceil(64), m),
            Algo::GemvSubgroup => (n, m),
        };
        if x > 65535 || y > 65535 || batch > 65535 {
            return Err(format!("MatMul grid {x}×{y}×{batch} exceeds 65535 workgroups per dimension"));
        }
        Ok([x as u32, y as u32, batch as u32])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatMulVariant {
    pub t: GpuType,
    pub bias: bool,
    pub algo: Algo,
    /// Accumulate in f16 (only with f16 storage).
    pub f16_acc: bool,
    /// Epilogue activation (after alpha · AB + beta · C).
    pub act: ActKind,
    /// The tiled kernels read A (B) as vec4 ([`vec4_ok`]).
    pub vec4_a: bool,
    pub vec4_b: bool,
    /// A residual R with the result's layout is added after C (binding 4).
    pub residual: bool,
}

impl MatMulVariant {
    pub fn new(t: GpuType, bias: bool, algo: Algo) -> Self {
        MatMulVariant {
            t,
            bias,
            algo,
            f16_acc: false,
            act: ActKind::None,
            vec4_a: false,
            vec4_b: false,
            residual: false,
        }
    }

    pub fn file(&self) -> &'static ShaderFile {
        match self.algo {
            Algo::Tile64 | Algo::Tile128 => &shaders::MATMUL,
            Algo::Direct => &shaders::MATMUL_DIRECT,
            Algo::Gemv => &shaders::MATMUL_GEMV,
            Algo::GemvSubgroup => &shaders::MATMUL_GEMV_SG,
        }
    }

    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("HAS_BIAS", self.bias).bool("HAS_RES", self.residual);
        p.alias("ACC", if self.f16_acc && self.t == GpuType::F16 { "f16" } else { "f32" });
        let (rm, tk) = match self.algo {
            Algo::Tile128 => (8, 8),
            _ => (4, 16),
        };
        p.u32("RM", rm).u32("RN", rm).u32("TK", tk);
        super::conv::act_prelude(p, self.act);
        p.bool("VEC4_A", self.vec4_a).bool("VEC4_B", self.vec4_b);
        p.lib(if self.vec4_a { &shaders::MATMUL_A4_LIB } else { &shaders::MATMUL_A_LIB });
        p.lib(if self.vec4_b { &shaders::MATMUL_B4_LIB } else { &shaders::MATMUL_B_LIB });
        p.lib(&shaders::MATMUL_LIB);
    }

    /// The variants another shape of the same product may pick: the vec4 loads follow the
    /// operands' alignment, which a symbolic dim can change from one run to the next (bert at
    /// sequence 128 vs 17), so a stage compiles the scalar-load siblings of a vec4 variant as
    /// well and later shapes compile nothing.
    pub fn alignment_siblings(&self) -> Vec<MatMulVariant> {
        let mut out = Vec::new();
        for a in [false, self.vec4_a] {
            for b in [false, self.vec4_b] {
                if (a, b) != (self.vec4_a, self.vec4_b)
                    && !out.iter().any(|v: &MatMulVariant| (v.vec4_a, v.vec4_b) == (a, b))
                {
                    out.push(MatMulVariant { vec4_a: a, vec4_b: b, ..*self });
                }
            }
        }
        out
    }

    /// With the vec4 operand loads of the tiled kernels where `p`'s strides allow them.
    fn with_vec4(self, p: &MatMulParams) -> Self {
        let tiled = matches!(self.algo, Algo::Tile64 | Algo::Tile128);
        MatMulVariant {
            vec4_a: tiled && vec4_ok(p.a_col, p.a_row, p.k, p.a_off, &p.a_batch),
            vec4_b: tiled && vec4_ok(p.b_col, p.b_row, p.n, 0, &p.b_batch),
            ..self
        }
    }
}

/// Whether an operand may be bound as vec4 and read four elements at a time along its rows:
/// contiguous rows (`inner` stride 1) whose length `extent` (K for A, N for B), stride `row`,
/// start `off` and batch strides are all multiples of 4, so that every vec4 the tile loads
/// read is aligned and wholly inside or outside a row (and the binding a whole number of vec4).
pub fn vec4_ok(inner: u32, row: u32, extent: u32, off: u32, batch: &[u32; 4]) -> bool {
    inner == 1 && row % 4 == 0 && extent % 4 == 0 && off % 4 == 0 && batch.iter().all(|s| s % 4 == 0)
}

/// How a session's matrix products pick their kernel.
#[derive(Clone, Default)]
pub struct MatMulConfig {
    /// f16 inputs may accumulate in f16 (`SessionBuilder::f16_accumulation`).
    pub f16_acc: bool,
    /// The adapter has subgroup operations.
    pub subgroups: bool,
    /// The adapter is a CPU (lavapipe, llvmpipe, WARP): its default prefers [`Algo::Direct`].
    pub cpu_adapter: bool,
    /// The autotuner (None: the deterministic default only).
    pub tuner: Option<Arc<Tuner>>,
    /// A configuration forced by `ONNX_WGPU_MATMUL=<name>` (tests and benchmarks), used wherever
    /// its grid fits.
    pub forced: Option<Algo>,
}

/// A 2-D problem as the tuner sees it.
#[derive(Clone, Copy, Debug)]
pub struct Problem {
    pub t: GpuType,
    pub f16_acc: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// B's (row, col) strides: (1, k) when transposed.
    pub b: (usize, usize),
    /// Matrices in the batch (timed as separate A and B per matrix).
    pub batch: usize,
}

impl MatMulConfig {
    /// The configurations worth trying for an m×n product (grid limits checked by the caller).
    pub fn candidates(&self, m: usize) -> Vec<Algo> {
        let mut v = Vec::new();
        if m <= 8 {
            v.push(Algo::Gemv);
            if self.subgroups {
                v.push(Algo::GemvSubgroup);
            }
            v.push(Algo::Direct);
        } else {
            v.extend([Algo::Tile64, Algo::Tile128, Algo::Direct]);
        }
        v
    }

    /// The deterministic choice when nothing is tuned: a GEMV for M = 1, else 64×64 tiles (128×128
    /// on CPU adapters, where lavapipe's timings favour them by far: it runs invocations as SIMD
    /// lanes, so the fewer, larger register blocks win).
    pub fn default_algo(&self, m: usize) -> Algo {
        match (m, self.cpu_adapter) {
            (1, _) => Algo::Gemv,
            (_, true) => Algo::Tile128,
            _ => Algo::Tile64,
        }
    }

    /// The configuration for `prob`: a forced one, the tuner's cached or measured winner, else
    /// the default; always one whose grid fits.
    pub fn choose(&self, prob: &Problem) -> Algo {
        let batch = prob.batch;
        let fits = |a: Algo| a.grid(prob.m, prob.n, batch).is_ok();
        if let Some(f) = self.forced.filter(|&f| fits(f) && (f != Algo::GemvSubgroup || self.subgroups)) {
            return f;
        }
        let cands: Vec<Algo> = self.candidates(prob.m).into_iter().filter(|&a| fits(a)).collect();
        if cands.len() > 1 {
            if let Some(t) = &self.tuner {
                if let Some(a) = t.pick(prob, &cands) {
                    return a;
                }
            }
        }
        let d = self.default_algo(prob.m);
        if fits(d) {
            d
        } else {
            Algo::Tile64
        }
    }

    fn variant(&self, t: GpuType, bias: bool, algo: Algo) -> MatMulVariant {
        MatMulVariant { f16_acc: self.f16_acc && t == GpuType::F16, ..MatMulVariant::new(t, bias, algo) }
    }
}

gpu_params!(
    /// `shaders/matmul/matmul_lib.wgsl` Params.
    MatMulParams {
        m: u32,
        n: u32,
        k: u32,
        batch_rank: u32,
        a_row: u32,
        a_col: u32,
        b_row: u32,
        b_col: u32,
        c_row: u32,
        c_col: u32,
        alpha: f32,
        beta: f32,
        a_off: u32,
        c_off: u32,
        y_off: u32,
        y_row: u32,
        act_alpha: f32,
        act_beta: f32,
        pad0: u32,
        pad1: u32,
        batch_shape: [u32; 4],
        a_batch: [u32; 4],
        b_batch: [u32; 4],
        c_batch: [u32; 4],
        y_batch: [u32; 4],
    }
);

fn float_type(l: &GpuLowering, cx: &LowerCx) -> Result<GpuType, String> {
    let t = l.ty(cx.input(0)?)?;
    if !t.is_float() || t == GpuType::F64 {
        return Err(format!("matrix products of {} have no GPU kernel yet", cx.input(0)?.dtype));
    }
    Ok(t)
}

/// One 2-D product `Y = act(alpha·A·B + beta·C)` with element strides, before any splitting.
struct Gemm2d {
    t: GpuType,
    m: usize,
    n: usize,
    k: usize,
    a: (usize, usize),
    b: (usize, usize),
    /// C's strides when a bias is added.
    c: Option<(usize, usize)>,
    alpha: f32,
    beta: f32,
    act: Act,
    /// Bindings of A, B, C and the residual R (C and R repeat A when absent).
    refs: [Ref; 4],
    /// R is added (the product's own layout: no column blocks of a huge B then).
    residual: bool,
}

fn dispatch(
    v: MatMulVariant,
    m: usize,
    p: MatMulParams,
    refs: [Ref; 4],
    n: usize,
) -> Result<LoweredDispatch<GpuKernel>, String> {
    let grid = v.algo.grid(m, n, 1)?;
    let k = GpuKernel::new(KernelKey::MatMul(v), &p, grid);
    Ok(LoweredDispatch { kernel: k, bindings: vec![refs[0], refs[1], refs[2], Ref::Output(0), refs[3]] })
}

fn lower_2d(l: &GpuLowering, g: Gemm2d, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let u = u32_of;
    let (c_row, c_col) = g.c.unwrap_or((0, 0));
    let base = MatMulParams {
        m: u(g.m)?,
        n: u(g.n)?,
        k: u(g.k)?,
        a_row: u(g.a.0)?,
        a_col: u(g.a.1)?,
        b_row: u(g.b.0)?,
        b_col: u(g.b.1)?,
        c_row: u(c_row)?,
        c_col: u(c_col)?,
        alpha: g.alpha,
        beta: g.beta,
        y_row: u(g.n)?,
        act_alpha: g.act.alpha,
        act_beta: g.act.beta,
        ..Default::default()
    };
    let cfg = &l.matmul;
    let prob = Problem { t: g.t, f16_acc: cfg.f16_acc, m: g.m, n: g.n, k: g.k, b: g.b, batch: 1 };
    let algo = cfg.choose(&prob);
    let variant = |bias: bool| MatMulVariant { act: g.act.kind, residual: g.residual, ..cfg.variant(g.t, bias, algo) };
    let no_act = |bias: bool| MatMulVariant { act: ActKind::None, ..cfg.variant(g.t, bias, algo) };
    let esize = cx.input(1)?.dtype.bits() as u64 / 8;
    let b_bytes = (g.n * g.k) as u64 * esize;
    let limits = cx.limits;
    if b_bytes <= limits.max_binding {
        return Ok(Lowered {
            dispatches: vec![dispatch(variant(g.c.is_some()).with_vec4(&base), g.m, base, g.refs, g.n)?],
            scratch: vec![],
            consts: vec![],
        });
    }
    // B's contiguous rows run along N when B is read transposed (b_row = 1), else along K.
    let along_n = g.b.0 == 1;
    let row_elems = if along_n { g.k } else { g.n };
    let rows = if along_n { g.n } else { g.k };
    let row_bytes = row_elems as u64 * esize;
    let step = (limits.align / gcd(row_bytes, limits.align)).max(1);
    let mut per = (limits.max_binding / row_bytes) / step * step;
    if per == 0 {
        return Err(format!("one row of B ({row_bytes} bytes) exceeds the binding limit"));
    }
    per = per.min(rows as u64);
    let mut dispatches = Vec::new();
    let mut r0 = 0usize;
    while r0 < rows {
        let cnt = (per as usize).min(rows - r0);
        let slice = Ref::InputSlice {
            input: match g.refs[1] {
                Ref::Input(i) => i,
                _ => 1,
            },
            offset: r0 as u64 * row_bytes,
            size: cnt as u64 * row_bytes,
        };
        let mut p = base;
        if along_n {
            // Output columns [r0, r0 + cnt).
            p.n = u(cnt)?;
            p.y_off = u(r0)?;
            p.c_off = u(r0 * c_col)?;
            dispatches.push(dispatch(variant(g.c.is_some()), g.m, p, [g.refs[0], slice, g.refs[2], g.refs[3]], cnt)?);
        } else {
            // K rows [r0, r0 + cnt); after the first block, accumulate into Y. Only the first
            // block adds the residual, only the last applies the activation (to the complete
            // sum).
            p.k = u(cnt)?;
            p.a_off = u(r0 * g.a.1)?;
            let last = r0 + cnt >= rows;
            let v = |bias| {
                let base = if last { variant(bias) } else { no_act(bias) };
                MatMulVariant { residual: r0 == 0 && g.residual, ..base }
            };
            if r0 == 0 {
                dispatches.push(dispatch(v(g.c.is_some()), g.m, p, [g.refs[0], slice, g.refs[2], g.refs[3]], g.n)?);
            } else {
                p.beta = 1.0;
                p.c_row = u(g.n)?;
                p.c_col = 1;
                p.c_off = 0;
                dispatches.push(dispatch(v(true), g.m, p, [g.refs[0], slice, Ref::Output(0), g.refs[3]], g.n)?);
            }
        }
        r0 += cnt;
    }
    Ok(Lowered { dispatches, scratch: vec![], consts: vec![] })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub fn lower_matmul(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    lower_matmul_epilogue(l, cx, Product::plain(false, false, false, Act::NONE))
}

/// How a MatMul-like node reads its operands and what its epilogue adds.
#[derive(Clone, Debug)]
pub struct Product<'a> {
    /// A (B) is stored with its last two axes swapped (a folded Transpose).
    pub trans_a: bool,
    pub trans_b: bool,
    /// A (B) is read as `Transpose(input, perm)` before the swap; the result is stored as
    /// `Transpose(result, perm_y)` (see `FusedMatMul`).
    pub perm_a: Option<&'a [usize]>,
    pub perm_b: Option<&'a [usize]>,
    pub perm_y: Option<&'a [usize]>,
    /// The product's scale (before the bias).
    pub alpha: f32,
    /// Input 2 (broadcasting to the product's shape) is added.
    pub bias: bool,
    /// Input 3 (the product's shape, not permuted) is added after the bias.
    pub residual: bool,
    pub act: Act,
}

impl Product<'static> {
    /// A product without permuted operands.
    pub fn plain(trans_a: bool, trans_b: bool, bias: bool, act: Act) -> Self {
        Product { trans_a, trans_b, perm_a: None, perm_b: None, perm_y: None, alpha: 1.0, bias, residual: false, act }
    }
}

/// `act(MatMul(op(A), op(B)) + C)` in one dispatch (or one per binding-sized block of B): op
/// permutes and swaps the operand's axes as the product says (read through strides), C
/// broadcasts to the product, and the result is written through its (permuted) strides.
pub fn lower_matmul_epilogue(l: &GpuLowering, cx: &LowerCx, pr: Product) -> Result<Lowered<GpuKernel>, String> {
    let t = float_type(l, cx)?;
    let lay = matmul_layout(
        (&cx.input(0)?.shape, pr.perm_a, pr.trans_a),
        (&cx.input(1)?.shape, pr.perm_b, pr.trans_b),
        pr.perm_y,
    )?;
    let g = &lay.g;
    let (la_rank, lb_rank) = (cx.input(0)?.shape.len(), cx.input(1)?.shape.len());
    if g.batch.len() > 4 {
        return Err(format!("MatMul with {} batch dims has no GPU kernel (limit 4)", g.batch.len()));
    }
    let (a_st, b_st) = (lay.a, lay.b);
    // C's strides over (batch…, M, N): 0 along broadcast dims and along 1-D promotions.
    let c = if pr.bias { Some(cx.input(2)?) } else { None };
    let c_st = match c {
        Some(c) => {
            if c.shape.len() > g.out.len() {
                return Err(format!("the bias {:?} has more dims than the product {:?}", c.shape, g.out));
            }
            let cs = broadcast_strides(&c.shape, &g.out);
            let nb = g.batch.len();
            let mut rest = cs[nb..].iter().copied();
            let row = if la_rank == 1 { 0 } else { rest.next().unwrap_or(0) };
            let col = if lb_rank == 1 { 0 } else { rest.next().unwrap_or(0) };
            Some((cs[..nb].to_vec(), row, col))
        }
        None => None,
    };
    let refs = [
        Ref::Input(0),
        Ref::Input(1),
        if c.is_some() { Ref::Input(2) } else { Ref::Input(0) },
        if pr.residual { Ref::Input(3) } else { Ref::Input(0) },
    ];
    if pr.residual && (pr.perm_y.is_some() || cx.input(3)?.shape != g.out) {
        return Err(format!("a residual of shape {:?} does not match the product {:?}", cx.input(3)?.shape, g.out));
    }
    let batch: usize = g.batch.iter().product();
    if batch == 1 && lay.y_row == g.n {
        let g2 = Gemm2d {
            t,
            m: g.m,
            n: g.n,
            k: g.k,
            a: a_st,
            b: b_st,
            c: c_st.as_ref().map(|c| (c.1, c.2)),
            alpha: pr.alpha,
            beta: 1.0,
            act: pr.act,
            refs,
            residual: pr.residual,
        };
        return lower_2d(l, g2, cx);
    }
    let mut p = MatMulParams {
        m: u32_of(g.m)?,
        n: u32_of(g.n)?,
        k: u32_of(g.k)?,
        batch_rank: g.batch.len() as u32,
        a_row: u32_of(a_st.0)?,
        a_col: u32_of(a_st.1)?,
        b_row: u32_of(b_st.0)?,
        b_col: u32_of(b_st.1)?,
        alpha: pr.alpha,
        beta: 1.0,
        y_row: u32_of(lay.y_row)?,
        act_alpha: pr.act.alpha,
        act_beta: pr.act.beta,
        ..Default::default()
    };
    for (i, &s) in g.batch.iter().enumerate() {
        p.batch_shape[i] = u32_of(s)?;
        p.a_batch[i] = u32_of(lay.a_batch[i])?;
        p.b_batch[i] = u32_of(lay.b_batch[i])?;
        p.y_batch[i] = u32_of(lay.y_batch[i])?;
    }
    if let Some((cb, row, col)) = &c_st {
        p.c_row = u32_of(*row)?;
        p.c_col = u32_of(*col)?;
        for (i, &sc) in cb.iter().enumerate() {
            p.c_batch[i] = u32_of(sc)?;
        }
    }
    let cfg = &l.matmul;
    let prob = Problem { t, f16_acc: cfg.f16_acc, m: g.m, n: g.n, k: g.k, b: b_st, batch };
    let algo = cfg.choose(&prob);
    let grid = algo.grid(g.m, g.n, batch)?;
    let v =
        MatMulVariant { act: pr.act.kind, residual: pr.residual, ..cfg.variant(t, c.is_some(), algo) }.with_vec4(&p);
    let k = GpuKernel::new(KernelKey::MatMul(v), &p, grid);
    // Without bias (residual), binding 2 (4) repeats A (never read).
    Ok(Lowered::single(k, vec![refs[0], refs[1], refs[2], Ref::Output(0), refs[3]]))
}

pub fn lower_gemm(l: &GpuLowering, cx: &LowerCx, gm: &Gemm) -> Result<Lowered<GpuKernel>, String> {
    lower_gemm_epilogue(l, cx, gm, Act::NONE)
}

/// Gemm followed by an activation in the same kernel (for a fused `act(Gemm(A, B, C))`).
pub fn lower_gemm_epilogue(l: &GpuLowering, cx: &LowerCx, gm: &Gemm, act: Act) -> Result<Lowered<GpuKernel>, String> {
    let t = float_type(l, cx)?;
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let (m, k, n) = gm.mkn(&a.shape, &b.shape)?;
    let c = cx.inputs.get(2).and_then(|o| o.as_ref());
    let bias = c.is_some() && gm.beta != 0.0;
    let cst = match c {
        Some(c) if bias => {
            let st = broadcast_strides(&c.shape, &[m, n]);
            Some((st[0], st[1]))
        }
        _ => None,
    };
    let g2 = Gemm2d {
        t,
        m,
        n,
        k,
        a: if gm.trans_a { (1, m) } else { (k, 1) },
        b: if gm.trans_b { (1, k) } else { (n, 1) },
        c: cst,
        alpha: gm.alpha,
        beta: gm.beta,
        act,
        refs: [Ref::Input(0), Ref::Input(1), if bias { Ref::Input(2) } else { Ref::Input(0) }, Ref::Input(0)],
        residual: false,
    };
    lower_2d(l, g2, cx)
}

/// Every variant: each configuration, type, bias and residual flag, accumulation type and
/// epilogue activation, and the tiled configurations with each combination of vec4 operand
/// loads.
pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in [GpuType::F32, GpuType::F16, GpuType::BF16] {
        for bias in [false, true] {
            for algo in Algo::ALL {
                for f16_acc in [false, t == GpuType::F16] {
                    let tiled = matches!(algo, Algo::Tile64 | Algo::Tile128);
                    for act in ActKind::ALL {
                        for (vec4_a, vec4_b) in [(false, false), (true, false), (false, true), (true, true)] {
                            for residual in [false, true] {
                                if tiled || !(vec4_a || vec4_b) {
                                    let v4 = MatMulVariant { t, bias, algo, f16_acc, act, vec4_a, vec4_b, residual };
                                    v.push(KernelKey::MatMul(v4));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_every_shader() {
        for algo in Algo::ALL {
            crate::backend::wgpu::kernels::tests::check::<MatMulParams>(KernelKey::MatMul(MatMulVariant::new(
                GpuType::F32,
                true,
                algo,
            )));
        }
    }

    #[test]
    fn default_choice_is_deterministic_and_fits() {
        let cfg = MatMulConfig::default();
        let prob = |m, n| Problem { t: GpuType::F32, f16_acc: false, m, n, k: 64, b: (n, 1), batch: 1 };
        assert_eq!(cfg.choose(&prob(1, 4096)), Algo::Gemv);
        assert_eq!(cfg.choose(&prob(128, 4096)), Algo::Tile64);
        // A GEMV grid that would exceed 65535 columns of workgroups falls back to tiles.
        assert_eq!(cfg.choose(&prob(1, 64 * 70000)), Algo::Tile64);
        let cpu = MatMulConfig { cpu_adapter: true, ..Default::default() };
        assert_eq!(cpu.choose(&prob(17, 65)), Algo::Tile128);
        for name in Algo::ALL.map(Algo::name) {
            assert_eq!(Algo::from_name(name).map(Algo::name), Some(name));
        }
    }
}
