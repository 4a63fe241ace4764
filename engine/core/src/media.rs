//! The kinds of data that flow along a link.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a pad produces or consumes. Two pads may be linked only when their
/// media types are equal; the builder inserts no implicit conversions.
///
/// Encoded media carry their codec: the replay ring's MP4 writer takes H.264
/// and AAC only, so an Opus track into it is a validation error, not packets
/// that fill the ring and are never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MediaType {
    /// Uncompressed video frames.
    #[serde(rename = "raw-video")]
    RawVideo,
    /// H.264 access units (`stream-format=avc`, `alignment=au`).
    #[serde(rename = "video/h264")]
    H264,
    /// Uncompressed audio samples.
    #[serde(rename = "raw-audio")]
    RawAudio,
    /// AAC-LC frames (raw, with an AudioSpecificConfig).
    #[serde(rename = "audio/aac")]
    Aac,
    /// Opus packets.
    #[serde(rename = "audio/opus")]
    Opus,
    /// Model input or output tensors.
    #[serde(rename = "tensor")]
    Tensor,
    /// Engine events (markers, highlights).
    #[serde(rename = "events")]
    Events,
}

impl MediaType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RawVideo => "raw-video",
            Self::H264 => "video/h264",
            Self::RawAudio => "raw-audio",
            Self::Aac => "audio/aac",
            Self::Opus => "audio/opus",
            Self::Tensor => "tensor",
            Self::Events => "events",
        }
    }

    /// Compressed media (what a replay ring or a file sink stores).
    pub const fn is_encoded(self) -> bool {
        matches!(self, Self::H264 | Self::Aac | Self::Opus)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_names_are_the_display_names() {
        for m in [
            MediaType::RawVideo,
            MediaType::H264,
            MediaType::RawAudio,
            MediaType::Aac,
            MediaType::Opus,
            MediaType::Tensor,
            MediaType::Events,
        ] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }
}
