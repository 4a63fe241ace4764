//! One module per resource. Each handler carries its `#[utoipa::path]`, so the
//! OpenAPI document is generated from the same types the handlers use.

pub mod ai;
pub mod capture;
pub mod clips;
pub mod config;
pub mod docs;
pub mod health;
pub mod infer;
pub mod marketplace;
pub mod metadata;
pub mod nodes;
pub mod pipelines;
pub mod plugins;
pub mod profiles;
pub mod root;
pub mod system;
pub mod tasks;
pub mod ui;

use crate::config::SharedConfig;
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::security::Guard;
use crate::store::Store;
use clipshot_runtime::{Engine, Hotkey};
use std::sync::Arc;
use std::time::Instant;

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Models and the ONNX Runtime under them.
    pub ai: Arc<clipshot_ai::Ai>,
    /// Analysis jobs.
    pub tasks: Arc<tasks::Tasks>,
    /// Changes the log filter live.
    pub log: LogHandle,
    pub config: SharedConfig,
    pub hotkey: Arc<parking_lot::Mutex<Hotkey>>,
    pub store: Store,
    pub guard: Arc<Guard>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
}

/// Replaces the daemon's log filter (tracing `EnvFilter` syntax).
pub type LogReload = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

#[derive(Clone)]
pub struct LogHandle(pub LogReload);

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogHandle")
    }
}

/// Runs blocking engine work (GStreamer state changes, saves, file probes)
/// off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Problem::internal(e.to_string()))
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "database");
        Problem::internal(e.to_string())
    }
}
