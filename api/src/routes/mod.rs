//! One module per resource.

pub mod health;
pub mod pipelines;

use crate::config::Config;
use crate::engine::Engine;
use crate::hotkey::HotkeyStatus;
use std::sync::Arc;

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub hotkey: Arc<parking_lot::RwLock<HotkeyStatus>>,
}
