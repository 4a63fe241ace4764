//! ONNX Runtime, loaded at run time from its shared library, and sessions on
//! the best execution provider this machine has.
//!
//! The library is found at `ORT_DYLIB_PATH` (what `make` exports: the PyPI
//! wheel's copy in `.venv`) or by the system's search path. Missing or too
//! old, it is an error the caller reports; nothing else stops.
//!
//! Providers are tried in order TensorRT, CUDA, DirectML, CoreML, each
//! registered with error-on-failure (a silent fallback would claim a GPU and
//! run on the CPU); the first that opens the model is the one in use, and
//! the CPU is last. The CPU build of the runtime (`onnxruntime` on PyPI)
//! fails the GPU ones at once; `onnxruntime-gpu` brings CUDA and TensorRT.

use crate::manifest::{Dim, Model, TensorSpec};
use ort::ep::{self, ExecutionProviderDispatch};
use ort::session::Session;
use ort::value::{Tensor, ValueType};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The providers this build can ask for, in the order they are tried.
pub const PROVIDERS: [&str; 5] = ["TensorRT", "CUDA", "DirectML", "CoreML", "CPU"];

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime is not available: {0}. `make onnxruntime` installs it into .venv; \
         point ORT_DYLIB_PATH at libonnxruntime"
    )]
    Library(String),
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    #[error("model `{model}` does not match its manifest: {}", .problems.join("; "))]
    Mismatch { model: String, problems: Vec<String> },
    #[error("model `{model}`: {message}")]
    Run { model: String, message: String },
}

fn ort_err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Ort(e.to_string())
}

/// The loaded runtime library and its environment: one per process (ONNX
/// Runtime allows no second environment, and a library stays loaded).
pub struct OnnxRuntime {
    env: ort::environment::Environment,
    pub library: PathBuf,
    pub version: String,
}

static SHARED: parking_lot::Mutex<Option<Arc<OnnxRuntime>>> = parking_lot::Mutex::new(None);

impl std::fmt::Debug for OnnxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxRuntime").field("library", &self.library).field("version", &self.version).finish()
    }
}

/// Where the runtime library is looked for.
pub fn library_path() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(if cfg!(windows) {
            "onnxruntime.dll"
        } else if cfg!(target_os = "macos") {
            "libonnxruntime.dylib"
        } else {
            "libonnxruntime.so"
        })
    })
}

impl OnnxRuntime {
    /// The process's runtime, loading the library at `path` the first time.
    /// A failure is not remembered: a library installed later is found by
    /// the next call. (Once loaded, later paths are not looked at.)
    pub fn load(path: &Path) -> Result<Arc<Self>, RuntimeError> {
        let mut shared = SHARED.lock();
        if let Some(rt) = shared.as_ref() {
            return Ok(Arc::clone(rt));
        }
        if path.is_absolute() && !path.exists() {
            return Err(RuntimeError::Library(format!("{} does not exist", path.display())));
        }
        let builder = ort::init_from(path).map_err(|e| RuntimeError::Library(e.to_string()))?;
        let env = builder.with_name("clipshot").build().map_err(|e| RuntimeError::Library(e.to_string()))?;
        let rt = Arc::new(Self { env, library: path.to_owned(), version: version_of(path) });
        *shared = Some(Arc::clone(&rt));
        Ok(rt)
    }

    /// `threads` intra-op threads (1 on small machines: analysis must leave
    /// the cores to recording).
    fn builder(&self, threads: usize) -> Result<ort::session::builder::SessionBuilder, RuntimeError> {
        Session::builder(&self.env)
            .map_err(ort_err)?
            .with_intra_threads(threads.max(1))
            .map_err(ort_err)?
            .with_inter_threads(1)
            .map_err(ort_err)?
            // Spinning threads burn a core waiting for work: not beside a recording.
            .with_intra_op_spinning(false)
            .map_err(ort_err)?
            .with_inter_op_spinning(false)
            .map_err(ort_err)
    }

    fn provider(name: &str) -> Option<ExecutionProviderDispatch> {
        let dispatch = match name {
            "TensorRT" => ep::TensorRT::default().build(),
            "CUDA" => ep::CUDA::default().build(),
            "DirectML" => ep::DirectML::default().build(),
            "CoreML" => ep::CoreML::default().build(),
            _ => return None,
        };
        Some(dispatch.error_on_failure())
    }

    /// Opens a session for `model` on the first provider that takes it, and
    /// checks the graph's inputs and outputs against the manifest.
    pub fn open(&self, model: &Model, threads: usize) -> Result<LoadedModel, RuntimeError> {
        let started = Instant::now();
        let path = model.path();
        let mut tried = Vec::new();
        let mut opened = None;
        for name in PROVIDERS {
            let builder = self.builder(threads)?;
            let attempt = match Self::provider(name) {
                Some(dispatch) => match builder.with_execution_providers([dispatch]) {
                    Ok(mut b) => b.commit_from_file(&path).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                None => {
                    let mut builder = builder;
                    builder.commit_from_file(&path).map_err(|e| e.to_string())
                }
            };
            match attempt {
                Ok(session) => {
                    opened = Some((session, name));
                    break;
                }
                Err(e) => {
                    tracing::debug!(model = %model.manifest.id, provider = name, "not this provider: {e}");
                    tried.push(format!("{name}: {e}"));
                }
            }
        }
        let Some((session, provider)) = opened else {
            return Err(RuntimeError::Ort(format!("no provider opened {}: {}", path.display(), tried.join("; "))));
        };
        check_signature(&model.manifest.id, &model.manifest.inputs, &model.manifest.outputs, &session)?;
        let mut labels = model.labels.clone();
        if let Some(key) = model.manifest.labels.as_ref().and_then(|l| l.metadata.as_deref()) {
            let text = session.metadata().map_err(ort_err)?.custom(key).unwrap_or_default();
            labels = text.lines().map(str::to_owned).collect();
            let count = model.manifest.labels.as_ref().map_or(0, |l| l.count);
            if labels.len() != count {
                return Err(RuntimeError::Mismatch {
                    model: model.manifest.id.clone(),
                    problems: vec![format!(
                        "metadata `{key}` holds {} labels, `labels.count` says {count}",
                        labels.len()
                    )],
                });
            }
        }
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(model = %model.manifest.id, provider, load_ms, "model loaded");
        Ok(LoadedModel { id: model.manifest.id.clone(), provider, session: Mutex::new(session), labels, load_ms })
    }
}

/// The library's version: from its file name (`libonnxruntime.so.1.31.1`),
/// else from its build string (`git-branch=rel-1.31.1`).
fn version_of(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let from_name = name.split_once(".so.").map(|(_, v)| v.to_owned()).or_else(|| {
        name.strip_prefix("libonnxruntime.").and_then(|rest| rest.strip_suffix(".dylib")).map(str::to_owned)
    });
    from_name
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .or_else(|| {
            ort::info()
                .split(|c: char| c == ',' || c.is_whitespace())
                .find_map(|part| part.strip_prefix("git-branch=rel-"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn element_name(ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor { ty, .. } => match ty.to_string().as_str() {
            "f32" => "float32".into(),
            "f16" => "float16".into(),
            "i64" => "int64".into(),
            "i32" => "int32".into(),
            "u8" => "uint8".into(),
            other => other.to_owned(),
        },
        other => other.to_string(),
    }
}

/// The manifest's tensors against the graph's: names, ranks, fixed sizes, types.
fn check_signature(
    id: &str,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
    session: &Session,
) -> Result<(), RuntimeError> {
    let mut problems = Vec::new();
    for (kind, declared, actual) in [("input", inputs, session.inputs()), ("output", outputs, session.outputs())] {
        for spec in declared {
            let Some(outlet) = actual.iter().find(|o| o.name() == spec.name) else {
                let names: Vec<&str> = actual.iter().map(|o| o.name()).collect();
                problems.push(format!("the graph has no {kind} `{}` (it has {})", spec.name, names.join(", ")));
                continue;
            };
            let ValueType::Tensor { shape, .. } = outlet.dtype() else {
                problems.push(format!("{kind} `{}` is not a tensor", spec.name));
                continue;
            };
            if shape.len() != spec.shape.len() {
                problems.push(format!(
                    "{kind} `{}` has {} dimensions, the manifest says {} ({})",
                    spec.name,
                    shape.len(),
                    spec.shape.len(),
                    spec.shape.iter().map(ToString::to_string).collect::<Vec<_>>().join("×")
                ));
                continue;
            }
            for (i, (dim, actual)) in spec.shape.iter().zip(shape.iter()).enumerate() {
                if let Dim::Fixed(n) = dim
                    && *actual >= 0
                    && *actual != *n
                {
                    problems.push(format!("{kind} `{}` dimension {i} is {actual}, the manifest says {n}", spec.name));
                }
            }
            let dtype = element_name(outlet.dtype());
            if dtype != spec.dtype {
                problems.push(format!("{kind} `{}` is {dtype}, the manifest says {}", spec.name, spec.dtype));
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(RuntimeError::Mismatch { model: id.to_owned(), problems }) }
}

/// An input tensor for [`LoadedModel::run`].
#[derive(Debug, Clone)]
pub enum InputTensor {
    F32 { name: String, shape: Vec<usize>, data: Vec<f32> },
    I64 { name: String, shape: Vec<usize>, data: Vec<i64> },
}

/// An output, as `f32`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A model with an open session.
pub struct LoadedModel {
    pub id: String,
    /// The execution provider in use.
    pub provider: &'static str,
    session: Mutex<Session>,
    /// Class names (from the labels file or the model's metadata).
    pub labels: Vec<String>,
    pub load_ms: f64,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("id", &self.id).field("provider", &self.provider).finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Runs the graph once; every output comes back as `f32`.
    pub fn run(&self, inputs: Vec<InputTensor>) -> Result<Vec<OutputTensor>, RuntimeError> {
        let fail = |message: String| RuntimeError::Run { model: self.id.clone(), message };
        let mut values: Vec<(String, ort::session::SessionInputValue<'static>)> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let (name, value) = match input {
                InputTensor::F32 { name, shape, data } => {
                    (name, Tensor::from_array((shape, data)).map_err(|e| fail(e.to_string()))?.into_dyn())
                }
                InputTensor::I64 { name, shape, data } => {
                    (name, Tensor::from_array((shape, data)).map_err(|e| fail(e.to_string()))?.into_dyn())
                }
            };
            values.push((name, value.into()));
        }
        let mut session = self.session.lock();
        let outputs = session.run(values).map_err(|e| fail(e.to_string()))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| fail(format!("output `{name}`: {e}")))?;
            result.push(OutputTensor {
                name: name.to_owned(),
                shape: shape.iter().map(|d| (*d).max(0) as usize).collect(),
                data: data.to_vec(),
            });
        }
        Ok(result)
    }
}
