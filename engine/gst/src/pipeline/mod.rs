//! The pipeline runtime: builds a `gst::Pipeline` from a validated graph,
//! supervises it (errors restart it with back-off; rings survive restarts)
//! and reports per-node statistics.

use crate::error::BuildError;
use crate::nodes::{BuildCtx, Built, GstNodeKind};
use crate::ring_sink::RingNode;
use clipshot_core::{Event, EventSink, PipelineState, Registry, ValidatedGraph};
use clipshot_replay::{ReplayRing, RingStats};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use gstreamer as gst;
use gstreamer::prelude::*;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the back-off.
const STABLE_RUN: Duration = Duration::from_secs(10);
const EOS_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a pipeline writes and whom it tells.
#[derive(Clone)]
pub struct PipelineOptions {
    /// Base folder for recordings (`<data_dir>/recordings`).
    pub data_dir: PathBuf,
    /// Where saved clips go (changeable live with [`Pipeline::set_clips_dir`]).
    pub clips_dir: PathBuf,
    pub events: Arc<dyn EventSink>,
}

impl std::fmt::Debug for PipelineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineOptions").field("data_dir", &self.data_dir).field("clips_dir", &self.clips_dir).finish()
    }
}

/// Counters of one node, updated from pad probes on streaming threads.
#[derive(Debug, Default)]
struct Counters {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    dropped: AtomicU64,
    fps_sample: Mutex<Option<(Instant, u64, f64)>>,
}

impl Counters {
    /// Output rate over the time since the previous sample (at least 0.5 s).
    fn fps(&self) -> f64 {
        let now = Instant::now();
        let count = self.frames_out.load(Ordering::Relaxed).max(self.frames_in.load(Ordering::Relaxed));
        let mut sample = self.fps_sample.lock();
        match *sample {
            Some((at, _, fps)) if now.duration_since(at) < Duration::from_millis(500) => fps,
            Some((at, n, _)) => {
                let fps = (count - n.min(count)) as f64 / now.duration_since(at).as_secs_f64();
                *sample = Some((now, count, fps));
                fps
            }
            None => {
                *sample = Some((now, count, 0.0));
                0.0
            }
        }
    }
}

/// Statistics of one node.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStats {
    pub id: String,
    pub kind: String,
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
    pub fps: f64,
    /// Bytes of media our code copied. 0 on every record-path node.
    pub bytes_copied: u64,
    /// The encoder element, for encoder nodes.
    pub encoder: Option<String>,
    pub ring: Option<RingFill>,
}

/// Fill level of a replay ring, with its limits.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RingFill {
    #[serde(flatten)]
    pub stats: RingStats,
    pub max_seconds: f64,
    pub max_bytes: u64,
}

impl RingFill {
    fn new(ring: &ReplayRing) -> Self {
        let c = ring.config();
        Self { stats: ring.stats(), max_seconds: c.max_seconds, max_bytes: c.max_bytes }
    }
}

/// Statistics of a pipeline.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineStats {
    pub id: String,
    pub state: PipelineState,
    pub message: Option<String>,
    pub uptime_s: f64,
    pub restarts: u64,
    pub nodes: Vec<NodeStats>,
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
}

pub(crate) struct Shared {
    pub id: String,
    pub graph: ValidatedGraph,
    registry: Arc<Registry>,
    pub options: PipelineOptions,
    pub clips_dir: Mutex<PathBuf>,
    run: Mutex<RunState>,
    pub rings: Mutex<HashMap<String, Arc<RingNode>>>,
    counters: HashMap<String, Arc<Counters>>,
}

/// A running (or stopped) pipeline.
pub struct Pipeline {
    pub(crate) shared: Arc<Shared>,
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
                registry,
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
            .spawn(move || supervise(&shared, &rx, Some(first_tx)))
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

    pub fn stats(&self) -> PipelineStats {
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
                    fps: c.fps(),
                    bytes_copied: ring.map_or(0, |r| r.bytes_copied.load(Ordering::Relaxed))
                        + run.copied.get(&n.id).map_or(0, |c| c.load(Ordering::Relaxed)),
                    encoder: run.encoders.get(&n.id).cloned(),
                    ring: ring.map(|r| RingFill::new(&r.ring)),
                }
            })
            .collect();
        PipelineStats {
            id: self.shared.id.clone(),
            state: run.state,
            message: run.message.clone(),
            uptime_s: run.started.map_or(0.0, |s| s.elapsed().as_secs_f64()),
            restarts: run.restarts,
            nodes,
        }
    }

    /// An element of the running pipeline by name (`node.role`), for tests and tools.
    pub fn element(&self, name: &str) -> Option<gst::Element> {
        self.shared.run.lock().current.as_ref().and_then(|p| p.by_name(name))
    }

    /// Posts an error on the running pipeline's bus, as a failing element would.
    pub fn inject_error(&self, message: &str) {
        if let Some(p) = self.shared.run.lock().current.clone() {
            let msg = gst::message::Error::builder(gst::CoreError::Failed, message).src(&p).build();
            let _ = p.post_message(msg);
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    pub fn ring_node(&self, node: Option<&str>) -> Result<Arc<RingNode>, String> {
        let rings = self.rings.lock();
        match node {
            Some(id) => rings.get(id).cloned().ok_or_else(|| format!(" named `{id}`")),
            None if rings.len() == 1 => Ok(rings.values().next().cloned().expect("one ring")),
            None if rings.is_empty() => Err(String::new()),
            None => Err(" (several rings: name one)".to_owned()),
        }
    }

    /// The pipeline's current running time on `ring`'s timeline, if it plays.
    pub fn now_on(&self, ring: &RingNode) -> Option<i64> {
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

    fn build(&self) -> Result<Assembled, BuildError> {
        let pipeline = gst::Pipeline::with_name(&self.id);
        let spec = self.graph.spec();
        let mut built: HashMap<usize, Built> = HashMap::new();
        let mut needs_eos = false;
        let mut encoders = HashMap::new();
        let mut resources = Vec::new();
        let mut copied = HashMap::new();
        for &ni in self.graph.topological_order() {
            let node = &spec.nodes[ni];
            let kind = self
                .registry
                .get(&node.kind)
                .and_then(|k| k.as_any().downcast_ref::<GstNodeKind>())
                .ok_or_else(|| BuildError::NotGstKind { node: node.id.clone(), kind: node.kind.clone() })?;
            let links = self.graph.links();
            let mut ctx = BuildCtx {
                pipeline: &pipeline,
                node: &node.id,
                options: &self.options,
                linked_outputs: links.iter().filter(|l| l.from_node == ni).map(|l| l.from_pad.clone()).collect(),
                linked_inputs: links
                    .iter()
                    .filter(|l| l.to_node == ni)
                    .map(|l| {
                        let caps = built
                            .get(&l.from_node)
                            .and_then(|b| b.outputs.get(&l.from_pad))
                            .map_or_else(gst::Caps::new_any, |pad| pad.query_caps(None));
                        (l.to_pad.clone(), caps)
                    })
                    .collect(),
                existing_ring: self.rings.lock().get(&node.id).cloned(),
            };
            let mut b = kind.build(&node.props, &mut ctx)?;
            if let Some(ring) = &b.ring {
                self.rings.lock().insert(node.id.clone(), Arc::clone(ring));
            }
            if let Some(enc) = &b.encoder {
                encoders.insert(node.id.clone(), enc.clone());
            }
            needs_eos |= b.needs_eos;
            resources.append(&mut b.resources);
            if let Some(counter) = b.bytes_copied.take() {
                copied.insert(node.id.clone(), counter);
            }
            let counters = &self.counters[&node.id];
            for pad in b.inputs.values() {
                count_buffers(pad, counters, true);
            }
            for pad in b.outputs.values() {
                count_buffers(pad, counters, false);
            }
            built.insert(ni, b);
        }
        // Links: a queue on every link gives each consumer its own thread; an
        // output that feeds several inputs goes through a tee first.
        for (ni, b) in &built {
            for (pad_name, src_pad) in &b.outputs {
                let targets: Vec<_> = self.graph.links_from(*ni, pad_name).collect();
                if targets.is_empty() {
                    continue;
                }
                let from = format!("{}.{pad_name}", spec.nodes[*ni].id);
                let src_pads: Vec<gst::Pad> = if targets.len() == 1 {
                    vec![src_pad.clone()]
                } else {
                    let tee = make(&pipeline, "tee", &format!("{from}.tee"))?;
                    link_pads(src_pad, &tee.static_pad("sink").expect("tee has a sink pad"), &from, &tee.name())?;
                    targets.iter().map(|_| tee.request_pad_simple("src_%u").expect("tee gives src pads")).collect()
                };
                for (link, src) in targets.iter().zip(src_pads) {
                    let to = format!("{}.{}", spec.nodes[link.to_node].id, link.to_pad);
                    let queue = make(&pipeline, "queue", &format!("{from}->{to}"))?;
                    let sink = &built[&link.to_node].inputs[&link.to_pad];
                    link_pads(&src, &queue.static_pad("sink").expect("queue sink"), &from, &to)?;
                    link_pads(&queue.static_pad("src").expect("queue src"), sink, &from, &to)?;
                }
            }
        }
        {
            let mut run = self.run.lock();
            run.encoders = encoders;
            run.copied = copied;
        }
        Ok(Assembled { pipeline, needs_eos, resources })
    }
}

/// A built pipeline and what must live exactly as long as it.
struct Assembled {
    pipeline: gst::Pipeline,
    /// Elements that must get EOS before the pipeline stops (file sinks).
    needs_eos: bool,
    /// Feeders of its sources (a capture session, a portal grant): dropped
    /// only after the pipeline reached `Null`.
    #[expect(dead_code, reason = "held only to be dropped after the pipeline")]
    resources: Vec<Box<dyn Send>>,
}

impl Drop for Assembled {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn make(pipeline: &gst::Pipeline, factory: &str, name: &str) -> Result<gst::Element, BuildError> {
    let e = gst::ElementFactory::make(factory).name(name).build().map_err(|e| BuildError::Start(e.to_string()))?;
    pipeline.add(&e).map_err(|e| BuildError::Start(e.to_string()))?;
    Ok(e)
}

fn link_pads(src: &gst::Pad, sink: &gst::Pad, from: &str, to: &str) -> Result<(), BuildError> {
    src.link(sink).map(|_| ()).map_err(|e| BuildError::Link {
        from: from.to_owned(),
        to: to.to_owned(),
        reason: format!("{e:?}"),
    })
}

fn count_buffers(pad: &gst::Pad, counters: &Arc<Counters>, input: bool) {
    let counters = Arc::clone(counters);
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, info| {
        let n = match &info.data {
            Some(gst::PadProbeData::BufferList(list)) => list.len() as u64,
            _ => 1,
        };
        let counter = if input { &counters.frames_in } else { &counters.frames_out };
        counter.fetch_add(n, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
}

/// Why a run ended.
enum RunEnd {
    Stopped,
    Failed(String),
    Finished,
}

fn supervise(
    shared: &Arc<Shared>,
    commands: &Receiver<Command>,
    mut first: Option<crossbeam_channel::Sender<Result<(), BuildError>>>,
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
                end
            }
            Err(e) => {
                if let Some(tx) = first.take() {
                    let msg = e.to_string();
                    let _ = tx.send(Err(e));
                    RunEnd::Failed(msg)
                } else {
                    RunEnd::Failed(e.to_string())
                }
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
                crate::encoder::invalidate();
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
