//! `killfeed.color`: a highlight marker whenever a kill-feed colour appears in
//! a screen region.
//!
//! Most shooters draw a new kill-feed line in a fixed corner and in a fixed
//! colour (the player's own kills are usually highlighted). The node counts
//! the share of region pixels within `tolerance` of that colour; when the
//! share rises past `min_fraction` (a new line appeared) and the last
//! detection is more than `cooldown_s` ago, it emits a marker, a
//! `highlight.detected` event and, with `save`, a clip request.

use clipshot_plugin_sdk::{
    CreateContext, Emitter, Frame, Input, Pad, PixelFormat, PluginNode, VideoInput, export_plugin, media,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// What the node asks of the host: the region is compared colour by colour,
/// so detail beyond 640 px wide (a third of 1080p) only costs time, and a
/// kill-feed line stays on screen for seconds, so 10 fps is plenty.
const VIDEO: VideoInput = VideoInput { max_fps: 10.0, width: Some(640), format: PixelFormat::Rgba };

/// A rectangle as fractions of the frame (resolution independent).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Left edge, 0 = the frame's left.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub x: f64,
    /// Top edge, 0 = the frame's top.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub y: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub width: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub height: f64,
}

impl Region {
    /// Checks that the region is a non-empty rectangle inside the frame.
    pub fn validate(&self) -> Result<(), String> {
        let Region { x, y, width, height } = *self;
        if ![x, y, width, height].iter().all(|v| v.is_finite()) {
            return Err("region: x, y, width and height must be numbers".into());
        }
        if width <= 0.0 || height <= 0.0 {
            return Err(format!("region: width and height must be > 0 (got {width} × {height})"));
        }
        // A small epsilon so that 0.7 + 0.3 is not refused for rounding.
        if x < 0.0 || y < 0.0 || x + width > 1.0 + 1e-9 || y + height > 1.0 + 1e-9 {
            return Err(format!(
                "region must lie inside the frame: x, y ≥ 0 and x + width, y + height ≤ 1 \
                 (got x {x}, y {y}, width {width}, height {height}); values are fractions of the frame"
            ));
        }
        Ok(())
    }

    /// The region in pixels of a `width` × `height` frame as `(x0, y0, x1, y1)`
    /// (exclusive ends), at least one pixel, or `None` for an empty frame.
    pub fn pixels(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        if width == 0 || height == 0 {
            return None;
        }
        let span = |start: f64, len: f64, size: u32| {
            let size_f = f64::from(size);
            let a = ((start * size_f).floor() as u32).min(size - 1);
            let b = (((start + len) * size_f).ceil() as u32).clamp(a + 1, size);
            (a, b)
        };
        let (x0, x1) = span(self.x, self.width, width);
        let (y0, y1) = span(self.y, self.height, height);
        Some((x0, y0, x1, y1))
    }
}

fn default_tolerance() -> u8 {
    40
}
fn default_min_fraction() -> f64 {
    0.02
}
fn default_cooldown_s() -> f64 {
    2.0
}
fn default_label() -> String {
    "kill".into()
}
fn default_pre_seconds() -> f64 {
    10.0
}
fn default_post_seconds() -> f64 {
    3.0
}

/// Props of `killfeed.color`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Props {
    /// Where the kill feed is drawn, as fractions of the frame.
    pub region: Region,
    /// The kill-feed colour as [r, g, b] (0..255).
    pub color: [u8; 3],
    /// How far each channel may be from `color` and still match.
    #[serde(default = "default_tolerance")]
    pub tolerance: u8,
    /// The share of region pixels that must match (0..1).
    #[serde(default = "default_min_fraction")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_fraction: f64,
    /// Seconds after a detection during which new ones are ignored.
    #[serde(default = "default_cooldown_s")]
    #[schemars(range(min = 0.0))]
    pub cooldown_s: f64,
    /// The marker's and the highlight's label.
    #[serde(default = "default_label")]
    pub label: String,
    /// Also ask for a clip around each detection.
    #[serde(default)]
    pub save: bool,
    /// Seconds of the clip before the detection (with `save`).
    #[serde(default = "default_pre_seconds")]
    #[schemars(range(min = 0.0))]
    pub pre_seconds: f64,
    /// Seconds of the clip after the detection (with `save`).
    #[serde(default = "default_post_seconds")]
    #[schemars(range(min = 0.0))]
    pub post_seconds: f64,
}

impl Props {
    /// Everything the schema cannot say (or a host might not check).
    pub fn validate(&self) -> Result<(), String> {
        self.region.validate()?;
        if !(self.min_fraction > 0.0 && self.min_fraction <= 1.0) {
            return Err(format!("min_fraction must be in (0, 1] (got {})", self.min_fraction));
        }
        for (name, value) in
            [("cooldown_s", self.cooldown_s), ("pre_seconds", self.pre_seconds), ("post_seconds", self.post_seconds)]
        {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!("{name} must be a number ≥ 0 (got {value})"));
            }
        }
        Ok(())
    }
}

/// The share of pixels in `region` within `tolerance` of `color` on every
/// channel. Errors on a frame that is not RGBA/BGRA or whose plane is short.
pub fn match_fraction(frame: &Frame<'_>, region: &Region, color: [u8; 3], tolerance: u8) -> Result<f64, String> {
    // The host converts to RGBA as asked; BGRA costs nothing to accept too.
    let (r, g, b) = match frame.format {
        PixelFormat::Rgba => (0, 1, 2),
        PixelFormat::Bgra => (2, 1, 0),
        other => return Err(format!("killfeed.color reads RGBA frames, got {other:?}")),
    };
    let Some((x0, y0, x1, y1)) = region.pixels(frame.width, frame.height) else { return Ok(0.0) };
    let near = |a: u8, b: u8| a.abs_diff(b) <= tolerance;
    let mut matches = 0u64;
    for y in y0..y1 {
        let row = frame.row(y);
        let Some(pixels) = row.get(x0 as usize * 4..x1 as usize * 4) else {
            return Err(format!(
                "frame plane too short for {}×{} RGBA (row {y}, stride {})",
                frame.width,
                frame.height,
                frame.stride(0)
            ));
        };
        matches += pixels
            .chunks_exact(4)
            .filter(|p| near(p[r], color[0]) && near(p[g], color[1]) && near(p[b], color[2]))
            .count() as u64;
    }
    let total = u64::from(x1 - x0) * u64::from(y1 - y0);
    Ok(matches as f64 / total as f64)
}

/// A detection to report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub at_ns: i64,
    pub fraction: f64,
    /// 0.5 at `min_fraction`, rising linearly to 1.0 at twice it.
    pub score: f32,
}

/// Rising-edge detection with a cooldown, apart from any frame (testable on
/// its own).
#[derive(Debug, Clone)]
pub struct EdgeDetector {
    min_fraction: f64,
    cooldown_ns: i64,
    /// The last frame was at or above the threshold: only a new crossing counts.
    above: bool,
    last_detection_ns: Option<i64>,
    /// Crossings that fell inside the cooldown.
    pub suppressed: u64,
}

impl EdgeDetector {
    pub fn new(min_fraction: f64, cooldown_s: f64) -> Self {
        Self {
            min_fraction,
            cooldown_ns: (cooldown_s * 1e9) as i64,
            above: false,
            last_detection_ns: None,
            suppressed: 0,
        }
    }

    /// Feeds one frame's fraction; a detection on a rising edge outside the cooldown.
    pub fn update(&mut self, at_ns: i64, fraction: f64) -> Option<Detection> {
        let above = fraction >= self.min_fraction;
        let rising = above && !self.above;
        self.above = above;
        if !rising {
            return None;
        }
        // A timeline that went backwards (a restarted pipeline) ends the cooldown.
        let cooling = self.last_detection_ns.is_some_and(|last| at_ns >= last && at_ns - last < self.cooldown_ns);
        if cooling {
            self.suppressed += 1;
            return None;
        }
        self.last_detection_ns = Some(at_ns);
        let score = (0.5 * fraction / self.min_fraction).clamp(0.5, 1.0) as f32;
        Some(Detection { at_ns, fraction, score })
    }
}

/// The `killfeed.color` node.
#[derive(Debug)]
pub struct KillFeed {
    props: Props,
    edge: EdgeDetector,
    frames: u64,
    detections: u64,
    last_fraction: f64,
}

impl KillFeed {
    fn new(props: Props) -> Result<Self, String> {
        props.validate()?;
        let edge = EdgeDetector::new(props.min_fraction, props.cooldown_s);
        Ok(Self { props, edge, frames: 0, detections: 0, last_fraction: 0.0 })
    }

    fn detected(&mut self, d: Detection, out: &mut Emitter<'_>) -> Result<(), String> {
        self.detections += 1;
        let label = self.props.label.as_str();
        out.marker(d.at_ns, Some(label).filter(|l| !l.is_empty()))?;
        out.event(&json!({
            "type": "highlight.detected",
            "at_ns": d.at_ns,
            "score": d.score,
            "label": label,
            "start_ns": d.at_ns,
            "end_ns": d.at_ns,
            "detectors": [Self::KIND],
        }))?;
        if self.props.save {
            out.save(d.at_ns, self.props.pre_seconds, self.props.post_seconds)?;
        }
        Ok(())
    }
}

impl PluginNode for KillFeed {
    type Props = Props;
    const KIND: &'static str = "killfeed.color";
    const SUMMARY: &'static str = "Highlight markers when a kill-feed colour appears in a screen region";

    fn pads() -> Vec<Pad> {
        vec![Pad::input("video", media::RAW_VIDEO), Pad::output("score", media::TENSOR)]
    }

    fn create(props: Props, _ctx: &CreateContext) -> Result<(Self, VideoInput), String> {
        Ok((Self::new(props)?, VIDEO))
    }

    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Emitter<'_>) -> Result<(), String> {
        let Input::Video(frame) = input else {
            return Err(format!("killfeed.color takes raw video on `video`, got another input on `{pad}`"));
        };
        let fraction = match_fraction(&frame, &self.props.region, self.props.color, self.props.tolerance)?;
        self.frames += 1;
        self.last_fraction = fraction;
        out.tensor("score", &[1], &[fraction as f32], frame.pts_ns)?;
        if let Some(d) = self.edge.update(frame.pts_ns, fraction) {
            self.detected(d, out)?;
        }
        Ok(())
    }

    fn stats(&self) -> serde_json::Value {
        json!({
            "frames": self.frames,
            "detections": self.detections,
            "suppressed": self.edge.suppressed,
            "last_fraction": self.last_fraction,
        })
    }
}

export_plugin! { id: "com.clipshot.examples.killfeed", version: env!("CARGO_PKG_VERSION"), nodes: [KillFeed] }

#[cfg(test)]
mod tests {
    use super::*;
    use clipshot_plugin_sdk::abi::{CS_OK, CsEmitter, CsLogLevel, CsStatus, CsStr, CsTensor};
    use std::ffi::c_void;

    const W: u32 = 64;
    const H: u32 = 36;
    const RED: [u8; 3] = [220, 30, 30];

    /// A dark grey frame with a rectangle painted in `color`.
    fn frame_with(rect: (u32, u32, u32, u32), color: [u8; 3]) -> Vec<u8> {
        let mut data = vec![0u8; (W * H * 4) as usize];
        for (i, px) in data.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % W, i as u32 / W);
            let inside = x >= rect.0 && x < rect.0 + rect.2 && y >= rect.1 && y < rect.1 + rect.3;
            let [r, g, b] = if inside { color } else { [40, 40, 40] };
            px.copy_from_slice(&[r, g, b, 255]);
        }
        data
    }

    fn props(value: serde_json::Value) -> Props {
        serde_json::from_value(value).expect("props")
    }

    /// The top-right quarter of the frame: 32×18 pixels at (32, 0).
    fn top_right() -> Props {
        props(json!({"region": {"x": 0.5, "y": 0.0, "width": 0.5, "height": 0.5}, "color": RED}))
    }

    #[test]
    fn counts_painted_pixels_in_the_region_only() {
        let p = top_right();
        // 8×9 = 72 red pixels inside the 576-pixel region…
        let data = frame_with((40, 2, 8, 9), [225, 20, 35]);
        let frame = Frame::new(PixelFormat::Rgba, W, H, &[(&data, W * 4)], 0);
        let f = match_fraction(&frame, &p.region, p.color, p.tolerance).unwrap();
        assert!((f - 72.0 / 576.0).abs() < 1e-9, "{f}");
        // …and the same patch outside it does not count.
        let data = frame_with((2, 20, 8, 9), RED);
        let frame = Frame::new(PixelFormat::Rgba, W, H, &[(&data, W * 4)], 0);
        assert_eq!(match_fraction(&frame, &p.region, p.color, p.tolerance).unwrap(), 0.0);
    }

    #[test]
    fn tolerance_is_per_channel_and_bgra_is_read() {
        let p = top_right();
        let data = frame_with((32, 0, 32, 18), [220, 30, 80]); // blue off by 50 > 40
        let frame = Frame::new(PixelFormat::Rgba, W, H, &[(&data, W * 4)], 0);
        assert_eq!(match_fraction(&frame, &p.region, p.color, p.tolerance).unwrap(), 0.0);
        // Red painted as BGRA bytes.
        let data = frame_with((32, 0, 32, 18), [30, 30, 220]);
        let frame = Frame::new(PixelFormat::Bgra, W, H, &[(&data, W * 4)], 0);
        assert_eq!(match_fraction(&frame, &p.region, p.color, p.tolerance).unwrap(), 1.0);
    }

    #[test]
    fn padded_rows_and_short_planes() {
        let p = top_right();
        let stride = W * 4 + 16;
        let tight = frame_with((32, 0, 32, 18), RED);
        let mut padded = vec![0u8; (stride * H) as usize];
        for y in 0..H as usize {
            let row = &tight[y * W as usize * 4..(y + 1) * W as usize * 4];
            padded[y * stride as usize..][..row.len()].copy_from_slice(row);
        }
        let frame = Frame::new(PixelFormat::Rgba, W, H, &[(&padded, stride)], 0);
        assert_eq!(match_fraction(&frame, &p.region, p.color, p.tolerance).unwrap(), 1.0);
        let short = &tight[..100];
        let frame = Frame::new(PixelFormat::Rgba, W, H, &[(short, W * 4)], 0);
        assert!(match_fraction(&frame, &p.region, p.color, p.tolerance).unwrap_err().contains("too short"));
        let frame = Frame::new(PixelFormat::Nv12, W, H, &[(&tight, W)], 0);
        assert!(match_fraction(&frame, &p.region, p.color, p.tolerance).is_err());
    }

    #[test]
    fn rising_edge_and_cooldown() {
        const S: i64 = 1_000_000_000;
        let mut edge = EdgeDetector::new(0.1, 2.0);
        assert_eq!(edge.update(0, 0.0), None);
        let d = edge.update(S / 10, 0.2).expect("rising edge");
        assert_eq!((d.at_ns, d.score), (S / 10, 1.0));
        // Staying above is the same kill-feed line.
        assert_eq!(edge.update(2 * S / 10, 0.3), None);
        // Falls and rises again within 2 s: suppressed.
        assert_eq!(edge.update(S, 0.0), None);
        assert_eq!(edge.update(S + S / 10, 0.15), None);
        assert_eq!(edge.suppressed, 1);
        // Past the cooldown a new crossing counts; score is 0.5 at the threshold.
        assert_eq!(edge.update(3 * S, 0.05), None);
        let d = edge.update(3 * S + S / 10, 0.1).expect("after the cooldown");
        assert_eq!(d.score, 0.5);
    }

    #[test]
    fn invalid_props_are_refused() {
        let bad = [
            json!({"region": {"x": 0.8, "y": 0.0, "width": 0.5, "height": 0.2}, "color": RED}),
            json!({"region": {"x": 0.1, "y": 0.1, "width": 0.0, "height": 0.2}, "color": RED}),
            json!({"region": {"x": -0.1, "y": 0.1, "width": 0.2, "height": 0.2}, "color": RED}),
            json!({"region": {"x": 0.1, "y": 0.1, "width": 0.2, "height": 0.2}, "color": RED, "min_fraction": 0.0}),
        ];
        for value in bad {
            let err = KillFeed::new(props(value.clone())).unwrap_err();
            assert!(err.contains("region") || err.contains("min_fraction"), "{value}: {err}");
        }
        assert!(KillFeed::new(top_right()).is_ok());
        // A misspelt key is refused rather than ignored.
        let typo = json!({"region": {"x": 0.5, "y": 0.0, "width": 0.5, "height": 0.5}, "color": RED, "tolerence": 9});
        assert!(serde_json::from_value::<Props>(typo).is_err());
    }

    /// What a node emitted through a recording host emitter.
    #[derive(Default)]
    struct Recorded {
        scores: Vec<f32>,
        events: Vec<serde_json::Value>,
        markers: Vec<(i64, String)>,
        saves: Vec<(i64, f64, f64)>,
    }

    unsafe fn rec<'a>(ctx: *mut c_void) -> &'a mut Recorded {
        // SAFETY: the tests pass a live `Recorded` as the context.
        unsafe { &mut *ctx.cast::<Recorded>() }
    }
    unsafe extern "C" fn on_tensor(ctx: *mut c_void, pad: CsStr, t: *const CsTensor) -> CsStatus {
        // SAFETY: the SDK passes valid views for the call.
        unsafe {
            assert_eq!(pad.to_string_lossy(), "score");
            let t = &*t;
            assert_eq!(std::slice::from_raw_parts(t.shape, t.ndim), &[1]);
            rec(ctx).scores.push(*t.data);
        }
        CS_OK
    }
    unsafe extern "C" fn on_event(ctx: *mut c_void, json: CsStr) -> CsStatus {
        // SAFETY: as above.
        unsafe { rec(ctx).events.push(serde_json::from_slice(json.as_bytes()).unwrap()) };
        CS_OK
    }
    unsafe extern "C" fn on_marker(ctx: *mut c_void, at_ns: i64, label: CsStr) -> CsStatus {
        // SAFETY: as above.
        unsafe { rec(ctx).markers.push((at_ns, label.to_string_lossy())) };
        CS_OK
    }
    unsafe extern "C" fn on_save(ctx: *mut c_void, at_ns: i64, pre: f64, post: f64) -> CsStatus {
        // SAFETY: as above.
        unsafe { rec(ctx).saves.push((at_ns, pre, post)) };
        CS_OK
    }
    unsafe extern "C" fn on_error(_: *mut c_void, _: CsStr) {}
    unsafe extern "C" fn on_log(_: *mut c_void, _: CsLogLevel, _: CsStr) {}

    #[test]
    fn a_kill_emits_marker_event_and_save() {
        let p = props(json!({
            "region": {"x": 0.5, "y": 0.0, "width": 0.5, "height": 0.5},
            "color": RED, "save": true, "pre_seconds": 8, "label": "frag"
        }));
        let ctx = CreateContext {
            pipeline: "p".into(),
            node: "kf".into(),
            data_dir: std::env::temp_dir(),
            config: json!({}),
        };
        let (mut node, video) = KillFeed::create(p, &ctx).unwrap();
        assert_eq!(video, VIDEO);
        let mut recorded = Recorded::default();
        let raw = CsEmitter {
            ctx: (&raw mut recorded).cast(),
            tensor: on_tensor,
            event: on_event,
            marker: on_marker,
            save: on_save,
            error: on_error,
            log: on_log,
        };
        let dark = frame_with((0, 0, 0, 0), RED);
        let kill = frame_with((40, 4, 20, 3), RED); // 60 of 576 pixels ≈ 0.104
        for (i, data) in [&dark, &kill, &kill, &dark].into_iter().enumerate() {
            let frame = Frame::new(PixelFormat::Rgba, W, H, &[(data, W * 4)], i as i64 * 100);
            // SAFETY: `raw`'s callbacks take `recorded` for the call.
            let mut out = unsafe { Emitter::from_raw(&raw) };
            node.process("video", Input::Video(frame), &mut out).unwrap();
        }
        assert_eq!(recorded.scores.len(), 4);
        assert!((f64::from(recorded.scores[1]) - 60.0 / 576.0).abs() < 1e-6);
        assert_eq!(recorded.markers, [(100, "frag".to_owned())]);
        assert_eq!(recorded.saves, [(100, 8.0, 3.0)]);
        assert_eq!(
            recorded.events,
            [json!({
                "type": "highlight.detected", "at_ns": 100, "score": 1.0, "label": "frag",
                "start_ns": 100, "end_ns": 100, "detectors": ["killfeed.color"]
            })]
        );
        assert_eq!(node.stats()["frames"], 4);
        assert_eq!(node.stats()["detections"], 1);
    }
}
