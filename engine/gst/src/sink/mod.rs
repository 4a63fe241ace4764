//! `sink.file`: continuous recording to a crash-safe file.

use crate::error::BuildError;
use crate::kind::{BuildCtx, Built, Segment};
use clipshot_core::{MediaType, Node, PadSpec};
use gstreamer::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Fragmented MP4: every finished fragment is playable after a crash.
    #[default]
    Mp4,
    /// Matroska: readable up to the last cluster after a crash; takes Opus.
    Mkv,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSinkProps {
    /// Folder for recordings; `<data_dir>/recordings` by default. Each start
    /// opens a new file named after the time.
    dir: Option<String>,
    #[serde(default)]
    format: Format,
    /// File names start with this; the node's id by default.
    name: Option<String>,
    /// This exact file instead of a new timestamped one in `dir`.
    path: Option<String>,
    /// Fragment length for MP4, in seconds (what a crash can lose at most).
    #[serde(default = "default_fragment")]
    #[schemars(range(min = 0.5, max = 60))]
    fragment_s: f64,
}

fn default_fragment() -> f64 {
    2.0
}

/// `sink.file`.
#[derive(Debug)]
pub struct FileSink;

impl Node for FileSink {
    type Props = FileSinkProps;
    const KIND: &'static str = "sink.file";
    const SUMMARY: &'static str = "Continuous recording to a crash-safe file (fragmented MP4 or MKV)";

    fn pads() -> Vec<PadSpec> {
        vec![
            PadSpec::input("video", MediaType::H264),
            PadSpec::input("audio", MediaType::Aac).or(MediaType::Opus).required(false),
        ]
    }
}

impl Segment for FileSink {
    fn elements(p: &FileSinkProps) -> Vec<&'static str> {
        let mux = match p.format {
            Format::Mp4 => "mp4mux",
            Format::Mkv => "matroskamux",
        };
        vec![mux, "filesink"]
    }

    fn build(p: FileSinkProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_file_sink(p, ctx)
    }
}

fn build_file_sink(p: FileSinkProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let dir = p.dir.map_or_else(|| ctx.options.data_dir.join("recordings"), std::path::PathBuf::from);
    std::fs::create_dir_all(&dir).map_err(|e| ctx.error(format!("cannot create {}: {e}", dir.display())))?;
    let ext = match p.format {
        Format::Mp4 => "mp4",
        Format::Mkv => "mkv",
    };
    let name = p.name.as_deref().unwrap_or(ctx.node);
    let path = match &p.path {
        Some(path) => std::path::PathBuf::from(path),
        None => dir.join(format!("{name}-{}.{ext}", clipshot_replay::clip::timestamp_name())),
    };
    let mux = match p.format {
        Format::Mp4 => {
            let mux = ctx.element("mp4mux", "mux")?;
            mux.set_property("fragment-duration", (p.fragment_s * 1000.0) as u32);
            mux
        }
        Format::Mkv => ctx.element("matroskamux", "mux")?,
    };
    let sink = ctx.element("filesink", "file")?;
    sink.set_property("location", path.to_string_lossy().as_ref());
    // Recording follows the pipeline's pace; never hold up the record path on the clock.
    sink.set_property("sync", false);
    sink.set_property("async", false);
    ctx.chain(&[&mux, &sink])?;
    let mut built = Built::default();
    for pad in ["video", "audio"] {
        if pad == "video" || ctx.is_input_linked(pad) {
            let template = if pad == "video" { "video_%u" } else { "audio_%u" };
            let mux_pad = mux
                .request_pad_simple(template)
                .ok_or_else(|| ctx.error(format!("{} takes no {pad} stream", mux.name())))?;
            built.inputs.insert(pad.to_owned(), mux_pad);
        }
    }
    built.needs_eos = true;
    built.file = Some(path.clone());
    tracing::info!(node = ctx.node, path = %path.display(), "recording to file");
    Ok(built)
}
