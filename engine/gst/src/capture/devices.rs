//! Audio devices GStreamer can see (PulseAudio/PipeWire, WASAPI), and the
//! audio encoders present, for the capture resources of the API.

use gstreamer as gst;
use gstreamer::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudioDevice {
    /// What the system calls it.
    pub name: String,
    /// `input` (microphones, line-in) or `output` (what `audio.system` records, via its monitor).
    pub direction: String,
    /// The value for an audio node's `device` prop, when the backend has one.
    pub device: Option<String>,
    pub default: bool,
}

/// Lists audio inputs and outputs. Empty when no sound server runs.
pub fn audio_devices() -> Vec<AudioDevice> {
    if gst::init().is_err() {
        return Vec::new();
    }
    let monitor = gst::DeviceMonitor::new();
    monitor.add_filter(Some("Audio/Source"), None);
    monitor.add_filter(Some("Audio/Sink"), None);
    if monitor.start().is_err() {
        return Vec::new();
    }
    let devices = monitor
        .devices()
        .into_iter()
        .map(|d| {
            let props = d.properties();
            let get = |key: &str| props.as_ref().and_then(|p| p.get::<String>(key).ok());
            AudioDevice {
                name: d.display_name().to_string(),
                direction: if d.has_classes("Source") { "input" } else { "output" }.to_owned(),
                // The element the device would create knows its own `device` value.
                device: d
                    .create_element(None)
                    .ok()
                    .filter(|e| e.find_property("device").is_some())
                    .and_then(|e| e.property::<Option<String>>("device"))
                    .or_else(|| get("node.name")),
                default: props.as_ref().and_then(|p| p.get::<bool>("is-default").ok()).unwrap_or(false),
            }
        })
        .collect();
    monitor.stop();
    devices
}

/// Audio encoder elements present: (node kind, element).
pub fn audio_encoders() -> Vec<(String, String)> {
    if gst::init().is_err() {
        return Vec::new();
    }
    [("encode.aac", "avenc_aac"), ("encode.aac", "voaacenc"), ("encode.aac", "fdkaacenc"), ("encode.opus", "opusenc")]
        .into_iter()
        .filter(|(_, e)| gst::ElementFactory::find(e).is_some())
        .map(|(k, e)| (k.to_owned(), e.to_owned()))
        .collect()
}
