//! `/api/v1/pipelines`: the graphs the engine runs, their lifecycle, replay
//! saves, the ring's timeline and markers.

use super::{AppState, blocking};
use crate::problem::{ApiJson, Problem};
use crate::store::{Clip, SavedPipeline, StoredMarker};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use clipshot_core::{GraphSpec, Trigger};
use clipshot_replay::RingStats;
use clipshot_runtime::presets::PRESETS;
use clipshot_runtime::{
    EngineError, Pipeline, PipelineStats, PipelineSummary, RecordError, RecordingInfo, SaveError, SaveRequest, SaveSpan,
};
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::sync::Arc;
use utoipa::ToSchema;

/// All pipelines.
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines",
    responses((status = 200, body = Vec<PipelineSummary>), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<PipelineSummary>> {
    Json(state.engine.list())
}

fn find(state: &AppState, id: &str) -> Result<Arc<Pipeline>, Problem> {
    state.engine.pipeline(id).ok_or_else(|| Problem::not_found(format!("no pipeline `{id}`")))
}

/// A pipeline with its graph.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineDetail {
    #[serde(flatten)]
    pub summary: PipelineSummary,
    /// Started with the daemon.
    pub autostart: bool,
    /// The graph document (nodes, props, links).
    #[schema(value_type = Object)]
    pub graph: serde_json::Value,
}

async fn detail(state: &AppState, id: &str) -> Result<PipelineDetail, Problem> {
    let p = find(state, id)?;
    let summary = state
        .engine
        .list()
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| Problem::not_found(format!("no pipeline `{id}`")))?;
    let saved = state.store.pipelines().await?;
    let autostart = saved.iter().find(|s| s.id == id).is_some_and(|s| s.autostart) || summary.default;
    let graph = serde_json::to_value(p.graph().spec()).map_err(|e| Problem::internal(e.to_string()))?;
    Ok(PipelineDetail { summary, autostart, graph })
}

/// One pipeline, with its graph.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = PipelineDetail), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PipelineDetail>, Problem> {
    Ok(Json(detail(&state, &id).await?))
}

/// A new pipeline: a graph, or a preset by name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipeline {
    /// The pipeline's id (letters, digits, `-`, `_`); the graph's `name` or
    /// the preset's name when omitted.
    pub id: Option<String>,
    /// A graph document: `name`, `nodes` (`id`, `kind`, `props`) and `links` (`from`, `to`).
    #[schema(value_type = Option<Object>)]
    pub graph: Option<serde_json::Value>,
    /// A preset name (see `GET /api/v1/pipelines/presets`).
    pub preset: Option<String>,
    /// Start it with the daemon.
    #[serde(default)]
    pub autostart: bool,
    /// Start it now (default true).
    #[serde(default = "yes")]
    pub start: bool,
}

fn yes() -> bool {
    true
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Validation problems of a graph, located in the request body.
pub fn graph_problems(errors: &clipshot_core::ValidationErrors, prefix: &str) -> Problem {
    let problems = errors
        .problems
        .iter()
        .map(|p| {
            serde_json::json!({ "location": format!("{prefix}{}", p.location), "code": p.code, "message": p.message })
        })
        .collect();
    Problem::unprocessable(format!("the graph has {} problem(s)", errors.problems.len()), problems)
}

fn engine_problem(e: EngineError) -> Problem {
    match e {
        EngineError::Invalid(errors) => graph_problems(&errors, "/graph"),
        EngineError::Exists(_) => Problem::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        EngineError::Build(clipshot_runtime::BuildError::Invalid(errors)) => graph_problems(&errors, "/graph"),
        EngineError::Build(_) => Problem::new(StatusCode::CONFLICT, "cannot-start", e.to_string()),
        EngineError::DefaultPipeline => Problem::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        EngineError::NoPipeline(_) | EngineError::NoDefault => Problem::not_found(e.to_string()),
        EngineError::Save(e) => save_problem(e),
        EngineError::Record(RecordError::Build(_)) => Problem::internal(e.to_string()),
        EngineError::Record(_) => Problem::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        other => Problem::internal(other.to_string()),
    }
}

/// Creates a pipeline from a graph or a preset, saves it, and starts it
/// unless `start` is false. An invalid graph answers 422 with every problem.
#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines", request_body = CreatePipeline,
    responses((status = 201, body = PipelineDetail),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken, or the pipeline cannot start", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every problem with the graph", body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreatePipeline>,
) -> Result<(StatusCode, Json<PipelineDetail>), Problem> {
    let mut spec = match (&body.graph, &body.preset) {
        (Some(graph), None) => serde_json::from_value::<GraphSpec>(graph.clone()).map_err(|e| {
            Problem::unprocessable(
                "the graph is not a graph document",
                vec![serde_json::json!({ "location": "/graph", "code": "parse", "message": e.to_string() })],
            )
        })?,
        (None, Some(preset)) => {
            let text = PRESETS.iter().find(|(n, _)| n == preset).map(|(_, t)| *t).ok_or_else(|| {
                Problem::unprocessable(
                    format!("no preset named `{preset}`"),
                    vec![serde_json::json!({ "location": "/preset", "code": "unknown_preset",
                        "message": format!("presets: {}", PRESETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")) })],
                )
            })?;
            GraphSpec::from_toml(text).map_err(|e| Problem::internal(e.to_string()))?
        }
        _ => return Err(Problem::bad_request("give exactly one of `graph` and `preset`")),
    };
    if let Some(id) = &body.id {
        spec.name.clone_from(id);
    }
    if !valid_id(&spec.name) {
        return Err(Problem::unprocessable(
            "invalid pipeline id",
            vec![serde_json::json!({ "location": if body.id.is_some() { "/id" } else { "/graph/name" },
                "code": "invalid_id", "message": "1 to 64 letters, digits, `-` or `_`" })],
        ));
    }
    let id = spec.name.clone();
    let engine = Arc::clone(&state.engine);
    let start = body.start;
    let spec_for_engine = spec.clone();
    blocking(move || {
        let p = engine.add(&spec_for_engine)?;
        if start && let Err(e) = engine.start(&p) {
            // Never started, never the default: removing it cannot fail.
            let _ = engine.remove(p.id());
            return Err(e);
        }
        Ok(())
    })
    .await?
    .map_err(engine_problem)?;
    let graph = serde_json::to_value(&spec).map_err(|e| Problem::internal(e.to_string()))?;
    state.store.save_pipeline(&SavedPipeline { id: id.clone(), graph, autostart: body.autostart }).await?;
    Ok((StatusCode::CREATED, Json(detail(&state, &id).await?)))
}

/// Stops and deletes a pipeline. The daemon's default pipeline cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/pipelines/{id}", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, Problem> {
    find(&state, &id)?;
    let engine = Arc::clone(&state.engine);
    let key = id.clone();
    blocking(move || engine.remove(&key)).await?.map_err(engine_problem)?;
    state.store.delete_pipeline(&id).await?;
    super::profiles::forget(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a stopped pipeline.
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/start", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = PipelineSummary), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It failed to start", body = Problem, content_type = "application/problem+json")))]
pub async fn start(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PipelineSummary>, Problem> {
    let p = find(&state, &id)?;
    let engine = Arc::clone(&state.engine);
    blocking(move || engine.start(&p)).await?.map_err(|e| match e {
        // What the graph needs is gone since it was added (a file deleted, an
        // encoder lost): 409, with every problem located in the pipeline's graph.
        EngineError::Build(clipshot_runtime::BuildError::Invalid(errors)) => Problem {
            problems: graph_problems(&errors, "").problems,
            ..Problem::new(StatusCode::CONFLICT, "cannot-start", errors.to_string())
        },
        other => engine_problem(other),
    })?;
    summary(&state, &id)
}

/// Stops a pipeline (its replay ring keeps what it holds).
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/stop", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = PipelineSummary), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn stop(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PipelineSummary>, Problem> {
    let p = find(&state, &id)?;
    blocking(move || p.stop()).await?;
    summary(&state, &id)
}

fn summary(state: &AppState, id: &str) -> Result<Json<PipelineSummary>, Problem> {
    state
        .engine
        .list()
        .into_iter()
        .find(|s| s.id == id)
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("no pipeline `{id}`")))
}

/// Frames, drops, fps, encoders and ring fill per node.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/stats", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = PipelineStats), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn stats(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PipelineStats>, Problem> {
    let p = find(&state, &id)?;
    Ok(Json(blocking(move || p.stats()).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preset {
    pub name: String,
    pub description: String,
    /// The graph document.
    #[schema(value_type = Object)]
    pub graph: serde_json::Value,
}

/// The presets shipped with ClipShot.
#[utoipa::path(get, path = "/api/v1/pipelines/presets", tag = "pipelines", responses((status = 200, body = Vec<Preset>)))]
pub async fn presets() -> Result<Json<Vec<Preset>>, Problem> {
    PRESETS
        .iter()
        .map(|(name, text)| {
            let spec = GraphSpec::from_toml(text).map_err(|e| Problem::internal(e.to_string()))?;
            Ok(Preset {
                name: (*name).to_owned(),
                description: spec.description.clone(),
                graph: serde_json::to_value(&spec).map_err(|e| Problem::internal(e.to_string()))?,
            })
        })
        .collect::<Result<_, _>>()
        .map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    /// Seconds before now (or before the marker); the configured `clip_seconds` when omitted.
    pub seconds: Option<f64>,
    /// Seconds after now (or after the marker) to wait for and include.
    #[serde(default)]
    pub post_seconds: f64,
    pub title: Option<String>,
    /// Save around this marker (`ring_id` from `POST …/markers`) instead of now.
    pub marker: Option<u64>,
    /// Save exactly this span of the ring's timeline (ns, as `GET …/replay`
    /// gives it) instead: `start_ns` and `end_ns` together, nothing else.
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
}

/// Saves a clip from the replay ring: the last `seconds`, plus
/// `post_seconds` after now (the request waits for them).
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/replay/save", tag = "pipelines", params(("id" = String, Path)),
    request_body = SaveBody,
    responses((status = 201, description = "The clip, on disk and recorded", body = Clip),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ring is empty or not ready", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 507, description = "The disk is full", body = Problem, content_type = "application/problem+json")))]
pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SaveBody>,
) -> Result<(StatusCode, Json<Clip>), Problem> {
    let p = find(&state, &id)?;
    let seconds = body.seconds.unwrap_or(state.config.read().clip_seconds);
    let bad = |field: &str, msg: &str| {
        Problem::unprocessable(
            format!("`{field}` {msg}"),
            vec![serde_json::json!({ "location": format!("/{field}"), "code": "out_of_range", "message": msg })],
        )
    };
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err(bad("seconds", "must be more than 0 and at most 3600"));
    }
    if !(0.0..=600.0).contains(&body.post_seconds) {
        return Err(bad("post_seconds", "must be between 0 and 600"));
    }
    let span = match (body.start_ns, body.end_ns) {
        (Some(start_ns), Some(end_ns)) => {
            if body.marker.is_some() || body.seconds.is_some() || body.post_seconds != 0.0 {
                return Err(bad(
                    "start_ns",
                    "is for a span of its own: leave out `seconds`, `post_seconds` and `marker`",
                ));
            }
            // The same bounds as `seconds` and `post_seconds`: a span is at
            // most an hour, and ends at most 600 s from now (the save waits).
            match end_ns.checked_sub(start_ns) {
                Some(len) if len > 0 && len <= 3_600_000_000_000 => {}
                _ => return Err(bad("end_ns", "must be after `start_ns`, by at most 3600 s")),
            }
            let now = p.now_ns(None).unwrap_or(0);
            if end_ns > now.saturating_add(600_000_000_000) {
                return Err(bad("end_ns", "may be at most 600 s after now (`now_ns` of `GET …/replay`)"));
            }
            SaveSpan::Range(clipshot_replay::Span { start_ns, end_ns })
        }
        (None, None) => match body.marker {
            Some(marker) => SaveSpan::Marker { id: marker, pre_seconds: seconds, post_seconds: body.post_seconds },
            None => SaveSpan::Last { seconds, post_seconds: body.post_seconds },
        },
        (Some(_), None) => return Err(bad("end_ns", "must come with `start_ns`")),
        (None, Some(_)) => return Err(bad("start_ns", "must come with `end_ns`")),
    };
    let request = SaveRequest { ring: None, span, trigger: Trigger::Api, score: None };
    let engine = Arc::clone(&state.engine);
    let clip = blocking(move || engine.save(Some(p.id()), &request)).await?.map_err(engine_problem)?;
    let clip = state.store.record_clip(&clip.event(), body.title.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(clip)))
}

/// What a recording writes: `sink.file`'s props (all optional).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingBody {
    /// `mp4` (fragmented, the default) or `mkv`.
    pub format: Option<String>,
    /// Folder; `<data dir>/recordings` by default.
    pub dir: Option<String>,
    /// MP4 fragment length in seconds (what a crash can lose at most).
    pub fragment_s: Option<f64>,
}

/// Starts recording the pipeline to a new file, beside its replay ring and
/// with the same encoders (OBS's "Start Recording" with a replay buffer on).
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/recording", tag = "pipelines", params(("id" = String, Path)),
    request_body(content = RecordingBody, description = "Optional; `{}` for the defaults"),
    responses((status = 201, description = "Recording", body = RecordingInfo),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already recording, or the pipeline is not running", body = Problem, content_type = "application/problem+json")))]
pub async fn start_recording(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RecordingInfo>), Problem> {
    let p = find(&state, &id)?;
    // The body is optional: none means the defaults.
    let body: RecordingBody = if body.iter().all(u8::is_ascii_whitespace) {
        RecordingBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "bad-request", e.to_string()))?
    };
    let mut props = clipshot_core::Props::new();
    if let Some(f) = body.format {
        props.insert("format".into(), f.into());
    }
    if let Some(d) = body.dir {
        props.insert("dir".into(), d.into());
    }
    if let Some(s) = body.fragment_s {
        props.insert("fragment_s".into(), s.into());
    }
    let engine = Arc::clone(&state.engine);
    let pid = p.id().to_owned();
    blocking(move || engine.start_recording(Some(&pid), props)).await?.map_err(engine_problem)?;
    let info = p.recording().ok_or_else(|| Problem::internal("the recording ended at once"))?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// The recording that runs.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/recording", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = RecordingInfo),
        (status = 404, description = "No such pipeline, or it is not recording", body = Problem, content_type = "application/problem+json")))]
pub async fn recording(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RecordingInfo>, Problem> {
    find(&state, &id)?
        .recording()
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("pipeline `{id}` is not recording")))
}

/// Ends the recording; the answer says what it wrote.
#[utoipa::path(delete, path = "/api/v1/pipelines/{id}/recording", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = RecordingInfo),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not recording", body = Problem, content_type = "application/problem+json")))]
pub async fn stop_recording(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RecordingInfo>, Problem> {
    let p = find(&state, &id)?;
    let engine = Arc::clone(&state.engine);
    let pid = p.id().to_owned();
    Ok(Json(blocking(move || engine.stop_recording(Some(&pid))).await?.map_err(engine_problem)?))
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

/// The ring's contents and timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayStatus {
    pub pipeline: String,
    pub stats: RingStats,
    pub max_seconds: f64,
    pub max_bytes: u64,
    /// "Now" on the ring's timeline, nanoseconds.
    pub now_ns: Option<i64>,
    /// Where a clip can start: keyframe times, oldest first.
    pub keyframes_ns: Vec<i64>,
    pub markers: Vec<RingMarker>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RingMarker {
    /// The id a save's `marker` takes.
    pub ring_id: u64,
    pub at_ns: i64,
    pub label: Option<String>,
}

/// Ring status and timeline: keyframe boundaries and markers.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/replay", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = ReplayStatus), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The pipeline has no replay ring", body = Problem, content_type = "application/problem+json")))]
pub async fn replay(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ReplayStatus>, Problem> {
    let p = find(&state, &id)?;
    let ring = p.ring(None).ok_or_else(|| {
        Problem::new(StatusCode::CONFLICT, "no-ring", format!("pipeline `{id}` has no single replay ring"))
    })?;
    let config = ring.config();
    Ok(Json(ReplayStatus {
        pipeline: id,
        stats: ring.stats(),
        max_seconds: config.max_seconds,
        max_bytes: config.max_bytes,
        now_ns: p.now_ns(None),
        keyframes_ns: ring.keyframes(),
        markers: ring
            .markers()
            .into_iter()
            .map(|m| RingMarker { ring_id: m.id, at_ns: m.at_ns, label: m.label })
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkerBody {
    /// A time on the ring's timeline (ns); now when omitted.
    pub at_ns: Option<i64>,
    /// Seconds relative to now (negative: in the past); ignored with `at_ns`.
    pub offset_s: Option<f64>,
    pub label: Option<String>,
}

/// Puts a marker at now (or a given time) that a later save can target.
#[utoipa::path(post, path = "/api/v1/pipelines/{id}/markers", tag = "pipelines", params(("id" = String, Path)),
    request_body = MarkerBody,
    responses((status = 201, body = StoredMarker), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn add_marker(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<StoredMarker>), Problem> {
    // The body is optional: an empty one puts the marker at now.
    let body: MarkerBody = if body.iter().all(u8::is_ascii_whitespace) {
        MarkerBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Problem::unprocessable(e.to_string(), Vec::new()),
            _ => Problem::bad_request(e.to_string()),
        })?
    };
    let p = find(&state, &id)?;
    let at = match (body.at_ns, body.offset_s) {
        (Some(at), _) => Some(at),
        (None, Some(offset)) => p.now_ns(None).map(|now| now + (offset * 1e9) as i64),
        (None, None) => None,
    };
    let label = body.label;
    let marker = blocking(move || p.add_marker(None, at, label)).await?.map_err(save_problem)?;
    Ok((StatusCode::CREATED, Json(state.store.add_marker(&id, &marker).await?)))
}

/// The live preview: the newest frame of the pipeline's `video.preview`
/// node, as a JPEG. Poll it (the shipped presets refresh it twice a second).
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/preview", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, description = "The newest preview frame", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, description = "No such pipeline, or it has no `video.preview` node", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No frame has reached the preview yet (the pipeline is starting or stopped)", body = Problem, content_type = "application/problem+json")))]
pub async fn preview(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Problem> {
    let p = find(&state, &id)?;
    let node = p.graph().spec().nodes.iter().find(|n| n.kind == "video.preview").map(|n| n.id.clone());
    let Some(node) = node else {
        return Err(Problem::not_found(format!("pipeline `{id}` has no `video.preview` node")));
    };
    let image = p.image(Some(&node)).ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-preview-yet",
            format!("pipeline `{id}` has not shown a frame yet"),
        )
    })?;
    Ok((
        [(header::CONTENT_TYPE, image.content_type.clone()), (header::CACHE_CONTROL, "no-store".to_owned())],
        image.data.to_vec(),
    )
        .into_response())
}
