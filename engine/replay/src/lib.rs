//! The replay ring and the clip writer: the domain heart of instant replay.
//!
//! [`ReplayRing`] holds the last N seconds of *encoded* packets as whole GOPs;
//! [`ReplayRing::snapshot`] takes a span out of it in microseconds, by cloning
//! reference-counted handles under its lock; [`mp4::write_clip`] and
//! [`clip::save_clip`] then write a faststart MP4 straight from those handles
//! with vectored writes, without holding the lock and without copying media.
//!
//! Nothing here knows about GStreamer: packets arrive as [`clipshot_core::Packet`]s.

pub mod clip;
pub mod mp4;
pub mod ring;

pub use clip::{SaveError, SavedFile, save_clip};
pub use mp4::{AudioTrackConfig, ClipSource, TrackSource, VideoTrackConfig};
pub use ring::{Marker, ReplayRing, RingConfig, RingStats, Snapshot, SnapshotError, Span};
