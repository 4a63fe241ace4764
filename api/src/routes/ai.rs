//! `/api/v1/ai`: the models the daemon knows (shipped and in `models_dir`),
//! opening and closing their sessions, inference on an uploaded sound, and
//! the health of the runtime under them. Inference is in [`super::infer`].

use super::{AppState, blocking};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use clipshot_ai::manifest::{LabelsSpec, Source, TensorSpec};
use clipshot_ai::{AiError, Entry, RuntimeError, Task};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A model as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    pub id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    /// What it does (`audio-tags`, `text-detect`, `text-recognise`, `vad`, …).
    #[serde(rename = "type")]
    pub task: Option<Task>,
    /// What it takes in: `audio`, `image` or `features`.
    pub capability: Option<&'static str>,
    pub description: Option<String>,
    pub licence: Option<String>,
    pub source: Option<Source>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub labels: Option<LabelsSpec>,
    pub thresholds: BTreeMap<String, f64>,
    /// `available`, `loaded`, or `invalid` (see `problems`).
    pub status: &'static str,
    /// The execution provider of the open session.
    pub provider: Option<&'static str>,
    pub load_ms: Option<f64>,
    pub manifest: String,
    /// Everything wrong with the manifest or its files.
    pub problems: Vec<String>,
}

fn view(state: &AppState, entry: &Entry) -> ModelView {
    let id = entry.id().unwrap_or("?").to_owned();
    let loaded = state.ai.loaded(&id);
    let manifest = entry.manifest();
    ModelView {
        name: manifest.map(|m| m.name.clone()),
        version: manifest.map(|m| m.version.clone()),
        task: manifest.map(|m| m.task),
        capability: manifest.map(|m| m.task.capability()),
        description: manifest.map(|m| m.description.clone()),
        licence: manifest.map(|m| m.licence.clone()),
        source: manifest.and_then(|m| m.source.clone()),
        inputs: manifest.map(|m| m.inputs.clone()).unwrap_or_default(),
        outputs: manifest.map(|m| m.outputs.clone()).unwrap_or_default(),
        labels: manifest.and_then(|m| m.labels.clone()),
        thresholds: manifest.map(|m| m.thresholds.clone()).unwrap_or_default(),
        status: match (&entry.result, &loaded) {
            (Err(_), _) => "invalid",
            (Ok(_), Some(_)) => "loaded",
            (Ok(_), None) => "available",
        },
        provider: loaded.as_ref().map(|m| m.provider),
        load_ms: loaded.as_ref().map(|m| m.load_ms),
        manifest: entry.manifest_path.display().to_string(),
        problems: entry.result.as_ref().err().map(|e| e.problems.clone()).unwrap_or_default(),
        id,
    }
}

pub(crate) fn ai_problem(e: AiError) -> Problem {
    match e {
        AiError::UnknownModel(id) => Problem::not_found(format!("no model `{id}`")),
        AiError::Invalid { id, error } => Problem::unprocessable(
            format!("model `{id}` cannot be used: {} problem(s)", error.problems.len()),
            error
                .problems
                .iter()
                .map(|p| serde_json::json!({ "location": "/manifest", "code": "invalid_model", "message": p }))
                .collect(),
        ),
        AiError::Runtime(e @ RuntimeError::Library(_)) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "runtime-unavailable", e.to_string())
        }
        AiError::Runtime(e @ RuntimeError::Mismatch { .. }) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "model-mismatch", e.to_string())
        }
        AiError::Runtime(e) => Problem::internal(e.to_string()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModelFilter {
    /// Only models of this type (`audio-tags`, `vad`, …).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub task: Option<String>,
    /// Only models that take `audio`, `image` or `features`.
    pub capability: Option<String>,
}

/// Every model found in `models_dir` and the shipped `models/`, with its
/// status; invalid ones say why.
#[utoipa::path(get, path = "/api/v1/ai/models", tag = "ai", params(ModelFilter),
    responses((status = 200, body = Vec<ModelView>)))]
pub async fn list(
    State(state): State<AppState>,
    filter: Result<Query<ModelFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ModelView>>, Problem> {
    let Query(filter) = filter.map_err(|e| Problem::bad_request(e.body_text()))?;
    let ai = Arc::clone(&state.ai);
    let entries = blocking(move || {
        ai.rescan();
        ai.entries()
    })
    .await
    .unwrap_or_default();
    Ok(Json(
        entries
            .iter()
            .map(|e| view(&state, e))
            .filter(|v| filter.task.as_deref().is_none_or(|t| v.task.is_some_and(|task| task.as_str() == t)))
            .filter(|v| filter.capability.as_deref().is_none_or(|c| v.capability == Some(c)))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/ai/models/{id}", tag = "ai", params(("id" = String, Path)),
    responses((status = 200, body = ModelView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ModelView>, Problem> {
    let entry = state.ai.entry(&id).ok_or_else(|| Problem::not_found(format!("no model `{id}`")))?;
    Ok(Json(view(&state, &entry)))
}

/// Opens the model's session on the best execution provider present (the
/// file is hashed again first).
#[utoipa::path(post, path = "/api/v1/ai/models/{id}/load", tag = "ai", params(("id" = String, Path)),
    responses((status = 200, body = ModelView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The manifest, its file or the graph is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ONNX Runtime is not installed", body = Problem, content_type = "application/problem+json")))]
pub async fn load(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ModelView>, Problem> {
    let ai = Arc::clone(&state.ai);
    let key = id.clone();
    blocking(move || ai.load(&key)).await?.map_err(ai_problem)?;
    get(State(state), Path(id)).await
}

/// Closes the model's session (work under way finishes first).
#[utoipa::path(post, path = "/api/v1/ai/models/{id}/unload", tag = "ai", params(("id" = String, Path)),
    responses((status = 200, body = ModelView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn unload(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ModelView>, Problem> {
    state.ai.unload(&id);
    get(State(state), Path(id)).await
}

/// The ONNX Runtime under the models.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuntimeHealth {
    pub available: bool,
    pub library: String,
    pub version: Option<String>,
    /// Why it is not available.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoadedHealth {
    pub id: String,
    pub provider: &'static str,
    pub load_ms: f64,
}

/// The GPU that preprocesses frames for the models.
#[derive(Debug, Serialize, ToSchema)]
pub struct GpuHealth {
    /// False: frames are preprocessed on the CPU (`reason` says why).
    pub available: bool,
    /// The adapter's name (`llvmpipe (LLVM …)` is Mesa's software Vulkan).
    pub adapter: Option<String>,
    /// `Vulkan`, `Metal`, `Dx12` or `Gl`.
    pub backend: Option<String>,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu`…
    pub device_type: Option<String>,
    pub driver: Option<String>,
    pub reason: Option<String>,
    /// Bytes read back from the GPU so far: motion sums (200 bytes a frame)
    /// and tensors (wgpu cannot share memory with ONNX Runtime's CUDA provider).
    pub bytes_read_back: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiHealth {
    /// `ok`, or `unavailable` without the runtime library (recording goes on).
    pub status: &'static str,
    /// `local`: models run on this machine.
    pub provider: String,
    pub runtime: RuntimeHealth,
    /// Tried in this order for every model; the first that opens it is used.
    pub execution_providers: Vec<&'static str>,
    pub loaded: Vec<LoadedHealth>,
    pub models: usize,
    pub invalid_models: usize,
    pub models_dirs: Vec<String>,
    pub gpu: GpuHealth,
}

/// The AI runtime: whether ONNX Runtime is there, its version, the
/// execution provider of every open model.
#[utoipa::path(get, path = "/api/v1/ai/health", tag = "ai", responses((status = 200, body = AiHealth)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<AiHealth>, Problem> {
    let ai = Arc::clone(&state.ai);
    let (runtime, gpu) = blocking(move || {
        let gpu = match ai.preprocessor() {
            clipshot_gpu::Preprocessor::Gpu(gpu) => {
                let info = gpu.info();
                GpuHealth {
                    available: true,
                    adapter: Some(info.name.clone()),
                    backend: Some(info.backend.clone()),
                    device_type: Some(info.device_type.clone()),
                    driver: Some(info.driver.clone()),
                    reason: None,
                    bytes_read_back: gpu.bytes_read_back(),
                }
            }
            clipshot_gpu::Preprocessor::Cpu { reason } => GpuHealth {
                available: false,
                adapter: None,
                backend: None,
                device_type: None,
                driver: None,
                reason: Some(reason.clone()),
                bytes_read_back: 0,
            },
        };
        (ai.runtime(), gpu)
    })
    .await?;
    let library = clipshot_ai::runtime::library_path().display().to_string();
    let runtime = match runtime {
        Ok(rt) => RuntimeHealth {
            available: true,
            library: rt.library.display().to_string(),
            version: Some(rt.version.clone()),
            error: None,
        },
        Err(e) => RuntimeHealth { available: false, library, version: None, error: Some(e.to_string()) },
    };
    let entries = state.ai.entries();
    Ok(Json(AiHealth {
        status: if runtime.available { "ok" } else { "unavailable" },
        provider: state.config.read().ai_provider.clone(),
        runtime,
        execution_providers: clipshot_ai::runtime::PROVIDERS.to_vec(),
        loaded: state
            .ai
            .loaded_all()
            .iter()
            .map(|m| LoadedHealth { id: m.id.clone(), provider: m.provider, load_ms: m.load_ms })
            .collect(),
        models: entries.len(),
        invalid_models: entries.iter().filter(|e| e.result.is_err()).count(),
        models_dirs: state.ai.dirs().iter().map(|d| d.display().to_string()).collect(),
        gpu,
    }))
}
