//! What preprocessing takes and gives: a raw frame as the capture hands it
//! over, and how a model wants its input tensor. Plain data, shared by the
//! GPU and CPU paths.

use std::fmt;

/// Pixel layouts a capture delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// R, G, B, A bytes.
    Rgba,
    /// B, G, R, x bytes (Windows Graphics Capture, ximagesrc).
    Bgrx,
    /// Planar Y, U, V; chroma halved both ways.
    I420,
    /// Planar Y, then interleaved U/V; chroma halved both ways.
    Nv12,
}

impl Format {
    pub(crate) fn code(self) -> u32 {
        match self {
            Format::Rgba => 0,
            Format::Bgrx => 1,
            Format::I420 => 2,
            Format::Nv12 => 3,
        }
    }
}

/// The YUV → RGB matrix (limited range), for I420 and NV12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Matrix {
    Bt601,
    /// HD captures (GStreamer's default from 720p up).
    #[default]
    Bt709,
}

/// One raw frame: bytes, and where each plane starts and how long its rows are.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub data: &'a [u8],
    /// Byte offset of planes 0, 1, 2 (packed formats use plane 0).
    pub offsets: [u32; 3],
    /// Row stride of planes 0, 1, 2.
    pub strides: [u32; 3],
    pub matrix: Matrix,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame must be at least 1×1")]
    Empty,
    #[error("{format:?} {width}×{height} needs {needed} bytes, the frame has {got}")]
    TooShort { format: Format, width: u32, height: u32, needed: usize, got: usize },
    #[error("the crop {0:?} is outside the frame or empty")]
    Crop([f32; 4]),
    #[error("the output size must be at least 1×1")]
    Output,
}

impl<'a> Frame<'a> {
    /// A frame with GStreamer's default layout: rows padded to 4 bytes (I420's
    /// chroma rows to 4 as well), planes back to back after an even number of
    /// luma rows.
    pub fn tight(format: Format, width: u32, height: u32, data: &'a [u8]) -> Self {
        let round4 = |n: u32| n.div_ceil(4) * 4;
        let (offsets, strides) = match format {
            Format::Rgba | Format::Bgrx => ([0, 0, 0], [width * 4, 0, 0]),
            Format::I420 => {
                let ys = round4(width);
                let cs = round4(width.div_ceil(2));
                let u = ys * height.next_multiple_of(2);
                let v = u + cs * height.div_ceil(2);
                ([0, u, v], [ys, cs, cs])
            }
            Format::Nv12 => {
                let ys = round4(width);
                ([0, ys * height.next_multiple_of(2), 0], [ys, ys, 0])
            }
        };
        Self { format, width, height, data, offsets, strides, matrix: Matrix::default() }
    }

    /// Bytes this frame's layout reads, at most.
    pub fn needed(&self) -> usize {
        let (w, h) = (self.width as usize, self.height as usize);
        let (o, s) = (self.offsets.map(|v| v as usize), self.strides.map(|v| v as usize));
        match self.format {
            Format::Rgba | Format::Bgrx => o[0] + s[0] * (h - 1) + w * 4,
            Format::I420 => {
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                (o[0] + s[0] * (h - 1) + w).max(o[1] + s[1] * (ch - 1) + cw).max(o[2] + s[2] * (ch - 1) + cw)
            }
            Format::Nv12 => (o[0] + s[0] * (h - 1) + w).max(o[1] + s[1] * (h.div_ceil(2) - 1) + w.div_ceil(2) * 2),
        }
    }

    pub fn check(&self) -> Result<(), FrameError> {
        if self.width == 0 || self.height == 0 {
            return Err(FrameError::Empty);
        }
        let needed = self.needed();
        if self.data.len() < needed {
            return Err(FrameError::TooShort {
                format: self.format,
                width: self.width,
                height: self.height,
                needed,
                got: self.data.len(),
            });
        }
        Ok(())
    }
}

/// Where the model's tensor puts its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    #[default]
    Nchw,
    Nhwc,
}

/// How a model wants its input: a region of the frame, a size, and the
/// arithmetic on each channel: `(value * scale - mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Region as fractions of the frame (x, y, width, height), so any
    /// resolution works; `[0, 0, 1, 1]` is the whole frame.
    pub region: [f32; 4],
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    /// Channels out in B, G, R order (PaddleOCR) instead of R, G, B.
    pub bgr: bool,
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Spec {
    /// The whole frame at `width`×`height`, RGB in 0..1, NCHW.
    pub fn unit(width: u32, height: u32) -> Self {
        Self {
            region: [0.0, 0.0, 1.0, 1.0],
            width,
            height,
            layout: Layout::Nchw,
            bgr: false,
            scale: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    /// Elements of the output tensor (3 × height × width).
    pub fn len(&self) -> usize {
        3 * self.width as usize * self.height as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The crop in source pixels, checked.
    pub(crate) fn crop(&self, frame: &Frame<'_>) -> Result<[f32; 4], FrameError> {
        if self.width == 0 || self.height == 0 {
            return Err(FrameError::Output);
        }
        let [x, y, w, h] = self.region;
        let inside = (0.0..1.0).contains(&x) && (0.0..1.0).contains(&y) && w > 0.0 && h > 0.0;
        if !inside || x + w > 1.0 + 1e-6 || y + h > 1.0 + 1e-6 {
            return Err(FrameError::Crop(self.region));
        }
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        Ok([x * fw, y * fh, w * fw, h * fh])
    }
}

/// Motion features of one frame against the one before.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Motion {
    /// Mean absolute luma change, 0..1 (0 for the first frame).
    pub difference: f32,
    /// Mean luma, 0..1.
    pub brightness: f32,
    /// Brightness change since the frame before (a muzzle flash, an explosion).
    pub flash: f32,
    /// How much the colour histograms changed, 0..1 (a scene cut near 1).
    pub histogram_change: f32,
}

impl fmt::Display for Motion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "difference {:.3}, brightness {:.3}, flash {:+.3}, histogram change {:.3}",
            self.difference, self.brightness, self.flash, self.histogram_change
        )
    }
}

/// Histogram bins per channel.
pub const BINS: usize = 16;

/// Turns the motion pass's sums into features; `previous` keeps the last histogram.
pub(crate) fn motion_from_sums(
    sums: &[u32],
    pixels: usize,
    first: bool,
    previous: &mut Option<(Vec<u32>, f32)>,
) -> Motion {
    let n = pixels as f32;
    let difference = if first { 0.0 } else { sums[0] as f32 / 65536.0 / n };
    let brightness = sums[1] as f32 / 65536.0 / n;
    let hist = sums[2..2 + 3 * BINS].to_vec();
    let (histogram_change, flash) = match previous.as_ref() {
        Some((before, light)) => {
            let moved: u32 = hist.iter().zip(before).map(|(a, b)| a.abs_diff(*b)).sum();
            (moved as f32 / (2.0 * 3.0 * n), brightness - light)
        }
        None => (0.0, 0.0),
    };
    *previous = Some((hist, brightness));
    Motion { difference, brightness, flash, histogram_change }
}
