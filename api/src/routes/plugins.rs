//! `/api/v1/plugins`: the plugins installed in `plugins_dir`.
//!
//! This build has no plugin host yet: plugins are discovered (each
//! `<plugins_dir>/<id>/manifest.json` is read and checked for the fields the
//! listing shows) but never loaded, and each says so in `state`.

use super::{AppState, blocking};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// A plugin as its manifest describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PluginSummary {
    pub id: String,
    pub name: String,
    pub version: String,
    /// `core`, `optional`, … as the manifest says.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub category: Option<String>,
    /// By language tag (`en`, …).
    pub description: BTreeMap<String, String>,
    /// `discovered` (found and readable; this build loads no plugins yet) or
    /// `invalid` (the manifest is unusable; `error` says why).
    pub state: &'static str,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    id: String,
    name: String,
    version: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    category: Option<String>,
    #[serde(default)]
    description: BTreeMap<String, String>,
}

fn discover(dir: &std::path::Path) -> Vec<PluginSummary> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PluginSummary> = entries
        .flatten()
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| {
            let folder = e.file_name().to_string_lossy().into_owned();
            let manifest = std::fs::read_to_string(e.path().join("manifest.json"))
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str::<Manifest>(&text).map_err(|e| e.to_string()));
            match manifest {
                Ok(m) => PluginSummary {
                    id: m.id,
                    name: m.name,
                    version: m.version,
                    kind: m.kind,
                    category: m.category,
                    description: m.description,
                    state: "discovered",
                    error: None,
                },
                Err(error) => PluginSummary {
                    id: folder.clone(),
                    name: folder,
                    version: String::new(),
                    kind: None,
                    category: None,
                    description: BTreeMap::new(),
                    state: "invalid",
                    error: Some(format!("manifest.json: {error}")),
                },
            }
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PluginFilter {
    /// Only plugins of this `type`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub category: Option<String>,
}

/// Plugins found in `plugins_dir`.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins", params(PluginFilter),
    responses((status = 200, body = Vec<PluginSummary>), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    Query(filter): Query<PluginFilter>,
) -> Result<Json<Vec<PluginSummary>>, Problem> {
    let dir = state.config.read().plugins_dir();
    let all = blocking(move || discover(&dir)).await?;
    Ok(Json(
        all.into_iter()
            .filter(|p| filter.kind.as_ref().is_none_or(|k| p.kind.as_ref() == Some(k)))
            .filter(|p| filter.category.as_ref().is_none_or(|c| p.category.as_ref() == Some(c)))
            .collect(),
    ))
}

/// One plugin.
#[utoipa::path(get, path = "/api/v1/plugins/{id}", tag = "plugins", params(("id" = String, Path)),
    responses((status = 200, body = PluginSummary), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PluginSummary>, Problem> {
    let dir = state.config.read().plugins_dir();
    let all = blocking(move || discover(&dir)).await?;
    all.into_iter().find(|p| p.id == id).map(Json).ok_or_else(|| Problem::not_found(format!("no plugin `{id}`")))
}
