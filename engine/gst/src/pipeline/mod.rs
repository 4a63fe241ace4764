//! The pipeline runtime: one validated graph, built into a `gst::Pipeline`
//! plus processor threads ([`build`]), supervised so that errors restart it
//! with back-off while the rings keep their contents ([`supervise`]), with
//! per-node statistics ([`stats`]).

mod build;
mod degrade;
mod processors;
mod record;
mod stats;
mod supervise;

pub use record::{RecordError, RecordingInfo};
pub use stats::{NodeStats, PipelineStats, RingFill};

use crate::error::{BuildError, SaveError};
use crate::kind::Registry;
use crate::replay::save::SaveContext;
use crate::replay::{RingNode, SaveRequest, SaveSpan, SavedClip};
use clipshot_core::processor::{Output, Outputs};
use clipshot_core::{Degradation, Event, EventSink, PipelineState, ValidatedGraph};
use clipshot_replay::ReplayRing;
use crossbeam_channel::Sender;
use gstreamer as gst;
use gstreamer::prelude::*;
use parking_lot::Mutex;
use stats::Counters;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

/// Where a pipeline writes and whom it tells.
#[derive(Clone)]
pub struct PipelineOptions {
    /// Base folder for recordings (`<data_dir>/recordings`).
    pub data_dir: PathBuf,
    /// Where saved clips go (changeable live with [`Pipeline::set_clips_dir`]).
    pub clips_dir: PathBuf,
    pub events: Arc<dyn EventSink>,
    /// Analysing a file, not recording a game: processors are fed every
    /// input (a busy one holds the decoder back) instead of dropping the
    /// oldest. Never for a live pipeline: the record path must not wait.
    pub offline: bool,
}

impl std::fmt::Debug for PipelineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineOptions").field("data_dir", &self.data_dir).field("clips_dir", &self.clips_dir).finish()
    }
}

/// The latest still image a processor node produced (the live preview).
#[derive(Debug, Clone)]
pub struct Image {
    pub content_type: String,
    pub data: Arc<[u8]>,
    /// On the ring's timeline.
    pub pts_ns: i64,
    pub at: Instant,
}

#[derive(Debug)]
struct RunState {
    state: PipelineState,
    message: Option<String>,
    started: Option<Instant>,
    restarts: u64,
    current: Option<gst::Pipeline>,
    encoders: HashMap<String, String>,
    /// Per node, bytes that a source outside GStreamer had to copy.
    copied: HashMap<String, Arc<AtomicU64>>,
}

enum Command {
    Stop,
    StartRecording(clipshot_core::Props, Sender<Result<PathBuf, RecordError>>),
    StopRecording(Sender<Result<RecordingInfo, RecordError>>),
}

impl Command {
    /// Answers a command that needs a running pipeline when there is none.
    fn refuse(self) {
        match self {
            Self::Stop => {}
            Self::StartRecording(_, reply) => drop(reply.send(Err(RecordError::NotRunning))),
            Self::StopRecording(reply) => drop(reply.send(Err(RecordError::NotRecording))),
        }
    }
}

struct Shared {
    id: String,
    graph: ValidatedGraph,
    /// Swapped when plugin kinds change (see [`Pipeline::set_registry`]);
    /// each build reads the current one.
    registry: Mutex<Arc<Registry>>,
    options: PipelineOptions,
    clips_dir: Mutex<PathBuf>,
    run: Mutex<RunState>,
    rings: Mutex<HashMap<String, Arc<RingNode>>>,
    counters: HashMap<String, Arc<Counters>>,
    routes: Mutex<build::Routes>,
    images: Mutex<HashMap<String, Image>>,
    /// A save a processor asked for is running: further ones wait their turn
    /// by being dropped (a detector firing every frame must not pile up saves).
    processor_saving: Arc<AtomicBool>,
    /// Optional parts that do not run now, by optional node.
    missing: Mutex<std::collections::BTreeMap<usize, degrade::Missing>>,
    /// Nodes running with a substitute (a software encoder for a hardware one).
    substitutes: Mutex<Vec<Degradation>>,
    /// The last error of each node, as reported.
    faults: Mutex<HashMap<String, String>>,
    /// The recording on demand, when one runs.
    recording: Mutex<Option<record::Active>>,
    /// Set the moment a recording element posts an error, so that its taps
    /// stop feeding it before its failure can flow back into the record path.
    recording_failed: Arc<AtomicBool>,
}

/// A running (or stopped) pipeline.
pub struct Pipeline {
    shared: Arc<Shared>,
    control: Mutex<Option<(Sender<Command>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("id", &self.shared.id).finish()
    }
}

impl Pipeline {
    /// A stopped pipeline for `graph`. Nothing is built until [`start`](Self::start).
    pub fn new(id: &str, graph: ValidatedGraph, registry: Arc<Registry>, options: PipelineOptions) -> Self {
        let counters = graph.spec().nodes.iter().map(|n| (n.id.clone(), Arc::default())).collect();
        Self {
            shared: Arc::new(Shared {
                id: id.to_owned(),
                graph,
                registry: Mutex::new(registry),
                clips_dir: Mutex::new(options.clips_dir.clone()),
                options,
                run: Mutex::new(RunState {
                    state: PipelineState::Stopped,
                    message: None,
                    started: None,
                    restarts: 0,
                    current: None,
                    encoders: HashMap::new(),
                    copied: HashMap::new(),
                }),
                rings: Mutex::new(HashMap::new()),
                counters,
                routes: Mutex::new(HashMap::new()),
                images: Mutex::new(HashMap::new()),
                processor_saving: Arc::new(AtomicBool::new(false)),
                missing: Mutex::default(),
                substitutes: Mutex::default(),
                faults: Mutex::default(),
                recording: Mutex::default(),
                recording_failed: Arc::default(),
            }),
            control: Mutex::new(None),
        }
    }

    pub fn id(&self) -> &str {
        &self.shared.id
    }

    pub fn graph(&self) -> &ValidatedGraph {
        &self.shared.graph
    }

    /// The registry the next build uses (a plugin was reloaded: the caller
    /// restarts the pipeline to build its nodes from the new kinds).
    pub fn set_registry(&self, registry: Arc<Registry>) {
        *self.shared.registry.lock() = registry;
    }

    /// Builds and starts the pipeline, waiting until it plays (or fails to).
    /// A failure is returned, and the supervisor keeps retrying with back-off.
    pub fn start(&self) -> Result<(), BuildError> {
        let mut control = self.control.lock();
        if control.is_some() {
            return Ok(());
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let (first_tx, first_rx) = crossbeam_channel::bounded(1);
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name(format!("pipeline-{}", self.shared.id))
            .spawn(move || supervise::supervise(&shared, &rx, Some(first_tx)))
            .map_err(|e| BuildError::Start(e.to_string()))?;
        *control = Some((tx, handle));
        drop(control);
        first_rx.recv().unwrap_or_else(|_| Err(BuildError::Start("supervisor exited".into())))
    }

    /// Stops the pipeline: EOS first, so file sinks finish their files.
    /// The replay rings keep their contents.
    pub fn stop(&self) {
        if let Some((tx, handle)) = self.control.lock().take() {
            let _ = tx.send(Command::Stop);
            let _ = handle.join();
        }
    }

    /// Starts recording the streams that feed the replay ring to a new file
    /// (`props` as for `sink.file`: `format`, `dir`, `fragment_s`), beside
    /// the ring and with the same encoders; the record path goes on untouched.
    pub fn start_recording(&self, props: clipshot_core::Props) -> Result<PathBuf, RecordError> {
        self.ask(|reply| Command::StartRecording(props, reply)).unwrap_or(Err(RecordError::NotRunning))
    }

    /// Ends the recording and says what it wrote.
    pub fn stop_recording(&self) -> Result<RecordingInfo, RecordError> {
        self.ask(Command::StopRecording).unwrap_or(Err(RecordError::NotRecording))
    }

    /// The recording that runs, if one does.
    pub fn recording(&self) -> Option<RecordingInfo> {
        self.shared.recording.lock().as_ref().map(record::Active::info)
    }

    /// Sends a command to the supervisor and waits for its answer.
    fn ask<T>(&self, command: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.control.lock().as_ref()?.0.send(command(reply)).ok()?;
        answer.recv_timeout(std::time::Duration::from_secs(15)).ok()
    }

    /// Where the next saves go.
    pub fn set_clips_dir(&self, dir: PathBuf) {
        *self.shared.clips_dir.lock() = dir;
    }

    pub fn state(&self) -> PipelineState {
        self.shared.run.lock().state
    }

    /// The ring of the `replay.ring` node `node`, or of the only one.
    pub fn ring(&self, node: Option<&str>) -> Option<Arc<ReplayRing>> {
        self.shared.ring_node(node).ok().map(|n| Arc::clone(&n.ring))
    }

    /// Every ring of the pipeline, by node id.
    pub fn rings(&self) -> Vec<(String, Arc<ReplayRing>)> {
        self.shared.rings.lock().iter().map(|(id, n)| (id.clone(), Arc::clone(&n.ring))).collect()
    }

    /// The latest still image of processor node `node` (or of the only node
    /// that has one): the live preview.
    pub fn image(&self, node: Option<&str>) -> Option<Image> {
        let images = self.shared.images.lock();
        match node {
            Some(id) => images.get(id).cloned(),
            None => images.values().max_by_key(|i| i.at).cloned(),
        }
    }

    /// The parts that are missing or substituted now: empty when the
    /// pipeline runs as its graph says.
    pub fn degradations(&self) -> Vec<Degradation> {
        self.shared.degradations()
    }

    pub fn stats(&self) -> PipelineStats {
        let degraded = self.shared.degradations();
        let faults = self.shared.faults.lock().clone();
        let run = self.shared.run.lock();
        let rings = self.shared.rings.lock();
        let nodes = self
            .shared
            .graph
            .spec()
            .nodes
            .iter()
            .map(|n| {
                let c = &self.shared.counters[&n.id];
                let ring = rings.get(&n.id);
                NodeStats {
                    id: n.id.clone(),
                    kind: n.kind.clone(),
                    frames_in: c.frames_in.load(Ordering::Relaxed),
                    frames_out: c.frames_out.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed) + ring.map_or(0, |r| r.dropped.load(Ordering::Relaxed)),
                    errors: c.errors.load(Ordering::Relaxed),
                    busy_ms: c.busy_ns.load(Ordering::Relaxed) as f64 / 1e6,
                    fps: c.fps(),
                    latency: ring.map_or_else(|| c.latency.summary(), |r| r.capture_to_ring.summary()),
                    bytes_copied: ring.map_or(0, |r| r.bytes_copied.load(Ordering::Relaxed))
                        + run.copied.get(&n.id).map_or(0, |c| c.load(Ordering::Relaxed)),
                    encoder: run.encoders.get(&n.id).cloned(),
                    ring: ring.map(|r| RingFill::new(&r.ring)),
                    running: run.state == PipelineState::Running && !degraded.iter().any(|d| d.dropped.contains(&n.id)),
                    error: faults.get(&n.id).cloned(),
                }
            })
            .collect();
        PipelineStats {
            id: self.shared.id.clone(),
            state: run.state,
            message: run.message.clone(),
            uptime_s: run.started.map_or(0.0, |s| s.elapsed().as_secs_f64()),
            restarts: run.restarts,
            degraded,
            nodes,
        }
    }

    /// Saves a span of a ring as an MP4 in the clips folder. Blocks for the
    /// post-roll (and the encoder's latency); call it off async executors.
    /// Emits `clip.saved` once the file is renamed into place, or `clip.failed`.
    pub fn save(&self, request: &SaveRequest) -> Result<SavedClip, SaveError> {
        self.shared.save(request)
    }

    /// Adds a marker at `at_ns` on the ring's timeline, or now.
    pub fn add_marker(
        &self,
        ring: Option<&str>,
        at_ns: Option<i64>,
        label: Option<String>,
    ) -> Result<clipshot_replay::Marker, SaveError> {
        self.shared.add_marker(ring, at_ns, label)
    }

    /// The pipeline's "now" on a ring's timeline (the newest video when stopped).
    pub fn now_ns(&self, ring: Option<&str>) -> Option<i64> {
        let node = self.shared.ring_node(ring).ok()?;
        self.shared.now_on(&node).or_else(|| node.ring.newest_video_ns())
    }

    /// Node `node`'s recent per-frame latencies in milliseconds, oldest
    /// first: capture → packet in the ring for a ring, capture → result for
    /// a processor (the scorer's: capture → highlight score).
    pub fn latency_samples_ms(&self, node: &str) -> Vec<f64> {
        match self.shared.rings.lock().get(node) {
            Some(ring) => ring.capture_to_ring.samples_ms(),
            None => self.shared.counters.get(node).map(|c| c.latency.samples_ms()).unwrap_or_default(),
        }
    }

    /// An element of the running pipeline by name (`node.role`), for tests and tools.
    pub fn element(&self, name: &str) -> Option<gst::Element> {
        self.shared.run.lock().current.as_ref().and_then(|p| p.by_name(name))
    }

    /// Posts an error on the running pipeline's bus, as a failing element
    /// would: from the first element of node `node`, or from the pipeline.
    pub fn inject_error(&self, node: Option<&str>, message: &str) {
        let Some(p) = self.shared.run.lock().current.clone() else { return };
        let prefix = node.map(|n| format!("{n}."));
        let src: gst::Object = match &prefix {
            Some(prefix) => match p.children().into_iter().find(|e| e.name().starts_with(prefix.as_str())) {
                Some(e) => e.upcast(),
                None => return,
            },
            None => p.clone().upcast(),
        };
        let msg = gst::message::Error::builder(gst::CoreError::Failed, message).src(&src).build();
        let _ = p.post_message(msg);
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry.lock())
    }

    fn ring_node(&self, node: Option<&str>) -> Result<Arc<RingNode>, String> {
        let rings = self.rings.lock();
        match node {
            Some(id) => rings.get(id).cloned().ok_or_else(|| format!(" named `{id}`")),
            None if rings.len() == 1 => Ok(rings.values().next().cloned().expect("one ring")),
            None if rings.is_empty() => Err(String::new()),
            None => Err(" (several rings: name one)".to_owned()),
        }
    }

    /// Running time now on the first ring's timeline, the one the
    /// processors' inputs are stamped on.
    fn timeline_now_ns(&self) -> Option<i64> {
        let ring = self.rings.lock().values().next().cloned()?;
        self.now_on(&ring)
    }

    /// The pipeline's current running time on `ring`'s timeline, if it plays.
    fn now_on(&self, ring: &RingNode) -> Option<i64> {
        let run = self.run.lock();
        if run.state != PipelineState::Running {
            return None;
        }
        let rt = run.current.as_ref()?.current_running_time()?;
        Some(ring.ring_time(rt.nseconds() as i64))
    }

    fn set_state(&self, state: PipelineState, message: Option<String>) {
        {
            let mut run = self.run.lock();
            run.state = state;
            run.message.clone_from(&message);
        }
        self.options.events.emit(Event::PipelineState { pipeline: self.id.clone(), state, message });
    }

    fn save(&self, request: &SaveRequest) -> Result<SavedClip, SaveError> {
        let result = self.ring_node(request.ring.as_deref()).map_err(SaveError::NoRing).and_then(|node| {
            let clips_dir = self.clips_dir.lock().clone();
            let ctx = SaveContext { pipeline: &self.id, clips_dir: &clips_dir, now_ns: self.now_on(&node) };
            node.save(request, &ctx)
        });
        match &result {
            Ok(clip) => {
                tracing::info!(pipeline = %self.id, path = %clip.path.display(), duration_s = clip.info.duration_s,
                    wait_ms = clip.wait_ms, write_ms = clip.write_ms, "clip saved");
                if let Some(short) = &clip.shortfall {
                    tracing::warn!(pipeline = %self.id, path = %clip.path.display(), "{short}");
                }
                self.options.events.emit(Event::ClipSaved(clip.event()));
            }
            Err(e) => {
                tracing::warn!(pipeline = %self.id, error = %e, "clip not saved");
                self.options.events.emit(Event::ClipFailed {
                    pipeline: self.id.clone(),
                    trigger: request.trigger,
                    reason: e.to_string(),
                });
            }
        }
        result
    }

    fn add_marker(
        &self,
        ring: Option<&str>,
        at_ns: Option<i64>,
        label: Option<String>,
    ) -> Result<clipshot_replay::Marker, SaveError> {
        let node = self.ring_node(ring).map_err(SaveError::NoRing)?;
        let at = at_ns.or_else(|| self.now_on(&node)).or_else(|| node.ring.newest_video_ns()).unwrap_or(0);
        let marker = node.ring.add_marker(at, label.clone());
        self.options.events.emit(Event::MarkerAdded {
            pipeline: self.id.clone(),
            marker_id: marker.id.to_string(),
            at_ns: at,
            label,
        });
        Ok(marker)
    }

    /// Acts on what a processor emitted: tensors to the processors linked to
    /// its pads, events to the bus, markers and saves to the ring, images kept.
    fn route(self: &Arc<Self>, node: &str, out: &mut Outputs) {
        for output in out.drain() {
            match output {
                Output::Tensor { pad, tensor } => {
                    // Cloned out of the lock: an offline push may wait for room.
                    let targets = self.routes.lock().get(&(node.to_owned(), pad)).cloned().unwrap_or_default();
                    for (inlet, to_pad) in &targets {
                        inlet.push(to_pad, processors::Item::Tensor(tensor.clone()));
                    }
                }
                Output::Event(event) => self.options.events.emit(event),
                Output::Marker { at_ns, label } => {
                    if let Err(e) = self.add_marker(None, Some(at_ns), label) {
                        tracing::debug!(node, error = %e, "processor marker not placed");
                    }
                }
                Output::Save { at_ns, pre_seconds, post_seconds, trigger, score } => {
                    if self.processor_saving.swap(true, Ordering::AcqRel) {
                        tracing::debug!(node, "a processor save is already running; this one is skipped");
                        continue;
                    }
                    // A save waits for its post-roll: never on the processor's thread.
                    let this = Arc::clone(self);
                    let request = SaveRequest {
                        ring: None,
                        span: SaveSpan::Around { at_ns, pre_seconds, post_seconds },
                        trigger,
                        score,
                    };
                    let spawned = std::thread::Builder::new().name(format!("save:{node}")).spawn(move || {
                        drop(this.save(&request));
                        this.processor_saving.store(false, Ordering::Release);
                    });
                    if let Err(e) = spawned {
                        self.processor_saving.store(false, Ordering::Release);
                        tracing::error!(node, error = %e, "cannot start a save");
                    }
                }
                Output::Image { content_type, data, pts_ns } => {
                    let image = Image { content_type, data: data.into(), pts_ns, at: Instant::now() };
                    self.images.lock().insert(node.to_owned(), image);
                }
            }
        }
    }
}
