//! Einsum (`shaders/einsum/einsum.wgsl`): any equation the CPU reference accepts, lowered as
//! one strided sum-of-products kernel (one invocation per output element, a loop over the
//! summed labels' index space). The index plan (label sizes, per-operand strides with
//! diagonals and broadcasts) comes from [`Einsum::index_plan`]. Up to 4 operands, 8 output
//! labels and 8 summed labels; every numeric GPU type (integers wrap exactly).

use super::{dims8, grid_1d, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::einsum::{Einsum, EinsumIndex};
use crate::plan::{LowerCx, Lowered, Ref};

/// The element type of the operands and the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EinsumVariant {
    pub t: GpuType,
}

impl KernelVariant for EinsumVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::EINSUM
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
    }
    fn storage_bindings(&self) -> u32 {
        5
    }
    fn all() -> Vec<Self> {
        GpuType::ALL.into_iter().filter(|&t| t != GpuType::Bool).map(|t| EinsumVariant { t }).collect()
    }
}

gpu_params!(
    /// `shaders/einsum/einsum.wgsl` Params.
    EinsumParams {
        n_out: u32,
        n_in: u32,
        out_rank: u32,
        sum_rank: u32,
        n_sum: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
        out_shape: super::Dims8,
        sum_shape: super::Dims8,
        strides: [[u32; 4]; 16],
    }
);

/// Operands the kernel binds.
const MAX_INPUTS: usize = 4;

pub fn lower_einsum(l: &GpuLowering, cx: &LowerCx, e: &Einsum) -> Result<Lowered<GpuKernel>, String> {
    let n_in = cx.inputs.len();
    if n_in == 0 || n_in > MAX_INPUTS {
        return Err(format!("Einsum with {n_in} operands has no GPU kernel (1 to {MAX_INPUTS})"));
    }
    let ins: Vec<_> = (0..n_in).map(|i| cx.input(i)).collect::<Result<_, _>>()?;
    let dt = ins[0].dtype;
    if ins.iter().any(|x| x.dtype != dt) {
        return Err("Einsum inputs must share one dtype".into());
    }
    let t = l.ty(ins[0])?;
    if t == GpuType::Bool {
        return Err("bool Einsum has no GPU kernel".into());
    }
    let shapes: Vec<&[usize]> = ins.iter().map(|x| x.shape.as_slice()).collect();
    let EinsumIndex { out_shape, n_out_labels, lsize, in_strides } = e.index_plan(&shapes)?;
    let sum_shape = &lsize[n_out_labels..];
    if n_out_labels > 8 || sum_shape.len() > 8 {
        return Err(format!(
            "Einsum with {n_out_labels} output and {} summed labels has no GPU kernel (8 each)",
            sum_shape.len()
        ));
    }
    let n_out: usize = out_shape.iter().product();
    if n_out == 0 {
        return Ok(Lowered::empty());
    }
    let n_sum: usize = sum_shape.iter().product();
    // Empty operands only occur when the summed space is empty: the output is all zeros,
    // and nothing is read.
    if n_sum > 0 && ins.iter().any(|x| x.shape.iter().product::<usize>() == 0) {
        return Err("Einsum over an empty operand has no GPU kernel".into());
    }
    let mut strides = [[0u32; 4]; 16];
    for (k, st) in in_strides.iter().enumerate() {
        for (lab, &s) in st.iter().enumerate() {
            let slot = if lab < n_out_labels { lab } else { 8 + lab - n_out_labels };
            let f = k * 16 + slot;
            strides[f / 4][f % 4] = u32_of(s)?;
        }
    }
    let p = EinsumParams {
        n_out: u32_of(n_out)?,
        n_in: n_in as u32,
        out_rank: n_out_labels as u32,
        sum_rank: sum_shape.len() as u32,
        n_sum: u32_of(n_sum)?,
        pad0: 0,
        pad1: 0,
        pad2: 0,
        out_shape: dims8(&out_shape)?,
        sum_shape: dims8(sum_shape)?,
        strides,
    };
    let key = KernelKey::Family(super::FamilyKey::Einsum(EinsumVariant { t }));
    let k = GpuKernel::new(key, &p, grid_1d(n_out, 256));
    let read = |i: usize| if n_sum > 0 && i < n_in { Ref::Input(i) } else { Ref::Output(0) };
    Ok(Lowered::single(k, vec![read(0), read(1), read(2), read(3), Ref::Output(0)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        check::<EinsumParams>(KernelKey::Family(super::super::FamilyKey::Einsum(EinsumVariant { t: GpuType::I64 })));
    }

    #[test]
    fn index_plan_of_a_batched_product() {
        let e = Einsum::new("bij,bjk->bik").unwrap();
        let p = e.index_plan(&[&[5, 2, 3], &[5, 3, 4]]).unwrap();
        assert_eq!(p.out_shape, vec![5, 2, 4]);
        assert_eq!(p.n_out_labels, 3);
        assert_eq!(p.lsize, vec![5, 2, 4, 3]);
        assert_eq!(p.in_strides[0], vec![6, 3, 0, 1]);
        assert_eq!(p.in_strides[1], vec![12, 0, 1, 4]);
    }
}
