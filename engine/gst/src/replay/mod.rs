//! `replay.ring`: the in-memory replay buffer of encoded packets, the
//! appsink bridge that fills it, and saving clips from it.

mod ring_node;
pub(crate) mod save;

pub use ring_node::RingNode;
pub use save::{SaveRequest, SaveSpan, SavedClip};

use crate::error::BuildError;
use crate::kind::{BuildCtx, Built, Segment};
use clipshot_core::{MediaType, Node, PadSpec};
use clipshot_replay::RingConfig;
use gstreamer::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RingProps {
    /// Seconds of history kept (whole GOPs; never more than this).
    #[serde(default = "default_seconds")]
    #[schemars(range(min = 1, max = 3600))]
    pub max_seconds: f64,
    /// Memory cap in MiB, including memory pinned by running saves.
    #[serde(default = "default_mib")]
    #[schemars(range(min = 1, max = 65536))]
    pub max_mib: u64,
}

fn default_seconds() -> f64 {
    30.0
}
fn default_mib() -> u64 {
    1024
}

impl RingProps {
    pub fn ring_config(&self) -> RingConfig {
        RingConfig { max_seconds: self.max_seconds, max_bytes: self.max_mib * 1024 * 1024 }
    }
}

/// `replay.ring`.
#[derive(Debug)]
pub struct Ring;

impl Node for Ring {
    type Props = RingProps;
    const KIND: &'static str = "replay.ring";
    const SUMMARY: &'static str = "Replay buffer of encoded video (H.264) and audio (AAC), evicted by whole GOPs";

    fn pads() -> Vec<PadSpec> {
        // The clip writer makes MP4 from H.264 and AAC: nothing else may enter.
        vec![PadSpec::input("video", MediaType::H264), PadSpec::input("audio", MediaType::Aac).required(false)]
    }
}

impl Segment for Ring {
    fn elements(_: &RingProps) -> Vec<&'static str> {
        vec!["appsink"]
    }

    fn build(p: RingProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
        build_ring(p, ctx)
    }
}

fn build_ring(p: RingProps, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let node = match ctx.existing_ring.take() {
        // A rebuilt pipeline keeps its ring, limits included: they may have
        // been changed live since the props were read.
        Some(node) => {
            node.on_restart();
            node
        }
        None => RingNode::new(p.ring_config()),
    };
    let video = node.video_sink(&format!("{}.video-sink", ctx.node));
    ctx.pipeline.add(&video).map_err(|e| ctx.error(e))?;
    let mut built = Built::default().input("video", video.upcast_ref())?;
    // Audio whose source is missing now may join later (a sound server that
    // comes back): the sink is there for it, fed or not.
    if ctx.is_input_linked("audio") || ctx.may_join("audio") {
        let audio = node.audio_sink(&format!("{}.audio-sink", ctx.node));
        ctx.pipeline.add(&audio).map_err(|e| ctx.error(e))?;
        built = built.input("audio", audio.upcast_ref())?;
        built.joinable.push("audio".into());
    }
    built.ring = Some(node);
    Ok(built)
}
