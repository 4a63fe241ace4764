//! The kinds of data that flow along a link.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a pad produces or consumes. Two pads may be linked only when their media
/// types are equal; the builder inserts no implicit conversions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MediaType {
    /// Uncompressed video frames.
    RawVideo,
    /// Compressed video access units (H.264 today).
    EncodedVideo,
    /// Uncompressed audio samples.
    RawAudio,
    /// Compressed audio frames (AAC, Opus).
    EncodedAudio,
    /// Model input or output tensors.
    Tensor,
    /// Engine events (markers, highlights).
    Events,
}

impl MediaType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RawVideo => "raw-video",
            Self::EncodedVideo => "encoded-video",
            Self::RawAudio => "raw-audio",
            Self::EncodedAudio => "encoded-audio",
            Self::Tensor => "tensor",
            Self::Events => "events",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
