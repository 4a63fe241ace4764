//! The ClipShot engine core.
//!
//! Everything here is backend-neutral: pipeline graphs and their validation, the
//! node contract (a kind builds into a media-backend segment or an in-process
//! processor) and the registry shared by built-in, plugin and model kinds, reference-counted media
//! handles and the typed event vocabulary. It deliberately depends on none of
//! GStreamer, wgpu or ONNX Runtime (a test in `tests/deps.rs` keeps it so), so the
//! graph logic can be tested and reused without any media stack installed.

pub mod event;
pub mod graph;
pub mod handle;
pub mod latency;
pub mod media;
pub mod node;
pub mod processor;
pub mod registry;
pub mod validate;

pub use event::{Degradation, Event, EventSink, NodeFault, PipelineState, Trigger};
pub use graph::{GraphSpec, LinkDecl, NodeDecl, PadRef, ParseError};
pub use handle::{Frame, MediaBytes, Packet, PixelFormat};
pub use latency::{LatencyRecorder, LatencySummary};
pub use media::MediaType;
pub use node::{Finding, Implementation, Node, NodeDescriptor, NodeKind, PadDirection, PadSpec, Props, Runtime};
pub use processor::{ProcessorContext, ProcessorKind, ProcessorNode, processor};
pub use registry::{Registry, RegistryError};
pub use validate::{Problem, ProblemCode, ValidatedGraph, ValidationErrors};
