//! Scoring a recording: the file through the same analysis nodes a live
//! pipeline runs, decoded as fast as they take it (offline: nothing is
//! dropped), and the highlights they found.

use crate::engine::{EngineError, registry};
use clipshot_core::{Event, EventSink, GraphSpec, PipelineState};
use clipshot_gst::{Pipeline, PipelineOptions};
use parking_lot::Mutex;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One highlight of a recording, in seconds from its start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundHighlight {
    pub start_s: f64,
    pub peak_s: f64,
    pub end_s: f64,
    pub score: f32,
    pub label: String,
    pub detectors: Vec<String>,
}

/// What scoring a file found.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub file: PathBuf,
    pub profile: String,
    pub duration_s: f64,
    pub highlights: Vec<FoundHighlight>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{}: {reason}", .file.display())]
    File { reason: String, file: PathBuf },
    #[error("the analysis graph is invalid: {0}")]
    Graph(String),
    #[error("analysing {}: {reason}", .file.display())]
    Failed { reason: String, file: PathBuf },
    #[error("cancelled")]
    Cancelled,
}

#[derive(Default)]
struct Collect(Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn emit(&self, event: Event) {
        self.0.lock().push(event);
    }
}

fn graph(file: &Path, profile: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    format!(
        r#"
name = "analyze"
description = "A recording through the analysis branch"

[[nodes]]
id = "file"
kind = "capture.file"
props = {{ path = {}, realtime = false }}

[[nodes]]
id = "motion"
kind = "analyze.motion"

[[nodes]]
id = "sound"
kind = "analyze.audio"
props = {{ profile = {p} }}

[[nodes]]
id = "score"
kind = "analyze.score"
props = {{ profile = {p}, auto_clip = false, in_order = true }}

[[links]]
from = "file.video"
to = "motion.video"

[[links]]
from = "file.audio"
to = "sound.audio"

[[links]]
from = "motion.out"
to = "score.motion"

[[links]]
from = "sound.out"
to = "score.audio"
"#,
        quote(&file.display().to_string()),
        p = quote(profile),
    )
}

/// Scores `file` with `profile`; `progress` hears 0..1 as it goes and
/// answers whether to go on (false cancels).
pub fn analyze_file(
    file: &Path,
    profile: &str,
    data_dir: &Path,
    progress: &dyn Fn(f64) -> bool,
) -> Result<Analysis, AnalyzeError> {
    let info = crate::media::media_info(file)
        .map_err(|e| AnalyzeError::File { reason: e.to_string(), file: file.to_owned() })?;
    let registry = Arc::new(registry()?);
    let spec = GraphSpec::from_toml(&graph(file, profile)).map_err(|e| AnalyzeError::Graph(e.to_string()))?;
    let validated = clipshot_core::validate::validate(&spec, &registry)
        .map_err(|e| AnalyzeError::Graph(e.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    let events = Arc::new(Collect::default());
    let options = PipelineOptions {
        data_dir: data_dir.to_owned(),
        clips_dir: data_dir.join("clips"),
        events: Arc::clone(&events) as Arc<dyn EventSink>,
        offline: true,
    };
    let pipeline = Pipeline::new("analyze", validated, registry, options);
    pipeline.start().map_err(|e| AnalyzeError::Failed { reason: e.to_string(), file: file.to_owned() })?;
    let frames = (info.duration_s * 8.0).max(1.0);
    // The pipeline is built on its own thread: it reads as stopped until it starts.
    let mut started = false;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let stats = pipeline.stats();
        let seen = stats.nodes.iter().find(|n| n.id == "motion").map_or(0, |n| n.frames_in);
        if !progress((seen as f64 / frames).min(1.0)) {
            pipeline.stop();
            return Err(AnalyzeError::Cancelled);
        }
        match stats.state {
            PipelineState::Starting | PipelineState::Running => started = true,
            PipelineState::Stopped if started => break,
            PipelineState::Stopped => {}
            PipelineState::Error => {
                let why = stats.message.unwrap_or_else(|| "the pipeline failed".into());
                pipeline.stop();
                return Err(AnalyzeError::Failed { reason: why, file: file.to_owned() });
            }
        }
    }
    // Stopping flushes the nodes: a highlight still open at the end closes.
    let end = pipeline.stats();
    pipeline.stop();
    tracing::debug!(?end, "analysis done");
    let _ = progress(1.0);
    let s = |ns: i64| ns as f64 / 1e9;
    let highlights = events
        .0
        .lock()
        .iter()
        .filter_map(|e| match e {
            Event::HighlightDetected { at_ns, score, label, start_ns, end_ns, detectors, .. } => Some(FoundHighlight {
                start_s: s(*start_ns),
                peak_s: s(*at_ns),
                end_s: s(*end_ns),
                score: *score,
                label: label.clone(),
                detectors: detectors.clone(),
            }),
            _ => None,
        })
        .collect();
    Ok(Analysis { file: file.to_owned(), profile: profile.to_owned(), duration_s: info.duration_s, highlights })
}
