//! Plugin node kinds in the engine's one registry: each implements the same
//! `NodeKind` and `Processor` contract as the built-in processors, so a
//! graph validates, builds and runs them alike.

use crate::ffi::{self, RawOutput};
use crate::supervisor::{Handle, Plugin};
use clipshot_core::event::{Event, Trigger};
use clipshot_core::processor::{
    Input, Output, Outputs, ProcessError, Processor, ProcessorContext, ProcessorKind, Setup, Tensor,
};
use clipshot_core::{Implementation, NodeDescriptor, NodeKind, Props, Runtime};
use parking_lot::Mutex;
use std::sync::{Arc, Weak};

/// The most floats a plugin tensor may carry, and outputs one call may give.
const MAX_TENSOR: usize = 1 << 24;
const MAX_OUTPUTS: usize = 1024;

/// Event types a plugin may emit; the rest of the vocabulary is the engine's own.
const PLUGIN_EVENTS: &[&str] = &["highlight.detected"];

/// One node kind of a loaded plugin.
pub struct PluginKind {
    plugin: Arc<Plugin>,
    index: usize,
    descriptor: NodeDescriptor,
    out_pads: Arc<[String]>,
    live: Mutex<Vec<Weak<LiveNode>>>,
}

impl std::fmt::Debug for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginKind").field("kind", &self.descriptor.kind).field("plugin", &self.plugin.id()).finish()
    }
}

/// A node instance's place, for health: where it runs and its handle (a
/// copy the processor updates when the handle changes, so that a call
/// takes no lock of it).
#[derive(Debug)]
struct LiveNode {
    pipeline: String,
    node: String,
    handle: Mutex<Handle>,
}

/// One running plugin node, as the health report lists it.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStats {
    pub pipeline: String,
    pub node: String,
    pub kind: String,
    /// The plugin's own counters for the node (absent while its code is down).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub stats: Option<serde_json::Value>,
}

impl PluginKind {
    /// The plugin's kinds, ready for `Registry::register`.
    pub fn all(plugin: &Arc<Plugin>) -> Result<Vec<Arc<Self>>, String> {
        plugin
            .nodes()
            .iter()
            .enumerate()
            .map(|(index, d)| {
                let pads = d.pads()?;
                let descriptor = NodeDescriptor {
                    kind: d.kind.clone(),
                    summary: d.summary.clone(),
                    implementation: Implementation::Processor,
                    pads,
                    props_schema: d.props_schema.clone(),
                };
                Ok(Arc::new(Self {
                    plugin: Arc::clone(plugin),
                    index,
                    descriptor,
                    out_pads: d.output_pads().into(),
                    live: Mutex::new(Vec::new()),
                }))
            })
            .collect()
    }

    /// The kind's name (`killfeed.color`).
    pub fn descriptor_kind(&self) -> String {
        self.descriptor.kind.clone()
    }

    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The running nodes of this kind and their counters.
    pub fn node_stats(&self) -> Vec<NodeStats> {
        let live: Vec<Arc<LiveNode>> = {
            let mut live = self.live.lock();
            live.retain(|w| w.strong_count() > 0);
            live.iter().filter_map(Weak::upgrade).collect()
        };
        live.iter()
            .map(|n| {
                let handle = *n.handle.lock();
                NodeStats {
                    pipeline: n.pipeline.clone(),
                    node: n.node.clone(),
                    kind: self.descriptor.kind.clone(),
                    stats: self.plugin.stats(handle),
                }
            })
            .collect()
    }
}

impl<S: ?Sized> NodeKind<S> for PluginKind {
    fn descriptor(&self) -> &NodeDescriptor {
        &self.descriptor
    }

    fn runtime(&self) -> Runtime<'_, S> {
        Runtime::Processor(self)
    }
}

impl ProcessorKind for PluginKind {
    fn create(&self, props: &Props, ctx: &ProcessorContext) -> Result<Setup, String> {
        let args =
            self.plugin.create_args(self.index, &serde_json::Value::Object(props.clone()), &ctx.pipeline, &ctx.node);
        let (handle, video) = self.plugin.create(self.index, &args)?;
        let live =
            Arc::new(LiveNode { pipeline: ctx.pipeline.clone(), node: ctx.node.clone(), handle: Mutex::new(handle) });
        self.live.lock().push(Arc::downgrade(&live));
        let processor = PluginProcessor {
            plugin: Arc::clone(&self.plugin),
            index: self.index,
            args,
            out_pads: Arc::clone(&self.out_pads),
            handle,
            live,
        };
        Ok(Setup { processor: Box::new(processor), video })
    }
}

struct PluginProcessor {
    plugin: Arc<Plugin>,
    index: usize,
    args: ffi::CreateArgs,
    out_pads: Arc<[String]>,
    handle: Handle,
    live: Arc<LiveNode>,
}

impl PluginProcessor {
    /// Runs one call and publishes the handle if the call (re)created the instance.
    fn call(
        &mut self,
        f: impl FnOnce(
            &mut dyn crate::backend::Backend,
            crate::backend::Instance,
        ) -> Result<ffi::CallResult, crate::backend::CallError>,
    ) -> Result<Option<ffi::CallResult>, String> {
        let before = self.handle;
        let result = self.plugin.call(&mut self.handle, self.index, &self.args, f);
        if self.handle != before {
            *self.live.handle.lock() = self.handle;
        }
        result
    }

    fn deliver(&self, raw: Vec<RawOutput>, out: &mut Outputs) {
        if raw.len() > MAX_OUTPUTS {
            self.plugin.output_refused(format!("{} outputs in one call; the first {MAX_OUTPUTS} were kept", raw.len()));
        }
        for output in raw.into_iter().take(MAX_OUTPUTS) {
            match convert(output, &self.out_pads, &self.args.pipeline) {
                Ok(output) => out.push(output),
                Err(message) => {
                    tracing::debug!(plugin = %self.plugin.id(), node = %self.args.node, %message, "output refused");
                    self.plugin.output_refused(message);
                }
            }
        }
    }
}

impl Processor for PluginProcessor {
    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let mut json = String::new();
        let input = ffi::input_ref(&input, &mut json);
        let result = self.call(|backend, instance| backend.process(instance, pad, &input)).map_err(ProcessError)?;
        if let Some(result) = result {
            self.deliver(result.outputs, out);
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Outputs) {
        if self.handle.is_none() {
            return;
        }
        let result = self.call(|backend, instance| backend.flush(instance));
        if let Ok(Some(result)) = result {
            self.deliver(result.outputs, out);
        }
    }
}

impl Drop for PluginProcessor {
    fn drop(&mut self) {
        self.plugin.destroy(self.handle);
    }
}

/// Checks a plugin's output and turns it into the engine's.
fn convert(raw: RawOutput, out_pads: &[String], pipeline: &str) -> Result<Output, String> {
    Ok(match raw {
        RawOutput::Tensor { pad, shape, data, pts_ns } => {
            if !out_pads.contains(&pad) {
                return Err(format!("no output pad `{pad}`"));
            }
            // Checked again here: a host process can send anything.
            if shape.len() > 8
                || data.len() > MAX_TENSOR
                || shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d)) != Some(data.len())
            {
                return Err(format!("a tensor of shape {shape:?} with {} values", data.len()));
            }
            Output::Tensor { pad, tensor: Tensor { shape, data, pts_ns } }
        }
        RawOutput::Event(json) => Output::Event(parse_event(&json, pipeline)?),
        RawOutput::Marker { at_ns, label } => Output::Marker { at_ns, label },
        RawOutput::Save { at_ns, pre_seconds, post_seconds } => {
            Output::Save { at_ns, pre_seconds, post_seconds, trigger: Trigger::Highlight, score: None }
        }
    })
}

/// An event from a plugin: `{"type", "data": {…}}` or, as plugin authors
/// tend to write it, `{"type", …fields}`; `pipeline` is filled in.
fn parse_event(json: &str, pipeline: &str) -> Result<Event, String> {
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("the event is not JSON: {e}"))?;
    let object = value.as_object_mut().ok_or("the event is not a JSON object")?;
    let kind = object.get("type").and_then(|t| t.as_str()).ok_or("the event has no `type`")?.to_owned();
    if !PLUGIN_EVENTS.contains(&kind.as_str()) {
        return Err(format!("plugins may emit {} events, not `{kind}`", PLUGIN_EVENTS.join(", ")));
    }
    let mut data = match object.remove("data") {
        Some(serde_json::Value::Object(data)) => data,
        Some(_) => return Err("the event's `data` is not an object".into()),
        None => {
            object.remove("type");
            std::mem::take(object)
        }
    };
    data.entry("pipeline").or_insert_with(|| pipeline.into());
    serde_json::from_value(serde_json::json!({"type": kind, "data": data}))
        .map_err(|e| format!("invalid `{kind}` event: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_accepted_flat_or_nested_and_limited_to_highlights() {
        let flat = r#"{"type":"highlight.detected","at_ns":5,"score":0.5,"label":"kill","start_ns":1,"end_ns":9,"detectors":["x"]}"#;
        let Event::HighlightDetected { pipeline, at_ns, .. } = parse_event(flat, "main").unwrap() else { panic!() };
        assert_eq!((pipeline.as_str(), at_ns), ("main", 5));
        let nested = r#"{"type":"highlight.detected","data":{"pipeline":"other","at_ns":5,"score":0.5,"label":"k","start_ns":1,"end_ns":9,"detectors":[]}}"#;
        let Event::HighlightDetected { pipeline, .. } = parse_event(nested, "main").unwrap() else { panic!() };
        assert_eq!(pipeline, "other");
        assert!(parse_event(r#"{"type":"clip.saved","data":{}}"#, "main").unwrap_err().contains("not `clip.saved`"));
        assert!(parse_event(r#"{"type":"highlight.detected"}"#, "main").unwrap_err().contains("invalid"));
        assert!(parse_event("[1]", "main").is_err());
    }

    #[test]
    fn tensors_must_name_an_output_pad() {
        let pads: Vec<String> = vec!["score".into()];
        let t = |pad: &str| RawOutput::Tensor { pad: pad.into(), shape: vec![1], data: vec![0.5], pts_ns: 3 };
        assert!(matches!(convert(t("score"), &pads, "p"), Ok(Output::Tensor { .. })));
        assert!(convert(t("video"), &pads, "p").unwrap_err().contains("no output pad"));
        let save = RawOutput::Save { at_ns: 1, pre_seconds: 2.0, post_seconds: 1.0 };
        assert!(matches!(convert(save, &pads, "p"), Ok(Output::Save { trigger: Trigger::Highlight, .. })));
    }
}
