//! Game profiles: the ones this daemon can use (`GET /api/v1/ai/profiles`)
//! and the one a pipeline's analysis runs with
//! (`GET`/`PUT /api/v1/pipelines/{id}/profile`). Switching takes effect at
//! the analysis nodes' next input: recording, the ring and its clips go on.

use super::AppState;
use crate::problem::{ApiJson, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use clipshot_analysis::profile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Settings key: pipeline id → the profile chosen over the API.
pub const SETTINGS_KEY: &str = "pipeline_profiles";

/// One read-modify-write of the saved choices at a time.
static SAVING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn saved(state: &AppState) -> Result<BTreeMap<String, String>, Problem> {
    Ok(state.store.setting(SETTINGS_KEY).await?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
}

/// Forgets the profile chosen for a deleted pipeline.
pub async fn forget(state: &AppState, id: &str) -> Result<(), Problem> {
    let _turn = SAVING.lock().await;
    let mut chosen = saved(state).await?;
    if chosen.remove(id).is_some() {
        state.store.set_setting(SETTINGS_KEY, &serde_json::to_value(&chosen).expect("a map serializes")).await?;
    }
    clipshot_analysis::forget(id);
    Ok(())
}

/// Node kinds whose props name a profile.
const PROFILE_KINDS: [&str; 4] = ["analyze.audio", "analyze.text", "analyze.voice", "analyze.score"];

/// A profile as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileInfo {
    pub name: String,
    pub description: String,
    /// The detectors it uses: `motion`, `loudness`, `audio`, `text`, `voice`.
    pub detectors: Vec<String>,
    pub threshold: Option<f32>,
    pub pre_roll_s: Option<f32>,
    pub post_roll_s: Option<f32>,
    /// Why the file cannot be used, when it cannot (every problem).
    pub problems: Vec<String>,
}

fn info(name: &str, loaded: Result<profile::Profile, profile::ProfileError>) -> ProfileInfo {
    match loaded {
        Ok(p) => ProfileInfo {
            name: name.to_owned(),
            description: p.description.clone(),
            detectors: [
                ("motion", p.motion.is_some()),
                ("loudness", p.loudness.is_some()),
                ("audio", p.audio.is_some()),
                ("text", p.text.is_some()),
                ("voice", p.voice.is_some()),
            ]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(d, _)| (*d).to_owned())
            .collect(),
            threshold: Some(p.threshold),
            pre_roll_s: Some(p.pre_roll_s),
            post_roll_s: Some(p.post_roll_s),
            problems: Vec::new(),
        },
        Err(e) => ProfileInfo {
            name: name.to_owned(),
            description: String::new(),
            detectors: Vec::new(),
            threshold: None,
            pre_roll_s: None,
            post_roll_s: None,
            problems: e.problems,
        },
    }
}

fn dirs(state: &AppState) -> Vec<std::path::PathBuf> {
    profile::dirs(&state.config.read().data_dir)
}

/// Every profile in the shipped folder and `<data dir>/profiles` (yours win),
/// with the problems of those that cannot be used.
#[utoipa::path(get, path = "/api/v1/ai/profiles", tag = "ai", responses((status = 200, body = Vec<ProfileInfo>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<ProfileInfo>> {
    let mut found = profile::list(&dirs(&state));
    found.entry("generic".into()).or_insert_with(|| profile::Profile::parse(profile::GENERIC, "generic (built in)"));
    Json(found.into_iter().map(|(name, p)| info(&name, p)).collect())
}

/// A pipeline's profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineProfile {
    pub pipeline: String,
    pub profile: ProfileInfo,
    /// `graph` (the nodes' props) or `api` (chosen with `PUT`).
    pub source: &'static str,
    /// The analysis nodes that use it.
    pub nodes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetProfile {
    /// A profile name (see `GET /api/v1/ai/profiles`).
    pub profile: String,
}

/// The analysis nodes of pipeline `id` and the profile their props name.
fn analysis_nodes(state: &AppState, id: &str) -> Result<(Vec<String>, Option<String>), Problem> {
    let p = state.engine.pipeline(id).ok_or_else(|| Problem::not_found(format!("no pipeline `{id}`")))?;
    let spec = p.graph().spec();
    let mut nodes = Vec::new();
    let mut named = None;
    for n in spec.nodes.iter().filter(|n| PROFILE_KINDS.contains(&n.kind.as_str())) {
        nodes.push(n.id.clone());
        let prop = n.props.get("profile").and_then(|v| v.as_str()).unwrap_or("generic");
        named.get_or_insert_with(|| prop.to_owned());
    }
    Ok((nodes, named))
}

async fn current(state: &AppState, id: &str) -> Result<PipelineProfile, Problem> {
    let (nodes, named) = analysis_nodes(state, id)?;
    let Some(named) = named else {
        return Err(no_analysis(id));
    };
    let (name, source) = match clipshot_analysis::selected(id) {
        Some(chosen) => (chosen, "api"),
        None => (named, "graph"),
    };
    let loaded = profile::load(&name, &dirs(state));
    Ok(PipelineProfile { pipeline: id.to_owned(), profile: info(&name, loaded), source, nodes })
}

fn no_analysis(id: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "no-analysis",
        format!(
            "pipeline `{id}` has no analysis nodes (analyze.audio, analyze.text, analyze.voice, analyze.score) to take a profile"
        ),
    )
}

/// The game profile a pipeline's highlight detection uses.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/profile", tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, body = PipelineProfile), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The pipeline has no analysis nodes", body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PipelineProfile>, Problem> {
    Ok(Json(current(&state, &id).await?))
}

/// Switches a pipeline's game profile while it records (kept across
/// restarts of the pipeline and the daemon). A profile that does not load
/// answers 422 with every problem, and nothing changes.
#[utoipa::path(put, path = "/api/v1/pipelines/{id}/profile", tag = "pipelines", params(("id" = String, Path)),
    request_body = SetProfile,
    responses((status = 200, body = PipelineProfile), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The pipeline has no analysis nodes", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The profile is unknown or invalid", body = Problem, content_type = "application/problem+json")))]
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetProfile>,
) -> Result<Json<PipelineProfile>, Problem> {
    let (_, named) = analysis_nodes(&state, &id)?;
    if named.is_none() {
        return Err(no_analysis(&id));
    }
    if let Err(e) = profile::load(&body.profile, &dirs(&state)) {
        let problems = e
            .problems
            .iter()
            .map(|m| serde_json::json!({ "location": "/profile", "code": "invalid_profile", "message": m }))
            .collect();
        return Err(Problem::unprocessable(format!("profile `{}` cannot be used: {e}", body.profile), problems));
    }
    // Persisted first: a daemon restart keeps what the answer says.
    {
        let _turn = SAVING.lock().await;
        let mut chosen = saved(&state).await?;
        chosen.insert(id.clone(), body.profile.clone());
        state.store.set_setting(SETTINGS_KEY, &serde_json::to_value(&chosen).expect("a map serializes")).await?;
        clipshot_analysis::select(&id, &body.profile);
    }
    tracing::info!(pipeline = %id, profile = %body.profile, "profile selected");
    Ok(Json(current(&state, &id).await?))
}

/// Re-applies the profiles chosen over the API (at start).
pub fn restore(saved: Option<serde_json::Value>) {
    let chosen: BTreeMap<String, String> = saved.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
    for (pipeline, name) in chosen {
        clipshot_analysis::select(&pipeline, &name);
    }
}
