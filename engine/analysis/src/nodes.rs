//! The node kinds: in-process processors on the core contract, fed by the
//! runtime's rate-limited, leaky bridges (a busy detector drops input and
//! counts it; the record path never waits).
//!
//! Tensors between them (pad `out`):
//! - `analyze.motion`: `[difference, brightness, flash, histogram_change]`
//! - `analyze.audio`: `[loudness, events, class]` — loudness jump and the
//!   best weighted class probability (0..1), and that class's index in the
//!   profile's `audio.classes` (-1 for none)
//! - `analyze.text`: `[value, keyword]` — see [`crate::text`]
//! - `analyze.voice`: `[value, speech]` — see [`crate::voice`]

use crate::profile::{self, Profile};
use crate::score::{Decision, Highlight, Observation, Scorer};
use crate::switch::switching;
use clipshot_ai::audio::{AudioTagger, MODEL_RATE, to_mono};
use clipshot_ai::{Ai, LoadedModel};
use clipshot_core::event::{ClipScore, ScorePoint};
use clipshot_core::processor::{
    Input, Output, Outputs, ProcessError, Processor, ProcessorContext, ProcessorNode, Setup, Tensor, VideoInput,
};
use clipshot_core::{Event, MediaType, Node, PadSpec, PixelFormat, Trigger};
use clipshot_gpu::{Format, Frame, MotionTracker};
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

static AI: OnceLock<Arc<Ai>> = OnceLock::new();

/// Hands the daemon's models and GPU to the analysis nodes (once, at start).
pub fn install(ai: Arc<Ai>) {
    if AI.set(ai).is_err() {
        tracing::warn!("the analysis nodes already have their models; a second install is ignored");
    }
}

/// The installed models, or the data dir's and the shipped ones.
pub(crate) fn ai(ctx: &ProcessorContext) -> Arc<Ai> {
    Arc::clone(AI.get_or_init(|| {
        let mut dirs = vec![ctx.data_dir.join("models")];
        dirs.extend(clipshot_ai::service::bundled_models_dir());
        Arc::new(Ai::new(dirs, 1))
    }))
}

pub(crate) fn load_profile(name: &str, ctx: &ProcessorContext) -> Result<Profile, String> {
    profile::load(name, &profile::dirs(&ctx.data_dir)).map_err(|e| e.to_string())
}

fn default_profile() -> String {
    "generic".into()
}

fn default_fps() -> f64 {
    8.0
}

/// Props of `analyze.motion`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MotionProps {
    /// Frames analysed per second (the rest are dropped before they reach the node).
    #[serde(default = "default_fps")]
    #[schemars(range(min = 0.5, max = 30))]
    pub fps: f64,
}

/// `analyze.motion`: frame difference, brightness flash and scene cuts on
/// the GPU (the CPU without one).
#[derive(Debug)]
pub struct MotionNode;

impl Node for MotionNode {
    type Props = MotionProps;
    const KIND: &'static str = "analyze.motion";
    const SUMMARY: &'static str =
        "Motion features on the GPU: frame difference, brightness flash, colour-histogram change (scene cuts)";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::input("video", MediaType::RawVideo), PadSpec::output("out", MediaType::Tensor)]
    }
}

struct MotionProcessor {
    tracker: MotionTracker,
}

impl ProcessorNode for MotionNode {
    fn create(props: MotionProps, ctx: &ProcessorContext) -> Result<Setup, String> {
        let tracker = ai(ctx).preprocessor().motion(64, 36);
        Ok(Setup {
            processor: Box::new(MotionProcessor { tracker }),
            video: VideoInput { max_fps: props.fps, width: Some(320), format: PixelFormat::Rgba },
        })
    }
}

impl Processor for MotionProcessor {
    fn process(&mut self, _pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let Input::Video(f) = input else { return Ok(()) };
        if f.format != PixelFormat::Rgba {
            return Err(ProcessError(format!("analyze.motion takes RGBA frames, not {:?}", f.format)));
        }
        let frame = Frame { strides: [f.stride, 0, 0], ..Frame::tight(Format::Rgba, f.width, f.height, f.data) };
        let m = self.tracker.update(&frame).map_err(|e| ProcessError(e.to_string()))?;
        out.push(Output::Tensor {
            pad: "out".into(),
            tensor: Tensor {
                shape: vec![4],
                data: vec![m.difference, m.brightness, m.flash, m.histogram_change],
                pts_ns: f.pts_ns,
            },
        });
        Ok(())
    }
}

/// Props of `analyze.audio` and `analyze.score`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileProps {
    /// A game profile: `generic`, or another name in `profiles/` or `<data dir>/profiles`.
    #[serde(default = "default_profile")]
    pub profile: String,
}

/// `analyze.audio`: the game's sound through the AudioSet tagger (the
/// profile's model and classes) and a loudness-jump detector.
#[derive(Debug)]
pub struct AudioNode;

impl Node for AudioNode {
    type Props = ProfileProps;
    const KIND: &'static str = "analyze.audio";
    const SUMMARY: &'static str =
        "Sound events (an AudioSet tagger on ONNX Runtime, the profile's classes) and loudness jumps";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::input("audio", MediaType::RawAudio), PadSpec::output("out", MediaType::Tensor)]
    }
}

/// The loudness detector: decibels above a slowly following level.
#[derive(Debug)]
pub struct Loudness {
    level_db: Option<f32>,
    jump_db_full: f32,
}

impl Loudness {
    pub fn new(jump_db_full: f32) -> Self {
        Self { level_db: None, jump_db_full }
    }

    /// 0..1 for one window; the running level follows slowly upward and fast downward.
    pub fn update(&mut self, window: &[f32]) -> f32 {
        let rms = (window.iter().map(|v| v * v).sum::<f32>() / window.len().max(1) as f32).sqrt();
        let db = (20.0 * rms.max(1e-5).log10()).max(-100.0);
        let level = *self.level_db.get_or_insert(db);
        let jump = ((db - level) / self.jump_db_full).clamp(0.0, 1.0);
        let rate = if db > level { 0.05 } else { 0.5 };
        self.level_db = Some(level + (db - level) * rate);
        jump
    }
}

struct AudioProcessor {
    model: Option<(Arc<LoadedModel>, String)>,
    /// (profile class index, model class index, weight)
    classes: Vec<(usize, usize, f32)>,
    loudness: Loudness,
    window_s: f64,
    hop_s: f64,
    /// The source's rate: the buffer holds mono samples at it.
    rate: u32,
    buffer: Vec<f32>,
    /// Samples since the last window was scored.
    since: usize,
    /// Pipeline time of the first sample in `buffer`.
    buffer_start_ns: Option<i64>,
}

impl ProcessorNode for AudioNode {
    fn create(props: ProfileProps, ctx: &ProcessorContext) -> Result<Setup, String> {
        Ok(Setup { processor: switching(ctx, &props.profile, audio_processor)?, video: VideoInput::default() })
    }
}

fn audio_processor(profile: &str, ctx: &ProcessorContext) -> Result<Box<dyn Processor>, String> {
    let profile = load_profile(profile, ctx)?;
    let Some(audio) = profile.audio.clone() else {
        // A pipeline keeps its sound node for the profiles that listen.
        tracing::info!(node = %ctx.node, profile = %profile.name, "no [audio] in this profile: the sound is not analysed");
        return Ok(Box::new(crate::switch::Idle));
    };
    // Without the runtime or the model, loudness still works; the log says why.
    let model = match ai(ctx).load(&audio.model) {
        Ok(m) => {
            let unknown = profile.unknown_classes(&m.labels);
            if !unknown.is_empty() {
                return Err(format!("model `{}` has no class {}", audio.model, unknown.join(", ")));
            }
            let input = ai(ctx).entry(&audio.model).and_then(|e| e.manifest().map(|m| m.inputs[0].name.clone()));
            Some((m, input.unwrap_or_else(|| "waveform".into())))
        }
        Err(e) => {
            tracing::warn!(node = %ctx.node, "sound events off: {e}; loudness only");
            None
        }
    };
    let classes = match &model {
        Some((m, _)) => audio
            .classes
            .iter()
            .enumerate()
            .filter_map(|(i, (name, w))| m.labels.iter().position(|l| l == name).map(|j| (i, j, *w)))
            .collect(),
        None => Vec::new(),
    };
    let jump = profile.loudness.as_ref().map_or(24.0, |l| l.jump_db_full);
    Ok(Box::new(AudioProcessor {
        model,
        classes,
        loudness: Loudness::new(jump),
        window_s: f64::from(audio.window_s),
        hop_s: f64::from(audio.hop_s),
        rate: 0,
        buffer: Vec::new(),
        since: 0,
        buffer_start_ns: None,
    }))
}

impl Processor for AudioProcessor {
    fn process(&mut self, _pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let Input::Audio(chunk) = input else { return Ok(()) };
        let rate = chunk.rate.max(1);
        let channels = usize::from(chunk.channels.max(1));
        // Kept at the source's rate, mixed to mono; each window is resampled
        // whole when it is scored (no seams at chunk edges, no drift).
        let samples_ns = |n: usize| (n as f64 / f64::from(rate) * 1e9) as i64;
        let expected = self.buffer_start_ns.map(|s| s + samples_ns(self.buffer.len()));
        // A gap in time (dropped input, a restart) or a new rate starts over.
        if self.rate != rate || expected.is_none_or(|e| (chunk.pts_ns - e).abs() > 200_000_000) {
            self.buffer.clear();
            self.since = 0;
            self.rate = rate;
            self.buffer_start_ns = Some(chunk.pts_ns);
        }
        let before = self.buffer.len();
        self.buffer
            .extend(chunk.samples.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32));
        self.since += self.buffer.len() - before;
        let window = (self.window_s * f64::from(rate)) as usize;
        let hop = ((self.hop_s * f64::from(rate)) as usize).max(1);
        while self.buffer.len() >= window && self.since >= hop {
            let native = &self.buffer[self.buffer.len() - window..];
            let end_ns = self.buffer_start_ns.unwrap_or(0) + samples_ns(self.buffer.len());
            let mono = to_mono(native, rate, 1, MODEL_RATE);
            let loudness = self
                .loudness
                .update(&mono[mono.len() - mono.len().min((self.hop_s * f64::from(MODEL_RATE)) as usize)..]);
            let (mut events, mut class) = (0.0f32, -1.0f32);
            if let Some((model, input)) = &self.model {
                let scores = AudioTagger::new(model, input).scores(&mono).map_err(|e| ProcessError(e.to_string()))?;
                for (i, j, w) in &self.classes {
                    let v = scores.get(*j).copied().unwrap_or(0.0) * w;
                    if v > events {
                        events = v;
                        class = *i as f32;
                    }
                }
            }
            out.push(Output::Tensor {
                pad: "out".into(),
                tensor: Tensor { shape: vec![3], data: vec![loudness, events, class], pts_ns: end_ns },
            });
            self.since = 0;
            // Keep one window of history.
            let drop = self.buffer.len() - window;
            self.buffer.drain(..drop);
            self.buffer_start_ns = Some(end_ns - samples_ns(window));
        }
        Ok(())
    }
}

/// `analyze.score`: fuses the detectors as the profile says into
/// highlights (`highlight.detected`, a marker at the peak) and auto-clips.
#[derive(Debug)]
pub struct ScoreNode;

/// Props of `analyze.score`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreProps {
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Save a clip around each highlight (trigger `highlight`).
    #[serde(default = "yes")]
    pub auto_clip: bool,
    /// Fuse the `motion` and `audio` inputs in time order, waiting for the
    /// slower one: for a file decoded faster than real time, where one
    /// detector runs ahead of the other. (Live, they arrive in step.)
    #[serde(default)]
    pub in_order: bool,
}

fn yes() -> bool {
    true
}

impl Node for ScoreNode {
    type Props = ScoreProps;
    const KIND: &'static str = "analyze.score";
    const SUMMARY: &'static str =
        "Fuses detectors by a game profile into highlights: events, markers at the peak, auto-clips with pre/post roll";

    fn pads() -> Vec<PadSpec> {
        ["motion", "audio", "text", "voice"]
            .into_iter()
            .map(|name| {
                let mut pad = PadSpec::input(name, MediaType::Tensor);
                pad.required = false;
                pad
            })
            .collect()
    }
}

/// Highlights remembered for the clips that hold them (the newest).
const RECENT_HIGHLIGHTS: usize = 64;
/// Points of a clip's score timeline at most (the strongest in each slot).
const CLIP_TIMELINE_POINTS: usize = 600;

struct ScoreProcessor {
    scorer: Scorer,
    classes: Vec<String>,
    keywords: Vec<String>,
    pipeline: String,
    auto_clip: bool,
    /// With `in_order`: observations waiting for the other inputs, by (pts, arrival).
    waiting: Option<std::collections::BTreeMap<(i64, u64), Observation>>,
    arrivals: u64,
    /// With `in_order`: the linked inputs and how far each has got.
    progress: std::collections::BTreeMap<String, Option<i64>>,
    recent: std::collections::VecDeque<Highlight>,
}

impl ProcessorNode for ScoreNode {
    fn create(props: ScoreProps, ctx: &ProcessorContext) -> Result<Setup, String> {
        let (auto_clip, in_order) = (props.auto_clip, props.in_order);
        let build = move |name: &str, ctx: &ProcessorContext| -> Result<Box<dyn Processor>, String> {
            let profile = load_profile(name, ctx)?;
            let classes = profile.audio.as_ref().map(|a| a.classes.keys().cloned().collect()).unwrap_or_default();
            let keywords = profile.text.as_ref().map(|t| t.keywords.iter().map(|k| k.text.clone()).collect());
            Ok(Box::new(ScoreProcessor {
                scorer: Scorer::new(profile),
                classes,
                keywords: keywords.unwrap_or_default(),
                pipeline: ctx.pipeline.clone(),
                auto_clip,
                waiting: in_order.then(Default::default),
                arrivals: 0,
                progress: ctx.inputs.iter().map(|pad| (pad.clone(), None)).collect(),
                recent: Default::default(),
            }))
        };
        Ok(Setup { processor: switching(ctx, &props.profile, build)?, video: VideoInput::default() })
    }
}

impl ScoreProcessor {
    fn act(&mut self, decisions: Vec<Decision>, out: &mut Outputs) {
        for d in decisions {
            match d {
                Decision::Highlight(h) => {
                    tracing::info!(pipeline = %self.pipeline, score = h.score, label = %h.label, detectors = ?h.detectors, "highlight");
                    if self.recent.len() == RECENT_HIGHLIGHTS {
                        self.recent.pop_front();
                    }
                    self.recent.push_back(h.clone());
                    out.push(Output::Marker { at_ns: h.peak_ns, label: Some(format!("highlight: {}", h.label)) });
                    out.push(Output::Event(Event::HighlightDetected {
                        pipeline: self.pipeline.clone(),
                        at_ns: h.peak_ns,
                        score: h.score,
                        label: h.label,
                        start_ns: h.start_ns,
                        end_ns: h.end_ns,
                        detectors: h.detectors,
                    }));
                }
                Decision::Clip { start_ns, end_ns, highlights } if self.auto_clip => {
                    // The ring holds the whole span by now: nothing after `end` to wait for.
                    let pre = (end_ns - start_ns) as f64 / 1e9;
                    out.push(Output::Save {
                        at_ns: end_ns,
                        pre_seconds: pre,
                        post_seconds: 0.0,
                        trigger: Trigger::Highlight,
                        score: Some(self.clip_score(start_ns, end_ns, highlights)),
                    });
                }
                Decision::Clip { .. } => {}
            }
        }
    }

    /// The score over `start..=end` (at most [`CLIP_TIMELINE_POINTS`], the
    /// strongest of each slot kept), the highlights' peaks marked with their
    /// detectors, and the best one.
    fn clip_score(&self, start_ns: i64, end_ns: i64, highlights: usize) -> ClipScore {
        let inside: Vec<&Highlight> =
            self.recent.iter().filter(|h| h.peak_ns >= start_ns && h.peak_ns <= end_ns).collect();
        let points: Vec<(i64, f32)> =
            self.scorer.timeline.iter().copied().filter(|(t, _)| (start_ns..=end_ns).contains(t)).collect();
        let slot = (end_ns - start_ns).max(1) / CLIP_TIMELINE_POINTS as i64 + 1;
        let mut timeline: Vec<ScorePoint> = Vec::new();
        for (t, score) in points {
            match timeline.last_mut() {
                Some(last) if (last.at_ns - start_ns) / slot == (t - start_ns) / slot => {
                    if score > last.score {
                        (last.at_ns, last.score) = (t, score);
                    }
                }
                _ => timeline.push(ScorePoint { at_ns: t, score, detectors: Vec::new() }),
            }
        }
        for h in &inside {
            match timeline.iter_mut().find(|p| p.at_ns == h.peak_ns) {
                Some(p) => p.detectors.clone_from(&h.detectors),
                None => timeline.push(ScorePoint { at_ns: h.peak_ns, score: h.score, detectors: h.detectors.clone() }),
            }
        }
        timeline.sort_by_key(|p| p.at_ns);
        let best = inside.iter().max_by(|a, b| a.score.total_cmp(&b.score));
        ClipScore {
            score: best.map_or(0.0, |h| h.score),
            peak_ns: best.map_or(start_ns, |h| h.peak_ns),
            label: best.map(|h| h.label.clone()).unwrap_or_default(),
            highlights,
            timeline,
        }
    }

    fn observation(&self, pad: &str, t: &Tensor) -> Result<Observation, ProcessError> {
        let name = |names: &[String], i: f32| (i >= 0.0).then(|| names.get(i as usize).cloned()).flatten();
        Ok(match (pad, t.data.as_slice()) {
            ("motion", [difference, _, _, histogram_change, ..]) => {
                Observation::Motion { pts_ns: t.pts_ns, difference: *difference, histogram_change: *histogram_change }
            }
            ("audio", [loudness, events, class, ..]) => Observation::Sound {
                pts_ns: t.pts_ns,
                loudness: *loudness,
                events: *events,
                class: name(&self.classes, *class),
            },
            ("voice", [value, ..]) => Observation::Voice { pts_ns: t.pts_ns, value: *value },
            ("text", [value, keyword, ..]) => {
                Observation::Text { pts_ns: t.pts_ns, value: *value, keyword: name(&self.keywords, *keyword) }
            }
            _ => return Err(ProcessError(format!("analyze.score: unexpected tensor {:?} on `{pad}`", t.shape))),
        })
    }
}

impl Processor for ScoreProcessor {
    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let Input::Tensor(t) = input else { return Ok(()) };
        tracing::trace!(pad, data = ?t.data, pts_ns = t.pts_ns, "score input");
        let observation = self.observation(pad, t)?;
        let Some(waiting) = &mut self.waiting else {
            let decisions = self.scorer.observe(&observation);
            self.act(decisions, out);
            return Ok(());
        };
        let pts = observation.pts_ns();
        self.progress.insert(pad.to_owned(), Some(pts));
        self.arrivals += 1;
        waiting.insert((pts, self.arrivals), observation);
        // Everything up to where every linked input has got is final.
        let Some(watermark) = self.progress.values().copied().try_fold(i64::MAX, |m, p| p.map(|p| m.min(p))) else {
            return Ok(());
        };
        let ready: Vec<(i64, u64)> = waiting.range(..=(watermark, u64::MAX)).map(|(k, _)| *k).collect();
        for key in ready {
            if let Some(o) = self.waiting.as_mut().and_then(|w| w.remove(&key)) {
                let decisions = self.scorer.observe(&o);
                self.act(decisions, out);
            }
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Outputs) {
        for (_, o) in std::mem::take(&mut self.waiting).unwrap_or_default() {
            let decisions = self.scorer.observe(&o);
            self.act(decisions, out);
        }
        let peak = self.scorer.timeline.iter().map(|p| p.1).fold(0.0f32, f32::max);
        tracing::debug!(pipeline = %self.pipeline, points = self.scorer.timeline.len(), peak, "scorer flushed");
        let decisions = self.scorer.flush();
        self.act(decisions, out);
    }
}

/// Where profiles are looked up for a data dir (for listings).
pub fn profile_dirs(data_dir: &std::path::Path) -> Vec<PathBuf> {
    profile::dirs(data_dir)
}
