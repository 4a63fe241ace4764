//! The one registry of node kinds.

use crate::node::{Finding, NodeDescriptor, NodeKind, Props};
use crate::validate::ProblemCode;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("node kind `{0}` is already registered")]
    Duplicate(String),
    #[error("node kind `{kind}` has an invalid props schema: {reason}")]
    InvalidSchema { kind: String, reason: String },
    #[error("node kind `{kind}` has two pads named `{pad}` in the same direction")]
    DuplicatePad { kind: String, pad: String },
}

struct Entry<S: ?Sized + 'static> {
    kind: Arc<dyn NodeKind<S>>,
    validator: Arc<jsonschema::Validator>,
}

impl<S: ?Sized + 'static> Clone for Entry<S> {
    fn clone(&self) -> Self {
        Self { kind: Arc::clone(&self.kind), validator: Arc::clone(&self.validator) }
    }
}

/// Maps kind names to node kinds. Registration is explicit and fallible:
/// a duplicate is an error, never a silent override. `S` is the media
/// backend's segment builder (see [`crate::node::Runtime`]).
pub struct Registry<S: ?Sized + 'static> {
    entries: BTreeMap<String, Entry<S>>,
}

/// Cloning is cheap (kinds and compiled schemas are shared): the engine
/// derives a registry with plugin kinds from the built-in one.
impl<S: ?Sized + 'static> Clone for Registry<S> {
    fn clone(&self) -> Self {
        Self { entries: self.entries.clone() }
    }
}

impl<S: ?Sized + 'static> Default for Registry<S> {
    fn default() -> Self {
        Self { entries: BTreeMap::new() }
    }
}

impl<S: ?Sized + 'static> fmt::Debug for Registry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("kinds", &self.entries.keys().collect::<Vec<_>>()).finish()
    }
}

impl<S: ?Sized + 'static> Registry<S> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, kind: Arc<dyn NodeKind<S>>) -> Result<(), RegistryError> {
        let desc = kind.descriptor();
        if self.entries.contains_key(&desc.kind) {
            return Err(RegistryError::Duplicate(desc.kind.clone()));
        }
        for (i, pad) in desc.pads.iter().enumerate() {
            if desc.pads[..i].iter().any(|p| p.name == pad.name && p.direction == pad.direction) {
                return Err(RegistryError::DuplicatePad { kind: desc.kind.clone(), pad: pad.name.clone() });
            }
        }
        let validator = jsonschema::validator_for(&desc.props_schema)
            .map_err(|e| RegistryError::InvalidSchema { kind: desc.kind.clone(), reason: e.to_string() })?;
        self.entries.insert(desc.kind.clone(), Entry { kind, validator: Arc::new(validator) });
        Ok(())
    }

    /// Removes a kind (a plugin's, when it is uninstalled); whether it was there.
    pub fn unregister(&mut self, kind: &str) -> bool {
        self.entries.remove(kind).is_some()
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn NodeKind<S>>> {
        self.entries.get(kind).map(|e| &e.kind)
    }

    pub fn descriptor(&self, kind: &str) -> Option<&NodeDescriptor> {
        self.get(kind).map(|k| k.descriptor())
    }

    /// Kind names in sorted order.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn descriptors(&self) -> impl Iterator<Item = &NodeDescriptor> {
        self.entries.values().map(|e| e.kind.descriptor())
    }

    /// The registered kind closest to a misspelt one, if any is close enough to help.
    pub fn suggest(&self, unknown: &str) -> Option<&str> {
        self.kinds()
            .map(|k| (strsim::jaro_winkler(unknown, k), k))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k)
    }

    /// Every problem with `props` for `kind`: the JSON Schema first, then the
    /// kind's own checks on props the schema accepts. `None` for an unknown kind.
    pub fn check_props(&self, kind: &str, props: &Props) -> Option<Vec<Finding>> {
        let entry = self.entries.get(kind)?;
        let instance = serde_json::Value::Object(props.clone());
        let problems: Vec<Finding> = entry
            .validator
            .iter_errors(&instance)
            .map(|e| Finding::new(&e.instance_path.to_string(), ProblemCode::InvalidProp, e.to_string()))
            .collect();
        if problems.is_empty() { Some(entry.kind.check_props(props)) } else { Some(problems) }
    }
}
