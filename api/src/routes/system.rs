//! `/api/v1/system`: component health, metrics and the event stream; `/metrics`.

use super::{AppState, blocking};
use crate::metrics::SystemMetrics;
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use clipshot_runtime::Stamped;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `ok`, `degraded`, `down`, `disabled` (the hotkey without a display),
    /// or `not_installed` (a subsystem this build does not have yet).
    pub status: &'static str,
    pub detail: Option<String>,
    /// The component's own version, where it has one.
    pub version: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemHealth {
    /// The worst status of the pipelines and the database (highlight
    /// detection's parts are reported beside it: recording does not need them).
    pub status: &'static str,
    /// The daemon's version.
    pub version: &'static str,
    pub pipelines: ComponentHealth,
    pub database: ComponentHealth,
    /// Highlight detection's ONNX Runtime: `ok` with its version, or `down`
    /// and why (recording goes on without it; not part of `status`).
    pub ai_runtime: ComponentHealth,
    /// The GPU that preprocesses for the models: `ok` with the adapter, or
    /// `disabled` (the CPU path) and why; not part of `status`.
    pub gpu: ComponentHealth,
    /// Plugins: `ok` with how many run, `degraded` while one is restarting
    /// after a crash or was disabled by crashes (recording goes on without
    /// their nodes; not part of `status`).
    pub plugins: ComponentHealth,
    pub hotkey: ComponentHealth,
}

fn component(status: &'static str, detail: Option<String>) -> ComponentHealth {
    ComponentHealth { status, detail, version: None }
}

/// Health of each component.
#[utoipa::path(get, path = "/api/v1/system/health", tag = "system",
    responses((status = 200, body = SystemHealth), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn health(State(state): State<AppState>) -> Json<SystemHealth> {
    let reasons = super::health::reasons(&super::health::pipeline_health(&state));
    let pipelines = if reasons.is_empty() {
        component("ok", state.engine.fallback())
    } else {
        component("degraded", Some(reasons.join("; ")))
    };
    let database = match state.store.sqlite_version().await {
        Ok(version) => ComponentHealth { version: Some(format!("SQLite {version}")), ..component("ok", None) },
        Err(e) => component("down", Some(e.to_string())),
    };
    let hotkey = state.hotkey.lock().status();
    // An inactive hotkey is a state (headless, or none configured), not a fault.
    let hotkey = component(if hotkey.active { "ok" } else { "disabled" }, hotkey.reason);
    let parts = [&pipelines, &database];
    let status = if parts.iter().any(|c| c.status == "down") {
        "down"
    } else if parts.iter().any(|c| c.status != "ok") {
        "degraded"
    } else {
        "ok"
    };
    let ai = Arc::clone(&state.ai);
    let (ai_runtime, gpu) = blocking(move || {
        let runtime = match ai.runtime() {
            Ok(rt) => {
                ComponentHealth { version: Some(format!("ONNX Runtime {}", rt.version)), ..component("ok", None) }
            }
            Err(e) => component("down", Some(e.to_string())),
        };
        let gpu = match ai.preprocessor() {
            clipshot_gpu::Preprocessor::Gpu(g) => ComponentHealth {
                version: Some(g.info().driver.clone()),
                ..component("ok", Some(format!("{} ({}, {})", g.info().name, g.info().backend, g.info().device_type)))
            },
            clipshot_gpu::Preprocessor::Cpu { reason } => {
                component("disabled", Some(format!("preprocessing on the CPU: {reason}")))
            }
        };
        (runtime, gpu)
    })
    .await
    .unwrap_or_else(|_| (component("down", Some("the check failed".into())), component("down", None)));
    let totals = state.engine.plugins().totals();
    let plugins = component(
        if totals.crashed > 0 { "degraded" } else { "ok" },
        Some(format!("{} installed, {} active, {} crashed", totals.total, totals.active, totals.crashed)),
    );
    Json(SystemHealth {
        status,
        version: env!("CARGO_PKG_VERSION"),
        pipelines,
        database,
        ai_runtime,
        gpu,
        plugins,
        hotkey,
    })
}

/// Process and per-pipeline metrics, as JSON.
#[utoipa::path(get, path = "/api/v1/system/metrics", tag = "system",
    responses((status = 200, body = SystemMetrics), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Json<SystemMetrics>, Problem> {
    let (engine, metrics, uptime) = (Arc::clone(&state.engine), Arc::clone(&state.metrics), state.started.elapsed());
    let ai = Arc::clone(&state.ai);
    Ok(Json(blocking(move || metrics.snapshot(&engine, &ai, uptime)).await?))
}

/// Prometheus text exposition (no token: scrapers, and nothing here changes state).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn prometheus(State(state): State<AppState>) -> Result<Response, Problem> {
    let (engine, metrics, uptime) = (Arc::clone(&state.engine), Arc::clone(&state.metrics), state.started.elapsed());
    let ai = Arc::clone(&state.ai);
    let text = blocking(move || metrics.render(&metrics.snapshot(&engine, &ai, uptime))).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated event types to receive (`clip.saved,pipeline.state`);
    /// a trailing `*` matches a family (`clip.*`). All when omitted.
    pub types: Option<String>,
    /// The original design's name for `types` (both may be given).
    pub event_type: Option<String>,
    /// The API token, for `EventSource`, which cannot send headers.
    pub access_token: Option<String>,
}

fn wanted(filter: &[String], name: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| match f.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => f == name,
        })
}

fn sse_event(e: &Stamped) -> SseEvent {
    let data = serde_json::to_value(&e.event).map(|v| v["data"].clone()).unwrap_or_default();
    SseEvent::default().id(e.id.to_string()).event(e.event.name()).data(data.to_string())
}

/// Server-Sent Events: every engine event, typed (`event:` is the dotted
/// name, `data:` its JSON), resumable with `Last-Event-ID`.
///
/// A client that reconnects gets the events it missed from a bounded
/// backlog; if some fell out of it, a `stream.gap` event says how many. A
/// client that reads too slowly skips ahead the same way. Comments every
/// 15 s keep proxies from closing an idle stream.
#[utoipa::path(get, path = "/api/v1/system/events", tag = "system", params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "An SSE stream", content_type = "text/event-stream", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn events(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<EventsQuery>) -> Response {
    let filter: Arc<Vec<String>> = Arc::new(
        q.types
            .iter()
            .chain(&q.event_type)
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
    );
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let sub = state.engine.events().subscribe(after);
    let gap = |n: u64| SseEvent::default().event("stream.gap").data(format!("{{\"missed\":{n}}}"));
    let head: Vec<Result<SseEvent, Infallible>> = (sub.missed > 0)
        .then(|| gap(sub.missed))
        .into_iter()
        .chain(sub.replay.iter().filter(|e| wanted(&filter, e.event.name())).map(|e| sse_event(e)))
        .map(Ok)
        .collect();
    let live_filter = Arc::clone(&filter);
    let live = BroadcastStream::new(sub.live).filter_map(move |item| match item {
        Ok(e) => wanted(&live_filter, e.event.name()).then(|| Ok(sse_event(&e))),
        Err(BroadcastStreamRecvError::Lagged(n)) => Some(Ok(gap(n))),
    });
    Sse::new(tokio_stream::iter(head).chain(live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("heartbeat"))
        .into_response()
}

/// The OpenAPI document (the original design's route; `/openapi.json` serves
/// the same without a token).
#[utoipa::path(get, path = "/api/v1/system/openapi", tag = "system",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object),
        (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::server::openapi())
}
