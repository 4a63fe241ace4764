//! H.264 encoder discovery.
//!
//! The nvcodec, va and qsv plugins register their elements per device when the
//! registry is scanned, so "installed" does not mean "usable": every candidate
//! is trial-encoded (a few NV12 frames, with a timeout, off the caller's thread)
//! and must produce 8-bit 4:2:0 H.264 that browsers play. Results are cached;
//! a runtime failure of the chosen encoder invalidates the cache.

use gstreamer as gst;
use gstreamer::prelude::*;
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::mpsc;
use std::time::Duration;

/// Known encoders, best first: (element, API, hardware).
const PREFERENCE: &[(&str, &str, bool)] = &[
    ("nvh264enc", "nvenc", true),
    ("nvautogpuh264enc", "nvenc", true),
    ("vah264enc", "va", true),
    ("vah264lpenc", "va", true),
    ("qsvh264enc", "qsv", true),
    ("vaapih264enc", "vaapi", true),
    ("mfh264enc", "mediafoundation", true),
    ("x264enc", "x264", false),
    ("openh264enc", "openh264", false),
];

/// Profiles that are 8-bit 4:2:0 (High 4:4:4 and 10-bit profiles are refused).
const PLAYABLE_PROFILES: &str = "{ constrained-baseline, baseline, main, high, constrained-high, progressive-high }";

const TRIAL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EncoderInfo {
    /// GStreamer element, e.g. `nvh264enc`.
    pub element: String,
    /// `nvenc`, `va`, `qsv`, `vaapi`, `x264`, `openh264`, or `other`.
    pub api: String,
    pub hardware: bool,
    /// Whether a trial encode succeeded.
    pub usable: bool,
    /// Why it is not usable.
    pub error: Option<String>,
}

static CACHE: Mutex<Option<Vec<EncoderInfo>>> = Mutex::new(None);

/// Every installed H.264 encoder element, best first, with its trial result.
pub fn h264_encoders() -> Vec<EncoderInfo> {
    let mut cache = CACHE.lock();
    if let Some(list) = cache.as_ref() {
        return list.clone();
    }
    let list = probe();
    *cache = Some(list.clone());
    list
}

/// The best usable H.264 encoder, if any.
pub fn best_h264() -> Option<EncoderInfo> {
    h264_encoders().into_iter().find(|e| e.usable)
}

/// A usable encoder of the given API (`x264`, `nvenc`, ...).
pub fn h264_by_api(api: &str) -> Option<EncoderInfo> {
    h264_encoders().into_iter().find(|e| e.usable && e.api == api)
}

/// Forgets probe results (after the chosen encoder failed at run time).
pub fn invalidate() {
    *CACHE.lock() = None;
}

fn rank(element: &str) -> usize {
    PREFERENCE.iter().position(|(e, _, _)| *e == element).unwrap_or(PREFERENCE.len())
}

fn probe() -> Vec<EncoderInfo> {
    let h264 = gst::Caps::builder("video/x-h264").build();
    let mut names: Vec<String> =
        gst::ElementFactory::factories_with_type(gst::ElementFactoryType::VIDEO_ENCODER, gst::Rank::NONE)
            .into_iter()
            .filter(|f| f.can_src_any_caps(&h264))
            .map(|f| f.name().to_string())
            .collect();
    names.sort_by_key(|n| (rank(n), n.clone()));
    names.dedup();
    names
        .into_iter()
        .map(|element| {
            let (api, hardware) =
                PREFERENCE.iter().find(|(e, _, _)| *e == element).map_or(("other", false), |(_, api, hw)| (*api, *hw));
            let result = trial_encode(&element);
            EncoderInfo { api: api.to_owned(), hardware, usable: result.is_ok(), error: result.err(), element }
        })
        .collect()
}

/// Encodes a few frames with `element` and checks the output's profile.
pub fn trial_encode(element: &str) -> Result<(), String> {
    let description = format!(
        "videotestsrc num-buffers=5 ! video/x-raw,format=NV12,width=320,height=240,framerate=30/1 \
         ! {element} name=enc ! h264parse \
         ! video/x-h264,stream-format=avc,alignment=au,profile=(string){PLAYABLE_PROFILES} ! fakesink"
    );
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("probe-{element}"))
        .spawn(move || {
            let _ = tx.send(run_trial(&description));
        })
        .map_err(|e| e.to_string())?;
    rx.recv_timeout(TRIAL_TIMEOUT + Duration::from_secs(1))
        .unwrap_or_else(|_| Err(format!("no answer from {element} within {TRIAL_TIMEOUT:?}")))
}

fn run_trial(description: &str) -> Result<(), String> {
    let pipeline = gst::parse::launch(description).map_err(|e| e.to_string())?;
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    pipeline.set_state(gst::State::Playing).map_err(|e| format!("could not start: {e}"))?;
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(TRIAL_TIMEOUT.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        Some(gst::MessageView::Error(e)) => Err(e.error().to_string()),
        _ => Err("timed out".into()),
    }
}
