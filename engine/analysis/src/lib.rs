//! The analysis branch: node kinds that find highlights in any game from its
//! pixels and its sound, on the core processor contract (no GStreamer here).
//!
//! - `analyze.motion` (video → motion features, on the GPU)
//! - `analyze.audio` (audio → sound events from an AudioSet tagger on ONNX
//!   Runtime, and loudness jumps)
//! - `analyze.text` (video → keywords read in the profile's screen regions
//!   with PP-OCR: kill feeds, banners)
//! - `analyze.voice` (microphone → excited speech with Silero VAD; off
//!   unless a profile has `[voice]`)
//! - `analyze.score` (features → highlights: `highlight.detected`, markers,
//!   auto-clips), as a game [`profile`] says.
//!
//! The runtime registers them beside the built-ins; [`install`] hands them the
//! daemon's models and GPU device.

pub mod nodes;
pub mod profile;
pub mod score;
pub mod switch;
pub mod text;
pub mod voice;

pub use nodes::{AudioNode, MotionNode, ScoreNode, install};
pub use profile::{Profile, ProfileError};
pub use score::{Decision, Highlight, Observation, Scorer};
pub use switch::{forget, select, selected};
pub use text::TextNode;
pub use voice::VoiceNode;

/// Registers the analysis node kinds.
pub fn register<S: ?Sized + 'static>(
    registry: &mut clipshot_core::Registry<S>,
) -> Result<(), clipshot_core::registry::RegistryError> {
    registry.register(clipshot_core::processor::<MotionNode>())?;
    registry.register(clipshot_core::processor::<AudioNode>())?;
    registry.register(clipshot_core::processor::<TextNode>())?;
    registry.register(clipshot_core::processor::<VoiceNode>())?;
    registry.register(clipshot_core::processor::<ScoreNode>())?;
    Ok(())
}
