//! Per-frame latency: how long after its capture a frame reached a point of
//! the graph (its packet in the ring, its score out of a processor).
//!
//! A frame carries its capture time as its running time (the buffer's PTS on
//! a live pipeline), so latency is the pipeline's running time when the frame
//! arrives minus that. Recorders keep a window of recent samples, cheap
//! enough to take on a streaming thread (one short lock per frame), and
//! summarise it on demand.

use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// Samples kept: about a minute of 60 fps video.
pub const WINDOW: usize = 4096;

/// Recent per-frame latencies of one point of the graph.
#[derive(Debug, Default)]
pub struct LatencyRecorder {
    inner: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// Microseconds; a ring buffer once full.
    samples: Vec<u32>,
    next: usize,
    total: u64,
}

impl LatencyRecorder {
    /// Records one frame's latency; negative values (a frame stamped in the
    /// future by a source's own clock) count as zero.
    pub fn record_ns(&self, latency_ns: i64) {
        let us = (latency_ns.max(0) / 1000).min(u32::MAX as i64) as u32;
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if w.samples.len() < WINDOW {
            w.samples.push(us);
        } else {
            let i = w.next;
            w.samples[i] = us;
        }
        w.next = (w.next + 1) % WINDOW;
        w.total += 1;
    }

    pub fn record(&self, latency: Duration) {
        self.record_ns(latency.as_nanos().min(i64::MAX as u128) as i64);
    }

    /// The window's samples in milliseconds, oldest first.
    pub fn samples_ms(&self) -> Vec<f64> {
        let w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (newer, older) = w.samples.split_at(if w.samples.len() < WINDOW { 0 } else { w.next });
        older.iter().chain(newer).map(|&us| f64::from(us) / 1000.0).collect()
    }

    /// Forgets the window (the count of all frames stays).
    pub fn clear(&self) {
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        w.samples.clear();
        w.next = 0;
    }

    /// The window's summary; `None` before the first frame.
    pub fn summary(&self) -> Option<LatencySummary> {
        let total = self.inner.lock().unwrap_or_else(|e| e.into_inner()).total;
        let mut s = self.samples_ms();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let q = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Some(LatencySummary {
            frames: total,
            window: s.len(),
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: q(1.0),
        })
    }
}

/// Latency over the recent window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LatencySummary {
    /// Frames measured since the start.
    pub frames: u64,
    /// Frames in the window summarised here (the most recent).
    pub window: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_the_recent_window() {
        let r = LatencyRecorder::default();
        assert!(r.summary().is_none());
        for ms in 1..=100 {
            r.record(Duration::from_millis(ms));
        }
        let s = r.summary().unwrap();
        assert_eq!((s.frames, s.window), (100, 100));
        assert_eq!((s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms), (50.0, 95.0, 99.0, 100.0));
        r.record_ns(-5);
        assert_eq!(r.samples_ms().last(), Some(&0.0));
    }

    #[test]
    fn the_window_keeps_the_newest_in_order() {
        let r = LatencyRecorder::default();
        for i in 0..(WINDOW as i64 + 10) {
            r.record_ns(i * 1000);
        }
        let s = r.samples_ms();
        assert_eq!(s.len(), WINDOW);
        assert_eq!(s[0], 10.0 / 1000.0);
        assert_eq!(*s.last().unwrap(), (WINDOW as f64 + 9.0) / 1000.0);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(r.summary().unwrap().frames, WINDOW as u64 + 10);
        r.clear();
        assert!(r.summary().is_none());
    }
}
