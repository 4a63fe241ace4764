//! What a node kind declares about itself: pads, props schema and documentation.
//!
//! A node kind is described before anything runs, so that a graph can be checked
//! whole. Backends (the GStreamer adapter, the plugin host) implement [`NodeKind`]
//! and register it in the one [`crate::Registry`]; when a validated graph is built
//! they downcast through [`NodeKind::as_any`] to their own implementation.

use crate::media::MediaType;
use schemars::JsonSchema;
use serde::Serialize;
use std::any::Any;

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
    pub media: MediaType,
    /// A graph that leaves a required pad unlinked does not validate.
    pub required: bool,
}

impl PadSpec {
    pub fn input(name: &str, media: MediaType) -> Self {
        Self { name: name.to_owned(), direction: PadDirection::In, media, required: true }
    }

    pub fn output(name: &str, media: MediaType) -> Self {
        Self { name: name.to_owned(), direction: PadDirection::Out, media, required: false }
    }

    /// Marks the pad optional (inputs) or required (outputs).
    #[must_use]
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }
}

/// Everything a node kind publishes about itself (served by `GET /api/v1/nodes`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeDescriptor {
    /// Short dotted noun, e.g. `encode.h264`.
    pub kind: String,
    /// One line for listings.
    pub summary: String,
    pub pads: Vec<PadSpec>,
    /// JSON Schema (2020-12) of the `props` table.
    pub props_schema: serde_json::Value,
}

impl NodeDescriptor {
    /// Describes a kind whose props deserialize into `P`; the schema is generated
    /// from the same type the backend parses, so the two cannot drift apart.
    pub fn new<P: JsonSchema>(kind: &str, summary: &str, pads: Vec<PadSpec>) -> Self {
        let props_schema = schemars::schema_for!(P).to_value();
        Self { kind: kind.to_owned(), summary: summary.to_owned(), pads, props_schema }
    }

    /// A pad by name and direction: an input and an output may share a name
    /// (`encode.h264` takes `video` and gives `video`).
    pub fn pad(&self, name: &str, direction: PadDirection) -> Option<&PadSpec> {
        self.pads.iter().find(|p| p.name == name && p.direction == direction)
    }
}

/// A kind of node that graphs may instantiate. Built-in kinds and plugin kinds
/// implement the same trait and live in the same registry.
pub trait NodeKind: Send + Sync + 'static {
    fn descriptor(&self) -> &NodeDescriptor;

    /// Checks beyond the JSON Schema (relations between props, say). Each entry
    /// is `(json_pointer_into_props, message)`.
    fn check_props(&self, _props: &Props) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Lets a backend recover its own implementation when it builds a graph.
    fn as_any(&self) -> &dyn Any;
}
