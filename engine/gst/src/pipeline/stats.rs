//! Per-node counters, updated from pad probes and bridges on streaming
//! threads, and the statistics served from them.

use clipshot_core::PipelineState;
use clipshot_replay::{ReplayRing, RingStats};
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters of one node.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    pub dropped: AtomicU64,
    /// Processor calls that returned an error.
    pub errors: AtomicU64,
    /// Time spent in the processor's calls (processors only).
    pub busy_ns: AtomicU64,
    /// Capture → input processed (processors only, live pipelines).
    pub latency: clipshot_core::LatencyRecorder,
    fps_sample: Mutex<Option<(Instant, u64, f64)>>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Output rate over the time since the previous sample (at least 0.5 s).
    pub fn fps(&self) -> f64 {
        let now = Instant::now();
        let count = self.frames_out.load(Ordering::Relaxed).max(self.frames_in.load(Ordering::Relaxed));
        let mut sample = self.fps_sample.lock();
        match *sample {
            Some((at, _, fps)) if now.duration_since(at) < Duration::from_millis(500) => fps,
            Some((at, n, _)) => {
                let fps = (count - n.min(count)) as f64 / now.duration_since(at).as_secs_f64();
                *sample = Some((now, count, fps));
                fps
            }
            None => {
                *sample = Some((now, count, 0.0));
                0.0
            }
        }
    }
}

/// Statistics of one node.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeStats {
    pub id: String,
    pub kind: String,
    pub frames_in: u64,
    pub frames_out: u64,
    /// Frames dropped: by the encoder's QoS, on the way into a ring, or (for
    /// processors) because the processor was still busy with an older one.
    pub dropped: u64,
    /// Processor calls that failed (processors only).
    pub errors: u64,
    /// Milliseconds spent in the processor's calls (processors only): with
    /// `frames_in`, what each analysed input costs.
    pub busy_ms: f64,
    pub fps: f64,
    /// Per-frame latency over the last frames, from capture: to the packet
    /// in the ring (rings), to the input's result (processors; the scorer's
    /// is capture → highlight score). None where nothing was measured yet.
    pub latency: Option<clipshot_core::LatencySummary>,
    /// Bytes of media our code copied. 0 on every record-path node.
    pub bytes_copied: u64,
    /// The encoder element, for encoder nodes.
    pub encoder: Option<String>,
    pub ring: Option<RingFill>,
    /// Whether the node runs now (false when its pipeline does not, or it
    /// is an optional part left out).
    pub running: bool,
    /// The node's last error, as the log and the events said it.
    pub error: Option<String>,
}

/// Fill level of a replay ring, with its limits.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RingFill {
    #[serde(flatten)]
    pub stats: RingStats,
    pub max_seconds: f64,
    pub max_bytes: u64,
}

impl RingFill {
    pub(crate) fn new(ring: &ReplayRing) -> Self {
        let c = ring.config();
        Self { stats: ring.stats(), max_seconds: c.max_seconds, max_bytes: c.max_bytes }
    }
}

/// Statistics of a pipeline.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineStats {
    pub id: String,
    pub state: PipelineState,
    pub message: Option<String>,
    pub uptime_s: f64,
    pub restarts: u64,
    /// Optional parts that do not run and substitutes in use: empty when the
    /// pipeline runs as its graph says.
    pub degraded: Vec<clipshot_core::Degradation>,
    pub nodes: Vec<NodeStats>,
}
