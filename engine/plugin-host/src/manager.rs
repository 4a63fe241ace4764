//! The installed plugins and their lifecycle: discovery of
//! `<plugins_dir>/*/manifest.json`, what the user decided (enabled, granted
//! permissions, config — persisted in `<state_dir>/plugins.json`), install
//! from an archive, load / unload / reload, health.
//!
//! The manager knows nothing of pipelines: loading returns node kinds for
//! the engine's registry, and the engine restarts what uses them.

use crate::archive::{self, ArchiveError};
use crate::library::{self, LoadError};
use crate::manifest::{Manifest, ManifestError, Os, ParseMode, Permission, PermissionLevel, PluginType};
use crate::node::{NodeStats, PluginKind};
use crate::resolve::{self, ResolveProblem};
use crate::supervisor::{Isolation, LoadFailure, LoadSpec, OnDisabled, Plugin, PluginHealth, Policy};
use clipshot_core::event::{Event, EventSink};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// Where plugins live and how they run.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Installed plugins, one folder each (the seeds' `PLUGINS_DIR`).
    pub plugins_dir: PathBuf,
    /// The engine's own plugin state: `plugins.json`, the private library
    /// copies (`cache/`) and each plugin's data folder (`data/<id>`).
    pub state_dir: PathBuf,
    /// The default isolation (the seeds' `PLUGIN_SANDBOX_ENABLED`).
    pub isolation: Isolation,
    #[cfg(target_os = "linux")]
    pub host: crate::sandbox::HostCommand,
    pub policy: Policy,
    /// A plugin host's data-size limit.
    pub memory_bytes: Option<u64>,
    pub engine_version: semver::Version,
}

/// Why an operation on a plugin was refused. `code()` names the reason for
/// the API's problem documents.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin `{0}` is installed")]
    NotFound(String),
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("`{id}` cannot load: {}", join(.problems))]
    Dependency { id: String, problems: Vec<ResolveProblem> },
    #[error("`{id}` does not run on {platform} (it supports {supported})")]
    Platform { id: String, platform: String, supported: String },
    #[error("`{id}` needs the {} permission{} granted first", join(.missing), if .missing.len() == 1 { "" } else { "s" })]
    Permission { id: String, missing: Vec<Permission> },
    #[error("`{id}`: {error}")]
    Library { id: String, error: LoadError },
    #[error("`{id}`: {message}")]
    Host { id: String, message: String },
    #[error("`{0}` is disabled; enable it first")]
    Disabled(String),
    #[error("invalid config for `{id}`: {}", .problems.join("; "))]
    Config { id: String, problems: Vec<String> },
    #[error("the archive was refused: {0}")]
    Archive(#[from] ArchiveError),
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Io(String),
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl PluginError {
    /// A short reason: `not-found`, `manifest`, `dependency`, `platform`,
    /// `permission`, `hash`, `abi`, `build`, `identity`, `open`, `init`,
    /// `describe`, `host`, `disabled`, `config`, `archive`, `mismatch`, `io`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not-found",
            Self::Manifest(_) => "manifest",
            Self::Dependency { .. } => "dependency",
            Self::Platform { .. } => "platform",
            Self::Permission { .. } => "permission",
            Self::Library { error, .. } => error.code(),
            Self::Host { .. } => "host",
            Self::Disabled(_) => "disabled",
            Self::Config { .. } => "config",
            Self::Archive(_) => "archive",
            Self::Mismatch(_) => "mismatch",
            Self::Io(_) => "io",
        }
    }
}

/// What the user decided about one plugin (persisted).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Decisions {
    enabled: bool,
    #[serde(default)]
    granted: BTreeSet<Permission>,
    #[serde(default)]
    config: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    isolation: Option<Isolation>,
    /// Set when crashes disabled the plugin.
    #[serde(default)]
    disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    installed_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    updated_at: Option<OffsetDateTime>,
}

impl Decisions {
    fn new() -> Self {
        Self {
            enabled: true,
            granted: BTreeSet::new(),
            config: None,
            isolation: None,
            disabled_reason: None,
            installed_at: OffsetDateTime::now_utc(),
            updated_at: None,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    plugins: BTreeMap<String, Decisions>,
}

/// Plugin status, as the seeds name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PluginStatus {
    /// Installed and valid, not running (disabled, or not loaded yet).
    Installed,
    /// Its nodes run.
    Running,
    /// Enabled but unloaded.
    Stopped,
    /// Refused (see `error`), or disabled by crashes.
    Error,
}

/// A permission as the user sees it: asked for, and granted or not.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PermissionState {
    pub level: PermissionLevel,
    pub granted: bool,
    pub reason: BTreeMap<String, String>,
}

/// Why the last load was refused.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

/// One plugin, as `GET /api/v1/plugins` lists it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginInfo {
    pub id: String,
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub plugin_type: Option<PluginType>,
    pub category: String,
    pub description: BTreeMap<String, String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub author: Option<crate::manifest::Author>,
    pub license: String,
    pub status: PluginStatus,
    pub enabled: bool,
    pub loaded: bool,
    pub isolation: Isolation,
    pub permissions: BTreeMap<Permission, PermissionState>,
    pub platforms: Vec<Os>,
    /// The node kinds it adds (while loaded).
    pub node_kinds: Vec<String>,
    pub dependencies: BTreeMap<String, String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub library: Option<crate::library::LibraryInfo>,
    pub error: Option<Refusal>,
    /// Why crashes disabled it, when they did.
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub installed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub updated_at: Option<OffsetDateTime>,
}

/// The plugin's config and the schema it is checked against.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginConfig {
    pub plugin_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Map<String, serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub schema: Option<serde_json::Value>,
}

/// Totals for system health and metrics.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginTotals {
    pub total: usize,
    /// Loaded, enabled and not disabled by crashes.
    pub active: usize,
    /// Restarting after a crash, or disabled by crashes.
    pub crashed: usize,
}

struct Installed {
    folder: PathBuf,
    manifest: Result<Manifest, String>,
    plugin: Option<Arc<Plugin>>,
    kinds: Vec<Arc<PluginKind>>,
    error: Option<Refusal>,
}

/// Filters of `GET /api/v1/plugins`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub plugin_type: Option<PluginType>,
    pub category: Option<String>,
    pub enabled: Option<bool>,
}

/// The installed plugins.
pub struct PluginManager {
    config: ManagerConfig,
    events: Arc<dyn EventSink>,
    installed: Mutex<BTreeMap<String, Installed>>,
    /// Its own lock, taken last: a crash report persists from under a
    /// plugin's lock and must not wait on `installed`.
    persisted: Arc<Mutex<Persisted>>,
    /// Serializes the lifecycle (load, unload, install, …): a check and the
    /// change it decides on happen under it. Reentrant: `reload` is
    /// `unload` then `load`. Plugin code is never called under `installed`.
    lifecycle: parking_lot::ReentrantMutex<()>,
}

impl std::fmt::Debug for PluginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginManager").field("plugins_dir", &self.config.plugins_dir).finish()
    }
}

fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("plugins.json")
}

fn save(state_dir: &Path, persisted: &Persisted) {
    let path = state_file(state_dir);
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let bytes = serde_json::to_vec_pretty(persisted).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, &bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        tracing::error!(path = %path.display(), "cannot save the plugins' state: {e}");
    }
}

impl PluginManager {
    /// Reads the persisted decisions and discovers the installed plugins
    /// (nothing is loaded yet: see [`PluginManager::load_enabled`]).
    pub fn new(config: ManagerConfig, events: Arc<dyn EventSink>) -> Self {
        let persisted = std::fs::read(state_file(&config.state_dir))
            .ok()
            .and_then(|b| match serde_json::from_slice::<Persisted>(&b) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::error!("the plugins' state file is unreadable ({e}); starting from defaults");
                    None
                }
            })
            .unwrap_or_default();
        let manager = Self {
            config,
            events,
            installed: Mutex::new(BTreeMap::new()),
            persisted: Arc::new(Mutex::new(persisted)),
            lifecycle: parking_lot::ReentrantMutex::new(()),
        };
        manager.discover();
        manager
    }

    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    /// Scans the plugins folder. Loaded plugins keep running; a folder that
    /// went away is forgotten once unloaded.
    pub fn discover(&self) {
        let mut found: BTreeMap<String, (PathBuf, Result<Manifest, String>)> = BTreeMap::new();
        if let Ok(dirs) = std::fs::read_dir(&self.config.plugins_dir) {
            let mut dirs: Vec<PathBuf> = dirs.filter_map(|d| d.ok().map(|d| d.path())).filter(|p| p.is_dir()).collect();
            dirs.sort();
            for dir in dirs {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if name.starts_with('.') || !dir.join(crate::manifest::MANIFEST_FILE).exists() {
                    continue;
                }
                match Manifest::load(&dir) {
                    Ok(m) => {
                        found.insert(m.id.clone(), (dir, Ok(m)));
                    }
                    Err(e) => {
                        tracing::warn!(folder = %dir.display(), "plugin manifest refused: {e}");
                        // Listed under the id it claims when that much is readable.
                        let claimed = std::fs::read(dir.join(crate::manifest::MANIFEST_FILE))
                            .ok()
                            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                            .and_then(|v| v["id"].as_str().map(str::to_owned))
                            .filter(|id| crate::manifest::is_plugin_id(id));
                        found.entry(claimed.unwrap_or(name)).or_insert((dir, Err(e.to_string())));
                    }
                }
            }
        }
        let mut installed = self.installed.lock();
        installed.retain(|id, p| p.plugin.is_some() || found.contains_key(id));
        for (id, (folder, manifest)) in found {
            let entry = installed.entry(id.clone()).or_insert_with(|| Installed {
                folder: folder.clone(),
                manifest: manifest.clone(),
                plugin: None,
                kinds: Vec::new(),
                error: None,
            });
            if entry.plugin.is_none() {
                entry.folder = folder;
                entry.manifest = manifest;
            }
            let mut persisted = self.persisted.lock();
            if !persisted.plugins.contains_key(&id) && entry.manifest.is_ok() {
                persisted.plugins.insert(id, Decisions::new());
                save(&self.config.state_dir, &persisted);
            }
        }
    }

    /// Loads every enabled plugin, dependencies first. Refusals are
    /// recorded (and logged), never fatal. Returns the loaded kinds.
    pub fn load_enabled(&self) -> Vec<Arc<PluginKind>> {
        let _lifecycle = self.lifecycle.lock();
        let manifests: Vec<Manifest> =
            self.installed.lock().values().filter_map(|p| p.manifest.as_ref().ok().cloned()).collect();
        let resolution = resolve::load_order(&manifests, &self.config.engine_version);
        for (id, problems) in &resolution.refused {
            tracing::warn!(plugin = %id, "plugin cannot load: {}", join(problems));
            if let Some(p) = self.installed.lock().get_mut(id) {
                p.error = Some(Refusal { code: "dependency".into(), message: join(problems) });
            }
        }
        let mut kinds = Vec::new();
        for id in resolution.order {
            if !self.enabled(&id) {
                continue;
            }
            match self.load(&id) {
                Ok(k) => kinds.extend(k),
                Err(e) => tracing::warn!(plugin = %id, code = e.code(), "plugin not loaded: {e}"),
            }
        }
        kinds
    }

    fn enabled(&self, id: &str) -> bool {
        self.persisted.lock().plugins.get(id).is_some_and(|d| d.enabled)
    }

    fn manifest(&self, id: &str) -> Result<Manifest, PluginError> {
        let installed = self.installed.lock();
        let p = installed.get(id).ok_or_else(|| PluginError::NotFound(id.to_owned()))?;
        p.manifest.clone().map_err(|message| {
            PluginError::Manifest(ManifestError::Invalid {
                path: p.folder.join(crate::manifest::MANIFEST_FILE),
                problems: vec![crate::manifest::Problem { pointer: String::new(), message }],
            })
        })
    }

    fn record(
        &self,
        id: &str,
        result: Result<Vec<Arc<PluginKind>>, PluginError>,
    ) -> Result<Vec<Arc<PluginKind>>, PluginError> {
        if let Err(e) = &result
            && let Some(p) = self.installed.lock().get_mut(id)
        {
            p.error = Some(Refusal { code: e.code().into(), message: e.to_string() });
        }
        result
    }

    /// Loads a plugin (its dependencies first). Idempotent: a loaded plugin
    /// answers its kinds.
    pub fn load(&self, id: &str) -> Result<Vec<Arc<PluginKind>>, PluginError> {
        let _lifecycle = self.lifecycle.lock();
        let result = self.load_inner(id, &mut Vec::new());
        self.record(id, result)
    }

    fn load_inner(&self, id: &str, visiting: &mut Vec<String>) -> Result<Vec<Arc<PluginKind>>, PluginError> {
        let manifest = self.manifest(id)?;
        let stale = {
            let mut installed = self.installed.lock();
            match installed.get_mut(id) {
                Some(p) if p.plugin.as_ref().is_some_and(|pl| pl.disabled().is_none()) => return Ok(p.kinds.clone()),
                // Crashes disabled it and the user enabled it again: fresh code.
                Some(p) => p.plugin.take(),
                None => None,
            }
        };
        if let Some(plugin) = stale {
            plugin.unload();
        }
        let decisions =
            self.persisted.lock().plugins.get(id).cloned().ok_or_else(|| PluginError::NotFound(id.to_owned()))?;
        if !decisions.enabled {
            return Err(PluginError::Disabled(id.to_owned()));
        }
        // Engine range and dependencies, against everything installed.
        let manifests: Vec<Manifest> =
            self.installed.lock().values().filter_map(|p| p.manifest.as_ref().ok().cloned()).collect();
        let resolution = resolve::load_order(&manifests, &self.config.engine_version);
        if let Some(problems) = resolution.refused.get(id) {
            return Err(PluginError::Dependency { id: id.to_owned(), problems: problems.clone() });
        }
        let platform = crate::manifest::current_platform();
        let os_ok = crate::manifest::current_os().is_some_and(|os| manifest.platforms.contains(&os));
        let Some(binary) = manifest.binary_for_current_platform().filter(|_| os_ok).cloned() else {
            return Err(PluginError::Platform {
                id: id.to_owned(),
                platform: platform.to_owned(),
                supported: manifest.native.binaries.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        };
        let missing: Vec<Permission> = manifest
            .permissions
            .iter()
            .filter(|(p, r)| r.level == PermissionLevel::Required && !decisions.granted.contains(p))
            .map(|(p, _)| *p)
            .collect();
        if !missing.is_empty() {
            return Err(PluginError::Permission { id: id.to_owned(), missing });
        }
        let config = decisions.config.clone().unwrap_or_else(|| manifest.config.clone());
        check_config(&manifest, &config)?;
        if manifest.native.abi_version != clipshot_plugin_sdk::abi::CS_ABI_VERSION {
            let error = LoadError::Abi {
                found: manifest.native.abi_version,
                expected: clipshot_plugin_sdk::abi::CS_ABI_VERSION,
            };
            return Err(PluginError::Library { id: id.to_owned(), error });
        }
        for dependency in manifest.dependencies.keys() {
            if visiting.iter().any(|v| v == dependency) {
                continue;
            }
            visiting.push(id.to_owned());
            let loaded = self.load_inner(dependency, visiting);
            visiting.pop();
            if loaded.is_err() {
                let problems = vec![ResolveProblem::DependencyRefused { dependency: dependency.clone() }];
                return Err(PluginError::Dependency { id: id.to_owned(), problems });
            }
        }

        let lib_err = |error| PluginError::Library { id: id.to_owned(), error };
        let source = manifest.dir.join(&binary.path);
        let copy =
            library::private_copy(&source, &binary.sha256, &self.config.state_dir.join("cache")).map_err(lib_err)?;
        let data_dir = self.config.state_dir.join("data").join(id);
        std::fs::create_dir_all(&data_dir).map_err(|e| PluginError::Io(format!("{}: {e}", data_dir.display())))?;
        let persisted = Arc::clone(&self.persisted);
        let state_dir = self.config.state_dir.clone();
        let on_disabled: OnDisabled = Arc::new(move |plugin: &str, reason: &str| {
            let mut p = persisted.lock();
            if let Some(d) = p.plugins.get_mut(plugin) {
                d.enabled = false;
                d.disabled_reason = Some(reason.to_owned());
            }
            save(&state_dir, &p);
        });
        let spec = LoadSpec {
            plugin_id: id.to_owned(),
            library: copy,
            sha256: binary.sha256.clone(),
            symbol: manifest.entry.native.clone(),
            isolation: decisions.isolation.unwrap_or(self.config.isolation),
            #[cfg(target_os = "linux")]
            host: self.config.host.clone(),
            memory_bytes: self.config.memory_bytes,
            policy: self.config.policy,
            config: serde_json::Value::Object(config),
            data_dir,
            events: Arc::clone(&self.events),
            on_disabled,
        };
        let plugin = Plugin::load(spec).map_err(|e| match e {
            LoadFailure::Library(error) => lib_err(error),
            LoadFailure::Host(message) => PluginError::Host { id: id.to_owned(), message },
        })?;
        let kinds = PluginKind::all(&plugin).map_err(|message| lib_err(LoadError::Describe { index: 0, message }))?;
        tracing::info!(
            plugin = %id,
            version = %plugin.info().plugin_version,
            isolation = ?plugin.isolation(),
            kinds = %kinds.iter().map(|k| k.descriptor_kind()).collect::<Vec<_>>().join(", "),
            "plugin loaded"
        );
        self.events.emit(Event::PluginLoaded { plugin: id.to_owned(), version: manifest.version.to_string() });
        let mut installed = self.installed.lock();
        if let Some(p) = installed.get_mut(id) {
            p.plugin = Some(plugin);
            p.kinds = kinds.clone();
            p.error = None;
        }
        Ok(kinds)
    }

    /// Stops a plugin's code; nodes of it still in pipelines are bypassed.
    /// Returns the kinds it had.
    pub fn unload(&self, id: &str) -> Result<Vec<Arc<PluginKind>>, PluginError> {
        let _lifecycle = self.lifecycle.lock();
        let (plugin, kinds) = {
            let mut installed = self.installed.lock();
            let p = installed.get_mut(id).ok_or_else(|| PluginError::NotFound(id.to_owned()))?;
            (p.plugin.take(), std::mem::take(&mut p.kinds))
        };
        // Outside `installed`: stopping in-process code waits for its call.
        if let Some(plugin) = plugin {
            plugin.unload();
            tracing::info!(plugin = %id, "plugin unloaded");
        }
        Ok(kinds)
    }

    /// Unloads, reads the folder again (a new version, say) and loads.
    pub fn reload(&self, id: &str) -> Result<Vec<Arc<PluginKind>>, PluginError> {
        let _lifecycle = self.lifecycle.lock();
        self.unload(id)?;
        self.discover();
        self.load(id)
    }

    /// Enables (persisted) and loads.
    pub fn enable(&self, id: &str) -> Result<Vec<Arc<PluginKind>>, PluginError> {
        let _lifecycle = self.lifecycle.lock();
        self.set_decision(id, |d| {
            d.enabled = true;
            d.disabled_reason = None;
        })?;
        self.load(id)
    }

    /// Disables (persisted) and unloads.
    pub fn disable(&self, id: &str) -> Result<(), PluginError> {
        let _lifecycle = self.lifecycle.lock();
        self.set_decision(id, |d| d.enabled = false)?;
        self.unload(id).map(drop)
    }

    fn set_decision(&self, id: &str, f: impl FnOnce(&mut Decisions)) -> Result<(), PluginError> {
        self.manifest(id)?;
        let mut persisted = self.persisted.lock();
        let d = persisted.plugins.entry(id.to_owned()).or_insert_with(Decisions::new);
        f(d);
        d.updated_at = Some(OffsetDateTime::now_utc());
        save(&self.config.state_dir, &persisted);
        Ok(())
    }

    /// The plugin's config (the user's, else the manifest's default).
    pub fn config_of(&self, id: &str) -> Result<PluginConfig, PluginError> {
        let manifest = self.manifest(id)?;
        let config =
            self.persisted.lock().plugins.get(id).and_then(|d| d.config.clone()).unwrap_or(manifest.config.clone());
        Ok(PluginConfig { plugin_id: id.to_owned(), config, schema: manifest.config_schema })
    }

    /// Validates (every problem) and persists a config; the caller reloads.
    pub fn set_config(
        &self,
        id: &str,
        config: serde_json::Map<String, serde_json::Value>,
    ) -> Result<PluginConfig, PluginError> {
        let manifest = self.manifest(id)?;
        check_config(&manifest, &config)?;
        self.set_decision(id, |d| d.config = Some(config))?;
        self.config_of(id)
    }

    pub fn permissions(&self, id: &str) -> Result<BTreeMap<Permission, PermissionState>, PluginError> {
        let manifest = self.manifest(id)?;
        let granted = self.persisted.lock().plugins.get(id).map(|d| d.granted.clone()).unwrap_or_default();
        Ok(permission_states(&manifest, &granted))
    }

    /// Grants and revokes; a plugin that loses a required permission is
    /// unloaded (its nodes are bypassed). Permissions it does not ask for
    /// cannot be granted.
    pub fn set_permissions(
        &self,
        id: &str,
        grants: &BTreeMap<Permission, bool>,
    ) -> Result<BTreeMap<Permission, PermissionState>, PluginError> {
        let _lifecycle = self.lifecycle.lock();
        let manifest = self.manifest(id)?;
        let asked: Vec<String> = grants
            .iter()
            .filter(|(p, g)| **g && manifest.permission_level(**p) == PermissionLevel::None)
            .map(|(p, _)| p.to_string())
            .collect();
        if !asked.is_empty() {
            return Err(PluginError::Mismatch(format!("`{id}` does not ask for {}", asked.join(", "))));
        }
        self.set_decision(id, |d| {
            for (p, g) in grants {
                if *g {
                    d.granted.insert(*p);
                } else {
                    d.granted.remove(p);
                }
            }
        })?;
        let states = self.permissions(id)?;
        let lost = states.values().any(|s| s.level == PermissionLevel::Required && !s.granted);
        if lost && self.installed.lock().get(id).is_some_and(|p| p.plugin.is_some()) {
            self.unload(id)?;
        }
        Ok(states)
    }

    /// Installs (or updates) a plugin from a `.tar.gz`. When `expected_id`
    /// is given, the archive must be that plugin. `grant` is the user's
    /// consent at install time. Nothing is loaded here.
    pub fn install(
        &self,
        archive: &Path,
        expected_id: Option<&str>,
        grant: &[Permission],
    ) -> Result<PluginInfo, PluginError> {
        let _lifecycle = self.lifecycle.lock();
        let io = |e: std::io::Error| PluginError::Io(e.to_string());
        std::fs::create_dir_all(&self.config.plugins_dir).map_err(io)?;
        let staging = self.config.plugins_dir.join(format!(".installing-{}-{}", std::process::id(), unique()));
        let cleanup = Cleanup(staging.clone());
        archive::extract(archive, &staging, archive::Limits::default())?;
        let manifest = Manifest::load_with(&staging, ParseMode::Installed)?;
        if let Some(expected) = expected_id
            && expected != manifest.id
        {
            return Err(PluginError::Mismatch(format!("the archive holds `{}`, not `{expected}`", manifest.id)));
        }
        // Refuse a package whose binary does not match its own manifest now,
        // not at its first load.
        for (platform, binary) in &manifest.native.binaries {
            let path = staging.join(&binary.path);
            if !path.is_file() {
                if Some(platform.as_str()) == Some(crate::manifest::current_platform()) {
                    return Err(PluginError::Mismatch(format!("the archive lacks {}", binary.path)));
                }
                continue;
            }
            let actual = library::sha256_file(&path).map_err(io)?;
            if actual != binary.sha256 {
                let error = LoadError::Hash { expected: binary.sha256.clone(), actual };
                return Err(PluginError::Library { id: manifest.id.clone(), error });
            }
        }
        let id = manifest.id.clone();
        // An update replaces the folder the plugin is in, whatever its name.
        let current = self.installed.lock().get(&id).map(|p| p.folder.clone());
        let target = current.unwrap_or_else(|| self.config.plugins_dir.join(&id));
        let updating = target.exists();
        if updating {
            self.unload(&id)?;
            let old = self.config.plugins_dir.join(format!(".old-{id}-{}", unique()));
            std::fs::rename(&target, &old).map_err(io)?;
            let _ = std::fs::remove_dir_all(&old);
        }
        std::fs::rename(&staging, &target).map_err(io)?;
        std::mem::forget(cleanup);
        {
            let mut persisted = self.persisted.lock();
            let d = persisted.plugins.entry(id.clone()).or_insert_with(Decisions::new);
            if updating {
                d.updated_at = Some(OffsetDateTime::now_utc());
            }
            d.granted.extend(grant.iter().copied().filter(|p| manifest.permission_level(*p) != PermissionLevel::None));
            save(&self.config.state_dir, &persisted);
        }
        self.discover();
        tracing::info!(plugin = %id, version = %manifest.version, "plugin installed");
        self.info(&id)
    }

    /// Unloads and deletes a plugin (its folder and decisions; its data
    /// folder stays). Returns the kinds it had.
    pub fn uninstall(&self, id: &str) -> Result<Vec<Arc<PluginKind>>, PluginError> {
        let _lifecycle = self.lifecycle.lock();
        let kinds = self.unload(id)?;
        let folder =
            self.installed.lock().remove(id).map(|p| p.folder).ok_or_else(|| PluginError::NotFound(id.to_owned()))?;
        std::fs::remove_dir_all(&folder).map_err(|e| PluginError::Io(format!("{}: {e}", folder.display())))?;
        let mut persisted = self.persisted.lock();
        persisted.plugins.remove(id);
        save(&self.config.state_dir, &persisted);
        Ok(kinds)
    }

    pub fn info(&self, id: &str) -> Result<PluginInfo, PluginError> {
        let installed = self.installed.lock();
        let p = installed.get(id).ok_or_else(|| PluginError::NotFound(id.to_owned()))?;
        Ok(self.describe(id, p))
    }

    pub fn list(&self, filter: &ListFilter) -> Vec<PluginInfo> {
        let installed = self.installed.lock();
        installed
            .iter()
            .map(|(id, p)| self.describe(id, p))
            .filter(|i| filter.plugin_type.is_none_or(|t| i.plugin_type == Some(t)))
            .filter(|i| filter.category.as_deref().is_none_or(|c| i.category == c))
            .filter(|i| filter.enabled.is_none_or(|e| i.enabled == e))
            .collect()
    }

    fn describe(&self, id: &str, p: &Installed) -> PluginInfo {
        let decisions = self.persisted.lock().plugins.get(id).cloned();
        let enabled = decisions.as_ref().is_some_and(|d| d.enabled);
        let crash_disabled = p.plugin.as_ref().and_then(|pl| pl.disabled());
        let disabled_reason =
            crash_disabled.clone().or_else(|| decisions.as_ref().and_then(|d| d.disabled_reason.clone()));
        let loaded = p.plugin.is_some() && crash_disabled.is_none();
        let status = if p.manifest.is_err() || crash_disabled.is_some() || (p.error.is_some() && !loaded) {
            PluginStatus::Error
        } else if loaded {
            PluginStatus::Running
        } else if enabled {
            PluginStatus::Stopped
        } else {
            PluginStatus::Installed
        };
        let error = match &p.manifest {
            Err(message) => Some(Refusal { code: "manifest".into(), message: message.clone() }),
            Ok(_) => p.error.clone(),
        };
        let granted = decisions.as_ref().map(|d| d.granted.clone()).unwrap_or_default();
        let m = p.manifest.as_ref().ok();
        PluginInfo {
            id: id.to_owned(),
            name: m.map_or_else(|| id.to_owned(), |m| m.name.clone()),
            version: m.map_or_else(String::new, |m| m.version.to_string()),
            plugin_type: m.map(|m| m.plugin_type),
            category: m.map_or_else(String::new, |m| m.category.clone()),
            description: m.map(|m| m.description.clone()).unwrap_or_default(),
            author: m.map(|m| m.author.clone()),
            license: m.map_or_else(String::new, |m| m.license.clone()),
            status,
            enabled,
            loaded,
            isolation: p
                .plugin
                .as_ref()
                .map(|pl| pl.isolation())
                .or(decisions.as_ref().and_then(|d| d.isolation))
                .unwrap_or(self.config.isolation),
            permissions: m.map(|m| permission_states(m, &granted)).unwrap_or_default(),
            platforms: m.map(|m| m.platforms.clone()).unwrap_or_default(),
            node_kinds: p.kinds.iter().map(|k| k.descriptor_kind()).collect(),
            dependencies: m
                .map(|m| m.dependencies.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
                .unwrap_or_default(),
            library: p.plugin.as_ref().map(|pl| pl.info().clone()),
            error,
            disabled_reason,
            installed_at: decisions.as_ref().map(|d| d.installed_at),
            updated_at: decisions.as_ref().and_then(|d| d.updated_at),
        }
    }

    /// Health of a loaded plugin, with its running nodes' own counters.
    pub fn health(&self, id: &str) -> Result<(PluginHealth, Vec<NodeStats>), PluginError> {
        let (plugin, kinds) = {
            let installed = self.installed.lock();
            let p = installed.get(id).ok_or_else(|| PluginError::NotFound(id.to_owned()))?;
            (p.plugin.clone(), p.kinds.clone())
        };
        let Some(plugin) = plugin else {
            let (enabled, reason) =
                self.persisted.lock().plugins.get(id).map_or((false, None), |d| (d.enabled, d.disabled_reason.clone()));
            return Ok((
                PluginHealth::not_loaded(id, if enabled { "unloaded" } else { "disabled" }, reason),
                Vec::new(),
            ));
        };
        let nodes = kinds.iter().flat_map(|k| k.node_stats()).collect();
        Ok((plugin.health(), nodes))
    }

    pub fn totals(&self) -> PluginTotals {
        let installed = self.installed.lock();
        let mut totals = PluginTotals { total: installed.len(), ..PluginTotals::default() };
        for p in installed.values() {
            if let Some(plugin) = &p.plugin {
                let h = plugin.health();
                match h.status.as_str() {
                    "disabled" | "restarting" => totals.crashed += 1,
                    "unloaded" => {}
                    _ => totals.active += 1,
                }
            }
        }
        totals
    }

    /// Every loaded plugin's kinds (for the engine's registry).
    pub fn loaded_kinds(&self) -> Vec<Arc<PluginKind>> {
        self.installed.lock().values().flat_map(|p| p.kinds.iter().cloned()).collect()
    }

    /// Stops every plugin host.
    pub fn shutdown(&self) {
        let _lifecycle = self.lifecycle.lock();
        let plugins: Vec<Arc<Plugin>> = self.installed.lock().values_mut().filter_map(|p| p.plugin.take()).collect();
        for plugin in plugins {
            plugin.unload();
        }
    }
}

fn permission_states(manifest: &Manifest, granted: &BTreeSet<Permission>) -> BTreeMap<Permission, PermissionState> {
    manifest
        .permissions
        .iter()
        .map(|(p, r)| (*p, PermissionState { level: r.level, granted: granted.contains(p), reason: r.reason.clone() }))
        .collect()
}

fn check_config(manifest: &Manifest, config: &serde_json::Map<String, serde_json::Value>) -> Result<(), PluginError> {
    let Some(schema) = &manifest.config_schema else { return Ok(()) };
    let validator = jsonschema::validator_for(schema).map_err(|e| PluginError::Config {
        id: manifest.id.clone(),
        problems: vec![format!("the plugin's config_schema is invalid: {e}")],
    })?;
    let instance = serde_json::Value::Object(config.clone());
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| {
            format!(
                "{}: {e}",
                if e.instance_path.to_string().is_empty() { "/".to_owned() } else { e.instance_path.to_string() }
            )
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(PluginError::Config { id: manifest.id.clone(), problems }) }
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Removes a staging folder unless forgotten.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
