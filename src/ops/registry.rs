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

/// Rows are `"OpType" since => importer` (domain ai.onnx) or `["domain"] "OpType" since => importer`.
macro_rules! table {
    (@domain) => { "" };
    (@domain $d:literal) => { $d };
    ($($([$dom:literal])? $op:literal $since:literal => $f:path),* $(,)?) => {
        &[$(Row { domain: table!(@domain $($dom)?), op_type: $op, since: $since, import: $f }),*]
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
    "GroupNormalization" 18 => norm::import_group_norm,
    "InstanceNormalization" 1 => norm::import_instance_norm,
    "LayerNormalization" 17 => norm::import_layer_norm,
    "LpNormalization" 1 => norm::import_lp_norm,
    "MeanVarianceNormalization" 9 => norm::import_mvn,
    "RMSNormalization" 23 => norm::import_rms_norm,
    "NegativeLogLikelihoodLoss" 12 => loss::import_nll_loss,
    "SoftmaxCrossEntropyLoss" 12 => loss::import_softmax_cross_entropy_loss,
    "Attention" 23 => attention::import_attention,
    "LinearAttention" 27 => attention::import_linear_attention,
    "RotaryEmbedding" 23 => attention::import_rotary_embedding,
    "BitwiseNot" 18 => misc::import_bitwise_not,
    "Det" 11 => misc::import_det,
    "Einsum" 12 => einsum::import_einsum,
    ["ai.onnx.preview"] "FlexAttention" 1 => attention::import_flex_attention,
    "Shrink" 9 => misc::import_shrink,
    "SwiGLU" 28 => misc::import_swiglu,
    "Swish" 24 => misc::import_swish,
    // --- end normalization ---
    // --- data movement (h3) ---
    "CenterCropPad" 18 => pad::import_center_crop_pad,
    "Col2Im" 18 => movement::import_col2im,
    "Compress" 9 => select::import_compress,
    "CumProd" 26 => cumulative::import_cumprod,
    "CumSum" 11 => cumulative::import_cumsum,
    "DepthToSpace" 1 => movement::import_depth_to_space,
    "EyeLike" 9 => movement::import_eyelike,
    "GatherElements" 11 => gather_scatter::import_gather_elements,
    "GatherND" 11 => gather_scatter::import_gathernd,
    "NonZero" 9 => select::import_nonzero,
    "OneHot" 9 => movement::import_onehot,
    "Pad" 1 => pad::import_pad,
    "ReverseSequence" 10 => movement::import_reverse_sequence,
    "Scatter" 9 => gather_scatter::import_scatter,
    "ScatterElements" 11 => gather_scatter::import_scatter_elements,
    "ScatterND" 11 => gather_scatter::import_scatternd,
    "SpaceToDepth" 1 => movement::import_space_to_depth,
    "TensorScatter" 24 => gather_scatter::import_tensor_scatter,
    "Tile" 1 => movement::import_tile,
    "TopK" 1 => select::import_topk,
    "Trilu" 14 => movement::import_trilu,
    "Unique" 11 => select::import_unique,
    // --- end data movement ---
    // --- vision (h4) ---
    "AffineGrid" 20 => vision::import_affine_grid,
    "CausalConvWithState" 27 => conv::import_causal_conv_with_state,
    "ConvTranspose" 1 => conv::import_conv_transpose,
    "DeformConv" 19 => conv::import_deform_conv,
    "GridSample" 16 => vision::import_grid_sample,
    "MaxUnpool" 9 => vision::import_max_unpool,
    "NonMaxSuppression" 10 => vision::import_non_max_suppression,
    "Resize" 10 => resize::import_resize,
    "RoiAlign" 10 => vision::import_roi_align,
    "Upsample" 1 => resize::import_upsample,
    // --- end vision ---
    // --- recurrent, random, strings, ml (h5) ---
    "GRU" 1 => recurrent::import_gru,
    "LSTM" 1 => recurrent::import_lstm,
    "RNN" 1 => recurrent::import_rnn,
    ["ai.onnx.ml"] "ArrayFeatureExtractor" 1 => ml::import_array_feature_extractor,
    ["ai.onnx.ml"] "Binarizer" 1 => ml::import_binarizer,
    ["ai.onnx.ml"] "LabelEncoder" 1 => ml::import_label_encoder,
    ["ai.onnx.ml"] "TreeEnsemble" 5 => ml::import_tree_ensemble,
    // --- end recurrent ---
    // --- strings (s1) ---
    "StringNormalizer" 10 => strings::import_string_normalizer,
    "StringConcat" 20 => strings::import_string_concat,
    "StringSplit" 20 => strings::import_string_split,
    "RegexFullMatch" 20 => strings::import_regex_full_match,
    "TfIdfVectorizer" 9 => strings::import_tfidf_vectorizer,
    // --- end strings ---
    // --- contrib (c1) ---
    ["com.microsoft"] "Attention" 1 => contrib::import_attention,
    ["com.microsoft"] "BiasAdd" 1 => contrib::import_bias_add,
    ["com.microsoft"] "BiasGelu" 1 => contrib::import_bias_gelu,
    ["com.microsoft"] "EmbedLayerNormalization" 1 => contrib::import_embed_layer_norm,
    ["com.microsoft"] "FastGelu" 1 => contrib::import_fast_gelu,
    ["com.microsoft"] "Gelu" 1 => contrib::import_gelu,
    ["com.microsoft"] "QuickGelu" 1 => contrib::import_quick_gelu,
    ["com.microsoft"] "SkipLayerNormalization" 1 => contrib::import_skip_layer_norm,
    ["com.microsoft"] "SkipSimplifiedLayerNormalization" 1 => contrib::import_skip_simplified_layer_norm,
    ["com.microsoft"] "SimplifiedLayerNormalization" 1 => contrib::import_simplified_layer_norm,
    "SimplifiedLayerNormalization" 1 => contrib::import_simplified_layer_norm,
    // --- end contrib ---
    // --- contrib quant (q1) ---
    ["com.microsoft"] "MatMulNBits" 1 => contrib_quant::import_matmul_n_bits,
    ["com.microsoft"] "QLinearAdd" 1 => contrib_quant::import_qlinear_add,
    ["com.microsoft"] "QLinearMul" 1 => contrib_quant::import_qlinear_mul,
    ["com.microsoft"] "QLinearSoftmax" 1 => contrib_quant::import_qlinear_softmax,
    // --- end contrib quant ---
    // --- contrib attention (attn) ---
    ["com.microsoft"] "MultiHeadAttention" 1 => contrib_attention::import_multi_head_attention,
    ["com.microsoft"] "GroupQueryAttention" 1 => contrib_attention::import_group_query_attention,
    ["com.microsoft"] "RotaryEmbedding" 1 => contrib_attention::import_contrib_rotary,
    ["com.microsoft"] "QAttention" 1 => contrib_qattention::import_qattention,
    ["com.microsoft"] "QEmbedLayerNormalization" 1 => contrib_qattention::import_qembed_layer_norm,
    ["com.microsoft"] "DynamicQuantizeLSTM" 1 => contrib_qlstm::import_dynamic_quantize_lstm,
    // --- end contrib attention (attn) ---
    // --- qoperator (quant) ---
    ["com.microsoft"] "QLinearSigmoid" 1 => qoperator::import_qlinear_sigmoid,
    ["com.microsoft"] "QLinearLeakyRelu" 1 => qoperator::import_qlinear_leaky_relu,
    ["com.microsoft"] "QLinearConcat" 1 => qoperator::import_qlinear_concat,
    ["com.microsoft"] "QLinearGlobalAveragePool" 1 => qoperator::import_qlinear_global_average_pool,
    ["com.microsoft"] "QGemm" 1 => qoperator::import_qgemm,
    ["com.microsoft"] "MatMulIntegerToFloat" 1 => qoperator::import_matmul_integer_to_float,
    ["com.microsoft"] "DynamicQuantizeMatMul" 1 => qoperator::import_dynamic_quantize_matmul,
    ["com.microsoft"] "GatherBlockQuantized" 1 => qoperator::import_gather_block_quantized,
    // --- end qoperator (quant) ---
    // --- control flow, sequences (core) ---
    "If" 1 => control::import_if,
    "Loop" 1 => control::import_loop,
    "Scan" 8 => control::import_scan,
    "SequenceMap" 17 => control::import_sequence_map,
    "ConcatFromSequence" 11 => sequence::import_concat_from_sequence,
    "Optional" 15 => sequence::import_optional,
    "OptionalGetElement" 15 => sequence::import_optional_get_element,
    "OptionalHasElement" 15 => sequence::import_optional_has_element,
    "SequenceAt" 11 => sequence::import_sequence_at,
    "SequenceConstruct" 11 => sequence::import_sequence_construct,
    "SequenceEmpty" 11 => sequence::import_sequence_empty,
    "SequenceErase" 11 => sequence::import_sequence_erase,
    "SequenceInsert" 11 => sequence::import_sequence_insert,
    "SequenceLength" 11 => sequence::import_sequence_length,
    "SplitToSequence" 11 => sequence::import_split_to_sequence,

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
