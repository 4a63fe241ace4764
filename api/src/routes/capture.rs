//! `/api/v1/capture`: what this machine can record from, and encode with.

use super::{AppState, blocking};
use crate::problem::Problem;
use axum::Json;
use axum::extract::State;
use clipshot_runtime::media::{self, AudioDevice, Display, EncoderInfo, Window};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSource {
    pub kind: String,
    pub summary: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaptureSources {
    pub displays: Vec<Display>,
    pub windows: Vec<Window>,
    pub audio_devices: Vec<AudioDevice>,
    pub test_sources: Vec<TestSource>,
    /// Why displays or windows could not be listed, if they could not.
    pub display_error: Option<String>,
}

/// Displays, windows and audio devices found on this machine, and the test sources.
#[utoipa::path(get, path = "/api/v1/capture/sources", tag = "capture", responses((status = 200, body = CaptureSources)))]
pub async fn sources(State(state): State<AppState>) -> Result<Json<CaptureSources>, Problem> {
    let registry = state.engine.registry();
    let test_sources = ["capture.test", "capture.file", "audio.test"]
        .iter()
        .filter_map(|k| registry.get(k))
        .map(|k| TestSource { kind: k.descriptor().kind.clone(), summary: k.descriptor().summary.clone() })
        .collect();
    let (screens, audio_devices) = blocking(|| (media::screens(), media::audio_devices())).await?;
    let (displays, windows, display_error) = match screens {
        Ok((d, w)) => (d, w, None),
        Err(e) => (Vec::new(), Vec::new(), Some(e)),
    };
    Ok(Json(CaptureSources { displays, windows, audio_devices, test_sources, display_error }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AudioEncoder {
    pub kind: String,
    pub element: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Encoders {
    /// H.264 encoders, best first; `usable` after a trial encode.
    pub video: Vec<EncoderInfo>,
    pub audio: Vec<AudioEncoder>,
}

/// Encoders present, hardware and software.
#[utoipa::path(get, path = "/api/v1/capture/encoders", tag = "capture", responses((status = 200, body = Encoders)))]
pub async fn encoders() -> Result<Json<Encoders>, Problem> {
    let (video, audio) = blocking(|| (media::h264_encoders(), media::audio_encoders())).await?;
    let audio = audio.into_iter().map(|(kind, element)| AudioEncoder { kind, element }).collect();
    Ok(Json(Encoders { video, audio }))
}
