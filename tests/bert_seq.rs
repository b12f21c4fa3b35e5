//! bert_tiny at three sequence lengths in one session. The corpus export has seq = 128 baked
//! into its constants; `tools/make_dynamic_bert.py` rewrites it into the same network (same
//! weights and nodes) with a symbolic `seq` dim and writes ONNX Runtime's outputs for seq 128
//! (the corpus input), 48 and 17 (with padding masked out) into
//! `target/generated/bert_tiny_dynamic` (or `$ONNX_WGPU_BERT_DYNAMIC`). This test runs the
//! three lengths through one GPU session (no CPU fallback) and one CPU session, compares each
//! with ORT (rtol 1e-3, atol 1e-4) and checks that no compute pipeline is compiled after the
//! first length. Without the generated folder it says how to make it and passes. Alone in its
//! test binary, so the device-wide pipeline counter sees only this test.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::testing::read_pb;
use onnx_wgpu::{Backend, Session, Tensor};
use std::path::{Path, PathBuf};

fn fixture() -> Option<PathBuf> {
    let p = std::env::var_os("ONNX_WGPU_BERT_DYNAMIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/generated/bert_tiny_dynamic"));
    p.join("model.onnx").is_file().then_some(p)
}

fn read_set(dir: &Path, prefix: &str) -> Vec<(String, Tensor)> {
    (0..)
        .map(|k| dir.join(format!("{prefix}_{k}.pb")))
        .take_while(|p| p.is_file())
        .map(|p| read_pb(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

#[test]
fn bert_tiny_runs_three_sequence_lengths_in_one_session_without_new_pipelines() {
    let Some(dir) = fixture() else {
        eprintln!(
            "SKIP bert_seq: no fixture; run `python3 tools/make_dynamic_bert.py` (needs the corpus, onnx, onnxruntime)"
        );
        return;
    };
    let model = dir.join("model.onnx");
    let cpu = Session::builder().backend(Backend::Cpu).from_file(&model).unwrap();
    let gpu = gpu_available("bert_seq")
        .then(|| Session::builder().backend(Backend::Gpu).cpu_fallback(false).from_file(&model).unwrap());
    let mut after_first = None;
    let mut seqs = Vec::new();
    for k in 0..3 {
        let set = dir.join(format!("test_data_set_{k}"));
        let inputs = read_set(&set, "input");
        let want = read_set(&set, "output");
        let seq = inputs[0].1.shape()[1];
        seqs.push(seq);
        let feeds: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let mut sessions = vec![("cpu", &cpu)];
        if let Some(g) = &gpu {
            sessions.push(("gpu", g));
        }
        for (name, s) in sessions {
            let got = s.run(&feeds).unwrap_or_else(|e| panic!("{name} seq {seq}: {e}"));
            for (j, (out, w)) in want.iter().enumerate() {
                assert_close(&format!("{name} seq {seq} output {out}"), &got[j], w, 1e-3, 1e-4);
            }
        }
        if let Some(g) = &gpu {
            let compiled = g.pipelines_compiled().expect("a GPU session counts pipelines");
            match after_first {
                None => after_first = Some(compiled),
                Some(n) => assert_eq!(compiled, n, "seq {seq} compiled new pipelines"),
            }
        }
    }
    assert_eq!(seqs, [128, 48, 17]);
    if let Some(n) = after_first {
        eprintln!("bert_seq: seq {seqs:?} on one GPU session, {n} pipelines, none compiled after seq 128");
    }
}
