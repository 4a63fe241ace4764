//! Audio sources: `audio.system`, `audio.mic`, `audio.test`.
//!
//! Linux uses PulseAudio's protocol (served by PipeWire on current desktops);
//! `@DEFAULT_MONITOR@` follows the default output, as OBS's "Desktop Audio" does.
//! Windows uses WASAPI (`wasapi2src`, with `loopback` for system audio).

use super::{BuildCtx, Built, GstNodeKind};
use crate::error::BuildError;
use clipshot_core::{MediaType, NodeDescriptor, PadSpec, Props};
use gstreamer as gst;
use gstreamer::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// A capture device; the system default when omitted.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DeviceProps {
    /// Device name as listed by `GET /api/v1/capture/sources`.
    device: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ToneProps {
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

pub(super) fn system() -> Arc<GstNodeKind> {
    GstNodeKind::new(
        NodeDescriptor::new::<DeviceProps>(
            "audio.system",
            "What the computer plays (the default output's monitor)",
            pads(),
        ),
        |props, ctx| build_device(props, ctx, true),
    )
}

pub(super) fn mic() -> Arc<GstNodeKind> {
    GstNodeKind::new(
        NodeDescriptor::new::<DeviceProps>("audio.mic", "A microphone or other input device", pads()),
        |props, ctx| build_device(props, ctx, false),
    )
}

pub(super) fn test() -> Arc<GstNodeKind> {
    GstNodeKind::new(NodeDescriptor::new::<ToneProps>("audio.test", "A live sine tone", pads()), build_tone)
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

fn build_device(props: &Props, ctx: &mut BuildCtx<'_>, loopback: bool) -> Result<Built, BuildError> {
    let p: DeviceProps = ctx.props(props)?;
    let src = if cfg!(windows) {
        let src = ctx.element("wasapi2src", "device")?;
        src.set_property("loopback", loopback);
        if let Some(d) = &p.device {
            src.set_property("device", d);
        }
        src
    } else {
        let src = ctx.element("pulsesrc", "device")?;
        match (&p.device, loopback) {
            (Some(d), _) => src.set_property("device", d),
            (None, true) => src.set_property("device", "@DEFAULT_MONITOR@"),
            (None, false) => {}
        }
        src
    };
    normalise(ctx, &src)
}

fn build_tone(props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let p: ToneProps = ctx.props(props)?;
    let src = ctx.element("audiotestsrc", "tone")?;
    src.set_property("is-live", true);
    src.set_property("freq", p.freq_hz);
    src.set_property("volume", p.volume);
    normalise(ctx, &src)
}
