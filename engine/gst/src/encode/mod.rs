//! Encoders: `encode.h264`, `encode.aac`, `encode.opus`, and the probing
//! that decides which H.264 encoder this machine can really use.

pub mod probe;

use crate::error::BuildError;
use crate::kind::{BuildCtx, Built, Segment, Substitute};
use clipshot_core::{Finding, MediaType, Node, PadSpec, ProblemCode};
use gstreamer as gst;
use gstreamer::prelude::*;
use probe::EncoderInfo;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum EncoderChoice {
    /// The best usable encoder: NVENC, VA-API, Quick Sync, then x264.
    #[default]
    Auto,
    Nvenc,
    Va,
    Qsv,
    Vaapi,
    X264,
    Openh264,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Preset {
    /// Chosen for the machine's CPU count (software encoders).
    #[default]
    Auto,
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct H264Props {
    #[serde(default)]
    encoder: EncoderChoice,
    #[serde(default = "default_video_kbps")]
    #[schemars(range(min = 100, max = 200000))]
    bitrate_kbps: u32,
    #[serde(default)]
    preset: Preset,
    /// Seconds between keyframes; clips start on a keyframe, so shorter is more precise.
    #[serde(default = "default_keyframe_interval")]
    #[schemars(range(min = 0.1, max = 10))]
    keyframe_interval_s: f64,
    /// When the chosen encoder is not usable (a driver update broke NVENC),
    /// encode with the best one that is and report the pipeline degraded,
    /// instead of refusing to start.
    #[serde(default = "yes")]
    fallback: bool,
}

fn yes() -> bool {
    true
}

fn default_video_kbps() -> u32 {
    8000
}
fn default_keyframe_interval() -> f64 {
    1.0
}

/// `encode.h264`.
#[derive(Debug)]
pub struct H264Encoder;

impl Node for H264Encoder {
    type Props = H264Props;
    const KIND: &'static str = "encode.h264";
    const SUMMARY: &'static str =
        "H.264 (8-bit 4:2:0) with the best encoder present: NVENC, VA-API, Quick Sync, then x264";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::input("video", MediaType::RawVideo), PadSpec::output("video", MediaType::H264).required(true)]
    }

    /// The chosen encoder must pass its trial encode on this machine, or
    /// (with `fallback`) some encoder must.
    fn check_context(p: &H264Props) -> Vec<Finding> {
        match choose_or_fallback(p) {
            Ok(_) => Vec::new(),
            Err(message) => vec![Finding::new("/encoder", ProblemCode::Unavailable, message)],
        }
    }
}

impl Segment for H264Encoder {
    fn elements(_: &H264Props) -> Vec<&'static str> {
        vec!["videoconvert", "capsfilter", "h264parse"]
    }

    fn build(p: H264Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_h264(p, ctx)
    }
}

/// The encoder for a choice, or why there is none.
fn choose(choice: EncoderChoice) -> Result<EncoderInfo, String> {
    let Some(api) = api_name(choice) else {
        return probe::best_h264()
            .ok_or_else(|| "no usable H.264 encoder (install gstreamer1.0-plugins-ugly for x264enc)".to_owned());
    };
    probe::h264_by_api(api).ok_or_else(|| match probe::h264_encoders().into_iter().find(|e| e.api == api) {
        Some(e) => format!(
            "the `{api}` H.264 encoder ({}) is installed but not usable on this machine: {}",
            e.element,
            e.error.unwrap_or_default()
        ),
        None => format!("no `{api}` H.264 encoder is installed on this machine"),
    })
}

/// A usable encoder for `p`, and why it is not the one a user would expect
/// when it is a substitute: the asked-for encoder failed (with `fallback`),
/// or, for `auto`, a hardware encoder is installed but failed its trial.
fn choose_or_fallback(p: &H264Props) -> Result<(EncoderInfo, Option<Substitute>), String> {
    match choose(p.encoder) {
        Ok(info) if p.encoder == EncoderChoice::Auto && !info.hardware => {
            let failed = probe::h264_encoders().into_iter().find(|e| e.hardware && !e.usable);
            let substitute = failed.map(|hw| Substitute {
                element: Some(hw.element.clone()),
                reason: format!(
                    "hardware encoder {} failed its trial encode: {}",
                    hw.element,
                    hw.error.unwrap_or_default()
                ),
                instead: format!("encoding with {} on the CPU", info.element),
            });
            Ok((info, substitute))
        }
        Ok(info) => Ok((info, None)),
        Err(why) if p.fallback => {
            let best = probe::best_h264().ok_or_else(|| format!("{why}, and no other H.264 encoder is usable"))?;
            let element = probe::h264_encoders().into_iter().find(|e| Some(e.api.as_str()) == api_name(p.encoder));
            let instead = format!("encoding with {}", best.element);
            Ok((best, Some(Substitute { element: element.map(|e| e.element), reason: why, instead })))
        }
        Err(why) => Err(why),
    }
}

fn api_name(choice: EncoderChoice) -> Option<&'static str> {
    Some(match choice {
        EncoderChoice::Auto => return None,
        EncoderChoice::Nvenc => "nvenc",
        EncoderChoice::Va => "va",
        EncoderChoice::Qsv => "qsv",
        EncoderChoice::Vaapi => "vaapi",
        EncoderChoice::X264 => "x264",
        EncoderChoice::Openh264 => "openh264",
    })
}

fn set_if_present(element: &gst::Element, name: &str, value: impl Into<glib::Value>) {
    if element.find_property(name).is_some() {
        element.set_property_from_value(name, &value.into());
    }
}

use gstreamer::glib;

fn auto_preset() -> &'static str {
    match std::thread::available_parallelism().map_or(2, |n| n.get()) {
        0..=4 => "ultrafast",
        5..=8 => "superfast",
        _ => "veryfast",
    }
}

fn build_h264(p: H264Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let (info, substitute) = choose_or_fallback(&p).map_err(|e| ctx.error(e))?;
    if let Some(s) = &substitute {
        tracing::warn!(node = ctx.node, "{}: {}", s.reason, s.instead);
    }
    let convert = ctx.element("videoconvert", "convert")?;
    // Debian's x264 may otherwise pick High 4:4:4; hardware encoders want NV12.
    let format = if info.hardware { "NV12" } else { "I420" };
    let raw = ctx.capsfilter("raw-caps", gst::Caps::builder("video/x-raw").field("format", format).build())?;
    let enc = ctx.element(&info.element, "encoder")?;
    match info.api.as_str() {
        "x264" => {
            enc.set_property("bitrate", p.bitrate_kbps);
            let preset = match p.preset {
                Preset::Auto => auto_preset(),
                Preset::Ultrafast => "ultrafast",
                Preset::Superfast => "superfast",
                Preset::Veryfast => "veryfast",
                Preset::Faster => "faster",
                Preset::Fast => "fast",
                Preset::Medium => "medium",
            };
            enc.set_property_from_str("speed-preset", preset);
            // No lookahead and no B-frames: the hotkey's moment reaches the ring
            // in tens of milliseconds instead of most of a second.
            enc.set_property_from_str("tune", "zerolatency");
        }
        "openh264" => set_if_present(&enc, "bitrate", p.bitrate_kbps * 1000),
        _ => {
            set_if_present(&enc, "bitrate", p.bitrate_kbps);
            set_if_present(&enc, "zerolatency", true);
        }
    }
    // The keyframe interval is in frames. Encoders take it only before they
    // start, so it comes from the rate upstream fixes (30 fps when it is open).
    let fps = ctx.input_fps("video").unwrap_or(30.0);
    let frames = ((fps * p.keyframe_interval_s).round() as u32).max(1);
    for prop in ["key-int-max", "gop-size", "keyframe-period"] {
        if let Some(spec) = enc.find_property(prop) {
            let value =
                if spec.value_type() == glib::Type::I32 { (frames as i32).to_value() } else { frames.to_value() };
            enc.set_property_from_value(prop, &value);
        }
    }
    let parse = ctx.element("h264parse", "parse")?;
    let out = ctx.capsfilter(
        "caps",
        gst::Caps::builder("video/x-h264").field("stream-format", "avc").field("alignment", "au").build(),
    )?;
    ctx.chain(&[&convert, &raw, &enc, &parse, &out])?;
    let mut built = Built::default().input("video", &convert)?.output("video", &out)?;
    built.encoder = Some(info.element);
    built.substitute = substitute;
    Ok(built)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioEncProps {
    #[serde(default = "default_audio_kbps")]
    #[schemars(range(min = 32, max = 512))]
    bitrate_kbps: u32,
}

fn default_audio_kbps() -> u32 {
    160
}

fn audio_pads(codec: MediaType) -> Vec<PadSpec> {
    vec![PadSpec::input("audio", MediaType::RawAudio), PadSpec::output("audio", codec).required(true)]
}

const AAC_ENCODERS: [&str; 3] = ["avenc_aac", "voaacenc", "fdkaacenc"];

fn aac_encoder() -> Option<&'static str> {
    AAC_ENCODERS.into_iter().find(|f| gst::ElementFactory::find(f).is_some())
}

/// `encode.aac`.
#[derive(Debug)]
pub struct AacEncoder;

impl Node for AacEncoder {
    type Props = AudioEncProps;
    const KIND: &'static str = "encode.aac";
    const SUMMARY: &'static str = "AAC-LC for MP4 clips (avenc_aac, else voaacenc)";

    fn pads() -> Vec<PadSpec> {
        audio_pads(MediaType::Aac)
    }

    fn check_context(_: &AudioEncProps) -> Vec<Finding> {
        match aac_encoder() {
            Some(_) => Vec::new(),
            None => vec![Finding::new(
                "",
                ProblemCode::MissingElement,
                "no AAC encoder is installed (avenc_aac, voaacenc or fdkaacenc; install gstreamer1.0-libav)",
            )],
        }
    }
}

impl Segment for AacEncoder {
    fn elements(_: &AudioEncProps) -> Vec<&'static str> {
        vec!["audioconvert", "aacparse"]
    }

    fn build(p: AudioEncProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_aac(p, ctx)
    }
}

fn build_aac(p: AudioEncProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let factory = aac_encoder().ok_or_else(|| ctx.error("no AAC encoder installed (install gstreamer1.0-libav)"))?;
    let convert = ctx.element("audioconvert", "convert")?;
    let enc = ctx.element(factory, "encoder")?;
    enc.set_property("bitrate", (p.bitrate_kbps * 1000) as i32);
    let parse = ctx.element("aacparse", "parse")?;
    let out = ctx.capsfilter(
        "caps",
        gst::Caps::builder("audio/mpeg").field("mpegversion", 4i32).field("stream-format", "raw").build(),
    )?;
    ctx.chain(&[&convert, &enc, &parse, &out])?;
    let mut built = Built::default().input("audio", &convert)?.output("audio", &out)?;
    built.encoder = Some(factory.to_owned());
    Ok(built)
}

/// `encode.opus`.
#[derive(Debug)]
pub struct OpusEncoder;

impl Node for OpusEncoder {
    type Props = AudioEncProps;
    const KIND: &'static str = "encode.opus";
    const SUMMARY: &'static str = "Opus, for MKV recordings (sink.file with format = \"mkv\")";

    fn pads() -> Vec<PadSpec> {
        audio_pads(MediaType::Opus)
    }
}

impl Segment for OpusEncoder {
    fn elements(_: &AudioEncProps) -> Vec<&'static str> {
        vec!["audioconvert", "opusenc", "opusparse"]
    }

    fn build(p: AudioEncProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_opus(p, ctx)
    }
}

fn build_opus(p: AudioEncProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let convert = ctx.element("audioconvert", "convert")?;
    let enc = ctx.element("opusenc", "encoder")?;
    enc.set_property("bitrate", (p.bitrate_kbps * 1000) as i32);
    let parse = ctx.element("opusparse", "parse")?;
    ctx.chain(&[&convert, &enc, &parse])?;
    let mut built = Built::default().input("audio", &convert)?.output("audio", &parse)?;
    built.encoder = Some("opusenc".to_owned());
    Ok(built)
}
