//! Saving a span of a ring as a clip, and saying what the clip delivered.

use super::RingNode;
use crate::error::SaveError;
use clipshot_core::Trigger;
use clipshot_core::event::{ClipSaved, ClipScore};
use clipshot_replay::clip::timestamp_name;
use clipshot_replay::{Snapshot, Span, mp4::ClipInfo, save_clip};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a save waits for the encoder beyond the span's end before it
/// writes what the ring holds.
const ENCODER_GRACE: Duration = Duration::from_secs(3);
const NS_PER_S: f64 = 1e9;
/// A clip this much shorter than asked is reported as short: less than one
/// keyframe interval is the ordinary rounding to a keyframe.
const SHORTFALL_TOLERANCE_S: f64 = 1.0;

/// Which part of the ring to save.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SaveSpan {
    /// The last `seconds` before now, plus `post_seconds` after it (the save waits).
    Last { seconds: f64, post_seconds: f64 },
    /// Around a marker.
    Marker { id: u64, pre_seconds: f64, post_seconds: f64 },
    /// Around a moment on the ring's timeline (what a processor asks for).
    Around { at_ns: i64, pre_seconds: f64, post_seconds: f64 },
    /// An explicit span on the ring's timeline.
    Range(Span),
}

#[derive(Debug, Clone)]
pub struct SaveRequest {
    /// The `replay.ring` node; `None` for a pipeline with one ring.
    pub ring: Option<String>,
    pub span: SaveSpan,
    pub trigger: Trigger,
    /// For an auto-clip: what highlight detection saw, carried to `clip.saved`.
    pub score: Option<ClipScore>,
}

impl SaveRequest {
    pub fn last(seconds: f64, trigger: Trigger) -> Self {
        Self { ring: None, span: SaveSpan::Last { seconds, post_seconds: 0.0 }, trigger, score: None }
    }
}

/// A clip that is complete on disk, with what it delivered against what was asked.
#[derive(Debug, Clone)]
pub struct SavedClip {
    pub pipeline: String,
    pub path: PathBuf,
    pub info: ClipInfo,
    /// What the clip covers, on the ring's timeline.
    pub span: Span,
    /// What was asked for.
    pub asked: Span,
    /// Why the clip covers less than was asked, when it does.
    pub shortfall: Option<String>,
    pub trigger: Trigger,
    pub wait_ms: f64,
    pub write_ms: f64,
    pub save_ms: f64,
    pub score: Option<ClipScore>,
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
            asked_start_ns: self.asked.start_ns,
            asked_end_ns: self.asked.end_ns,
            asked_s: seconds(self.asked.end_ns - self.asked.start_ns),
            shortfall: self.shortfall.clone(),
            trigger: self.trigger,
            wait_ms: self.wait_ms,
            write_ms: self.write_ms,
            save_ms: self.save_ms,
            score: self.score.clone(),
        }
    }
}

/// What a save needs to know of the pipeline around the ring.
#[derive(Debug)]
pub(crate) struct SaveContext<'a> {
    pub pipeline: &'a str,
    pub clips_dir: &'a Path,
    /// "Now" on the ring's timeline while the pipeline plays; `None` when it
    /// is stopped (the save takes what the ring holds, without waiting).
    pub now_ns: Option<i64>,
}

fn ns(seconds: f64) -> i64 {
    (seconds * NS_PER_S) as i64
}

fn seconds(ns: i64) -> f64 {
    ns as f64 / NS_PER_S
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

impl RingNode {
    /// The span a request asks for, on this ring's timeline.
    fn asked_span(&self, span: SaveSpan, now: Option<i64>) -> Result<Span, SaveError> {
        Ok(match span {
            SaveSpan::Last { seconds, post_seconds } => {
                check_seconds(seconds, post_seconds)?;
                let t = now.or_else(|| self.ring.newest_video_ns()).unwrap_or(0);
                Span { start_ns: t - ns(seconds), end_ns: t + ns(post_seconds) }
            }
            SaveSpan::Marker { id, pre_seconds, post_seconds } => {
                check_seconds(pre_seconds, post_seconds)?;
                let m = self.ring.marker(id).ok_or(SaveError::NoMarker(id))?;
                Span { start_ns: m.at_ns - ns(pre_seconds), end_ns: m.at_ns + ns(post_seconds) }
            }
            SaveSpan::Around { at_ns, pre_seconds, post_seconds } => {
                check_seconds(pre_seconds, post_seconds)?;
                Span { start_ns: at_ns - ns(pre_seconds), end_ns: at_ns + ns(post_seconds) }
            }
            SaveSpan::Range(span) if span.end_ns <= span.start_ns => {
                return Err(SaveError::InvalidSpan("the end is not after the start".into()));
            }
            SaveSpan::Range(span) => span,
        })
    }

    /// Saves a span of the ring as an MP4 in the clips folder. Blocks for the
    /// post-roll (and the encoder's latency) while the pipeline plays; call it
    /// off async executors.
    pub(crate) fn save(&self, request: &SaveRequest, ctx: &SaveContext<'_>) -> Result<SavedClip, SaveError> {
        let started = Instant::now();
        let asked = self.asked_span(request.span, ctx.now_ns)?;
        // The moment asked for must be in the clip: wait for the encoder to
        // deliver it (and for any post-roll), but only while the pipeline runs.
        if let Some(now) = ctx.now_ns {
            let grace = Duration::from_nanos((asked.end_ns - now).max(0) as u64) + ENCODER_GRACE;
            self.ring.wait_for_video(asked.end_ns, grace);
        }
        let wait_ms = started.elapsed().as_secs_f64() * 1e3;
        let snapshot = self.ring.snapshot(asked)?;
        let shortfall = shortfall(&snapshot, ctx.now_ns.is_none(), self.restarted_at());
        let name = format!("{}-{}.mp4", ctx.pipeline, timestamp_name());
        let saved = save_clip(ctx.clips_dir, &name, &snapshot.clip_source())?;
        Ok(SavedClip {
            pipeline: ctx.pipeline.to_owned(),
            path: saved.path,
            info: saved.info,
            span: snapshot.span,
            asked,
            shortfall,
            trigger: request.trigger,
            score: request.score.clone(),
            wait_ms,
            write_ms: saved.write_ms,
            save_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// Why a snapshot covers less than was asked, in words a user can act on.
fn shortfall(snapshot: &Snapshot, stopped: bool, restarted_at: Option<String>) -> Option<String> {
    let asked_s = seconds(snapshot.asked.end_ns - snapshot.asked.start_ns);
    let got_s = seconds(snapshot.span.end_ns - snapshot.span.start_ns);
    let mut reasons = Vec::new();
    if got_s + SHORTFALL_TOLERANCE_S < asked_s {
        if snapshot.asked.start_ns < snapshot.epoch_start_ns && snapshot.earlier_epoch {
            let when = restarted_at.map(|t| format!(" at {t}")).unwrap_or_default();
            reasons.push(format!(
                "the pipeline restarted{when}; a clip never spans a restart, so older video was not included"
            ));
        } else if snapshot.asked.start_ns < snapshot.epoch_start_ns {
            reasons.push(
                "the replay ring holds less than was asked (recording began recently, or the ring is shorter)"
                    .to_owned(),
            );
        }
        if snapshot.asked.end_ns > snapshot.span.end_ns {
            reasons.push("the moment asked for was not in the ring yet".to_owned());
        }
        if reasons.is_empty() {
            reasons.push("the replay ring holds less than was asked".to_owned());
        }
        reasons.insert(0, format!("asked for {asked_s:.1} s, got {got_s:.1} s"));
    }
    if stopped {
        reasons.push("the pipeline is stopped: this is what its ring held when it stopped".to_owned());
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}
