//! The engine: the node registry, the pipelines it runs and their rules
//! (which one is the default, what can be removed), the one save path every
//! trigger goes through, and the event bus.

use crate::events::EventBus;
use crate::presets;
use clipshot_core::validate::validate;
use clipshot_core::{Degradation, EventSink, GraphSpec, PipelineState, ValidatedGraph, ValidationErrors};
use clipshot_gst::{Pipeline, PipelineOptions, Registry, SaveRequest, SavedClip};
use clipshot_replay::RingConfig;
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What the engine needs of the configuration; front ends map their own
/// configuration onto it and hand it over again when it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Database, token, recordings, the portal's restore token.
    pub data_dir: PathBuf,
    pub clips_dir: PathBuf,
    /// The default pipeline: a preset name or a TOML file.
    pub pipeline: String,
    /// Seconds a hotkey or CLI save takes by default.
    pub clip_seconds: f64,
    /// Seconds every replay ring holds; each graph's own value when `None`.
    pub replay_seconds: Option<f64>,
    /// Installed plugins, one folder each (seed: `PLUGINS_DIR`).
    pub plugins_dir: PathBuf,
    /// Plugins run in host processes of their own unless a plugin is set
    /// in-process (seed: `PLUGIN_SANDBOX_ENABLED`).
    pub plugin_sandbox: bool,
    /// A plugin call's budget (seed: `PLUGIN_TIMEOUT`).
    pub plugin_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub state: PipelineState,
    /// The pipeline that hotkey and CLI saves use.
    pub default: bool,
    /// Optional parts that do not run now (a sound server that is not
    /// there) and substitutes in use (x264 for a failed NVENC), each saying
    /// why and what the pipeline does instead. Empty when all runs.
    pub degraded: Vec<Degradation>,
}

/// What a pipeline's sources are doing, for people: the banner's lines.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The sources that run, as `id (kind)`.
    pub sources: Vec<String>,
    /// What is missing or substituted, one line each.
    pub missing: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Preset(#[from] presets::PresetError),
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Build(#[from] clipshot_gst::BuildError),
    #[error(transparent)]
    Registry(#[from] clipshot_core::RegistryError),
    #[error("a pipeline `{0}` exists already")]
    Exists(String),
    #[error("no pipeline `{0}`")]
    NoPipeline(String),
    #[error("no default pipeline is running")]
    NoDefault,
    #[error("the default pipeline cannot be removed")]
    DefaultPipeline,
    #[error(transparent)]
    Save(#[from] clipshot_gst::SaveError),
    #[error(transparent)]
    Record(#[from] clipshot_gst::RecordError),
    #[error(transparent)]
    Plugin(#[from] clipshot_plugin_host::PluginError),
    /// A plugin's node kind has the name of one the engine already has.
    #[error("plugin `{plugin}` adds node kind `{kind}`, which {owner} has already")]
    KindConflict { plugin: String, kind: String, owner: String },
    #[error("plugin `{plugin}` is used by pipeline{} {}: remove {} first", if .pipelines.len() == 1 { "" } else { "s" }, .pipelines.join(", "), if .pipelines.len() == 1 { "it" } else { "them" })]
    PluginInUse { plugin: String, pipelines: Vec<String> },
}

/// The registry every front end and every pipeline uses: GStreamer's
/// built-in kinds, then the processor kinds (and, later, plugins).
pub fn registry() -> Result<Registry, EngineError> {
    clipshot_gst::init()?;
    let mut registry = Registry::new();
    clipshot_gst::register_builtin(&mut registry)?;
    registry.register(clipshot_core::processor::<clipshot_preview::Preview>())?;
    clipshot_analysis::register(&mut registry)?;
    Ok(registry)
}

pub struct Engine {
    /// The built-in kinds; plugin kinds are added on top (see `plugins.rs`).
    base: Arc<Registry>,
    registry: RwLock<Arc<Registry>>,
    pub(crate) plugins: crate::plugins::Plugins,
    events: Arc<EventBus>,
    pipelines: RwLock<BTreeMap<String, Arc<Pipeline>>>,
    default: RwLock<Option<String>>,
    settings: RwLock<Settings>,
    /// Why the default pipeline is not the configured one, if it is not.
    fallback: RwLock<Option<String>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("pipelines", &self.pipelines.read().keys().collect::<Vec<_>>()).finish()
    }
}

fn uses_screen(spec: &GraphSpec) -> bool {
    spec.nodes.iter().any(|n| n.kind == "capture.screen")
}

impl Engine {
    /// The engine with its registry: the built-in kinds, then the kinds of
    /// every enabled plugin that loads (a plugin that does not is logged
    /// and left out; it never stops the engine).
    pub fn new(settings: Settings) -> Result<Self, EngineError> {
        let base = Arc::new(registry()?);
        let events = Arc::new(EventBus::new());
        let plugins = crate::plugins::Plugins::new(&settings, Arc::clone(&events) as Arc<dyn EventSink>);
        let engine = Self {
            registry: RwLock::new(Arc::clone(&base)),
            base,
            plugins,
            events,
            pipelines: RwLock::new(BTreeMap::new()),
            default: RwLock::new(None),
            settings: RwLock::new(settings),
            fallback: RwLock::new(None),
        };
        engine.load_plugins();
        Ok(engine)
    }

    /// The registry as it is now (built-ins and loaded plugins' kinds).
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry.read())
    }

    pub(crate) fn base_registry(&self) -> &Registry {
        &self.base
    }

    pub(crate) fn set_registry(&self, registry: Arc<Registry>) {
        *self.registry.write() = registry;
    }

    pub(crate) fn pipelines_snapshot(&self) -> Vec<Arc<Pipeline>> {
        self.pipelines.read().values().cloned().collect()
    }

    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// Why the default pipeline is a fallback, when it is.
    pub fn fallback(&self) -> Option<String> {
        self.fallback.read().clone()
    }

    pub fn clip_seconds(&self) -> f64 {
        self.settings.read().clip_seconds
    }

    /// Both phases of validation against this engine's registry.
    pub fn validate(&self, spec: &GraphSpec) -> Result<ValidatedGraph, ValidationErrors> {
        validate(spec, &self.registry())
    }

    fn options(&self) -> PipelineOptions {
        let settings = self.settings.read();
        PipelineOptions {
            data_dir: settings.data_dir.clone(),
            clips_dir: settings.clips_dir.clone(),
            events: Arc::clone(&self.events) as Arc<dyn EventSink>,
            offline: false,
        }
    }

    /// Validates `spec` and adds it as a stopped pipeline named after the graph.
    pub fn add(&self, spec: &GraphSpec) -> Result<Arc<Pipeline>, EngineError> {
        let graph = self.validate(spec)?;
        let mut pipelines = self.pipelines.write();
        if pipelines.contains_key(&spec.name) {
            return Err(EngineError::Exists(spec.name.clone()));
        }
        let pipeline = Arc::new(Pipeline::new(&spec.name, graph, self.registry(), self.options()));
        pipelines.insert(spec.name.clone(), Arc::clone(&pipeline));
        Ok(pipeline)
    }

    /// Starts a pipeline, then gives its rings the configured length.
    pub fn start(&self, pipeline: &Pipeline) -> Result<(), EngineError> {
        let started = pipeline.start();
        self.apply_replay_seconds(pipeline);
        Ok(started?)
    }

    /// Stops and forgets a pipeline. The default one cannot be removed.
    pub fn remove(&self, id: &str) -> Result<Arc<Pipeline>, EngineError> {
        if self.is_default(id) {
            return Err(EngineError::DefaultPipeline);
        }
        let p = self.pipelines.write().remove(id).ok_or_else(|| EngineError::NoPipeline(id.to_owned()))?;
        p.stop();
        Ok(p)
    }

    pub fn is_default(&self, id: &str) -> bool {
        self.default.read().as_deref() == Some(id)
    }

    /// Applies changed settings to what runs: where clips go and how long
    /// the rings are. The default pipeline changes at the next start.
    pub fn reconfigure(&self, settings: Settings) {
        let clips_dir = settings.clips_dir.clone();
        *self.settings.write() = settings;
        for p in self.pipelines.read().values() {
            p.set_clips_dir(clips_dir.clone());
            self.apply_replay_seconds(p);
        }
    }

    fn apply_replay_seconds(&self, pipeline: &Pipeline) {
        let Some(seconds) = self.settings.read().replay_seconds else { return };
        for (_, ring) in pipeline.rings() {
            ring.set_config(RingConfig { max_seconds: seconds, ..ring.config() });
        }
    }

    /// The one save path: the hotkey, the CLI (through the API), the API and
    /// processors all come here. `pipeline` `None` is the default pipeline.
    /// Blocks for the post-roll; call it off async executors.
    pub fn save(&self, pipeline: Option<&str>, request: &SaveRequest) -> Result<SavedClip, EngineError> {
        Ok(self.resolve(pipeline)?.save(request)?)
    }

    /// Starts the configured pipeline. Only without a display, or when the
    /// configured graph does not validate here, does it record the test
    /// pattern instead (and say why). A screen pipeline that fails to start
    /// stays the default and keeps trying with back-off, its error naming
    /// the node: colour bars are no recording of a game. (Optional parts,
    /// such as system audio in the presets, never stop it from starting.)
    pub fn start_default(&self) -> Result<Arc<Pipeline>, EngineError> {
        let configured = self.settings.read().pipeline.clone();
        let spec = presets::load(&configured)?;
        let reason = if uses_screen(&spec) { clipshot_gst::capture::x11::probe_display().err() } else { None };
        let reason = match reason {
            Some(r) => r,
            None => match self.add(&spec) {
                Ok(p) => {
                    *self.default.write() = Some(spec.name.clone());
                    if let Err(e) = self.start(&p) {
                        tracing::error!(pipeline = %spec.name, "{e}; retrying with back-off");
                    }
                    return Ok(p);
                }
                Err(e) if configured != presets::HEADLESS_PRESET => {
                    format!("pipeline `{}` cannot run here: {e}", spec.name)
                }
                Err(e) => return Err(e),
            },
        };
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
                    degraded: p.degradations(),
                }
            })
            .collect()
    }

    /// Starts recording pipeline `pipeline` (the default one when `None`)
    /// to a new file beside its replay ring; `props` as for `sink.file`.
    pub fn start_recording(&self, pipeline: Option<&str>, props: clipshot_core::Props) -> Result<PathBuf, EngineError> {
        Ok(self.resolve(pipeline)?.start_recording(props)?)
    }

    /// Ends that recording and says what it wrote.
    pub fn stop_recording(&self, pipeline: Option<&str>) -> Result<clipshot_gst::RecordingInfo, EngineError> {
        Ok(self.resolve(pipeline)?.stop_recording()?)
    }

    /// A pipeline by id, or the default one.
    pub fn resolve(&self, pipeline: Option<&str>) -> Result<Arc<Pipeline>, EngineError> {
        match pipeline {
            Some(id) => self.pipeline(id).ok_or_else(|| EngineError::NoPipeline(id.to_owned())),
            None => self.default_pipeline().ok_or(EngineError::NoDefault),
        }
    }

    /// Every way the pipelines run short now.
    pub fn degradations(&self) -> Vec<Degradation> {
        self.pipelines.read().values().flat_map(|p| p.degradations()).collect()
    }

    /// What pipeline `id` records and what it does not.
    pub fn recording(&self, id: &str) -> Option<Recording> {
        let p = self.pipeline(id)?;
        let stats = p.stats();
        let graph = p.graph();
        let sources = graph
            .spec()
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !graph.links().iter().any(|l| l.to_node == *i))
            .filter(|(_, n)| stats.nodes.iter().any(|s| s.id == n.id && s.running))
            .map(|(_, n)| format!("{} ({})", n.id, n.kind))
            .collect();
        let missing = stats.degraded.iter().map(ToString::to_string).collect();
        Some(Recording { sources, missing })
    }

    /// Stops every pipeline (sending EOS so recordings are finished), then
    /// the plugin hosts.
    pub fn shutdown(&self) {
        for p in self.pipelines.read().values() {
            p.stop();
        }
        self.plugins.manager().shutdown();
    }
}
