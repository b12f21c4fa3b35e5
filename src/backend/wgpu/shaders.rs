//! The shader table: every `.wgsl` file under `shaders/`, embedded with `include_str!`, and
//! the generated prelude that specializes a file into a variant (`enable f16;`, type aliases,
//! op-code and flag constants). Sources are never templated per op or per shape. [`validate`]
//! runs naga's WGSL front end and validator, so every variant is checked without a device.

use std::fmt::Write;

/// One shader file.
#[derive(Debug)]
pub struct ShaderFile {
    /// Path under `shaders/` without the extension (`elementwise/unary`).
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! shader_files {
    ($($id:ident => $path:literal),* $(,)?) => {
        $(pub static $id: ShaderFile = ShaderFile {
            name: $path,
            source: include_str!(concat!("../../../shaders/", $path, ".wgsl")),
        };)*
        /// Every shader file.
        pub static ALL: &[&ShaderFile] = &[$(&$id),*];
    };
}

shader_files! {
    TYPE_F32 => "types/f32",
    TYPE_F16 => "types/f16",
    TYPE_F64 => "types/f64",
    TYPE_BF16 => "types/bf16",
    TYPE_SINT => "types/sint",
    TYPE_UINT => "types/uint",
    TYPE_INT64 => "types/int64",
    TYPE_DF32 => "types/df32",
    UNARY => "elementwise/unary",
    UNARY_LIB => "elementwise/unary_lib",
    BINARY => "elementwise/binary",
    COMPARE => "elementwise/compare",
    PREDICATE => "elementwise/predicate",
    CAST => "elementwise/cast",
    WHERE => "elementwise/where",
    ARGREDUCE => "reduce/argreduce",
    MATMUL => "matmul/matmul",
    CONV2D => "conv/conv2d",
    DEPTHWISE => "conv/depthwise",
    POOL2D => "pool/pool2d",
    REDUCE => "reduce/reduce",
    SOFTMAX => "norm/softmax",
    BATCHNORM => "norm/batchnorm",
    LRN => "norm/lrn",
    COPY => "layout/copy",
    GATHER => "layout/gather",
    // --- shaders (g1) ---
    CONVERT_CODEC => "types/codec",
    CONVERT_CAST => "convert/cast",
    CONVERT_BITCAST => "convert/bitcast",
    QUANT_QUANTIZE => "quant/quantize",
    QUANT_DEQUANTIZE => "quant/dequantize",
    QUANT_DYNAMIC_RANGE => "quant/dynamic_range",
    QUANT_MATMUL_INT => "quant/matmul_int",
    QUANT_CONV_INT => "quant/conv_int",
    SIGNAL_DFT => "signal/dft",
    SIGNAL_WINDOW => "signal/window",
    SIGNAL_MEL_EDGES => "signal/mel_edges",
    SIGNAL_MEL_FILL => "signal/mel_fill",
    // --- end shaders (g1) ---
    // --- shaders (g2) ---
    ATTN_SCORES => "attention/scores",
    ATTN_SOFTMAX_PV => "attention/softmax_pv",
    ROTARY => "attention/rotary",
    LINEAR_ATTN => "attention/linear",
    EINSUM => "einsum/einsum",
    // --- end shaders (g2) ---
    // --- shaders (g3) ---
    MOVE_AXISMAP => "movement/axismap",
    MOVE_TAKE => "movement/take",
    MOVE_POS_ELEMENTS => "movement/pos_elements",
    MOVE_POS_ND => "movement/pos_nd",
    MOVE_POS_TSCATTER => "movement/pos_tscatter",
    MOVE_SCATTER => "movement/scatter",
    MOVE_SCATTER_MARK => "movement/scatter_mark",
    MOVE_TRILU => "movement/trilu",
    MOVE_EYELIKE => "movement/eyelike",
    MOVE_ONEHOT => "movement/onehot",
    MOVE_REVERSE_SEQ => "movement/reverse_seq",
    MOVE_CUMULATIVE => "movement/cumulative",
    MOVE_TOPK => "movement/topk",
    MOVE_TOPK_SORT => "movement/topk_sort",
    MOVE_COL2IM => "movement/col2im",
    // --- end shaders (g3) ---
    // --- shaders (g4) ---
    VISION_RESIZE => "vision/resize",
    VISION_RESIZE_TAPS => "vision/resize_taps",
    VISION_GRIDSAMPLE => "vision/gridsample",
    VISION_AFFINE_GRID => "vision/affine_grid",
    VISION_ROIALIGN => "vision/roialign",
    VISION_MAXUNPOOL => "vision/maxunpool",
    DECONV_CONV_TRANSPOSE => "deconv/conv_transpose",
    DECONV_DEFORM_CONV => "deconv/deform_conv",
    DECONV_CAUSAL_CONV => "deconv/causal_conv",
    // --- end shaders (g4) ---
    // --- shaders (g5) ---
    NORM_ROWS => "normalize/rows",
    NORM_POINTWISE => "normalize/pointwise",
    NORM_DET => "normalize/det",
    NORM_LOSS => "normalize/loss",
    // --- end shaders (g5) ---
    // --- shaders (h5) ---
    RECURRENT_INIT => "recurrent/init",
    RECURRENT_STEP => "recurrent/step",
    RECURRENT_FINAL => "recurrent/final",
    // --- end shaders (h5) ---
    // --- shaders (io) ---
    RECURRENT_ACT_LIB => "recurrent/act_lib",
    RECURRENT_SEQ_PROJ => "recurrent/seq_proj",
    RECURRENT_SEQ_LOOP => "recurrent/seq_loop",
    CONTRIB_NORM_SKIP => "contrib_norm/skip_norm",
    CONTRIB_NORM_EMBED => "contrib_norm/embed_norm",
    ROW_SUM_LIB => "normalize/row_sum_lib",
    // --- end shaders (io) ---
    // --- shaders (c1) ---
    CONTRIB_ATTN_MASK => "contrib/attn_mask",
    CONTRIB_MASK_COUNT => "contrib/mask_count",
    // --- end shaders (c1) ---
    // --- shaders (q1) ---
    CONTRIB_QUANT_MATMUL_NBITS => "contrib_quant/matmul_nbits",
    CONTRIB_QUANT_MATMUL_NBITS_GEMV => "contrib_quant/matmul_nbits_gemv",
    CONTRIB_QUANT_MATMUL_NBITS_TILED => "contrib_quant/matmul_nbits_tiled",
    CONTRIB_QUANT_NBITS_LIB => "contrib_quant/nbits_lib",
    CONTRIB_QUANT_QLINEAR_BINARY => "contrib_quant/qlinear_binary",
    CONTRIB_QUANT_QLINEAR_SOFTMAX => "contrib_quant/qlinear_softmax",
    // --- end shaders (q1) ---
    // --- shaders (attn) ---
    CONTRIB_GQA_MASK => "contrib_attention/gqa_mask",
    CONTRIB_KV_APPEND => "contrib_attention/kv_append",
    CONTRIB_QLSTM_PREP => "recurrent/qlstm_prep",
    CONTRIB_QLSTM_PROJ => "recurrent/qlstm_proj",
    CONTRIB_QLSTM_LOOP => "recurrent/qlstm_loop",
    CONTRIB_QLSTM_LIB => "recurrent/qlstm_lib",
    // --- end shaders (attn) ---
    // --- shaders (quant) ---
    QOP_LOOKUP => "qoperator/lookup",
    QOP_GLOBAL_AVG_POOL => "qoperator/global_avg_pool",
    QOP_QGEMM => "qoperator/qgemm",
    QOP_INT_TO_FLOAT => "qoperator/int_to_float",
    QOP_GATHER_BLOCK_QUANTIZED => "qoperator/gather_block_quantized",
    QUANT_MATMUL_DP4 => "quant/matmul_dp4",
    QUANT_MATMUL_DP4_GEMV => "quant/matmul_dp4_gemv",
    QUANT_DP4_LIB => "quant/dp4_lib",
    QUANT_REQUANT_LIB => "quant/requant_lib",
    QUANT_DYNAMIC_RANGE_LIB => "quant/dynamic_range_lib",
    QUANT_DYNAMIC_QUANTIZE => "quant/dynamic_quantize",
    QUANT_CONV_INT_DW => "quant/conv_int_dw",
    // --- end shaders (quant) ---
    // --- shaders (opt) ---
    FUSED_ACTIVATION => "fused/activation",
    CONCAT_PARTS => "concat/parts",
    FUSED_ELEMENTWISE => "fused/elementwise",
    MATMUL_A_LIB => "matmul/matmul_a_lib",
    MATMUL_A4_LIB => "matmul/matmul_a4_lib",
    MATMUL_B_LIB => "matmul/matmul_b_lib",
    MATMUL_B4_LIB => "matmul/matmul_b4_lib",
    // --- end shaders (opt) ---
    // --- shaders (bench) ---
    MATMUL_LIB => "matmul/matmul_lib",
    MATMUL_DIRECT => "matmul/matmul_direct",
    MATMUL_GEMV => "matmul/matmul_gemv",
    MATMUL_GEMV_SG => "matmul/matmul_gemv_sg",
    // --- end shaders (bench) ---
    // --- shaders (robust) ---
    INDEX_REPORT => "layout/index_report_lib",
    INDEX_LIB => "layout/index_lib",
    // --- end shaders (robust) ---
}

/// Helpers appended to every shader.
pub static COMMON: &str = include_str!("../../../shaders/common.wgsl");

/// The generated head of a shader variant: constants, aliases, and the type libraries
/// (`shaders/types/*.wgsl`) its element types bring.
#[derive(Clone, Debug, Default)]
pub struct Prelude {
    f16: bool,
    lines: Vec<String>,
    libs: Vec<&'static ShaderFile>,
}

impl Prelude {
    /// `alias NAME = ty;` (enables f16 when needed).
    pub fn alias(&mut self, name: &str, wgsl_type: &str) -> &mut Self {
        if wgsl_type.contains("f16") {
            self.f16 = true;
        }
        self.lines.push(format!("alias {name} = {wgsl_type};"));
        self
    }
    /// `const NAME: u32 = v;`
    pub fn u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.lines.push(format!("const {name}: u32 = {v}u;"));
        self
    }
    /// `const NAME: bool = v;`
    pub fn bool(&mut self, name: &str, v: bool) -> &mut Self {
        self.lines.push(format!("const {name}: bool = {v};"));
        self
    }
    /// One `const PREFIX_NAME: u32` per enum variant, from `Debug` names and discriminants.
    pub fn codes<E: std::fmt::Debug + Copy>(&mut self, prefix: &str, all: &[E], code: impl Fn(E) -> u32) -> &mut Self {
        for &e in all {
            let name = format!("{prefix}_{e:?}").to_uppercase();
            self.u32(&name, code(e));
        }
        self
    }

    /// Includes a type library (defines `T`, `F` and the `t_*` functions).
    pub fn lib(&mut self, file: &'static ShaderFile) -> &mut Self {
        if std::ptr::eq(file, &TYPE_F16) {
            self.f16 = true;
        }
        self.libs.push(file);
        self
    }

    /// The full source: prelude, common helpers, type libraries, then the file.
    pub fn compose(&self, file: &ShaderFile) -> String {
        let mut s = String::new();
        if self.f16 {
            s.push_str("enable f16;\n");
        }
        for l in &self.lines {
            let _ = writeln!(s, "{l}");
        }
        s.push_str(COMMON);
        s.push('\n');
        for l in &self.libs {
            s.push_str(l.source);
            s.push('\n');
        }
        s.push_str(file.source);
        s
    }
}

/// Parses and validates WGSL with naga; returns the module for reflection.
pub fn validate(source: &str) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    v.validate(&module).map_err(|e| e.emit_to_string(source))?;
    Ok(module)
}
