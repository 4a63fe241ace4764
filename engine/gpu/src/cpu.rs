//! The CPU path: the same arithmetic as `preprocess.wgsl` and `motion.wgsl`,
//! step for step. It runs where there is no GPU adapter, and it is the
//! reference the GPU path is tested against.

use crate::frame::{BINS, Format, Frame, FrameError, Layout, Matrix, Motion, Spec, motion_from_sums};

fn yuv_to_rgb(matrix: Matrix, y: f32, u: f32, v: f32) -> [f32; 3] {
    let c = (y - 16.0) * 1.164_383;
    let (d, e) = (u - 128.0, v - 128.0);
    let rgb = match matrix {
        Matrix::Bt709 => [c + 1.792_741 * e, c - 0.213_249 * d - 0.532_909 * e, c + 2.112_402 * d],
        Matrix::Bt601 => [c + 1.596_027 * e, c - 0.391_762 * d - 0.812_968 * e, c + 2.017_232 * d],
    };
    rgb.map(|v| v.clamp(0.0, 255.0))
}

fn pixel(f: &Frame<'_>, x: u32, y: u32) -> [f32; 3] {
    let b = |i: u32| f32::from(f.data[i as usize]);
    let (o, s) = (f.offsets, f.strides);
    match f.format {
        Format::Rgba => {
            let i = o[0] + y * s[0] + x * 4;
            [b(i), b(i + 1), b(i + 2)]
        }
        Format::Bgrx => {
            let i = o[0] + y * s[0] + x * 4;
            [b(i + 2), b(i + 1), b(i)]
        }
        Format::I420 => {
            let luma = b(o[0] + y * s[0] + x);
            let u = b(o[1] + (y / 2) * s[1] + x / 2);
            let v = b(o[2] + (y / 2) * s[2] + x / 2);
            yuv_to_rgb(f.matrix, luma, u, v)
        }
        Format::Nv12 => {
            let luma = b(o[0] + y * s[0] + x);
            let uv = o[1] + (y / 2) * s[1] + (x / 2) * 2;
            yuv_to_rgb(f.matrix, luma, b(uv), b(uv + 1))
        }
    }
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

/// `frame` → the tensor `spec` describes, into `out` (`spec.len()` values).
pub fn preprocess(frame: &Frame<'_>, spec: &Spec, out: &mut [f32]) -> Result<(), FrameError> {
    frame.check()?;
    let crop = spec.crop(frame)?;
    assert_eq!(out.len(), spec.len(), "the output holds the whole tensor");
    let (dw, dh) = (spec.width, spec.height);
    let step = [crop[2] / dw as f32, crop[3] / dh as f32];
    let maxp = [(frame.width - 1) as f32, (frame.height - 1) as f32];
    let inv_std = spec.std.map(|s| 1.0 / s);
    let plane = (dw * dh) as usize;
    for dy in 0..dh {
        for dx in 0..dw {
            let at = [crop[0] + (dx as f32 + 0.5) * step[0] - 0.5, crop[1] + (dy as f32 + 0.5) * step[1] - 0.5];
            let p = [at[0].clamp(0.0, maxp[0]), at[1].clamp(0.0, maxp[1])];
            let p0 = [p[0].floor(), p[1].floor()];
            let p1 = [(p0[0] + 1.0).min(maxp[0]), (p0[1] + 1.0).min(maxp[1])];
            let f = [p[0] - p0[0], p[1] - p0[1]];
            let (x0, y0, x1, y1) = (p0[0] as u32, p0[1] as u32, p1[0] as u32, p1[1] as u32);
            let top = mix(pixel(frame, x0, y0), pixel(frame, x1, y0), f[0]);
            let bottom = mix(pixel(frame, x0, y1), pixel(frame, x1, y1), f[0]);
            let mut rgb = mix(top, bottom, f[1]);
            if spec.bgr {
                rgb.reverse();
            }
            let i = (dy * dw + dx) as usize;
            for c in 0..3 {
                let v = (rgb[c] * spec.scale - spec.mean[c]) * inv_std[c];
                match spec.layout {
                    Layout::Nchw => out[c * plane + i] = v,
                    Layout::Nhwc => out[i * 3 + c] = v,
                }
            }
        }
    }
    Ok(())
}

/// Motion features from a small NCHW RGB (0..1) frame and the one before.
#[derive(Debug, Default)]
pub struct MotionState {
    previous_frame: Option<Vec<f32>>,
    previous: Option<(Vec<u32>, f32)>,
}

impl MotionState {
    /// `current` is 3 × `pixels` values, NCHW, RGB in 0..1.
    pub fn update(&mut self, current: &[f32], pixels: usize) -> Motion {
        let luma = |r: f32, g: f32, b: f32| r * 0.299 + g * 0.587 + b * 0.114;
        let mut sums = vec![0u32; 2 + 3 * BINS];
        for i in 0..pixels {
            let rgb = [current[i], current[pixels + i], current[2 * pixels + i]];
            let y = luma(rgb[0], rgb[1], rgb[2]);
            sums[1] += (y * 65536.0) as u32;
            if let Some(before) = &self.previous_frame {
                let b = luma(before[i], before[pixels + i], before[2 * pixels + i]);
                sums[0] += ((y - b).abs() * 65536.0) as u32;
            }
            for (c, v) in rgb.iter().enumerate() {
                let bin = ((v * BINS as f32) as usize).min(BINS - 1);
                sums[2 + c * BINS + bin] += 1;
            }
        }
        let first = self.previous_frame.is_none();
        self.previous_frame = Some(current.to_vec());
        motion_from_sums(&sums, pixels, first, &mut self.previous)
    }
}
