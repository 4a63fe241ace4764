//! `GET /health`: liveness for scripts and frontends (no token needed).

use super::AppState;
use axum::Json;
use axum::extract::State;
use clipshot_core::{Degradation, PipelineState};
use clipshot_runtime::HotkeyStatus;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when a pipeline is in error or runs without one
    /// of its optional parts (see `reasons`).
    pub status: &'static str,
    /// Why it is degraded, one line per cause (`node `desktop-audio`
    /// (audio.system, pulsesrc): PulseAudio/PipeWire not reachable (…):
    /// recording video only`). Empty when `ok`.
    pub reasons: Vec<String>,
    pub version: &'static str,
    pub pipelines: Vec<PipelineHealth>,
    pub hotkey: HotkeyStatus,
    /// Why the default pipeline is a fallback, when it is.
    pub fallback: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineHealth {
    pub id: String,
    pub state: PipelineState,
    /// The error, naming its node, when the pipeline is in error.
    pub error: Option<String>,
    /// Optional parts that do not run, and substitutes in use.
    pub degraded: Vec<Degradation>,
}

/// Liveness for scripts and frontends; needs no token.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let pipelines = pipeline_health(&state);
    let reasons = reasons(&pipelines);
    Json(Health {
        status: if reasons.is_empty() { "ok" } else { "degraded" },
        reasons,
        version: env!("CARGO_PKG_VERSION"),
        pipelines,
        hotkey: state.hotkey.lock().status(),
        fallback: state.engine.fallback(),
    })
}

/// One line per cause: pipelines in error, then what runs short.
pub(crate) fn reasons(pipelines: &[PipelineHealth]) -> Vec<String> {
    let errors = pipelines.iter().filter(|p| p.state == PipelineState::Error).map(|p| match &p.error {
        Some(e) => format!("pipeline `{}` is in error: {e}", p.id),
        None => format!("pipeline `{}` is in error", p.id),
    });
    let short = pipelines.iter().flat_map(|p| p.degraded.iter().map(move |d| format!("pipeline `{}`: {d}", p.id)));
    errors.chain(short).collect()
}

/// The same report for every pipeline the engine runs.
pub(crate) fn pipeline_health(state: &AppState) -> Vec<PipelineHealth> {
    state
        .engine
        .list()
        .into_iter()
        .map(|p| {
            let error = (p.state == PipelineState::Error)
                .then(|| state.engine.pipeline(&p.id).and_then(|x| x.stats().message))
                .flatten();
            PipelineHealth { id: p.id, state: p.state, error, degraded: p.degraded }
        })
        .collect()
}
