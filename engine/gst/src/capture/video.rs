//! Video sources: `capture.test`, `capture.screen`, `capture.file`.

use crate::error::BuildError;
use crate::kind::{BuildCtx, Built, Segment, default_fps};
use clipshot_core::{Finding, MediaType, Node, PadSpec, ProblemCode};
use gstreamer as gst;
use gstreamer::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

pub(crate) const AUDIO_RATE: i32 = 48_000;

pub(crate) fn raw_audio_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw").field("rate", AUDIO_RATE).field("channels", 2i32).build()
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum Pattern {
    Smpte,
    Ball,
    Snow,
    Black,
    Gradient,
    Circular,
}

impl Pattern {
    fn nick(self) -> &'static str {
        match self {
            Self::Smpte => "smpte",
            Self::Ball => "ball",
            Self::Snow => "snow",
            Self::Black => "black",
            Self::Gradient => "gradient",
            Self::Circular => "circular",
        }
    }
}

/// A live test pattern with a test tone.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestProps {
    #[serde(default = "default_pattern")]
    pattern: Pattern,
    #[serde(default = "default_width")]
    #[schemars(range(min = 16, max = 7680))]
    width: u32,
    #[serde(default = "default_height")]
    #[schemars(range(min = 16, max = 4320))]
    height: u32,
    #[serde(default = "default_fps")]
    #[schemars(range(min = 1, max = 240))]
    fps: u32,
    /// Frequency of the test tone, Hz.
    #[serde(default = "default_tone")]
    #[schemars(range(min = 20, max = 20000))]
    tone_hz: f64,
}

fn default_pattern() -> Pattern {
    Pattern::Smpte
}
fn default_width() -> u32 {
    1280
}
fn default_height() -> u32 {
    720
}
fn default_tone() -> f64 {
    440.0
}

/// `capture.test`.
#[derive(Debug)]
pub struct TestSource;

impl Node for TestSource {
    type Props = TestProps;
    const KIND: &'static str = "capture.test";
    const SUMMARY: &'static str = "Live test pattern and test tone; the fallback on machines without a display";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::output("video", MediaType::RawVideo), PadSpec::output("audio", MediaType::RawAudio)]
    }
}

impl Segment for TestSource {
    fn elements(_: &TestProps) -> Vec<&'static str> {
        vec!["videotestsrc", "audiotestsrc", "capsfilter"]
    }

    fn build(p: TestProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_test(p, ctx)
    }
}

fn build_test(p: TestProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let mut built = Built::default();
    let src = ctx.element("videotestsrc", "video")?;
    src.set_property("is-live", true);
    src.set_property_from_str("pattern", p.pattern.nick());
    let caps = ctx.capsfilter(
        "video-caps",
        gst::Caps::builder("video/x-raw")
            .field("width", p.width as i32)
            .field("height", p.height as i32)
            .field("framerate", gst::Fraction::new(p.fps as i32, 1))
            .build(),
    )?;
    ctx.chain(&[&src, &caps])?;
    built = built.output("video", &caps)?;
    if ctx.is_linked("audio") {
        let tone = ctx.element("audiotestsrc", "audio")?;
        tone.set_property("is-live", true);
        tone.set_property("freq", p.tone_hz);
        tone.set_property("volume", 0.3);
        let acaps = ctx.capsfilter("audio-caps", raw_audio_caps())?;
        ctx.chain(&[&tone, &acaps])?;
        built = built.output("audio", &acaps)?;
    }
    Ok(built)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ScreenBackend {
    /// Windows Graphics Capture on Windows; elsewhere X11 when `DISPLAY` is
    /// set, else PipeWire.
    #[default]
    Auto,
    X11,
    /// Wayland through PipeWire: the ScreenCast portal asks what to share,
    /// unless `pipewire_node` names a node.
    Pipewire,
    /// Windows Graphics Capture (the `windows-capture` crate) through `appsrc`.
    Wgc,
}

impl ScreenBackend {
    fn resolve(self, display: Option<&str>) -> Self {
        match self {
            Self::Auto if cfg!(windows) => Self::Wgc,
            Self::Auto if display.is_some() || std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) => Self::X11,
            Self::Auto => Self::Pipewire,
            other => other,
        }
    }
}

/// A rectangle of the screen, in pixels.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Region {
    x: u32,
    y: u32,
    #[schemars(range(min = 16))]
    width: u32,
    #[schemars(range(min = 16))]
    height: u32,
}

/// The screen, a region of it, or one window.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenProps {
    #[serde(default)]
    backend: ScreenBackend,
    /// X11 display name; defaults to `$DISPLAY`.
    display: Option<String>,
    /// X11: a rectangle of the screen instead of all of it.
    region: Option<Region>,
    /// X11 window id to capture instead of the whole screen.
    window: Option<u64>,
    /// Windows: the monitor to capture, 1-based (default: the primary one).
    #[schemars(range(min = 1))]
    monitor: Option<u32>,
    /// Windows: capture the first window whose title is this.
    window_title: Option<String>,
    /// PipeWire node to read instead of asking the ScreenCast portal.
    pipewire_node: Option<String>,
    #[serde(default = "default_fps")]
    #[schemars(range(min = 1, max = 240))]
    fps: u32,
    #[serde(default = "yes")]
    show_pointer: bool,
}

fn yes() -> bool {
    true
}

/// `capture.screen`.
#[derive(Debug)]
pub struct ScreenSource;

impl Node for ScreenSource {
    type Props = ScreenProps;
    const KIND: &'static str = "capture.screen";
    const SUMMARY: &'static str =
        "Screen, region or window capture (X11 ximagesrc, Wayland PipeWire; Windows Graphics Capture on Windows)";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::output("video", MediaType::RawVideo)]
    }

    fn check_context(p: &ScreenProps) -> Vec<Finding> {
        let backend = p.backend.resolve(p.display.as_deref());
        let mut found = Vec::new();
        if p.region.is_some() && backend != ScreenBackend::X11 {
            found.push(Finding::new(
                "/region",
                ProblemCode::Unsupported,
                "`region` is supported by the X11 backend only; capture a window instead",
            ));
        }
        if backend == ScreenBackend::Wgc && !cfg!(windows) {
            found.push(Finding::new(
                "/backend",
                ProblemCode::Unsupported,
                "Windows Graphics Capture exists on Windows only; use backend = \"x11\" or \"pipewire\"",
            ));
        }
        found
    }
}

impl Segment for ScreenSource {
    fn elements(p: &ScreenProps) -> Vec<&'static str> {
        let source = match p.backend.resolve(p.display.as_deref()) {
            ScreenBackend::X11 | ScreenBackend::Auto => "ximagesrc",
            ScreenBackend::Pipewire => "pipewiresrc",
            ScreenBackend::Wgc => "appsrc",
        };
        vec![source, "videorate", "capsfilter"]
    }

    fn build(p: ScreenProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_screen(p, ctx)
    }
}

fn build_screen(p: ScreenProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let backend = p.backend.resolve(p.display.as_deref());
    if p.region.is_some() && backend != ScreenBackend::X11 {
        return Err(ctx.error("`region` is supported by the X11 backend only; capture a window instead"));
    }
    let mut built = Built::default();
    let src = match backend {
        ScreenBackend::X11 | ScreenBackend::Auto => {
            let src = ctx.element("ximagesrc", "screen")?;
            if let Some(display) = &p.display {
                src.set_property("display-name", display);
            }
            if let Some(xid) = p.window {
                src.set_property("xid", xid);
            }
            if let Some(r) = p.region {
                src.set_property("startx", r.x);
                src.set_property("starty", r.y);
                src.set_property("endx", r.x + r.width - 1);
                src.set_property("endy", r.y + r.height - 1);
            }
            src.set_property("show-pointer", p.show_pointer);
            // Damage events only help for mostly static desktops; games repaint everything.
            src.set_property("use-damage", false);
            src
        }
        ScreenBackend::Pipewire => {
            let src = ctx.element("pipewiresrc", "screen")?;
            src.set_property("do-timestamp", true);
            // Compositors send a frame only on damage: resend the last one so
            // a still screen keeps the encoder's rate.
            if src.find_property("keepalive-time").is_some() {
                src.set_property("keepalive-time", (1000 / p.fps.max(1)) as i32);
            }
            match &p.pipewire_node {
                Some(node) => src.set_property("path", node),
                None => built = pipewire_from_portal(&src, &p, ctx, built)?,
            }
            src
        }
        ScreenBackend::Wgc => {
            let (src, b) = wgc_bridge(&p, ctx, built)?;
            built = b;
            src
        }
    };
    // PipeWire, WGC and damage-driven X capture deliver frames at a variable
    // rate; videorate gives the encoder the constant rate its GOP length assumes.
    let rate = ctx.element("videorate", "rate")?;
    let caps = ctx.capsfilter(
        "caps",
        gst::Caps::builder("video/x-raw").field("framerate", gst::Fraction::new(p.fps as i32, 1)).build(),
    )?;
    ctx.chain(&[&src, &rate, &caps])?;
    built.output("video", &caps)
}

#[cfg(target_os = "linux")]
fn pipewire_from_portal(
    src: &gst::Element,
    p: &ScreenProps,
    ctx: &BuildCtx<'_>,
    built: Built,
) -> Result<Built, BuildError> {
    use std::os::fd::AsRawFd;
    /// How long the portal may wait for the user to pick a screen.
    const PORTAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
    let token = ctx.options.data_dir.join("screencast-restore-token");
    let grant = super::portal::request(&token, p.show_pointer, PORTAL_TIMEOUT).map_err(|e| {
        ctx.error(format!("{e} (on X11 use backend = \"x11\", or name a PipeWire node with `pipewire_node`)"))
    })?;
    tracing::info!(node = ctx.node, pipewire_node = grant.node_id, "ScreenCast portal granted a stream");
    src.set_property("fd", grant.fd.as_raw_fd());
    src.set_property("path", grant.node_id.to_string());
    // The descriptor and the portal session must outlive pipewiresrc.
    Ok(built.keep(grant))
}

#[cfg(not(target_os = "linux"))]
fn pipewire_from_portal(_: &gst::Element, _: &ScreenProps, ctx: &BuildCtx<'_>, _: Built) -> Result<Built, BuildError> {
    Err(ctx.error("the ScreenCast portal exists on Linux only; name a PipeWire node with `pipewire_node`"))
}

/// Windows Graphics Capture frames into `appsrc`. Elsewhere the capture crate
/// answers that it is unsupported, which becomes the node's error.
fn wgc_bridge(p: &ScreenProps, ctx: &BuildCtx<'_>, built: Built) -> Result<(gst::Element, Built), BuildError> {
    use clipshot_capture_windows::{Capture, CaptureConfig, Target};
    let target = match (&p.window_title, p.monitor) {
        (Some(title), _) => Target::Window(title.clone()),
        (None, Some(index)) => Target::Monitor(index as usize),
        (None, None) => Target::PrimaryMonitor,
    };
    let capture =
        Capture::start(CaptureConfig { target, show_cursor: p.show_pointer, max_fps: p.fps, queue_frames: 2 })
            .map_err(|e| ctx.error(e))?;
    let src = ctx.element("appsrc", "screen")?;
    let appsrc = src.clone().downcast::<gstreamer_app::AppSrc>().map_err(|_| ctx.error("appsrc is not an AppSrc"))?;
    super::frame_bridge::configure(&appsrc);
    let frames = capture.frames.clone();
    let mut built = built;
    built.bytes_copied = Some(Arc::clone(&capture.stats.bytes_copied));
    let bridge = super::frame_bridge::FrameBridge::spawn(appsrc, frames, p.fps, capture)
        .map_err(|e| ctx.error(format!("cannot start the capture bridge: {e}")))?;
    // videorate and the encoder need a raw format they can convert from BGRA.
    let convert = ctx.element("videoconvert", "convert")?;
    ctx.chain(&[&src, &convert])?;
    Ok((convert, built.keep(bridge)))
}

/// A media file played at its own rate, as if it were live.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileProps {
    /// Path of any file GStreamer can decode.
    path: String,
    /// Play at the file's own rate, like a live source; `false` decodes as
    /// fast as the pipeline takes it (analysing a recording).
    #[serde(default = "realtime")]
    realtime: bool,
}

fn realtime() -> bool {
    true
}

/// `capture.file`.
#[derive(Debug)]
pub struct FileSource;

impl Node for FileSource {
    type Props = FileProps;
    const KIND: &'static str = "capture.file";
    const SUMMARY: &'static str =
        "Any file GStreamer decodes, played at its own rate (recorded gameplay, tests, benchmarks)";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::output("video", MediaType::RawVideo), PadSpec::output("audio", MediaType::RawAudio)]
    }

    fn check_context(p: &FileProps) -> Vec<Finding> {
        if std::path::Path::new(&p.path).is_file() {
            Vec::new()
        } else {
            vec![Finding::new("/path", ProblemCode::MissingFile, format!("file {} does not exist", p.path))]
        }
    }
}

impl Segment for FileSource {
    fn elements(_: &FileProps) -> Vec<&'static str> {
        vec!["filesrc", "decodebin", "videoconvert", "audioconvert", "audioresample", "clocksync"]
    }

    fn build(p: FileProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_file(p, ctx)
    }
}

fn build_file(p: FileProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let path = std::path::Path::new(&p.path);
    if !path.is_file() {
        return Err(ctx.error(format!("file {} does not exist", p.path)));
    }
    let src = ctx.element("filesrc", "file")?;
    src.set_property("location", &p.path);
    let decode = ctx.element("decodebin", "decode")?;
    ctx.chain(&[&src, &decode])?;

    let mut built = Built::default();
    // clocksync paces decoded buffers on the pipeline clock, so a file behaves
    // like a live source even though the record appsinks do not sync.
    let mut branches: Vec<(&'static str, gst::Element)> = Vec::new();
    for (pad, convert) in [("video", "videoconvert"), ("audio", "audioconvert")] {
        if !ctx.is_linked(pad) {
            continue;
        }
        let conv = ctx.element(convert, &format!("{pad}-convert"))?;
        let sync = ctx.element("clocksync", &format!("{pad}-sync"))?;
        sync.set_property("sync", p.realtime);
        let out = if pad == "audio" {
            let resample = ctx.element("audioresample", "audio-resample")?;
            let caps = ctx.capsfilter("audio-caps", raw_audio_caps())?;
            ctx.chain(&[&conv, &resample, &caps, &sync])?;
            sync
        } else {
            ctx.chain(&[&conv, &sync])?;
            sync
        };
        built = built.output(pad, &out)?;
        branches.push((pad, conv));
    }
    decode.connect_pad_added(move |_, pad| {
        let Some(caps) = pad.current_caps() else { return };
        let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else { return };
        let wanted = if name.starts_with("video/") {
            "video"
        } else if name.starts_with("audio/") {
            "audio"
        } else {
            return;
        };
        if let Some((_, conv)) = branches.iter().find(|(p, _)| *p == wanted)
            && let Some(sink) = conv.static_pad("sink").filter(|s| !s.is_linked())
            && let Err(e) = pad.link(&sink)
        {
            tracing::warn!(pad = wanted, error = ?e, "capture.file: could not link decoded stream");
        }
    });
    Ok(built)
}
