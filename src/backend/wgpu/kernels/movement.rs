//! Data-movement and index-driven kernels (`shaders/movement/`), owned by this family:
//! - Pad (every mode, axes, negative pads), CenterCropPad and Tile as a per-axis map gather
//!   (`axismap`: the per-axis source maps are built at plan time from the ops' own helpers);
//! - DepthToSpace / SpaceToDepth as a rank-6 strided copy (`layout::copy_kernel`);
//! - GatherElements and GatherND as positions (`pos_elements`, `pos_nd`) then a block gather
//!   (`take`); Compress as `take` with plan-time positions (its condition is known then);
//! - ScatterElements / Scatter / ScatterND (reductions none/add/mul/max/min) and TensorScatter
//!   as a copy of the data, positions, `scatter_mark` (which group of duplicates writes) and
//!   `scatter`: deterministic under duplicate indices (the last update wins, or updates
//!   combine in update order);
//! - Trilu, EyeLike, OneHot, ReverseSequence (element-wise index maps);
//! - CumSum / CumProd (axis read at run time; one invocation per line, serial in the element
//!   type's arithmetic);
//! - TopK (rank counting per element, or a bitonic sort per line for long axes; ties by lower
//!   index; int64 indices);
//! - Col2Im (each output element sums its covering columns in the reference's order).
//!
//! Pure moves use [`ElemBits`], so int64 (and every other dtype) moves exactly; kernels that
//! compute use the element type's library. Run-time indices stay on the GPU; an index out of
//! range there reads zero (gathers) or is skipped (scatters) and is reported by the positions
//! kernels (`shaders/layout/index_lib.wgsl`: the run fails naming the node); constant ones are
//! checked here.

use super::layout::copy_kernel;
use super::{dims8, grid_1d, u32_of, ElemBits, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::cumulative::{AccOp, Cumulative};
use crate::ops::gather_scatter::{
    nd_layout, GatherElements, GatherND, Reduction, ScatterElements, ScatterND, TensorScatter,
};
use crate::ops::movement::{BlockShuffle, Col2Im, EyeLike, OneHot, ReverseSequence, Tile, Trilu};
use crate::ops::pad::{pad_map, CenterCropPad, Pad};
use crate::ops::select::{Compress, TopK};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Operand, Ref};
use crate::tensor::shape::{norm_axis, strides};
use crate::tensor::{DType, Tensor};

/// How OneHot's indices are stored, as u32 words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdxKind {
    I32,
    U32,
    I64,
    U64,
    F32,
}

impl IdxKind {
    const ALL: [IdxKind; 5] = [IdxKind::I32, IdxKind::U32, IdxKind::I64, IdxKind::U64, IdxKind::F32];

    fn of(t: GpuType) -> Result<IdxKind, String> {
        Ok(match t {
            GpuType::I8 | GpuType::I16 | GpuType::I32 => IdxKind::I32,
            GpuType::U8 | GpuType::U16 | GpuType::U32 => IdxKind::U32,
            GpuType::I64 => IdxKind::I64,
            GpuType::U64 => IdxKind::U64,
            GpuType::F32 | GpuType::BF16 => IdxKind::F32,
            t => return Err(format!("OneHot with {t:?} indices has no GPU kernel")),
        })
    }
}

/// The variants of this family: the kernel and what specializes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoveVariant {
    AxisMap {
        elem: ElemBits,
    },
    Take {
        elem: ElemBits,
    },
    PosElements {
        idx64: bool,
    },
    PosNd {
        idx64: bool,
    },
    PosTensorScatter,
    /// Which scatter groups write (`shaders/movement/scatter_mark.wgsl`).
    ScatterMark {
        last: bool,
    },
    /// `red`: 0 none, 1 add, 2 mul, 3 max, 4 min.
    Scatter {
        t: GpuType,
        red: u32,
    },
    Trilu {
        elem: ElemBits,
    },
    EyeLike {
        elem: ElemBits,
    },
    OneHot {
        elem: ElemBits,
        idx: IdxKind,
    },
    ReverseSequence {
        elem: ElemBits,
    },
    Cumulative {
        t: GpuType,
        mul: bool,
        axis64: bool,
    },
    TopK {
        t: GpuType,
        largest: bool,
    },
    /// `pass` 0–2 (see `shaders/movement/topk_sort.wgsl`).
    TopKSort {
        t: GpuType,
        largest: bool,
        pass: u32,
    },
    Col2Im {
        t: GpuType,
    },
}

const ELEMS: [ElemBits; 3] = [ElemBits::B16, ElemBits::B32, ElemBits::B64];

impl KernelVariant for MoveVariant {
    fn file(&self) -> &'static ShaderFile {
        match self {
            MoveVariant::AxisMap { .. } => &shaders::MOVE_AXISMAP,
            MoveVariant::Take { .. } => &shaders::MOVE_TAKE,
            MoveVariant::PosElements { .. } => &shaders::MOVE_POS_ELEMENTS,
            MoveVariant::PosNd { .. } => &shaders::MOVE_POS_ND,
            MoveVariant::PosTensorScatter => &shaders::MOVE_POS_TSCATTER,
            MoveVariant::Scatter { .. } => &shaders::MOVE_SCATTER,
            MoveVariant::ScatterMark { .. } => &shaders::MOVE_SCATTER_MARK,
            MoveVariant::Trilu { .. } => &shaders::MOVE_TRILU,
            MoveVariant::EyeLike { .. } => &shaders::MOVE_EYELIKE,
            MoveVariant::OneHot { .. } => &shaders::MOVE_ONEHOT,
            MoveVariant::ReverseSequence { .. } => &shaders::MOVE_REVERSE_SEQ,
            MoveVariant::Cumulative { .. } => &shaders::MOVE_CUMULATIVE,
            MoveVariant::TopK { .. } => &shaders::MOVE_TOPK,
            MoveVariant::TopKSort { .. } => &shaders::MOVE_TOPK_SORT,
            MoveVariant::Col2Im { .. } => &shaders::MOVE_COL2IM,
        }
    }

    fn prelude(&self, p: &mut Prelude) {
        match *self {
            MoveVariant::AxisMap { elem }
            | MoveVariant::Take { elem }
            | MoveVariant::Trilu { elem }
            | MoveVariant::EyeLike { elem } => {
                p.alias("E", elem.wgsl());
            }
            MoveVariant::ReverseSequence { elem } => {
                p.alias("E", elem.wgsl()).lib(&shaders::INDEX_REPORT);
            }
            MoveVariant::PosElements { idx64 } | MoveVariant::PosNd { idx64 } => {
                p.bool("IDX64", idx64).lib(&shaders::INDEX_REPORT).lib(&shaders::INDEX_LIB);
            }
            MoveVariant::PosTensorScatter => {
                p.bool("IDX64", true).lib(&shaders::INDEX_REPORT).lib(&shaders::INDEX_LIB);
            }
            MoveVariant::ScatterMark { last } => {
                p.bool("LAST", last);
            }
            MoveVariant::Scatter { t, red } => {
                p.u32("RED", red);
                t.lib(p);
            }
            MoveVariant::OneHot { elem, idx } => {
                p.alias("E", elem.wgsl()).u32("IDX_KIND", idx as u32);
            }
            MoveVariant::Cumulative { t, mul, axis64 } => {
                p.bool("MUL", mul).bool("AXIS64", axis64).lib(&shaders::INDEX_REPORT);
                t.lib(p);
            }
            MoveVariant::TopKSort { t, largest, pass } => {
                p.bool("LARGEST", largest).u32("PASS", pass);
                t.lib(p);
            }
            MoveVariant::TopK { t, largest } => {
                p.bool("LARGEST", largest);
                t.lib(p);
            }
            MoveVariant::Col2Im { t } => t.lib(p),
        }
    }

    fn storage_bindings(&self) -> u32 {
        match self {
            MoveVariant::AxisMap { .. } => 4,
            MoveVariant::TopKSort { .. } => 5,
            MoveVariant::Scatter { .. } => 4,
            // Positions from indices also bind the index error record (layout/index_lib).
            MoveVariant::PosElements { .. } | MoveVariant::PosNd { .. } | MoveVariant::PosTensorScatter => 3,
            // So do sequence lengths and run-time axes (layout/index_report_lib).
            MoveVariant::ReverseSequence { .. } | MoveVariant::Cumulative { .. } => 4,
            MoveVariant::Take { .. }
            | MoveVariant::Trilu { .. }
            | MoveVariant::OneHot { .. }
            | MoveVariant::TopK { .. } => 3,
            MoveVariant::ScatterMark { .. } | MoveVariant::EyeLike { .. } | MoveVariant::Col2Im { .. } => 2,
        }
    }

    fn all() -> Vec<MoveVariant> {
        let mut v = vec![
            MoveVariant::PosTensorScatter,
            MoveVariant::ScatterMark { last: false },
            MoveVariant::ScatterMark { last: true },
        ];
        for elem in ELEMS {
            v.push(MoveVariant::AxisMap { elem });
            v.push(MoveVariant::Take { elem });
            v.push(MoveVariant::Trilu { elem });
            v.push(MoveVariant::EyeLike { elem });
            v.push(MoveVariant::ReverseSequence { elem });
            for idx in IdxKind::ALL {
                v.push(MoveVariant::OneHot { elem, idx });
            }
        }
        for idx64 in [false, true] {
            v.push(MoveVariant::PosElements { idx64 });
            v.push(MoveVariant::PosNd { idx64 });
        }
        for t in GpuType::ALL {
            for red in 0..5 {
                v.push(MoveVariant::Scatter { t, red });
            }
            if t != GpuType::Bool {
                for (mul, axis64) in [(false, false), (false, true), (true, false), (true, true)] {
                    v.push(MoveVariant::Cumulative { t, mul, axis64 });
                }
                v.push(MoveVariant::Col2Im { t });
            }
            for largest in [false, true] {
                v.push(MoveVariant::TopK { t, largest });
                for pass in 0..3 {
                    v.push(MoveVariant::TopKSort { t, largest, pass });
                }
            }
        }
        v
    }
}

fn key(v: MoveVariant) -> KernelKey {
    KernelKey::Family(FamilyKey::Movement(v))
}

gpu_params!(
    /// `shaders/movement/axismap.wgsl` Params.
    AxisMapParams {
        n: u32,
        rank: u32,
        pad0: u32,
        pad1: u32,
        shape: super::Dims8,
        map_off: super::Dims8,
        x_strides: super::Dims8,
    }
);
gpu_params!(
    /// `shaders/movement/take.wgsl` Params.
    TakeParams { n: u32, inner: u32, pad0: u32, pad1: u32 }
);
gpu_params!(
    /// `shaders/movement/pos_elements.wgsl` Params.
    PosElementsParams { n: u32, rank: u32, axis: u32, axis_len: u32, ind_shape: super::Dims8, x_strides: super::Dims8 }
);
gpu_params!(
    /// `shaders/movement/pos_nd.wgsl` Params.
    PosNdParams { n: u32, m: u32, per_batch: u32, batch_stride: u32, dims: super::Dims8, strides: super::Dims8 }
);
gpu_params!(
    /// `shaders/movement/pos_tscatter.wgsl` Params.
    PosTensorScatterParams {
        n: u32,
        ua: u32,
        mid: u32,
        max_len: u32,
        inner: u32,
        circular: u32,
        pad0: u32,
        pad1: u32,
    }
);
gpu_params!(
    /// `shaders/movement/scatter.wgsl` Params.
    ScatterParams { n: u32, inner: u32, line_len: u32, line_stride: u32 }
);
gpu_params!(
    /// `shaders/movement/scatter_mark.wgsl` Params.
    ScatterMarkParams { n: u32, line_len: u32, line_stride: u32, pad0: u32 }
);
gpu_params!(
    /// `shaders/movement/trilu.wgsl` Params.
    TriluParams { n: u32, rows: u32, cols: u32, upper: u32 }
);
gpu_params!(
    /// `shaders/movement/eyelike.wgsl` Params.
    EyeLikeParams { n: u32, cols: u32, k: i32, pad0: u32 }
);
gpu_params!(
    /// `shaders/movement/onehot.wgsl` Params.
    OneHotParams { n: u32, depth: u32, inner: u32, pad0: u32 }
);
gpu_params!(
    /// `shaders/movement/reverse_seq.wgsl` Params.
    ReverseSeqParams { n: u32, d0: u32, d1: u32, inner: u32, batch_axis: u32, pad0: u32, pad1: u32, pad2: u32 }
);
gpu_params!(
    /// `shaders/movement/cumulative.wgsl` Params.
    CumulativeParams { n: u32, rank: u32, exclusive: u32, reverse: u32, shape: super::Dims8 }
);
gpu_params!(
    /// `shaders/movement/topk.wgsl` Params.
    TopKParams { n: u32, len: u32, inner: u32, k: u32 }
);
gpu_params!(
    /// `shaders/movement/topk_sort.wgsl` Params.
    TopKSortParams { n: u32, len: u32, inner: u32, k: u32, p2: u32, kb: u32, jb: u32, pad0: u32 }
);

/// Axis length above which TopK sorts (O(len·log² len)) instead of counting ranks (O(len²)).
const TOPK_SORT_ABOVE: usize = 512;
gpu_params!(
    /// `shaders/movement/col2im.wgsl` Params.
    Col2ImParams {
        n: u32,
        nd: u32,
        kk: u32,
        ll: u32,
        image: super::Dims8,
        block: super::Dims8,
        dil: super::Dims8,
        pad: super::Dims8,
        stride: super::Dims8,
        n_blocks: super::Dims8,
    }
);

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// An optional input's operand.
fn opt<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a Operand> {
    cx.inputs.get(i).and_then(|o| o.as_ref())
}

/// An input's value, which must be known when planning.
fn known<'a>(cx: &'a LowerCx, i: usize, what: &str) -> Result<&'a Tensor, String> {
    cx.input(i)?.value.as_ref().ok_or_else(|| format!("{what} must be known when planning"))
}

fn idx64_of(o: &Operand) -> Result<bool, String> {
    match o.dtype {
        DType::I64 => Ok(true),
        DType::I32 => Ok(false),
        d => Err(format!("{d} indices have no GPU kernel")),
    }
}

/// Adds a plan constant, returning its binding.
fn add_const(low: &mut Lowered<GpuKernel>, t: Tensor) -> Ref {
    low.consts.push(t);
    Ref::Const(low.consts.len() - 1)
}

/// Adds a scratch buffer of `bytes`, returning its binding.
fn add_scratch(low: &mut Lowered<GpuKernel>, bytes: usize) -> Ref {
    low.scratch.push(bytes.max(4) as u64);
    Ref::Scratch(low.scratch.len() - 1)
}

fn push(low: &mut Lowered<GpuKernel>, kernel: GpuKernel, bindings: Vec<Ref>) {
    low.dispatches.push(LoweredDispatch { kernel, bindings });
}

// ---- per-axis maps: Pad, CenterCropPad, Tile -------------------------------------------------

/// `y[o] = x[maps…]` or the one-element `fill` where a map gives None.
fn axis_map(
    l: &GpuLowering,
    cx: &LowerCx,
    maps: &[Vec<Option<usize>>],
    fill: Ref,
    mut low: Lowered<GpuKernel>,
) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let out: Vec<usize> = maps.iter().map(|m| m.len()).collect();
    if out != y.shape || maps.len() != x.shape.len() {
        return Err(format!("axis maps of shape {out:?} do not match the output {:?}", y.shape));
    }
    let n = numel(&out);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let mut flat = Vec::with_capacity(out.iter().sum());
    let mut offs = Vec::with_capacity(out.len());
    for (a, m) in maps.iter().enumerate() {
        offs.push(flat.len());
        for &s in m {
            flat.push(match s {
                Some(s) if s < x.shape[a] => i32::try_from(s).map_err(|_| "a source index exceeds 31 bits")?,
                Some(s) => return Err(format!("source index {s} is out of range on axis {a}")),
                None => -1,
            });
        }
    }
    let (shape, offs) = if out.is_empty() { (vec![1], vec![0]) } else { (out.clone(), offs) };
    let xs = if x.shape.is_empty() { vec![0] } else { strides(&x.shape) };
    if flat.is_empty() {
        flat.push(0);
    }
    let map = add_const(&mut low, Tensor::new(&[flat.len()], flat)?);
    // An empty input is never read (every map is None): bind the fill in its place.
    let src = if numel(&x.shape) == 0 { fill } else { Ref::Input(0) };
    let k = axis_map_kernel(l.elem(y)?, &shape, &offs, &xs)?;
    push(&mut low, k, vec![src, fill, map, Ref::Output(0)]);
    Ok(low)
}

/// The per-axis map gather over an output of `shape`: bindings `[x, fill, map, y]`, where
/// axis a's map (i32, -1 for fill) starts at `map_off[a]` of `map` and `x_strides` are x's.
/// Shared with Resize's nearest mode, whose maps may be computed on the device.
pub fn axis_map_kernel(
    elem: ElemBits,
    shape: &[usize],
    map_off: &[usize],
    x_strides: &[usize],
) -> Result<GpuKernel, String> {
    let n = numel(shape);
    let p = AxisMapParams {
        n: u32_of(n)?,
        rank: shape.len() as u32,
        pad0: 0,
        pad1: 0,
        shape: dims8(shape)?,
        map_off: dims8(map_off)?,
        x_strides: dims8(x_strides)?,
    };
    Ok(GpuKernel::new(key(MoveVariant::AxisMap { elem }), &p, grid_1d(n, 256)))
}

fn zero_fill(low: &mut Lowered<GpuKernel>, d: DType) -> Result<Ref, String> {
    Ok(add_const(low, Tensor::zeros(d, &[1])?))
}

pub fn lower_pad(l: &GpuLowering, cx: &LowerCx, pad: &Pad) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let per = pad.params(
        |i| match opt(cx, i) {
            None => Ok(None),
            Some(o) => o.value.as_ref().map(Some).ok_or_else(|| format!("Pad input {i} must be known when planning")),
        },
        x.shape.len(),
    )?;
    let maps =
        x.shape.iter().zip(&per).map(|(&d, &(b, e))| pad_map(d, b, e, pad.mode)).collect::<Result<Vec<_>, _>>()?;
    let mut low = Lowered::empty();
    let fill = match (&pad.attr, opt(cx, 2)) {
        (Some((_, v)), _) => add_const(&mut low, Tensor::from_f64(x.dtype, &[1], &[*v as f64])?),
        (None, Some(c)) if numel(&c.shape) == 0 => zero_fill(&mut low, x.dtype)?,
        (None, Some(c)) if numel(&c.shape) == 1 && c.dtype == x.dtype => Ref::Input(2),
        (None, Some(c)) => {
            return Err(format!(
                "constant_value must be one {} element, got {} of shape {:?}",
                x.dtype, c.dtype, c.shape
            ))
        }
        (None, None) => zero_fill(&mut low, x.dtype)?,
    };
    axis_map(l, cx, &maps, fill, low)
}

pub fn lower_center_crop_pad(l: &GpuLowering, cx: &LowerCx, c: &CenterCropPad) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let maps = c.maps(&x.shape, known(cx, 1, "the target shape")?)?;
    let mut low = Lowered::empty();
    let fill = zero_fill(&mut low, x.dtype)?;
    axis_map(l, cx, &maps, fill, low)
}

pub fn lower_tile(l: &GpuLowering, cx: &LowerCx, t: &Tile) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let reps = t.repeats(x.shape.len(), |i| known(cx, i, "Tile's repeats"))?;
    let maps: Vec<Vec<Option<usize>>> = x
        .shape
        .iter()
        .zip(&reps)
        .map(|(&d, &r)| {
            let n = d.checked_mul(r).ok_or("the tiled shape overflows")?;
            Ok((0..n).map(|o| Some(o % d)).collect())
        })
        .collect::<Result<_, String>>()?;
    let mut low = Lowered::empty();
    let fill = zero_fill(&mut low, x.dtype)?;
    axis_map(l, cx, &maps, fill, low)
}

// ---- DepthToSpace / SpaceToDepth -------------------------------------------------------------

pub fn lower_block_shuffle(l: &GpuLowering, cx: &LowerCx, s: &BlockShuffle) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    if x.shape.len() != 4 || y.shape.len() != 4 {
        return Err("DepthToSpace/SpaceToDepth need rank 4".into());
    }
    if numel(&y.shape) == 0 {
        return Ok(Lowered::empty());
    }
    let b = s.blocksize;
    let xs = strides(&x.shape);
    // The output in row-major order as a rank-6 iteration, with the source strides of each dim.
    let (shape, src): (Vec<usize>, Vec<usize>) = if s.to_space {
        let (n, c, h, w) = (y.shape[0], y.shape[1], x.shape[2], x.shape[3]);
        let (sc, sby, sbx) = if s.crd { (b * b * xs[1], b * xs[1], xs[1]) } else { (xs[1], b * c * xs[1], c * xs[1]) };
        (vec![n, c, h, b, w, b], vec![xs[0], sc, xs[2], sby, xs[3], sbx])
    } else {
        let (n, c, h, w) = (x.shape[0], x.shape[1], y.shape[2], y.shape[3]);
        if s.crd {
            (vec![n, c, b, b, h, w], vec![xs[0], xs[1], xs[2], xs[3], b * xs[2], b * xs[3]])
        } else {
            (vec![n, b, b, c, h, w], vec![xs[0], xs[2], xs[3], xs[1], b * xs[2], b * xs[3]])
        }
    };
    let src: Vec<isize> = src.iter().map(|&v| v as isize).collect();
    let k = copy_kernel(l.elem(y)?, &shape, &src, 0, &strides(&shape), 0)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

// ---- gathers and scatters ----------------------------------------------------------------------

/// Checks constant indices against `len` (negative ones count from the end).
fn check_const_indices(idx: &Operand, len: impl Fn(usize) -> usize) -> Result<(), String> {
    if let Some(v) = &idx.value {
        for (i, k) in v.to_i64_vec()?.into_iter().enumerate() {
            let n = len(i) as i64;
            if k < -n || k >= n {
                return Err(format!("index {k} is out of range for an axis of size {n}"));
            }
        }
    }
    Ok(())
}

/// The positions kernel of GatherElements / ScatterElements over the indices' elements.
fn pos_elements(
    idx: &Operand,
    data: &[usize],
    axis: usize,
    out: Ref,
    low: &mut Lowered<GpuKernel>,
    idx_ref: Ref,
) -> Result<(), String> {
    let r = data.len();
    if idx.shape.len() != r {
        return Err(format!("indices {:?} and data {data:?} must have the same rank", idx.shape));
    }
    if let Some(a) = (0..r).find(|&a| a != axis && idx.shape[a] > data[a]) {
        return Err(format!("indices {:?} exceed data {data:?} on axis {a}", idx.shape));
    }
    check_const_indices(idx, |_| data[axis])?;
    let n = numel(&idx.shape);
    let p = PosElementsParams {
        n: u32_of(n)?,
        rank: r as u32,
        axis: axis as u32,
        axis_len: u32_of(data[axis])?,
        ind_shape: dims8(&idx.shape)?,
        x_strides: dims8(&strides(data))?,
    };
    if i32::try_from(data[axis]).is_err() {
        return Err("the axis is longer than 2^31".into());
    }
    let k = GpuKernel::new(key(MoveVariant::PosElements { idx64: idx64_of(idx)? }), &p, grid_1d(n, 256));
    push(low, k, vec![idx_ref, out]);
    Ok(())
}

/// The positions kernel of GatherND / ScatterND: one per index tuple.
fn pos_nd(
    idx: &Operand,
    data: &[usize],
    b: usize,
    out: Ref,
    low: &mut Lowered<GpuKernel>,
    idx_ref: Ref,
) -> Result<(usize, usize, usize), String> {
    let (tuples, m, inner) = nd_layout(data, &idx.shape, b)?;
    let ds = strides(data);
    check_const_indices(idx, |i| data[b + i % m])?;
    if data[b..b + m].iter().any(|&d| i32::try_from(d).is_err()) {
        return Err("an indexed axis is longer than 2^31".into());
    }
    let q = idx.shape.len();
    let per_batch: usize = numel(&idx.shape[b..q - 1]);
    let p = PosNdParams {
        n: u32_of(tuples)?,
        m: m as u32,
        per_batch: u32_of(per_batch.max(1))?,
        batch_stride: u32_of(if b == 0 { 0 } else { ds[b - 1] })?,
        dims: dims8(&data[b..b + m])?,
        strides: dims8(&ds[b..b + m])?,
    };
    if tuples > 0 {
        let k = GpuKernel::new(key(MoveVariant::PosNd { idx64: idx64_of(idx)? }), &p, grid_1d(tuples, 256));
        push(low, k, vec![idx_ref, out]);
    }
    Ok((tuples, m, inner))
}

fn take(
    elem: ElemBits,
    groups: usize,
    inner: usize,
    x: Ref,
    pos: Ref,
    y: Ref,
) -> Result<LoweredDispatch<GpuKernel>, String> {
    let n = groups * inner;
    let p = TakeParams { n: u32_of(n)?, inner: u32_of(inner.max(1))?, pad0: 0, pad1: 0 };
    Ok(LoweredDispatch {
        kernel: GpuKernel::new(key(MoveVariant::Take { elem }), &p, grid_1d(n, 256)),
        bindings: vec![x, pos, y],
    })
}

pub fn lower_gather_elements(l: &GpuLowering, cx: &LowerCx, g: &GatherElements) -> Result<Lowered<GpuKernel>, String> {
    let (x, idx, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    if x.shape.is_empty() {
        return Err("data must have rank ≥ 1".into());
    }
    let axis = norm_axis(g.axis, x.shape.len())?;
    let n = numel(&idx.shape);
    let mut low = Lowered::empty();
    if n == 0 {
        return Ok(low);
    }
    let pos = add_scratch(&mut low, 4 * n);
    pos_elements(idx, &x.shape, axis, pos, &mut low, Ref::Input(1))?;
    low.dispatches.push(take(l.elem(y)?, n, 1, Ref::Input(0), pos, Ref::Output(0))?);
    Ok(low)
}

pub fn lower_gather_nd(l: &GpuLowering, cx: &LowerCx, g: &GatherND) -> Result<Lowered<GpuKernel>, String> {
    let (x, idx, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let mut low = Lowered::empty();
    let (tuples, _, inner) = nd_layout(&x.shape, &idx.shape, g.batch_dims)?;
    if tuples * inner == 0 {
        return Ok(low);
    }
    let pos = add_scratch(&mut low, 4 * tuples);
    pos_nd(idx, &x.shape, g.batch_dims, pos, &mut low, Ref::Input(1))?;
    low.dispatches.push(take(l.elem(y)?, tuples, inner, Ref::Input(0), pos, Ref::Output(0))?);
    Ok(low)
}

pub fn lower_compress(l: &GpuLowering, cx: &LowerCx, c: &Compress) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let cond = known(cx, 1, "Compress's condition")?;
    let (pos, inner): (Vec<usize>, usize) = match c.axis {
        None => (Compress::selected(cond, numel(&x.shape))?, 1),
        Some(a) => {
            let s = &x.shape;
            let a = norm_axis(a, s.len())?;
            let sel = Compress::selected(cond, s[a])?;
            let (outer, inner) = (numel(&s[..a]), numel(&s[a + 1..]));
            let pos = (0..outer).flat_map(|o| sel.iter().map(move |&p| (o * s[a] + p) * inner)).collect();
            (pos, inner)
        }
    };
    let groups = pos.len();
    if groups * inner == 0 || numel(&y.shape) != groups * inner {
        return if numel(&y.shape) == 0 { Ok(Lowered::empty()) } else { Err("Compress output size mismatch".into()) };
    }
    let mut low = Lowered::empty();
    let words = pos.iter().map(|&p| u32_of(p).map(|v| v as i32)).collect::<Result<Vec<i32>, _>>()?;
    let pos = add_const(&mut low, Tensor::new(&[groups], words)?);
    low.dispatches.push(take(l.elem(y)?, groups, inner, Ref::Input(0), pos, Ref::Output(0))?);
    Ok(low)
}

fn red_code(r: Reduction) -> u32 {
    match r {
        Reduction::None => 0,
        Reduction::Add => 1,
        Reduction::Mul => 2,
        Reduction::Max => 3,
        Reduction::Min => 4,
    }
}

/// Output = data, then the scatter of `updates` (input `upd`) to the positions in `pos`.
#[allow(clippy::too_many_arguments)]
fn scatter(
    l: &GpuLowering,
    cx: &LowerCx,
    low: &mut Lowered<GpuKernel>,
    red: Reduction,
    pos: Ref,
    upd: usize,
    groups: usize,
    inner: usize,
    line: (usize, usize),
) -> Result<(), String> {
    let t = l.ty(cx.output(0)?)?;
    if red != Reduction::None && t == GpuType::Bool {
        return Err("scatter reductions on bool have no GPU kernel".into());
    }
    let (line_len, line_stride) = (u32_of(line.0.max(1))?, u32_of(line.1.max(1))?);
    let keep = add_scratch(low, 4 * groups);
    let p = ScatterMarkParams { n: u32_of(groups)?, line_len, line_stride, pad0: 0 };
    let k = GpuKernel::new(key(MoveVariant::ScatterMark { last: red == Reduction::None }), &p, grid_1d(groups, 256));
    push(low, k, vec![pos, keep]);
    let n = groups * inner;
    let p = ScatterParams { n: u32_of(n)?, inner: u32_of(inner.max(1))?, line_len, line_stride };
    let k = GpuKernel::new(key(MoveVariant::Scatter { t, red: red_code(red) }), &p, grid_1d(n, 256));
    push(low, k, vec![Ref::Input(upd), pos, keep, Ref::Output(0)]);
    Ok(())
}

/// The copy of the data into the output that a scatter starts from.
fn copy_data(l: &GpuLowering, cx: &LowerCx, low: &mut Lowered<GpuKernel>) -> Result<(), String> {
    let y = cx.output(0)?;
    let n = numel(&y.shape);
    let k = copy_kernel(l.elem(y)?, &[n], &[1], 0, &[1], 0)?;
    push(low, k, vec![Ref::Input(0), Ref::Output(0)]);
    Ok(())
}

pub fn lower_scatter_elements(
    l: &GpuLowering,
    cx: &LowerCx,
    s: &ScatterElements,
) -> Result<Lowered<GpuKernel>, String> {
    let (x, idx, u) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    if x.shape.is_empty() {
        return Err("data must have rank ≥ 1".into());
    }
    if idx.shape != u.shape {
        return Err(format!("indices {:?} and updates {:?} differ in shape", idx.shape, u.shape));
    }
    let axis = norm_axis(s.axis, x.shape.len())?;
    let mut low = Lowered::empty();
    if numel(&x.shape) == 0 {
        return Ok(low);
    }
    copy_data(l, cx, &mut low)?;
    let n = numel(&idx.shape);
    if n == 0 {
        return Ok(low);
    }
    let pos = add_scratch(&mut low, 4 * n);
    pos_elements(idx, &x.shape, axis, pos, &mut low, Ref::Input(1))?;
    // Updates that can collide share every coordinate but the axis.
    let line = (idx.shape[axis], numel(&idx.shape[axis + 1..]));
    scatter(l, cx, &mut low, s.reduction, pos, 2, n, 1, line)?;
    Ok(low)
}

pub fn lower_scatter_nd(l: &GpuLowering, cx: &LowerCx, s: &ScatterND) -> Result<Lowered<GpuKernel>, String> {
    let (x, idx, u) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let (tuples, m, inner) = nd_layout(&x.shape, &idx.shape, 0)?;
    let mut want = idx.shape[..idx.shape.len() - 1].to_vec();
    want.extend(&x.shape[m..]);
    if u.shape != want {
        return Err(format!("updates have shape {:?}, expected {want:?}", u.shape));
    }
    let mut low = Lowered::empty();
    if numel(&x.shape) == 0 {
        return Ok(low);
    }
    copy_data(l, cx, &mut low)?;
    if tuples * inner == 0 {
        return Ok(low);
    }
    let pos = add_scratch(&mut low, 4 * tuples);
    pos_nd(idx, &x.shape, 0, pos, &mut low, Ref::Input(1))?;
    scatter(l, cx, &mut low, s.reduction, pos, 2, tuples, inner, (tuples, 1))?;
    Ok(low)
}

pub fn lower_tensor_scatter(l: &GpuLowering, cx: &LowerCx, s: &TensorScatter) -> Result<Lowered<GpuKernel>, String> {
    let (c, u) = (cx.input(0)?, cx.input(1)?);
    let (cs, us) = (&c.shape, &u.shape);
    if cs.len() != us.len() || cs.len() < 2 {
        return Err("past_cache and update must have one rank ≥ 2".into());
    }
    let axis = s.axis(cs.len())?;
    for a in 0..cs.len() {
        if (a == axis && us[a] > cs[a]) || (a != axis && us[a] != cs[a]) {
            return Err(format!("update {us:?} does not fit past_cache {cs:?}"));
        }
    }
    let mut low = Lowered::empty();
    if numel(cs) == 0 {
        return Ok(low);
    }
    copy_data(l, cx, &mut low)?;
    let inner = numel(&us[axis + 1..]);
    let groups = numel(&us[..axis + 1]);
    if groups * inner == 0 {
        return Ok(low);
    }
    let batch = cs[0];
    let write = match opt(cx, 2) {
        Some(w) => {
            if w.dtype != DType::I64 || w.shape != [batch] {
                return Err(format!("write_indices must be int64 of shape [{batch}]"));
            }
            if let Some(v) = &w.value {
                let max_len = cs[axis] as i64;
                for k in v.to_i64_vec()? {
                    if k < 0 || (!s.circular && k + us[axis] as i64 > max_len) {
                        return Err(format!("write index {k} does not fit the cache length {max_len}"));
                    }
                }
            }
            Ref::Input(2)
        }
        None => add_const(&mut low, Tensor::new(&[batch], vec![0i64; batch])?),
    };
    let pos = add_scratch(&mut low, 4 * groups);
    let p = PosTensorScatterParams {
        n: u32_of(groups)?,
        ua: u32_of(us[axis])?,
        mid: u32_of(numel(&us[1..axis]).max(1))?,
        max_len: u32_of(cs[axis])?,
        inner: u32_of(inner)?,
        circular: s.circular as u32,
        pad0: 0,
        pad1: 0,
    };
    push(&mut low, GpuKernel::new(key(MoveVariant::PosTensorScatter), &p, grid_1d(groups, 256)), vec![write, pos]);
    // Rows of one update never collide (at most max_len of them, each to its own slot).
    scatter(l, cx, &mut low, Reduction::None, pos, 1, groups, inner, (1, 1))?;
    Ok(low)
}

// ---- element-wise index maps ---------------------------------------------------------------------

pub fn lower_trilu(l: &GpuLowering, cx: &LowerCx, t: &Trilu) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let r = x.shape.len();
    if r < 2 {
        return Err(format!("input must have rank ≥ 2, got {r}"));
    }
    let n = numel(&x.shape);
    let mut low = Lowered::empty();
    if n == 0 {
        return Ok(low);
    }
    let k = match opt(cx, 1) {
        Some(k) if k.dtype == DType::I64 && numel(&k.shape) == 1 => Ref::Input(1),
        Some(k) => return Err(format!("k must be one int64 value, got {} of shape {:?}", k.dtype, k.shape)),
        None => add_const(&mut low, Tensor::new(&[1], vec![0i64])?),
    };
    let p = TriluParams {
        n: u32_of(n)?,
        rows: u32_of(x.shape[r - 2])?,
        cols: u32_of(x.shape[r - 1])?,
        upper: t.upper as u32,
    };
    if i32::try_from(x.shape[r - 2].max(x.shape[r - 1])).is_err() {
        return Err("matrix dims beyond 2^31".into());
    }
    let kern = GpuKernel::new(key(MoveVariant::Trilu { elem: l.elem(y)? }), &p, grid_1d(n, 256));
    push(&mut low, kern, vec![Ref::Input(0), k, Ref::Output(0)]);
    Ok(low)
}

pub fn lower_eyelike(l: &GpuLowering, cx: &LowerCx, e: &EyeLike) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    if y.shape.len() != 2 {
        return Err(format!("input must have rank 2, got {}", y.shape.len()));
    }
    let n = numel(&y.shape);
    let mut low = Lowered::empty();
    if n == 0 {
        return Ok(low);
    }
    if i32::try_from(y.shape[0].max(y.shape[1])).is_err() {
        return Err("matrix dims beyond 2^31".into());
    }
    let one = add_const(&mut low, Tensor::from_i64(y.dtype, &[1], &[1])?);
    let p = EyeLikeParams {
        n: u32_of(n)?,
        cols: u32_of(y.shape[1])?,
        k: e.k.clamp(-(i32::MAX as i64), i32::MAX as i64) as i32,
        pad0: 0,
    };
    let k = GpuKernel::new(key(MoveVariant::EyeLike { elem: l.elem(y)? }), &p, grid_1d(n, 256));
    push(&mut low, k, vec![one, Ref::Output(0)]);
    Ok(low)
}

pub fn lower_onehot(l: &GpuLowering, cx: &LowerCx, o: &OneHot) -> Result<Lowered<GpuKernel>, String> {
    let (ind, values, y) = (cx.input(0)?, cx.input(2)?, cx.output(0)?);
    let depth = crate::ops::movement::onehot_depth(known(cx, 1, "OneHot's depth")?)?;
    if numel(&values.shape) != 2 {
        return Err(format!("values must hold [off, on], got shape {:?}", values.shape));
    }
    if i32::try_from(depth).is_err() {
        return Err(format!("depth {depth} exceeds 2^31"));
    }
    let axis = norm_axis(o.axis, ind.shape.len() + 1)?;
    let n = numel(&y.shape);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let inner = numel(&ind.shape[axis..]);
    let idx = IdxKind::of(l.ty(ind)?)?;
    let p = OneHotParams { n: u32_of(n)?, depth: u32_of(depth)?, inner: u32_of(inner.max(1))?, pad0: 0 };
    let k = GpuKernel::new(key(MoveVariant::OneHot { elem: l.elem(y)?, idx }), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(2), Ref::Output(0)]))
}

pub fn lower_reverse_sequence(
    l: &GpuLowering,
    cx: &LowerCx,
    r: &ReverseSequence,
) -> Result<Lowered<GpuKernel>, String> {
    let (x, lens, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let s = &x.shape;
    if s.len() < 2 {
        return Err(format!("input must have rank ≥ 2, got {}", s.len()));
    }
    if lens.dtype != DType::I64 || lens.shape != [s[r.batch_axis]] {
        return Err(format!("sequence_lens must be int64 of shape [{}]", s[r.batch_axis]));
    }
    if let Some(v) = &lens.value {
        let time = s[r.time_axis] as i64;
        if let Some(bad) = v.to_i64_vec()?.into_iter().find(|&k| k < 0 || k > time) {
            return Err(format!("sequence length {bad} is outside [0, {time}]"));
        }
    }
    let n = numel(s);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let p = ReverseSeqParams {
        n: u32_of(n)?,
        d0: u32_of(s[0])?,
        d1: u32_of(s[1])?,
        inner: u32_of(numel(&s[2..]))?,
        batch_axis: r.batch_axis as u32,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let k = GpuKernel::new(key(MoveVariant::ReverseSequence { elem: l.elem(y)? }), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)]))
}

// ---- CumSum / CumProd, TopK, Col2Im ----------------------------------------------------------------

pub fn lower_cumulative(l: &GpuLowering, cx: &LowerCx, c: &Cumulative) -> Result<Lowered<GpuKernel>, String> {
    let (x, ax) = (cx.input(0)?, cx.input(1)?);
    let t = l.ty(x)?;
    if t == GpuType::Bool {
        return Err("cannot accumulate bool elements".into());
    }
    let axis64 = idx64_of(ax)?;
    if numel(&ax.shape) != 1 || ax.shape.len() > 1 {
        return Err(format!("axis must be a scalar, got shape {:?}", ax.shape));
    }
    // The axis is read on the GPU; a constant one is checked here.
    if let Some(v) = &ax.value {
        Cumulative::axis(v, x.shape.len())?;
    }
    let shape = if x.shape.is_empty() { vec![1] } else { x.shape.clone() };
    let n = numel(&shape);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let p = CumulativeParams {
        n: u32_of(n)?,
        rank: shape.len() as u32,
        exclusive: c.exclusive as u32,
        reverse: c.reverse as u32,
        shape: dims8(&shape)?,
    };
    let k = GpuKernel::new(key(MoveVariant::Cumulative { t, mul: c.op == AccOp::Mul, axis64 }), &p, grid_1d(n, 64));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)]))
}

pub fn lower_topk(l: &GpuLowering, cx: &LowerCx, t: &TopK) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    if x.shape.is_empty() {
        return Err("input must have rank ≥ 1".into());
    }
    let axis = norm_axis(t.axis, x.shape.len())?;
    let len = x.shape[axis];
    let kv = if t.k_attr.is_some() { None } else { Some(known(cx, 1, "TopK's k")?) };
    let k = TopK::check_k(t.k(kv)?, len)?;
    let (values, indices) = (cx.outputs.first().and_then(|o| o.as_ref()), cx.outputs.get(1).and_then(|o| o.as_ref()));
    let n = numel(&x.shape);
    let mut low = Lowered::empty();
    if n == 0 || k == 0 {
        return Ok(low);
    }
    let inner = numel(&x.shape[axis + 1..]);
    let n_out = n / len * k;
    // Both outputs are written; an unread one goes to scratch.
    let vref = match values {
        Some(_) => Ref::Output(0),
        None => add_scratch(&mut low, l.ty(x)?.bytes() * n_out),
    };
    let iref = match indices {
        Some(_) => Ref::Output(1),
        None => add_scratch(&mut low, 8 * n_out),
    };
    let ty = l.ty(x)?;
    if len <= TOPK_SORT_ABOVE {
        let p = TopKParams { n: u32_of(n)?, len: u32_of(len)?, inner: u32_of(inner)?, k: u32_of(k)? };
        let kern = GpuKernel::new(key(MoveVariant::TopK { t: ty, largest: t.largest }), &p, grid_1d(n, 256));
        push(&mut low, kern, vec![Ref::Input(0), vref, iref]);
        return Ok(low);
    }
    // Bitonic sort of every line in scratch, then the first k.
    let p2 = len.next_power_of_two();
    let lines = n / len;
    let total = lines.checked_mul(p2).ok_or("TopK sort size overflows")?;
    let keys = add_scratch(&mut low, ty.bytes() * total);
    let idx = add_scratch(&mut low, 4 * total);
    let base = TopKSortParams {
        n: u32_of(total)?,
        len: u32_of(len)?,
        inner: u32_of(inner)?,
        k: u32_of(k)?,
        p2: u32_of(p2)?,
        kb: 0,
        jb: 0,
        pad0: 0,
    };
    let bindings = vec![Ref::Input(0), keys, idx, vref, iref];
    let mut step = |pass: u32, kb: usize, jb: usize| {
        let p = TopKSortParams { kb: kb as u32, jb: jb as u32, ..base };
        let kern =
            GpuKernel::new(key(MoveVariant::TopKSort { t: ty, largest: t.largest, pass }), &p, grid_1d(total, 256));
        push(&mut low, kern, bindings.clone());
    };
    step(0, 0, 0);
    let mut kb = 2;
    while kb <= p2 {
        let mut jb = kb / 2;
        while jb >= 1 {
            step(1, kb, jb);
            jb /= 2;
        }
        kb *= 2;
    }
    step(2, 0, 0);
    Ok(low)
}

pub fn lower_col2im(l: &GpuLowering, cx: &LowerCx, c: &Col2Im) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let t = l.ty(x)?;
    if t == GpuType::Bool {
        return Err("Col2Im on bool has no GPU kernel".into());
    }
    let g = c.geometry(known(cx, 1, "image_shape")?, known(cx, 2, "block_shape")?)?;
    let s = &x.shape;
    if s.len() != 3 {
        return Err(format!("input must have rank 3, got {}", s.len()));
    }
    let kk = numel(&g.block);
    let ll = numel(&g.n_blocks);
    if kk == 0 || s[1] % kk != 0 || s[2] != ll {
        return Err(format!("input {s:?} does not match blocks {:?} at positions {:?}", g.block, g.n_blocks));
    }
    let n = numel(&y.shape);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let limit = |v: &[usize]| v.iter().all(|&d| d < (1 << 30));
    if !(limit(&g.image) && limit(&g.pad_begin) && limit(&g.dil) && limit(&g.stride) && limit(&g.block)) {
        return Err("Col2Im geometry beyond 2^30".into());
    }
    let p = Col2ImParams {
        n: u32_of(n)?,
        nd: g.image.len() as u32,
        kk: u32_of(kk)?,
        ll: u32_of(ll)?,
        image: dims8(&g.image)?,
        block: dims8(&g.block)?,
        dil: dims8(&g.dil)?,
        pad: dims8(&g.pad_begin)?,
        stride: dims8(&g.stride)?,
        n_blocks: dims8(&g.n_blocks)?,
    };
    let k = GpuKernel::new(key(MoveVariant::Col2Im { t }), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl_structs() {
        let e = ElemBits::B32;
        let t = GpuType::F32;
        check::<AxisMapParams>(key(MoveVariant::AxisMap { elem: e }));
        check::<TakeParams>(key(MoveVariant::Take { elem: e }));
        check::<PosElementsParams>(key(MoveVariant::PosElements { idx64: true }));
        check::<PosNdParams>(key(MoveVariant::PosNd { idx64: false }));
        check::<PosTensorScatterParams>(key(MoveVariant::PosTensorScatter));
        check::<ScatterMarkParams>(key(MoveVariant::ScatterMark { last: true }));
        check::<ScatterParams>(key(MoveVariant::Scatter { t: GpuType::I64, red: 3 }));
        check::<TriluParams>(key(MoveVariant::Trilu { elem: ElemBits::B64 }));
        check::<EyeLikeParams>(key(MoveVariant::EyeLike { elem: ElemBits::B16 }));
        check::<OneHotParams>(key(MoveVariant::OneHot { elem: e, idx: IdxKind::F32 }));
        check::<ReverseSeqParams>(key(MoveVariant::ReverseSequence { elem: e }));
        check::<CumulativeParams>(key(MoveVariant::Cumulative { t, mul: true, axis64: true }));
        check::<TopKParams>(key(MoveVariant::TopK { t: GpuType::U64, largest: false }));
        check::<TopKSortParams>(key(MoveVariant::TopKSort { t: GpuType::F16, largest: true, pass: 1 }));
        check::<Col2ImParams>(key(MoveVariant::Col2Im { t }));
    }
}
