//! The node contract: what a node kind declares about itself, and what it
//! builds into.
//!
//! A node kind is described before anything runs, so that a graph can be
//! checked whole: pads, a props schema, and two phases of checks (the props
//! themselves, then the context: files, devices, elements, the platform).
//! It then builds into one of two runtimes ([`Runtime`]):
//!
//! * a **segment** of a media backend (GStreamer elements and pads). The
//!   backend is a type parameter `S` of the registry, so the GStreamer
//!   adapter's kinds hand the runtime their builder without any downcast,
//!   while this crate stays free of GStreamer;
//! * an in-process **processor** ([`crate::processor`]): a Rust object fed
//!   frames, audio, tensors or events on its own thread, which emits tensors,
//!   events, markers, save requests or images. Processors are plain data in,
//!   plain data out, so the same contract can be served across a C ABI.
//!
//! Static kinds implement the typed [`Node`] declaration (an associated props
//! type, pads, checks) and a backend trait (`Segment` in the GStreamer
//! adapter, [`crate::processor::ProcessorNode`] here); a generic wrapper turns
//! that into the object-safe [`NodeKind`] the [`crate::Registry`] holds.

use crate::media::MediaType;
use crate::processor::ProcessorKind;
use crate::validate::ProblemCode;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A node's `props` table, as written in TOML or JSON.
pub type Props = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PadDirection {
    In,
    Out,
}

/// One pad of a node kind.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PadSpec {
    pub name: String,
    pub direction: PadDirection,
    /// What an output produces, or the first thing an input accepts.
    pub media: MediaType,
    /// Further media types an input accepts (a file sink takes AAC or Opus).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_accepts: Vec<MediaType>,
    /// A graph that leaves a required pad unlinked does not validate.
    pub required: bool,
}

impl PadSpec {
    pub fn input(name: &str, media: MediaType) -> Self {
        Self { name: name.to_owned(), direction: PadDirection::In, media, also_accepts: Vec::new(), required: true }
    }

    pub fn output(name: &str, media: MediaType) -> Self {
        Self { name: name.to_owned(), direction: PadDirection::Out, media, also_accepts: Vec::new(), required: false }
    }

    /// Marks the pad optional (inputs) or required (outputs).
    #[must_use]
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Lets an input accept another media type too.
    #[must_use]
    pub fn or(mut self, media: MediaType) -> Self {
        self.also_accepts.push(media);
        self
    }

    pub fn accepts(&self, media: MediaType) -> bool {
        self.media == media || self.also_accepts.contains(&media)
    }

    /// The media types accepted, for messages (`audio/aac or audio/opus`).
    pub fn accepted(&self) -> String {
        std::iter::once(self.media)
            .chain(self.also_accepts.iter().copied())
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// How a kind runs, as published by `GET /api/v1/nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Implementation {
    /// Elements of the media backend (GStreamer).
    Segment,
    /// An in-process processor on its own thread.
    Processor,
}

/// Everything a node kind publishes about itself (served by `GET /api/v1/nodes`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeDescriptor {
    /// Short dotted noun, e.g. `encode.h264`.
    pub kind: String,
    /// One line for listings.
    pub summary: String,
    pub implementation: Implementation,
    pub pads: Vec<PadSpec>,
    /// JSON Schema (2020-12) of the `props` table.
    pub props_schema: serde_json::Value,
}

impl NodeDescriptor {
    /// Describes a kind whose props deserialize into `P`; the schema is generated
    /// from the same type the backend parses, so the two cannot drift apart.
    pub fn new<P: JsonSchema>(kind: &str, summary: &str, implementation: Implementation, pads: Vec<PadSpec>) -> Self {
        let props_schema = schemars::schema_for!(P).to_value();
        Self { kind: kind.to_owned(), summary: summary.to_owned(), implementation, pads, props_schema }
    }

    /// A pad by name and direction: an input and an output may share a name
    /// (`encode.h264` takes `video` and gives `video`).
    pub fn pad(&self, name: &str, direction: PadDirection) -> Option<&PadSpec> {
        self.pads.iter().find(|p| p.name == name && p.direction == direction)
    }
}

/// A problem a kind finds with one node's props or surroundings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON Pointer into the node's `props` (empty for the node as a whole).
    pub pointer: String,
    pub code: ProblemCode,
    pub message: String,
}

impl Finding {
    pub fn new(pointer: &str, code: ProblemCode, message: impl Into<String>) -> Self {
        Self { pointer: pointer.to_owned(), code, message: message.into() }
    }
}

/// What a node kind builds into. `S` is the media backend's segment builder
/// (the GStreamer adapter's `dyn BuildSegment`).
pub enum Runtime<'a, S: ?Sized> {
    Segment(&'a S),
    Processor(&'a dyn ProcessorKind),
}

impl<S: ?Sized> std::fmt::Debug for Runtime<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Segment(_) => "Runtime::Segment",
            Self::Processor(_) => "Runtime::Processor",
        })
    }
}

/// A kind of node that graphs may instantiate: the object-safe contract the
/// registry holds. Built-in kinds, plugin kinds and model kinds implement it
/// alike (static kinds through [`Node`] and a generic wrapper).
pub trait NodeKind<S: ?Sized>: Send + Sync + 'static {
    fn descriptor(&self) -> &NodeDescriptor;

    /// Checks beyond the JSON Schema (relations between props, say).
    fn check_props(&self, _props: &Props) -> Vec<Finding> {
        Vec::new()
    }

    /// The context phase: what exists on this machine (files, devices,
    /// elements, encoders, the platform). Called only on schema-valid props.
    fn check_context(&self, _props: &Props) -> Vec<Finding> {
        Vec::new()
    }

    fn runtime(&self) -> Runtime<'_, S>;
}

/// The typed declaration of a static node kind. A backend trait (the
/// GStreamer adapter's `Segment`, or [`crate::processor::ProcessorNode`])
/// adds how it is built; registration is then one line.
pub trait Node: Send + Sync + 'static {
    /// The props table, parsed. Its JSON Schema is what the registry checks.
    type Props: DeserializeOwned + JsonSchema;
    /// Short dotted noun, e.g. `video.preview`.
    const KIND: &'static str;
    /// One line for listings.
    const SUMMARY: &'static str;

    fn pads() -> Vec<PadSpec>;

    /// Relations between props the schema cannot express.
    fn check_props(_props: &Self::Props) -> Vec<Finding> {
        Vec::new()
    }

    /// What must exist on this machine for these props.
    fn check_context(_props: &Self::Props) -> Vec<Finding> {
        Vec::new()
    }
}

/// Parses a props table into a kind's props type.
pub fn parse_props<P: DeserializeOwned>(props: &Props) -> Result<P, String> {
    serde_json::from_value(serde_json::Value::Object(props.clone())).map_err(|e| format!("invalid props: {e}"))
}

/// Runs a typed check on a props table; props that do not parse were already
/// reported by the schema check.
pub fn check_typed<P: DeserializeOwned>(props: &Props, check: impl FnOnce(&P) -> Vec<Finding>) -> Vec<Finding> {
    parse_props::<P>(props).map(|p| check(&p)).unwrap_or_default()
}
