//! The GStreamer adapter, laid out by stage: `capture` (screen, window,
//! file, test and audio sources, and what this machine can capture from),
//! `encode` (H.264 and audio encoders, encoder probing), `replay` (the
//! appsink → ring bridge and saving clips from it), `sink` (continuous
//! recording), and `pipeline` (building a validated graph into a supervised
//! `gst::Pipeline`, with bridges to in-process processors).
//!
//! Record path: `source ! queue ! videoconvert ! encoder ! h264parse ! queue ! appsink`.
//! The appsink callback maps each encoded buffer read-only (no copy for system
//! memory) and hands the mapping to the ring as a [`clipshot_core::Packet`].

pub mod capture;
pub mod encode;
mod error;
pub mod inspect;
pub mod kind;
mod pipeline;
pub mod replay;
mod sample;
pub mod sink;

pub use error::{BuildError, SaveError};
pub use kind::{BuildCtx, BuildSegment, Built, Registry, Segment, segment};
pub use pipeline::{Image, NodeStats, Pipeline, PipelineOptions, PipelineStats, RecordError, RecordingInfo, RingFill};
pub use replay::{RingNode, SaveRequest, SaveSpan, SavedClip};

/// Initialises GStreamer once; safe to call repeatedly.
pub fn init() -> Result<(), BuildError> {
    gstreamer::init().map_err(|e| BuildError::Init(e.to_string()))
}

/// Registers every built-in GStreamer kind: the one visible list of what
/// ships as elements. (The engine runtime adds the processor kinds and,
/// later, plugins, to the same registry.)
pub fn register_builtin(registry: &mut Registry) -> Result<(), clipshot_core::RegistryError> {
    use capture::{audio, video};
    registry.register(segment::<video::TestSource>())?;
    registry.register(segment::<video::ScreenSource>())?;
    registry.register(segment::<video::FileSource>())?;
    registry.register(segment::<audio::SystemAudio>())?;
    registry.register(segment::<audio::Microphone>())?;
    registry.register(segment::<audio::ToneSource>())?;
    registry.register(segment::<encode::H264Encoder>())?;
    registry.register(segment::<encode::AacEncoder>())?;
    registry.register(segment::<encode::OpusEncoder>())?;
    registry.register(segment::<replay::Ring>())?;
    registry.register(segment::<sink::FileSink>())?;
    Ok(())
}
