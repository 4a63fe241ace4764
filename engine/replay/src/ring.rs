//! The replay ring: encoded packets grouped into GOPs, evicted whole.

use crate::mp4::{AudioTrackConfig, ClipSource, TrackSource, VideoTrackConfig};
use clipshot_core::Packet;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

const NS_PER_S: f64 = 1e9;

/// Limits of the ring. Whichever is reached first evicts the oldest GOP.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingConfig {
    pub max_seconds: f64,
    /// Includes memory still pinned by running saves.
    pub max_bytes: u64,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self { max_seconds: 30.0, max_bytes: 512 * 1024 * 1024 }
    }
}

/// A group of pictures: a keyframe and the packets up to the next one.
#[derive(Debug)]
struct Gop {
    epoch: u64,
    packets: Vec<Packet>,
    bytes: u64,
}

impl Gop {
    fn start_pts(&self) -> i64 {
        self.packets.first().map_or(0, |p| p.pts_ns)
    }
}

/// The codec configuration shared by the packets of an epoch. A codec change
/// or a pipeline restart opens a new epoch; no clip spans two.
#[derive(Debug, Clone, Default)]
struct Epoch {
    id: u64,
    video: Option<Arc<VideoTrackConfig>>,
    audio: Option<Arc<AudioTrackConfig>>,
}

/// A point in the ring that a later save can target.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub id: u64,
    pub at_ns: i64,
    pub label: Option<String>,
}

/// A span of running time, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_ns: i64,
    pub end_ns: i64,
}

/// Fill level and contents of the ring.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RingStats {
    pub seconds: f64,
    pub bytes: u64,
    /// Bytes evicted from the ring but still held by running saves.
    pub pinned_bytes: u64,
    pub keyframes: usize,
    pub video_packets: usize,
    pub audio_packets: usize,
    pub epoch: u64,
    pub first_pts_ns: Option<i64>,
    pub last_pts_ns: Option<i64>,
    pub evicted_gops: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("the replay ring holds no video yet")]
    Empty,
    #[error("the replay ring has no video codec configuration yet")]
    NoCodecConfig,
    #[error("the requested span ends before the oldest packet in the ring")]
    SpanEvicted,
    #[error("timed out waiting for the encoder to deliver the requested moment")]
    Timeout,
}

/// A span taken out of the ring: reference-counted handles, never copies.
/// While it lives, the GOPs it holds count against the ring's `max_bytes`.
#[derive(Debug)]
pub struct Snapshot {
    gops: Vec<Arc<Gop>>,
    video_config: Arc<VideoTrackConfig>,
    audio_config: Option<Arc<AudioTrackConfig>>,
    audio: Vec<Packet>,
    end_ns: i64,
    /// What the clip covers (from its first keyframe).
    pub span: Span,
    /// What was asked for.
    pub asked: Span,
    /// The oldest keyframe of the snapshot's epoch still in the ring.
    pub epoch_start_ns: i64,
    /// Whether the ring still holds video of an earlier epoch (a restart or
    /// codec change came between): a clip never spans two.
    pub earlier_epoch: bool,
}

impl Snapshot {
    /// Video packets in decode order, from the keyframe at or before the span's
    /// start up to the last packet decoded at or before its end.
    pub fn video_packets(&self) -> impl Iterator<Item = &Packet> {
        let end = self.end_ns;
        self.gops.iter().flat_map(|g| g.packets.iter()).take_while(move |p| p.dts_ns <= end)
    }

    pub fn audio_packets(&self) -> &[Packet] {
        &self.audio
    }

    /// The clip's tracks, ready for [`crate::mp4::write_clip`].
    pub fn clip_source(&self) -> ClipSource<'_> {
        ClipSource {
            video: TrackSource { config: &self.video_config, packets: self.video_packets().collect() },
            audio: self
                .audio_config
                .as_deref()
                .filter(|_| !self.audio.is_empty())
                .map(|config| TrackSource { config, packets: self.audio.iter().collect() }),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    config: RingConfig,
    epoch: Epoch,
    /// Configurations of epochs that GOPs in the ring still belong to.
    old_epochs: Vec<Epoch>,
    gops: VecDeque<Arc<Gop>>,
    /// The GOP being filled; shared as a fresh `Arc` by snapshots.
    open: Option<Gop>,
    audio: VecDeque<(u64, Packet)>,
    bytes: u64,
    /// Evicted GOPs that a running save still holds.
    pinned: Vec<(Weak<Gop>, u64)>,
    markers: VecDeque<Marker>,
    next_marker: u64,
    last_video_pts: Option<i64>,
    evicted_gops: u64,
    /// Video packets dropped because no keyframe had opened a GOP yet.
    leading_drops: u64,
}

/// The in-memory replay buffer of one pipeline.
///
/// Producers (the record path's appsink callbacks) call [`push_video`](Self::push_video)
/// and [`push_audio`](Self::push_audio); these take one short lock and never
/// wait on a save. Savers call [`snapshot`](Self::snapshot) and write without the lock.
#[derive(Debug, Default)]
pub struct ReplayRing {
    state: Mutex<State>,
    video_arrived: Condvar,
}

impl ReplayRing {
    pub fn new(config: RingConfig) -> Self {
        Self { state: Mutex::new(State { config, ..State::default() }), video_arrived: Condvar::new() }
    }

    pub fn config(&self) -> RingConfig {
        self.state.lock().config
    }

    /// Changes the limits live; a smaller limit evicts at once.
    pub fn set_config(&self, config: RingConfig) {
        let mut s = self.state.lock();
        s.config = config;
        s.evict();
    }

    /// Sets the video codec configuration. A different configuration than the
    /// current one opens a new epoch.
    pub fn set_video_config(&self, config: VideoTrackConfig) {
        let mut s = self.state.lock();
        if s.epoch.video.as_deref().is_some_and(|c| *c != config) {
            s.open_epoch();
        }
        s.epoch.video = Some(Arc::new(config));
    }

    pub fn set_audio_config(&self, config: AudioTrackConfig) {
        let mut s = self.state.lock();
        if s.epoch.audio.as_deref().is_some_and(|c| *c != config) {
            s.open_epoch();
        }
        s.epoch.audio = Some(Arc::new(config));
    }

    /// Starts a new epoch with no codec configuration (a pipeline restart:
    /// timestamps of the old and new run are unrelated).
    pub fn restart(&self) {
        let mut s = self.state.lock();
        s.open_epoch();
        s.epoch.video = None;
        s.epoch.audio = None;
        s.last_video_pts = None;
    }

    pub fn push_video(&self, packet: Packet) {
        let mut guard = self.state.lock();
        let s = &mut *guard;
        if packet.keyframe {
            s.close_open_gop();
            s.open = Some(Gop { epoch: s.epoch.id, packets: Vec::with_capacity(128), bytes: 0 });
        }
        let Some(open) = s.open.as_mut() else {
            // Decoding cannot start before the first keyframe: drop.
            s.leading_drops += 1;
            return;
        };
        let len = packet.len() as u64;
        let end = packet.pts_ns + packet.duration_ns;
        s.last_video_pts = Some(s.last_video_pts.map_or(end, |p| p.max(end)));
        open.bytes += len;
        open.packets.push(packet);
        s.bytes += len;
        s.evict();
        drop(guard);
        self.video_arrived.notify_all();
    }

    pub fn push_audio(&self, packet: Packet) {
        let mut s = self.state.lock();
        s.bytes += packet.len() as u64;
        let epoch = s.epoch.id;
        s.audio.push_back((epoch, packet));
        s.evict();
    }

    /// Adds a marker at `at_ns` (running time) and returns it.
    pub fn add_marker(&self, at_ns: i64, label: Option<String>) -> Marker {
        let mut s = self.state.lock();
        s.next_marker += 1;
        let marker = Marker { id: s.next_marker, at_ns, label };
        s.markers.push_back(marker.clone());
        marker
    }

    pub fn marker(&self, id: u64) -> Option<Marker> {
        self.state.lock().markers.iter().find(|m| m.id == id).cloned()
    }

    pub fn markers(&self) -> Vec<Marker> {
        self.state.lock().markers.iter().cloned().collect()
    }

    /// Running times of the keyframes in the ring, oldest first.
    pub fn keyframes(&self) -> Vec<i64> {
        let s = self.state.lock();
        s.gops.iter().map(|g| g.start_pts()).chain(s.open.iter().map(Gop::start_pts)).collect()
    }

    /// The newest video time in the ring (PTS plus duration of the newest frame).
    pub fn newest_video_ns(&self) -> Option<i64> {
        self.state.lock().last_video_pts
    }

    pub fn stats(&self) -> RingStats {
        let mut s = self.state.lock();
        s.prune_pinned();
        let first = s.gops.front().map(|g| g.start_pts()).or_else(|| s.open.as_ref().map(Gop::start_pts));
        let video_packets =
            s.gops.iter().map(|g| g.packets.len()).sum::<usize>() + s.open.as_ref().map_or(0, |g| g.packets.len());
        RingStats {
            seconds: match (first, s.last_video_pts) {
                (Some(a), Some(b)) => (b - a).max(0) as f64 / NS_PER_S,
                _ => 0.0,
            },
            bytes: s.bytes,
            pinned_bytes: s.pinned_bytes(),
            keyframes: s.gops.len() + usize::from(s.open.is_some()),
            video_packets,
            audio_packets: s.audio.len(),
            epoch: s.epoch.id,
            first_pts_ns: first,
            last_pts_ns: s.last_video_pts,
            evicted_gops: s.evicted_gops,
        }
    }

    /// Blocks until the ring holds video at or past `pts_ns`, or `timeout` passes.
    pub fn wait_for_video(&self, pts_ns: i64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.state.lock();
        while s.last_video_pts.is_none_or(|p| p < pts_ns) {
            if self.video_arrived.wait_until(&mut s, deadline).timed_out() {
                return s.last_video_pts.is_some_and(|p| p >= pts_ns);
            }
        }
        true
    }

    /// Takes `span` out of the ring: from the keyframe at or before its start
    /// (or the oldest keyframe of the current epoch) to its end. Audio starts
    /// at the first packet at or after that keyframe.
    pub fn snapshot(&self, span: Span) -> Result<Snapshot, SnapshotError> {
        let s = self.state.lock();
        // The open GOP is shared as a fresh Arc over cloned handles (a few dozen
        // reference-count bumps); closed GOPs are shared as they are.
        let open_arc = s
            .open
            .as_ref()
            .filter(|g| !g.packets.is_empty())
            .map(|g| Arc::new(Gop { epoch: g.epoch, packets: g.packets.clone(), bytes: g.bytes }));
        let all: Vec<&Arc<Gop>> = s.gops.iter().chain(open_arc.iter()).collect();
        if all.is_empty() {
            return Err(SnapshotError::Empty);
        }
        // The epoch that covers the span: that of the newest GOP starting at or
        // before its end (right after a restart, that is still the old run).
        let epoch_id = all.iter().rev().find(|g| g.start_pts() <= span.end_ns).ok_or(SnapshotError::SpanEvicted)?.epoch;
        let epoch = if epoch_id == s.epoch.id {
            &s.epoch
        } else {
            s.old_epochs.iter().find(|e| e.id == epoch_id).ok_or(SnapshotError::NoCodecConfig)?
        };
        let video_config = epoch.video.clone().ok_or(SnapshotError::NoCodecConfig)?;

        let earlier_epoch = all.iter().any(|g| g.epoch < epoch_id);
        let epoch_gops: Vec<&Arc<Gop>> = all.into_iter().filter(|g| g.epoch == epoch_id).collect();
        let epoch_start_ns = epoch_gops[0].start_pts();
        let start_idx = epoch_gops.iter().rposition(|g| g.start_pts() <= span.start_ns).unwrap_or(0);
        let gops: Vec<Arc<Gop>> = epoch_gops[start_idx..]
            .iter()
            .take_while(|g| g.start_pts() <= span.end_ns)
            .map(|g| Arc::clone(g))
            .collect();
        let video_start = gops[0].start_pts();
        let video_end = gops
            .iter()
            .flat_map(|g| g.packets.iter())
            .take_while(|p| p.dts_ns <= span.end_ns)
            .map(|p| p.pts_ns + p.duration_ns)
            .max()
            .unwrap_or(video_start);
        let audio = s
            .audio
            .iter()
            .filter(|(e, p)| *e == epoch_id && p.pts_ns >= video_start && p.pts_ns < video_end)
            .map(|(_, p)| p.clone())
            .collect();
        Ok(Snapshot {
            gops,
            video_config,
            audio_config: epoch.audio.clone(),
            audio,
            end_ns: span.end_ns,
            span: Span { start_ns: video_start, end_ns: video_end.min(span.end_ns.max(video_start)) },
            asked: span,
            epoch_start_ns,
            earlier_epoch,
        })
    }
}

impl State {
    fn open_epoch(&mut self) {
        self.close_open_gop();
        let next = Epoch { id: self.epoch.id + 1, ..Epoch::default() };
        let old = std::mem::replace(&mut self.epoch, next);
        self.old_epochs.push(old);
    }

    fn close_open_gop(&mut self) {
        if let Some(gop) = self.open.take().filter(|g| !g.packets.is_empty()) {
            self.gops.push_back(Arc::new(gop));
        }
    }

    fn prune_pinned(&mut self) {
        self.pinned.retain(|(w, _)| w.strong_count() > 0);
    }

    fn pinned_bytes(&self) -> u64 {
        self.pinned.iter().filter(|(w, _)| w.strong_count() > 0).map(|(_, b)| b).sum()
    }

    fn span_ns(&self) -> i64 {
        let first = self.gops.front().map(|g| g.start_pts()).or_else(|| self.open.as_ref().map(Gop::start_pts));
        match (first, self.last_video_pts) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        }
    }

    /// Evicts whole GOPs, oldest first, until both limits hold. The GOP being
    /// filled is never evicted: it is the only place decoding can start from.
    fn evict(&mut self) {
        self.prune_pinned();
        let max_ns = (self.config.max_seconds * NS_PER_S) as i64;
        while !self.gops.is_empty()
            && (self.span_ns() > max_ns || self.bytes + self.pinned_bytes() > self.config.max_bytes)
        {
            let Some(gop) = self.gops.pop_front() else { break };
            self.bytes -= gop.bytes;
            self.evicted_gops += 1;
            if Arc::strong_count(&gop) > 1 {
                self.pinned.push((Arc::downgrade(&gop), gop.bytes));
            }
        }
        // Audio, markers and epochs older than the oldest keyframe go too.
        let oldest = self.gops.front().map(|g| (g.epoch, g.start_pts()));
        let Some(oldest) = oldest.or_else(|| self.open.as_ref().map(|g| (g.epoch, g.start_pts()))) else {
            // No video yet: keep audio within the time limit only.
            let newest = self.audio.back().map_or(0, |(_, p)| p.pts_ns);
            while self.audio.front().is_some_and(|(_, p)| newest - p.pts_ns > max_ns) {
                if let Some((_, p)) = self.audio.pop_front() {
                    self.bytes -= p.len() as u64;
                }
            }
            return;
        };
        while let Some((epoch, p)) = self.audio.front() {
            if *epoch < oldest.0 || (*epoch == oldest.0 && p.pts_ns < oldest.1) {
                self.bytes -= p.len() as u64;
                self.audio.pop_front();
            } else {
                break;
            }
        }
        while self.markers.front().is_some_and(|m| m.at_ns < oldest.1) {
            self.markers.pop_front();
        }
        self.old_epochs.retain(|e| e.id >= oldest.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: i64 = 33_333_333;
    const GOP: usize = 30;

    fn video(i: usize) -> Packet {
        let t = i as i64 * FRAME;
        Packet::new(Arc::new(vec![0u8; 1000]), t, t, FRAME, i.is_multiple_of(GOP))
    }

    fn audio(i: usize) -> Packet {
        let t = i as i64 * 21_333_333;
        Packet::new(Arc::new(vec![0u8; 100]), t, t, 21_333_333, true)
    }

    fn config() -> VideoTrackConfig {
        VideoTrackConfig { avcc: vec![1, 0x64, 0, 0x1f], width: 640, height: 360 }
    }

    fn ring(max_seconds: f64, max_bytes: u64, seconds: usize) -> ReplayRing {
        let ring = ReplayRing::new(RingConfig { max_seconds, max_bytes });
        ring.set_video_config(config());
        fill(&ring, 0, seconds);
        ring
    }

    fn fill(ring: &ReplayRing, from_s: usize, to_s: usize) {
        let (mut a, frames) = (from_s * 1000 / 21, to_s * 30);
        for i in from_s * 30..frames {
            ring.push_video(video(i));
            while (a as i64) * 21_333_333 < (i as i64 + 1) * FRAME {
                ring.push_audio(audio(a));
                a += 1;
            }
        }
    }

    #[test]
    fn eviction_keeps_at_most_max_seconds_in_whole_gops() {
        let ring = ring(3.0, u64::MAX, 10);
        let stats = ring.stats();
        assert!(stats.seconds <= 3.0, "{stats:?}");
        assert!(stats.seconds > 2.0, "{stats:?}");
        // Whole GOPs: the oldest packet is a keyframe, and keyframes are a GOP apart.
        let keys = ring.keyframes();
        assert_eq!(keys[0] % (GOP as i64 * FRAME), 0);
        assert!(keys.windows(2).all(|w| w[1] - w[0] == GOP as i64 * FRAME));
        assert_eq!(stats.video_packets, stats.keyframes * GOP);
        // Audio older than the oldest keyframe is gone too.
        let s = ring.snapshot(Span { start_ns: 0, end_ns: i64::MAX }).unwrap();
        assert!(s.audio_packets()[0].pts_ns >= keys[0]);
    }

    #[test]
    fn max_bytes_evicts_whole_gops() {
        let ring = ring(60.0, 100_000, 10);
        let stats = ring.stats();
        assert!(stats.bytes <= 100_000, "{stats:?}");
        assert_eq!(stats.video_packets % GOP, 0, "{stats:?}");
    }

    #[test]
    fn snapshot_starts_at_the_keyframe_at_or_before_the_span() {
        let ring = ring(30.0, u64::MAX, 10);
        let start = 4 * 1_000_000_000 + 500_000_000; // 4.5 s: keyframe at 4 s
        let s = ring.snapshot(Span { start_ns: start, end_ns: 8 * 1_000_000_000 }).unwrap();
        let first = s.video_packets().next().unwrap();
        assert!(first.keyframe);
        assert_eq!(first.pts_ns, 4 * 30 * FRAME);
        let last = s.video_packets().last().unwrap();
        assert!(last.dts_ns <= 8 * 1_000_000_000);
        assert!(last.dts_ns > 8 * 1_000_000_000 - FRAME);
        assert!(s.audio_packets().iter().all(|p| p.pts_ns >= first.pts_ns));
    }

    #[test]
    fn snapshots_share_packets_and_pin_evicted_memory() {
        let ring = ring(2.0, u64::MAX, 2);
        let snap = ring.snapshot(Span { start_ns: 0, end_ns: i64::MAX }).unwrap();
        let held: Vec<Packet> = snap.video_packets().cloned().collect();
        fill(&ring, 2, 6);
        let stats = ring.stats();
        assert!(stats.pinned_bytes > 0, "evicted GOPs held by the save count: {stats:?}");
        // The snapshot's handles are the pushed ones, not copies.
        assert!(held.iter().zip(snap.video_packets()).all(|(a, b)| a.shares_data_with(b)));
        drop((snap, held));
        assert_eq!(ring.stats().pinned_bytes, 0);
    }

    #[test]
    fn pinned_memory_counts_against_max_bytes() {
        let ring = ring(60.0, 120_000, 3);
        let before = ring.stats().bytes;
        let snap = ring.snapshot(Span { start_ns: 0, end_ns: i64::MAX }).unwrap();
        fill(&ring, 3, 6);
        let stats = ring.stats();
        assert!(stats.bytes + stats.pinned_bytes <= 120_000 + 31_000, "{stats:?} (before: {before})");
        assert!(stats.bytes < before, "the ring shrinks while a save pins memory: {stats:?}");
        drop(snap);
    }

    #[test]
    fn a_codec_change_opens_an_epoch_and_no_clip_spans_two() {
        let ring = ring(30.0, u64::MAX, 2);
        ring.set_video_config(VideoTrackConfig { width: 1280, height: 720, ..config() });
        fill(&ring, 2, 4);
        let s = ring.snapshot(Span { start_ns: 0, end_ns: i64::MAX }).unwrap();
        assert_eq!(s.video_packets().next().unwrap().pts_ns, 60 * FRAME);
        assert_eq!(s.clip_source().video.config.width, 1280);
    }

    #[test]
    fn a_span_before_a_restart_is_saved_from_the_old_run() {
        let ring = ring(30.0, u64::MAX, 3);
        ring.restart();
        ring.set_video_config(config());
        // The new run's timeline continues after the old one.
        for i in 0..40 {
            ring.push_video(video(200 + i));
        }
        let old_end = 3 * 30 * FRAME;
        let s = ring.snapshot(Span { start_ns: old_end - 1_000_000_000, end_ns: old_end }).unwrap();
        assert!(s.video_packets().all(|p| p.pts_ns < old_end), "only the old run's packets");
        assert!(!s.audio_packets().is_empty());
        let s = ring.snapshot(Span { start_ns: 0, end_ns: i64::MAX }).unwrap();
        assert_eq!(s.video_packets().next().unwrap().pts_ns, 210 * FRAME, "the newest epoch's first keyframe");
    }

    #[test]
    fn empty_ring_and_missing_config_are_errors() {
        let r = ReplayRing::new(RingConfig::default());
        assert_eq!(r.snapshot(Span { start_ns: 0, end_ns: 1 }).unwrap_err(), SnapshotError::Empty);
        r.push_video(video(0));
        assert_eq!(r.snapshot(Span { start_ns: 0, end_ns: 1 }).unwrap_err(), SnapshotError::NoCodecConfig);
    }

    #[test]
    fn packets_before_the_first_keyframe_are_dropped() {
        let r = ReplayRing::new(RingConfig::default());
        r.set_video_config(config());
        r.push_video(video(1));
        assert_eq!(r.stats().video_packets, 0);
        r.push_video(video(30));
        assert_eq!(r.stats().video_packets, 1);
    }

    #[test]
    fn waiting_for_video_times_out_or_returns_when_it_arrives() {
        let r = Arc::new(ReplayRing::new(RingConfig::default()));
        r.set_video_config(config());
        assert!(!r.wait_for_video(0, Duration::from_millis(10)));
        let r2 = Arc::clone(&r);
        let t = std::thread::spawn(move || r2.wait_for_video(FRAME, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(20));
        r.push_video(video(0));
        r.push_video(video(1));
        assert!(t.join().unwrap());
    }

    #[test]
    fn markers_are_kept_until_their_time_leaves_the_ring() {
        let r = ring(2.0, u64::MAX, 1);
        let m = r.add_marker(FRAME * 5, Some("wow".into()));
        assert_eq!(r.marker(m.id), Some(m.clone()));
        fill(&r, 1, 5);
        assert_eq!(r.marker(m.id), None);
    }
}
