//! The GStreamer side of the node contract: a kind that builds into a
//! *segment* of elements. A kind is a props type plus an `impl Node` (what it
//! declares, from the core) and an `impl Segment` (which elements it needs and
//! how it adds them); [`segment`] turns that into a registry entry.

use crate::error::BuildError;
use crate::pipeline::PipelineOptions;
use crate::replay::RingNode;
use clipshot_core::node::{check_typed, parse_props};
use clipshot_core::{Finding, Implementation, Node, NodeDescriptor, NodeKind, ProblemCode, Props, Runtime};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The registry as the engine uses it: segments are GStreamer builders.
pub type Registry = clipshot_core::Registry<dyn BuildSegment>;

/// A static kind realised with GStreamer elements.
pub trait Segment: Node {
    /// The element factories these props need; the context phase of
    /// validation reports each one that is not installed.
    fn elements(props: &Self::Props) -> Vec<&'static str>;

    /// Adds the elements to the pipeline and returns the pads the graph links.
    fn build(props: Self::Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError>;

    /// Says in a user's words what an element's error means for this kind
    /// (`Failed to connect: Connection refused` from `pulsesrc` is a sound
    /// server that is not running). `None` keeps GStreamer's message.
    fn explain(_element: &str, _cause: &str) -> Option<String> {
        None
    }
}

/// The object-safe builder the runtime calls (what [`Runtime::Segment`] holds).
pub trait BuildSegment: Send + Sync {
    fn build(&self, props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError>;

    /// The reason to report for an error `element` (a factory name) posted.
    fn explain(&self, element: &str, cause: &str) -> String;
}

/// The registry entry of a [`Segment`].
pub struct SegmentKind<N> {
    descriptor: NodeDescriptor,
    kind: PhantomData<fn() -> N>,
}

impl<N> std::fmt::Debug for SegmentKind<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentKind").field("kind", &self.descriptor.kind).finish()
    }
}

/// Wraps a static segment kind for [`Registry::register`].
pub fn segment<N: Segment>() -> Arc<SegmentKind<N>> {
    Arc::new(SegmentKind {
        descriptor: NodeDescriptor::new::<N::Props>(N::KIND, N::SUMMARY, Implementation::Segment, N::pads()),
        kind: PhantomData,
    })
}

impl<N: Segment> BuildSegment for SegmentKind<N> {
    fn build(&self, props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        let props = parse_props(props).map_err(|e| ctx.error(e))?;
        N::build(props, ctx)
    }

    fn explain(&self, element: &str, cause: &str) -> String {
        N::explain(element, cause).unwrap_or_else(|| cause.to_owned())
    }
}

impl<N: Segment> NodeKind<dyn BuildSegment> for SegmentKind<N> {
    fn descriptor(&self) -> &NodeDescriptor {
        &self.descriptor
    }

    fn check_props(&self, props: &Props) -> Vec<Finding> {
        check_typed(props, N::check_props)
    }

    fn check_context(&self, props: &Props) -> Vec<Finding> {
        check_typed(props, |p: &N::Props| {
            let mut found: Vec<Finding> = N::elements(p)
                .into_iter()
                .filter(|f| gst::ElementFactory::find(f).is_none())
                .map(|f| {
                    Finding::new(
                        "",
                        ProblemCode::MissingElement,
                        format!("GStreamer element `{f}` is not installed{}", install_hint(f)),
                    )
                })
                .collect();
            found.extend(N::check_context(p));
            found
        })
    }

    fn runtime(&self) -> Runtime<'_, dyn BuildSegment> {
        Runtime::Segment(self)
    }
}

/// What a node's build produced: the pads the graph links, and what the
/// runtime needs to know about the node.
#[derive(Default)]
pub struct Built {
    pub inputs: HashMap<String, gst::Pad>,
    pub outputs: HashMap<String, gst::Pad>,
    /// The encoder element chosen, for stats.
    pub encoder: Option<String>,
    pub ring: Option<Arc<RingNode>>,
    /// Elements that must get EOS before the pipeline stops (file sinks).
    pub needs_eos: bool,
    /// What must outlive the node's elements (a capture feeding an `appsrc`,
    /// a portal session): the runtime drops it after the pipeline stops.
    pub resources: Vec<Box<dyn Send>>,
    /// Bytes the node's source copies before GStreamer sees them (reported
    /// in the node's `bytes_copied`).
    pub bytes_copied: Option<Arc<AtomicU64>>,
    /// The node runs with a substitute for what was asked (a software
    /// encoder for a hardware one that failed): the pipeline reports it degraded.
    pub substitute: Option<Substitute>,
    /// Input pads that take a new feed while the pipeline plays (the ring's
    /// audio, when a sound server comes back). A file's tracks are fixed.
    pub joinable: Vec<String>,
    /// The file the node writes, for sinks.
    pub file: Option<std::path::PathBuf>,
}

/// What a node substituted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitute {
    /// The element that could not be used, when there is one.
    pub element: Option<String>,
    pub reason: String,
    /// What the node does instead.
    pub instead: String,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("inputs", &self.inputs.keys().collect::<Vec<_>>())
            .field("outputs", &self.outputs.keys().collect::<Vec<_>>())
            .field("encoder", &self.encoder)
            .finish_non_exhaustive()
    }
}

impl Built {
    pub fn input(mut self, pad: &str, element: &gst::Element) -> Result<Self, BuildError> {
        self.inputs.insert(pad.to_owned(), static_pad(element, "sink")?);
        Ok(self)
    }

    pub fn output(mut self, pad: &str, element: &gst::Element) -> Result<Self, BuildError> {
        self.outputs.insert(pad.to_owned(), static_pad(element, "src")?);
        Ok(self)
    }

    pub fn keep(mut self, resource: impl Send + 'static) -> Self {
        self.resources.push(Box::new(resource));
        self
    }
}

fn static_pad(element: &gst::Element, name: &str) -> Result<gst::Pad, BuildError> {
    element.static_pad(name).ok_or_else(|| BuildError::Node {
        node: element.name().to_string(),
        message: format!("element has no `{name}` pad"),
    })
}

/// What a build function may use.
pub struct BuildCtx<'a> {
    pub pipeline: &'a gst::Pipeline,
    pub node: &'a str,
    pub options: &'a PipelineOptions,
    /// Output pads of this node that some link uses.
    pub linked_outputs: Vec<String>,
    /// Input pads of this node that a link feeds, with the caps the upstream
    /// pad can produce (known before anything plays: the frame rate, say).
    pub linked_inputs: Vec<(String, gst::Caps)>,
    /// Input pads whose feed is an optional part that is not running now and
    /// may join later: a node that can take a feed while playing (the ring)
    /// makes the pad anyway; others (a file's fixed tracks) leave it out.
    pub late_inputs: Vec<String>,
    /// Rings survive pipeline restarts: the runtime hands back the node's ring.
    pub existing_ring: Option<Arc<RingNode>>,
}

impl std::fmt::Debug for BuildCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildCtx").field("node", &self.node).finish_non_exhaustive()
    }
}

impl BuildCtx<'_> {
    pub fn is_linked(&self, output: &str) -> bool {
        self.linked_outputs.iter().any(|p| p == output)
    }

    pub fn is_input_linked(&self, input: &str) -> bool {
        self.linked_inputs.iter().any(|(p, _)| p == input)
    }

    /// Whether a feed of `input` may join while the pipeline plays.
    pub fn may_join(&self, input: &str) -> bool {
        self.late_inputs.iter().any(|p| p == input)
    }

    /// The frame rate upstream of `input`, when it is fixed before playing.
    pub fn input_fps(&self, input: &str) -> Option<f64> {
        let (_, caps) = self.linked_inputs.iter().find(|(p, _)| p == input)?;
        let f = caps.structure(0)?.get::<gst::Fraction>("framerate").ok()?;
        (f.numer() > 0 && f.denom() > 0).then(|| f64::from(f.numer()) / f64::from(f.denom()))
    }

    /// Makes an element named `node.role` and adds it to the pipeline.
    pub fn element(&self, factory: &str, role: &str) -> Result<gst::Element, BuildError> {
        let element =
            gst::ElementFactory::make(factory).name(format!("{}.{role}", self.node)).build().map_err(|_| {
                BuildError::MissingElement {
                    node: self.node.to_owned(),
                    element: factory.to_owned(),
                    hint: install_hint(factory),
                }
            })?;
        self.pipeline.add(&element).map_err(|e| self.error(e))?;
        Ok(element)
    }

    pub fn capsfilter(&self, role: &str, caps: gst::Caps) -> Result<gst::Element, BuildError> {
        let filter = self.element("capsfilter", role)?;
        filter.set_property("caps", caps);
        Ok(filter)
    }

    /// Links elements in a row.
    pub fn chain(&self, elements: &[&gst::Element]) -> Result<(), BuildError> {
        chain(elements)
    }

    pub fn error(&self, message: impl std::fmt::Display) -> BuildError {
        BuildError::Node { node: self.node.to_owned(), message: message.to_string() }
    }
}

/// Links elements in a row.
pub(crate) fn chain(elements: &[&gst::Element]) -> Result<(), BuildError> {
    for pair in elements.windows(2) {
        pair[0].link(pair[1]).map_err(|_| BuildError::Link {
            from: pair[0].name().to_string(),
            to: pair[1].name().to_string(),
            reason: "incompatible caps".into(),
        })?;
    }
    Ok(())
}

/// Which Debian package ships an element, for a useful error.
pub(crate) fn install_hint(factory: &str) -> String {
    let package = match factory {
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "avenc_aac" => "gstreamer1.0-libav",
        "h264parse" | "openh264enc" | "voaacenc" | "nvh264enc" | "opusparse" => "gstreamer1.0-plugins-bad",
        "ximagesrc" | "pulsesrc" | "mp4mux" | "matroskamux" | "aacparse" | "jpegenc" => "gstreamer1.0-plugins-good",
        "pipewiresrc" => "gstreamer1.0-pipewire",
        "videotestsrc" | "audiotestsrc" | "videoconvert" | "videoscale" | "videorate" | "audioconvert"
        | "audioresample" | "appsink" | "appsrc" | "opusenc" | "decodebin" => "gstreamer1.0-plugins-base",
        _ => return String::new(),
    };
    format!(" (install the `{package}` package)")
}

/// The frame rate most kinds default to.
pub(crate) fn default_fps() -> u32 {
    60
}
