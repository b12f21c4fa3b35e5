//! Greedy decoding with the tiny GPT decoder (`embedded::decoder`), two ways: the KV cache and
//! the next token kept on the device between runs (`IoBinding`), and every tensor round-tripped
//! through the host (`Session::run`). Prints tokens/s and host↔device transfers per token for
//! each, cold (each new cache length plans and prepares a stage) and warm (the same lengths
//! again: plans cached).
//!
//! `cargo run --release --example decode [-- STEPS [cpu]]`

use onnx_wgpu::embedded::decoder::{greedy_device, greedy_host, Decoded, TinyGpt};
use onnx_wgpu::{Backend, Session, TransferStats};

fn report(what: &str, d: &Decoded) {
    let n = d.per_token.len();
    let first = d.per_token[0];
    let rest = d.per_token[1..].iter().fold(TransferStats::default(), |a, s| TransferStats {
        uploads: a.uploads + s.uploads,
        upload_bytes: a.upload_bytes + s.upload_bytes,
        downloads: a.downloads + s.downloads,
        download_bytes: a.download_bytes + s.download_bytes,
        device_copies: a.device_copies + s.device_copies,
        device_copy_bytes: a.device_copy_bytes + s.device_copy_bytes,
        plan_stages: a.plan_stages + s.plan_stages,
        plan_upload_bytes: a.plan_upload_bytes + s.plan_upload_bytes,
    });
    let per = |x: u64| x as f64 / (n - 1).max(1) as f64;
    println!(
        "{what:<24} {:>8.1} tokens/s  first token: {} up ({} B) {} down ({} B)  | later tokens, per token: {:.1} up ({:.0} B) {:.1} down ({:.0} B), {:.1} device copies ({:.0} B), {:.1} stages planned ({:.0} B of plan constants/params)",
        n as f64 / d.seconds,
        first.uploads,
        first.upload_bytes,
        first.downloads,
        first.download_bytes,
        per(rest.uploads),
        per(rest.upload_bytes),
        per(rest.downloads),
        per(rest.download_bytes),
        per(rest.device_copies),
        per(rest.device_copy_bytes),
        per(rest.plan_stages),
        per(rest.plan_upload_bytes),
    );
}

fn main() -> onnx_wgpu::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(32);
    let backend = if args.iter().any(|a| a == "cpu") { Backend::Cpu } else { Backend::Gpu };
    let gpt = TinyGpt::default();
    let session = Session::builder().backend(backend).cpu_fallback(false).from_bytes(&gpt.build())?;
    println!(
        "tiny GPT: vocab {}, d_model {}, {} heads, {} layers, ff {}; {} tokens after a 4-token prompt on {}",
        gpt.vocab,
        gpt.d_model,
        gpt.heads,
        gpt.layers,
        gpt.ff,
        steps,
        session.device_name()
    );
    let prompt = [3, 14, 15, 92];
    let mut runs = Vec::new();
    for pass in ["cold", "warm"] {
        let device = greedy_device(&session, &gpt, &prompt, steps)?;
        report(&format!("device-resident ({pass})"), &device);
        let host = greedy_host(&session, &gpt, &prompt, steps)?;
        report(&format!("host round trip ({pass})"), &host);
        runs.push((device, host));
    }
    let same = runs.iter().all(|(d, h)| d.tokens == h.tokens && d.tokens == runs[0].0.tokens);
    println!("tokens {:?} (identical in every run: {same})", runs[0].0.tokens);
    Ok(())
}
