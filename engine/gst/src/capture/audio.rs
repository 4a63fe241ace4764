//! Audio sources: `audio.system`, `audio.mic`, `audio.test`.
//!
//! Linux uses PulseAudio's protocol (served by PipeWire on current desktops);
//! `@DEFAULT_MONITOR@` follows the default output, as OBS's "Desktop Audio" does.
//! Windows uses WASAPI (`wasapi2src`, with `loopback` for system audio).

use crate::error::BuildError;
use crate::kind::{BuildCtx, Built, Segment};
use clipshot_core::{MediaType, Node, PadSpec};
use gstreamer as gst;
use gstreamer::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

/// A capture device; the system default when omitted.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceProps {
    /// Device name as listed by `GET /api/v1/capture/sources`.
    device: Option<String>,
    /// The PulseAudio/PipeWire server (`unix:/run/user/1000/pulse/native`,
    /// `tcp:host`); the session's own when omitted. Linux only.
    server: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToneProps {
    #[serde(default = "default_freq")]
    #[schemars(range(min = 20, max = 20000))]
    freq_hz: f64,
    #[serde(default = "default_volume")]
    #[schemars(range(min = 0, max = 1))]
    volume: f64,
}

fn default_freq() -> f64 {
    440.0
}
fn default_volume() -> f64 {
    0.3
}

fn pads() -> Vec<PadSpec> {
    vec![PadSpec::output("audio", MediaType::RawAudio).required(true)]
}

/// The device source element of this platform.
fn device_element() -> &'static str {
    if cfg!(windows) { "wasapi2src" } else { "pulsesrc" }
}

/// `audio.system`.
#[derive(Debug)]
pub struct SystemAudio;

impl Node for SystemAudio {
    type Props = DeviceProps;
    const KIND: &'static str = "audio.system";
    const SUMMARY: &'static str = "What the computer plays (the default output's monitor)";

    fn pads() -> Vec<PadSpec> {
        pads()
    }
}

impl Segment for SystemAudio {
    fn elements(_: &DeviceProps) -> Vec<&'static str> {
        vec![device_element(), "audioconvert", "audioresample"]
    }

    fn explain(element: &str, cause: &str) -> Option<String> {
        explain_device(element, cause)
    }

    fn build(p: DeviceProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_device(p, ctx, true)
    }
}

/// `audio.mic`.
#[derive(Debug)]
pub struct Microphone;

impl Node for Microphone {
    type Props = DeviceProps;
    const KIND: &'static str = "audio.mic";
    const SUMMARY: &'static str = "A microphone or other input device";

    fn pads() -> Vec<PadSpec> {
        pads()
    }
}

impl Segment for Microphone {
    fn elements(_: &DeviceProps) -> Vec<&'static str> {
        vec![device_element(), "audioconvert", "audioresample"]
    }

    fn explain(element: &str, cause: &str) -> Option<String> {
        explain_device(element, cause)
    }

    fn build(p: DeviceProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_device(p, ctx, false)
    }
}

/// `audio.test`.
#[derive(Debug)]
pub struct ToneSource;

impl Node for ToneSource {
    type Props = ToneProps;
    const KIND: &'static str = "audio.test";
    const SUMMARY: &'static str = "A live sine tone";

    fn pads() -> Vec<PadSpec> {
        pads()
    }
}

impl Segment for ToneSource {
    fn elements(_: &ToneProps) -> Vec<&'static str> {
        vec!["audiotestsrc", "audioconvert", "audioresample"]
    }

    fn build(p: ToneProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_tone(p, ctx)
    }
}

/// What a device source's error means: most often, no sound server.
fn explain_device(element: &str, cause: &str) -> Option<String> {
    let lower = cause.to_lowercase();
    match element {
        "pulsesrc" if lower.contains("killed") || lower.contains("disconnected") => {
            Some(format!("the audio device went away ({cause})"))
        }
        "pulsesrc" if lower.contains("connect") => {
            Some(format!("PulseAudio/PipeWire not reachable ({})", lower.trim_end_matches('.')))
        }
        "pulsesrc" => Some(format!("PulseAudio/PipeWire: {cause}")),
        "wasapi2src" => Some(format!("WASAPI: {cause}")),
        _ => None,
    }
}

/// Converts whatever the device gives to 48 kHz stereo.
fn normalise(ctx: &BuildCtx<'_>, src: &gst::Element) -> Result<Built, BuildError> {
    let convert = ctx.element("audioconvert", "convert")?;
    let resample = ctx.element("audioresample", "resample")?;
    let caps = ctx.capsfilter(
        "caps",
        gst::Caps::builder("audio/x-raw").field("rate", 48_000i32).field("channels", 2i32).build(),
    )?;
    ctx.chain(&[src, &convert, &resample, &caps])?;
    Built::default().output("audio", &caps)
}

fn build_device(p: DeviceProps, ctx: &mut BuildCtx<'_>, loopback: bool) -> Result<Built, BuildError> {
    let src = if cfg!(windows) {
        let src = ctx.element("wasapi2src", "device")?;
        src.set_property("loopback", loopback);
        if let Some(d) = &p.device {
            src.set_property("device", d);
        }
        src
    } else {
        let src = ctx.element("pulsesrc", "device")?;
        if let Some(server) = &p.server {
            src.set_property("server", server);
        }
        match (&p.device, loopback) {
            (Some(d), _) => src.set_property("device", d),
            (None, true) => src.set_property("device", "@DEFAULT_MONITOR@"),
            (None, false) => {}
        }
        src
    };
    normalise(ctx, &src)
}

fn build_tone(p: ToneProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let src = ctx.element("audiotestsrc", "tone")?;
    src.set_property("is-live", true);
    src.set_property("freq", p.freq_hz);
    src.set_property("volume", p.volume);
    normalise(ctx, &src)
}
