//! Metrics: a Prometheus recorder for `GET /metrics` and the JSON view of
//! `GET /api/v1/system/metrics`, both read from the same pipeline stats at
//! request time (no background sampler to keep alive).

use clipshot_core::{Implementation, PipelineState};
use clipshot_runtime::Engine;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

pub struct Metrics {
    prometheus: PrometheusHandle,
    cpu: clipshot_runtime::process::CpuMeter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Process-wide numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProcessMetrics {
    /// CPU seconds used since start (user + system).
    pub cpu_seconds: f64,
    /// Share of one core used since the previous sample.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub uptime_s: f64,
}

/// Per pipeline: what a frontend's status bar shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineMetrics {
    pub id: String,
    pub state: PipelineState,
    /// Frames per second out of the video source.
    pub fps: f64,
    pub dropped_frames: u64,
    /// Capture-to-ring latency per frame, median over the recent frames
    /// (each packet measured against its frame's capture time), in ms.
    pub frame_latency_ms: Option<f64>,
    /// The same, 99th percentile.
    pub frame_latency_p99_ms: Option<f64>,
    pub ring_seconds: f64,
    pub ring_bytes: u64,
    pub ring_max_seconds: f64,
    pub bytes_copied: u64,
    /// Frames and sound the analysis nodes let go because they were busy
    /// (by design: analysis never holds up recording).
    pub analysis_dropped: u64,
}

/// Highlight detection: the runtime under the models and the GPU that
/// preprocesses for them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiMetrics {
    /// ONNX Runtime is loaded (its version), or why not.
    pub runtime: Option<String>,
    pub runtime_error: Option<String>,
    /// Models with an open session, and the execution provider of each.
    pub loaded_models: Vec<String>,
}

/// The GPU that preprocesses frames for the models.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GpuMetrics {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    /// Bytes read back from the GPU so far (tensors and motion sums).
    pub bytes_read_back: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemMetrics {
    /// The original design's names: the process's CPU share of one core …
    pub cpu_percent: f64,
    /// … its resident memory in MiB …
    pub memory_mb: f64,
    /// … and GPU utilisation (`null`: wgpu has no utilisation readout).
    pub gpu_percent: Option<f64>,
    pub process: ProcessMetrics,
    pub pipelines: Vec<PipelineMetrics>,
    pub ai: AiMetrics,
    /// The preprocessing GPU; `null` while none is in use (preprocessing on
    /// the CPU, or nothing analysed yet).
    pub gpu: Option<GpuMetrics>,
    /// Installed plugins, those whose nodes run, and those restarting after
    /// a crash or disabled by crashes.
    pub plugins: clipshot_runtime::plugin::PluginTotals,
}

impl Metrics {
    /// Installs the process's metrics recorder (once per process).
    pub fn install() -> Result<Self, String> {
        let prometheus = PrometheusBuilder::new().install_recorder().map_err(|e| e.to_string())?;
        Ok(Self { prometheus, cpu: clipshot_runtime::process::CpuMeter::default() })
    }

    pub fn snapshot(&self, engine: &Engine, ai: &clipshot_ai::Ai, uptime: Duration) -> SystemMetrics {
        let cpu_seconds = clipshot_runtime::process::cpu_seconds();
        let cpu_percent = self.cpu.percent();
        let pipelines = engine
            .list()
            .into_iter()
            .filter_map(|summary| {
                let p = engine.pipeline(&summary.id)?;
                let stats = p.stats();
                let ring = stats.nodes.iter().find_map(|n| n.ring.clone());
                let analysis_dropped =
                    stats.nodes.iter().filter(|n| n.kind.starts_with("analyze.")).map(|n| n.dropped).sum();
                let source_fps = stats.nodes.iter().find(|n| n.kind.starts_with("capture.")).map_or(0.0, |n| n.fps);
                let latency = stats.nodes.iter().find(|n| n.ring.is_some()).and_then(|n| n.latency);
                Some(PipelineMetrics {
                    id: stats.id.clone(),
                    state: stats.state,
                    fps: source_fps,
                    // Record-path drops: a busy processor's drops are its own (node stats).
                    dropped_frames: stats
                        .nodes
                        .iter()
                        .filter(|n| {
                            engine
                                .registry()
                                .descriptor(&n.kind)
                                .is_some_and(|d| d.implementation == Implementation::Segment)
                        })
                        .map(|n| n.dropped)
                        .sum(),
                    frame_latency_ms: latency.map(|l| l.p50_ms),
                    frame_latency_p99_ms: latency.map(|l| l.p99_ms),
                    ring_seconds: ring.as_ref().map_or(0.0, |r| r.stats.seconds),
                    ring_bytes: ring.as_ref().map_or(0, |r| r.stats.bytes),
                    ring_max_seconds: ring.as_ref().map_or(0.0, |r| r.max_seconds),
                    bytes_copied: stats.nodes.iter().map(|n| n.bytes_copied).sum(),
                    analysis_dropped,
                })
            })
            .collect();
        let rss_bytes = clipshot_runtime::process::rss_bytes();
        let (runtime, runtime_error) = match ai.runtime() {
            Ok(rt) => (Some(rt.version.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let ai_metrics = AiMetrics {
            runtime,
            runtime_error,
            loaded_models: ai.loaded_all().iter().map(|m| format!("{} ({})", m.id, m.provider)).collect(),
        };
        let gpu = match ai.preprocessor_if_open() {
            Some(clipshot_gpu::Preprocessor::Gpu(gpu)) => Some(GpuMetrics {
                adapter: gpu.info().name.clone(),
                backend: gpu.info().backend.clone(),
                device_type: gpu.info().device_type.clone(),
                bytes_read_back: gpu.bytes_read_back(),
            }),
            _ => None,
        };
        SystemMetrics {
            cpu_percent,
            memory_mb: rss_bytes as f64 / (1024.0 * 1024.0),
            gpu_percent: None,
            process: ProcessMetrics { cpu_seconds, cpu_percent, rss_bytes, uptime_s: uptime.as_secs_f64() },
            pipelines,
            ai: ai_metrics,
            gpu,
            plugins: engine.plugins().totals(),
        }
    }

    /// The Prometheus text exposition, with gauges refreshed from `snapshot`.
    pub fn render(&self, snapshot: &SystemMetrics) -> String {
        metrics::gauge!("clipshot_process_cpu_seconds").set(snapshot.process.cpu_seconds);
        metrics::gauge!("clipshot_process_resident_memory_bytes").set(snapshot.process.rss_bytes as f64);
        metrics::gauge!("clipshot_uptime_seconds").set(snapshot.process.uptime_s);
        metrics::gauge!("clipshot_ai_runtime_available").set(if snapshot.ai.runtime.is_some() { 1.0 } else { 0.0 });
        metrics::gauge!("clipshot_ai_models_loaded").set(snapshot.ai.loaded_models.len() as f64);
        metrics::gauge!("clipshot_plugins_installed").set(snapshot.plugins.total as f64);
        metrics::gauge!("clipshot_plugins_active").set(snapshot.plugins.active as f64);
        metrics::gauge!("clipshot_plugins_crashed").set(snapshot.plugins.crashed as f64);
        if let Some(gpu) = &snapshot.gpu {
            metrics::gauge!("clipshot_gpu_bytes_read_back", "adapter" => gpu.adapter.clone())
                .set(gpu.bytes_read_back as f64);
        }
        for p in &snapshot.pipelines {
            let id = p.id.clone();
            metrics::gauge!("clipshot_pipeline_fps", "pipeline" => id.clone()).set(p.fps);
            metrics::gauge!("clipshot_pipeline_dropped_frames", "pipeline" => id.clone()).set(p.dropped_frames as f64);
            metrics::gauge!("clipshot_pipeline_running", "pipeline" => id.clone())
                .set(f64::from(u8::from(p.state == PipelineState::Running)));
            metrics::gauge!("clipshot_ring_seconds", "pipeline" => id.clone()).set(p.ring_seconds);
            metrics::gauge!("clipshot_ring_bytes", "pipeline" => id.clone()).set(p.ring_bytes as f64);
            metrics::gauge!("clipshot_bytes_copied", "pipeline" => id.clone()).set(p.bytes_copied as f64);
            metrics::gauge!("clipshot_analysis_dropped", "pipeline" => id.clone()).set(p.analysis_dropped as f64);
            if let Some(ms) = p.frame_latency_p99_ms {
                metrics::gauge!("clipshot_frame_latency_p99_seconds", "pipeline" => id.clone()).set(ms / 1e3);
            }
            if let Some(ms) = p.frame_latency_ms {
                metrics::gauge!("clipshot_frame_latency_seconds", "pipeline" => id).set(ms / 1e3);
            }
        }
        self.prometheus.render()
    }
}

/// Counts a saved clip (for `/metrics`).
pub fn clip_saved(trigger: &str, save_ms: f64) {
    metrics::counter!("clipshot_clips_saved_total", "trigger" => trigger.to_owned()).increment(1);
    metrics::histogram!("clipshot_clip_save_seconds").record(save_ms / 1e3);
}
