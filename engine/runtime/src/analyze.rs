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
    /// What each detector cost: inputs analysed and time in its calls.
    pub detectors: Vec<DetectorCost>,
}

/// One analysis node's work over a recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorCost {
    pub node: String,
    pub kind: String,
    /// Frames, sound chunks or tensors it took.
    pub inputs: u64,
    pub busy_ms: f64,
    /// `busy_ms / inputs`.
    pub ms_per_input: f64,
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

/// The analysis graph for the streams `file` has and the detectors the
/// profile uses: a branch per detector, and the scorer waits for the slower
/// ones only when there are several.
fn graph(file: &Path, name: &str, profile: &clipshot_analysis::Profile, video: bool, audio: bool) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let p = quote(name);
    let motion = video && profile.motion.is_some();
    let text = video && profile.text.is_some();
    let sound = audio && (profile.audio.is_some() || profile.loudness.is_some());
    let mut toml = format!(
        "name = \"analyze\"\ndescription = \"A recording through the analysis branch\"\n\n\
         [[nodes]]\nid = \"file\"\nkind = \"capture.file\"\nprops = {{ path = {}, realtime = false }}\n\n\
         [[nodes]]\nid = \"score\"\nkind = \"analyze.score\"\n\
         props = {{ profile = {p}, auto_clip = false, in_order = {} }}\n",
        quote(&file.display().to_string()),
        [motion, text, sound].iter().filter(|b| **b).count() > 1,
    );
    if motion {
        toml.push_str(
            "\n[[nodes]]\nid = \"motion\"\nkind = \"analyze.motion\"\n\
             \n[[links]]\nfrom = \"file.video\"\nto = \"motion.video\"\n\
             \n[[links]]\nfrom = \"motion.out\"\nto = \"score.motion\"\n",
        );
    }
    if text {
        toml.push_str(&format!(
            "\n[[nodes]]\nid = \"text\"\nkind = \"analyze.text\"\nprops = {{ profile = {p} }}\n\
             \n[[links]]\nfrom = \"file.video\"\nto = \"text.video\"\n\
             \n[[links]]\nfrom = \"text.out\"\nto = \"score.text\"\n"
        ));
    }
    if sound {
        toml.push_str(&format!(
            "\n[[nodes]]\nid = \"sound\"\nkind = \"analyze.audio\"\nprops = {{ profile = {p} }}\n\
             \n[[links]]\nfrom = \"file.audio\"\nto = \"sound.audio\"\n\
             \n[[links]]\nfrom = \"sound.out\"\nto = \"score.audio\"\n"
        ));
    }
    toml
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
    let (video, audio) = (info.video_codec.is_some(), info.audio_codec.is_some());
    if !video && !audio {
        return Err(AnalyzeError::File { reason: "no video or audio stream".into(), file: file.to_owned() });
    }
    let loaded = clipshot_analysis::profile::load(profile, &clipshot_analysis::profile::dirs(data_dir))
        .map_err(|e| AnalyzeError::Graph(e.to_string()))?;
    let spec = GraphSpec::from_toml(&graph(file, profile, &loaded, video, audio))
        .map_err(|e| AnalyzeError::Graph(e.to_string()))?;
    let validated = clipshot_core::validate::validate(&spec, &registry)
        .map_err(|e| AnalyzeError::Graph(e.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    let events = Arc::new(Collect::default());
    let options = PipelineOptions {
        data_dir: data_dir.to_owned(),
        clips_dir: data_dir.join("clips"),
        events: Arc::clone(&events) as Arc<dyn EventSink>,
        offline: true,
    };
    // Not a name a user's pipeline can have (ids are letters, digits, `-`
    // and `_`): a profile chosen for a pipeline never reaches a file's analysis.
    let pipeline = Pipeline::new("analyze:file", validated, registry, options);
    pipeline.start().map_err(|e| AnalyzeError::Failed { reason: e.to_string(), file: file.to_owned() })?;
    // Started: a short file may reach its end before the first look.
    // Progress by what the first detector has seen (motion: 8 frames a
    // second; text: 2; sound: ~47 chunks).
    let (lead, rate) = [("motion", 8.0), ("text", 2.0), ("sound", 47.0)]
        .into_iter()
        .find(|(id, _)| spec.nodes.iter().any(|n| n.id == *id))
        .unwrap_or(("score", 8.0));
    let frames = (info.duration_s * rate).max(1.0);
    let mut started = true;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let stats = pipeline.stats();
        let seen = stats.nodes.iter().find(|n| n.id == lead).map_or(0, |n| n.frames_in);
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
    let detectors = end
        .nodes
        .iter()
        .filter(|n| n.kind.starts_with("analyze."))
        .map(|n| DetectorCost {
            node: n.id.clone(),
            kind: n.kind.clone(),
            inputs: n.frames_in,
            busy_ms: n.busy_ms,
            ms_per_input: if n.frames_in == 0 { 0.0 } else { n.busy_ms / n.frames_in as f64 },
        })
        .collect();
    Ok(Analysis {
        file: file.to_owned(),
        profile: profile.to_owned(),
        duration_s: info.duration_s,
        highlights,
        detectors,
    })
}
