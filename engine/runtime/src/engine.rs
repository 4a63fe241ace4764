//! The daemon's engine: the node registry, the pipelines it runs and the
//! event bus that fans engine events out to logs and API subscribers.

use crate::config::Config;
pub use crate::events::EventBus;
use crate::presets;
use clipshot_core::{GraphSpec, PipelineState, Registry, validate::validate};
use clipshot_gst::{Pipeline, PipelineOptions};
use clipshot_replay::RingConfig;
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PipelineSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub state: PipelineState,
    /// The pipeline that hotkey and CLI saves use.
    pub default: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Preset(#[from] presets::PresetError),
    #[error("{0}")]
    Invalid(#[from] clipshot_core::ValidationErrors),
    #[error(transparent)]
    Build(#[from] clipshot_gst::BuildError),
    #[error(transparent)]
    Registry(#[from] clipshot_core::RegistryError),
    #[error("a pipeline `{0}` exists already")]
    Exists(String),
}

pub struct Engine {
    pub registry: Arc<Registry>,
    pub events: Arc<EventBus>,
    pipelines: RwLock<BTreeMap<String, Arc<Pipeline>>>,
    default: RwLock<Option<String>>,
    config: RwLock<Config>,
    /// Why the default pipeline is not the configured one, if it is not.
    pub fallback: RwLock<Option<String>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("pipelines", &self.pipelines.read().keys().collect::<Vec<_>>()).finish()
    }
}

/// Whether an X display can be reached, and if not, why.
pub fn probe_display() -> Result<String, String> {
    let Some(display) = std::env::var_os("DISPLAY").filter(|d| !d.is_empty()) else {
        return Err("no display ($DISPLAY is not set)".into());
    };
    let display = display.to_string_lossy().into_owned();
    x11rb::connect(Some(&display)).map(|_| display.clone()).map_err(|e| format!("cannot open display {display}: {e}"))
}

fn uses_screen(spec: &GraphSpec) -> bool {
    spec.nodes.iter().any(|n| n.kind == "capture.screen")
}

impl Engine {
    pub fn new(config: Config) -> Result<Self, EngineError> {
        clipshot_gst::init()?;
        let mut registry = Registry::new();
        clipshot_gst::register_builtin(&mut registry)?;
        Ok(Self {
            registry: Arc::new(registry),
            events: Arc::new(EventBus::new()),
            pipelines: RwLock::new(BTreeMap::new()),
            default: RwLock::new(None),
            config: RwLock::new(config),
            fallback: RwLock::new(None),
        })
    }

    fn options(&self) -> PipelineOptions {
        let config = self.config.read();
        PipelineOptions {
            data_dir: config.data_dir.clone(),
            clips_dir: config.clips_dir(),
            events: self.events.clone(),
        }
    }

    /// Validates `spec` and adds it as a stopped pipeline named after the graph.
    pub fn add(&self, spec: &GraphSpec) -> Result<Arc<Pipeline>, EngineError> {
        let graph = validate(spec, &self.registry)?;
        let mut pipelines = self.pipelines.write();
        if pipelines.contains_key(&spec.name) {
            return Err(EngineError::Exists(spec.name.clone()));
        }
        let pipeline = Arc::new(Pipeline::new(&spec.name, graph, Arc::clone(&self.registry), self.options()));
        pipelines.insert(spec.name.clone(), Arc::clone(&pipeline));
        Ok(pipeline)
    }

    /// Starts a pipeline, then gives its rings the configured length.
    pub fn start(&self, pipeline: &Pipeline) -> Result<(), EngineError> {
        pipeline.start()?;
        self.apply_replay_seconds(pipeline);
        Ok(())
    }

    /// Stops and forgets a pipeline. The default one cannot be removed.
    pub fn remove(&self, id: &str) -> Option<Arc<Pipeline>> {
        let p = self.pipelines.write().remove(id)?;
        p.stop();
        Some(p)
    }

    pub fn is_default(&self, id: &str) -> bool {
        self.default.read().as_deref() == Some(id)
    }

    /// Applies a changed configuration to what runs: where clips go and how
    /// long the rings are.
    pub fn reconfigure(&self, config: &Config) {
        *self.config.write() = config.clone();
        for p in self.pipelines.read().values() {
            p.set_clips_dir(config.clips_dir());
            self.apply_replay_seconds(p);
        }
    }

    fn apply_replay_seconds(&self, pipeline: &Pipeline) {
        let Some(seconds) = self.config.read().replay_seconds else { return };
        for node in pipeline.graph().spec().nodes.iter().filter(|n| n.kind == "replay.ring") {
            if let Some(ring) = pipeline.ring(Some(&node.id)) {
                ring.set_config(RingConfig { max_seconds: seconds, ..ring.config() });
            }
        }
    }

    /// Starts the configured pipeline. Without a display, or when the
    /// configured one cannot start (no audio server, say), records the test
    /// pattern instead and says why.
    pub fn start_default(&self) -> Result<Arc<Pipeline>, EngineError> {
        let configured = self.config.read().pipeline.clone();
        let spec = presets::load(&configured)?;
        let reason = if uses_screen(&spec) { probe_display().err() } else { None };
        let reason = match reason {
            Some(r) => Some(r),
            None => match self.add(&spec).and_then(|p| self.start(&p).map(|()| p)) {
                Ok(p) => {
                    *self.default.write() = Some(spec.name.clone());
                    return Ok(p);
                }
                Err(e) if configured != presets::HEADLESS_PRESET => {
                    if let Some(p) = self.pipelines.write().remove(&spec.name) {
                        p.stop();
                    }
                    Some(format!("pipeline `{}` could not start: {e}", spec.name))
                }
                Err(e) => return Err(e),
            },
        };
        let reason = reason.unwrap_or_default();
        tracing::warn!("{reason}: recording the test pattern instead (pipeline `{}`)", presets::HEADLESS_PRESET);
        *self.fallback.write() = Some(reason);
        let spec = presets::load(presets::HEADLESS_PRESET)?;
        let p = self.add(&spec)?;
        self.start(&p)?;
        *self.default.write() = Some(spec.name);
        Ok(p)
    }

    pub fn pipeline(&self, id: &str) -> Option<Arc<Pipeline>> {
        self.pipelines.read().get(id).cloned()
    }

    pub fn default_pipeline(&self) -> Option<Arc<Pipeline>> {
        let id = self.default.read().clone()?;
        self.pipeline(&id)
    }

    pub fn list(&self) -> Vec<PipelineSummary> {
        let default = self.default.read().clone();
        self.pipelines
            .read()
            .values()
            .map(|p| {
                let spec = p.graph().spec();
                PipelineSummary {
                    id: p.id().to_owned(),
                    name: spec.name.clone(),
                    description: spec.description.clone(),
                    state: p.state(),
                    default: default.as_deref() == Some(p.id()),
                }
            })
            .collect()
    }

    /// Stops every pipeline (sending EOS so recordings are finished).
    pub fn shutdown(&self) {
        for p in self.pipelines.read().values() {
            p.stop();
        }
    }
}
