//! Loss kernels (`shaders/normalize/loss.wgsl`): NegativeLogLikelihoodLoss and
//! SoftmaxCrossEntropyLoss, every reduction (none / sum / mean), class weights, ignore_index
//! and any number of trailing dims. SoftmaxCrossEntropyLoss first runs the LogSoftmax kernel
//! of `norm.rs` over axis 1 into its `log_prob` output (or a scratch buffer), then the NLL
//! kernel reads the log-probabilities. Targets stay on the GPU (int32, or int64 as word pairs);
//! a target out of range (other than ignore_index) fails the run naming the node, as on the CPU
//! (the kernel reports it through `shaders/layout/index_report_lib.wgsl`).

use super::norm::{SoftmaxParams, SoftmaxVariant};
use super::{grid_1d, grid_groups, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::loss::{Loss, Reduction};
use crate::ops::softmax::SoftmaxKind;
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Lowering, Ref};
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossReduction {
    None,
    Sum,
    Mean,
}

impl LossReduction {
    pub const ALL: [LossReduction; 3] = [LossReduction::None, LossReduction::Sum, LossReduction::Mean];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LossVariant {
    pub t: GpuType,
    pub idx64: bool,
    pub red: LossReduction,
}

const FLOATS: [GpuType; 3] = [GpuType::F32, GpuType::F16, GpuType::BF16];

impl KernelVariant for LossVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::NORM_LOSS
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("IDX64", self.idx64);
        p.codes("RED", &LossReduction::ALL, |r| r as u32).u32("RED", self.red as u32);
        p.lib(&shaders::INDEX_REPORT);
    }
    fn storage_bindings(&self) -> u32 {
        // The last one is the index error record (layout/index_report_lib).
        5
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for t in FLOATS {
            for idx64 in [false, true] {
                for red in LossReduction::ALL {
                    v.push(LossVariant { t, idx64, red });
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/normalize/loss.wgsl` Params.
    LossParams { n: u32, classes: u32, inner: u32, flags: u32, ignore_lo: u32, ignore_hi: u32, pad0: u32, pad1: u32 }
);

pub fn lower_loss(l: &GpuLowering, cx: &LowerCx, loss: &Loss) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = l.ty(x)?;
    if !FLOATS.contains(&t) {
        return Err(format!("losses on {} have no GPU kernel", x.dtype));
    }
    let s = &x.shape;
    if s.len() < 2 {
        return Err(format!("losses need scores of rank ≥ 2, got {}", s.len()));
    }
    let (n, c) = (s[0], s[1]);
    let inner: usize = s[2..].iter().product();
    let tg = cx.input(1)?;
    let idx64 = match tg.dtype {
        DType::I64 => true,
        DType::I32 => false,
        d => return Err(format!("{d} targets have no GPU kernel")),
    };
    let t_shape: Vec<usize> = s.iter().enumerate().filter(|&(d, _)| d != 1).map(|(_, &e)| e).collect();
    if tg.shape != t_shape {
        return Err(format!("target shape {:?} does not match scores {:?} without axis 1", tg.shape, s));
    }
    let weight = cx.inputs.get(2).and_then(|o| o.as_ref());
    if let Some(w) = weight {
        if l.ty(w)? != t || w.shape != [c] {
            return Err(format!("weight must be a [{c}] tensor of the scores' type"));
        }
    }
    let positions = n * inner;
    let total = positions * c;
    let mut dispatches = Vec::new();
    let mut scratch = Vec::new();
    let log_prob_out = cx.outputs.get(1).and_then(|o| o.as_ref()).is_some();
    if log_prob_out && !loss.softmax {
        return Err("NegativeLogLikelihoodLoss has one output".into());
    }
    // The log-probabilities: the input itself, or LogSoftmax over axis 1.
    let logp = if loss.softmax {
        let r = if log_prob_out {
            Ref::Output(1)
        } else {
            scratch.push(l.storage_bytes(x.dtype, total).max(4));
            Ref::Scratch(0)
        };
        if total > 0 {
            let rows = positions;
            let p = SoftmaxParams { rows: u32_of(rows)?, len: u32_of(c)?, inner: u32_of(inner)?, pad0: 0 };
            let k = GpuKernel::new(
                KernelKey::Softmax(SoftmaxVariant { kind: SoftmaxKind::LogSoftmax, t }),
                &p,
                grid_groups(rows),
            );
            dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), r] });
        }
        r
    } else {
        Ref::Input(0)
    };
    let red = match loss.reduction {
        Reduction::None => LossReduction::None,
        Reduction::Sum => LossReduction::Sum,
        Reduction::Mean => LossReduction::Mean,
    };
    if red == LossReduction::None && positions == 0 {
        return Ok(Lowered { dispatches, scratch, consts: vec![] });
    }
    let mut flags = if weight.is_some() { 1 } else { 0 };
    let (mut ignore_lo, mut ignore_hi) = (0, 0);
    if let Some(ii) = loss.ignore_index {
        flags |= 2;
        ignore_lo = ii as u64 as u32;
        ignore_hi = ((ii as u64) >> 32) as u32;
    }
    let p = LossParams {
        n: u32_of(positions)?,
        classes: u32_of(c)?,
        inner: u32_of(inner.max(1))?,
        flags,
        ignore_lo,
        ignore_hi,
        pad0: 0,
        pad1: 0,
    };
    u32_of(total)?;
    let grid = if red == LossReduction::None { grid_1d(positions, 256) } else { [1, 1, 1] };
    let k = GpuKernel::new(KernelKey::Family(FamilyKey::NormLoss(LossVariant { t, idx64, red })), &p, grid);
    let w = if weight.is_some() { Ref::Input(2) } else { Ref::Input(0) };
    dispatches.push(LoweredDispatch { kernel: k, bindings: vec![logp, Ref::Input(1), w, Ref::Output(0)] });
    Ok(Lowered { dispatches, scratch, consts: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        check::<LossParams>(KernelKey::Family(FamilyKey::NormLoss(LossVariant {
            t: GpuType::F32,
            idx64: true,
            red: LossReduction::Mean,
        })));
    }
}
