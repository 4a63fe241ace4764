//! WGSL shaders, embedded so the GPU adapter ships them inside the binary.

/// Frame → normalised NCHW tensor for the highlight model (`main`, workgroup 8×8).
pub const PREPROCESS: &str = include_str!("../preprocess.wgsl");

/// Every shader, by file name; the tests validate each one.
pub const ALL: &[(&str, &str)] = &[("preprocess.wgsl", PREPROCESS)];
