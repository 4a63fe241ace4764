//! `replay.ring`: the in-memory replay buffer of encoded packets.

use super::{BuildCtx, Built, GstNodeKind};
use crate::error::BuildError;
use crate::ring_sink::RingNode;
use clipshot_core::{MediaType, NodeDescriptor, PadSpec, Props};
use clipshot_replay::RingConfig;
use gstreamer::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RingProps {
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

pub(super) fn ring() -> Arc<GstNodeKind> {
    GstNodeKind::new(
        NodeDescriptor::new::<RingProps>(
            "replay.ring",
            "Replay buffer of encoded video (H.264) and audio (AAC), evicted by whole GOPs",
            vec![
                PadSpec::input("video", MediaType::EncodedVideo),
                PadSpec::input("audio", MediaType::EncodedAudio).required(false),
            ],
        ),
        build_ring,
    )
}

fn build_ring(props: &Props, ctx: &mut BuildCtx<'_>) -> Result<Built, BuildError> {
    let p: RingProps = ctx.props(props)?;
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
    if ctx.is_input_linked("audio") {
        let audio = node.audio_sink(&format!("{}.audio-sink", ctx.node));
        ctx.pipeline.add(&audio).map_err(|e| ctx.error(e))?;
        built = built.input("audio", audio.upcast_ref())?;
    }
    built.ring = Some(node);
    Ok(built)
}
