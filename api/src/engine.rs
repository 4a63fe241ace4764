//! The daemon's engine: the node registry, the pipelines it runs and the
//! event bus that fans engine events out to logs and API subscribers.

use crate::config::Config;
use crate::presets;
use clipshot_core::{Event, EventSink, GraphSpec, PipelineState, Registry, validate::validate};
use clipshot_gst::{Pipeline, PipelineOptions};
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events to logs and to every subscriber (SSE streams, the hotkey's feedback).
#[derive(Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new() -> Self {
        Self { tx: broadcast::channel(1024).0 }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSink for EventBus {
    fn emit(&self, event: Event) {
        tracing::debug!(event = event.name(), payload = ?event, "event");
        let _ = self.tx.send(event);
    }
}

#[derive(Debug, Clone, Serialize)]
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
}

pub struct Engine {
    pub registry: Arc<Registry>,
    pub events: Arc<EventBus>,
    pipelines: RwLock<BTreeMap<String, Arc<Pipeline>>>,
    default: RwLock<Option<String>>,
    config: Config,
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
            config,
            fallback: RwLock::new(None),
        })
    }

    fn options(&self) -> PipelineOptions {
        PipelineOptions {
            data_dir: self.config.data_dir.clone(),
            clips_dir: self.config.clips_dir(),
            events: self.events.clone(),
        }
    }

    /// Validates `spec` and adds it as a stopped pipeline named after the graph.
    pub fn add(&self, spec: &GraphSpec) -> Result<Arc<Pipeline>, EngineError> {
        let graph = validate(spec, &self.registry)?;
        let pipeline = Arc::new(Pipeline::new(&spec.name, graph, Arc::clone(&self.registry), self.options()));
        self.pipelines.write().insert(spec.name.clone(), Arc::clone(&pipeline));
        Ok(pipeline)
    }

    /// Starts the configured pipeline. Without a display, or when the
    /// configured one cannot start (no audio server, say), records the test
    /// pattern instead and says why.
    pub fn start_default(&self) -> Result<Arc<Pipeline>, EngineError> {
        let spec = presets::load(&self.config.pipeline)?;
        let reason = if uses_screen(&spec) { probe_display().err() } else { None };
        let reason = match reason {
            Some(r) => Some(r),
            None => match self.add(&spec).and_then(|p| p.start().map(|()| p).map_err(EngineError::from)) {
                Ok(p) => {
                    *self.default.write() = Some(spec.name.clone());
                    return Ok(p);
                }
                Err(e) if self.config.pipeline != presets::HEADLESS_PRESET => {
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
        p.start()?;
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
