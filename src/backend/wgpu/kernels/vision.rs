//! Spatial sampling kernels (`shaders/vision/`): Resize and Upsample (per-axis tap tables built
//! at plan time from the reference's own tap computation, or on the device for
//! tf_crop_and_resize with a run-time roi; nearest moves raw bits through the data-movement
//! family's per-axis map gather, so every dtype stays exact,
//! linear and cubic interpolate floats in f32), GridSample (N-D up to 3 spatial dims, every
//! mode and padding), AffineGrid, RoiAlign (avg / max) and MaxUnpool (an atomic scatter that
//! keeps the last writer, as the reference does).

use super::{dims8, grid_1d, u32_of, ElemBits, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::resize::{CoordMode, Interp, NearestMode, Resize};
use crate::ops::vision::{AffineGrid, GridSample, MaxUnpool, PaddingMode, RoiAlign, SampleMode};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::shape::strides;
use crate::tensor::{DType, Tensor};

/// The float types the interpolating kernels take (math in f32).
const FLOATS: [GpuType; 3] = [GpuType::F32, GpuType::F16, GpuType::BF16];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VisionVariant {
    /// Linear / cubic Resize from tap tables.
    Resize(GpuType),
    /// The tap tables of one axis from a run-time roi (the roi's type).
    ResizeTaps(GpuType),
    GridSample(GpuType),
    AffineGrid(GpuType),
    RoiAlign {
        t: GpuType,
        idx64: bool,
    },
    /// One pass (0 clear, 1 scatter, 2 gather) of MaxUnpool.
    MaxUnpool {
        elem: ElemBits,
        idx64: bool,
        pass: u32,
    },
}

impl KernelVariant for VisionVariant {
    fn file(&self) -> &'static ShaderFile {
        match self {
            VisionVariant::Resize(_) => &shaders::VISION_RESIZE,
            VisionVariant::ResizeTaps(_) => &shaders::VISION_RESIZE_TAPS,
            VisionVariant::GridSample(_) => &shaders::VISION_GRIDSAMPLE,
            VisionVariant::AffineGrid(_) => &shaders::VISION_AFFINE_GRID,
            VisionVariant::RoiAlign { .. } => &shaders::VISION_ROIALIGN,
            VisionVariant::MaxUnpool { .. } => &shaders::VISION_MAXUNPOOL,
        }
    }

    fn prelude(&self, p: &mut Prelude) {
        match *self {
            VisionVariant::Resize(t) | VisionVariant::AffineGrid(t) => t.lib(p),
            // These decide coordinates in double-f32 arithmetic.
            VisionVariant::ResizeTaps(t) | VisionVariant::GridSample(t) => {
                t.lib(p);
                p.lib(&shaders::TYPE_DF32);
            }
            VisionVariant::RoiAlign { t, idx64 } => {
                t.lib(p);
                p.lib(&shaders::TYPE_DF32).bool("IDX64", idx64).lib(&shaders::INDEX_REPORT);
            }
            VisionVariant::MaxUnpool { elem, idx64, pass } => {
                p.alias("E", elem.wgsl()).bool("IDX64", idx64).u32("PASS", pass).lib(&shaders::INDEX_REPORT);
            }
        }
    }

    fn storage_bindings(&self) -> u32 {
        match self {
            VisionVariant::Resize(_) => 4,
            // The last one is the index error record (layout/index_report_lib).
            VisionVariant::RoiAlign { .. } | VisionVariant::MaxUnpool { .. } => 5,
            VisionVariant::ResizeTaps(_) | VisionVariant::GridSample(_) => 3,
            VisionVariant::AffineGrid(_) => 2,
        }
    }

    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for t in FLOATS {
            v.push(VisionVariant::Resize(t));
            v.push(VisionVariant::ResizeTaps(t));
            v.push(VisionVariant::GridSample(t));
            v.push(VisionVariant::AffineGrid(t));
            for idx64 in [false, true] {
                v.push(VisionVariant::RoiAlign { t, idx64 });
            }
        }
        for e in [ElemBits::B16, ElemBits::B32, ElemBits::B64] {
            for idx64 in [false, true] {
                for pass in 0..3 {
                    v.push(VisionVariant::MaxUnpool { elem: e, idx64, pass });
                }
            }
        }
        v
    }
}

fn key(v: VisionVariant) -> KernelKey {
    KernelKey::Family(FamilyKey::Vision(v))
}

/// A float type the interpolating kernels take.
fn float_ty(l: &GpuLowering, dtype: DType, what: &str) -> Result<GpuType, String> {
    let t = GpuType::of(dtype, l.caps)?;
    if FLOATS.contains(&t) {
        Ok(t)
    } else {
        Err(format!("{what} of {dtype} has no GPU kernel"))
    }
}

// ---- Resize --------------------------------------------------------------------------------

gpu_params!(
    /// `shaders/vision/resize.wgsl` Params.
    ResizeParams {
        n: u32,
        rank: u32,
        combos: u32,
        extrap: f32,
        out_shape: super::Dims8,
        in_strides: super::Dims8,
        taps: super::Dims8,
        tab_off: super::Dims8,
    }
);

gpu_params!(
    /// `shaders/vision/resize_taps.wgsl` Params.
    ResizeTapsParams {
        len_in: u32,
        len_out: u32,
        ntaps: u32,
        tab_off: u32,
        roi_lo: u32,
        roi_hi: u32,
        mode: u32,
        nearest: u32,
        first_rel: i32,
        normalize: u32,
        exclude: u32,
        center: u32,
        filt_s: f32,
        cubic_a: f32,
        wm1_hi: f32,
        wm1_lo: f32,
        one: f32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
);

/// Most tap combinations one output element of linear/cubic Resize may sum.
const MAX_COMBOS: usize = 1 << 16;

/// `resize_taps.wgsl` mode code of an identity axis (index = position, weight 1).
const TAPS_IDENTITY: u32 = 3;

pub fn lower_resize(l: &GpuLowering, cx: &LowerCx, r: &Resize) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let present =
        |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref()).filter(|o| o.shape.iter().product::<usize>() > 0);
    let roi_op = r.roi_input.and_then(present).filter(|_| r.coord == CoordMode::TfCropAndResize);
    let roi_at_runtime = roi_op.is_some_and(|o| o.value.is_none());
    let get = |i: usize| -> Result<Option<Tensor>, String> {
        match present(i) {
            None => Ok(None),
            Some(o) => o.value.clone().map(Some).ok_or_else(|| format!("Resize input {i} is not known when planning")),
        }
    };
    let (axes, n_resized) = r.lower_axes(&x.shape, get, roi_at_runtime)?;
    let out_shape: Vec<usize> = axes.iter().map(|a| a.output).collect();
    if out_shape != y.shape {
        return Err(format!("Resize output {out_shape:?} disagrees with the planned shape {:?}", y.shape));
    }
    let n: usize = out_shape.iter().product();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let nearest = r.mode == Interp::Nearest;
    let rank = axes.len();
    if rank > 8 {
        return Err(format!("rank {rank} exceeds the GPU kernels' limit of 8"));
    }
    // Taps per output position, per axis.
    let width: Vec<usize> = axes
        .iter()
        .map(|a| match &a.taps {
            _ if nearest => 1,
            Some(t) => t.iter().flatten().map(|v| v.len()).max().unwrap_or(1),
            None => filter(r, a.scale).0,
        })
        .collect();
    let mut tab_off = Vec::with_capacity(rank);
    let mut entries = 0usize;
    for (a, &k) in axes.iter().zip(&width) {
        tab_off.push(entries);
        entries += a.output * k;
    }
    u32_of(entries)?;
    let mut low = Lowered::empty();
    let (idx_ref, w_ref) = if roi_at_runtime {
        let roi = roi_op.ok_or("the roi is required")?;
        if roi.shape.iter().product::<usize>() != 2 * n_resized {
            return Err(format!("roi has shape {:?}, expected {} values", roi.shape, 2 * n_resized));
        }
        let rt = float_ty(l, roi.dtype, "a tf_crop_and_resize roi")?;
        let roi_ref = Ref::Input(r.roi_input.ok_or("the roi is required")?);
        low.scratch = vec![4 * entries as u64, 4 * entries as u64];
        for (d, a) in axes.iter().enumerate() {
            let (_, first_rel, filt_s, normalize) = filter(r, a.scale);
            let (mode, pos) = match a.roi_pos {
                None => (TAPS_IDENTITY, 0),
                Some(pos) => {
                    if a.input == 0 {
                        return Err("cannot resize an empty axis to a non-empty one".into());
                    }
                    let code = match r.mode {
                        Interp::Nearest => 0,
                        Interp::Linear => 1,
                        Interp::Cubic => 2,
                    };
                    (code, pos)
                }
            };
            let nearest_code = match r.nearest {
                NearestMode::RoundPreferFloor => 0,
                NearestMode::RoundPreferCeil => 1,
                NearestMode::Floor => 2,
                NearestMode::Ceil => 3,
                NearestMode::Simple if a.scale < 1.0 => 3,
                NearestMode::Simple => 2,
            };
            if a.output > 1 << 24 {
                return Err("a run-time roi crop of more than 2^24 positions has no GPU kernel".into());
            }
            let wm1 = a.out_w - 1.0;
            let p = ResizeTapsParams {
                len_in: u32_of(a.input)?,
                len_out: u32_of(a.output)?,
                ntaps: u32_of(width[d])?,
                tab_off: u32_of(tab_off[d])?,
                roi_lo: u32_of(pos)?,
                roi_hi: u32_of(pos + n_resized)?,
                mode,
                nearest: nearest_code,
                first_rel: first_rel as i32,
                normalize: normalize as u32,
                exclude: r.exclude_outside as u32,
                center: (a.output <= 1 || a.out_w == 1.0) as u32,
                filt_s: filt_s as f32,
                cubic_a: r.cubic_a as f32,
                wm1_hi: wm1 as f32,
                wm1_lo: (wm1 - wm1 as f32 as f64) as f32,
                one: 1.0,
                pad0: 0,
                pad1: 0,
                pad2: 0,
            };
            let k = GpuKernel::new(key(VisionVariant::ResizeTaps(rt)), &p, grid_1d(a.output, 256));
            low.dispatches
                .push(LoweredDispatch { kernel: k, bindings: vec![roi_ref, Ref::Scratch(0), Ref::Scratch(1)] });
        }
        (Ref::Scratch(0), Ref::Scratch(1))
    } else {
        let mut idx: Vec<i32> = Vec::with_capacity(entries);
        let mut wts: Vec<f32> = Vec::with_capacity(entries);
        for (a, &k) in axes.iter().zip(&width) {
            let taps = a.taps.as_ref().ok_or("Resize taps are not known when planning")?;
            for t in taps {
                match t {
                    None => {
                        idx.extend(std::iter::repeat_n(-1, k));
                        wts.extend(std::iter::repeat_n(0.0, k));
                    }
                    Some(v) => {
                        if v.len() != k {
                            return Err(format!("uneven tap counts ({} and {k}) along one axis", v.len()));
                        }
                        for &(i, w) in v {
                            idx.push(i32::try_from(i).map_err(|_| format!("index {i} exceeds 32 bits"))?);
                            wts.push(w as f32);
                        }
                    }
                }
            }
        }
        low.consts.push(Tensor::new(&[idx.len()], idx)?);
        low.consts.push(Tensor::new(&[wts.len()], wts)?);
        (Ref::Const(0), Ref::Const(1))
    };
    let in_strides = strides(&x.shape);
    let w8 = dims8(&width)?;
    let out8 = dims8(&out_shape)?;
    let st8 = dims8(&in_strides)?;
    let off8 = dims8(&tab_off)?;
    let kernel = if nearest {
        // Nearest moves raw bits through the per-axis map gather Pad and Tile use.
        super::movement::axis_map_kernel(l.elem(x)?, &out_shape, &tab_off, &in_strides)?
    } else {
        let t = float_ty(l, x.dtype, "linear/cubic Resize")?;
        let combos = width.iter().try_fold(1usize, |acc, &k| acc.checked_mul(k).filter(|&c| c <= MAX_COMBOS));
        let combos = combos.ok_or("Resize sums too many taps per output element for the GPU kernel")?;
        let p = ResizeParams {
            n: u32_of(n)?,
            rank: rank as u32,
            combos: combos as u32,
            extrap: r.extrapolation as f32,
            out_shape: out8,
            in_strides: st8,
            taps: w8,
            tab_off: off8,
        };
        GpuKernel::new(key(VisionVariant::Resize(t)), &p, grid_1d(n, 256))
    };
    let fill = if nearest && r.coord == CoordMode::TfCropAndResize {
        low.consts.push(crate::ops::resize::to_dtype(x.dtype, &[1], vec![r.extrapolation])?);
        Ref::Const(low.consts.len() - 1)
    } else {
        Ref::Input(0)
    };
    let bindings = if nearest {
        vec![Ref::Input(0), fill, idx_ref, Ref::Output(0)]
    } else {
        vec![Ref::Input(0), idx_ref, w_ref, Ref::Output(0)]
    };
    low.dispatches.push(LoweredDispatch { kernel, bindings });
    Ok(low)
}

/// The filter of a device-computed axis: (taps, first tap relative to the base index, the
/// filter's scale, normalized), as `Resize`'s reference coefficients define them.
fn filter(r: &Resize, scale: f64) -> (usize, i64, f64, bool) {
    match r.mode {
        Interp::Nearest => (1, 0, 1.0, false),
        Interp::Linear if !r.antialias || scale >= 1.0 => (2, 0, 1.0, false),
        Interp::Linear => {
            let start = (-1.0 / scale).floor() as i64 + 1;
            ((2 - 2 * start) as usize, start, scale, true)
        }
        Interp::Cubic if !r.antialias => (4, -1, 1.0, false),
        Interp::Cubic => {
            let s = scale.min(1.0);
            let start = (-2.0 / s).floor() as i64 + 1;
            ((2 - 2 * start) as usize, start, s, true)
        }
    }
}

// ---- GridSample, AffineGrid ----------------------------------------------------------------

gpu_params!(
    /// `shaders/vision/gridsample.wgsl` Params.
    GridSampleParams {
        n: u32,
        c: u32,
        nd: u32,
        mode: u32,
        padding: u32,
        align: u32,
        one: f32,
        pad1: u32,
        in_sp: [u32; 4],
        out_sp: [u32; 4],
    }
);

gpu_params!(
    /// `shaders/vision/affine_grid.wgsl` Params.
    AffineGridParams { n: u32, nd: u32, align: u32, pad0: u32, sp: [u32; 4] }
);

/// Up to 3 spatial dims, left-aligned in a `vec4`.
fn sp4(v: &[usize]) -> Result<[u32; 4], String> {
    if v.is_empty() || v.len() > 3 {
        return Err(format!("{} spatial dims have no GPU kernel (1 to 3)", v.len()));
    }
    let mut a = [1u32; 4];
    for (i, &x) in v.iter().enumerate() {
        a[i] = u32_of(x)?;
    }
    Ok(a)
}

pub fn lower_grid_sample(l: &GpuLowering, cx: &LowerCx, g: &GridSample) -> Result<Lowered<GpuKernel>, String> {
    let (x, grid, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let t = float_ty(l, x.dtype, "GridSample")?;
    if grid.dtype != x.dtype {
        return Err(format!("GridSample of {} with a {} grid has no GPU kernel", x.dtype, grid.dtype));
    }
    let r = x.shape.len();
    if r < 3 || grid.shape.len() != r || grid.shape[0] != x.shape[0] || grid.shape[r - 1] != r - 2 {
        return Err(format!("X {:?} and grid {:?} do not match", x.shape, grid.shape));
    }
    let n: usize = y.shape.iter().product();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    u32_of(x.shape.iter().product())?;
    u32_of(grid.shape.iter().product())?;
    let p = GridSampleParams {
        n: u32_of(n)?,
        c: u32_of(x.shape[1])?,
        nd: (r - 2) as u32,
        mode: match g.mode {
            SampleMode::Nearest => 0,
            SampleMode::Linear => 1,
            SampleMode::Cubic => 2,
        },
        padding: match g.padding {
            PaddingMode::Zeros => 0,
            PaddingMode::Border => 1,
            PaddingMode::Reflection => 2,
        },
        align: g.align_corners as u32,
        one: 1.0,
        pad1: 0,
        in_sp: sp4(&x.shape[2..])?,
        out_sp: sp4(&grid.shape[1..r - 1])?,
    };
    let k = GpuKernel::new(key(VisionVariant::GridSample(t)), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)]))
}

pub fn lower_affine_grid(l: &GpuLowering, cx: &LowerCx, a: &AffineGrid) -> Result<Lowered<GpuKernel>, String> {
    let (theta, y) = (cx.input(0)?, cx.output(0)?);
    let t = float_ty(l, theta.dtype, "AffineGrid")?;
    let r = y.shape.len();
    if r != 4 && r != 5 {
        return Err(format!("AffineGrid output {:?} must have rank 4 or 5", y.shape));
    }
    let nd = r - 2;
    if theta.shape != [y.shape[0], nd, nd + 1] {
        return Err(format!("theta {:?} does not fit the output {:?}", theta.shape, y.shape));
    }
    let n: usize = y.shape.iter().product();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let p = AffineGridParams {
        n: u32_of(n)?,
        nd: nd as u32,
        align: a.align_corners as u32,
        pad0: 0,
        sp: sp4(&y.shape[1..r - 1])?,
    };
    let k = GpuKernel::new(key(VisionVariant::AffineGrid(t)), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

// ---- RoiAlign ------------------------------------------------------------------------------

gpu_params!(
    /// `shaders/vision/roialign.wgsl` Params.
    RoiAlignParams {
        n: u32,
        c: u32,
        h: u32,
        w: u32,
        ph: u32,
        pw: u32,
        n_batch: u32,
        sampling_ratio: u32,
        spatial_scale: f32,
        half_pixel: u32,
        max_mode: u32,
        one: f32,
    }
);

/// 32- or 64-bit integer indices (`true`: int64).
fn idx64_of(d: DType, what: &str) -> Result<bool, String> {
    match d {
        DType::I64 => Ok(true),
        DType::I32 => Ok(false),
        d => Err(format!("{what} of {d} have no GPU kernel")),
    }
}

pub fn lower_roi_align(l: &GpuLowering, cx: &LowerCx, ra: &RoiAlign) -> Result<Lowered<GpuKernel>, String> {
    let (x, rois, bi, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output(0)?);
    let t = float_ty(l, x.dtype, "RoiAlign")?;
    if rois.dtype != x.dtype {
        return Err(format!("RoiAlign with {} rois and {} X has no GPU kernel", rois.dtype, x.dtype));
    }
    let idx64 = idx64_of(bi.dtype, "RoiAlign batch indices")?;
    if x.shape.len() != 4 || rois.shape.len() != 2 || rois.shape[1] != 4 || bi.shape != [rois.shape[0]] {
        return Err(format!(
            "RoiAlign needs X (N, C, H, W), rois (R, 4) and batch_indices (R), got {:?}, {:?}, {:?}",
            x.shape, rois.shape, bi.shape
        ));
    }
    if let Some(v) = &bi.value {
        if let Some(bad) = v.to_i64_vec()?.into_iter().find(|&b| b < 0 || b as usize >= x.shape[0]) {
            return Err(format!("batch index {bad} is out of range for {} images", x.shape[0]));
        }
    }
    let n: usize = y.shape.iter().product();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    u32_of(x.shape.iter().product())?;
    let p = RoiAlignParams {
        n: u32_of(n)?,
        c: u32_of(x.shape[1])?,
        h: u32_of(x.shape[2])?,
        w: u32_of(x.shape[3])?,
        ph: u32_of(ra.output_height)?,
        pw: u32_of(ra.output_width)?,
        n_batch: u32_of(x.shape[0])?,
        sampling_ratio: u32_of(ra.sampling_ratio)?,
        spatial_scale: ra.spatial_scale as f32,
        half_pixel: ra.half_pixel as u32,
        max_mode: ra.max as u32,
        one: 1.0,
    };
    let k = GpuKernel::new(key(VisionVariant::RoiAlign { t, idx64 }), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Input(2), Ref::Output(0)]))
}

// ---- MaxUnpool -----------------------------------------------------------------------------

gpu_params!(
    /// `shaders/vision/maxunpool.wgsl` Params.
    MaxUnpoolParams {
        n_in: u32,
        n_out: u32,
        total: u32,
        rank: u32,
        dims: super::Dims8,
        out_strides: super::Dims8,
    }
);

pub fn lower_max_unpool(l: &GpuLowering, cx: &LowerCx, m: &MaxUnpool) -> Result<Lowered<GpuKernel>, String> {
    let (x, idx, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let idx64 = idx64_of(idx.dtype, "MaxUnpool indices")?;
    if idx.shape != x.shape {
        return Err(format!("I {:?} must have X's shape {:?}", idx.shape, x.shape));
    }
    let given = match cx.inputs.get(2).and_then(|o| o.as_ref()) {
        None => None,
        Some(o) => Some(o.value.as_ref().ok_or("MaxUnpool's output_shape is not known when planning")?.to_i64_vec()?),
    };
    let (inferred, out) = m.out_shape(&x.shape, given)?;
    if out != y.shape {
        return Err(format!("MaxUnpool output {out:?} disagrees with the planned shape {:?}", y.shape));
    }
    let total: usize = inferred.iter().product();
    if total > i32::MAX as usize {
        return Err(format!("MaxUnpool's unpooled size {total} exceeds the GPU kernel's 31-bit indexing"));
    }
    if let Some(v) = &idx.value {
        if let Some(bad) = v.to_i64_vec()?.into_iter().find(|&i| i < 0 || i as usize >= total) {
            return Err(format!("index {bad} is out of range for the unpooled shape {inferred:?}"));
        }
    }
    let (n_in, n_out): (usize, usize) = (x.shape.iter().product(), y.shape.iter().product());
    if n_out == 0 {
        return Ok(Lowered::empty());
    }
    let p = MaxUnpoolParams {
        n_in: u32_of(n_in)?,
        n_out: u32_of(n_out)?,
        total: u32_of(total)?,
        rank: u32_of(inferred.len())?,
        dims: dims8(&inferred)?,
        out_strides: dims8(&strides(&out))?,
    };
    let elem = l.elem(x)?;
    let mut low = Lowered::empty();
    low.scratch.push(4 * n_out as u64);
    for (pass, n) in [(0, n_out), (1, n_in), (2, n_out)] {
        let k = GpuKernel::new(key(VisionVariant::MaxUnpool { elem, idx64, pass }), &p, grid_1d(n, 256));
        low.dispatches.push(LoweredDispatch {
            kernel: k,
            bindings: vec![Ref::Input(0), Ref::Input(1), Ref::Scratch(0), Ref::Output(0)],
        });
    }
    Ok(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        check::<ResizeParams>(key(VisionVariant::Resize(GpuType::F32)));
        check::<ResizeTapsParams>(key(VisionVariant::ResizeTaps(GpuType::F16)));
        check::<GridSampleParams>(key(VisionVariant::GridSample(GpuType::F32)));
        check::<AffineGridParams>(key(VisionVariant::AffineGrid(GpuType::BF16)));
        check::<RoiAlignParams>(key(VisionVariant::RoiAlign { t: GpuType::F32, idx64: true }));
        check::<MaxUnpoolParams>(key(VisionVariant::MaxUnpool { elem: ElemBits::B32, idx64: true, pass: 1 }));
    }
}
