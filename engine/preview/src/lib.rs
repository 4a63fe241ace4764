//! `video.preview`: the live preview of what a pipeline records.
//!
//! An in-process processor node, and the proof that a node kind can live in
//! a crate of its own: it depends on the engine core only, never on
//! GStreamer. The runtime feeds it a rate-limited, downscaled RGBA branch of
//! the raw video (2 frames a second, 480 pixels wide by default); it keeps
//! the newest frame as a JPEG, which `GET /api/v1/pipelines/{id}/preview`
//! serves. A frame that arrives while the previous one is still being
//! encoded is dropped by the runtime, never queued, so the preview can
//! never slow the record path.

use clipshot_core::node::Finding;
use clipshot_core::processor::{
    Input, Output, Outputs, ProcessError, Processor, ProcessorContext, ProcessorNode, Setup, VideoFrame, VideoInput,
};
use clipshot_core::{MediaType, Node, PadSpec, PixelFormat, ProblemCode};
use jpeg_encoder::{ColorType, Encoder};
use schemars::JsonSchema;
use serde::Deserialize;

/// Props of `video.preview`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewProps {
    /// Preview frames per second.
    #[serde(default = "default_fps")]
    #[schemars(range(min = 0.1, max = 30))]
    pub fps: f64,
    /// Width of the preview image in pixels (the height keeps the aspect ratio).
    #[serde(default = "default_width")]
    #[schemars(range(min = 32, max = 3840))]
    pub width: u32,
    /// JPEG quality, 1 (smallest) to 100 (best).
    #[serde(default = "default_quality")]
    #[schemars(range(min = 1, max = 100))]
    pub quality: u8,
}

fn default_fps() -> f64 {
    2.0
}
fn default_width() -> u32 {
    480
}
fn default_quality() -> u8 {
    75
}

/// The `video.preview` node kind.
#[derive(Debug)]
pub struct Preview;

impl Node for Preview {
    type Props = PreviewProps;
    const KIND: &'static str = "video.preview";
    const SUMMARY: &'static str =
        "Live preview: the newest frame as a JPEG, rate-limited and downscaled off the record path";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::input("video", MediaType::RawVideo)]
    }

    fn check_props(p: &PreviewProps) -> Vec<Finding> {
        // JPEG sizes are 16-bit.
        if p.width > u32::from(u16::MAX) {
            return vec![Finding::new("/width", ProblemCode::InvalidProp, "a JPEG is at most 65535 pixels wide")];
        }
        Vec::new()
    }
}

impl ProcessorNode for Preview {
    fn create(props: PreviewProps, _ctx: &ProcessorContext) -> Result<Setup, String> {
        Ok(Setup {
            processor: Box::new(PreviewProcessor { quality: props.quality, rows: Vec::new() }),
            video: VideoInput { max_fps: props.fps, width: Some(props.width), format: PixelFormat::Rgba },
        })
    }
}

/// Encodes each frame it is given and hands the JPEG to the runtime.
#[derive(Debug)]
pub struct PreviewProcessor {
    quality: u8,
    /// Packed rows, when the frame's rows are padded (reused between frames).
    rows: Vec<u8>,
}

impl PreviewProcessor {
    /// The JPEG of one RGBA frame.
    pub fn encode(&mut self, frame: &VideoFrame<'_>) -> Result<Vec<u8>, ProcessError> {
        if frame.format != PixelFormat::Rgba {
            return Err(ProcessError(format!("video.preview takes RGBA frames, not {:?}", frame.format)));
        }
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
            return Err(ProcessError(format!("a {w}x{h} frame is too large for a JPEG")));
        };
        let row = w * 4;
        let stride = frame.stride as usize;
        if stride < row || frame.data.len() < stride * h.saturating_sub(1) + row {
            return Err(ProcessError(format!("frame data ({} bytes) is too short for {w}x{h}", frame.data.len())));
        }
        // The encoder wants packed rows; repack only when the frame is padded.
        let pixels: &[u8] = if stride == row {
            &frame.data[..row * h]
        } else {
            self.rows.clear();
            for y in 0..h {
                self.rows.extend_from_slice(&frame.data[y * stride..y * stride + row]);
            }
            &self.rows
        };
        let mut jpeg = Vec::with_capacity(row * h / 8);
        Encoder::new(&mut jpeg, self.quality)
            .encode(pixels, w16, h16, ColorType::Rgba)
            .map_err(|e| ProcessError(format!("JPEG encoding failed: {e}")))?;
        Ok(jpeg)
    }
}

impl Processor for PreviewProcessor {
    fn process(&mut self, _pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let Input::Video(frame) = input else { return Ok(()) };
        let data = self.encode(&frame)?;
        out.push(Output::Image { content_type: "image/jpeg".into(), data, pts_ns: frame.pts_ns });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: &[u8], width: u32, height: u32, stride: u32) -> VideoFrame<'_> {
        VideoFrame { format: PixelFormat::Rgba, width, height, stride, data, pts_ns: 7 }
    }

    #[test]
    fn a_frame_becomes_a_jpeg_image_output() {
        let mut p = PreviewProcessor { quality: 80, rows: Vec::new() };
        let pixels: Vec<u8> = (0..64 * 36 * 4).map(|i| (i % 251) as u8).collect();
        let mut out = Outputs::default();
        p.process("video", Input::Video(frame(&pixels, 64, 36, 64 * 4)), &mut out).unwrap();
        let outputs: Vec<Output> = out.drain().collect();
        let [Output::Image { content_type, data, pts_ns }] = outputs.as_slice() else { panic!("{outputs:?}") };
        assert_eq!((content_type.as_str(), *pts_ns), ("image/jpeg", 7));
        assert_eq!(&data[..3], &[0xFF, 0xD8, 0xFF], "JPEG start of image");
        assert_eq!(&data[data.len() - 2..], &[0xFF, 0xD9], "JPEG end of image");
    }

    #[test]
    fn padded_rows_are_repacked_and_short_frames_refused() {
        let mut p = PreviewProcessor { quality: 80, rows: Vec::new() };
        let padded = vec![128u8; 40 * 4 * 2 + 32];
        let packed = vec![128u8; 32 * 4 * 2];
        let a = p.encode(&frame(&padded, 32, 2, 40 * 4)).unwrap();
        let b = p.encode(&frame(&packed, 32, 2, 32 * 4)).unwrap();
        assert_eq!(a, b, "padding does not change the image");
        assert!(p.encode(&frame(&packed[..100], 32, 2, 32 * 4)).is_err());
    }

    #[test]
    fn the_defaults_are_two_frames_a_second_480_wide() {
        let props: PreviewProps = serde_json::from_value(serde_json::json!({})).unwrap();
        let setup = Preview::create(
            props,
            &ProcessorContext {
                pipeline: "p".into(),
                node: "preview".into(),
                data_dir: std::env::temp_dir(),
                inputs: vec!["video".into()],
            },
        )
        .unwrap();
        assert_eq!(setup.video, VideoInput { max_fps: 2.0, width: Some(480), format: PixelFormat::Rgba });
    }
}
