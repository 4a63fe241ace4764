//! A faststart MP4 writer that never copies media.
//!
//! Every sample's size and time is known before a save starts, so the `moov`
//! (with its chunk offsets) is computed first and `ftyp + moov + mdat` is
//! written in one pass, the samples going to the writer as `IoSlice`s over the
//! packets' own buffers. GStreamer's `mp4mux faststart=true` instead routes every
//! byte through a temporary file; with the moov at the end, browsers must fetch
//! the tail of the file before they can play.
//!
//! Scope: H.264 (`avc1` with the encoder's `avcC`) and AAC (`mp4a`), one sample
//! per chunk, samples interleaved by decode time, edit lists aligning both tracks
//! on the first displayed video frame.
//!
//! `boxes` writes ISO BMFF boxes, `tracks` builds one track's `trak` from its
//! packets, and `layout` places the samples, computes the `moov` and writes the file.

mod boxes;
mod layout;
mod tracks;

use clipshot_core::Packet;

pub use layout::write_clip;

const MOVIE_TIMESCALE: u32 = 1000;
const VIDEO_TIMESCALE: u32 = 90_000;

/// The H.264 decoder configuration of a video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrackConfig {
    /// The `AVCDecoderConfigurationRecord` (GStreamer's `codec_data` for
    /// `stream-format=avc`).
    pub avcc: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl VideoTrackConfig {
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub fn codec_string(&self) -> String {
        match self.avcc.get(1..4) {
            Some(p) => format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]),
            None => "avc1".to_owned(),
        }
    }
}

/// The AAC decoder configuration of an audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrackConfig {
    /// The `AudioSpecificConfig` (GStreamer's `codec_data` for raw AAC).
    pub audio_specific_config: Vec<u8>,
    pub sample_rate: u32,
    pub channels: u16,
}

/// One track of a clip: its configuration and its packets in decode order.
#[derive(Debug)]
pub struct TrackSource<'a, C> {
    pub config: &'a C,
    pub packets: Vec<&'a Packet>,
}

/// What a clip is made of.
#[derive(Debug)]
pub struct ClipSource<'a> {
    pub video: TrackSource<'a, VideoTrackConfig>,
    pub audio: Option<TrackSource<'a, AudioTrackConfig>>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    pub size_bytes: u64,
    /// Presentation duration of the video track.
    pub duration_s: f64,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub video_samples: usize,
    pub audio_samples: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_string_comes_from_the_avcc_profile_bytes() {
        let c = VideoTrackConfig { avcc: vec![1, 0x64, 0x00, 0x1f, 0xff], width: 1, height: 1 };
        assert_eq!(c.codec_string(), "avc1.64001f");
    }
}
