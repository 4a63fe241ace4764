//! In-process processors: node kinds that are Rust code, not media elements.
//!
//! The runtime feeds a processor on a thread of its own through a bounded
//! channel that drops the oldest input when the processor is busy (and counts
//! the drop), so a slow processor can never slow the record path. Raw video
//! reaches it rate-limited and downscaled as its [`VideoInput`] asks.
//!
//! Everything that crosses this boundary is plain data: borrowed read-only
//! views in ([`Input`]), owned values out ([`Output`]), a status for errors.
//! No `Any`, no `Arc<dyn …>`: the plugin SDK mirrors these types in
//! `#[repr(C)]` and serves the same contract from a shared library.

use crate::event::{Event, Trigger};
use crate::handle::PixelFormat;
use crate::node::Finding;
use crate::node::{Implementation, Node, NodeDescriptor, NodeKind, Props, Runtime, check_typed, parse_props};
use std::marker::PhantomData;
use std::path::PathBuf;

/// A read-only view of one raw video frame. Rows may be padded: use `stride`.
#[derive(Debug, Clone, Copy)]
pub struct VideoFrame<'a> {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per row of the (first) plane.
    pub stride: u32,
    pub data: &'a [u8],
    /// Running time of the frame on the pipeline's timeline.
    pub pts_ns: i64,
}

/// A read-only view of interleaved 32-bit float audio.
#[derive(Debug, Clone, Copy)]
pub struct AudioChunk<'a> {
    pub rate: u32,
    pub channels: u16,
    pub samples: &'a [f32],
    pub pts_ns: i64,
}

/// A dense `f32` tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub pts_ns: i64,
}

/// What a processor is given.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Video(VideoFrame<'a>),
    Audio(AudioChunk<'a>),
    Tensor(&'a Tensor),
    Event(&'a Event),
}

/// What a processor hands back to the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A tensor on an output pad, for the processors linked to it.
    Tensor { pad: String, tensor: Tensor },
    /// An engine event for the event bus (e.g. `highlight.detected`).
    Event(Event),
    /// A marker on the pipeline's replay timeline.
    Marker { at_ns: i64, label: Option<String> },
    /// A clip of the pipeline's ring around `at_ns` (the same save path the
    /// hotkey and the API use).
    Save { at_ns: i64, pre_seconds: f64, post_seconds: f64, trigger: Trigger, score: Option<crate::event::ClipScore> },
    /// The node's latest still image (`image/jpeg`, say), kept by the runtime
    /// and served to frontends.
    Image { content_type: String, data: Vec<u8>, pts_ns: i64 },
}

/// Where a processor puts its outputs during one call.
#[derive(Debug, Default)]
pub struct Outputs(Vec<Output>);

impl Outputs {
    pub fn push(&mut self, output: Output) {
        self.0.push(output);
    }

    pub fn drain(&mut self) -> std::vec::Drain<'_, Output> {
        self.0.drain(..)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A processor's failure on one input; the runtime counts it and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProcessError(pub String);

/// A running processor. Called on one thread at a time, never on a
/// streaming thread of the media backend.
pub trait Processor: Send + 'static {
    /// Handles one input that arrived on `pad`.
    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError>;

    /// End of stream or stop: emit what is pending.
    fn flush(&mut self, _out: &mut Outputs) {}
}

/// How a processor wants raw video delivered. The runtime scales and
/// converts in the media backend, and drops frames above `max_fps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInput {
    pub max_fps: f64,
    /// Scale to this width (keeping the aspect ratio); the source size when `None`.
    pub width: Option<u32>,
    pub format: PixelFormat,
}

impl Default for VideoInput {
    fn default() -> Self {
        Self { max_fps: 8.0, width: None, format: PixelFormat::Rgba }
    }
}

/// A created processor and how it wants to be fed.
pub struct Setup {
    pub processor: Box<dyn Processor>,
    pub video: VideoInput,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup").field("video", &self.video).finish_non_exhaustive()
    }
}

/// What a processor knows of where it runs.
#[derive(Debug, Clone)]
pub struct ProcessorContext {
    pub pipeline: String,
    pub node: String,
    pub data_dir: PathBuf,
    /// The node's input pads that the graph links (a node with optional
    /// inputs knows which ones to expect).
    pub inputs: Vec<String>,
}

/// Creates processors from props: the runtime side of a processor kind.
pub trait ProcessorKind: Send + Sync {
    fn create(&self, props: &Props, ctx: &ProcessorContext) -> Result<Setup, String>;
}

/// A static processor kind: the typed [`Node`] declaration plus its constructor.
pub trait ProcessorNode: Node {
    fn create(props: Self::Props, ctx: &ProcessorContext) -> Result<Setup, String>;
}

/// The registry entry of a [`ProcessorNode`]; usable with any media backend.
pub struct ProcessorKindOf<N> {
    descriptor: NodeDescriptor,
    kind: PhantomData<fn() -> N>,
}

impl<N> std::fmt::Debug for ProcessorKindOf<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorKindOf").field("kind", &self.descriptor.kind).finish()
    }
}

/// Wraps a static processor kind for [`crate::Registry::register`].
pub fn processor<N: ProcessorNode>() -> std::sync::Arc<ProcessorKindOf<N>> {
    std::sync::Arc::new(ProcessorKindOf {
        descriptor: NodeDescriptor::new::<N::Props>(N::KIND, N::SUMMARY, Implementation::Processor, N::pads()),
        kind: PhantomData,
    })
}

impl<N: ProcessorNode> ProcessorKind for ProcessorKindOf<N> {
    fn create(&self, props: &Props, ctx: &ProcessorContext) -> Result<Setup, String> {
        N::create(parse_props(props)?, ctx)
    }
}

impl<S: ?Sized, N: ProcessorNode> NodeKind<S> for ProcessorKindOf<N> {
    fn descriptor(&self) -> &NodeDescriptor {
        &self.descriptor
    }

    fn check_props(&self, props: &Props) -> Vec<Finding> {
        check_typed(props, N::check_props)
    }

    fn check_context(&self, props: &Props) -> Vec<Finding> {
        check_typed(props, N::check_context)
    }

    fn runtime(&self) -> Runtime<'_, S> {
        Runtime::Processor(self)
    }
}
