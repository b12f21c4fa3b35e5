//! String operators (ai.onnx): StringNormalizer (ONNX Runtime's semantics: stopwords remove
//! whole elements, compared case-insensitively unless `is_case_sensitive`; an all-removed output
//! is `[""]`), StringConcat (broadcasting), StringSplit (a delimiter, or runs of whitespace when
//! the delimiter is empty or absent; `maxsplit`), RegexFullMatch (RE2 syntax, run by the `regex`
//! crate with RE2's ASCII-only Perl classes) and TfIdfVectorizer (n-grams with skips over int
//! or string sequences; TF, IDF and TFIDF).
//!
//! StringNormalizer and StringSplit have output shapes decided by data: their rules ask for the
//! input's value, which the planner reads back at run time.

use super::elementwise::broadcast_map;
use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::onnx::attrs::AttrValue;
use crate::tensor::shape::broadcast_dims;
use crate::tensor::{DType, Dim, Tensor};
use std::collections::HashMap;
use std::hash::Hash;

/// A `strings` attribute, if present.
fn opt_strings(c: &NodeCtx, key: &str) -> Result<Option<Vec<String>>, String> {
    match c.attrs.get(key) {
        None => Ok(None),
        Some(AttrValue::Strings(v)) => Ok(Some(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())),
        Some(other) => Err(format!("attribute '{key}' must be strings, got {}", other.type_name())),
    }
}

fn expect_string(cx: &InferCx, i: usize) -> Result<(), String> {
    let d = cx.input(i)?.dtype;
    if d != DType::String {
        return Err(format!("input {i} must be a string tensor, got {d}"));
    }
    Ok(())
}

// ---- StringNormalizer ----------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseChange {
    None,
    Lower,
    Upper,
}

/// Maps each char to its single-char lower/upper case form (a char whose mapping is several
/// chars, such as 'ß' to upper case, is kept), as a per-character locale mapping does.
fn map_case(s: &str, how: CaseChange) -> String {
    fn one(mut it: impl Iterator<Item = char>, c: char) -> char {
        match (it.next(), it.next()) {
            (Some(m), None) => m,
            _ => c,
        }
    }
    match how {
        CaseChange::None => s.to_string(),
        CaseChange::Lower => s.chars().map(|c| one(c.to_lowercase(), c)).collect(),
        CaseChange::Upper => s.chars().map(|c| one(c.to_uppercase(), c)).collect(),
    }
}

#[derive(Clone, Debug)]
pub struct StringNormalizer {
    pub case_change: CaseChange,
    pub case_sensitive: bool,
    /// As given when case-sensitive; lower-cased otherwise.
    pub stopwords: Vec<String>,
}

impl StringNormalizer {
    /// The kept, case-changed strings and the output shape.
    fn run(&self, x: &Tensor) -> Result<(Vec<String>, Vec<usize>), String> {
        let two_d = match x.shape() {
            [_] => false,
            [1, _] => true,
            s => return Err(format!("the input must have shape [C] or [1, C], got {s:?}")),
        };
        let xs = x.strings()?;
        let stopped = |s: &String| {
            if self.case_sensitive {
                self.stopwords.contains(s)
            } else {
                let l = map_case(s, CaseChange::Lower);
                self.stopwords.contains(&l)
            }
        };
        let mut out: Vec<String> = xs.iter().filter(|s| !stopped(s)).map(|s| map_case(s, self.case_change)).collect();
        if out.is_empty() && !xs.is_empty() {
            out.push(String::new());
        }
        let shape = if two_d { vec![1, out.len()] } else { vec![out.len()] };
        Ok((out, shape))
    }
}

impl OpSpec for StringNormalizer {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        expect_string(cx, 0)?;
        let (_, shape) = self.run(cx.need_value(0)?)?;
        Ok(vec![vt(DType::String, shape.into_iter().map(Dim::Known).collect())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (out, shape) = self.run(need(inputs, 0)?)?;
        Ok(vec![Tensor::from_strings(&shape, out)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

pub fn import_string_normalizer(c: &NodeCtx) -> Result<Op, String> {
    let case_change = match c.attrs.string("case_change_action", "NONE")?.as_str() {
        "NONE" => CaseChange::None,
        "LOWER" => CaseChange::Lower,
        "UPPER" => CaseChange::Upper,
        other => return Err(format!("unknown case_change_action '{other}'")),
    };
    let case_sensitive = c.attrs.int("is_case_sensitive", 0)? != 0;
    let mut stopwords = opt_strings(c, "stopwords")?.unwrap_or_default();
    if !case_sensitive {
        stopwords = stopwords.iter().map(|s| map_case(s, CaseChange::Lower)).collect();
    }
    Ok(Op::StringNormalizer(StringNormalizer { case_change, case_sensitive, stopwords }))
}

// ---- StringConcat --------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct StringConcat;

impl OpSpec for StringConcat {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        expect_string(cx, 0)?;
        expect_string(cx, 1)?;
        let dims = broadcast_dims(&[&cx.input(0)?.dims, &cx.input(1)?.dims])?;
        Ok(vec![vt(DType::String, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 1)?);
        let av: Vec<&String> = a.strings()?.iter().collect();
        let bv: Vec<&String> = b.strings()?.iter().collect();
        let (out, shape) = broadcast_map(&[(&av, a.shape()), (&bv, b.shape())], |p| Ok(format!("{}{}", p[0], p[1])))?;
        Ok(vec![Tensor::from_strings(&shape, out)?])
    }
}

pub fn import_string_concat(_c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::StringConcat(StringConcat))
}

// ---- StringSplit ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct StringSplit {
    /// None: split on runs of whitespace, dropping leading and trailing whitespace.
    pub delimiter: Option<String>,
    pub maxsplit: Option<usize>,
}

/// Python's `str.isspace` for one char.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

impl StringSplit {
    /// One string's pieces, as Python's `str.split(delimiter, maxsplit)`.
    fn split(&self, s: &str) -> Vec<String> {
        let max = self.maxsplit.unwrap_or(usize::MAX);
        match &self.delimiter {
            Some(d) => s.splitn(max.saturating_add(1), d.as_str()).map(str::to_string).collect(),
            None => {
                let mut out = Vec::new();
                let mut rest = s.trim_start_matches(is_space);
                while !rest.is_empty() {
                    if out.len() == max {
                        out.push(rest.to_string());
                        break;
                    }
                    let end = rest.find(is_space).unwrap_or(rest.len());
                    out.push(rest[..end].to_string());
                    rest = rest[end..].trim_start_matches(is_space);
                }
                out
            }
        }
    }

    fn run(&self, x: &Tensor) -> Result<(Vec<Vec<String>>, usize), String> {
        let parts: Vec<Vec<String>> = x.strings()?.iter().map(|s| self.split(s)).collect();
        let width = parts.iter().map(Vec::len).max().unwrap_or(0);
        Ok((parts, width))
    }
}

impl OpSpec for StringSplit {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        expect_string(cx, 0)?;
        let x = cx.input(0)?;
        let (_, width) = self.run(cx.need_value(0)?)?;
        let mut dims = x.dims.clone();
        dims.push(Dim::Known(width));
        Ok(vec![vt(DType::String, dims), vt(DType::I64, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_out: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (parts, width) = self.run(x)?;
        let lens: Vec<i64> = parts.iter().map(|p| p.len() as i64).collect();
        let mut flat = Vec::with_capacity(parts.len() * width);
        for mut p in parts {
            p.resize(width, String::new());
            flat.extend(p);
        }
        let mut shape = x.shape().to_vec();
        shape.push(width);
        let all = [Tensor::from_strings(&shape, flat), Tensor::new(x.shape(), lens)];
        all.into_iter().take(n_out.clamp(1, 2)).collect()
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

pub fn import_string_split(c: &NodeCtx) -> Result<Op, String> {
    let delimiter = c.attrs.opt_string("delimiter")?.filter(|d| !d.is_empty());
    let maxsplit = match c.attrs.opt_int("maxsplit")? {
        None => None,
        Some(m) if m >= 0 => Some(usize::try_from(m).map_err(|_| format!("maxsplit {m} is too large"))?),
        Some(m) => return Err(format!("maxsplit must be ≥ 0, got {m}")),
    };
    Ok(Op::StringSplit(StringSplit { delimiter, maxsplit }))
}

// ---- RegexFullMatch ------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct RegexFullMatch {
    pub pattern: String,
    /// The pattern in the `regex` crate's syntax, anchored at both ends.
    pub regex: regex::Regex,
}

/// Rewrites an RE2 pattern for the `regex` crate: RE2's Perl classes `\d \s \w` (and their
/// negations) and word boundaries `\b \B` are ASCII-only, while the crate's are Unicode-aware.
/// Everything else is passed through; syntax the crate does not share fails when compiled.
fn re2_to_rust(p: &str) -> String {
    const W: &str = "0-9A-Za-z_";
    const S: &str = "\\t\\n\\x0C\\r ";
    const D: &str = "0-9";
    let mut out = String::with_capacity(p.len() + 16);
    let mut in_class = false;
    // Whether the previous char opened the class (`[` or `[^`), where `]` is a literal.
    let mut class_start = false;
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        let at_start = class_start;
        class_start = false;
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let set = match e {
                    'w' | 'W' => Some(W),
                    's' | 'S' => Some(S),
                    'd' | 'D' => Some(D),
                    _ => None,
                };
                match (set, in_class) {
                    (Some(set), false) => {
                        let neg = if e.is_ascii_uppercase() { "^" } else { "" };
                        out.push_str(&format!("[{neg}{set}]"));
                    }
                    (Some(set), true) if e.is_ascii_lowercase() => out.push_str(set),
                    (Some(set), true) => out.push_str(&format!("[^{set}]")),
                    (None, false) if e == 'b' || e == 'B' => out.push_str(&format!("(?-u:\\{e})")),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class such as [:alpha:], copied through its closing ":]".
                out.push('[');
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == ':' && chars.peek() == Some(&']') {
                        out.push(']');
                        chars.next();
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["), // a literal '[' inside an RE2 class
            ']' if in_class && !at_start => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

impl OpSpec for RegexFullMatch {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        expect_string(cx, 0)?;
        Ok(vec![vt(DType::Bool, cx.input(0)?.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let m: Vec<bool> = x.strings()?.iter().map(|s| self.regex.is_match(s)).collect();
        Ok(vec![Tensor::from_bools(x.shape(), &m)?])
    }
}

pub fn import_regex_full_match(c: &NodeCtx) -> Result<Op, String> {
    let pattern = c.attrs.opt_string("pattern")?.ok_or("attribute 'pattern' is required")?;
    let regex = regex::Regex::new(&format!("\\A(?:{})\\z", re2_to_rust(&pattern)))
        .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))?;
    Ok(Op::RegexFullMatch(RegexFullMatch { pattern, regex }))
}

// ---- TfIdfVectorizer -----------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TfIdfMode {
    Tf,
    Idf,
    TfIdf,
}

#[derive(Clone, Debug)]
pub enum NgramPool {
    Ints(HashMap<Vec<i64>, usize>),
    Strings(HashMap<Vec<String>, usize>),
}

#[derive(Clone, Debug)]
pub struct TfIdfVectorizer {
    pub mode: TfIdfMode,
    pub min_gram: usize,
    pub max_gram: usize,
    pub max_skip: usize,
    /// Each pooled n-gram whose length is in [min_gram, max_gram] → its output column.
    pub pool: NgramPool,
    pub out_size: usize,
    /// Per output column; empty = all ones.
    pub weights: Vec<f32>,
}

impl TfIdfVectorizer {
    /// Counts the pooled n-grams of one row into `freq` (one slot per output column). Unigrams
    /// are counted once; longer n-grams once per skip distance 1..=max_skip+1 (gaps of
    /// distance-1 items between consecutive items).
    fn count_row<K: Eq + Hash + Clone>(&self, row: &[K], pool: &HashMap<Vec<K>, usize>, freq: &mut [u64]) {
        let mut gram: Vec<K> = Vec::with_capacity(self.max_gram);
        for dist in 1..=self.max_skip + 1 {
            let min_n = if dist == 1 { self.min_gram } else { self.min_gram.max(2) };
            if min_n > self.max_gram {
                break;
            }
            for start in 0..row.len() {
                gram.clear();
                let mut i = start;
                while gram.len() < self.max_gram && i < row.len() {
                    gram.push(row[i].clone());
                    if gram.len() >= min_n {
                        if let Some(&col) = pool.get(&gram) {
                            freq[col] += 1;
                        }
                    }
                    i += dist;
                }
            }
        }
    }
}

impl OpSpec for TfIdfVectorizer {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        match (&self.pool, x.dtype) {
            (NgramPool::Ints(_), DType::I32 | DType::I64) | (NgramPool::Strings(_), DType::String) => {}
            (_, d) => return Err(format!("the input's dtype {d} does not match the pool")),
        }
        let dims = match x.dims.as_slice() {
            [] | [_] => vec![Dim::Known(self.out_size)],
            [b, _] => vec![b.clone(), Dim::Known(self.out_size)],
            d => return Err(format!("the input must have shape [C] or [B, C], got rank {}", d.len())),
        };
        Ok(vec![vt(DType::F32, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (rows, cols, out_shape) = match x.shape() {
            [] => (1, 1, vec![self.out_size]),
            [c] => (1, *c, vec![self.out_size]),
            [b, c] if *b > 0 => (*b, *c, vec![*b, self.out_size]),
            s => return Err(format!("the input must have shape [C] or [B, C] with B > 0, got {s:?}")),
        };
        let mut freq = vec![0u64; rows * self.out_size];
        let slots = freq.chunks_mut(self.out_size.max(1));
        match &self.pool {
            NgramPool::Ints(pool) => {
                if !matches!(x.dtype(), DType::I32 | DType::I64) {
                    return Err(format!("an int pool needs an int32 or int64 input, got {}", x.dtype()));
                }
                let xs = x.to_i64_vec()?;
                for (r, f) in slots.enumerate().take(rows) {
                    self.count_row(&xs[r * cols..(r + 1) * cols], pool, f);
                }
            }
            NgramPool::Strings(pool) => {
                let xs = x.strings()?;
                for (r, f) in slots.enumerate().take(rows) {
                    self.count_row(&xs[r * cols..(r + 1) * cols], pool, f);
                }
            }
        }
        let w = |i: usize| self.weights.get(i % self.out_size.max(1)).copied().unwrap_or(1.0);
        let y: Vec<f32> = freq
            .iter()
            .enumerate()
            .map(|(i, &f)| match self.mode {
                TfIdfMode::Tf => f as f32,
                TfIdfMode::Idf => {
                    if f > 0 {
                        w(i)
                    } else {
                        0.0
                    }
                }
                TfIdfMode::TfIdf => w(i) * f as f32,
            })
            .collect();
        Ok(vec![Tensor::new(&out_shape, y)?])
    }
}

/// The pool's n-grams of lengths in [min, max] with their output columns. `counts[k]` is where
/// the (k+1)-grams start in the pool; n-grams are numbered in pool order across all lengths
/// and `indexes` maps that number to the output column. A repeated n-gram keeps its last column.
fn build_pool<K: Eq + Hash + Clone>(
    pool: &[K],
    counts: &[i64],
    indexes: &[usize],
    (min, max): (usize, usize),
) -> Result<HashMap<Vec<K>, usize>, String> {
    let mut map = HashMap::new();
    let mut id = 0usize;
    for (k, &start) in counts.iter().enumerate() {
        let end = counts.get(k + 1).copied().unwrap_or(pool.len() as i64);
        if start < 0 || end < start || end as usize > pool.len() {
            return Err(format!("ngram_counts {counts:?} do not fit a pool of {} items", pool.len()));
        }
        let n = k + 1;
        let items = &pool[start as usize..end as usize];
        for gram in items.chunks_exact(n) {
            if (min..=max).contains(&n) {
                let col = *indexes
                    .get(id)
                    .ok_or_else(|| format!("ngram_indexes has {} entries, too few for the pool", indexes.len()))?;
                map.insert(gram.to_vec(), col);
            }
            id += 1;
        }
    }
    Ok(map)
}

pub fn import_tfidf_vectorizer(c: &NodeCtx) -> Result<Op, String> {
    let mode = match c.attrs.opt_string("mode")?.ok_or("attribute 'mode' is required")?.as_str() {
        "TF" => TfIdfMode::Tf,
        "IDF" => TfIdfMode::Idf,
        "TFIDF" => TfIdfMode::TfIdf,
        m => return Err(format!("unknown mode '{m}'")),
    };
    let size = |key: &str| -> Result<usize, String> {
        let v = c.attrs.opt_int(key)?.ok_or_else(|| format!("attribute '{key}' is required"))?;
        usize::try_from(v).map_err(|_| format!("attribute '{key}' must be ≥ 0, got {v}"))
    };
    let (min_gram, max_gram, max_skip) = (size("min_gram_length")?, size("max_gram_length")?, size("max_skip_count")?);
    if min_gram < 1 || max_gram < min_gram {
        return Err(format!("need 1 ≤ min_gram_length ≤ max_gram_length, got {min_gram} and {max_gram}"));
    }
    let counts = c.attrs.opt_ints("ngram_counts")?.ok_or("attribute 'ngram_counts' is required")?;
    let indexes = c.attrs.opt_ints("ngram_indexes")?.ok_or("attribute 'ngram_indexes' is required")?;
    let indexes: Vec<usize> = indexes
        .iter()
        .map(|&i| usize::try_from(i).map_err(|_| format!("ngram_indexes must be ≥ 0, got {i}")))
        .collect::<Result<_, _>>()?;
    let out_size = indexes.iter().max().map_or(0, |m| m + 1);
    let weights = c.attrs.floats("weights", vec![])?;
    if !weights.is_empty() && weights.len() < out_size {
        return Err(format!("weights has {} entries, the output has {out_size} columns", weights.len()));
    }
    let ints = c.attrs.opt_ints("pool_int64s")?;
    let strs = opt_strings(c, "pool_strings")?;
    let pool = match (ints, strs) {
        (Some(p), None) => NgramPool::Ints(build_pool(&p, &counts, &indexes, (min_gram, max_gram))?),
        (None, Some(p)) => NgramPool::Strings(build_pool(&p, &counts, &indexes, (min_gram, max_gram))?),
        _ => return Err("exactly one of pool_int64s and pool_strings must be set".into()),
    };
    Ok(Op::TfIdfVectorizer(TfIdfVectorizer { mode, min_gram, max_gram, max_skip, pool, out_size, weights }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn whitespace_split_follows_python() {
        let s = StringSplit { delimiter: None, maxsplit: Some(1) };
        assert_eq!(s.split("  a  b  c "), strs(&["a", "b  c "]));
        assert_eq!(s.split("   "), Vec::<String>::new());
        let s = StringSplit { delimiter: Some("-".into()), maxsplit: None };
        assert_eq!(s.split(""), strs(&[""]));
        assert_eq!(s.split("a--b-"), strs(&["a", "", "b", ""]));
    }

    #[test]
    fn normalizer_removes_whole_elements_case_insensitively() {
        let n =
            StringNormalizer { case_change: CaseChange::Upper, case_sensitive: false, stopwords: strs(&["monday"]) };
        let x = Tensor::from_strings(&[1, 3], strs(&["MonDay", "straße", "x"])).unwrap();
        let y = &n.eval(&[Some(&x)], 1).unwrap()[0];
        assert_eq!(y.shape(), &[1, 2]);
        assert_eq!(y.strings().unwrap(), &strs(&["STRAßE", "X"])[..]);
        let x = Tensor::from_strings(&[1], strs(&["monday"])).unwrap();
        let y = &n.eval(&[Some(&x)], 1).unwrap()[0];
        assert_eq!((y.shape(), y.strings().unwrap()), (&[1usize][..], &strs(&[""])[..]));
    }

    #[test]
    fn re2_perl_classes_are_ascii() {
        assert_eq!(re2_to_rust(r"[\w.-]+\b"), r"[0-9A-Za-z_.-]+(?-u:\b)");
        assert_eq!(re2_to_rust(r"[]\W]"), r"[][^0-9A-Za-z_]]");
        let r = regex::Regex::new(&format!("\\A(?:{})\\z", re2_to_rust(r"\w+"))).unwrap();
        assert!(r.is_match("abc_1"));
        assert!(!r.is_match("é"));
    }

    #[test]
    fn tfidf_counts_skip_grams_and_unigrams_once() {
        let pool: HashMap<Vec<i64>, usize> = [(vec![1], 0), (vec![1, 3], 1)].into_iter().collect();
        let t = TfIdfVectorizer {
            mode: TfIdfMode::Tf,
            min_gram: 1,
            max_gram: 2,
            max_skip: 2,
            pool: NgramPool::Ints(HashMap::new()),
            out_size: 2,
            weights: vec![],
        };
        let mut f = [0u64; 2];
        // [1,3] at distances 1 and 2 (1 _ 3), unigram 1 once.
        t.count_row(&[1i64, 3, 3], &pool, &mut f);
        assert_eq!(f, [1, 2]);
    }
}
