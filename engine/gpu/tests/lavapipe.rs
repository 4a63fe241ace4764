//! The GPU path against the CPU reference, on whatever adapter this machine
//! has: lavapipe (Mesa's software Vulkan) in CI, which `make test` installs.

use clipshot_gpu::cpu::{self, MotionState};
use clipshot_gpu::{Format, Frame, Gpu, GpuMotion, Layout, Matrix, Spec};
use std::sync::Arc;

/// The adapter, or `None` outside CI on a machine without Vulkan.
fn gpu() -> Option<Arc<Gpu>> {
    match Gpu::new() {
        Ok(gpu) => Some(gpu),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI must have an adapter (lavapipe: make test installs it): {e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// A frame with gradients in every channel, its rows padded past the width.
fn frame_bytes(format: Format, width: u32, height: u32) -> (Vec<u8>, [u32; 3], [u32; 3]) {
    let pad = 12;
    let v = |x: u32, y: u32, k: u32| ((x * 7 + y * 13 + k * 61) % 256) as u8;
    match format {
        Format::Rgba | Format::Bgrx => {
            let stride = width * 4 + pad;
            let mut data = vec![0u8; (stride * height) as usize];
            for y in 0..height {
                for x in 0..width {
                    for k in 0..4 {
                        data[(y * stride + x * 4 + k) as usize] = v(x, y, k);
                    }
                }
            }
            (data, [0, 0, 0], [stride, 0, 0])
        }
        Format::I420 => {
            let (ys, cs) = (width + pad, width.div_ceil(2) + pad);
            let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
            let u = ys * height;
            let vo = u + cs * ch;
            let mut data = vec![0u8; (vo + cs * ch) as usize];
            for y in 0..height {
                for x in 0..width {
                    data[(y * ys + x) as usize] = 16 + v(x, y, 0) % 220;
                }
            }
            for y in 0..ch {
                for x in 0..cw {
                    data[(u + y * cs + x) as usize] = v(x, y, 1);
                    data[(vo + y * cs + x) as usize] = v(x, y, 2);
                }
            }
            (data, [0, u, vo], [ys, cs, cs])
        }
        Format::Nv12 => {
            let s = width + pad + (width % 2);
            let uv = s * height;
            let mut data = vec![0u8; (uv + s * height.div_ceil(2)) as usize];
            for y in 0..height {
                for x in 0..width {
                    data[(y * s + x) as usize] = 16 + v(x, y, 0) % 220;
                }
            }
            for y in 0..height.div_ceil(2) {
                for x in 0..width.div_ceil(2) {
                    data[(uv + y * s + x * 2) as usize] = v(x, y, 1);
                    data[(uv + y * s + x * 2 + 1) as usize] = v(x, y, 2);
                }
            }
            (data, [0, uv, 0], [s, s, 0])
        }
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The tolerance: GPU and CPU do the same f32 arithmetic in the same order;
/// fused multiply-adds and the GPU's rounding leave differences far below one
/// 8-bit step (1/255 ≈ 0.004 before normalisation).
const TOLERANCE: f32 = 1e-3;

#[test]
fn preprocessing_matches_the_cpu_reference_for_every_format_crop_and_layout() {
    let Some(gpu) = gpu() else { return };
    let specs = [
        // PaddleOCR's detector: a kill-feed region, BGR, ImageNet mean/std, NCHW.
        Spec {
            region: [0.6, 0.05, 0.35, 0.2],
            width: 96,
            height: 32,
            layout: Layout::Nchw,
            bgr: true,
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        },
        // The whole frame, downscaled, RGB in 0..1, NHWC.
        Spec { layout: Layout::Nhwc, ..Spec::unit(64, 36) },
        // Upscaled from a small region.
        Spec { region: [0.25, 0.25, 0.1, 0.1], ..Spec::unit(40, 40) },
    ];
    for format in [Format::Rgba, Format::Bgrx, Format::I420, Format::Nv12] {
        for matrix in [Matrix::Bt709, Matrix::Bt601] {
            let (w, h) = (161, 91); // odd on purpose: chroma rounds up
            let (data, offsets, strides) = frame_bytes(format, w, h);
            let frame = Frame { format, width: w, height: h, data: &data, offsets, strides, matrix };
            for spec in &specs {
                let mut want = vec![0.0; spec.len()];
                cpu::preprocess(&frame, spec, &mut want).unwrap();
                let mut got = vec![0.0; spec.len()];
                gpu.preprocess(&frame, spec, &mut got).unwrap();
                let diff = max_diff(&want, &got);
                assert!(diff < TOLERANCE, "{format:?} {matrix:?} {spec:?}: max difference {diff}");
                // Not a check that cannot fail: the values spread over the range.
                let spread =
                    want.iter().cloned().fold(f32::MIN, f32::max) - want.iter().cloned().fold(f32::MAX, f32::min);
                assert!(spread > 0.5, "{format:?}: a flat test image proves nothing ({spread})");
            }
        }
    }
}

#[test]
fn the_cpu_reference_gets_known_pixels_right() {
    // Limited-range white and black, in I420 and NV12.
    for (format, y, expect) in [(Format::I420, 235u8, 1.0f32), (Format::Nv12, 16, 0.0)] {
        // 4×4 luma, then chroma (I420: 2 planes of 2 rows × 4; NV12: 2 rows × 4), all 128.
        let mut data = vec![y; 16];
        data.extend(std::iter::repeat_n(128u8, 16));
        let frame = Frame::tight(format, 4, 4, &data);
        let spec = Spec::unit(2, 2);
        let mut out = vec![0.0; spec.len()];
        cpu::preprocess(&frame, &spec, &mut out).unwrap();
        assert!(out.iter().all(|v| (v - expect).abs() < 2e-3), "{format:?}: {out:?}");
    }
    // BGRx swaps to RGB; `bgr` swaps back; NHWC interleaves.
    let data = [10u8, 20, 30, 0];
    let frame = Frame::tight(Format::Bgrx, 1, 1, &data);
    let spec = Spec { scale: 1.0, layout: Layout::Nhwc, ..Spec::unit(1, 1) };
    let mut out = [0.0; 3];
    cpu::preprocess(&frame, &spec, &mut out).unwrap();
    assert_eq!(out, [30.0, 20.0, 10.0]);
    cpu::preprocess(&frame, &Spec { bgr: true, ..spec }, &mut out).unwrap();
    assert_eq!(out, [10.0, 20.0, 30.0]);
    // Mean and std.
    let spec = Spec { scale: 1.0, mean: [30.0, 0.0, 0.0], std: [2.0, 4.0, 5.0], ..spec };
    cpu::preprocess(&frame, &spec, &mut out).unwrap();
    assert_eq!(out, [0.0, 5.0, 2.0]);
}

#[test]
fn bad_frames_and_regions_are_errors_not_panics() {
    let data = vec![0u8; 10];
    let frame = Frame::tight(Format::Rgba, 4, 4, &data);
    let mut out = vec![0.0; Spec::unit(2, 2).len()];
    let e = cpu::preprocess(&frame, &Spec::unit(2, 2), &mut out).unwrap_err();
    assert!(e.to_string().contains("needs 64 bytes, the frame has 10"), "{e}");
    let data = vec![0u8; 64];
    let frame = Frame::tight(Format::Rgba, 4, 4, &data);
    let spec = Spec { region: [0.5, 0.5, 0.6, 0.2], ..Spec::unit(2, 2) };
    assert!(cpu::preprocess(&frame, &spec, &mut out).unwrap_err().to_string().contains("crop"));
    if let Some(gpu) = gpu() {
        assert!(gpu.preprocess(&frame, &spec, &mut out).is_err());
    }
}

/// A solid RGBA frame with a `part` of its rows in another colour.
fn solid(width: u32, height: u32, base: [u8; 3], other: [u8; 3], part: f32) -> Vec<u8> {
    let split = (height as f32 * part) as u32;
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        let c = if y < split { other } else { base };
        for _ in 0..width {
            data.extend_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }
    data
}

#[test]
fn motion_features_follow_the_frames_on_the_gpu_as_on_the_cpu() {
    let Some(gpu) = gpu() else { return };
    let (w, h) = (320, 180);
    let frames = [
        solid(w, h, [0, 0, 0], [0, 0, 0], 0.0),             // dark
        solid(w, h, [0, 0, 0], [0, 0, 0], 0.0),             // still dark: nothing moves
        solid(w, h, [0, 0, 0], [255, 255, 255], 0.25),      // a quarter lights up
        solid(w, h, [255, 255, 255], [255, 255, 255], 0.0), // a flash
        solid(w, h, [200, 30, 30], [200, 30, 30], 0.0),     // a cut to red
    ];
    let mut on_gpu = GpuMotion::new(Arc::clone(&gpu), 64, 36);
    let mut on_cpu = MotionState::default();
    let spec = Spec::unit(64, 36);
    let mut seen = Vec::new();
    for data in &frames {
        let frame = Frame::tight(Format::Rgba, w, h, data);
        let g = on_gpu.update(&frame).unwrap();
        let mut small = vec![0.0; spec.len()];
        cpu::preprocess(&frame, &spec, &mut small).unwrap();
        let c = on_cpu.update(&small, 64 * 36);
        for (name, a, b) in [
            ("difference", g.difference, c.difference),
            ("brightness", g.brightness, c.brightness),
            ("flash", g.flash, c.flash),
            ("histogram change", g.histogram_change, c.histogram_change),
        ] {
            assert!((a - b).abs() < 2e-3, "{name}: GPU {a}, CPU {b}");
        }
        seen.push(g);
    }
    assert_eq!(seen[0].difference, 0.0);
    assert!(seen[1].difference < 1e-3 && seen[1].histogram_change < 1e-3, "{}", seen[1]);
    assert!((seen[2].difference - 0.25).abs() < 0.02, "{}", seen[2]);
    assert!((seen[3].flash - 0.75).abs() < 0.02 && seen[3].brightness > 0.99, "{}", seen[3]);
    assert!(seen[4].histogram_change > 0.9, "a cut: {}", seen[4]);
    // Only the sums come back: 50 words a frame, plus nothing else.
    assert_eq!(gpu.bytes_read_back(), 5 * 200);
}

#[test]
fn the_adapter_says_what_it_is() {
    let Some(gpu) = gpu() else { return };
    let info = gpu.info();
    assert!(!info.name.is_empty() && !info.backend.is_empty());
    if std::env::var_os("CI").is_some() {
        // CI has no GPU: Mesa's software Vulkan.
        assert_eq!(info.device_type, "Cpu", "{info:?}");
        assert!(info.name.contains("llvmpipe"), "{info:?}");
    }
}
