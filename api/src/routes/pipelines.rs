//! `/api/v1/pipelines`: list, stats and replay saves.

use super::AppState;
use crate::engine::PipelineSummary;
use crate::problem::{ApiJson, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use clipshot_core::Trigger;
use clipshot_gst::{PipelineStats, SaveError, SaveRequest, SaveSpan};
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::sync::Arc;

pub async fn list(State(state): State<AppState>) -> Json<Vec<PipelineSummary>> {
    Json(state.engine.list())
}

fn find(state: &AppState, id: &str) -> Result<Arc<clipshot_gst::Pipeline>, Problem> {
    state.engine.pipeline(id).ok_or_else(|| Problem::not_found(format!("no pipeline `{id}`")))
}

pub async fn stats(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PipelineStats>, Problem> {
    let p = find(&state, &id)?;
    Ok(Json(tokio::task::spawn_blocking(move || p.stats()).await.map_err(|e| Problem::internal(e.to_string()))?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    /// Seconds before now; the configured `clip_seconds` when omitted.
    pub seconds: Option<f64>,
    /// Seconds after now to wait for and include.
    #[serde(default)]
    pub post_seconds: f64,
    pub title: Option<String>,
}

/// A saved clip, as the API returns it.
#[derive(Debug, Serialize)]
pub struct ClipResponse {
    pub id: String,
    pub title: Option<String>,
    #[serde(flatten)]
    pub saved: clipshot_core::event::ClipSaved,
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SaveBody>,
) -> Result<(StatusCode, Json<ClipResponse>), Problem> {
    let p = find(&state, &id)?;
    let seconds = body.seconds.unwrap_or(state.config.clip_seconds);
    let request = SaveRequest {
        ring: None,
        span: SaveSpan::Last { seconds, post_seconds: body.post_seconds },
        trigger: Trigger::Api,
    };
    let clip = tokio::task::spawn_blocking(move || p.save(&request))
        .await
        .map_err(|e| Problem::internal(e.to_string()))?
        .map_err(save_problem)?;
    let id = clip.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok((StatusCode::CREATED, Json(ClipResponse { id, title: body.title, saved: clip.event() })))
}

fn save_problem(e: SaveError) -> Problem {
    let detail = e.to_string();
    match &e {
        SaveError::InvalidSpan(_) => Problem::unprocessable(detail, Vec::new()),
        SaveError::NoMarker(_) => Problem::not_found(detail),
        SaveError::NoRing(_) | SaveError::Snapshot(_) => Problem::new(StatusCode::CONFLICT, "not-ready", detail),
        SaveError::Write(clipshot_replay::SaveError::Write { source, .. })
            if source.kind() == ErrorKind::StorageFull =>
        {
            Problem::new(StatusCode::INSUFFICIENT_STORAGE, "disk-full", detail)
        }
        SaveError::Write(_) | SaveError::Folder(_) => Problem::internal(detail),
    }
}
