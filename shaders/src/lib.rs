//! WGSL shaders, embedded so the GPU adapter ships them inside the binary.

/// A captured frame (RGBA, BGRx, I420, NV12) → a model's input tensor:
/// crop, bilinear resize, channel order, NCHW/NHWC, mean/std (`main`, workgroup 8×8).
pub const PREPROCESS: &str = include_str!("../preprocess.wgsl");

/// Motion features of a small frame against the previous one kept on the
/// GPU: luma difference, brightness, colour histograms (`main`, one workgroup of 256).
pub const MOTION: &str = include_str!("../motion.wgsl");

/// Every shader, by file name; the tests validate each one.
pub const ALL: &[(&str, &str)] = &[("motion.wgsl", MOTION), ("preprocess.wgsl", PREPROCESS)];
