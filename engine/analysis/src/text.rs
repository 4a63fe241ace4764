//! `analyze.text`: reads the profile's screen regions (kill feeds, banners)
//! with PP-OCR and reports keywords as they appear.
//!
//! Tensor on `out`, one per analysed frame: `[value, keyword]` — the weight
//! of the strongest counted keyword that appeared since the frame before
//! (0 when none did) and its index in the profile's `text.keywords` (-1 for
//! none). A line that stays on screen counts once: a keyword counts again
//! only when more lines carry it than in the frame before (a second kill in
//! the feed). Keywords of events the profile does not count (deaths, say)
//! are placed on the timeline as `lowlight:` markers instead. Under a
//! profile without a `[text]` section the node reads nothing.

use crate::nodes::{ai, load_profile};
use crate::profile::{GameEvent, Text};
use crate::switch::switching;
use clipshot_ai::LoadedModel;
use clipshot_ai::ocr::{DetectOptions, TextReader, contains_keyword};
use clipshot_core::processor::{
    Input, Output, Outputs, ProcessError, Processor, ProcessorContext, ProcessorNode, Setup, Tensor, VideoInput,
};
use clipshot_core::{MediaType, Node, PadSpec, PixelFormat};
use clipshot_gpu::{Format, Frame, Preprocessor};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

fn default_fps() -> f64 {
    2.0
}

fn default_width() -> u32 {
    1280
}

fn default_profile() -> String {
    "generic".into()
}

/// Props of `analyze.text`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextProps {
    /// A game profile with a `[text]` section (its regions and keywords).
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Frames read per second (reading costs tens of milliseconds a region).
    #[serde(default = "default_fps")]
    #[schemars(range(min = 0.2, max = 10))]
    pub fps: f64,
    /// Width the frame is scaled to before the regions are cut out.
    #[serde(default = "default_width")]
    #[schemars(range(min = 320, max = 3840))]
    pub width: u32,
}

/// `analyze.text`: on-screen text in the profile's regions, matched against its keywords.
#[derive(Debug)]
pub struct TextNode;

impl Node for TextNode {
    type Props = TextProps;
    const KIND: &'static str = "analyze.text";
    const SUMMARY: &'static str =
        "Reads the profile's screen regions (kill feeds, banners) with PP-OCR and reports its keywords as they appear";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::input("video", MediaType::RawVideo), PadSpec::output("out", MediaType::Tensor)]
    }
}

struct Models {
    det: Arc<LoadedModel>,
    det_input: String,
    rec: Arc<LoadedModel>,
    rec_input: String,
}

struct TextProcessor {
    node: String,
    text: Text,
    models: Option<Models>,
    pre: Preprocessor,
    /// Lines carrying each (keyword, region) in the frame before.
    seen: Vec<Vec<usize>>,
}

impl ProcessorNode for TextNode {
    fn create(props: TextProps, ctx: &ProcessorContext) -> Result<Setup, String> {
        Ok(Setup {
            processor: switching(ctx, &props.profile, text_processor)?,
            video: VideoInput { max_fps: props.fps, width: Some(props.width), format: PixelFormat::Rgba },
        })
    }
}

fn text_processor(profile: &str, ctx: &ProcessorContext) -> Result<Box<dyn Processor>, String> {
    let profile = load_profile(profile, ctx)?;
    let Some(text) = profile.text.clone() else {
        // Not a mistake: a pipeline keeps its text node for the profiles that read text.
        tracing::info!(node = %ctx.node, profile = %profile.name, "no screen regions to read under this profile");
        return Ok(Box::new(crate::switch::Idle));
    };
    let ai = ai(ctx);
    let input = |id: &str| ai.entry(id).and_then(|e| e.manifest().map(|m| m.inputs[0].name.clone()));
    // Without the runtime or a model the node reads nothing and says why once;
    // recording and the other detectors go on.
    let models = match (ai.load(&text.detect_model), ai.load(&text.recognise_model)) {
        (Ok(det), Ok(rec)) => Some(Models {
            det_input: input(&text.detect_model).unwrap_or_else(|| "x".into()),
            rec_input: input(&text.recognise_model).unwrap_or_else(|| "x".into()),
            det,
            rec,
        }),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(node = %ctx.node, "on-screen text off: {e}");
            None
        }
    };
    let seen = vec![vec![0; text.regions.len()]; text.keywords.len()];
    Ok(Box::new(TextProcessor { node: ctx.node.clone(), text, models, pre: ai.preprocessor().clone(), seen }))
}

impl TextProcessor {
    fn applies(&self, keyword: usize, region: usize) -> bool {
        let k = &self.text.keywords[keyword];
        k.regions.is_empty() || k.regions.iter().any(|r| r == &self.text.regions[region].name)
    }
}

impl Processor for TextProcessor {
    fn process(&mut self, _pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let Input::Video(f) = input else { return Ok(()) };
        let Some(models) = &self.models else { return Ok(()) };
        if f.format != PixelFormat::Rgba {
            return Err(ProcessError(format!("analyze.text takes RGBA frames, not {:?}", f.format)));
        }
        let frame = Frame { strides: [f.stride, 0, 0], ..Frame::tight(Format::Rgba, f.width, f.height, f.data) };
        let reader = TextReader {
            det: &models.det,
            det_input: &models.det_input,
            rec: &models.rec,
            rec_input: &models.rec_input,
            pre: &self.pre,
            options: DetectOptions::default(),
        };
        let (mut value, mut best) = (0.0f32, -1.0f32);
        for (ri, region) in self.text.regions.iter().enumerate() {
            let lines = reader.read(&frame, region.rect).map_err(|e| ProcessError(e.to_string()))?;
            let lines: Vec<_> = lines.into_iter().filter(|l| l.confidence >= self.text.min_confidence).collect();
            if !lines.is_empty() {
                tracing::debug!(node = %self.node, region = %region.name, lines = ?lines.iter().map(|l| &l.text).collect::<Vec<_>>(), "read");
            }
            for ki in 0..self.text.keywords.len() {
                if !self.applies(ki, ri) {
                    continue;
                }
                let keyword = &self.text.keywords[ki];
                let count = lines.iter().filter(|l| contains_keyword(&l.text, &keyword.text)).count();
                let before = std::mem::replace(&mut self.seen[ki][ri], count);
                if count <= before {
                    continue;
                }
                if self.text.count.contains(&keyword.event) {
                    if keyword.weight > value {
                        value = keyword.weight;
                        best = ki as f32;
                    }
                } else if matches!(keyword.event, GameEvent::Death | GameEvent::Loss) {
                    out.push(Output::Marker {
                        at_ns: f.pts_ns,
                        label: Some(format!("lowlight: {} ({})", keyword.event.as_str(), keyword.text)),
                    });
                }
            }
        }
        out.push(Output::Tensor {
            pad: "out".into(),
            tensor: Tensor { shape: vec![2], data: vec![value, best], pts_ns: f.pts_ns },
        });
        Ok(())
    }
}
