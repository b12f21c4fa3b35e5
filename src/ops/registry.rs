//! THE operator table: (domain, op_type, first opset) → importer. An importer reads the node's
//! attributes with the opset's defaults and returns an [`Op`]. Version selection follows ONNX:
//! a node uses the row with the highest `since` not above the model's opset for its domain.

use super::*;
use crate::ir::Op;

pub type Importer = fn(&NodeCtx) -> Result<Op, String>;

/// One row of the table.
pub struct Row {
    pub domain: &'static str,
    pub op_type: &'static str,
    /// First opset version this row covers.
    pub since: i64,
    pub import: Importer,
}

/// The newest ai.onnx opset this engine knows (onnx 1.23).
pub const MAX_ONNX_OPSET: i64 = 28;

macro_rules! table {
    ($($op:literal $since:literal => $f:path),* $(,)?) => {
        &[$(Row { domain: "", op_type: $op, since: $since, import: $f }),*]
    };
}

/// Every supported operator. Rows for one op whose semantics are handled by one importer
/// (reading `NodeCtx::opset`) appear once with the first opset they cover.
pub static TABLE: &[Row] = table! {
    // elementwise
    "Abs" 1 => elementwise::import_abs,
    "Acos" 7 => elementwise::import_acos,
    "Acosh" 9 => elementwise::import_acosh,
    "Add" 1 => elementwise::import_add,
    "And" 1 => elementwise::import_and,
    "Asin" 7 => elementwise::import_asin,
    "Asinh" 9 => elementwise::import_asinh,
    "Atan" 7 => elementwise::import_atan,
    "Atanh" 9 => elementwise::import_atanh,
    "BitShift" 11 => elementwise::import_bitshift,
    "BitwiseAnd" 18 => elementwise::import_bitwise_and,
    "BitwiseOr" 18 => elementwise::import_bitwise_or,
    "BitwiseXor" 18 => elementwise::import_bitwise_xor,
    "Cast" 1 => convert::import_cast,
    "Ceil" 1 => elementwise::import_ceil,
    "Celu" 12 => elementwise::import_celu,
    "Clip" 1 => elementwise::import_clip,
    "Cos" 7 => elementwise::import_cos,
    "Cosh" 9 => elementwise::import_cosh,
    "Div" 1 => elementwise::import_div,
    "Elu" 1 => elementwise::import_elu,
    "Equal" 1 => elementwise::import_equal,
    "Erf" 9 => elementwise::import_erf,
    "Exp" 1 => elementwise::import_exp,
    "Floor" 1 => elementwise::import_floor,
    "Gelu" 20 => elementwise::import_gelu,
    "Greater" 1 => elementwise::import_greater,
    "GreaterOrEqual" 12 => elementwise::import_greater_or_equal,
    "HardSigmoid" 1 => elementwise::import_hard_sigmoid,
    "HardSwish" 14 => elementwise::import_hardswish,
    "IsInf" 10 => elementwise::import_isinf,
    "IsNaN" 9 => elementwise::import_isnan,
    "LeakyRelu" 1 => elementwise::import_leaky_relu,
    "Less" 1 => elementwise::import_less,
    "LessOrEqual" 12 => elementwise::import_less_or_equal,
    "Log" 1 => elementwise::import_log,
    "Max" 1 => elementwise::import_max,
    "Mean" 1 => elementwise::import_mean,
    "Min" 1 => elementwise::import_min,
    "Mish" 18 => elementwise::import_mish,
    "Mod" 10 => elementwise::import_mod,
    "Mul" 1 => elementwise::import_mul,
    "Neg" 1 => elementwise::import_neg,
    "Not" 1 => elementwise::import_not,
    "Or" 1 => elementwise::import_or,
    "Pow" 1 => elementwise::import_pow,
    "PRelu" 1 => elementwise::import_prelu,
    "Reciprocal" 1 => elementwise::import_reciprocal,
    "Relu" 1 => elementwise::import_relu,
    "Round" 11 => elementwise::import_round,
    "Selu" 1 => elementwise::import_selu,
    "Sigmoid" 1 => elementwise::import_sigmoid,
    "Sign" 9 => elementwise::import_sign,
    "Sin" 7 => elementwise::import_sin,
    "Sinh" 9 => elementwise::import_sinh,
    "Softplus" 1 => elementwise::import_softplus,
    "Softsign" 1 => elementwise::import_softsign,
    "Sqrt" 1 => elementwise::import_sqrt,
    "Sub" 1 => elementwise::import_sub,
    "Sum" 1 => elementwise::import_sum,
    "Tan" 7 => elementwise::import_tan,
    "Tanh" 1 => elementwise::import_tanh,
    "ThresholdedRelu" 10 => elementwise::import_thresholded_relu,
    "Where" 9 => elementwise::import_where,
    "Xor" 1 => elementwise::import_xor,
    // matrix products
    "Gemm" 1 => matmul::import_gemm,
    "MatMul" 1 => matmul::import_matmul,
    // convolution and pooling
    "AveragePool" 1 => pool::import_average_pool,
    "Conv" 1 => conv::import_conv,
    "GlobalAveragePool" 1 => pool::import_global_average_pool,
    "GlobalLpPool" 2 => pool::import_global_lp_pool,
    "GlobalMaxPool" 1 => pool::import_global_max_pool,
    "LpPool" 2 => pool::import_lp_pool,
    "MaxPool" 1 => pool::import_max_pool,
    // reductions
    "ArgMax" 1 => reduce::import_argmax,
    "ArgMin" 1 => reduce::import_argmin,
    "ReduceL1" 1 => reduce::import_reduce_l1,
    "ReduceL2" 1 => reduce::import_reduce_l2,
    "ReduceLogSum" 1 => reduce::import_reduce_log_sum,
    "ReduceLogSumExp" 1 => reduce::import_reduce_log_sum_exp,
    "ReduceMax" 1 => reduce::import_reduce_max,
    "ReduceMean" 1 => reduce::import_reduce_mean,
    "ReduceMin" 1 => reduce::import_reduce_min,
    "ReduceProd" 1 => reduce::import_reduce_prod,
    "ReduceSum" 1 => reduce::import_reduce_sum,
    "ReduceSumSquare" 1 => reduce::import_reduce_sum_square,
    // normalization
    "BatchNormalization" 1 => norm::import_batch_norm,
    "LRN" 1 => norm::import_lrn,
    "Hardmax" 1 => softmax::import_hardmax,
    "LogSoftmax" 1 => softmax::import_log_softmax,
    "Softmax" 1 => softmax::import_softmax,
    // data movement
    "Concat" 1 => layout::import_concat,
    "Dropout" 1 => layout::import_dropout,
    "Expand" 8 => layout::import_expand,
    "Flatten" 1 => layout::import_flatten,
    "Gather" 1 => layout::import_gather,
    "Identity" 1 => layout::import_identity,
    "Reshape" 1 => layout::import_reshape,
    "Slice" 1 => layout::import_slice,
    "Split" 1 => layout::import_split,
    "Squeeze" 1 => layout::import_squeeze,
    "Transpose" 1 => layout::import_transpose,
    "Unsqueeze" 1 => layout::import_unsqueeze,
    // shapes
    "ConstantOfShape" 9 => shape_ops::import_constant_of_shape,
    "Range" 11 => shape_ops::import_range,
    "Shape" 1 => shape_ops::import_shape,
    "Size" 1 => shape_ops::import_size,
    // --- convert: casts, quantization, signal (h1) ---
    "BitCast" 26 => convert::import_bitcast,
    "CastLike" 15 => convert::import_cast_like,
    "ConvInteger" 10 => quant::import_conv_integer,
    "DequantizeLinear" 10 => quant::import_dequantize_linear,
    "DynamicQuantizeLinear" 11 => quant::import_dynamic_quantize_linear,
    "MatMulInteger" 10 => quant::import_matmul_integer,
    "QLinearConv" 10 => quant::import_qlinear_conv,
    "QLinearMatMul" 10 => quant::import_qlinear_matmul,
    "QuantizeLinear" 10 => quant::import_quantize_linear,
    "BlackmanWindow" 17 => signal::import_blackman_window,
    "DFT" 17 => signal::import_dft,
    "HammingWindow" 17 => signal::import_hamming_window,
    "HannWindow" 17 => signal::import_hann_window,
    "MelWeightMatrix" 17 => signal::import_mel_weight_matrix,
    "STFT" 17 => signal::import_stft,
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

};

/// The row for `op_type` in `domain` at the model's `opset`, if supported.
pub fn find(domain: &str, op_type: &str, opset: i64) -> Option<&'static Row> {
    let domain = if domain == "ai.onnx" { "" } else { domain };
    TABLE.iter().filter(|r| r.domain == domain && r.op_type == op_type && r.since <= opset).max_by_key(|r| r.since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_within_families_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in TABLE {
            assert!(seen.insert((r.domain, r.op_type, r.since)), "duplicate row {}", r.op_type);
        }
        assert!(find("", "Relu", 14).is_some());
        assert!(find("ai.onnx", "Conv", 11).is_some());
        assert!(find("", "Gelu", 18).is_none());
        assert!(find("com.example", "Relu", 1).is_none());
    }
}
