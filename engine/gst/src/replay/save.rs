//! Saving a span of a pipeline's replay ring as a clip.

use crate::error::SaveError;
use crate::pipeline::Pipeline;
use clipshot_core::{Event, Trigger, event::ClipSaved};
use clipshot_replay::{Span, mp4::ClipInfo, save_clip};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a save waits for the encoder beyond the span's end before it
/// writes what the ring holds.
const ENCODER_GRACE: Duration = Duration::from_secs(3);
const NS_PER_S: f64 = 1e9;

/// Which part of the ring to save.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SaveSpan {
    /// The last `seconds` before now, plus `post_seconds` after it (the save waits).
    Last { seconds: f64, post_seconds: f64 },
    /// Around a marker.
    Marker { id: u64, pre_seconds: f64, post_seconds: f64 },
    /// An explicit span on the ring's timeline.
    Range(Span),
}

#[derive(Debug, Clone)]
pub struct SaveRequest {
    /// The `replay.ring` node; `None` for a pipeline with one ring.
    pub ring: Option<String>,
    pub span: SaveSpan,
    pub trigger: Trigger,
}

impl SaveRequest {
    pub fn last(seconds: f64, trigger: Trigger) -> Self {
        Self { ring: None, span: SaveSpan::Last { seconds, post_seconds: 0.0 }, trigger }
    }
}

/// A clip that is complete on disk.
#[derive(Debug, Clone)]
pub struct SavedClip {
    pub pipeline: String,
    pub path: PathBuf,
    pub info: ClipInfo,
    /// What the clip covers, on the ring's timeline.
    pub span: Span,
    pub trigger: Trigger,
    pub wait_ms: f64,
    pub write_ms: f64,
    pub save_ms: f64,
}

impl SavedClip {
    pub fn event(&self) -> ClipSaved {
        ClipSaved {
            pipeline: self.pipeline.clone(),
            path: self.path.to_string_lossy().into_owned(),
            duration_s: self.info.duration_s,
            size_bytes: self.info.size_bytes,
            video_codec: self.info.video_codec.clone(),
            audio_codec: self.info.audio_codec.clone(),
            span_start_ns: self.span.start_ns,
            span_end_ns: self.span.end_ns,
            trigger: self.trigger,
            wait_ms: self.wait_ms,
            write_ms: self.write_ms,
            save_ms: self.save_ms,
        }
    }
}

/// A file name stem from the UTC time, unique within the process.
pub(crate) fn timestamp_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let stamp = now.format(&fmt).unwrap_or_else(|_| now.unix_timestamp().to_string());
    format!("{stamp}-{:03}-{}", now.millisecond(), SEQ.fetch_add(1, Ordering::Relaxed))
}

fn ns(seconds: f64) -> i64 {
    (seconds * NS_PER_S) as i64
}

impl Pipeline {
    /// Saves a span of the ring as an MP4 in the clips folder. Blocks for the
    /// post-roll (and the encoder's latency); call it off async executors.
    /// Emits `clip.saved` once the file is renamed into place, or `clip.failed`.
    pub fn save(&self, request: &SaveRequest) -> Result<SavedClip, SaveError> {
        let result = self.save_inner(request);
        let events = &self.shared.options.events;
        match &result {
            Ok(clip) => {
                tracing::info!(pipeline = %self.id(), path = %clip.path.display(), duration_s = clip.info.duration_s,
                    wait_ms = clip.wait_ms, write_ms = clip.write_ms, "clip saved");
                events.emit(Event::ClipSaved(clip.event()));
            }
            Err(e) => {
                tracing::warn!(pipeline = %self.id(), error = %e, "clip not saved");
                events.emit(Event::ClipFailed {
                    pipeline: self.id().to_owned(),
                    trigger: request.trigger,
                    reason: e.to_string(),
                });
            }
        }
        result
    }

    /// Adds a marker at `at_ns` on the ring's timeline, or now.
    pub fn add_marker(
        &self,
        ring: Option<&str>,
        at_ns: Option<i64>,
        label: Option<String>,
    ) -> Result<clipshot_replay::Marker, SaveError> {
        let node = self.shared.ring_node(ring).map_err(SaveError::NoRing)?;
        let at = at_ns.or_else(|| self.shared.now_on(&node)).or_else(|| node.ring.newest_video_ns()).unwrap_or(0);
        let marker = node.ring.add_marker(at, label.clone());
        self.shared.options.events.emit(Event::MarkerAdded {
            pipeline: self.id().to_owned(),
            marker_id: marker.id.to_string(),
            at_ns: at,
            label,
        });
        Ok(marker)
    }

    /// The pipeline's "now" on a ring's timeline (the newest video when stopped).
    pub fn now_ns(&self, ring: Option<&str>) -> Option<i64> {
        let node = self.shared.ring_node(ring).ok()?;
        self.shared.now_on(&node).or_else(|| node.ring.newest_video_ns())
    }

    fn save_inner(&self, request: &SaveRequest) -> Result<SavedClip, SaveError> {
        let started = Instant::now();
        let node = self.shared.ring_node(request.ring.as_deref()).map_err(SaveError::NoRing)?;
        let now = self.shared.now_on(&node);
        let span = match request.span {
            SaveSpan::Last { seconds, post_seconds } => {
                check_seconds(seconds, post_seconds)?;
                let t = now.or_else(|| node.ring.newest_video_ns()).unwrap_or(0);
                Span { start_ns: t - ns(seconds), end_ns: t + ns(post_seconds) }
            }
            SaveSpan::Marker { id, pre_seconds, post_seconds } => {
                check_seconds(pre_seconds, post_seconds)?;
                let m = node.ring.marker(id).ok_or(SaveError::NoMarker(id))?;
                Span { start_ns: m.at_ns - ns(pre_seconds), end_ns: m.at_ns + ns(post_seconds) }
            }
            SaveSpan::Range(span) if span.end_ns <= span.start_ns => {
                return Err(SaveError::InvalidSpan("the end is not after the start".into()));
            }
            SaveSpan::Range(span) => span,
        };
        // The moment asked for must be in the clip: wait for the encoder to
        // deliver it (and for any post-roll), but only while the pipeline runs.
        if let Some(now) = now {
            let grace = Duration::from_nanos((span.end_ns - now).max(0) as u64) + ENCODER_GRACE;
            node.ring.wait_for_video(span.end_ns, grace);
        }
        let wait_ms = started.elapsed().as_secs_f64() * 1e3;
        let snapshot = node.ring.snapshot(span)?;
        let clips_dir = self.shared.clips_dir.lock().clone();
        let name = format!("{}-{}.mp4", self.id(), timestamp_name());
        let saved = save_clip(&clips_dir, &name, &snapshot.clip_source())?;
        Ok(SavedClip {
            pipeline: self.id().to_owned(),
            path: saved.path,
            info: saved.info,
            span: snapshot.span,
            trigger: request.trigger,
            wait_ms,
            write_ms: saved.write_ms,
            save_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

fn check_seconds(before: f64, after: f64) -> Result<(), SaveError> {
    let ok = |v: f64| v.is_finite() && (0.0..=3600.0).contains(&v);
    if !ok(before) || !ok(after) || before + after <= 0.0 {
        return Err(SaveError::InvalidSpan(format!(
            "seconds must be between 0 and 3600 and cover some time (got {before} before, {after} after)"
        )));
    }
    Ok(())
}
