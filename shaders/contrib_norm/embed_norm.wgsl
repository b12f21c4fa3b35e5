// EmbedLayerNormalization's embedding sum and layer norm in one pass: one workgroup of 64
// invocations per token row r = batch · seq + position. The row's sum is
// s = word[ids[r]] + pos[p] (+ seg[segment_ids[r]], flag 1), added in f32 and rounded to the
// element type, with p = position_ids[r] (flag 2; position_ids[position] when they broadcast
// over the batch, flag 4) or the position in the sequence; s is written to `sum` (flag 8) and
// y = (s − mean) / sqrt(var + ε) · γ + β. Statistics accumulate in f32 (tree reductions), mean
// first, then the centered second moment. An index outside its table is reported
// (layout/index_report_lib) and reads as a zero row. With flag 16 the workgroup of each
// batch's first token also writes mask_index[b] = how many of mask[b, 0..seq) equal 1 (0 for
// every batch without a mask, flag 32 clear). Index inputs are int32, or int64 (flags 64 ids,
// 128 segment ids, 256 position ids, 512 mask) read as a Cast to int32 reads them: the low word
// of each little-endian pair. Unused bindings may alias any buffer.
// Prelude: a float type library (T), the index report library, normalize/row_sum_lib.
struct Params {
    rows: u32,
    len: u32,
    seq: u32,
    flags: u32,
    epsilon: f32,
    n_word: u32,
    n_pos: u32,
    n_seg: u32,
}

@group(0) @binding(0) var<storage, read_write> ids: array<i32>;
@group(0) @binding(1) var<storage, read_write> seg_ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> pos_ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> word: array<T>;
@group(0) @binding(4) var<storage, read_write> pos: array<T>;
@group(0) @binding(5) var<storage, read_write> seg: array<T>;
@group(0) @binding(6) var<storage, read_write> gamma: array<T>;
@group(0) @binding(7) var<storage, read_write> beta: array<T>;
@group(0) @binding(8) var<storage, read_write> y: array<T>;
@group(0) @binding(9) var<storage, read_write> sum: array<T>;
@group(0) @binding(10) var<storage, read_write> mask: array<i32>;
@group(0) @binding(11) var<storage, read_write> mask_index: array<i32>;
@group(0) @binding(12) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(13) var<uniform> p: Params;

const HAS_SEGMENT: u32 = 1u;
const HAS_POS_IDS: u32 = 2u;
const POS_IDS_BCAST: u32 = 4u;
const WRITE_SUM: u32 = 8u;
const WRITE_MASK_INDEX: u32 = 16u;
const HAS_MASK: u32 = 32u;
const IDS_64: u32 = 64u;
const SEG_64: u32 = 128u;
const POS_64: u32 = 256u;
const MASK_64: u32 = 512u;
const BAD: u32 = 0xffffffffu;

// The word holding element i of an index input: i, or 2i (the low word) when it is int64.
fn at(i: u32, wide: u32) -> u32 {
    return select(i, 2u * i, (p.flags & wide) != 0u);
}

// Row `id` of a table of `n` rows, or BAD (reported) when out of range.
fn table_row(id: i32, n: u32) -> u32 {
    if (id < 0 || u32(id) >= n) {
        report_bad_index(bitcast<u32>(id), select(0u, 0xffffffffu, id < 0), n);
        return BAD;
    }
    return u32(id);
}

// Element c of the embedding sum of rows (word, position, segment).
fn embedded(rows: vec3<u32>, c: u32) -> f32 {
    var v = 0.0;
    if (rows.x != BAD) {
        v = t_to_f32(word[rows.x * p.len + c]);
    }
    if (rows.y != BAD) {
        v = v + t_to_f32(pos[rows.y * p.len + c]);
    }
    if ((p.flags & HAS_SEGMENT) != 0u && rows.z != BAD) {
        v = v + t_to_f32(seg[rows.z * p.len + c]);
    }
    return t_to_f32(t_from_f32(v));
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_group(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    let position = row % p.seq;
    if (position == 0u && lidx == 0u && (p.flags & WRITE_MASK_INDEX) != 0u) {
        var count = 0;
        if ((p.flags & HAS_MASK) != 0u) {
            for (var k = 0u; k < p.seq; k = k + 1u) {
                if (mask[at(row + k, MASK_64)] == 1) {
                    count = count + 1;
                }
            }
        }
        mask_index[row / p.seq] = count;
    }
    var pid = i32(position);
    if ((p.flags & HAS_POS_IDS) != 0u) {
        pid = pos_ids[at(select(row, position, (p.flags & POS_IDS_BCAST) != 0u), POS_64)];
    }
    var rows = vec3<u32>(table_row(ids[at(row, IDS_64)], p.n_word), table_row(pid, p.n_pos), BAD);
    if ((p.flags & HAS_SEGMENT) != 0u) {
        rows.z = table_row(seg_ids[at(row, SEG_64)], p.n_seg);
    }
    let n = f32(p.len);
    let base = row * p.len;
    var acc = 0.0;
    for (var c = lidx; c < p.len; c = c + 64u) {
        let v = embedded(rows, c);
        if ((p.flags & WRITE_SUM) != 0u) {
            sum[base + c] = t_from_f32(v);
        }
        acc = acc + v;
    }
    let mean = tree_sum(lidx, acc) / n;
    var acc2 = 0.0;
    for (var c = lidx; c < p.len; c = c + 64u) {
        let d = embedded(rows, c) - mean;
        acc2 = acc2 + d * d;
    }
    let mult = 1.0 / sqrt(tree_sum(lidx, acc2) / n + p.epsilon);
    for (var c = lidx; c < p.len; c = c + 64u) {
        y[base + c] = t_from_f32((embedded(rows, c) - mean) * mult * t_to_f32(gamma[c]) + t_to_f32(beta[c]));
    }
}
