//! Supervision: a thread per pipeline builds it, plays it, watches its bus,
//! and rebuilds it with back-off after an error. Rings survive rebuilds.

use super::build::Assembled;
use super::{Command, Shared};
use crate::error::BuildError;
use clipshot_core::{Event, PipelineState};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the back-off.
const STABLE_RUN: Duration = Duration::from_secs(10);
const EOS_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a run ended.
enum RunEnd {
    Stopped,
    Failed(String),
    Finished,
}

pub(super) fn supervise(
    shared: &Arc<Shared>,
    commands: &Receiver<Command>,
    mut first: Option<Sender<Result<(), BuildError>>>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        shared.set_state(PipelineState::Starting, None);
        let started = Instant::now();
        let end = match shared.build().and_then(|assembled| play(shared, assembled)) {
            Ok(assembled) => {
                if let Some(tx) = first.take() {
                    let _ = tx.send(Ok(()));
                }
                let end = watch(shared, &assembled.pipeline, commands, assembled.needs_eos);
                drop(assembled);
                shared.run.lock().current = None;
                // A stopped pipeline shows no stale preview.
                shared.images.lock().clear();
                end
            }
            Err(e) => {
                let message = e.to_string();
                if let Some(tx) = first.take() {
                    let _ = tx.send(Err(e));
                }
                RunEnd::Failed(message)
            }
        };
        match end {
            RunEnd::Stopped => {
                shared.set_state(PipelineState::Stopped, None);
                return;
            }
            RunEnd::Finished => {
                shared.set_state(PipelineState::Stopped, Some("end of stream".into()));
                // Wait for an explicit stop; a finished file source is not restarted.
                let _ = commands.recv();
                return;
            }
            RunEnd::Failed(message) => {
                if started.elapsed() >= STABLE_RUN {
                    backoff = MIN_BACKOFF;
                }
                tracing::error!(pipeline = %shared.id, error = %message, retry_in = ?backoff, "pipeline failed");
                crate::encode::probe::invalidate();
                shared.set_state(PipelineState::Error, Some(message.clone()));
                shared.options.events.emit(Event::PipelineError {
                    pipeline: shared.id.clone(),
                    message,
                    restart_in_ms: Some(backoff.as_millis() as u64),
                });
                match commands.recv_timeout(backoff) {
                    Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => {
                        shared.set_state(PipelineState::Stopped, None);
                        return;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                shared.run.lock().restarts += 1;
            }
        }
    }
}

fn play(shared: &Shared, assembled: Assembled) -> Result<Assembled, BuildError> {
    let pipeline = &assembled.pipeline;
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        // The bus usually says why far better than the state change does.
        let why = pipeline
            .bus()
            .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
            .and_then(|m| match m.view() {
                gst::MessageView::Error(err) => Some(err.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| e.to_string());
        return Err(BuildError::Start(why));
    }
    {
        let mut run = shared.run.lock();
        run.current = Some(pipeline.clone());
        run.started = Some(Instant::now());
    }
    shared.set_state(PipelineState::Running, None);
    Ok(assembled)
}

fn watch(shared: &Shared, pipeline: &gst::Pipeline, commands: &Receiver<Command>, needs_eos: bool) -> RunEnd {
    let Some(bus) = pipeline.bus() else { return RunEnd::Failed("pipeline has no bus".into()) };
    loop {
        if let Ok(Command::Stop) = commands.try_recv() {
            if needs_eos {
                pipeline.send_event(gst::event::Eos::new());
                let _ = bus.timed_pop_filtered(
                    gst::ClockTime::from_nseconds(EOS_TIMEOUT.as_nanos() as u64),
                    &[gst::MessageType::Eos, gst::MessageType::Error],
                );
            }
            return RunEnd::Stopped;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
        match msg.view() {
            gst::MessageView::Error(err) => {
                let src = err.src().map(|s| s.name().to_string()).unwrap_or_default();
                let details = err.debug().map(|d| format!(" ({d})")).unwrap_or_default();
                tracing::debug!(pipeline = %shared.id, element = %src, "{}{details}", err.error());
                return RunEnd::Failed(format!("{src}: {}", err.error()));
            }
            gst::MessageView::Eos(_) => return RunEnd::Finished,
            gst::MessageView::Qos(q) => {
                let (_, dropped) = q.stats();
                let node = q.src().map(|s| s.name().to_string()).unwrap_or_default();
                let node = node.split('.').next().unwrap_or_default();
                if let (Some(c), Some(d)) = (shared.counters.get(node), dropped.value().try_into().ok()) {
                    c.dropped.fetch_max(d, Ordering::Relaxed);
                }
            }
            gst::MessageView::Warning(w) => {
                tracing::warn!(pipeline = %shared.id, "{}", w.error());
            }
            _ => {}
        }
    }
}
