//! The global hotkey that saves a clip.
//!
//! `global-hotkey` talks to X in its own thread and its `register()` returns Ok
//! even when there is no X server, so the display is probed first; a failed
//! grab (GNOME binds Alt+F10 itself) is reported, not hidden.

use crate::engine::{Engine, probe_display};
use clipshot_core::Trigger;
use clipshot_gst::SaveRequest;
use global_hotkey::hotkey::HotKey;
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};
use serde::Serialize;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Whether the hotkey works, for `/health` and the log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HotkeyStatus {
    pub active: bool,
    pub binding: String,
    /// Why it is inactive.
    pub reason: Option<String>,
}

/// Starts listening for `binding` in a thread of its own; saving a clip of
/// `seconds` from the default pipeline on each press.
pub fn start(engine: Arc<Engine>, binding: &str, seconds: f64) -> HotkeyStatus {
    let inactive = |reason: String| {
        tracing::warn!(
            hotkey = binding,
            "hotkey disabled: {reason}; bind `clipshot clip` to a desktop shortcut instead"
        );
        HotkeyStatus { active: false, binding: binding.to_owned(), reason: Some(reason) }
    };
    if binding.trim().is_empty() {
        return HotkeyStatus { active: false, binding: String::new(), reason: Some("no hotkey configured".into()) };
    }
    let hotkey = match HotKey::from_str(binding) {
        Ok(h) => h,
        Err(e) => return inactive(format!("`{binding}` is not a hotkey: {e}")),
    };
    if let Err(reason) = probe_display() {
        return inactive(reason);
    }
    // The manager must live, and be used, on one thread.
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("hotkey".into()).spawn(move || {
        let manager = match GlobalHotKeyManager::new() {
            Ok(m) => m,
            Err(e) => return drop(tx.send(Err(e.to_string()))),
        };
        if let Err(e) = manager.register(hotkey) {
            return drop(tx.send(Err(format!("could not grab the key: {e}"))));
        }
        let _ = tx.send(Ok(()));
        let events = GlobalHotKeyEvent::receiver();
        while let Ok(event) = events.recv() {
            if event.id == hotkey.id() && event.state == HotKeyState::Pressed {
                let engine = Arc::clone(&engine);
                // Each save in its own thread: a post-roll never delays the next press.
                std::thread::spawn(move || match engine.default_pipeline() {
                    Some(p) => {
                        let _ = p.save(&SaveRequest::last(seconds, Trigger::Hotkey));
                    }
                    None => tracing::warn!("hotkey pressed, but no pipeline is running"),
                });
            }
        }
    });
    if let Err(e) = spawned {
        return inactive(e.to_string());
    }
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => {
            tracing::info!(hotkey = binding, "hotkey active: press it to save the last {seconds} s");
            HotkeyStatus { active: true, binding: binding.to_owned(), reason: None }
        }
        Ok(Err(reason)) => inactive(reason),
        Err(_) => inactive("the hotkey thread did not answer".into()),
    }
}
