//! The global hotkey that saves a clip.
//!
//! `global-hotkey` talks to X in its own thread and its `register()` returns Ok
//! even when that thread could not connect and died, so the display is probed
//! first and the thread is proved alive after the grab (see [`grab`]); a
//! failed grab (GNOME binds Alt+F10 itself) is reported, not hidden.

use crate::engine::Engine;
use clipshot_core::Trigger;
use clipshot_gst::SaveRequest;
use clipshot_gst::capture::x11::probe_display;
use global_hotkey::hotkey::HotKey;
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};
use serde::Serialize;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Whether the hotkey works, for `/health` and the log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HotkeyStatus {
    pub active: bool,
    pub binding: String,
    /// Why it is inactive.
    pub reason: Option<String>,
}

/// A request to the hotkey thread: bind this key, answer how it went.
type Rebind = (HotKey, mpsc::Sender<Result<(), String>>);

/// A running hotkey listener; [`Hotkey::rebind`] changes the key live.
#[derive(Debug)]
pub struct Hotkey {
    status: HotkeyStatus,
    rebind: Option<mpsc::Sender<Rebind>>,
    engine: Arc<Engine>,
}

impl Hotkey {
    pub fn status(&self) -> HotkeyStatus {
        self.status.clone()
    }

    /// Binds another key (the empty string disables the hotkey).
    pub fn rebind(&mut self, binding: &str) -> HotkeyStatus {
        if let (Some(tx), Ok(hotkey)) = (&self.rebind, HotKey::from_str(binding)) {
            let (done_tx, done_rx) = mpsc::channel();
            if tx.send((hotkey, done_tx)).is_ok()
                && let Ok(result) = done_rx.recv_timeout(Duration::from_secs(5))
            {
                self.status = match result {
                    Ok(()) => HotkeyStatus { active: true, binding: binding.to_owned(), reason: None },
                    Err(reason) => inactive(binding, reason),
                };
                return self.status();
            }
        }
        self.rebind = None;
        *self = start(Arc::clone(&self.engine), binding);
        self.status()
    }
}

/// Checks a binding's syntax (`Alt+F10`) without grabbing anything.
pub fn check_binding(binding: &str) -> Result<(), String> {
    HotKey::from_str(binding).map(|_| ()).map_err(|e| format!("`{binding}` is not a hotkey: {e}"))
}

fn inactive(binding: &str, reason: String) -> HotkeyStatus {
    tracing::warn!(hotkey = binding, "hotkey disabled: {reason}; bind `clipshot clip` to a desktop shortcut instead");
    HotkeyStatus { active: false, binding: binding.to_owned(), reason: Some(reason) }
}

/// Starts listening for `binding` in a thread of its own; each press saves
/// the configured `clip_seconds` from the default pipeline.
/// A manager whose X thread holds the grab of `hotkey`.
///
/// `register()` answers Ok when the manager's X thread is dead (it could not
/// connect: a busy X server resets connections now and then, and the thread
/// only logs that). A live thread refuses a second `register()` of the same
/// key as already registered, so that second call proves it alive; a dead
/// one is replaced, a few times, before the hotkey is reported inactive.
fn grab(hotkey: HotKey) -> Result<GlobalHotKeyManager, String> {
    const ATTEMPTS: u32 = 5;
    for attempt in 1..=ATTEMPTS {
        let manager = GlobalHotKeyManager::new().map_err(|e| e.to_string())?;
        manager.register(hotkey).map_err(|e| format!("could not grab the key: {e}"))?;
        match manager.register(hotkey) {
            Err(global_hotkey::Error::AlreadyRegistered(_)) => return Ok(manager),
            Err(e) => return Err(format!("could not grab the key: {e}")),
            Ok(()) => {
                tracing::warn!(attempt, "the hotkey's X connection failed; connecting again");
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
        }
    }
    Err(format!("could not connect to the X server for the hotkey ({ATTEMPTS} attempts; the log says why)"))
}

pub fn start(engine: Arc<Engine>, binding: &str) -> Hotkey {
    let off = |status: HotkeyStatus| Hotkey { status, rebind: None, engine: Arc::clone(&engine) };
    if binding.trim().is_empty() {
        return off(HotkeyStatus {
            active: false,
            binding: String::new(),
            reason: Some("no hotkey configured".into()),
        });
    }
    let hotkey = match HotKey::from_str(binding) {
        Ok(h) => h,
        Err(e) => return off(inactive(binding, format!("`{binding}` is not a hotkey: {e}"))),
    };
    if let Err(reason) = probe_display() {
        return off(inactive(binding, reason));
    }
    // The manager must live, and be used, on one thread.
    let (tx, rx) = mpsc::channel();
    let (rebind_tx, rebind_rx) = mpsc::channel::<Rebind>();
    let thread_engine = Arc::clone(&engine);
    let spawned = std::thread::Builder::new().name("hotkey".into()).spawn(move || {
        let manager = match grab(hotkey) {
            Ok(m) => m,
            Err(e) => return drop(tx.send(Err(e))),
        };
        let _ = tx.send(Ok(()));
        let mut current = hotkey;
        let events = GlobalHotKeyEvent::receiver();
        loop {
            match rebind_rx.try_recv() {
                Ok((next, done)) => {
                    let _ = manager.unregister(current);
                    let result = manager.register(next).map_err(|e| format!("could not grab the key: {e}"));
                    if result.is_ok() {
                        current = next;
                    }
                    let _ = done.send(result);
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    let _ = manager.unregister(current);
                    return;
                }
                Err(mpsc::TryRecvError::Empty) => {}
            }
            let Ok(event) = events.recv_timeout(Duration::from_millis(100)) else { continue };
            tracing::debug!(id = event.id, state = ?event.state, "hotkey event");
            if event.id == current.id() && event.state == HotKeyState::Pressed {
                let engine = Arc::clone(&thread_engine);
                // Each save in its own thread: a post-roll never delays the next press.
                // The pipeline reports the outcome (`clip.saved` or `clip.failed`).
                std::thread::spawn(move || {
                    let request = SaveRequest::last(engine.clip_seconds(), Trigger::Hotkey);
                    if let Err(e) = engine.save(None, &request) {
                        tracing::warn!(error = %e, "hotkey pressed, but no clip was saved");
                    }
                });
            }
        }
    });
    if let Err(e) = spawned {
        return off(inactive(binding, e.to_string()));
    }
    let status = match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => {
            tracing::info!(hotkey = binding, "hotkey active: press it to save a clip");
            HotkeyStatus { active: true, binding: binding.to_owned(), reason: None }
        }
        Ok(Err(reason)) => inactive(binding, reason),
        Err(_) => inactive(binding, "the hotkey thread did not answer".into()),
    };
    let rebind = status.active.then_some(rebind_tx);
    Hotkey { status, rebind, engine }
}
