//! `/api/v1/plugins`: the installed plugins and their lifecycle — install,
//! load, unload, reload, enable, disable, config, permissions, health.
//!
//! A refused load answers 422 whose `type` names the reason
//! (`…/problems/plugin-hash`, `plugin-abi`, `plugin-permission`,
//! `plugin-dependency`, `plugin-platform`, …) and whose `problems` list each
//! one; the daemon and every pipeline go on as they were.

use super::{AppState, blocking};
use crate::problem::{ApiJson, Problem};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use clipshot_runtime::EngineError;
use clipshot_runtime::plugin::{
    NodeStats, Permission, PermissionState, PluginConfig, PluginError, PluginHealth, PluginInfo, PluginType,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// A plugin error as a problem document.
pub(crate) fn plugin_problem(e: PluginError) -> Problem {
    let code = e.code();
    match &e {
        PluginError::NotFound(_) => Problem::not_found(e.to_string()),
        PluginError::Disabled(_) => Problem::new(StatusCode::CONFLICT, "plugin-disabled", e.to_string()),
        // The daemon's own trouble, not the plugin's: a server error.
        PluginError::Io(_)
        | PluginError::Library { error: clipshot_runtime::plugin::LoadError::Io(_), .. }
        | PluginError::Archive(clipshot_runtime::plugin::archive::ArchiveError::Io(_)) => {
            Problem::internal(e.to_string())
        }
        PluginError::Host { .. } => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "plugin-host", e.to_string()),
        PluginError::Manifest(m) => {
            let problems = m
                .problems()
                .iter()
                .map(|p| serde_json::json!({"location": p.pointer, "code": "manifest", "message": p.message}))
                .collect();
            Problem { problems, ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin-manifest", e.to_string()) }
        }
        PluginError::Config { problems, .. } => {
            let problems = problems
                .iter()
                .map(|p| serde_json::json!({"location": "/config", "code": "config", "message": p}))
                .collect();
            Problem { problems, ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin-config", e.to_string()) }
        }
        _ => {
            let problems = vec![serde_json::json!({"location": "", "code": code, "message": e.to_string()})];
            Problem {
                problems,
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, &format!("plugin-{code}"), e.to_string())
            }
        }
    }
}

pub(crate) fn engine_plugin_problem(e: EngineError) -> Problem {
    match e {
        EngineError::Plugin(e) => plugin_problem(e),
        EngineError::KindConflict { .. } => Problem::new(StatusCode::CONFLICT, "plugin-kind-conflict", e.to_string()),
        EngineError::PluginInUse { .. } => Problem::new(StatusCode::CONFLICT, "plugin-in-use", e.to_string()),
        other => Problem::internal(other.to_string()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PluginFilter {
    /// Only plugins of this `type` (`core`, `optional`, `ai`, `ui`, `system`).
    #[serde(rename = "type")]
    #[param(value_type = Option<String>)]
    pub kind: Option<PluginType>,
    pub category: Option<String>,
    pub enabled: Option<bool>,
}

/// The installed plugins.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", params(PluginFilter),
    responses((status = 200, body = Vec<PluginInfo>), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    Query(filter): Query<PluginFilter>,
) -> Result<Json<Vec<PluginInfo>>, Problem> {
    let filter = clipshot_runtime::plugin::ListFilter {
        plugin_type: filter.kind,
        category: filter.category,
        enabled: filter.enabled,
    };
    let engine = std::sync::Arc::clone(&state.engine);
    // A folder copied into `plugins_dir` by hand shows up without a restart.
    blocking(move || {
        engine.plugins().discover();
        engine.plugins().list(&filter)
    })
    .await
    .map(Json)
}

/// One plugin.
#[utoipa::path(get, path = "/api/v1/plugins/{id}", tag = "plugins", params(("id" = String, Path)),
    responses((status = 200, body = PluginInfo), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PluginInfo>, Problem> {
    let engine = std::sync::Arc::clone(&state.engine);
    blocking(move || {
        engine.plugins().discover();
        engine.plugins().info(&id)
    })
    .await?
    .map(Json)
    .map_err(plugin_problem)
}

/// Where to install a plugin from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// A `.tar.gz` made by `clipshot plugins pack`: a path on this machine or an `http(s)` URL.
    pub source: String,
    /// The version expected in the archive, if any.
    pub version: Option<String>,
    /// Permissions granted with the install (the user's consent), among those the manifest asks for.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub grant: Vec<Permission>,
}

/// Installs (or updates) a plugin and loads it. The archive is checked
/// whole first (safe extraction, manifest, binary hash); a refused load
/// after a good install is in the answer's `error`.
#[utoipa::path(post, path = "/api/v1/plugins/{id}/install", tag = "plugins", params(("id" = String, Path)),
    request_body = InstallRequest,
    responses((status = 201, body = PluginInfo),
        (status = 422, description = "The archive, its manifest or its binary was refused", body = Problem, content_type = "application/problem+json")))]
pub async fn install(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InstallRequest>,
) -> Result<(StatusCode, Json<PluginInfo>), Problem> {
    let temp = state.config.read().temp_dir();
    let (archive, _guard) = super::marketplace::fetch_archive(&state, &body.source, &temp, None, &id).await?;
    if let Some(version) = &body.version {
        let found = blocking({
            let archive = archive.clone();
            move || clipshot_runtime::plugin::archive::peek_manifest(&archive)
        })
        .await?
        .map_err(|e| plugin_problem(PluginError::Archive(e)))?;
        if found["version"].as_str() != Some(version.as_str()) {
            return Err(Problem::unprocessable(
                format!("the archive holds version {}, not {version}", found["version"]),
                Vec::new(),
            ));
        }
    }
    let engine = std::sync::Arc::clone(&state.engine);
    let info = blocking(move || engine.plugin_install(&archive, Some(&id), &body.grant)).await?;
    info.map(|i| (StatusCode::CREATED, Json(i))).map_err(engine_plugin_problem)
}

/// Uninstalls a plugin that no pipeline uses (409 names those that do).
#[utoipa::path(delete, path = "/api/v1/plugins/{id}", tag = "plugins", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn uninstall(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, Problem> {
    let engine = std::sync::Arc::clone(&state.engine);
    blocking(move || engine.plugin_uninstall(&id)).await?.map_err(engine_plugin_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! lifecycle {
    ($(#[$doc:meta])* $name:ident, $path:literal, $method:ident) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "plugins", params(("id" = String, Path)),
            responses((status = 200, body = PluginInfo),
                (status = 404, body = Problem, content_type = "application/problem+json"),
                (status = 409, body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Refused; the problem's type names why", body = Problem, content_type = "application/problem+json")))]
        pub async fn $name(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PluginInfo>, Problem> {
            let engine = std::sync::Arc::clone(&state.engine);
            blocking(move || engine.$method(&id)).await?.map(Json).map_err(engine_plugin_problem)
        }
    };
}

lifecycle!(
    /// Loads a plugin (dependencies first); its node kinds join the registry.
    load, "/api/v1/plugins/{id}/load", plugin_load
);
lifecycle!(
    /// Stops a plugin's code; pipelines using it keep recording with its nodes bypassed.
    unload, "/api/v1/plugins/{id}/unload", plugin_unload
);
lifecycle!(
    /// Reads the plugin's folder again, loads it, and restarts the pipelines that use it.
    reload, "/api/v1/plugins/{id}/reload", plugin_reload
);
lifecycle!(
    /// Enables a plugin (persisted) and loads it.
    enable, "/api/v1/plugins/{id}/enable", plugin_enable
);
lifecycle!(
    /// Disables a plugin (persisted) and unloads it.
    disable, "/api/v1/plugins/{id}/disable", plugin_disable
);

/// The plugin's config and its JSON Schema.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/config", tag = "plugins", params(("id" = String, Path)),
    responses((status = 200, body = PluginConfig), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_config(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PluginConfig>, Problem> {
    state.engine.plugins().config_of(&id).map(Json).map_err(plugin_problem)
}

/// Replaces the plugin's config; it is validated against the plugin's
/// schema (every problem at once) and a loaded plugin is reloaded with it.
#[utoipa::path(put, path = "/api/v1/plugins/{id}/config", tag = "plugins", params(("id" = String, Path)),
    request_body(content = Object, description = "The config object"),
    responses((status = 200, body = PluginConfig), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(config): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<PluginConfig>, Problem> {
    let engine = std::sync::Arc::clone(&state.engine);
    blocking(move || engine.plugin_set_config(&id, config)).await?.map(Json).map_err(engine_plugin_problem)
}

/// What the plugin asks for, and what is granted.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/permissions", tag = "plugins", params(("id" = String, Path)),
    responses((status = 200, body = BTreeMap<String, PermissionState>), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_permissions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BTreeMap<Permission, PermissionState>>, Problem> {
    state.engine.plugins().permissions(&id).map(Json).map_err(plugin_problem)
}

/// A grant: `true`/`false`, or `{"granted": bool}` as the listing shows it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Grant {
    Flag(bool),
    State { granted: bool },
}

/// Grants or revokes permissions (`{"screen": true}`). A plugin that loses
/// a required one is unloaded; one that gains what it lacked is loaded.
#[utoipa::path(put, path = "/api/v1/plugins/{id}/permissions", tag = "plugins", params(("id" = String, Path)),
    request_body(content = Object, description = "Permission → granted", example = json!({"screen": true})),
    responses((status = 200, body = BTreeMap<String, PermissionState>), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put_permissions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<BTreeMap<Permission, Grant>>,
) -> Result<Json<BTreeMap<Permission, PermissionState>>, Problem> {
    let grants =
        body.into_iter().map(|(p, g)| (p, matches!(g, Grant::Flag(true) | Grant::State { granted: true }))).collect();
    let engine = std::sync::Arc::clone(&state.engine);
    blocking(move || engine.plugin_set_permissions(&id, &grants)).await?.map(Json).map_err(engine_plugin_problem)
}

/// A plugin's health and its running nodes.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    #[serde(flatten)]
    pub health: PluginHealth,
    pub nodes: Vec<NodeStats>,
}

/// Calls, errors, crashes, restarts, time per call (mean and p99), the
/// last error, and each running node's own counters.
#[utoipa::path(get, path = "/api/v1/plugins/{id}/health", tag = "plugins", params(("id" = String, Path)),
    responses((status = 200, body = HealthView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn health(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<HealthView>, Problem> {
    let engine = std::sync::Arc::clone(&state.engine);
    let (health, nodes) = blocking(move || engine.plugins().health(&id)).await?.map_err(plugin_problem)?;
    Ok(Json(HealthView { health, nodes }))
}
