//! `/api/v1/metadata`: technical metadata of a clip, and its regeneration.

use super::clips::{find, make_thumbnail};
use super::{AppState, blocking};
use crate::problem::Problem;
use crate::store::{Clip, Measured, StoredMarker};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ClipMetadata {
    pub clip_id: String,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fps: Option<f64>,
    pub duration_s: f64,
    pub size_bytes: i64,
    pub tags: Vec<String>,
    /// Highlight score, once a model scored the clip.
    pub score: Option<f64>,
    /// Markers inside the clip's span.
    pub markers: Vec<StoredMarker>,
    pub missing: bool,
    /// For a clip highlight detection saved or scored: its best highlight.
    pub highlight: Option<HighlightSummary>,
    /// The fused highlight score over the clip, seconds from its start: the
    /// whole curve for an auto-clip, each highlight's peak for a clip an AI
    /// task scored, empty for clips nothing scored.
    pub score_timeline: Vec<TimelinePoint>,
}

/// The best highlight in a clip.
#[derive(Debug, Serialize, ToSchema)]
pub struct HighlightSummary {
    pub score: f32,
    /// The detector that contributed most at the peak.
    pub label: String,
    /// Seconds from the clip's start; the thumbnail is taken here.
    pub peak_s: f64,
    /// Highlights in the clip.
    pub highlights: usize,
}

/// One point of a clip's score timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePoint {
    /// Seconds from the clip's start.
    pub t_s: f64,
    pub score: f32,
    /// The detectors that fired, at a highlight's peak.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<String>,
}

/// Seconds from the clip's start of a time on its pipeline's timeline.
pub fn clip_seconds(clip: &Clip, at_ns: i64) -> f64 {
    ((at_ns - clip.span_start_ns) as f64 / 1e9).clamp(0.0, clip.duration_s.max(0.0))
}

async fn build(state: &AppState, clip: Clip) -> Result<ClipMetadata, Problem> {
    let markers =
        state.store.markers_between(&clip.pipeline, &clip.session, clip.span_start_ns, clip.span_end_ns).await?;
    let highlight = clip.score_detail.as_ref().map(|d| HighlightSummary {
        score: d.score,
        label: d.label.clone(),
        peak_s: clip_seconds(&clip, d.peak_ns),
        highlights: d.highlights,
    });
    let score_timeline = clip
        .score_detail
        .as_ref()
        .map(|d| {
            d.timeline
                .iter()
                .map(|p| TimelinePoint {
                    t_s: clip_seconds(&clip, p.at_ns),
                    score: p.score,
                    detectors: p.detectors.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ClipMetadata {
        highlight,
        score_timeline,
        clip_id: clip.id,
        video_codec: clip.video_codec,
        audio_codec: clip.audio_codec,
        width: clip.width,
        height: clip.height,
        fps: clip.fps,
        duration_s: clip.duration_s,
        size_bytes: clip.size_bytes,
        tags: clip.tags,
        score: clip.score,
        markers,
        missing: clip.missing,
    })
}

/// Measures the file and stores what it found.
pub async fn measure(state: &AppState, clip: &Clip) -> Result<(), Problem> {
    let file = clip.file();
    let info = blocking(move || {
        let size = std::fs::metadata(&file).map(|m| m.len() as i64).ok();
        clipshot_runtime::media::media_info(&file).map(|i| (i, size))
    })
    .await?
    .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "undecodable", e.to_string()))?;
    let (info, size) = info;
    let measured = Measured {
        width: info.width.map(i64::from),
        height: info.height.map(i64::from),
        fps: info.fps,
        duration_s: Some(info.duration_s).filter(|d| *d > 0.0),
        size_bytes: size,
    };
    state.store.set_measured(&clip.id, &measured).await?;
    Ok(())
}

/// Codecs, resolution, fps, duration, size, tags, score and markers.
#[utoipa::path(get, path = "/api/v1/metadata/{clip_id}", tag = "metadata", params(("clip_id" = String, Path)),
    responses((status = 200, body = ClipMetadata), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(clip_id): Path<String>) -> Result<Json<ClipMetadata>, Problem> {
    let mut clip = find(&state, &clip_id).await?;
    if clip.width.is_none() && !clip.missing {
        measure(&state, &clip).await?;
        clip = find(&state, &clip_id).await?;
    }
    Ok(Json(build(&state, clip).await?))
}

/// Recomputes the thumbnail and the technical metadata from the file.
#[utoipa::path(post, path = "/api/v1/metadata/{clip_id}/generate", tag = "metadata", params(("clip_id" = String, Path)),
    responses((status = 200, body = ClipMetadata), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The file vanished from disk", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The file cannot be decoded", body = Problem, content_type = "application/problem+json")))]
pub async fn generate(
    State(state): State<AppState>,
    Path(clip_id): Path<String>,
) -> Result<Json<ClipMetadata>, Problem> {
    let clip = find(&state, &clip_id).await?;
    if clip.missing {
        return Err(Problem::new(
            StatusCode::GONE,
            "clip-file-missing",
            format!("the file of clip `{clip_id}` is missing"),
        ));
    }
    measure(&state, &clip).await?;
    make_thumbnail(&state, &clip).await?;
    Ok(Json(build(&state, find(&state, &clip_id).await?).await?))
}
