//! `hud.crop`: crops a HUD region of the frame and resizes it into a model's
//! input tensor, so a classifier downstream sees only the part of the screen
//! it was trained on (a minimap, an ammo counter, a kill banner).
//!
//! The crop is taken from the source-size frame (cropping first keeps the
//! HUD's detail; scaling the whole frame down first would blur it) and
//! resized bilinearly with pixel centres aligned (as OpenCV's `INTER_LINEAR`
//! and PyTorch's `align_corners=False` do). Values are scaled to 0..1, then
//! optionally standardised per channel with `(v - mean) / std`.

use clipshot_plugin_sdk::{
    CreateContext, Emitter, Frame, Input, Pad, PixelFormat, PluginNode, VideoInput, export_plugin, media,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The largest output side: bounds the tensor a typo could ask for.
pub const MAX_SIDE: u32 = 4096;

/// A rectangle as fractions of the frame (resolution independent).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    #[schemars(range(min = 0.0, max = 1.0))]
    pub x: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub y: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub width: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub height: f64,
}

impl Region {
    pub fn validate(&self) -> Result<(), String> {
        let Region { x, y, width, height } = *self;
        if ![x, y, width, height].iter().all(|v| v.is_finite()) {
            return Err("region: x, y, width and height must be numbers".into());
        }
        if width <= 0.0 || height <= 0.0 {
            return Err(format!("region: width and height must be > 0 (got {width} × {height})"));
        }
        if x < 0.0 || y < 0.0 || x + width > 1.0 + 1e-9 || y + height > 1.0 + 1e-9 {
            return Err(format!(
                "region must lie inside the frame: x, y ≥ 0 and x + width, y + height ≤ 1 \
                 (got x {x}, y {y}, width {width}, height {height}); values are fractions of the frame"
            ));
        }
        Ok(())
    }

    /// The crop in pixels as `(x0, y0, width, height)`, at least one pixel,
    /// or `None` for an empty frame.
    pub fn pixels(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        if width == 0 || height == 0 {
            return None;
        }
        let span = |start: f64, len: f64, size: u32| {
            let size_f = f64::from(size);
            let a = ((start * size_f).round() as u32).min(size - 1);
            let b = (((start + len) * size_f).round() as u32).clamp(a + 1, size);
            (a, b - a)
        };
        let (x0, w) = span(self.x, self.width, width);
        let (y0, h) = span(self.y, self.height, height);
        Some((x0, y0, w, h))
    }
}

/// Memory order of the output tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[1, 3, H, W]`: planar, what most ONNX vision models take.
    #[default]
    Nchw,
    /// `[1, H, W, 3]`: interleaved (TensorFlow-style models).
    Nhwc,
}

/// Per-channel standardisation after scaling to 0..1:
/// `(v - mean) / std`, in R, G, B order.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Subtracted per channel (ImageNet: [0.485, 0.456, 0.406]).
    #[serde(default)]
    pub mean: [f32; 3],
    /// Divided by per channel (ImageNet: [0.229, 0.224, 0.225]).
    #[serde(default = "ones")]
    pub std: [f32; 3],
}

fn ones() -> [f32; 3] {
    [1.0; 3]
}

impl Default for Normalize {
    fn default() -> Self {
        Self { mean: [0.0; 3], std: ones() }
    }
}

fn default_width() -> u32 {
    224
}
fn default_fps() -> f64 {
    5.0
}

/// Props of `hud.crop`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Props {
    /// The HUD region, as fractions of the frame.
    pub region: Region,
    /// Output width in pixels.
    #[serde(default = "default_width")]
    #[schemars(range(min = 1, max = 4096))]
    pub width: u32,
    /// Output height in pixels; by default the crop's aspect ratio is kept.
    #[serde(default)]
    #[schemars(range(min = 1, max = 4096))]
    pub height: Option<u32>,
    /// `nchw` (default) or `nhwc`.
    #[serde(default)]
    pub layout: Layout,
    /// Standardisation after scaling to 0..1; values stay in 0..1 without it.
    #[serde(default)]
    pub normalize: Option<Normalize>,
    /// At most this many crops per second (the host drops frames above it).
    #[serde(default = "default_fps")]
    #[schemars(range(min = 0.1, max = 240.0))]
    pub fps: f64,
}

impl Props {
    pub fn validate(&self) -> Result<(), String> {
        self.region.validate()?;
        for (name, side) in [("width", Some(self.width)), ("height", self.height)] {
            if let Some(side) = side
                && !(1..=MAX_SIDE).contains(&side)
            {
                return Err(format!("{name} must be 1..={MAX_SIDE} pixels (got {side})"));
            }
        }
        if let Some(n) = &self.normalize
            && (n.mean.iter().any(|m| !m.is_finite()) || n.std.iter().any(|s| !s.is_finite() || *s == 0.0))
        {
            return Err(format!("normalize: mean must be finite and std finite and non-zero (got {n:?})"));
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(format!("fps must be > 0 (got {})", self.fps));
        }
        Ok(())
    }
}

/// An output image: shape and data, ready for [`Emitter::tensor`].
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub shape: [usize; 4],
    pub data: Vec<f32>,
}

/// Sample positions and weights along one axis: for each output index the
/// two source indices (crop-relative) and the weight of the second.
fn taps(out: u32, src: u32) -> Vec<(usize, usize, f32)> {
    let scale = f64::from(src) / f64::from(out);
    let last = src as usize - 1;
    (0..out)
        .map(|o| {
            // Pixel centres aligned; clamped at the borders like OpenCV.
            let s = ((f64::from(o) + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(last);
            let i1 = (i0 + 1).min(last);
            (i0, i1, (s - i0 as f64).clamp(0.0, 1.0) as f32)
        })
        .collect()
}

/// The node's settings, apart from the ABI (testable on frames).
#[derive(Debug, Clone)]
pub struct Cropper {
    region: Region,
    width: u32,
    height: Option<u32>,
    layout: Layout,
    normalize: Normalize,
}

impl Cropper {
    pub fn new(props: &Props) -> Result<Self, String> {
        props.validate()?;
        Ok(Self {
            region: props.region,
            width: props.width,
            height: props.height,
            layout: props.layout,
            normalize: props.normalize.unwrap_or_default(),
        })
    }

    /// The output size for a crop of `cw` × `ch` pixels.
    pub fn out_size(&self, cw: u32, ch: u32) -> (u32, u32) {
        let h = self.height.unwrap_or_else(|| {
            let h = (f64::from(self.width) * f64::from(ch) / f64::from(cw)).round();
            (h as u32).clamp(1, MAX_SIDE)
        });
        (self.width, h)
    }

    /// Crops, resizes and lays out one frame.
    pub fn crop(&self, frame: &Frame<'_>) -> Result<Image, String> {
        // The host converts to RGBA as asked; BGRA costs nothing to accept too.
        let order = match frame.format {
            PixelFormat::Rgba => [0, 1, 2],
            PixelFormat::Bgra => [2, 1, 0],
            other => return Err(format!("hud.crop reads RGBA frames, got {other:?}")),
        };
        let (x0, y0, cw, ch) =
            self.region.pixels(frame.width, frame.height).ok_or("hud.crop got an empty (0×0) frame")?;
        let (ow, oh) = self.out_size(cw, ch);
        let (xs, ys) = (taps(ow, cw), taps(oh, ch));
        // Every source row the resize reads, checked once.
        let rows: Vec<&[u8]> = (y0..y0 + ch)
            .map(|y| {
                let row = frame.row(y);
                row.get(x0 as usize * 4..(x0 + cw) as usize * 4).ok_or_else(|| {
                    format!(
                        "frame plane too short for {}×{} RGBA (row {y}, stride {})",
                        frame.width,
                        frame.height,
                        frame.stride(0)
                    )
                })
            })
            .collect::<Result<_, _>>()?;

        let (ow, oh) = (ow as usize, oh as usize);
        let plane = ow * oh;
        let mut data = vec![0f32; plane * 3];
        let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * self.normalize.std[c]));
        let offset: [f32; 3] = std::array::from_fn(|c| self.normalize.mean[c] / self.normalize.std[c]);
        for (oy, &(y0, y1, wy)) in ys.iter().enumerate() {
            let (top, bottom) = (rows[y0], rows[y1]);
            for (ox, &(x0, x1, wx)) in xs.iter().enumerate() {
                for (c, &channel) in order.iter().enumerate() {
                    let px = |row: &[u8], x: usize| f32::from(row[x * 4 + channel]);
                    let t = px(top, x0) + (px(top, x1) - px(top, x0)) * wx;
                    let b = px(bottom, x0) + (px(bottom, x1) - px(bottom, x0)) * wx;
                    let v = (t + (b - t) * wy) * scale[c] - offset[c];
                    let at = match self.layout {
                        Layout::Nchw => c * plane + oy * ow + ox,
                        Layout::Nhwc => (oy * ow + ox) * 3 + c,
                    };
                    data[at] = v;
                }
            }
        }
        let shape = match self.layout {
            Layout::Nchw => [1, 3, oh, ow],
            Layout::Nhwc => [1, oh, ow, 3],
        };
        Ok(Image { shape, data })
    }
}

/// The `hud.crop` node.
#[derive(Debug)]
pub struct HudCrop {
    cropper: Cropper,
    frames: u64,
    last_shape: Option<[usize; 4]>,
}

impl PluginNode for HudCrop {
    type Props = Props;
    const KIND: &'static str = "hud.crop";
    const SUMMARY: &'static str = "Crops a HUD region and resizes it into an image tensor for inference";

    fn pads() -> Vec<Pad> {
        vec![Pad::input("video", media::RAW_VIDEO), Pad::output("image", media::TENSOR)]
    }

    fn create(props: Props, _ctx: &CreateContext) -> Result<(Self, VideoInput), String> {
        let cropper = Cropper::new(&props)?;
        // Source size: the crop is small, scaling first would only lose detail.
        let video = VideoInput { max_fps: props.fps, width: None, format: PixelFormat::Rgba };
        Ok((Self { cropper, frames: 0, last_shape: None }, video))
    }

    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Emitter<'_>) -> Result<(), String> {
        let Input::Video(frame) = input else {
            return Err(format!("hud.crop takes raw video on `video`, got another input on `{pad}`"));
        };
        let image = self.cropper.crop(&frame)?;
        self.frames += 1;
        self.last_shape = Some(image.shape);
        out.tensor("image", &image.shape, &image.data, frame.pts_ns)
    }

    fn stats(&self) -> serde_json::Value {
        json!({ "frames": self.frames, "shape": self.last_shape })
    }
}

export_plugin! { id: "com.clipshot.examples.hud-crop", version: env!("CARGO_PKG_VERSION"), nodes: [HudCrop] }

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8×4 RGBA frame whose pixel (x, y) is (10x, 10y, 200, 255).
    fn pattern(w: u32, h: u32) -> Vec<u8> {
        let mut data = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(10 * x) as u8, (10 * y) as u8, 200, 255]);
            }
        }
        data
    }

    fn cropper(value: serde_json::Value) -> Cropper {
        Cropper::new(&serde_json::from_value(value).expect("props")).expect("valid props")
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn same_size_crop_is_the_pixels() {
        let data = pattern(8, 4);
        let frame = Frame::new(PixelFormat::Rgba, 8, 4, &[(&data, 32)], 0);
        // The right half, rows 1..3: 4×2 pixels at (4, 1), output 4 wide → 4×2.
        let c = cropper(json!({"region": {"x": 0.5, "y": 0.25, "width": 0.5, "height": 0.5}, "width": 4}));
        let image = c.crop(&frame).unwrap();
        assert_eq!(image.shape, [1, 3, 2, 4]);
        let (plane, w) = (8, 4);
        for y in 0..2 {
            for x in 0..4 {
                let at = y * w + x;
                assert!(close(image.data[at], (10 * (x + 4)) as f32 / 255.0), "R at {x},{y}");
                assert!(close(image.data[plane + at], (10 * (y + 1)) as f32 / 255.0), "G at {x},{y}");
                assert!(close(image.data[2 * plane + at], 200.0 / 255.0), "B at {x},{y}");
            }
        }
    }

    #[test]
    fn downscale_averages_neighbours_and_nhwc_interleaves() {
        let data = pattern(8, 4);
        let frame = Frame::new(PixelFormat::Rgba, 8, 4, &[(&data, 32)], 0);
        // The whole frame halved: each output pixel is the mean of a 2×2 block.
        let c = cropper(json!({
            "region": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0},
            "width": 4, "height": 2, "layout": "nhwc"
        }));
        let image = c.crop(&frame).unwrap();
        assert_eq!(image.shape, [1, 2, 4, 3]);
        assert_eq!(image.data.len(), 24);
        for y in 0..2 {
            for x in 0..4 {
                let px = &image.data[(y * 4 + x) * 3..][..3];
                let (r, g) = ((20 * x) as f32 + 5.0, (20 * y) as f32 + 5.0);
                assert!(close(px[0], r / 255.0) && close(px[1], g / 255.0), "{x},{y}: {px:?}");
                assert!(close(px[2], 200.0 / 255.0));
            }
        }
    }

    #[test]
    fn height_keeps_aspect_and_normalize_applies() {
        let data = pattern(16, 8);
        let frame = Frame::new(PixelFormat::Bgra, 16, 8, &[(&data, 64)], 0);
        let c = cropper(json!({
            "region": {"x": 0.0, "y": 0.0, "width": 0.5, "height": 1.0},
            "width": 16, "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
        }));
        let image = c.crop(&frame).unwrap();
        // An 8×8 crop at width 16 keeps its square shape.
        assert_eq!(image.shape, [1, 3, 16, 16]);
        // Read as BGRA, the constant 200 (third byte) is red, channel 0; blue
        // (first byte, 10x) is 0 at the left edge.
        let plane = 256;
        assert!(close(image.data[0], (200.0 / 255.0 - 0.5) / 0.5));
        assert!(close(image.data[2 * plane], (0.0 - 0.5) / 0.5));
    }

    #[test]
    fn bad_props_and_frames_are_errors() {
        let bad = [
            json!({"region": {"x": 0.6, "y": 0.0, "width": 0.5, "height": 0.5}}),
            json!({"region": {"x": 0.0, "y": 0.0, "width": 0.0, "height": 0.5}}),
            json!({"region": {"x": 0.0, "y": 0.0, "width": 0.5, "height": 0.5}, "width": 0}),
            json!({"region": {"x": 0.0, "y": 0.0, "width": 0.5, "height": 0.5}, "normalize": {"std": [1, 0, 1]}}),
        ];
        for value in bad {
            let props: Props = serde_json::from_value(value.clone()).unwrap();
            assert!(Cropper::new(&props).is_err(), "{value}");
        }
        let layout = json!({"region": {"x": 0.0, "y": 0.0, "width": 0.5, "height": 0.5}, "layout": "chw"});
        assert!(serde_json::from_value::<Props>(layout).is_err());

        let c = cropper(json!({"region": {"x": 0.0, "y": 0.0, "width": 1.0, "height": 1.0}}));
        let data = pattern(8, 4);
        let short = Frame::new(PixelFormat::Rgba, 8, 8, &[(&data, 32)], 0);
        assert!(c.crop(&short).unwrap_err().contains("too short"));
        let empty = Frame::new(PixelFormat::Rgba, 0, 0, &[(&[], 0)], 0);
        assert!(c.crop(&empty).is_err());
        let nv12 = Frame::new(PixelFormat::Nv12, 8, 4, &[(&data, 8)], 0);
        assert!(c.crop(&nv12).is_err());
    }
}
