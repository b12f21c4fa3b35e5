//! The closed operator enum. One variant per op struct of `crate::ops`; adding a variant makes
//! the compiler ask every exhaustive match (the backends' lowerings) to handle it.

use crate::ops::*;

macro_rules! ops {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Every operator the engine implements, with its decoded attributes.
        #[derive(Clone, Debug)]
        pub enum Op {
            $($variant($ty),)*
        }

        impl Op {
            /// The op's behaviour: shape rule, reference kernel, aliasing.
            pub fn spec(&self) -> &dyn OpSpec {
                match self {
                    $(Op::$variant(x) => x,)*
                }
            }

            /// The variant's name (for plans, profiles and messages).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Op::$variant(_) => stringify!($variant),)*
                }
            }
        }
    };
}

ops! {
    Unary(elementwise::Unary),
    Binary(elementwise::Binary),
    Variadic(elementwise::Variadic),
    Clip(elementwise::Clip),
    Cast(convert::Cast),
    Where(elementwise::Where),
    MatMul(matmul::MatMul),
    Gemm(matmul::Gemm),
    Conv(conv::Conv),
    Pool(pool::Pool),
    GlobalPool(pool::GlobalPool),
    Reduce(reduce::Reduce),
    ArgReduce(reduce::ArgReduce),
    BatchNorm(norm::BatchNorm),
    Lrn(norm::Lrn),
    Softmax(softmax::Softmax),
    Reshape(layout::Reshape),
    Flatten(layout::Flatten),
    Squeeze(layout::Squeeze),
    Unsqueeze(layout::Unsqueeze),
    Identity(layout::Identity),
    Dropout(layout::Dropout),
    Transpose(layout::Transpose),
    Concat(layout::Concat),
    Split(layout::Split),
    Slice(layout::Slice),
    Gather(layout::Gather),
    Expand(layout::Expand),
    Shape(shape_ops::Shape),
    Size(shape_ops::Size),
    ConstantOfShape(shape_ops::ConstantOfShape),
    Range(shape_ops::Range),
    // --- convert: casts, quantization, signal (h1) ---
    CastLike(convert::CastLike),
    BitCast(convert::BitCast),
    QuantizeLinear(quant::QuantizeLinear),
    DequantizeLinear(quant::DequantizeLinear),
    DynamicQuantizeLinear(quant::DynamicQuantizeLinear),
    MatMulInteger(quant::MatMulInteger),
    ConvInteger(quant::ConvInteger),
    QLinearMatMul(quant::QLinearMatMul),
    QLinearConv(quant::QLinearConv),
    Dft(signal::Dft),
    Stft(signal::Stft),
    WindowFn(signal::WindowFn),
    MelWeightMatrix(signal::MelWeightMatrix),
    // --- end convert ---
    // --- normalization, losses, attention (h2) ---
    BatchNormTrain(norm::BatchNormTrain),
    LayerNorm(norm::LayerNorm),
    RmsNorm(norm::RmsNorm),
    GroupNorm(norm::GroupNorm),
    InstanceNorm(norm::InstanceNorm),
    LpNorm(norm::LpNorm),
    Mvn(norm::Mvn),
    Loss(loss::Loss),
    Attention(attention::Attention),
    RotaryEmbedding(attention::RotaryEmbedding),
    LinearAttention(attention::LinearAttention),
    FlexAttention(attention::FlexAttention),
    Einsum(einsum::Einsum),
    Swish(misc::Swish),
    SwiGlu(misc::SwiGlu),
    Shrink(misc::Shrink),
    BitwiseNot(misc::BitwiseNot),
    Det(misc::Det),
    // --- end normalization ---
    // --- data movement (h3) ---
    Pad(pad::Pad),
    CenterCropPad(pad::CenterCropPad),
    GatherElements(gather_scatter::GatherElements),
    GatherND(gather_scatter::GatherND),
    ScatterElements(gather_scatter::ScatterElements),
    ScatterND(gather_scatter::ScatterND),
    TensorScatter(gather_scatter::TensorScatter),
    Tile(movement::Tile),
    BlockShuffle(movement::BlockShuffle),
    Trilu(movement::Trilu),
    OneHot(movement::OneHot),
    EyeLike(movement::EyeLike),
    ReverseSequence(movement::ReverseSequence),
    Col2Im(movement::Col2Im),
    TopK(select::TopK),
    Unique(select::Unique),
    NonZero(select::NonZero),
    Compress(select::Compress),
    Cumulative(cumulative::Cumulative),
    // --- end data movement ---
    // --- vision (h4) ---
    Resize(resize::Resize),
    GridSample(vision::GridSample),
    AffineGrid(vision::AffineGrid),
    RoiAlign(vision::RoiAlign),
    NonMaxSuppression(vision::NonMaxSuppression),
    MaxUnpool(vision::MaxUnpool),
    ConvTranspose(conv::ConvTranspose),
    DeformConv(conv::DeformConv),
    CausalConvWithState(conv::CausalConvWithState),
    // --- end vision ---
    // --- recurrent, random, strings, ml (h5) ---
    Recurrent(recurrent::Recurrent),
    Binarizer(ml::Binarizer),
    ArrayFeatureExtractor(ml::ArrayFeatureExtractor),
    LabelEncoder(ml::LabelEncoder),
    TreeEnsemble(ml::TreeEnsemble),
    // --- end recurrent ---
    // --- strings (s1) ---
    StringNormalizer(strings::StringNormalizer),
    StringConcat(strings::StringConcat),
    StringSplit(strings::StringSplit),
    RegexFullMatch(strings::RegexFullMatch),
    TfIdfVectorizer(strings::TfIdfVectorizer),
    // --- end strings ---
    // --- contrib (c1) ---
    ContribGelu(contrib::ContribGelu),
    BiasAdd(contrib::BiasAdd),
    SkipLayerNorm(contrib::SkipLayerNorm),
    SimplifiedLayerNorm(contrib::SimplifiedLayerNorm),
    EmbedLayerNorm(contrib::EmbedLayerNorm),
    ContribAttention(contrib::ContribAttention),
    // --- end contrib ---
    // --- contrib quant (q1) ---
    MatMulNBits(contrib_quant::MatMulNBits),
    QLinearBinary(contrib_quant::QLinearBinary),
    QLinearSoftmax(contrib_quant::QLinearSoftmax),
    // --- end contrib quant ---
    // --- contrib attention (attn) ---
    MultiHeadAttention(contrib_attention::MultiHeadAttention),
    GroupQueryAttention(contrib_attention::GroupQueryAttention),
    ContribRotaryEmbedding(contrib_attention::ContribRotary),
    QAttention(contrib_qattention::QAttention),
    QEmbedLayerNorm(contrib_qattention::QEmbedLayerNorm),
    DynamicQuantizeLstm(contrib_qlstm::DynamicQuantizeLstm),
    // --- end contrib attention (attn) ---
    // --- qoperator (quant) ---
    QLinearLookup(qoperator::QLinearLookup),
    QLinearConcat(qoperator::QLinearConcat),
    QLinearGlobalAveragePool(qoperator::QLinearGlobalAveragePool),
    QGemm(qoperator::QGemm),
    MatMulIntegerToFloat(qoperator::MatMulIntegerToFloat),
    GatherBlockQuantized(qoperator::GatherBlockQuantized),
    // --- end qoperator (quant) ---
    // --- fused (opt) ---
    FusedConv(fused::FusedConv),
    FusedElementwise(fused_ew::FusedElementwise),
    FusedMatMul(fused_ew::FusedMatMul),
    // --- end fused (opt) ---
    // --- control flow, sequences (core) ---
    If(control::If),
    Loop(control::Loop),
    Scan(control::Scan),
    SequenceMap(control::SequenceMap),
    SequenceConstruct(sequence::SequenceConstruct),
    SequenceEmpty(sequence::SequenceEmpty),
    SequenceAt(sequence::SequenceAt),
    SequenceInsert(sequence::SequenceInsert),
    SequenceErase(sequence::SequenceErase),
    SequenceLength(sequence::SequenceLength),
    SplitToSequence(sequence::SplitToSequence),
    ConcatFromSequence(sequence::ConcatFromSequence),
    Optional(sequence::OptionalOp),
    OptionalHasElement(sequence::OptionalHasElement),
    OptionalGetElement(sequence::OptionalGetElement),

    // --- end control flow ---


}
