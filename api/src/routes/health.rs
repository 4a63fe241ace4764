//! `GET /health`: liveness for scripts and frontends (no token needed).

use super::AppState;
use axum::Json;
use axum::extract::State;
use clipshot_core::PipelineState;
use clipshot_runtime::HotkeyStatus;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when a pipeline is in error.
    pub status: &'static str,
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
}

/// Liveness for scripts and frontends; needs no token.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let pipelines: Vec<PipelineHealth> =
        state.engine.list().into_iter().map(|p| PipelineHealth { id: p.id, state: p.state }).collect();
    let degraded = pipelines.iter().any(|p| p.state == PipelineState::Error);
    Json(Health {
        status: if degraded { "degraded" } else { "ok" },
        version: env!("CARGO_PKG_VERSION"),
        pipelines,
        hotkey: state.hotkey.lock().status(),
        fallback: state.engine.fallback(),
    })
}
