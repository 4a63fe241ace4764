//! The bridge from GStreamer to the replay ring: appsink callbacks that hand
//! each encoded buffer to the ring as a reference-counted, read-only mapping.

use crate::sample::{callback_sink, running_ns};
use clipshot_core::{LatencyRecorder, MediaBytes, Packet};
use clipshot_replay::{AudioTrackConfig, ReplayRing, RingConfig, VideoTrackConfig};
use gstreamer as gst;
use gstreamer_app as gst_app;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A mapped `gst::Buffer`. Mapping system memory read-only yields the memory's
/// own pointer, so the bytes the muxer writes are the encoder's bytes.
#[derive(Debug)]
struct GstBytes(gst::MappedBuffer<gst::buffer::Readable>);

impl MediaBytes for GstBytes {
    fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// A `replay.ring` node's lasting state: it outlives pipeline restarts, so a
/// crash of the capture or the encoder never loses the buffer. Public so that
/// tools and benchmarks can feed a ring from any GStreamer pipeline.
#[derive(Debug)]
pub struct RingNode {
    pub ring: Arc<ReplayRing>,
    /// Added to running times, so that a restarted pipeline (whose running
    /// time starts again at 0) continues the ring's timeline.
    offset_ns: AtomicI64,
    /// Bytes our code copied on the way into the ring. The bridge maps buffers
    /// and never copies; kept as a counter so that any future copy shows.
    pub bytes_copied: AtomicU64,
    pub dropped: AtomicU64,
    /// Capture → packet in the ring, per video frame: the sink's running
    /// time when the packet arrives minus its PTS (its capture time).
    pub capture_to_ring: LatencyRecorder,
    video_caps: Mutex<Option<gst::Caps>>,
    audio_caps: Mutex<Option<gst::Caps>>,
    /// When the pipeline last restarted (UTC, RFC 3339), for saves that
    /// cannot reach back past it.
    restarted: Mutex<Option<String>>,
}

impl RingNode {
    pub fn new(config: RingConfig) -> Arc<Self> {
        Arc::new(Self {
            ring: Arc::new(ReplayRing::new(config)),
            offset_ns: AtomicI64::new(0),
            bytes_copied: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            capture_to_ring: LatencyRecorder::default(),
            video_caps: Mutex::new(None),
            audio_caps: Mutex::new(None),
            restarted: Mutex::new(None),
        })
    }

    /// Called before a rebuilt pipeline starts feeding the ring.
    pub(crate) fn on_restart(&self) {
        let gap = 1_000_000_000;
        let next = self.ring.newest_video_ns().map_or(0, |t| t + gap);
        self.offset_ns.store(next, Ordering::SeqCst);
        self.ring.restart();
        *self.video_caps.lock() = None;
        *self.audio_caps.lock() = None;
        let now = time::OffsetDateTime::now_utc();
        *self.restarted.lock() = now.format(&time::format_description::well_known::Rfc3339).ok();
    }

    /// When the pipeline feeding this ring last restarted, if it did.
    pub fn restarted_at(&self) -> Option<String> {
        self.restarted.lock().clone()
    }

    /// Running time of the pipeline on the ring's timeline.
    pub(crate) fn ring_time(&self, running_time_ns: i64) -> i64 {
        running_time_ns + self.offset_ns.load(Ordering::SeqCst)
    }

    // A save never blocks these sinks: the ring lock is held for microseconds.
    pub fn video_sink(self: &Arc<Self>, name: &str) -> gst_app::AppSink {
        let this = Arc::clone(self);
        callback_sink(name, move |sample, now| this.on_sample(&sample, true, now))
    }

    pub fn audio_sink(self: &Arc<Self>, name: &str) -> gst_app::AppSink {
        let this = Arc::clone(self);
        callback_sink(name, move |sample, _| this.on_sample(&sample, false, None))
    }

    fn on_sample(&self, sample: &gst::Sample, video: bool, now_ns: Option<i64>) {
        let (Some(buffer), Some(caps), Some(segment)) = (sample.buffer_owned(), sample.caps(), sample.segment()) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let last = if video { &self.video_caps } else { &self.audio_caps };
        {
            let mut last = last.lock();
            // Caps equality short-circuits on the same pointer: cheap per packet.
            if last.as_ref().is_none_or(|c| c.as_ref() != caps) {
                let s = caps.structure(0);
                let codec_data = s.and_then(|s| s.get::<gst::Buffer>("codec_data").ok());
                let codec_data = codec_data.and_then(|b| b.map_readable().ok().map(|m| m.as_slice().to_vec()));
                match (video, codec_data) {
                    (true, Some(avcc)) => self.ring.set_video_config(VideoTrackConfig {
                        avcc,
                        width: s.and_then(|s| s.get::<i32>("width").ok()).unwrap_or(0) as u32,
                        height: s.and_then(|s| s.get::<i32>("height").ok()).unwrap_or(0) as u32,
                    }),
                    (false, Some(asc)) => self.ring.set_audio_config(AudioTrackConfig {
                        audio_specific_config: asc,
                        sample_rate: s.and_then(|s| s.get::<i32>("rate").ok()).unwrap_or(48_000) as u32,
                        channels: s.and_then(|s| s.get::<i32>("channels").ok()).unwrap_or(2) as u16,
                    }),
                    _ => tracing::warn!(%caps, "replay.ring: caps without codec_data; packets are dropped"),
                }
                *last = Some(caps.to_owned());
            }
        }
        let Some(segment) = segment.downcast_ref::<gst::ClockTime>() else { return };
        let Some(pts) = running_ns(segment, buffer.pts()) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Some(now) = now_ns {
            self.capture_to_ring.record_ns(now - pts);
        }
        let dts = running_ns(segment, buffer.dts()).unwrap_or(pts);
        let duration = buffer.duration().map_or(0, |d| d.nseconds() as i64);
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let Ok(mapped) = buffer.into_mapped_buffer_readable() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let offset = self.offset_ns.load(Ordering::Relaxed);
        let packet = Packet::new(Arc::new(GstBytes(mapped)), pts + offset, dts + offset, duration, keyframe);
        if video {
            self.ring.push_video(packet);
        } else {
            self.ring.push_audio(packet);
        }
    }
}
