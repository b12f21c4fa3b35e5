//! Writes `assets/tiny_cnn.onnx`, the embedded default model, from `onnx_wgpu::embedded::build`.
fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/tiny_cnn.onnx");
    std::fs::write(path, onnx_wgpu::embedded::build())?;
    println!("wrote {path}");
    Ok(())
}
