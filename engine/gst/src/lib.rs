//! The GStreamer adapter: built-in node kinds, encoder probing and the
//! pipeline runtime that turns a [`clipshot_core::ValidatedGraph`] into a
//! running `gst::Pipeline` feeding replay rings.
//!
//! Record path: `source ! queue ! videoconvert ! encoder ! h264parse ! queue ! appsink`.
//! The appsink callback maps each encoded buffer read-only (no copy for system
//! memory) and hands the mapping to the ring as a [`clipshot_core::Packet`].

pub mod devices;
pub mod encoder;
mod error;
mod frame_bridge;
pub mod inspect;
pub mod nodes;
mod pipeline;
#[cfg(target_os = "linux")]
mod portal;
pub mod ring_sink;
mod save;

pub use error::{BuildError, SaveError};
pub use nodes::{GstNodeKind, register_builtin};
pub use pipeline::{NodeStats, Pipeline, PipelineOptions, PipelineStats};
pub use ring_sink::RingNode;
pub use save::{SaveRequest, SaveSpan, SavedClip};

/// Initialises GStreamer once; safe to call repeatedly.
pub fn init() -> Result<(), BuildError> {
    gstreamer::init().map_err(|e| BuildError::Init(e.to_string()))
}
