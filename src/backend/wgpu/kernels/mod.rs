//! GPU kernels: one file per op family, each with its `Variant` types (the pipeline-cache key
//! and the only input to shader generation), its `#[repr(C)]` params mirroring the WGSL
//! `Params` struct, and its lowering from a node to dispatches. [`GpuLowering`] matches the
//! closed `Op` enum exhaustively.

pub mod conv;
pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
// --- modules (g1) ---
pub mod convert;
pub mod quant;
pub mod signal;
// --- end modules (g1) ---
// --- modules (g2) ---
pub mod attention;
pub mod einsum;
// --- end modules (g2) ---
// --- modules (g3) ---
pub mod movement;
// --- end modules (g3) ---
// --- modules (g4) ---
pub mod deconv;
pub mod vision;
// --- end modules (g4) ---
// --- modules (g5) ---
pub mod loss;
pub mod normalize;
// --- end modules (g5) ---
// --- modules (h5) ---
pub mod recurrent;
// --- end modules (h5) ---
// --- modules (c1) ---
pub mod contrib;
// --- end modules (c1) ---
// --- modules (q1) ---
pub mod contrib_quant;
// --- end modules (q1) ---
// --- modules (attn) ---
pub mod contrib_attention;
pub mod contrib_qattention;
pub mod contrib_qlstm;
// --- end modules (attn) ---
// --- modules (quant) ---
pub mod qoperator;
pub mod quant_dp4;
// --- end modules (quant) ---
// --- modules (opt) ---
pub mod concat;
pub mod fused_ew;
// --- end modules (opt) ---
// --- modules (io) ---
pub mod contrib_norm;
// --- end modules (io) ---

use super::shaders::{self, Prelude, ShaderFile};
use crate::ir::Op;
use crate::plan::{KernelInfo, LowerCx, Lowered, Lowering, Operand};
use crate::tensor::DType;

pub use super::types::{ElemBits, GpuCaps, GpuType};

/// Every kernel variant. Hash + Eq: the pipeline-cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KernelKey {
    Unary(elementwise::UnaryVariant),
    Binary(elementwise::BinaryVariant),
    Compare(elementwise::BinaryVariant),
    Predicate(elementwise::UnaryVariant),
    Cast(elementwise::CastVariant),
    Where(elementwise::WhereVariant),
    ArgReduce(reduce::ArgReduceVariant),
    MatMul(matmul::MatMulVariant),
    Conv2d(conv::ConvVariant),
    Depthwise(conv::ConvVariant),
    Pool2d(pool::PoolVariant),
    Reduce(reduce::ReduceVariant),
    Softmax(norm::SoftmaxVariant),
    BatchNorm(norm::NormVariant),
    Lrn(norm::NormVariant),
    Copy(layout::CopyVariant),
    Gather(layout::GatherVariant),
    /// Kernel families that describe themselves through [`KernelVariant`].
    Family(FamilyKey),
}

/// What a kernel family's variant type provides: its shader file, its prelude, its binding
/// count, and every variant for validation. New families implement this and add one line to
/// `family_keys!` below.
pub trait KernelVariant: Sized {
    fn file(&self) -> &'static ShaderFile;
    fn prelude(&self, p: &mut Prelude);
    /// Storage bindings before the uniform (must match the file's declarations).
    fn storage_bindings(&self) -> u32;
    /// Every variant the lowering can produce (validated by naga in the tests).
    fn all() -> Vec<Self>;
}

macro_rules! family_keys {
    ($($v:ident($t:ty)),* $(,)?) => {
        /// Variants of the self-describing kernel families.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum FamilyKey {
            $($v($t),)*
        }

        impl FamilyKey {
            fn file(&self) -> &'static ShaderFile {
                match *self { $(FamilyKey::$v(ref x) => x.file(),)* }
            }
            #[allow(unused_variables)]
            fn prelude(&self, p: &mut Prelude) {
                match *self { $(FamilyKey::$v(ref x) => x.prelude(p),)* }
            }
            fn storage_bindings(&self) -> u32 {
                match *self { $(FamilyKey::$v(ref x) => x.storage_bindings(),)* }
            }
            #[allow(unused_mut)]
            fn all() -> Vec<KernelKey> {
                let mut v: Vec<KernelKey> = Vec::new();
                $(v.extend(<$t as KernelVariant>::all().into_iter().map(|x| KernelKey::Family(FamilyKey::$v(x))));)*
                v
            }
        }
    };
}

family_keys! {
    // --- family keys (g1) ---
    ConvertCast(convert::CastVariant),
    ConvertBitCast(convert::BitCastVariant),
    QuantQuantize(quant::QuantizeVariant),
    QuantDequantize(quant::DequantizeVariant),
    QuantDynamicRange(quant::DynamicRangeVariant),
    QuantMatMulInt(quant::MatMulIntVariant),
    QuantConvInt(quant::ConvIntVariant),
    SignalDft(signal::DftVariant),
    SignalWindow(signal::WindowVariant),
    SignalMelEdges(signal::MelEdgesVariant),
    SignalMelFill(signal::MelFillVariant),
    // --- end family keys (g1) ---
    // --- family keys (g2) ---
    Attention(attention::AttnVariant),
    Einsum(einsum::EinsumVariant),
    // --- end family keys (g2) ---
    // --- family keys (g3) ---
    Movement(movement::MoveVariant),
    // --- end family keys (g3) ---
    // --- family keys (g4) ---
    Vision(vision::VisionVariant),
    Deconv(deconv::DeconvVariant),
    // --- end family keys (g4) ---
    // --- family keys (g5) ---
    NormRows(normalize::RowsVariant),
    NormPointwise(normalize::PointwiseVariant),
    NormDet(normalize::DetVariant),
    NormLoss(loss::LossVariant),
    // --- end family keys (g5) ---
    // --- family keys (h5) ---
    Recurrent(recurrent::RecurrentVariant),
    // --- end family keys (h5) ---
    // --- family keys (c1) ---
    Contrib(contrib::ContribVariant),
    // --- end family keys (c1) ---
    // --- family keys (q1) ---
    ContribQuantNBits(contrib_quant::NBitsVariant),
    ContribQuantQLinear(contrib_quant::QLinearVariant),
    // --- end family keys (q1) ---
    // --- family keys (attn) ---
    ContribAttention(contrib_attention::ContribAttnVariant),
    ContribQLstm(contrib_qlstm::QLstmVariant),
    // --- end family keys (attn) ---
    // --- family keys (quant) ---
    QopLookup(qoperator::LookupVariant),
    QopGlobalAvgPool(qoperator::GlobalAvgPoolVariant),
    QopQGemm(qoperator::QGemmVariant),
    QopIntToFloat(qoperator::IntToFloatVariant),
    QopGatherBlockQuantized(qoperator::GbqVariant),
    QuantMatMulDp4(quant_dp4::Dp4Variant),
    // --- end family keys (quant) ---
    // --- family keys (opt) ---
    ConcatMulti(concat::ConcatVariant),
    FusedElementwise(fused_ew::FusedEwVariant),
    // --- end family keys (opt) ---
    // --- family keys (io) ---
    ContribNorm(contrib_norm::ContribNormVariant),
    // --- end family keys (io) ---
}

impl KernelKey {
    /// Variants that another input shape of the same step may need, compiled with the stage's
    /// own so that a new shape signature compiles no pipeline (see
    /// [`matmul::MatMulVariant::alignment_siblings`]).
    pub fn shape_siblings(&self) -> Vec<KernelKey> {
        match self {
            KernelKey::MatMul(v) => v.alignment_siblings().into_iter().map(KernelKey::MatMul).collect(),
            _ => Vec::new(),
        }
    }

    pub fn file(&self) -> &'static ShaderFile {
        match self {
            KernelKey::Unary(_) => &shaders::UNARY,
            KernelKey::Binary(_) => &shaders::BINARY,
            KernelKey::Compare(_) => &shaders::COMPARE,
            KernelKey::Predicate(_) => &shaders::PREDICATE,
            KernelKey::Cast(_) => &shaders::CAST,
            KernelKey::Where(_) => &shaders::WHERE,
            KernelKey::ArgReduce(_) => &shaders::ARGREDUCE,
            KernelKey::MatMul(v) => v.file(),
            KernelKey::Conv2d(_) => &shaders::CONV2D,
            KernelKey::Depthwise(_) => &shaders::DEPTHWISE,
            KernelKey::Pool2d(_) => &shaders::POOL2D,
            KernelKey::Reduce(_) => &shaders::REDUCE,
            KernelKey::Softmax(_) => &shaders::SOFTMAX,
            KernelKey::BatchNorm(_) => &shaders::BATCHNORM,
            KernelKey::Lrn(_) => &shaders::LRN,
            KernelKey::Copy(_) => &shaders::COPY,
            KernelKey::Gather(_) => &shaders::GATHER,
            KernelKey::Family(f) => f.file(),
        }
    }

    pub fn prelude(&self) -> Prelude {
        let mut p = Prelude::default();
        match self {
            KernelKey::Unary(v) | KernelKey::Predicate(v) => v.prelude(&mut p),
            KernelKey::Binary(v) | KernelKey::Compare(v) => v.prelude(&mut p),
            KernelKey::Cast(v) => v.prelude(&mut p),
            KernelKey::Where(v) => v.prelude(&mut p),
            KernelKey::ArgReduce(v) => v.prelude(&mut p),
            KernelKey::MatMul(v) => v.prelude(&mut p),
            KernelKey::Conv2d(v) | KernelKey::Depthwise(v) => v.prelude(&mut p),
            KernelKey::Pool2d(v) => v.prelude(&mut p),
            KernelKey::Reduce(v) => v.prelude(&mut p),
            KernelKey::Softmax(v) => v.prelude(&mut p),
            KernelKey::BatchNorm(v) | KernelKey::Lrn(v) => v.prelude(&mut p),
            KernelKey::Copy(v) => v.prelude(&mut p),
            KernelKey::Gather(v) => v.prelude(&mut p),
            KernelKey::Family(f) => f.prelude(&mut p),
        }
        p
    }

    /// The composed WGSL source of this variant.
    pub fn source(&self) -> String {
        self.prelude().compose(self.file())
    }

    /// Storage bindings before the uniform (must match the file's declarations).
    pub fn storage_bindings(&self) -> u32 {
        match self {
            KernelKey::Unary(_) | KernelKey::Reduce(_) | KernelKey::Softmax(_) => 2,
            KernelKey::Lrn(_) | KernelKey::Copy(_) | KernelKey::Predicate(_) | KernelKey::Cast(_) => 2,
            KernelKey::ArgReduce(_) => 2,
            KernelKey::Binary(_) | KernelKey::Compare(_) | KernelKey::Pool2d(_) => 3,
            // Gather's last storage binding is its index error record (layout/index_lib).
            KernelKey::Where(_) | KernelKey::Gather(_) => 4,
            // A, B, C, Y and the residual R (matmul_lib.wgsl).
            KernelKey::MatMul(_) => 5,
            KernelKey::Conv2d(_) | KernelKey::Depthwise(_) => 5,
            KernelKey::BatchNorm(_) => 6,
            KernelKey::Family(f) => f.storage_bindings(),
        }
    }

    pub fn label(&self) -> String {
        let s = format!("{self:?}");
        s.replace(['(', ')', '{', '}', ',', ':'], " ").split_whitespace().collect::<Vec<_>>().join("_").to_lowercase()
    }

    /// A representative set of variants covering every shader, op code and type the lowering
    /// can produce (used by the naga validation tests).
    pub fn all_variants() -> Vec<KernelKey> {
        let mut v = Vec::new();
        v.extend(elementwise::variants());
        v.extend(matmul::variants());
        v.extend(conv::variants());
        v.extend(pool::variants());
        v.extend(reduce::variants());
        v.extend(norm::variants());
        v.extend(layout::variants());
        v.extend(FamilyKey::all());
        v
    }
}

/// A lowered GPU dispatch: the variant, its params bytes and its workgroup grid.
#[derive(Clone, Debug)]
pub struct GpuKernel {
    pub key: KernelKey,
    pub params: Vec<u8>,
    pub grid: [u32; 3],
}

impl KernelInfo for GpuKernel {
    fn label(&self) -> String {
        self.key.label()
    }
}

impl GpuKernel {
    pub fn new<P: bytemuck::Pod>(key: KernelKey, params: &P, grid: [u32; 3]) -> GpuKernel {
        GpuKernel { key, params: bytemuck::bytes_of(params).to_vec(), grid }
    }
}

/// Params structs expose their field offsets, checked against the WGSL struct by naga.
pub trait ParamsLayout: bytemuck::Pod {
    /// (field name, byte offset) in declaration order.
    fn fields() -> Vec<(&'static str, usize)>;
}

/// Declares a `#[repr(C)]` Pod params struct mirroring a WGSL `Params` struct.
#[macro_export]
macro_rules! gpu_params {
    ($(#[$m:meta])* $name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $(pub $f: $t),* }
        impl $crate::backend::wgpu::kernels::ParamsLayout for $name {
            fn fields() -> Vec<(&'static str, usize)> {
                vec![$((stringify!($f), std::mem::offset_of!($name, $f))),*]
            }
        }
    };
}

/// Up to 8 dims packed as WGSL `array<vec4<u32>, 2>`.
pub type Dims8 = [[u32; 4]; 2];
/// Up to 8 signed values as WGSL `array<vec4<i32>, 2>`.
pub type IDims8 = [[i32; 4]; 2];

pub fn dims8(v: &[usize]) -> Result<Dims8, String> {
    if v.len() > 8 {
        return Err(format!("rank {} exceeds the GPU kernels' limit of 8", v.len()));
    }
    let mut d = [[0u32; 4]; 2];
    for (i, &x) in v.iter().enumerate() {
        d[i / 4][i % 4] = u32_of(x)?;
    }
    Ok(d)
}

pub fn idims8(v: &[isize]) -> Result<IDims8, String> {
    if v.len() > 8 {
        return Err(format!("rank {} exceeds the GPU kernels' limit of 8", v.len()));
    }
    let mut d = [[0i32; 4]; 2];
    for (i, &x) in v.iter().enumerate() {
        d[i / 4][i % 4] = i32::try_from(x).map_err(|_| format!("stride {x} exceeds 32 bits"))?;
    }
    Ok(d)
}

pub fn u32_of(x: usize) -> Result<u32, String> {
    u32::try_from(x).map_err(|_| format!("size {x} exceeds the GPU kernels' 32-bit indexing"))
}

/// Workgroups for `n` invocations of `wg` threads, spilling into y beyond 65535.
pub fn grid_1d(n: usize, wg: u32) -> [u32; 3] {
    let groups = n.div_ceil(wg as usize).max(1);
    if groups <= 65535 {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(65535);
        [groups.div_ceil(y) as u32, y as u32, 1]
    }
}

/// Workgroups for `n` workgroup-sized items (one workgroup each), spilling into y.
pub fn grid_groups(n: usize) -> [u32; 3] {
    grid_1d(n, 1)
}

/// The GPU backend's lowering.
pub struct GpuLowering {
    pub caps: GpuCaps,
    /// How matrix products choose their tile configuration (bench: autotuner, f16 accumulation).
    pub matmul: matmul::MatMulConfig,
}

impl GpuLowering {
    pub fn ty(&self, o: &Operand) -> Result<GpuType, String> {
        GpuType::of(o.dtype, self.caps)
    }
    pub fn elem(&self, o: &Operand) -> Result<ElemBits, String> {
        ElemBits::of(o.dtype, self.caps)
    }
}

impl Lowering for GpuLowering {
    type Kernel = GpuKernel;

    fn storage_bytes(&self, dtype: DType, n: usize) -> u64 {
        super::types::storage_bytes(dtype, n, self.caps)
    }

    fn lower(&self, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
        match &cx.node.op {
            Op::Unary(u) => elementwise::lower_unary(self, cx, u),
            Op::Binary(b) => elementwise::lower_binary(self, cx, b.op),
            Op::Variadic(v) => elementwise::lower_variadic(self, cx, v),
            Op::Clip(c) => elementwise::lower_clip(self, cx, c),
            Op::Cast(_) => convert::lower_cast(self, cx),
            Op::Where(_) => elementwise::lower_where(self, cx),
            Op::MatMul(_) => matmul::lower_matmul(self, cx),
            Op::Gemm(g) => matmul::lower_gemm(self, cx, g),
            Op::Conv(c) => conv::lower_conv(self, cx, c),
            Op::Pool(p) => pool::lower_pool(self, cx, p),
            Op::GlobalPool(p) => reduce::lower_global_pool(self, cx, p),
            Op::Reduce(r) => reduce::lower_reduce(self, cx, r),
            Op::ArgReduce(a) => reduce::lower_argreduce(self, cx, a),
            Op::BatchNorm(b) => norm::lower_batchnorm(self, cx, b),
            Op::Lrn(l) => norm::lower_lrn(self, cx, l),
            Op::Softmax(s) => norm::lower_softmax(self, cx, s),
            // Aliases are planned without a kernel; one reaches here only when its output
            // cannot share storage (e.g. Dropout with a mask).
            Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Identity(_) => {
                layout::lower_copy_all(self, cx)
            }
            Op::Dropout(_) => layout::lower_dropout(self, cx),
            Op::Transpose(t) => layout::lower_transpose(self, cx, t),
            Op::Concat(c) => concat::lower_concat_multi(self, cx, c).or_else(|_| layout::lower_concat(self, cx, c)),
            Op::Split(s) => concat::lower_split_multi(self, cx, s).or_else(|_| layout::lower_split(self, cx, s)),
            Op::Slice(s) => layout::lower_slice(self, cx, s),
            Op::Gather(g) => layout::lower_gather(self, cx, g),
            Op::Expand(_) => layout::lower_expand(self, cx),
            Op::Shape(_) | Op::Size(_) | Op::ConstantOfShape(_) | Op::Range(_) => {
                Err("this op needs run-time values on the host (data-dependent shapes are not supported yet)".into())
            }
            // --- GPU: convert, quantization, signal (g1) ---
            Op::CastLike(_) => convert::lower_cast(self, cx),
            Op::BitCast(_) => convert::lower_bitcast(self, cx),
            Op::QuantizeLinear(q) => quant::lower_quantize(self, cx, q),
            Op::DequantizeLinear(d) => quant::lower_dequantize(self, cx, d),
            Op::DynamicQuantizeLinear(_) => quant::lower_dynamic_quantize(self, cx),
            Op::MatMulInteger(_) => quant::lower_matmul_int(self, cx, false),
            Op::ConvInteger(c) => quant::lower_conv_int(self, cx, &c.conv, false),
            Op::QLinearMatMul(_) => quant::lower_matmul_int(self, cx, true),
            Op::QLinearConv(c) => quant::lower_conv_int(self, cx, &c.conv, true),
            Op::Dft(d) => signal::lower_dft(self, cx, d),
            Op::Stft(s) => signal::lower_stft(self, cx, s),
            Op::WindowFn(w) => signal::lower_window(self, cx, w),
            Op::MelWeightMatrix(m) => signal::lower_mel(self, cx, m),
            // --- end GPU convert ---
            // --- GPU: attention, einsum (g2) ---
            Op::Attention(a) => attention::lower_attention(self, cx, a),
            Op::RotaryEmbedding(r) => attention::lower_rotary(self, cx, r),
            Op::LinearAttention(a) => attention::lower_linear_attention(self, cx, a),
            Op::FlexAttention(f) => attention::lower_flex_attention(self, cx, f),
            Op::Einsum(e) => einsum::lower_einsum(self, cx, e),
            // --- end GPU attention ---
            // --- GPU: data movement (g3) ---
            Op::Pad(p) => movement::lower_pad(self, cx, p),
            Op::CenterCropPad(c) => movement::lower_center_crop_pad(self, cx, c),
            Op::GatherElements(g) => movement::lower_gather_elements(self, cx, g),
            Op::GatherND(g) => movement::lower_gather_nd(self, cx, g),
            Op::ScatterElements(s) => movement::lower_scatter_elements(self, cx, s),
            Op::ScatterND(s) => movement::lower_scatter_nd(self, cx, s),
            Op::TensorScatter(s) => movement::lower_tensor_scatter(self, cx, s),
            Op::Tile(t) => movement::lower_tile(self, cx, t),
            Op::BlockShuffle(b) => movement::lower_block_shuffle(self, cx, b),
            Op::Trilu(t) => movement::lower_trilu(self, cx, t),
            Op::OneHot(o) => movement::lower_onehot(self, cx, o),
            Op::EyeLike(e) => movement::lower_eyelike(self, cx, e),
            Op::ReverseSequence(r) => movement::lower_reverse_sequence(self, cx, r),
            Op::Col2Im(c) => movement::lower_col2im(self, cx, c),
            Op::TopK(t) => movement::lower_topk(self, cx, t),
            // Their output shapes need their only data input's value, so the planner always
            // knows it and folds them on the host; a GPU kernel would never run.
            Op::Unique(_) => Err("Unique is folded on the host once its input is known".into()),
            Op::NonZero(_) => Err("NonZero is folded on the host once its input is known".into()),
            Op::Compress(c) => movement::lower_compress(self, cx, c),
            Op::Cumulative(c) => movement::lower_cumulative(self, cx, c),
            // --- end GPU data movement ---
            // --- GPU: vision (g4) ---
            Op::Resize(r) => vision::lower_resize(self, cx, r),
            Op::GridSample(g) => vision::lower_grid_sample(self, cx, g),
            Op::AffineGrid(a) => vision::lower_affine_grid(self, cx, a),
            Op::RoiAlign(r) => vision::lower_roi_align(self, cx, r),
            Op::NonMaxSuppression(_) => Err(
                "NonMaxSuppression has no GPU kernel (its output count is data-dependent; it is folded on the host)"
                    .into(),
            ),
            Op::MaxUnpool(m) => vision::lower_max_unpool(self, cx, m),
            Op::ConvTranspose(c) => deconv::lower_conv_transpose(self, cx, c),
            Op::DeformConv(d) => deconv::lower_deform_conv(self, cx, d),
            Op::CausalConvWithState(c) => deconv::lower_causal_conv(self, cx, c),
            // --- end GPU vision ---
            // --- GPU: normalization, losses, misc elementwise (g5) ---
            Op::BatchNormTrain(b) => normalize::lower_batch_norm_train(self, cx, b),
            Op::LayerNorm(n) => normalize::lower_layer_norm(self, cx, n),
            Op::RmsNorm(n) => normalize::lower_rms_norm(self, cx, n),
            Op::GroupNorm(n) => normalize::lower_group_norm(self, cx, n),
            Op::InstanceNorm(n) => normalize::lower_instance_norm(self, cx, n),
            Op::LpNorm(n) => normalize::lower_lp_norm(self, cx, n),
            Op::Mvn(m) => normalize::lower_mvn(self, cx, m),
            Op::Loss(x) => loss::lower_loss(self, cx, x),
            Op::Swish(s) => normalize::lower_swish(self, cx, s),
            Op::SwiGlu(s) => normalize::lower_swiglu(self, cx, s),
            Op::Shrink(s) => normalize::lower_shrink(self, cx, s),
            Op::BitwiseNot(_) => normalize::lower_bitwise_not(self, cx),
            Op::Det(_) => normalize::lower_det(self, cx),
            // --- end GPU normalization ---
            // --- GPU: fused (opt) ---
            Op::FusedConv(f) => conv::lower_conv_epilogue(self, cx, &f.conv, f.act),
            Op::FusedElementwise(f) => fused_ew::lower_fused_elementwise(self, cx, f),
            Op::FusedMatMul(f) => fused_ew::lower_fused_matmul(self, cx, f),
            // --- end GPU: fused (opt) ---
            // --- recurrent (h5) ---
            Op::Recurrent(r) => recurrent::lower_recurrent(self, cx, r),
            Op::Binarizer(_) | Op::ArrayFeatureExtractor(_) | Op::LabelEncoder(_) | Op::TreeEnsemble(_) => {
                Err("ai.onnx.ml operators run on the CPU".into())
            }
            // --- end recurrent ---
            // --- strings (s1) ---
            Op::StringNormalizer(_)
            | Op::StringConcat(_)
            | Op::StringSplit(_)
            | Op::RegexFullMatch(_)
            | Op::TfIdfVectorizer(_) => Err("string operators run on the CPU".into()),
            // --- end strings ---
            // --- contrib (c1) ---
            Op::ContribGelu(g) => contrib::lower_gelu(self, cx, g),
            Op::BiasAdd(_) => contrib::lower_bias_add(self, cx),
            Op::SkipLayerNorm(s) => contrib::lower_skip_layer_norm(self, cx, s),
            Op::SimplifiedLayerNorm(s) => contrib::lower_simplified_layer_norm(self, cx, s),
            Op::EmbedLayerNorm(e) => contrib::lower_embed_layer_norm(self, cx, e),
            Op::ContribAttention(a) => contrib::lower_attention(self, cx, a),
            // --- end contrib ---
            // --- contrib quant (q1) ---
            Op::MatMulNBits(m) => contrib_quant::lower_matmul_n_bits(self, cx, m),
            Op::QLinearBinary(q) => contrib_quant::lower_qlinear_binary(self, cx, q),
            Op::QLinearSoftmax(q) => contrib_quant::lower_qlinear_softmax(self, cx, q),
            // --- end contrib quant ---
            // --- contrib attention (attn) ---
            Op::MultiHeadAttention(m) => contrib_attention::lower_mha(self, cx, m),
            Op::GroupQueryAttention(g) => contrib_attention::lower_gqa(self, cx, g),
            Op::ContribRotaryEmbedding(r) => contrib_attention::lower_rotary(self, cx, r),
            Op::QAttention(q) => contrib_qattention::lower_qattention(self, cx, q),
            Op::QEmbedLayerNorm(e) => contrib_qattention::lower_qembed_layer_norm(self, cx, e),
            Op::DynamicQuantizeLstm(q) => contrib_qlstm::lower_dynamic_quantize_lstm(self, cx, q),
            // --- end contrib attention (attn) ---
            // --- qoperator (quant) ---
            Op::QLinearLookup(q) => qoperator::lower_qlinear_lookup(self, cx, q),
            Op::QLinearConcat(q) => qoperator::lower_qlinear_concat(self, cx, q),
            Op::QLinearGlobalAveragePool(q) => qoperator::lower_qlinear_global_average_pool(self, cx, q),
            Op::QGemm(q) => qoperator::lower_qgemm(self, cx, q),
            Op::MatMulIntegerToFloat(q) => qoperator::lower_matmul_integer_to_float(self, cx, q),
            Op::GatherBlockQuantized(q) => qoperator::lower_gather_block_quantized(self, cx, q),
            // --- end qoperator (quant) ---
            // --- control flow, sequences (core) ---
            Op::If(_) => Err("If is planned by inlining the taken branch".into()),
            Op::Loop(_) | Op::Scan(_) | Op::SequenceMap(_) => Err("Loop, Scan and SequenceMap run on the CPU".into()),
            Op::SequenceConstruct(_)
            | Op::SequenceEmpty(_)
            | Op::SequenceAt(_)
            | Op::SequenceInsert(_)
            | Op::SequenceErase(_)
            | Op::SequenceLength(_)
            | Op::SplitToSequence(_)
            | Op::ConcatFromSequence(_)
            | Op::Optional(_)
            | Op::OptionalHasElement(_)
            | Op::OptionalGetElement(_) => Err("sequences and optionals are kept on the CPU".into()),
            // --- end control flow ---
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Shader checks that need no device: every variant parses and validates with naga, its
    //! bindings match the layout the Rust side builds, and every params struct matches the
    //! WGSL `Params` member for member.
    use super::*;
    use crate::backend::wgpu::shaders::{validate, ALL};

    fn uniform_struct(m: &naga::Module) -> (Vec<(String, u32)>, u32) {
        let g = m
            .global_variables
            .iter()
            .find(|(_, g)| g.space == naga::AddressSpace::Uniform)
            .expect("a uniform Params")
            .1;
        match &m.types[g.ty].inner {
            naga::TypeInner::Struct { members, span } => {
                (members.iter().map(|mb| (mb.name.clone().unwrap_or_default(), mb.offset)).collect(), *span)
            }
            _ => panic!("Params is not a struct"),
        }
    }

    #[test]
    fn every_variant_validates_and_binds_as_declared() {
        let variants = KernelKey::all_variants();
        assert!(variants.len() > 200, "{} variants", variants.len());
        for k in &variants {
            let src = k.source();
            let m = validate(&src).unwrap_or_else(|e| panic!("{}:\n{e}", k.label()));
            let storage = m
                .global_variables
                .iter()
                .filter(|(_, g)| matches!(g.space, naga::AddressSpace::Storage { .. }))
                .count();
            assert_eq!(storage as u32, k.storage_bindings(), "{}: storage bindings", k.label());
            for (_, g) in m.global_variables.iter() {
                if let Some(b) = &g.binding {
                    assert_eq!(b.group, 0, "{}", k.label());
                    let is_uniform = g.space == naga::AddressSpace::Uniform;
                    assert_eq!(is_uniform, b.binding == k.storage_bindings(), "{}: binding {}", k.label(), b.binding);
                }
            }
        }
    }

    #[test]
    fn every_shader_file_has_a_variant() {
        let variants = KernelKey::all_variants();
        for f in ALL {
            if f.name.starts_with("types/") || f.name.starts_with("fused/") || f.name.ends_with("_lib") {
                // A library (types, fused epilogues, `*_lib` shared code) must be part of some variant's source.
                assert!(variants.iter().any(|k| k.source().contains(f.source)), "{} is never included", f.name);
            } else {
                assert!(variants.iter().any(|k| std::ptr::eq(k.file(), *f)), "{} has no variant", f.name);
            }
        }
    }

    /// Asserts that `P` matches the WGSL `Params` struct of `k` (use from family tests).
    pub(crate) fn check<P: ParamsLayout>(k: KernelKey) {
        let m = validate(&k.source()).unwrap();
        let (members, span) = uniform_struct(&m);
        let rust: Vec<(String, u32)> = P::fields().into_iter().map(|(n, o)| (n.to_string(), o as u32)).collect();
        assert_eq!(rust, members, "{}: Params fields/offsets differ from WGSL", k.file().name);
        assert_eq!((std::mem::size_of::<P>() as u32).div_ceil(16) * 16, span, "{}: Params size", k.file().name);
    }

    #[test]
    fn params_match_wgsl_structs() {
        use crate::ops::elementwise::{BinaryOp, UnaryOp};
        let f = GpuType::F32;
        check::<elementwise::UnaryParams>(KernelKey::Unary(elementwise::UnaryVariant { op: UnaryOp::Relu, t: f }));
        check::<elementwise::UnaryParams>(KernelKey::Predicate(elementwise::UnaryVariant { op: UnaryOp::IsNaN, t: f }));
        check::<elementwise::BinaryParams>(KernelKey::Binary(elementwise::BinaryVariant {
            op: BinaryOp::Add,
            t: GpuType::I64,
            bcast: true,
        }));
        check::<elementwise::BinaryParams>(KernelKey::Compare(elementwise::BinaryVariant {
            op: BinaryOp::Less,
            t: GpuType::U8,
            bcast: true,
        }));
        check::<elementwise::CastParams>(KernelKey::Cast(elementwise::CastVariant::new(GpuType::F32, GpuType::I64)));
        check::<elementwise::WhereParams>(KernelKey::Where(elementwise::WhereVariant { elem: ElemBits::B32 }));
        check::<reduce::ArgReduceParams>(KernelKey::ArgReduce(reduce::ArgReduceVariant {
            t: GpuType::F32,
            is_max: true,
            select_last: false,
        }));
        check::<matmul::MatMulParams>(KernelKey::MatMul(matmul::MatMulVariant::new(f, true, matmul::Algo::Tile64)));
        check::<conv::ConvParams>(KernelKey::Conv2d(conv::ConvVariant::plain(f, true)));
        check::<conv::DepthwiseParams>(KernelKey::Depthwise(conv::ConvVariant::plain(f, true)));
        check::<pool::PoolParams>(KernelKey::Pool2d(pool::PoolVariant {
            op: pool::PoolOp::Avg,
            count_pad: true,
            t: f,
            indices: false,
            col_major: false,
        }));
        check::<reduce::ReduceParams>(KernelKey::Reduce(reduce::ReduceVariant {
            kind: crate::ops::reduce::ReduceKind::Sum,
            t: f,
        }));
        check::<norm::SoftmaxParams>(KernelKey::Softmax(norm::SoftmaxVariant {
            kind: crate::ops::softmax::SoftmaxKind::Softmax,
            t: f,
        }));
        check::<norm::BatchNormParams>(KernelKey::BatchNorm(norm::NormVariant { t: f }));
        check::<norm::LrnParams>(KernelKey::Lrn(norm::NormVariant { t: f }));
        check::<layout::CopyParams>(KernelKey::Copy(layout::CopyVariant { elem: ElemBits::B32 }));
        check::<layout::GatherParams>(KernelKey::Gather(layout::GatherVariant { elem: ElemBits::B64, idx64: true }));
    }

    #[test]
    fn grids_cover_and_respect_limits() {
        for n in [0usize, 1, 255, 256, 257, 65535 * 256, 65535 * 256 + 1, 40_000_000] {
            let g = grid_1d(n, 256);
            assert!(g[0] <= 65535 && g[1] <= 65535);
            assert!((g[0] as usize) * (g[1] as usize) * 256 >= n);
        }
    }
}
