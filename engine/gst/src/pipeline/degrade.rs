//! Degrading instead of failing: an optional part (declared `optional` in the
//! graph, with what only it feeds) that cannot start or stops is left out,
//! the rest records, and the part is retried with back-off until it joins
//! the running pipeline again. Every error names its node.

use super::Shared;
use crate::error::BuildError;
use crate::kind::Substitute;
use clipshot_core::{Degradation, Event, MediaType, NodeFault, PadDirection, Runtime};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::time::{Duration, Instant};

const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// An optional part that does not run now.
#[derive(Debug)]
pub(super) struct Missing {
    degradation: Degradation,
    retry_at: Instant,
    backoff: Duration,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not in the pipeline; retried when due.
    Left,
    /// Included in the next build, to see whether it starts now.
    Trial,
    /// In the pipeline again, but recovered only once it delivers data:
    /// a source can start and fail a moment later (a device that is gone).
    Joining { frames_out: u64 },
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Shared {
    /// Whether node `n` is left out because an optional part is missing.
    pub(super) fn is_left_out(&self, n: usize) -> bool {
        self.missing.lock().iter().any(|(&o, m)| m.stage == Stage::Left && self.graph.dropped_with(o).contains(&n))
    }

    /// Keeps the last error of a node for its stats.
    pub(super) fn record_fault(&self, fault: &NodeFault) {
        if !fault.node.is_empty() {
            self.faults.lock().insert(fault.node.clone(), fault.to_string());
        }
    }

    /// The next build includes `optional` again (it cannot join while the
    /// pipeline plays).
    pub(super) fn try_at_next_build(&self, optional: usize) {
        if let Some(m) = self.missing.lock().get_mut(&optional) {
            m.stage = Stage::Trial;
        }
    }

    /// The pipeline started with the parts on trial: they are joining.
    pub(super) fn trials_joined(&self) {
        let trials: Vec<usize> =
            self.missing.lock().iter().filter(|(_, m)| m.stage == Stage::Trial).map(|(&o, _)| o).collect();
        for o in trials {
            self.joining(o);
        }
    }

    /// `optional` is in the running pipeline again; it has recovered once
    /// its data flows.
    pub(super) fn joining(&self, optional: usize) {
        let frames_out = self.frames_out(optional);
        if let Some(m) = self.missing.lock().get_mut(&optional) {
            m.stage = Stage::Joining { frames_out };
        }
    }

    /// Parts joining whose data flows have recovered.
    pub(super) fn confirm_joined(&self) {
        let flowing: Vec<usize> = self
            .missing
            .lock()
            .iter()
            .filter(|(o, m)| matches!(m.stage, Stage::Joining { frames_out } if self.frames_out(**o) > frames_out))
            .map(|(&o, _)| o)
            .collect();
        for o in flowing {
            self.mark_recovered(o);
        }
    }

    fn frames_out(&self, node: usize) -> u64 {
        self.counters[&self.graph.spec().nodes[node].id].frames_out.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that optional node `optional` (and what only it feeds) does
    /// not run, says so once, and schedules a retry.
    pub(super) fn mark_missing(&self, optional: usize, fault: NodeFault) {
        let spec = self.graph.spec();
        let mut missing = self.missing.lock();
        if let Some(m) = missing.get_mut(&optional) {
            // A trial or a join that failed: still missing, retried later.
            if m.stage != Stage::Left {
                m.stage = Stage::Left;
                m.backoff = (m.backoff * 2).min(RETRY_MAX);
                m.retry_at = Instant::now() + m.backoff;
            }
            m.degradation.reason = fault.reason;
            m.degradation.element = fault.element;
            return;
        }
        let degradation = Degradation {
            pipeline: self.id.clone(),
            node: fault.node,
            kind: fault.kind,
            element: fault.element,
            reason: fault.reason,
            dropped: self.graph.dropped_with(optional).iter().map(|&n| spec.nodes[n].id.clone()).collect(),
            instead: self.instead(optional),
            since: now_rfc3339(),
            retry_in_ms: Some(RETRY_MIN.as_millis() as u64),
        };
        tracing::warn!(pipeline = %self.id, "{degradation}");
        self.options.events.emit(Event::PipelineDegraded(degradation.clone()));
        missing.insert(
            optional,
            Missing { degradation, retry_at: Instant::now() + RETRY_MIN, backoff: RETRY_MIN, stage: Stage::Left },
        );
    }

    /// A retry of `optional` failed: the next one waits twice as long.
    pub(super) fn retry_failed(&self, optional: usize, fault: &NodeFault) {
        if let Some(m) = self.missing.lock().get_mut(&optional) {
            m.backoff = (m.backoff * 2).min(RETRY_MAX);
            m.retry_at = Instant::now() + m.backoff;
            m.degradation.reason.clone_from(&fault.reason);
            m.degradation.element.clone_from(&fault.element);
            tracing::debug!(pipeline = %self.id, retry_in = ?m.backoff, "{fault}: still missing");
        }
    }

    /// `optional` runs again.
    pub(super) fn mark_recovered(&self, optional: usize) {
        if self.missing.lock().remove(&optional).is_none() {
            return;
        }
        let node = &self.graph.spec().nodes[optional];
        tracing::info!(pipeline = %self.id, "node `{}` ({}) runs again", node.id, node.kind);
        self.options.events.emit(Event::PipelineRecovered {
            pipeline: self.id.clone(),
            node: node.id.clone(),
            kind: node.kind.clone(),
        });
    }

    /// Missing parts whose retry is due.
    pub(super) fn retries_due(&self) -> Vec<usize> {
        let now = Instant::now();
        self.missing
            .lock()
            .iter()
            .filter(|(_, m)| m.stage == Stage::Left && m.retry_at <= now)
            .map(|(&o, _)| o)
            .collect()
    }

    /// Whether `optional` can join the running pipeline only by a rebuild:
    /// something that keeps running feeds it (a new branch would need a tee
    /// where there is none).
    pub(super) fn joins_by_rebuild(&self, optional: usize) -> bool {
        let dropped = self.graph.dropped_with(optional);
        self.graph.links().iter().any(|l| dropped.contains(&l.to_node) && !dropped.contains(&l.from_node))
    }

    /// The first context problem of optional node `optional`'s part, if any.
    pub(super) fn part_context_fault(&self, optional: usize) -> Option<NodeFault> {
        let part = self.graph.dropped_with(optional);
        let spec = self.graph.spec();
        clipshot_core::validate::context_problems(&self.graph, &self.registry())
            .into_iter()
            .find(|(n, _)| part.contains(n))
            .map(|(n, p)| NodeFault {
                node: spec.nodes[n].id.clone(),
                kind: spec.nodes[n].kind.clone(),
                element: None,
                reason: p.message,
            })
    }

    /// Forgets every missing part: a stopped pipeline starts whole again.
    pub(super) fn forget_missing(&self) {
        self.missing.lock().clear();
    }

    /// The nodes that run with a substitute this run (a software encoder
    /// for a hardware one that failed), said once when it changes.
    pub(super) fn set_substitutes(&self, found: Vec<(usize, Substitute)>) {
        let spec = self.graph.spec();
        let mut current = self.substitutes.lock();
        let mut next = Vec::new();
        for (ni, s) in found {
            let node = &spec.nodes[ni];
            let known = current.iter().find(|d| d.node == node.id && d.reason == s.reason && d.instead == s.instead);
            let d = known.cloned().unwrap_or_else(|| {
                let d = Degradation {
                    pipeline: self.id.clone(),
                    node: node.id.clone(),
                    kind: node.kind.clone(),
                    element: s.element,
                    reason: s.reason,
                    dropped: Vec::new(),
                    instead: s.instead,
                    since: now_rfc3339(),
                    retry_in_ms: None,
                };
                self.options.events.emit(Event::PipelineDegraded(d.clone()));
                d
            });
            next.push(d);
        }
        *current = next;
    }

    /// What the pipeline does without `optional`, in a user's words.
    fn instead(&self, optional: usize) -> String {
        let spec = self.graph.spec();
        let dropped = self.graph.dropped_with(optional);
        let registry = self.registry();
        let media = |l: &clipshot_core::validate::ResolvedLink| {
            registry
                .descriptor(&spec.nodes[l.from_node].kind)
                .and_then(|d| d.pad(&l.from_pad, PadDirection::Out))
                .map(|p| p.media)
        };
        let audio = |m: Option<MediaType>| matches!(m, Some(MediaType::RawAudio | MediaType::Aac | MediaType::Opus));
        let (lost, kept): (Vec<_>, Vec<_>) = self
            .graph
            .links()
            .iter()
            .filter(|l| !dropped.contains(&l.to_node))
            .partition(|l| dropped.contains(&l.from_node));
        let kept_audio = kept.iter().any(|l| audio(media(l)));
        if !lost.is_empty() && lost.iter().all(|l| audio(media(l))) && !kept_audio {
            "recording video only".to_owned()
        } else {
            let ids: Vec<String> = dropped.iter().map(|&n| format!("`{}`", spec.nodes[n].id)).collect();
            format!("running without {}", ids.join(", "))
        }
    }

    /// Every way the pipeline runs short now.
    pub(super) fn degradations(&self) -> Vec<Degradation> {
        let now = Instant::now();
        let mut all: Vec<Degradation> = self
            .missing
            .lock()
            .values()
            .map(|m| Degradation {
                retry_in_ms: Some(m.retry_at.saturating_duration_since(now).as_millis() as u64),
                ..m.degradation.clone()
            })
            .collect();
        all.extend(self.substitutes.lock().iter().cloned());
        all
    }

    /// The node an element belongs to: elements are named `node.role`, link
    /// elements `from.pad->to.pad` (the producing node's).
    pub(super) fn node_of(&self, element_name: &str) -> Option<usize> {
        let id = element_name.split('.').next()?;
        self.graph.spec().nodes.iter().position(|n| n.id == id)
    }

    /// The node fault behind an error message, when a node's element posted it.
    pub(super) fn fault_of(&self, err: &gst::message::Error) -> NodeFault {
        let cause = err.error().to_string();
        match err.src().and_then(|s| s.downcast_ref::<gst::Element>().cloned()) {
            Some(element) => self.fault_of_element(&element, &cause),
            None => self.unowned_fault(err.src().map(|s| s.name().to_string()), cause),
        }
    }

    pub(super) fn fault_of_element(&self, element: &gst::Element, cause: &str) -> NodeFault {
        let name = element.name();
        let factory = element.factory().map(|f| f.name().to_string());
        let Some(ni) = self.node_of(&name) else { return self.unowned_fault(Some(name.to_string()), cause.into()) };
        let node = &self.graph.spec().nodes[ni];
        let reason = match (self.registry().get(&node.kind).map(|k| k.runtime()), &factory) {
            (Some(Runtime::Segment(s)), Some(f)) => s.explain(f, cause),
            _ => cause.to_owned(),
        };
        NodeFault { node: node.id.clone(), kind: node.kind.clone(), element: factory, reason }
    }

    /// An error no node's element posted (the pipeline itself, say).
    fn unowned_fault(&self, src: Option<String>, cause: String) -> NodeFault {
        NodeFault { node: String::new(), kind: String::new(), element: src, reason: cause }
    }

    /// The node a build error is about, with the fault to report.
    pub(super) fn fault_of_build(&self, e: &BuildError) -> Option<(usize, NodeFault)> {
        let spec = self.graph.spec();
        let (node, element, reason) = match e {
            BuildError::Fault(f) => (f.node.clone(), f.element.clone(), f.reason.clone()),
            BuildError::MissingElement { node, element, hint } => {
                (node.clone(), Some(element.clone()), format!("GStreamer element `{element}` is not installed{hint}"))
            }
            BuildError::Node { node, message } => (node.clone(), None, message.clone()),
            BuildError::Link { from, reason, .. } => (from.split('.').next()?.to_owned(), None, reason.clone()),
            BuildError::Init(_) | BuildError::Invalid(_) | BuildError::Start(_) => return None,
        };
        let ni = spec.nodes.iter().position(|n| n.id == node)?;
        Some((ni, NodeFault { node, kind: spec.nodes[ni].kind.clone(), element, reason }))
    }
}
