//! Video sources: `capture.test`, `capture.screen`, `capture.file`.

use super::{BuildCtx, Built, GstNodeKind, default_fps};
use crate::error::BuildError;
use clipshot_core::{MediaType, NodeDescriptor, PadSpec, Props};
use gstreamer as gst;
use gstreamer::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

const AUDIO_RATE: i32 = 48_000;

fn raw_audio_caps() -> gst::Caps {
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
struct TestProps {
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

pub(super) fn test() -> Arc<GstNodeKind> {
    GstNodeKind::new(
        NodeDescriptor::new::<TestProps>(
            "capture.test",
            "Live test pattern and test tone; the fallback on machines without a display",
            vec![PadSpec::output("video", MediaType::RawVideo), PadSpec::output("audio", MediaType::RawAudio)],
        ),
        build_test,
    )
}

fn build_test(props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let p: TestProps = ctx.props(props)?;
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

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ScreenBackend {
    /// X11 when `DISPLAY` is set, else PipeWire.
    #[default]
    Auto,
    X11,
    Pipewire,
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
struct ScreenProps {
    #[serde(default)]
    backend: ScreenBackend,
    /// X11 display name; defaults to `$DISPLAY`.
    display: Option<String>,
    region: Option<Region>,
    /// X11 window id to capture instead of the whole screen.
    window: Option<u64>,
    /// PipeWire node (from the ScreenCast portal) for Wayland capture.
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

pub(super) fn screen() -> Arc<GstNodeKind> {
    GstNodeKind::new(
        NodeDescriptor::new::<ScreenProps>(
            "capture.screen",
            "Screen, region or window capture (X11 ximagesrc, Wayland PipeWire; Windows Graphics Capture on Windows)",
            vec![PadSpec::output("video", MediaType::RawVideo)],
        ),
        build_screen,
    )
}

fn build_screen(props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let p: ScreenProps = ctx.props(props)?;
    let x11 = match p.backend {
        ScreenBackend::X11 => true,
        ScreenBackend::Pipewire => false,
        ScreenBackend::Auto => p.display.is_some() || std::env::var_os("DISPLAY").is_some(),
    };
    let src = if x11 {
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
    } else {
        let src = ctx.element("pipewiresrc", "screen")?;
        if let Some(node) = &p.pipewire_node {
            src.set_property("path", node);
        }
        src.set_property("do-timestamp", true);
        src
    };
    // PipeWire and damage-driven X capture deliver frames at a variable rate;
    // videorate gives the encoder the constant rate its GOP length assumes.
    let rate = ctx.element("videorate", "rate")?;
    let caps = ctx.capsfilter(
        "caps",
        gst::Caps::builder("video/x-raw").field("framerate", gst::Fraction::new(p.fps as i32, 1)).build(),
    )?;
    ctx.chain(&[&src, &rate, &caps])?;
    Built::default().output("video", &caps)
}

/// A media file played at its own rate, as if it were live.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FileProps {
    /// Path of any file GStreamer can decode.
    path: String,
}

pub(super) fn file() -> Arc<GstNodeKind> {
    GstNodeKind::new(
        NodeDescriptor::new::<FileProps>(
            "capture.file",
            "Any file GStreamer decodes, played at its own rate (recorded gameplay, tests, benchmarks)",
            vec![PadSpec::output("video", MediaType::RawVideo), PadSpec::output("audio", MediaType::RawAudio)],
        ),
        build_file,
    )
}

fn build_file(props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let p: FileProps = ctx.props(props)?;
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
