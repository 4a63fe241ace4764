//! Built-in node kinds, one module per domain. Each kind is a props type
//! (serde + JSON Schema, the same type for validation and building) and a
//! build function that adds GStreamer elements to the pipeline and returns the
//! pads that the graph's links connect.

mod audio;
mod capture;
mod encode;
mod replay;
mod sink;

use crate::error::BuildError;
use crate::pipeline::PipelineOptions;
use crate::ring_sink::RingNode;
use clipshot_core::{NodeDescriptor, NodeKind, Props, Registry, RegistryError};
use gstreamer as gst;
use gstreamer::prelude::*;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) type BuildFn = fn(&Props, &mut BuildCtx<'_>) -> Result<Built, BuildError>;

/// A node kind realised with GStreamer elements.
pub struct GstNodeKind {
    descriptor: NodeDescriptor,
    build: BuildFn,
}

impl std::fmt::Debug for GstNodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GstNodeKind").field("kind", &self.descriptor.kind).finish()
    }
}

impl GstNodeKind {
    pub(crate) fn new(descriptor: NodeDescriptor, build: BuildFn) -> Arc<Self> {
        Arc::new(Self { descriptor, build })
    }

    pub(crate) fn build(&self, props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        (self.build)(props, ctx)
    }
}

impl NodeKind for GstNodeKind {
    fn descriptor(&self) -> &NodeDescriptor {
        &self.descriptor
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Registers every built-in kind: the one visible list of what ships.
pub fn register_builtin(registry: &mut Registry) -> Result<(), RegistryError> {
    for kind in [
        capture::test(),
        capture::screen(),
        capture::file(),
        audio::system(),
        audio::mic(),
        audio::test(),
        encode::h264(),
        encode::aac(),
        encode::opus(),
        replay::ring(),
        sink::file(),
    ] {
        registry.register(kind)?;
    }
    Ok(())
}

/// What a node's build produced: the pads the graph links, and what the
/// runtime needs to know about the node.
#[derive(Default)]
pub(crate) struct Built {
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
    pub bytes_copied: Option<Arc<std::sync::atomic::AtomicU64>>,
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
pub(crate) struct BuildCtx<'a> {
    pub pipeline: &'a gst::Pipeline,
    pub node: &'a str,
    pub options: &'a PipelineOptions,
    /// Output pads of this node that some link uses.
    pub linked_outputs: Vec<String>,
    /// Input pads of this node that a link feeds, with the caps the upstream
    /// pad can produce (known before anything plays: the frame rate, say).
    pub linked_inputs: Vec<(String, gst::Caps)>,
    /// Rings survive pipeline restarts: the runtime hands back the node's ring.
    pub existing_ring: Option<Arc<RingNode>>,
}

impl BuildCtx<'_> {
    pub fn props<P: DeserializeOwned>(&self, props: &Props) -> Result<P, BuildError> {
        serde_json::from_value(serde_json::Value::Object(props.clone()))
            .map_err(|e| BuildError::Node { node: self.node.to_owned(), message: format!("invalid props: {e}") })
    }

    pub fn is_linked(&self, output: &str) -> bool {
        self.linked_outputs.iter().any(|p| p == output)
    }

    pub fn is_input_linked(&self, input: &str) -> bool {
        self.linked_inputs.iter().any(|(p, _)| p == input)
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
        for pair in elements.windows(2) {
            pair[0].link(pair[1]).map_err(|_| BuildError::Link {
                from: pair[0].name().to_string(),
                to: pair[1].name().to_string(),
                reason: "incompatible caps".into(),
            })?;
        }
        Ok(())
    }

    pub fn error(&self, message: impl std::fmt::Display) -> BuildError {
        BuildError::Node { node: self.node.to_owned(), message: message.to_string() }
    }
}

/// Which Debian package ships an element, for a useful error.
fn install_hint(factory: &str) -> String {
    let package = match factory {
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "avenc_aac" => "gstreamer1.0-libav",
        "h264parse" | "openh264enc" | "voaacenc" | "nvh264enc" => "gstreamer1.0-plugins-bad",
        "ximagesrc" | "pulsesrc" | "mp4mux" | "matroskamux" | "aacparse" => "gstreamer1.0-plugins-good",
        "pipewiresrc" => "gstreamer1.0-pipewire",
        _ => return String::new(),
    };
    format!(" (install the `{package}` package)")
}

/// Props schema helpers shared by several kinds.
pub(crate) fn default_fps() -> u32 {
    60
}
