//! Supervision: a thread per pipeline builds it, plays it, watches its bus,
//! and rebuilds it with back-off after an error. Rings survive rebuilds.
//!
//! An error from an optional part does not stop the pipeline: the part is
//! taken out and the rest plays on ([`super::degrade`]); the part is retried
//! with back-off and joins the running pipeline when it can start again.

use super::build::Assembled;
use super::{Command, Shared};
use crate::error::BuildError;
use clipshot_core::{Event, NodeFault, PipelineState};
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
    Failed {
        message: String,
        fault: Option<NodeFault>,
    },
    Finished,
    /// A missing part can join only by building the pipeline again.
    Rebuild,
}

impl RunEnd {
    fn failed(fault: NodeFault) -> Self {
        Self::Failed { message: describe(&fault), fault: (!fault.node.is_empty()).then_some(fault) }
    }
}

/// How a fault reads everywhere: the node's when there is one.
fn describe(fault: &NodeFault) -> String {
    if fault.node.is_empty() {
        match &fault.element {
            Some(src) => format!("{src}: {}", fault.reason),
            None => fault.reason.clone(),
        }
    } else {
        fault.to_string()
    }
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
            Ok(mut assembled) => {
                shared.trials_joined();
                if let Some(tx) = first.take() {
                    let _ = tx.send(Ok(()));
                }
                let end = watch(shared, &mut assembled, commands);
                drop(assembled);
                shared.recording_ended(Some(match &end {
                    RunEnd::Failed { message, .. } => format!("the pipeline failed: {message}"),
                    _ => "the pipeline stopped".to_owned(),
                }));
                shared.run.lock().current = None;
                // A stopped pipeline shows no stale preview.
                shared.images.lock().clear();
                end
            }
            Err(e) => {
                if let Some((ni, fault)) = shared.fault_of_build(&e) {
                    shared.record_fault(&fault);
                    // An optional part that cannot start: start at once without it.
                    if let Some(owner) = shared.graph.optional_owner(ni)
                        && !shared.is_left_out(ni)
                    {
                        shared.mark_missing(owner, fault);
                        continue;
                    }
                }
                // A node's fault reads the same in the stats, the event and /health.
                let end = match shared.fault_of_build(&e) {
                    Some((_, fault)) => RunEnd::Failed { message: fault.to_string(), fault: Some(fault) },
                    None => RunEnd::Failed { message: e.to_string(), fault: None },
                };
                if let Some(tx) = first.take() {
                    let _ = tx.send(Err(e));
                }
                end
            }
        };
        match end {
            RunEnd::Stopped => {
                // Started again, the pipeline tries every part again.
                shared.forget_missing();
                shared.set_state(PipelineState::Stopped, None);
                return;
            }
            RunEnd::Finished => {
                shared.set_state(PipelineState::Stopped, Some("end of stream".into()));
                // Wait for an explicit stop; a finished file source is not restarted.
                while let Ok(command) = commands.recv() {
                    if matches!(command, Command::Stop) {
                        break;
                    }
                    command.refuse();
                }
                shared.forget_missing();
                return;
            }
            RunEnd::Rebuild => {}
            RunEnd::Failed { message, fault } => {
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
                    fault,
                });
                let retry_at = Instant::now() + backoff;
                loop {
                    match commands.recv_deadline(retry_at) {
                        Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => {
                            shared.forget_missing();
                            shared.set_state(PipelineState::Stopped, None);
                            return;
                        }
                        Ok(other) => other.refuse(),
                        Err(RecvTimeoutError::Timeout) => break,
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                shared.run.lock().restarts += 1;
            }
        }
    }
}

fn play(shared: &Shared, assembled: Assembled) -> Result<Assembled, BuildError> {
    let pipeline = &assembled.pipeline;
    // Errors posted while building come from caps queries on elements not
    // started yet (`ximagesrc` opens the display to answer one, and right
    // after an earlier pipeline closed its own, that can fail once): the
    // state change below says whether the elements work, not these.
    if let Some(bus) = pipeline.bus() {
        for msg in bus.iter_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                tracing::debug!(pipeline = %shared.id, "while building: {}", shared.fault_of(err));
            }
        }
    }
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        // The bus says which element failed and why, far better than the state change.
        let posted = pipeline.bus().and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]));
        return Err(match posted.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(err)) => {
                let fault = shared.fault_of(err);
                if fault.node.is_empty() { BuildError::Start(describe(&fault)) } else { BuildError::Fault(fault) }
            }
            _ => BuildError::Start(e.to_string()),
        });
    }
    {
        let mut run = shared.run.lock();
        run.current = Some(pipeline.clone());
        run.started = Some(Instant::now());
    }
    shared.set_state(PipelineState::Running, None);
    Ok(assembled)
}

fn watch(shared: &Arc<Shared>, a: &mut Assembled, commands: &Receiver<Command>) -> RunEnd {
    let Some(bus) = a.pipeline.bus() else {
        return RunEnd::Failed { message: "pipeline has no bus".into(), fault: None };
    };
    loop {
        match commands.try_recv() {
            Ok(Command::StartRecording(props, reply)) => {
                // A caller that gave up waiting must not leave a recording nobody knows of.
                if reply.send(shared.start_recording(a, &props)).is_err() {
                    let _ = shared.stop_recording(a);
                }
            }
            Ok(Command::StopRecording(reply)) => drop(reply.send(shared.stop_recording(a))),
            Ok(Command::Stop) | Err(crossbeam_channel::TryRecvError::Disconnected) => {
                return stop(a, &bus);
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        for optional in shared.retries_due() {
            if shared.joins_by_rebuild(optional) {
                // A rebuild interrupts everything: only when the part looks able to start.
                if let Some(fault) = shared.part_context_fault(optional) {
                    shared.retry_failed(optional, &fault);
                    continue;
                }
                shared.try_at_next_build(optional);
                stop(a, &bus);
                return RunEnd::Rebuild;
            }
            match shared.attach(a, optional) {
                Ok(()) => shared.joining(optional),
                Err(e) => {
                    let fault = shared.fault_of_build(&e).map_or_else(
                        || NodeFault {
                            node: shared.graph.spec().nodes[optional].id.clone(),
                            kind: shared.graph.spec().nodes[optional].kind.clone(),
                            element: None,
                            reason: e.to_string(),
                        },
                        |(_, f)| f,
                    );
                    shared.retry_failed(optional, &fault);
                }
            }
        }
        shared.confirm_joined();
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
        match msg.view() {
            gst::MessageView::Error(err) => {
                if err.src().is_some_and(|s| Shared::is_recording_element(&s.name())) {
                    shared.abort_recording(a, err.error().to_string());
                    continue;
                }
                let fault = shared.fault_of(err);
                if let Some(details) = err.debug() {
                    tracing::debug!(pipeline = %shared.id, "{fault} ({details})");
                }
                let Some(ni) = shared.graph.spec().nodes.iter().position(|n| n.id == fault.node) else {
                    return RunEnd::failed(fault);
                };
                shared.record_fault(&fault);
                match shared.graph.optional_owner(ni) {
                    // An element of a part already taken out said more.
                    Some(_) if shared.is_left_out(ni) => {}
                    Some(owner) => {
                        shared.detach(a, owner);
                        shared.mark_missing(owner, fault);
                    }
                    None => return RunEnd::failed(fault),
                }
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

/// Stops a run: EOS first when files are being written, so they get their end.
fn stop(a: &Assembled, bus: &gst::Bus) -> RunEnd {
    if a.needs_eos || a.recording.is_some() {
        a.pipeline.send_event(gst::event::Eos::new());
        let _ = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(EOS_TIMEOUT.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
    }
    RunEnd::Stopped
}
