//! The clip recorder: every saved clip, whatever triggered it (hotkey, API,
//! remote, highlight), is recorded where the front end keeps its clips, and
//! only after the file was renamed into place (`clip.saved` comes then).

use crate::engine::Engine;
use clipshot_core::Event;
use clipshot_core::event::ClipSaved;
use std::future::Future;
use tokio::sync::broadcast::error::RecvError;

/// Where clips are recorded (the daemon's database).
pub trait ClipRecorder: Send + Sync + 'static {
    fn record(&self, clip: &ClipSaved) -> impl Future<Output = Result<(), String>> + Send;
}

/// Records every `clip.saved` from now on, on the current tokio runtime.
pub fn spawn(engine: &Engine, recorder: impl ClipRecorder) {
    let mut events = engine.events().subscribe(None).live;
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(stamped) => {
                    if let Event::ClipSaved(saved) = &stamped.event
                        && let Err(e) = recorder.record(saved).await
                    {
                        tracing::error!(path = %saved.path, error = %e, "cannot record the clip");
                    }
                }
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "clip recorder fell behind the event bus"),
                Err(RecvError::Closed) => return,
            }
        }
    });
}
