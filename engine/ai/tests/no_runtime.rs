//! Without the ONNX Runtime library, loading says what is missing and how
//! to get it. (Its own process: a library loaded once stays loaded.)

use clipshot_ai::runtime::{OnnxRuntime, RuntimeError};

#[test]
fn a_missing_runtime_library_is_a_clear_error() {
    let err = OnnxRuntime::load(std::path::Path::new("/nonexistent/libonnxruntime.so.1.31.1")).unwrap_err();
    assert!(matches!(err, RuntimeError::Library(_)));
    let text = err.to_string();
    assert!(text.contains("/nonexistent/libonnxruntime.so.1.31.1 does not exist"), "{text}");
    assert!(text.contains("make onnxruntime"), "{text}");
    // A file that is no library at all.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let text = OnnxRuntime::load(&fake).unwrap_err().to_string();
    assert!(text.contains("failed to load from"), "{text}");
}
