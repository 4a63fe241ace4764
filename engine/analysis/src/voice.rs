//! `analyze.voice`: excited voice on the microphone (comms, a shout at a
//! clutch) as a highlight signal, with Silero VAD. Off by default: no
//! shipped pipeline links a microphone to it and no shipped profile has a
//! `[voice]` section, because the microphone is private; a user adds both.
//!
//! Tensor on `out`, one per hop (0.48 s): `[value, speech]` — speech
//! probability (the window's highest) times how far the voice rose above
//! its running level (0..1, `loud_db` for full), and the probability alone.

use crate::nodes::{Loudness, ai, load_profile};
use crate::switch::switching;
use clipshot_ai::audio::{MODEL_RATE, to_mono};
use clipshot_ai::vad::Vad;
use clipshot_core::processor::{
    Input, Output, Outputs, ProcessError, Processor, ProcessorContext, ProcessorNode, Setup, Tensor, VideoInput,
};
use clipshot_core::{MediaType, Node, PadSpec};

/// Seconds of sound per decision (whole 32 ms chunks at 16 kHz: 15 of them).
const HOP_S: f64 = 0.48;

/// `analyze.voice`: excited speech on the microphone (Silero VAD and loudness).
#[derive(Debug)]
pub struct VoiceNode;

impl Node for VoiceNode {
    type Props = crate::nodes::ProfileProps;
    const KIND: &'static str = "analyze.voice";
    const SUMMARY: &'static str =
        "Excited voice on the microphone (Silero VAD and loudness); off unless a profile has [voice]";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::input("audio", MediaType::RawAudio), PadSpec::output("out", MediaType::Tensor)]
    }
}

struct VoiceProcessor {
    /// Silero with its recurrent state: one per stream.
    vad: Vad,
    loudness: Loudness,
    min_probability: f32,
    /// Mono samples at the source rate since the last decision.
    pending: Vec<f32>,
    rate: u32,
    pending_end_ns: i64,
}

impl ProcessorNode for VoiceNode {
    fn create(props: crate::nodes::ProfileProps, ctx: &ProcessorContext) -> Result<Setup, String> {
        Ok(Setup { processor: switching(ctx, &props.profile, voice_processor)?, video: VideoInput::default() })
    }
}

fn voice_processor(profile: &str, ctx: &ProcessorContext) -> Result<Box<dyn Processor>, String> {
    let profile = load_profile(profile, ctx)?;
    let Some(voice) = profile.voice.clone() else {
        tracing::info!(node = %ctx.node, profile = %profile.name, "no [voice] in this profile: the microphone is not analysed");
        return Ok(Box::new(crate::switch::Idle));
    };
    let model = ai(ctx).load(&voice.model).map_err(|e| format!("voice detection off: {e}"))?;
    Ok(Box::new(VoiceProcessor {
        vad: Vad::new(model),
        loudness: Loudness::new(voice.loud_db),
        min_probability: voice.min_probability,
        pending: Vec::new(),
        rate: 0,
        pending_end_ns: 0,
    }))
}

impl Processor for VoiceProcessor {
    fn process(&mut self, _pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let Input::Audio(chunk) = input else { return Ok(()) };
        let channels = usize::from(chunk.channels.max(1));
        if chunk.rate != self.rate {
            self.pending.clear();
            self.rate = chunk.rate.max(1);
        }
        self.pending.extend(chunk.samples.chunks_exact(channels).map(|f| f.iter().sum::<f32>() / channels as f32));
        let frames = chunk.samples.len() / channels;
        self.pending_end_ns = chunk.pts_ns + (frames as f64 / f64::from(self.rate) * 1e9) as i64;
        let hop = ((HOP_S * f64::from(self.rate)) as usize).max(1);
        while self.pending.len() >= hop {
            let window: Vec<f32> = self.pending.drain(..hop).collect();
            let mono = to_mono(&window, self.rate, 1, MODEL_RATE);
            let speech = self
                .vad
                .probabilities(&mono)
                .map_err(|e| ProcessError(e.to_string()))?
                .into_iter()
                .fold(0.0f32, f32::max);
            let rise = self.loudness.update(&mono);
            let value = if speech >= self.min_probability { speech * rise } else { 0.0 };
            let end_ns = self.pending_end_ns - (self.pending.len() as f64 / f64::from(self.rate) * 1e9) as i64;
            out.push(Output::Tensor {
                pad: "out".into(),
                tensor: Tensor { shape: vec![2], data: vec![value, speech], pts_ns: end_ns },
            });
        }
        Ok(())
    }
}
