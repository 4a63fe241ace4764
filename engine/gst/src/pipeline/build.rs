//! Turning a validated graph into a `gst::Pipeline`: segments in
//! topological order, a queue on every link (a tee where an output feeds
//! several inputs, and on every encoded output, for recordings to tap), and
//! a bridge wherever a segment feeds a processor.
//! Optional parts that are missing are left out, and can join the running
//! pipeline later ([`Shared::attach`]).

use super::Shared;
use super::processors::{self, Inlet, Queue, Worker};
use super::stats::Counters;
use crate::error::BuildError;
use crate::kind::{BuildCtx, Built, Substitute};
use clipshot_core::processor::{ProcessorContext, VideoInput};
use clipshot_core::validate::context_problems;
use clipshot_core::{MediaType, NodeFault, PadDirection, Runtime, ValidationErrors};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A built pipeline and what must live exactly as long as it.
pub(super) struct Assembled {
    pub pipeline: gst::Pipeline,
    /// Elements that must get EOS before the pipeline stops (file sinks).
    pub needs_eos: bool,
    /// A recording on demand, when one runs.
    pub(super) recording: Option<super::record::Branch>,
    /// Input pads of the segments that run, for parts that join later.
    inputs: HashMap<(usize, String), gst::Pad>,
    /// Those of them that take a new feed while playing.
    joinable: std::collections::HashSet<(usize, String)>,
    /// The processors that run: where their input goes, and their threads
    /// (stopped and flushed when the run ends or the part is dropped).
    processors: HashMap<usize, Running>,
    /// Node indices in topological order: processors stop upstream first, so
    /// what a draining detector emits still reaches the scorer.
    order: Vec<usize>,
    /// Processor timestamps are on the ring's timeline.
    offset_ns: i64,
    /// Feeders of its sources (a capture session, a portal grant): dropped
    /// only after the pipeline reached `Null`.
    resources: Vec<Box<dyn Send>>,
}

impl Drop for Assembled {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        // The appsinks are gone: the workers drain what is queued and stop,
        // upstream first.
        for n in std::mem::take(&mut self.order) {
            self.processors.remove(&n);
        }
        self.processors.clear();
    }
}

struct Running {
    video: VideoInput,
    inlet: Inlet,
    #[expect(dead_code, reason = "held only to be stopped when dropped")]
    worker: Worker,
}

/// A processor created, before its thread starts.
struct Pending {
    setup: clipshot_core::processor::Setup,
    queue: Queue,
}

/// Where the outputs of a processor's pads go: the queues of the
/// processors linked to them, with the input pad each arrives on.
pub(super) type Routes = HashMap<(String, String), Vec<(processors::Inlet, String)>>;

/// Where a link ends.
enum Target<'a> {
    Segment(&'a gst::Pad),
    Processor { video: VideoInput, inlet: Inlet },
}

/// What a set of nodes built: their pads and what the runtime keeps of them.
#[derive(Default)]
struct Part {
    built: HashMap<usize, Built>,
    pending: HashMap<usize, Pending>,
    needs_eos: bool,
    encoders: HashMap<String, String>,
    substitutes: Vec<(usize, Substitute)>,
    resources: Vec<Box<dyn Send>>,
}

impl Shared {
    pub(super) fn build(self: &Arc<Self>) -> Result<Assembled, BuildError> {
        let spec = self.graph.spec();
        // What a node needs may have gone since the graph was validated: an
        // optional part starts missing, anything else stops the start.
        let mut problems = Vec::new();
        for (ni, problem) in context_problems(&self.graph, &self.registry()) {
            if self.is_left_out(ni) {
                continue;
            }
            match self.graph.optional_owner(ni) {
                Some(owner) => {
                    let fault = NodeFault {
                        node: spec.nodes[ni].id.clone(),
                        kind: spec.nodes[ni].kind.clone(),
                        element: None,
                        reason: problem.message.split_once(": ").map_or(problem.message.clone(), |(_, r)| r.into()),
                    };
                    self.mark_missing(owner, fault);
                }
                None => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(BuildError::Invalid(ValidationErrors { problems }));
        }

        let pipeline = gst::Pipeline::with_name(&self.id);
        // The system clock, never an audio device's: a device that goes away
        // must not take the pipeline's clock with it.
        pipeline.use_clock(Some(&gst::SystemClock::obtain()));
        // On the posting thread, before a failing recording's flow error can
        // reach the tees it hangs off (see `record.rs`).
        let recording_failed = Arc::clone(&self.recording_failed);
        pipeline.bus().expect("a pipeline has a bus").set_sync_handler(move |_, msg| {
            if matches!(msg.view(), gst::MessageView::Error(_))
                && msg.src().is_some_and(|s| Shared::is_recording_element(&s.name()))
            {
                recording_failed.store(true, Ordering::Release);
            }
            gst::BusSyncReply::Pass
        });
        let nodes: BTreeSet<usize> = (0..spec.nodes.len()).filter(|&n| !self.is_left_out(n)).collect();
        let mut part = self.build_part(&pipeline, &nodes)?;

        // Processor timestamps are on the ring's timeline, so that a marker
        // or a save a processor asks for lands where it saw the frame.
        let offset_ns = self.rings.lock().values().next().map_or(0, |r| r.ring_time(0));
        let mut assembled = Assembled {
            pipeline,
            needs_eos: part.needs_eos,
            recording: None,
            inputs: HashMap::new(),
            joinable: std::collections::HashSet::new(),
            processors: HashMap::new(),
            order: self.graph.topological_order().to_vec(),
            offset_ns,
            resources: Vec::new(),
        };
        self.link_part(&mut assembled, &part, &nodes)?;
        {
            let mut run = self.run.lock();
            run.encoders = std::mem::take(&mut part.encoders);
            run.copied.retain(|id, _| spec.nodes.iter().any(|n| &n.id == id));
        }
        self.set_substitutes(std::mem::take(&mut part.substitutes));
        self.start_workers(&mut assembled, part)?;
        self.update_routes(&assembled);
        Ok(assembled)
    }

    /// Adds optional node `optional` and what only it feeds to the running
    /// pipeline, links them to the parts that run and starts them. On
    /// failure, what was added is taken out again.
    pub(super) fn attach(self: &Arc<Self>, a: &mut Assembled, optional: usize) -> Result<(), BuildError> {
        let nodes: BTreeSet<usize> = self.graph.dropped_with(optional).iter().copied().collect();
        if let Some((ni, problem)) =
            context_problems(&self.graph, &self.registry()).into_iter().find(|(n, _)| nodes.contains(n))
        {
            let node = &self.graph.spec().nodes[ni];
            return Err(BuildError::Node { node: node.id.clone(), message: problem.message });
        }
        let result = self.build_part(&a.pipeline, &nodes).and_then(|mut part| {
            self.link_part(a, &part, &nodes)?;
            let needs_eos = part.needs_eos;
            {
                let mut run = self.run.lock();
                run.encoders.extend(std::mem::take(&mut part.encoders));
            }
            self.start_workers(a, part)?;
            a.needs_eos |= needs_eos;
            self.update_routes(a);
            // Sources last, so that no buffer meets an element still stopped.
            let mut elements = owned_elements(&a.pipeline, self, &nodes);
            elements.sort_by_key(|e| e.sink_pads().is_empty());
            for e in &elements {
                e.sync_state_with_parent().map_err(|_| self.start_failure(&a.pipeline, &nodes, e))?;
            }
            Ok(())
        });
        if result.is_err() {
            self.detach(a, optional);
        }
        result
    }

    /// Takes optional node `optional` and what only it feeds out of the
    /// running pipeline; the rest plays on.
    pub(super) fn detach(&self, a: &mut Assembled, optional: usize) {
        let nodes: BTreeSet<usize> = self.graph.dropped_with(optional).iter().copied().collect();
        let elements = owned_elements(&a.pipeline, self, &nodes);
        for e in &elements {
            // Unlink from the parts that stay first, so that a tee feeding
            // this part sees an unlinked pad, never a flushing one.
            for pad in e.sink_pads() {
                if let Some(peer) = pad.peer()
                    && let Some(up) = peer.parent_element()
                    && !elements.contains(&up)
                {
                    let _ = peer.unlink(&pad);
                    if peer.pad_template().is_some_and(|t| t.presence() == gst::PadPresence::Request) {
                        up.release_request_pad(&peer);
                    }
                }
            }
        }
        // An input that stays and cannot take a feed again (a file's track)
        // gets its end, so that the file can still be finished.
        for l in self.graph.links().iter().filter(|l| nodes.contains(&l.from_node) && !nodes.contains(&l.to_node)) {
            let key = (l.to_node, l.to_pad.clone());
            if let (Some(input), false) = (a.inputs.get(&key), a.joinable.contains(&key))
                && !input.pad_flags().contains(gst::PadFlags::EOS)
            {
                input.send_event(gst::event::Eos::new());
            }
        }
        for e in &elements {
            let _ = e.set_state(gst::State::Null);
            let _ = a.pipeline.remove(e);
        }
        a.inputs.retain(|(n, _), _| !nodes.contains(n));
        a.joinable.retain(|(n, _)| !nodes.contains(n));
        // Dropping a worker flushes and joins its processor.
        a.processors.retain(|n, _| !nodes.contains(n));
        self.update_routes(a);
    }

    /// Creates the processors and builds the segments of `nodes` into
    /// `pipeline` (not yet linked to each other).
    fn build_part(self: &Arc<Self>, pipeline: &gst::Pipeline, nodes: &BTreeSet<usize>) -> Result<Part, BuildError> {
        let spec = self.graph.spec();
        let links = self.graph.links();
        let mut part = Part::default();
        let registry = self.registry();
        // Processors first, so that every queue exists before anything feeds it.
        for &ni in nodes {
            let node = &spec.nodes[ni];
            let kind = registry.get(&node.kind).expect("a validated graph has known kinds");
            if let Runtime::Processor(factory) = kind.runtime() {
                let ctx = ProcessorContext {
                    pipeline: self.id.clone(),
                    node: node.id.clone(),
                    data_dir: self.options.data_dir.clone(),
                    inputs: links.iter().filter(|l| l.to_node == ni).map(|l| l.to_pad.clone()).collect(),
                };
                let setup = factory
                    .create(&node.props, &ctx)
                    .map_err(|message| BuildError::Node { node: node.id.clone(), message })?;
                let video_only = kind
                    .descriptor()
                    .pads
                    .iter()
                    .filter(|p| p.direction == PadDirection::In)
                    .all(|p| p.media == MediaType::RawVideo);
                let queue = Queue::new(
                    if video_only { 1 } else { 32 },
                    Arc::clone(&self.counters[&node.id]),
                    self.options.offline,
                );
                part.pending.insert(ni, Pending { setup, queue });
            }
        }
        for &ni in self.graph.topological_order().iter().filter(|n| nodes.contains(n)) {
            let node = &spec.nodes[ni];
            let kind = registry.get(&node.kind).expect("a validated graph has known kinds");
            let Runtime::Segment(segment) = kind.runtime() else { continue };
            // A node of the part being built runs, even while its part is still missing.
            let runs = |n: usize| nodes.contains(&n) || !self.is_left_out(n);
            let feeds = links.iter().filter(|l| l.to_node == ni);
            let (fed, late): (Vec<_>, Vec<_>) = feeds.partition(|l| runs(l.from_node));
            let mut ctx = BuildCtx {
                pipeline,
                node: &node.id,
                options: &self.options,
                linked_outputs: links
                    .iter()
                    .filter(|l| l.from_node == ni && runs(l.to_node))
                    .map(|l| l.from_pad.clone())
                    .collect(),
                linked_inputs: fed
                    .iter()
                    .map(|l| {
                        let caps = part
                            .built
                            .get(&l.from_node)
                            .and_then(|b| b.outputs.get(&l.from_pad))
                            .map_or_else(gst::Caps::new_any, |pad| pad.query_caps(None));
                        (l.to_pad.clone(), caps)
                    })
                    .collect(),
                late_inputs: late.iter().map(|l| l.to_pad.clone()).collect(),
                existing_ring: self.rings.lock().get(&node.id).cloned(),
            };
            let mut b = segment.build(&node.props, &mut ctx)?;
            if let Some(ring) = &b.ring {
                self.rings.lock().insert(node.id.clone(), Arc::clone(ring));
            }
            if let Some(enc) = &b.encoder {
                part.encoders.insert(node.id.clone(), enc.clone());
            }
            if let Some(s) = b.substitute.take() {
                part.substitutes.push((ni, s));
            }
            part.needs_eos |= b.needs_eos;
            part.resources.append(&mut b.resources);
            if let Some(counter) = b.bytes_copied.take() {
                self.run.lock().copied.insert(node.id.clone(), counter);
            }
            // Frames are video frames where a node has video (a test source's
            // audio buffers would double its frame rate), else buffers.
            let counters = &self.counters[&node.id];
            for (pads, input) in [(&b.inputs, true), (&b.outputs, false)] {
                let counted = pads.iter().filter(|(name, _)| !pads.contains_key("video") || *name == "video");
                for (_, pad) in counted {
                    count_buffers(pad, counters, input);
                }
            }
            part.built.insert(ni, b);
        }
        Ok(part)
    }

    /// Links the outputs of the segments in `part` to every input that runs
    /// (in the part or already playing), and the outputs that run into the
    /// part's inputs.
    fn link_part(&self, a: &mut Assembled, part: &Part, nodes: &BTreeSet<usize>) -> Result<(), BuildError> {
        let spec = self.graph.spec();
        let registry = self.registry();
        // Joining a running pipeline, the part feeds only the running inputs
        // that take a new feed while playing.
        let running: BTreeSet<(usize, String)> = a.inputs.keys().cloned().collect();
        for (&ni, b) in &part.built {
            for (pad, p) in &b.inputs {
                a.inputs.insert((ni, pad.clone()), p.clone());
            }
            a.joinable.extend(b.joinable.iter().map(|p| (ni, p.clone())));
        }
        let targets_of = |a: &Assembled, ni: usize, pad: &str| -> Vec<(String, Option<usize>, String)> {
            self.graph
                .links_from(ni, pad)
                .filter(|l| !self.is_left_out(l.to_node) || nodes.contains(&l.to_node))
                .map(|l| (format!("{}.{}", spec.nodes[l.to_node].id, l.to_pad), Some(l.to_node), l.to_pad.clone()))
                .filter(|(to, n, p)| {
                    let key = (n.expect("set above"), p.clone());
                    if running.contains(&key) && !a.joinable.contains(&key) {
                        tracing::debug!(input = %to, "takes this feed at the next start");
                        return false;
                    }
                    let n = key.0;
                    a.inputs.contains_key(&key) || a.processors.contains_key(&n) || part.pending.contains_key(&n)
                })
                .collect()
        };
        // Outputs of the part's segments.
        for (&ni, b) in &part.built {
            let desc = registry.descriptor(&spec.nodes[ni].kind).expect("known kind");
            for out in desc.pads.iter().filter(|p| p.direction == PadDirection::Out) {
                let Some(src) = b.outputs.get(&out.name) else { continue };
                let targets = targets_of(a, ni, &out.name);
                self.link_output(a, part, &format!("{}.{}", spec.nodes[ni].id, out.name), out.media, src, &targets)?;
            }
        }
        Ok(())
    }

    /// Links `from` (`node.pad`, producing `media`) to its targets: a queue
    /// into each segment input, a bridge into each processor; a tee first
    /// when there are several.
    fn link_output(
        &self,
        a: &Assembled,
        part: &Part,
        from: &str,
        media: MediaType,
        src_pad: &gst::Pad,
        targets: &[(String, Option<usize>, String)],
    ) -> Result<(), BuildError> {
        if targets.is_empty() {
            return Ok(());
        }
        let pipeline = &a.pipeline;
        // Encoded streams always pass a tee, so that a recording can tap
        // them while the pipeline plays (`Pipeline::start_recording`).
        let tappable = matches!(media, MediaType::H264 | MediaType::Aac | MediaType::Opus);
        let src_pads: Vec<gst::Pad> = if targets.len() == 1 && !tappable {
            vec![src_pad.clone()]
        } else {
            let tee = make(pipeline, "tee", &format!("{from}.tee"))?;
            link_pads(src_pad, &tee.static_pad("sink").expect("tee has a sink pad"), from, &tee.name())?;
            targets.iter().map(|_| tee.request_pad_simple("src_%u").expect("tee gives src pads")).collect()
        };
        for ((to, node, pad), src) in targets.iter().zip(src_pads) {
            let node = node.expect("targets name their node");
            let name = format!("{from}->{to}");
            let target = match (a.inputs.get(&(node, pad.clone())), a.processors.get(&node), part.pending.get(&node)) {
                (Some(p), _, _) => Target::Segment(p),
                (None, Some(r), _) => Target::Processor { video: r.video, inlet: r.inlet.clone() },
                (None, None, Some(p)) => Target::Processor { video: p.setup.video, inlet: p.queue.inlet.clone() },
                (None, None, None) => continue,
            };
            let sink = match target {
                Target::Processor { video, inlet } => match media {
                    MediaType::RawVideo => processors::video_bridge(pipeline, &name, video, pad, inlet, a.offset_ns)?,
                    MediaType::RawAudio => processors::audio_bridge(pipeline, &name, pad, inlet, a.offset_ns)?,
                    other => {
                        return Err(BuildError::Link {
                            from: from.to_owned(),
                            to: to.clone(),
                            reason: format!("{other} is not bridged to processors (raw video and audio are)"),
                        });
                    }
                },
                Target::Segment(input) => {
                    // An input that saw the end of a feed that has gone (a
                    // device unplugged) takes a new one after a flush.
                    if input.pad_flags().contains(gst::PadFlags::EOS) {
                        input.send_event(gst::event::FlushStart::new());
                        input.send_event(gst::event::FlushStop::new(false));
                    }
                    // A queue on every link gives each consumer its own thread.
                    let queue = make(pipeline, "queue", &name)?;
                    link_pads(&queue.static_pad("src").expect("queue src"), input, from, to)?;
                    queue.static_pad("sink").expect("queue sink")
                }
            };
            link_pads(&src, &sink, from, to)?;
        }
        Ok(())
    }

    fn start_workers(self: &Arc<Self>, a: &mut Assembled, part: Part) -> Result<(), BuildError> {
        let Part { pending, resources, .. } = part;
        a.resources.extend(resources);
        for (ni, p) in pending {
            let node = self.graph.spec().nodes[ni].id.clone();
            let (video, inlet) = (p.setup.video, p.queue.inlet.clone());
            let worker = Worker::spawn(Arc::clone(self), node, p.setup.processor, p.queue)?;
            a.processors.insert(ni, Running { video, inlet, worker });
        }
        Ok(())
    }

    /// Processor outputs go to the processors that run and are linked to them.
    fn update_routes(&self, a: &Assembled) {
        let spec = self.graph.spec();
        let mut routes = Routes::new();
        for &from in a.processors.keys() {
            for l in self.graph.links().iter().filter(|l| l.from_node == from) {
                if let Some(r) = a.processors.get(&l.to_node) {
                    routes
                        .entry((spec.nodes[from].id.clone(), l.from_pad.clone()))
                        .or_default()
                        .push((r.inlet.clone(), l.to_pad.clone()));
                }
            }
        }
        *self.routes.lock() = routes;
    }

    /// Why `element` (of the part `nodes`) did not start: the error the part
    /// posted, or the state change. Errors of other elements go back on the
    /// bus for the supervisor.
    fn start_failure(&self, pipeline: &gst::Pipeline, nodes: &BTreeSet<usize>, element: &gst::Element) -> BuildError {
        let mut found = None;
        let mut others = Vec::new();
        if let Some(bus) = pipeline.bus() {
            while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
                let ours = msg.src().and_then(|s| self.node_of(&s.name())).is_some_and(|n| nodes.contains(&n));
                match msg.view() {
                    gst::MessageView::Error(err) if ours && found.is_none() => found = Some(self.fault_of(err)),
                    _ if ours => {}
                    _ => others.push(msg.clone()),
                }
            }
        }
        for msg in others {
            let _ = pipeline.post_message(msg);
        }
        BuildError::Fault(found.unwrap_or_else(|| self.fault_of_element(element, "the element did not start")))
    }
}

/// The elements of `pipeline` that belong to `nodes`: those named
/// `node.role` (and `node.pad.tee`) and the link elements `from->to` that
/// start or end at one of them.
fn owned_elements(pipeline: &gst::Pipeline, shared: &Shared, nodes: &BTreeSet<usize>) -> Vec<gst::Element> {
    let spec = shared.graph.spec();
    let ids: Vec<&str> = nodes.iter().map(|&n| spec.nodes[n].id.as_str()).collect();
    let owner = |name: &str| name.split('.').next().unwrap_or_default().to_owned();
    pipeline
        .children()
        .into_iter()
        .filter(|e| {
            let name = e.name();
            let to = name.split_once("->").map(|(_, to)| owner(to));
            ids.contains(&owner(&name).as_str()) || to.is_some_and(|t| ids.contains(&t.as_str()))
        })
        .collect()
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
