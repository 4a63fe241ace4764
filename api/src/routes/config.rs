//! `/api/v1/config`: the live configuration; changes are validated as a
//! whole, persisted, and applied at once where the engine allows.

use super::AppState;
use crate::config::{Config, FieldProblem, NEEDS_RESTART};
use crate::problem::{ApiJson, Problem};
use axum::Json;
use axum::extract::State;
use clipshot_core::{Event, EventSink};
use serde::Serialize;
use utoipa::ToSchema;

/// Where persisted changes live in the settings table.
pub const SETTINGS_KEY: &str = "config";

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigView {
    pub config: Config,
    /// Where the API token is (the token itself is never served).
    pub token_path: String,
    /// Keys changed by the last PATCH that take effect at the next start.
    pub restart_required: Vec<String>,
    /// Keys only the file, the environment or flags may change (a PATCH
    /// naming one is refused).
    pub read_only: Vec<&'static str>,
}

/// What a secret setting reads as; sent back unchanged, it changes nothing.
const REDACTED: &str = "********";

fn view(mut config: Config, restart_required: Vec<String>) -> ConfigView {
    // Secrets are never served.
    if config.obs_websocket_password.is_some() {
        config.obs_websocket_password = Some(REDACTED.into());
    }
    ConfigView {
        token_path: config.token_path().display().to_string(),
        config,
        restart_required,
        read_only: crate::config::NOT_PATCHABLE.to_vec(),
    }
}

/// The configuration in effect.
#[utoipa::path(get, path = "/api/v1/config", tag = "config", responses((status = 200, body = ConfigView)))]
pub async fn get(State(state): State<AppState>) -> Json<ConfigView> {
    Json(view(state.config.read().clone(), Vec::new()))
}

/// Changes settings (a JSON merge patch: `null` restores a default).
/// Everything is checked first: one bad value answers 422 listing every
/// problem, and nothing changes. `data_dir`, `host` and `port` are not
/// changeable over HTTP.
#[utoipa::path(patch, path = "/api/v1/config", tag = "config",
    request_body(content = Object, description = "Settings to change", example = json!({"clip_seconds": 20, "hotkey": "Ctrl+F9"})),
    responses((status = 200, body = ConfigView),
        (status = 422, description = "Every problem; nothing changed", body = Problem, content_type = "application/problem+json")))]
pub async fn patch(
    State(state): State<AppState>,
    ApiJson(mut patch): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<ConfigView>, Problem> {
    // A client that sends back what it read keeps the secret it could not see.
    if patch.get("obs_websocket_password").and_then(|v| v.as_str()) == Some(REDACTED) {
        patch.remove("obs_websocket_password");
    }
    let current = state.config.read().clone();
    let next = current.patched(&patch).map_err(|problems: Vec<FieldProblem>| {
        Problem::unprocessable(
            format!("{} problem(s) with the configuration; nothing changed", problems.len()),
            problems.iter().map(|p| serde_json::to_value(p).expect("a problem serializes")).collect(),
        )
    })?;
    // Persist first: a change that would not survive a restart is not made.
    let mut saved = state.store.setting(SETTINGS_KEY).await?.unwrap_or_else(|| serde_json::json!({}));
    for (key, value) in &patch {
        if value.is_null() {
            saved.as_object_mut().map(|o| o.remove(key));
        } else {
            saved[key] = value.clone();
        }
    }
    state.store.set_setting(SETTINGS_KEY, &saved).await?;

    if next.log_filter() != current.log_filter() {
        (state.log.0)(&next.log_filter()).map_err(Problem::internal)?;
    }
    crate::problem::set_debug(next.debug);
    *state.config.write() = next.clone();
    state.engine.reconfigure(next.engine_settings());
    state.guard.set_allowed(&next.allowed_hosts, next.cors_origins.clone());
    if next.hotkey != current.hotkey {
        let hotkey = std::sync::Arc::clone(&state.hotkey);
        let binding = next.hotkey.clone();
        super::blocking(move || hotkey.lock().rebind(&binding)).await?;
    }
    let mut keys: Vec<String> = patch.keys().cloned().collect();
    keys.sort();
    state.engine.events().emit(Event::ConfigChanged { keys: keys.clone() });
    let restart = keys.into_iter().filter(|k| NEEDS_RESTART.contains(&k.as_str())).collect();
    Ok(Json(view(next, restart)))
}
