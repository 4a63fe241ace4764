//! Reading saved clips back: technical metadata (GStreamer's discoverer) and
//! a thumbnail (the first keyframe, decoded, scaled and JPEG-encoded).

use crate::error::BuildError;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_pbutils as pbutils;
use gstreamer_pbutils::prelude::*;
use std::path::Path;

/// What a media file holds, as a player would see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MediaInfo {
    pub duration_s: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    /// Human-readable codec descriptions (`H.264 (Constrained Baseline Profile)`).
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub audio_rate: Option<u32>,
    pub audio_channels: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{path}: {message}")]
    Failed { path: String, message: String },
}

fn failed(path: &Path, message: impl std::fmt::Display) -> InspectError {
    InspectError::Failed { path: path.display().to_string(), message: message.to_string() }
}

/// Discovers the streams of a file (a few milliseconds for a local MP4).
pub fn media_info(path: &Path) -> Result<MediaInfo, InspectError> {
    crate::init().map_err(|e: BuildError| failed(path, e))?;
    let uri = gst::glib::filename_to_uri(path, None).map_err(|e| failed(path, e))?;
    let discoverer = pbutils::Discoverer::new(gst::ClockTime::from_seconds(10)).map_err(|e| failed(path, e))?;
    let info = discoverer.discover_uri(&uri).map_err(|e| failed(path, e))?;
    let mut out = MediaInfo {
        duration_s: info.duration().map_or(0.0, |d| d.nseconds() as f64 / 1e9),
        width: None,
        height: None,
        fps: None,
        video_codec: None,
        audio_codec: None,
        audio_rate: None,
        audio_channels: None,
    };
    if let Some(video) = info.video_streams().into_iter().next() {
        out.width = Some(video.width());
        out.height = Some(video.height());
        let rate = video.framerate();
        out.fps = (rate.numer() > 0 && rate.denom() > 0).then(|| f64::from(rate.numer()) / f64::from(rate.denom()));
        out.video_codec = video.caps().map(|c| pbutils::pb_utils_get_codec_description(&c).to_string());
    }
    if let Some(audio) = info.audio_streams().into_iter().next() {
        out.audio_rate = Some(audio.sample_rate());
        out.audio_channels = Some(audio.channels());
        out.audio_codec = audio.caps().map(|c| pbutils::pb_utils_get_codec_description(&c).to_string());
    }
    Ok(out)
}

/// A JPEG of the clip's first frame, at most `max_width` pixels wide.
pub fn thumbnail(path: &Path, max_width: u32) -> Result<Vec<u8>, InspectError> {
    crate::init().map_err(|e: BuildError| failed(path, e))?;
    let pipeline = gst::Pipeline::new();
    let make = |factory: &str| gst::ElementFactory::make(factory).build().map_err(|e| failed(path, e));
    let src = make("filesrc")?;
    src.set_property("location", path);
    let decode = make("decodebin")?;
    let convert = make("videoconvert")?;
    let scale = make("videoscale")?;
    let caps = make("capsfilter")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("video/x-raw").field("width", gst::IntRange::new(16, max_width.max(16) as i32)).build(),
    );
    let jpeg = make("jpegenc")?;
    let sink = gst_app::AppSink::builder().sync(false).max_buffers(1).build();
    pipeline
        .add_many([&src, &decode, &convert, &scale, &caps, &jpeg, sink.upcast_ref()])
        .map_err(|e| failed(path, e))?;
    src.link(&decode).map_err(|e| failed(path, e))?;
    gst::Element::link_many([&convert, &scale, &caps, &jpeg, sink.upcast_ref()]).map_err(|e| failed(path, e))?;
    let convert_sink = convert.static_pad("sink").expect("videoconvert has a sink pad");
    decode.connect_pad_added(move |_, pad| {
        let is_video =
            pad.current_caps().and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/"))).unwrap_or(false);
        if is_video && !convert_sink.is_linked() {
            let _ = pad.link(&convert_sink);
        }
    });
    pipeline.set_state(gst::State::Playing).map_err(|e| failed(path, e))?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(10));
    let error = pipeline.bus().and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]));
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.ok_or_else(|| match error.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(e)) => failed(path, e.error()),
        _ => failed(path, "no video frame could be decoded"),
    })?;
    let buffer = sample.buffer().ok_or_else(|| failed(path, "empty thumbnail sample"))?;
    let map = buffer.map_readable().map_err(|e| failed(path, e))?;
    // The one copy here is of a small JPEG, off the record path.
    Ok(map.as_slice().to_vec())
}
