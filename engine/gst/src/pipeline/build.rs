//! Turning a validated graph into a `gst::Pipeline`: segments in
//! topological order, a queue on every link (a tee where an output feeds
//! several inputs), and a bridge wherever a segment feeds a processor.

use super::Shared;
use super::processors::{self, Queue, Worker};
use super::stats::Counters;
use crate::error::BuildError;
use crate::kind::{BuildCtx, Built};
use clipshot_core::processor::{ProcessorContext, Setup};
use clipshot_core::validate::recheck_context;
use clipshot_core::{MediaType, PadDirection, Runtime};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A built pipeline and what must live exactly as long as it.
pub(super) struct Assembled {
    pub pipeline: gst::Pipeline,
    /// Elements that must get EOS before the pipeline stops (file sinks).
    pub needs_eos: bool,
    /// Processor threads: stopped (and flushed) when the run ends.
    workers: Vec<Worker>,
    /// Feeders of its sources (a capture session, a portal grant): dropped
    /// only after the pipeline reached `Null`.
    #[expect(dead_code, reason = "held only to be dropped after the pipeline")]
    resources: Vec<Box<dyn Send>>,
}

impl Drop for Assembled {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        // The appsinks are gone: the workers drain what is queued and stop.
        self.workers.clear();
    }
}

/// A processor created for this run, before its thread starts.
struct Pending {
    setup: Setup,
    queue: Queue,
}

/// Where the outputs of a processor's pads go: the queues of the
/// processors linked to them, with the input pad each arrives on.
pub(super) type Routes = HashMap<(String, String), Vec<(processors::Inlet, String)>>;

impl Shared {
    pub(super) fn build(self: &Arc<Self>) -> Result<Assembled, BuildError> {
        // What a node needs may have gone since the graph was validated.
        recheck_context(&self.graph, &self.registry).map_err(BuildError::Invalid)?;
        let pipeline = gst::Pipeline::with_name(&self.id);
        let spec = self.graph.spec();
        let links = self.graph.links();

        // Processors first, so that every queue exists before anything feeds it.
        let mut pending: HashMap<usize, Pending> = HashMap::new();
        for (ni, node) in spec.nodes.iter().enumerate() {
            let kind = self.registry.get(&node.kind).expect("a validated graph has known kinds");
            if let Runtime::Processor(factory) = kind.runtime() {
                let ctx = ProcessorContext {
                    pipeline: self.id.clone(),
                    node: node.id.clone(),
                    data_dir: self.options.data_dir.clone(),
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
                let queue = Queue::new(if video_only { 1 } else { 32 }, Arc::clone(&self.counters[&node.id]));
                pending.insert(ni, Pending { setup, queue });
            }
        }

        let mut built: HashMap<usize, Built> = HashMap::new();
        let (mut needs_eos, mut encoders, mut resources, mut copied) =
            (false, HashMap::new(), Vec::new(), HashMap::new());
        for &ni in self.graph.topological_order() {
            let node = &spec.nodes[ni];
            let kind = self.registry.get(&node.kind).expect("a validated graph has known kinds");
            let Runtime::Segment(segment) = kind.runtime() else { continue };
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
            let mut b = segment.build(&node.props, &mut ctx)?;
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

        // Processor timestamps are on the ring's timeline, so that a marker
        // or a save a processor asks for lands where it saw the frame.
        let offset_ns = self.rings.lock().values().next().map_or(0, |r| r.ring_time(0));
        let mut routes = Routes::new();
        for (ni, node) in spec.nodes.iter().enumerate() {
            let desc = self.registry.descriptor(&node.kind).expect("known kind");
            for out in desc.pads.iter().filter(|p| p.direction == PadDirection::Out) {
                let targets: Vec<_> = self.graph.links_from(ni, &out.name).collect();
                if targets.is_empty() {
                    continue;
                }
                let from = format!("{}.{}", node.id, out.name);
                let Some(src_pad) = built.get(&ni).and_then(|b| b.outputs.get(&out.name)) else {
                    // A processor's output: only other processors can take it.
                    for link in &targets {
                        let to = &spec.nodes[link.to_node].id;
                        let inlet = pending.get(&link.to_node).map(|p| p.queue.inlet.clone()).ok_or_else(|| {
                            BuildError::Link {
                                from: from.clone(),
                                to: format!("{to}.{}", link.to_pad),
                                reason: "a processor's output can feed only processors".into(),
                            }
                        })?;
                        routes
                            .entry((node.id.clone(), out.name.clone()))
                            .or_default()
                            .push((inlet, link.to_pad.clone()));
                    }
                    continue;
                };
                let src_pads: Vec<gst::Pad> = if targets.len() == 1 {
                    vec![src_pad.clone()]
                } else {
                    let tee = make(&pipeline, "tee", &format!("{from}.tee"))?;
                    link_pads(src_pad, &tee.static_pad("sink").expect("tee has a sink pad"), &from, &tee.name())?;
                    targets.iter().map(|_| tee.request_pad_simple("src_%u").expect("tee gives src pads")).collect()
                };
                for (link, src) in targets.iter().zip(src_pads) {
                    let to = format!("{}.{}", spec.nodes[link.to_node].id, link.to_pad);
                    let name = format!("{from}->{to}");
                    let sink = match pending.get(&link.to_node) {
                        Some(p) => match out.media {
                            MediaType::RawVideo => processors::video_bridge(
                                &pipeline,
                                &name,
                                p.setup.video,
                                &link.to_pad,
                                p.queue.inlet.clone(),
                                offset_ns,
                            )?,
                            MediaType::RawAudio => processors::audio_bridge(
                                &pipeline,
                                &name,
                                &link.to_pad,
                                p.queue.inlet.clone(),
                                offset_ns,
                            )?,
                            other => {
                                return Err(BuildError::Link {
                                    from,
                                    to,
                                    reason: format!("{other} is not bridged to processors (raw video and audio are)"),
                                });
                            }
                        },
                        None => {
                            // A queue on every link gives each consumer its own thread.
                            let queue = make(&pipeline, "queue", &name)?;
                            link_pads(
                                &queue.static_pad("src").expect("queue src"),
                                &built[&link.to_node].inputs[&link.to_pad],
                                &from,
                                &to,
                            )?;
                            queue.static_pad("sink").expect("queue sink")
                        }
                    };
                    link_pads(&src, &sink, &from, &to)?;
                }
            }
        }

        *self.routes.lock() = routes;
        let mut workers = Vec::new();
        for (ni, p) in pending {
            let node = spec.nodes[ni].id.clone();
            workers.push(Worker::spawn(Arc::clone(self), node, p.setup.processor, p.queue)?);
        }
        {
            let mut run = self.run.lock();
            run.encoders = encoders;
            run.copied = copied;
        }
        Ok(Assembled { pipeline, needs_eos, workers, resources })
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
