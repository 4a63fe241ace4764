//! Plugins in the engine: their node kinds join the one registry beside the
//! built-ins, and the pipelines that use a plugin are restarted when its
//! code changes under them (reload, new config, update).
//!
//! A plugin's kinds stay registered while it is unloaded or disabled: the
//! pipelines using them keep recording with those nodes bypassed, and can
//! restart. They leave the registry only when the plugin is uninstalled,
//! which is refused while a pipeline uses it.

use crate::engine::{Engine, EngineError, Settings};
use clipshot_core::EventSink;
use clipshot_gst::Registry;
use clipshot_plugin_host::manager::ManagerConfig;
use clipshot_plugin_host::manifest::Permission;
use clipshot_plugin_host::{Isolation, PluginConfig, PluginInfo, PluginKind, PluginManager, Policy};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// The engine's plugin state: the manager and which plugin owns each kind.
pub(crate) struct Plugins {
    manager: PluginManager,
    kinds: Mutex<BTreeMap<String, (String, Arc<PluginKind>)>>,
}

impl Plugins {
    pub(crate) fn new(settings: &Settings, events: Arc<dyn EventSink>) -> Self {
        let config = ManagerConfig {
            plugins_dir: settings.plugins_dir.clone(),
            state_dir: settings.data_dir.join("plugin-host"),
            isolation: if settings.plugin_sandbox { Isolation::OutOfProcess } else { Isolation::InProcess },
            // The daemon's own binary, `clipshot plugin-host`.
            host: clipshot_plugin_host::sandbox::HostCommand::current_exe().unwrap_or_else(|_| {
                clipshot_plugin_host::sandbox::HostCommand {
                    program: "clipshot".into(),
                    args: vec!["plugin-host".into()],
                }
            }),
            policy: Policy { call_timeout: settings.plugin_timeout, ..Policy::default() },
            memory_bytes: Some(2 << 30),
            engine_version: semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("the crate version is semver"),
        };
        Self { manager: PluginManager::new(config, events), kinds: Mutex::new(BTreeMap::new()) }
    }

    pub(crate) fn manager(&self) -> &PluginManager {
        &self.manager
    }
}

impl Engine {
    /// The installed plugins (listing, health, config and permissions as
    /// they are; changes go through the `plugin_*` methods).
    pub fn plugins(&self) -> &PluginManager {
        self.plugins.manager()
    }

    /// Loads every enabled plugin; called once, before any pipeline starts.
    pub(crate) fn load_plugins(&self) {
        let mut by_plugin: BTreeMap<String, Vec<Arc<PluginKind>>> = BTreeMap::new();
        for kind in self.plugins().load_enabled() {
            by_plugin.entry(kind.plugin().id().to_owned()).or_default().push(kind);
        }
        for (plugin, kinds) in by_plugin {
            if let Err(e) = self.adopt(&plugin, kinds) {
                tracing::error!(%plugin, "plugin left out: {e}");
            }
        }
    }

    /// Registers a plugin's kinds (replacing its earlier ones) and restarts
    /// the pipelines that use them.
    fn adopt(&self, plugin: &str, kinds: Vec<Arc<PluginKind>>) -> Result<(), EngineError> {
        let registry = {
            let mut owned = self.plugins.kinds.lock();
            for kind in &kinds {
                let name = kind.descriptor_kind();
                let owner = if self.base_registry().get(&name).is_some() {
                    Some("the engine".to_owned())
                } else {
                    owned.get(&name).filter(|(p, _)| p != plugin).map(|(p, _)| format!("plugin `{p}`"))
                };
                if let Some(owner) = owner {
                    drop(owned);
                    let _ = self.plugins().unload(plugin);
                    return Err(EngineError::KindConflict { plugin: plugin.to_owned(), kind: name, owner });
                }
            }
            // The same code as registered already (loading a loaded plugin):
            // nothing changes, nothing restarts.
            let mine = owned.values().filter(|(p, _)| p == plugin).count();
            let unchanged = mine == kinds.len()
                && kinds.iter().all(|k| owned.get(&k.descriptor_kind()).is_some_and(|(_, old)| Arc::ptr_eq(old, k)));
            if unchanged {
                return Ok(());
            }
            owned.retain(|_, (p, _)| p != plugin);
            for kind in kinds {
                owned.insert(kind.descriptor_kind(), (plugin.to_owned(), kind));
            }
            let registry = self.compose(&owned)?;
            // Under the lock: two adopts store their registries in order.
            self.set_registry(Arc::clone(&registry));
            registry
        };
        self.restart_users(plugin, &registry);
        Ok(())
    }

    fn compose(&self, owned: &BTreeMap<String, (String, Arc<PluginKind>)>) -> Result<Arc<Registry>, EngineError> {
        let mut registry = self.base_registry().clone();
        for (_, kind) in owned.values() {
            registry.register(Arc::clone(kind) as _)?;
        }
        Ok(Arc::new(registry))
    }

    /// The pipelines with a node of one of `plugin`'s kinds.
    fn users(&self, plugin: &str) -> Vec<Arc<clipshot_gst::Pipeline>> {
        let kinds: BTreeSet<String> =
            self.plugins.kinds.lock().iter().filter(|(_, (p, _))| p == plugin).map(|(k, _)| k.clone()).collect();
        self.pipelines_snapshot()
            .into_iter()
            .filter(|p| p.graph().spec().nodes.iter().any(|n| kinds.contains(&n.kind)))
            .collect()
    }

    /// Restarts the pipelines using a plugin so their nodes come from its
    /// current code. A running pipeline's ring keeps its contents.
    fn restart_users(&self, plugin: &str, registry: &Arc<Registry>) {
        for pipeline in self.users(plugin) {
            if let Err(e) = clipshot_core::validate::validate(pipeline.graph().spec(), registry) {
                tracing::warn!(pipeline = %pipeline.id(), %plugin, "not restarted: the plugin's kinds changed: {e}");
                continue;
            }
            pipeline.set_registry(Arc::clone(registry));
            if pipeline.state() != clipshot_core::PipelineState::Stopped {
                tracing::info!(pipeline = %pipeline.id(), %plugin, "restarting for the plugin's new code");
                pipeline.stop();
                if let Err(e) = self.start(&pipeline) {
                    tracing::error!(pipeline = %pipeline.id(), "{e}");
                }
            }
        }
    }

    /// Loads a plugin (its dependencies first); its kinds join the registry.
    pub fn plugin_load(&self, id: &str) -> Result<PluginInfo, EngineError> {
        let kinds = self.plugins().load(id)?;
        self.adopt(id, kinds)?;
        Ok(self.plugins().info(id)?)
    }

    /// Stops a plugin's code; pipelines keep running with its nodes bypassed.
    pub fn plugin_unload(&self, id: &str) -> Result<PluginInfo, EngineError> {
        self.plugins().unload(id)?;
        Ok(self.plugins().info(id)?)
    }

    /// Reads the plugin's folder again, loads it and restarts its pipelines.
    pub fn plugin_reload(&self, id: &str) -> Result<PluginInfo, EngineError> {
        let kinds = self.plugins().reload(id)?;
        self.adopt(id, kinds)?;
        Ok(self.plugins().info(id)?)
    }

    pub fn plugin_enable(&self, id: &str) -> Result<PluginInfo, EngineError> {
        let kinds = self.plugins().enable(id)?;
        self.adopt(id, kinds)?;
        Ok(self.plugins().info(id)?)
    }

    pub fn plugin_disable(&self, id: &str) -> Result<PluginInfo, EngineError> {
        self.plugins().disable(id)?;
        Ok(self.plugins().info(id)?)
    }

    /// Installs (or updates) from an archive and loads it when it is
    /// enabled; a refused load is in the answer's `error`, the install stands.
    pub fn plugin_install(
        &self,
        archive: &Path,
        expected_id: Option<&str>,
        grant: &[Permission],
    ) -> Result<PluginInfo, EngineError> {
        let info = self.plugins().install(archive, expected_id, grant)?;
        if info.enabled
            && let Err(e) = self.plugin_load(&info.id)
        {
            tracing::warn!(plugin = %info.id, "installed, not loaded: {e}");
        }
        Ok(self.plugins().info(&info.id)?)
    }

    /// Uninstalls a plugin no pipeline uses.
    pub fn plugin_uninstall(&self, id: &str) -> Result<(), EngineError> {
        let users: Vec<String> = self.users(id).iter().map(|p| p.id().to_owned()).collect();
        if !users.is_empty() {
            return Err(EngineError::PluginInUse { plugin: id.to_owned(), pipelines: users });
        }
        self.plugins().uninstall(id)?;
        {
            let mut owned = self.plugins.kinds.lock();
            owned.retain(|_, (p, _)| p != id);
            let registry = self.compose(&owned)?;
            self.set_registry(registry);
        }
        Ok(())
    }

    /// Validates and stores a plugin's config; a loaded plugin is reloaded
    /// with it (and its pipelines restarted).
    pub fn plugin_set_config(
        &self,
        id: &str,
        config: serde_json::Map<String, serde_json::Value>,
    ) -> Result<PluginConfig, EngineError> {
        let stored = self.plugins().set_config(id, config)?;
        if self.plugins().info(id)?.loaded {
            self.plugin_reload(id)?;
        }
        Ok(stored)
    }

    /// Grants and revokes permissions. A plugin that lost a required one is
    /// unloaded; an enabled one that now has all it needs is loaded.
    pub fn plugin_set_permissions(
        &self,
        id: &str,
        grants: &BTreeMap<Permission, bool>,
    ) -> Result<BTreeMap<Permission, clipshot_plugin_host::manager::PermissionState>, EngineError> {
        let states = self.plugins().set_permissions(id, grants)?;
        let info = self.plugins().info(id)?;
        if info.enabled
            && !info.loaded
            && let Err(e) = self.plugin_load(id)
        {
            tracing::info!(plugin = %id, "permissions saved, not loaded: {e}");
        }
        Ok(states)
    }
}
