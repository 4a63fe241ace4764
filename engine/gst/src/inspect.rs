//! Reading saved clips back: technical metadata (GStreamer's discoverer) and
//! stills (a thumbnail, a frame for the image models) and the sound for the
//! audio models.

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

/// A pipeline set to Null however the function that built it returns.
struct Stopping(gst::Pipeline);

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
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

/// A JPEG of the clip's frame at `at_s` seconds (the first frame when
/// `None`), at most `max_width` pixels wide.
pub fn thumbnail(path: &Path, max_width: u32, at_s: Option<f64>) -> Result<Vec<u8>, InspectError> {
    // A moment that cannot be reached (the very end) still has a first frame.
    let sample = still(path, max_width, at_s, true).or_else(|_| still(path, max_width, None, true))?;
    let buffer = sample.buffer().ok_or_else(|| failed(path, "empty thumbnail sample"))?;
    let map = buffer.map_readable().map_err(|e| failed(path, e))?;
    // The one copy here is of a small JPEG, off the record path.
    Ok(map.as_slice().to_vec())
}

/// A decoded frame: tightly packed RGBA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbaFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// The clip's frame at `at_s` seconds as RGBA, at most `max_width` wide
/// (for running image models on a moment of a clip).
pub fn frame_at(path: &Path, at_s: f64, max_width: u32) -> Result<RgbaFrame, InspectError> {
    let sample = still(path, max_width, Some(at_s), false)?;
    let info = sample
        .caps()
        .and_then(|c| gstreamer_video::VideoInfo::from_caps(c).ok())
        .ok_or_else(|| failed(path, "the decoded frame has no video caps"))?;
    let buffer = sample.buffer().ok_or_else(|| failed(path, "empty frame sample"))?;
    let map = buffer.map_readable().map_err(|e| failed(path, e))?;
    let (w, h, stride) = (info.width(), info.height(), info.stride()[0] as usize);
    let mut data = Vec::with_capacity(w as usize * h as usize * 4);
    for row in map.as_slice().chunks(stride).take(h as usize) {
        data.extend_from_slice(&row[..w as usize * 4]);
    }
    Ok(RgbaFrame { width: w, height: h, data })
}

/// One decoded frame of `path` at `at_s` (the first when `None`), scaled to
/// at most `max_width`: JPEG-encoded, or raw RGBA.
fn still(path: &Path, max_width: u32, at_s: Option<f64>, jpeg: bool) -> Result<gst::Sample, InspectError> {
    crate::init().map_err(|e: BuildError| failed(path, e))?;
    let stopping = Stopping(gst::Pipeline::new());
    let pipeline = &stopping.0;
    let make = |factory: &str| gst::ElementFactory::make(factory).build().map_err(|e| failed(path, e));
    let src = make("filesrc")?;
    src.set_property("location", path);
    let decode = make("decodebin")?;
    let convert = make("videoconvert")?;
    let scale = make("videoscale")?;
    let caps = make("capsfilter")?;
    let mut wanted = gst::Caps::builder("video/x-raw").field("width", gst::IntRange::new(16, max_width.max(16) as i32));
    if !jpeg {
        wanted = wanted.field("format", "RGBA").field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    }
    caps.set_property("caps", wanted.build());
    let sink = gst_app::AppSink::builder().sync(false).max_buffers(1).build();
    let mut chain = vec![convert.clone(), scale, caps];
    if jpeg {
        chain.push(make("jpegenc")?);
    }
    chain.push(sink.clone().upcast());
    pipeline.add(&src).map_err(|e| failed(path, e))?;
    pipeline.add(&decode).map_err(|e| failed(path, e))?;
    pipeline.add_many(&chain).map_err(|e| failed(path, e))?;
    src.link(&decode).map_err(|e| failed(path, e))?;
    gst::Element::link_many(&chain).map_err(|e| failed(path, e))?;
    let convert_sink = convert.static_pad("sink").expect("videoconvert has a sink pad");
    decode.connect_pad_added(move |_, pad| {
        let is_video =
            pad.current_caps().and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/"))).unwrap_or(false);
        if is_video && !convert_sink.is_linked() {
            let _ = pad.link(&convert_sink);
        }
    });
    // Paused prerolls one frame into the sink; a flushing, accurate seek
    // prerolls the frame at `at_s` instead.
    let timeout = gst::ClockTime::from_seconds(10);
    pipeline.set_state(gst::State::Paused).map_err(|e| failed(path, e))?;
    let (prerolled, _, _) = pipeline.state(timeout);
    let mut sample = None;
    if prerolled.is_ok() {
        if let Some(at) = at_s.filter(|t| t.is_finite() && *t > 0.0) {
            let position = gst::ClockTime::from_nseconds((at * 1e9) as u64);
            pipeline
                .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, position)
                .map_err(|e| failed(path, format!("cannot seek to {at:.3} s: {e}")))?;
            let _ = pipeline.state(timeout);
        }
        sample = sink.try_pull_preroll(timeout);
    }
    let error = pipeline.bus().and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]));
    drop(stopping);
    sample.ok_or_else(|| match error.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(e)) => failed(path, e.error()),
        _ => failed(path, "no video frame could be decoded"),
    })
}

/// The sound of `path` as mono `f32` at `rate` Hz, at most `max_s` seconds
/// from the start (for running audio models over a clip).
pub fn audio(path: &Path, rate: u32, max_s: f64) -> Result<Vec<f32>, InspectError> {
    crate::init().map_err(|e: BuildError| failed(path, e))?;
    let stopping = Stopping(gst::Pipeline::new());
    let pipeline = &stopping.0;
    let make = |factory: &str| gst::ElementFactory::make(factory).build().map_err(|e| failed(path, e));
    let src = make("filesrc")?;
    src.set_property("location", path);
    let decode = make("decodebin")?;
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let caps = make("capsfilter")?;
    caps.set_property(
        "caps",
        gst::Caps::builder("audio/x-raw")
            .field("format", "F32LE")
            .field("layout", "interleaved")
            .field("rate", rate as i32)
            .field("channels", 1)
            .build(),
    );
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([&src, &decode, &convert, &resample, &caps, sink.upcast_ref()]).map_err(|e| failed(path, e))?;
    src.link(&decode).map_err(|e| failed(path, e))?;
    gst::Element::link_many([&convert, &resample, &caps, sink.upcast_ref()]).map_err(|e| failed(path, e))?;
    let convert_sink = convert.static_pad("sink").expect("audioconvert has a sink pad");
    decode.connect_pad_added(move |_, pad| {
        let is_audio =
            pad.current_caps().and_then(|c| c.structure(0).map(|s| s.name().starts_with("audio/"))).unwrap_or(false);
        if is_audio && !convert_sink.is_linked() {
            let _ = pad.link(&convert_sink);
        }
    });
    pipeline.set_state(gst::State::Playing).map_err(|e| failed(path, e))?;
    let limit = (max_s.max(0.0) * f64::from(rate)) as usize;
    let mut samples = Vec::new();
    while samples.len() < limit {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else { break };
        let Some(buffer) = sample.buffer() else { continue };
        let map = buffer.map_readable().map_err(|e| failed(path, e))?;
        samples.extend(map.as_slice().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    }
    let error = pipeline.bus().and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]));
    drop(stopping);
    if samples.is_empty() {
        return Err(match error.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => failed(path, e.error()),
            _ => failed(path, "no sound could be decoded"),
        });
    }
    samples.truncate(limit);
    Ok(samples)
}
