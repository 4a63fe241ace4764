//! The pipeline graph as written by users: TOML files in `pipelines/`, JSON over REST.

use crate::node::Props;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A pipeline graph as written, before validation. Construct one with
/// [`GraphSpec::from_toml`] or [`GraphSpec::from_json`], then check it with
/// [`crate::validate::validate`]; only a [`crate::ValidatedGraph`] can be built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub nodes: Vec<NodeDecl>,
    #[serde(default)]
    pub links: Vec<LinkDecl>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeDecl {
    /// Unique within the graph; letters, digits, `-` and `_`.
    pub id: String,
    /// A kind from the node registry, e.g. `encode.h264`.
    pub kind: String,
    #[serde(default)]
    pub props: Props,
    /// The pipeline may run without this node (and what only it feeds): when
    /// it cannot start, the rest records and the pipeline reports itself
    /// degraded, retrying the node with back-off. Presets mark audio so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkDecl {
    /// `node.pad` of an output pad.
    pub from: String,
    /// `node.pad` of an input pad.
    pub to: String,
}

/// A parsed `node.pad` reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PadRef<'a> {
    pub node: &'a str,
    pub pad: &'a str,
}

impl<'a> PadRef<'a> {
    /// Node ids cannot contain `.`, so the first dot separates node from pad.
    pub fn parse(s: &'a str) -> Option<Self> {
        let (node, pad) = s.split_once('.')?;
        (!node.is_empty() && !pad.is_empty() && !pad.contains('.')).then_some(Self { node, pad })
    }
}

impl fmt::Display for PadRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.pad)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("invalid TOML graph: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("invalid JSON graph: {0}")]
    Json(#[from] serde_json::Error),
}

impl GraphSpec {
    pub fn from_toml(text: &str) -> Result<Self, ParseError> {
        Ok(toml::from_str(text)?)
    }

    pub fn from_json(text: &str) -> Result<Self, ParseError> {
        Ok(serde_json::from_str(text)?)
    }

    pub fn node(&self, id: &str) -> Option<&NodeDecl> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_refs_split_at_the_first_dot() {
        assert_eq!(PadRef::parse("venc.video"), Some(PadRef { node: "venc", pad: "video" }));
        assert_eq!(PadRef::parse("venc"), None);
        assert_eq!(PadRef::parse(".video"), None);
        assert_eq!(PadRef::parse("venc."), None);
        assert_eq!(PadRef::parse("a.b.c"), None);
    }

    #[test]
    fn toml_and_json_give_the_same_graph() {
        let toml = r#"
            name = "g"
            [[nodes]]
            id = "src"
            kind = "capture.test"
            props = { width = 640 }
            [[links]]
            from = "src.video"
            to = "enc.video"
        "#;
        let json = r#"{"name":"g","nodes":[{"id":"src","kind":"capture.test","props":{"width":640}}],
                       "links":[{"from":"src.video","to":"enc.video"}]}"#;
        assert_eq!(GraphSpec::from_toml(toml).unwrap(), GraphSpec::from_json(json).unwrap());
    }

    #[test]
    fn unknown_top_level_fields_are_rejected() {
        let err = GraphSpec::from_toml("name = \"g\"\nnodez = []\n").unwrap_err();
        assert!(err.to_string().contains("nodez"), "{err}");
    }
}
