//! Recording on demand: a `sink.file` branch tapped off the encoded streams
//! that feed the replay ring, added to the running pipeline and taken out
//! again, as OBS records beside its replay buffer with the same encoders.
//! The record path never notices: the taps are request pads of the tees that
//! every encoded output passes through.

use super::Shared;
use super::build::Assembled;
use crate::error::BuildError;
use crate::kind::BuildCtx;
use clipshot_core::{Event, Props, Runtime};
use crossbeam_channel::Receiver;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The branch's node name: not a valid node id, so it never meets one.
const NODE: &str = "@recording";
const EOS_WAIT: Duration = Duration::from_secs(5);

/// A recording that runs, or ran.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingInfo {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    /// UTC, RFC 3339.
    pub started_at: String,
    pub duration_s: f64,
    /// Bytes written so far.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("already recording to {0}")]
    Already(PathBuf),
    #[error("not recording")]
    NotRecording,
    #[error("the pipeline is not running")]
    NotRunning,
    #[error("the pipeline has no replay ring to record beside")]
    NoRing,
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The recording as the pipeline keeps it across calls.
#[derive(Debug)]
pub(super) struct Active {
    path: PathBuf,
    started: Instant,
    started_at: String,
}

impl Active {
    pub(super) fn info(&self) -> RecordingInfo {
        RecordingInfo {
            path: self.path.clone(),
            started_at: self.started_at.clone(),
            duration_s: self.started.elapsed().as_secs_f64(),
            bytes: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
        }
    }
}

/// The branch's elements in the running pipeline.
pub(super) struct Branch {
    elements: Vec<gst::Element>,
    /// Tee, its request pad, and the queue's sink pad it feeds.
    taps: Vec<(gst::Element, gst::Pad, gst::Pad)>,
    eos: Receiver<()>,
}

impl Shared {
    /// Starts a `sink.file` branch (`props` as for that kind) fed by the
    /// streams that feed the ring. The file starts at a keyframe.
    pub(super) fn start_recording(&self, a: &mut Assembled, props: &Props) -> Result<PathBuf, RecordError> {
        if let Some(active) = self.recording.lock().as_ref() {
            return Err(RecordError::Already(active.path.clone()));
        }
        let spec = self.graph.spec();
        let ring = spec.nodes.iter().position(|n| n.kind == "replay.ring").ok_or(RecordError::NoRing)?;
        // What feeds the ring, where it runs: the tee of each feeding output.
        let mut feeds = Vec::new();
        for pad in ["video", "audio"] {
            let Some(link) = self.graph.link_to(ring, pad) else { continue };
            let from = &spec.nodes[link.from_node].id;
            if let Some(tee) = a.pipeline.by_name(&format!("{from}.{}.tee", link.from_pad)) {
                feeds.push((pad, tee));
            }
        }
        if !feeds.iter().any(|(p, _)| *p == "video") {
            return Err(RecordError::NotRunning);
        }
        self.recording_failed.store(false, Ordering::Release);
        let mut props = props.clone();
        props.entry("name").or_insert_with(|| self.id.clone().into());
        let registry = self.registry();
        let Some(Runtime::Segment(segment)) = registry.get("sink.file").map(|k| k.runtime()) else {
            return Err(RecordError::Build(BuildError::Start("no `sink.file` kind in the registry".into())));
        };
        let mut ctx = BuildCtx {
            pipeline: &a.pipeline,
            node: NODE,
            options: &self.options,
            linked_outputs: Vec::new(),
            linked_inputs: feeds
                .iter()
                .map(|(p, tee)| {
                    let caps = tee.static_pad("sink").and_then(|s| s.current_caps());
                    ((*p).to_owned(), caps.unwrap_or_else(gst::Caps::new_any))
                })
                .collect(),
            late_inputs: Vec::new(),
            existing_ring: None,
        };
        let result = segment.build(&props, &mut ctx).and_then(|built| {
            let path = built.file.clone().ok_or_else(|| BuildError::Start("sink.file named no file".into()))?;
            let keyframe_seen = Arc::new(AtomicBool::new(false));
            let mut taps = Vec::new();
            for (pad, tee) in &feeds {
                let Some(input) = built.inputs.get(*pad) else { continue };
                let queue = gst::ElementFactory::make("queue")
                    .name(format!("{NODE}.queue-{pad}"))
                    .build()
                    .map_err(|e| BuildError::Start(e.to_string()))?;
                a.pipeline.add(&queue).map_err(|e| BuildError::Start(e.to_string()))?;
                queue.static_pad("src").expect("queue src").link(input).map_err(|e| BuildError::Link {
                    from: queue.name().to_string(),
                    to: format!("{NODE}.{pad}"),
                    reason: format!("{e:?}"),
                })?;
                let tee_src = tee.request_pad_simple("src_%u").expect("tee gives src pads");
                gate(&tee_src, *pad == "video", Arc::clone(&keyframe_seen));
                // A failed recording is fed nothing more: its error must not
                // flow back through the tee into the encoder and the source.
                let failed = Arc::clone(&self.recording_failed);
                tee_src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    if failed.load(Ordering::Acquire) { gst::PadProbeReturn::Drop } else { gst::PadProbeReturn::Ok }
                });
                taps.push((tee.clone(), tee_src, queue.static_pad("sink").expect("queue sink")));
            }
            let (tx, eos) = crossbeam_channel::bounded(1);
            let file = a.pipeline.by_name(&format!("{NODE}.file")).expect("sink.file made its filesink");
            file.static_pad("sink").expect("filesink sink").add_probe(
                gst::PadProbeType::EVENT_DOWNSTREAM,
                move |_, info| {
                    if let Some(gst::PadProbeData::Event(e)) = &info.data
                        && e.type_() == gst::EventType::Eos
                    {
                        let _ = tx.try_send(());
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            let elements = branch_elements(&a.pipeline);
            // Downstream first: the file, the muxer, then the queues.
            for e in &elements {
                e.sync_state_with_parent()
                    .map_err(|e| BuildError::Start(format!("the recording did not start: {e}")))?;
            }
            for (_, tee_src, queue_sink) in &taps {
                tee_src.link(queue_sink).map_err(|e| BuildError::Link {
                    from: tee_src.name().to_string(),
                    to: queue_sink.name().to_string(),
                    reason: format!("{e:?}"),
                })?;
            }
            // A keyframe now rather than at the end of the GOP.
            if let Some((_, video_src, _)) = taps.first() {
                video_src.send_event(gst_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build());
            }
            a.recording = Some(Branch { elements, taps, eos });
            Ok(path)
        });
        match result {
            Ok(path) => {
                let now = time::OffsetDateTime::now_utc();
                let started_at = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                *self.recording.lock() = Some(Active { path: path.clone(), started: Instant::now(), started_at });
                tracing::info!(pipeline = %self.id, path = %path.display(), "recording started");
                self.options
                    .events
                    .emit(Event::RecordingStarted { pipeline: self.id.clone(), path: path.display().to_string() });
                Ok(path)
            }
            Err(e) => {
                remove_branch(a, None);
                Err(e.into())
            }
        }
    }

    /// Ends the recording: the file gets its end (EOS through the branch),
    /// then the branch leaves the pipeline.
    pub(super) fn stop_recording(&self, a: &mut Assembled) -> Result<RecordingInfo, RecordError> {
        let info = self.recording.lock().as_ref().map(Active::info).ok_or(RecordError::NotRecording)?;
        if let Some(branch) = a.recording.take() {
            for (_, tee_src, queue_sink) in &branch.taps {
                let queue_sink = queue_sink.clone();
                // Unlinked between two buffers, then the branch gets its end.
                tee_src.add_probe(gst::PadProbeType::IDLE, move |pad, _| {
                    let _ = pad.unlink(&queue_sink);
                    queue_sink.send_event(gst::event::Eos::new());
                    gst::PadProbeReturn::Remove
                });
            }
            if branch.eos.recv_timeout(EOS_WAIT).is_err() {
                tracing::warn!(pipeline = %self.id, "the recording did not finish within {EOS_WAIT:?}; its file ends at the last fragment");
            }
            remove_branch(a, Some(branch));
        }
        self.recording_ended(None);
        Ok(RecordingInfo {
            duration_s: info.duration_s,
            bytes: std::fs::metadata(&info.path).map_or(info.bytes, |m| m.len()),
            ..info
        })
    }

    /// The recording's element failed: it is taken out, the rest plays on.
    pub(super) fn abort_recording(&self, a: &mut Assembled, reason: String) {
        if let Some(branch) = a.recording.take() {
            remove_branch(a, Some(branch));
        }
        self.recording_ended(Some(reason));
    }

    /// Says that the recording ended (stopped, failed, or its pipeline went).
    pub(super) fn recording_ended(&self, reason: Option<String>) {
        let Some(active) = self.recording.lock().take() else { return };
        match &reason {
            Some(r) => tracing::warn!(pipeline = %self.id, path = %active.path.display(), "recording ended: {r}"),
            None => tracing::info!(pipeline = %self.id, path = %active.path.display(), "recording stopped"),
        }
        self.options.events.emit(Event::RecordingStopped {
            pipeline: self.id.clone(),
            path: active.path.display().to_string(),
            reason,
        });
    }

    pub(super) fn is_recording_element(name: &str) -> bool {
        name.starts_with(NODE)
    }
}

/// Drops what must not start a file: video until a keyframe, audio until
/// the video has started.
fn gate(pad: &gst::Pad, video: bool, started: Arc<AtomicBool>) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if started.load(Ordering::Acquire) {
            return gst::PadProbeReturn::Remove;
        }
        let Some(gst::PadProbeData::Buffer(buffer)) = &info.data else { return gst::PadProbeReturn::Ok };
        if video && !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            started.store(true, Ordering::Release);
            return gst::PadProbeReturn::Remove;
        }
        gst::PadProbeReturn::Drop
    });
}

/// The branch's elements, the file first and the queues last.
fn branch_elements(pipeline: &gst::Pipeline) -> Vec<gst::Element> {
    let mut elements: Vec<gst::Element> =
        pipeline.children().into_iter().filter(|e| e.name().starts_with(NODE)).collect();
    let rank = |e: &gst::Element| match e.name().as_str().rsplit('.').next() {
        Some("file") => 0,
        Some("mux") => 1,
        _ => 2,
    };
    elements.sort_by_key(rank);
    elements
}

/// Takes the branch out; without one (a start that failed half-way), what
/// it left: its elements, and tee pads that feed nothing.
fn remove_branch(a: &Assembled, branch: Option<Branch>) {
    let elements = branch.as_ref().map_or_else(|| branch_elements(&a.pipeline), |b| b.elements.clone());
    match &branch {
        Some(b) => {
            for (tee, tee_src, queue_sink) in &b.taps {
                let _ = tee_src.unlink(queue_sink);
                tee.release_request_pad(tee_src);
            }
        }
        None => {
            let tees = a.pipeline.children().into_iter().filter(|e| e.name().ends_with(".tee"));
            for tee in tees {
                for pad in tee.src_pads().into_iter().filter(|p| !p.is_linked()) {
                    tee.release_request_pad(&pad);
                }
            }
        }
    }
    for e in elements.iter().rev() {
        let _ = e.set_state(gst::State::Null);
        let _ = a.pipeline.remove(e);
    }
}
