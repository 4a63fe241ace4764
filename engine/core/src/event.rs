//! The typed events of the engine. Their dotted names are stable: the same on
//! the SSE stream, in logs and in tests.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PipelineState {
    Starting,
    Running,
    Stopped,
    /// Failed; the engine restarts it after a back-off.
    Error,
}

/// What asked for a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Trigger {
    Hotkey,
    Api,
    Highlight,
    /// A remote speaking obs-websocket (a Stream Deck button, say).
    #[serde(rename = "obs-websocket")]
    ObsWebsocket,
}

/// One point of a highlight score over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScorePoint {
    /// On the pipeline's timeline, in nanoseconds.
    pub at_ns: i64,
    pub score: f32,
    /// The detectors that fired, at a highlight's peak; empty elsewhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<String>,
}

/// What highlight detection saw over a clip it saved: the best highlight
/// and the fused score over the clip's span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClipScore {
    /// The best highlight's score.
    pub score: f32,
    /// Its peak, on the pipeline's timeline (the clip's thumbnail is taken there).
    pub peak_ns: i64,
    pub label: String,
    /// How many highlights the clip holds.
    pub highlights: usize,
    pub timeline: Vec<ScorePoint>,
}

/// A clip that is on disk, complete and renamed into place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClipSaved {
    pub pipeline: String,
    pub path: String,
    pub duration_s: f64,
    pub size_bytes: u64,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    /// The span of running time the clip covers, in nanoseconds.
    pub span_start_ns: i64,
    pub span_end_ns: i64,
    /// The span that was asked for (the clip starts at the keyframe at or
    /// before its start, so a clip may cover a little more).
    pub asked_start_ns: i64,
    pub asked_end_ns: i64,
    /// Seconds asked for.
    pub asked_s: f64,
    /// Why the clip covers less than was asked, when it does (the pipeline
    /// restarted, it is stopped, the ring holds less). `None` when it covers it all.
    pub shortfall: Option<String>,
    pub trigger: Trigger,
    /// Time spent waiting for the encoder to deliver the requested moment.
    pub wait_ms: f64,
    /// Time spent writing and syncing the file.
    pub write_ms: f64,
    /// From the request to the renamed file.
    pub save_ms: f64,
    /// For an auto-clip: what highlight detection saw over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ClipScore>,
}

/// A node that failed: which one, the media element that said so, and why.
/// Every error about a node reads the same in the log, the `pipeline.error`
/// event, the pipeline's stats and `/health`: this type's `Display`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeFault {
    pub node: String,
    pub kind: String,
    /// The media element (factory name) that reported it, when one did.
    pub element: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for NodeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.element {
            Some(e) => write!(f, "node `{}` ({}, {e}): {}", self.node, self.kind, self.reason),
            None => write!(f, "node `{}` ({}): {}", self.node, self.kind, self.reason),
        }
    }
}

/// A pipeline that runs without one of its optional parts, or with a
/// substitute for it (a software encoder for a failed hardware one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Degradation {
    pub pipeline: String,
    /// The part that is missing or substituted.
    pub node: String,
    pub kind: String,
    pub element: Option<String>,
    pub reason: String,
    /// Nodes not running because of it (the node itself and what only it feeds).
    pub dropped: Vec<String>,
    /// What the pipeline does instead (`recording video only`).
    pub instead: String,
    /// Since when (UTC, RFC 3339).
    pub since: String,
    /// When the part is tried again, if it is.
    pub retry_in_ms: Option<u64>,
}

impl std::fmt::Display for Degradation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fault = NodeFault {
            node: self.node.clone(),
            kind: self.kind.clone(),
            element: self.element.clone(),
            reason: self.reason.clone(),
        };
        write!(f, "{fault}: {}", self.instead)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Event {
    #[serde(rename = "pipeline.state")]
    PipelineState { pipeline: String, state: PipelineState, message: Option<String> },
    #[serde(rename = "pipeline.error")]
    PipelineError {
        pipeline: String,
        message: String,
        restart_in_ms: Option<u64>,
        /// The node that failed, when the error came from one.
        #[serde(default)]
        fault: Option<NodeFault>,
    },
    /// An optional part stopped or could not start; the rest records.
    #[serde(rename = "pipeline.degraded")]
    PipelineDegraded(Degradation),
    /// A missing optional part runs again.
    #[serde(rename = "pipeline.recovered")]
    PipelineRecovered { pipeline: String, node: String, kind: String },
    /// A recording on demand began writing `path`.
    #[serde(rename = "recording.started")]
    RecordingStarted { pipeline: String, path: String },
    /// It ended: stopped (`reason` none) or cut short (its pipeline stopped or failed).
    #[serde(rename = "recording.stopped")]
    RecordingStopped { pipeline: String, path: String, reason: Option<String> },
    #[serde(rename = "clip.saved")]
    ClipSaved(ClipSaved),
    #[serde(rename = "clip.failed")]
    ClipFailed { pipeline: String, trigger: Trigger, reason: String },
    #[serde(rename = "marker.added")]
    MarkerAdded { pipeline: String, marker_id: String, at_ns: i64, label: Option<String> },
    #[serde(rename = "highlight.detected")]
    HighlightDetected {
        pipeline: String,
        /// The peak, on the pipeline's timeline.
        at_ns: i64,
        score: f32,
        /// The detector that contributed most at the peak.
        label: String,
        /// Where the score rose above the threshold and fell back.
        start_ns: i64,
        end_ns: i64,
        /// Every detector that fired.
        detectors: Vec<String>,
    },
    #[serde(rename = "task.progress")]
    TaskProgress { task: String, progress: f32, message: Option<String> },
    #[serde(rename = "plugin.loaded")]
    PluginLoaded { plugin: String, version: String },
    #[serde(rename = "plugin.crashed")]
    PluginCrashed { plugin: String, reason: String },
    #[serde(rename = "config.changed")]
    ConfigChanged { keys: Vec<String> },
}

impl Event {
    /// The stable dotted name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::PipelineState { .. } => "pipeline.state",
            Self::PipelineError { .. } => "pipeline.error",
            Self::PipelineDegraded(_) => "pipeline.degraded",
            Self::PipelineRecovered { .. } => "pipeline.recovered",
            Self::RecordingStarted { .. } => "recording.started",
            Self::RecordingStopped { .. } => "recording.stopped",
            Self::ClipSaved(_) => "clip.saved",
            Self::ClipFailed { .. } => "clip.failed",
            Self::MarkerAdded { .. } => "marker.added",
            Self::HighlightDetected { .. } => "highlight.detected",
            Self::TaskProgress { .. } => "task.progress",
            Self::PluginLoaded { .. } => "plugin.loaded",
            Self::PluginCrashed { .. } => "plugin.crashed",
            Self::ConfigChanged { .. } => "config.changed",
        }
    }
}

/// Where engine components send events (the daemon fans them out to SSE and logs).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_type_is_the_dotted_name() {
        let events = [
            Event::PipelineState { pipeline: "p".into(), state: PipelineState::Running, message: None },
            Event::ConfigChanged { keys: vec!["hotkey".into()] },
            Event::PluginCrashed { plugin: "x".into(), reason: "boom".into() },
        ];
        for e in events {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], e.name());
            let back: Event = serde_json::from_value(v).unwrap();
            assert_eq!(back, e);
        }
    }
}
