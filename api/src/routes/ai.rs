//! `/api/v1/ai`: the models the daemon knows (shipped and in `models_dir`),
//! opening and closing their sessions, inference on an uploaded sound, and
//! the health of the runtime under them.

use super::{AppState, blocking};
use crate::problem::Problem;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use clipshot_ai::audio::{AudioTagger, MODEL_RATE, Tag, decode_wav, to_mono};
use clipshot_ai::manifest::{LabelsSpec, Source, TensorSpec};
use clipshot_ai::{AiError, Entry, RuntimeError, Task};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
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

fn ai_problem(e: AiError) -> Problem {
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InferQuery {
    /// The model; the first `audio-tags` model when omitted.
    pub model: Option<String>,
    /// Classes to return per window (1 to 50, default 5).
    pub top: Option<usize>,
}

/// One window of the input and what the model heard in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Window {
    pub start_s: f64,
    pub end_s: f64,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timings {
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InferResult {
    pub model: String,
    pub provider: &'static str,
    pub seconds: f64,
    /// Each class's highest probability over all windows, most likely first.
    pub tags: Vec<Tag>,
    pub windows: Vec<Window>,
    pub timings: Timings,
}

/// Runs a model on an uploaded sound (`Content-Type: audio/wav`): the
/// sound in windows of the model's length, each window's most likely
/// classes, and the timings. Images (text models) arrive with the OCR stage.
#[utoipa::path(post, path = "/api/v1/ai/infer", tag = "ai", params(InferQuery),
    request_body(content = Vec<u8>, content_type = "audio/wav", description = "A WAV file (PCM or float, any rate and channels), up to 2 MB"),
    responses((status = 200, body = InferResult),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a WAV upload", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Undecodable, or a model that does not take sound", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ONNX Runtime is not installed", body = Problem, content_type = "application/problem+json")))]
pub async fn infer(
    State(state): State<AppState>,
    query: Result<Query<InferQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<InferResult>, Problem> {
    let Query(q) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !matches!(kind.split(';').next().unwrap_or("").trim(), "audio/wav" | "audio/x-wav" | "audio/wave") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("send a WAV file as `audio/wav` (got `{kind}`)"),
        ));
    }
    let top = q.top.unwrap_or(5);
    if !(1..=50).contains(&top) {
        return Err(Problem::unprocessable(
            "`top` must be between 1 and 50",
            vec![
                serde_json::json!({ "location": "/query/top", "code": "out_of_range", "message": "between 1 and 50" }),
            ],
        ));
    }
    let id = match q.model.or_else(|| state.ai.model_for(Task::AudioTags)) {
        Some(id) => id,
        None => return Err(Problem::not_found("no `audio-tags` model is installed")),
    };
    let entry = state.ai.entry(&id).ok_or_else(|| Problem::not_found(format!("no model `{id}`")))?;
    if let Some(m) = entry.manifest()
        && m.task != Task::AudioTags
    {
        return Err(Problem::unprocessable(
            format!("model `{id}` is a `{}` model; this route runs `audio-tags` models on sound", m.task.as_str()),
            vec![
                serde_json::json!({ "location": "/query/model", "code": "wrong_task", "message": "not an audio-tags model" }),
            ],
        ));
    }
    let ai = Arc::clone(&state.ai);
    let result = blocking(move || -> Result<InferResult, Problem> {
        let started = Instant::now();
        let sound = decode_wav(&body).map_err(|e| {
            Problem::unprocessable(
                e.clone(),
                vec![serde_json::json!({ "location": "/body", "code": "undecodable", "message": e })],
            )
        })?;
        let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
        let model = ai.load(&id).map_err(ai_problem)?;
        let Some(manifest) = entry.manifest() else {
            return Err(Problem::unprocessable(
                format!("model `{id}` cannot be used: its manifest is invalid"),
                entry.result.as_ref().err().map(|e| e.problems.iter().map(|p| serde_json::json!({ "location": "/manifest", "code": "invalid_model", "message": p })).collect()).unwrap_or_default(),
            ));
        };
        let input = &manifest.inputs[0];
        // A window from the manifest, within reason (a tiny one would mean millions of runs).
        let window_s = input
            .preprocessing
            .as_ref()
            .and_then(|p| p["window_s"].as_f64())
            .filter(|w| (0.25..=30.0).contains(w))
            .unwrap_or(2.0);
        let started = Instant::now();
        let mono = to_mono(&sound.samples, sound.rate, sound.channels, MODEL_RATE);
        let preprocess_ms = started.elapsed().as_secs_f64() * 1000.0;
        let tagger = AudioTagger::new(&model, &input.name);
        let window = ((window_s * f64::from(MODEL_RATE)) as usize).max(1);
        let started = Instant::now();
        let mut windows = Vec::new();
        let mut best: Vec<f32> = Vec::new();
        for (i, chunk) in mono.chunks(window).enumerate() {
            // The last, short window is padded with silence to the model's length.
            let mut samples = chunk.to_vec();
            samples.resize(window, 0.0);
            let scores = tagger.scores(&samples).map_err(|e| ai_problem(e.into()))?;
            if best.is_empty() {
                best = scores.clone();
            } else {
                best.iter_mut().zip(&scores).for_each(|(b, s)| *b = b.max(*s));
            }
            let start_s = (i * window) as f64 / f64::from(MODEL_RATE);
            let end_s = start_s + chunk.len() as f64 / f64::from(MODEL_RATE);
            windows.push(Window { start_s, end_s, tags: tagger.top(&scores, top) });
        }
        let inference_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(InferResult {
            model: id,
            provider: model.provider,
            seconds: sound.seconds(),
            tags: tagger.top(&best, top),
            windows,
            timings: Timings { decode_ms, preprocess_ms, inference_ms },
        })
    })
    .await??;
    Ok(Json(result))
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
