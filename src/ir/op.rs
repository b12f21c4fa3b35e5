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
    // --- end normalization ---
    // --- data movement (h3) ---
    // --- end data movement ---
    // --- vision (h4) ---
    // --- end vision ---
    // --- recurrent, random, strings, ml (h5) ---
    // --- end recurrent ---
    // --- control flow, sequences (core) ---
    // --- end control flow ---

}
