//! Voice activity with Silero VAD (v5/v6 graphs): the speech probability of
//! each 32 ms chunk of 16 kHz mono, carried through the model's recurrent
//! state. Each chunk is fed with the 64 samples before it, as Silero's own
//! wrapper does (the graph expects 576 samples at 16 kHz).

use crate::runtime::{InputTensor, LoadedModel, RuntimeError};
use std::sync::Arc;

/// Samples per chunk at 16 kHz.
pub const CHUNK: usize = 512;
const CONTEXT: usize = 64;
const STATE: usize = 2 * 128;

/// A voice detector over one stream (its state follows the stream).
#[derive(Debug)]
pub struct Vad {
    model: Arc<LoadedModel>,
    state: Vec<f32>,
    context: Vec<f32>,
}

impl Vad {
    pub fn new(model: Arc<LoadedModel>) -> Self {
        Self { model, state: vec![0.0; STATE], context: vec![0.0; CONTEXT] }
    }

    /// The speech probability of the next chunk (shorter chunks are padded with silence).
    pub fn chunk(&mut self, samples: &[f32]) -> Result<f32, RuntimeError> {
        let mut input = Vec::with_capacity(CONTEXT + CHUNK);
        input.extend_from_slice(&self.context);
        input.extend(samples.iter().take(CHUNK));
        input.resize(CONTEXT + CHUNK, 0.0);
        self.context.copy_from_slice(&input[CHUNK..]);
        let outputs = self.model.run(vec![
            InputTensor::F32 { name: "input".into(), shape: vec![1, CONTEXT + CHUNK], data: input },
            InputTensor::F32 { name: "state".into(), shape: vec![2, 1, 128], data: self.state.clone() },
            InputTensor::I64 { name: "sr".into(), shape: vec![], data: vec![16_000] },
        ])?;
        let mut probability = 0.0;
        for o in outputs {
            match o.name.as_str() {
                "output" => probability = o.data.first().copied().unwrap_or(0.0),
                "stateN" if o.data.len() == STATE => self.state = o.data,
                _ => {}
            }
        }
        Ok(probability)
    }

    /// Speech probabilities of every chunk of `mono` (16 kHz).
    pub fn probabilities(&mut self, mono: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        mono.chunks(CHUNK).map(|c| self.chunk(c)).collect()
    }
}
