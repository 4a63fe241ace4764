//! Sound for the audio models: any rate and channel count to 16 kHz mono,
//! WAV decoding for uploads, and the AudioSet tagger over a loaded model.

use crate::runtime::{InputTensor, LoadedModel, RuntimeError};
use std::f64::consts::PI;

/// The rate CED and Silero VAD take.
pub const MODEL_RATE: u32 = 16_000;

/// Interleaved samples to mono at `to` Hz: channels averaged, then a
/// windowed-sinc resampler whose cut-off sits below the lower Nyquist
/// frequency (no aliasing of a 48 kHz game mix into the 8 kHz band).
pub fn to_mono(samples: &[f32], rate: u32, channels: u16, to: u32) -> Vec<f32> {
    let channels = usize::from(channels.max(1));
    let mono: Vec<f32> =
        samples.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect();
    if rate == to || mono.is_empty() {
        return mono;
    }
    let ratio = f64::from(to) / f64::from(rate);
    // Cut-off as a fraction of the input rate, a little below Nyquist.
    let cutoff = 0.5 * ratio.min(1.0) * 0.95;
    const HALF: isize = 24;
    let out_len = ((mono.len() as f64) * ratio).floor() as usize;
    let kernel = |x: f64| -> f64 {
        let sinc = if x.abs() < 1e-9 { 2.0 * cutoff } else { (2.0 * PI * cutoff * x).sin() / (PI * x) };
        // Blackman window over [-HALF, HALF].
        let w = 0.42 + 0.5 * (PI * x / HALF as f64).cos() + 0.08 * (2.0 * PI * x / HALF as f64).cos();
        if x.abs() > HALF as f64 { 0.0 } else { sinc * w }
    };
    (0..out_len)
        .map(|i| {
            let center = i as f64 / ratio;
            let base = center.floor() as isize;
            let mut acc = 0.0;
            for k in (base - HALF + 1)..=(base + HALF) {
                if k < 0 || k as usize >= mono.len() {
                    continue;
                }
                acc += f64::from(mono[k as usize]) * kernel(center - k as f64);
            }
            acc as f32
        })
        .collect()
}

/// A WAV file's samples, interleaved, as `f32` in [-1, 1].
#[derive(Debug, Clone)]
pub struct Sound {
    pub rate: u32,
    pub channels: u16,
    pub samples: Vec<f32>,
}

impl Sound {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate) / f64::from(self.channels.max(1))
    }
}

/// Decodes a WAV file (PCM 8/16/24/32-bit or float).
pub fn decode_wav(bytes: &[u8]) -> Result<Sound, String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| format!("not a WAV file: {e}"))?;
    let spec = reader.spec();
    // Rates outside what sound cards use would make resampling absurd (a
    // rate of 1 Hz asks for billions of output samples).
    if !(4_000..=384_000).contains(&spec.sample_rate) {
        return Err(format!("a sample rate of {} Hz is not supported (4 kHz to 384 kHz)", spec.sample_rate));
    }
    if spec.channels == 0 || spec.channels > 32 {
        return Err(format!("{} channels are not supported", spec.channels));
    }
    let samples: Result<Vec<f32>, _> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect()
        }
    };
    let samples = samples.map_err(|e| format!("the WAV data is damaged: {e}"))?;
    if samples.is_empty() {
        return Err("the WAV file holds no samples".into());
    }
    Ok(Sound { rate: spec.sample_rate, channels: spec.channels, samples })
}

/// One class and how sure the model is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tag {
    pub index: usize,
    pub label: String,
    pub score: f32,
}

/// The AudioSet tagger (CED): a window of 16 kHz mono in, one probability
/// per class out. The graph ends in a sigmoid already.
#[derive(Debug)]
pub struct AudioTagger<'m> {
    model: &'m LoadedModel,
    input: String,
}

impl<'m> AudioTagger<'m> {
    pub fn new(model: &'m LoadedModel, input: &str) -> Self {
        Self { model, input: input.to_owned() }
    }

    /// Class probabilities for one window of 16 kHz mono audio.
    pub fn scores(&self, mono: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        let outputs = self.model.run(vec![InputTensor::F32 {
            name: self.input.clone(),
            shape: vec![1, mono.len()],
            data: mono.to_vec(),
        }])?;
        Ok(outputs.into_iter().next().map(|o| o.data).unwrap_or_default())
    }

    /// The `k` most likely classes, most likely first.
    pub fn top(&self, scores: &[f32], k: usize) -> Vec<Tag> {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        order
            .into_iter()
            .take(k)
            .map(|i| Tag {
                index: i,
                label: self.model.labels.get(i).cloned().unwrap_or_else(|| format!("class {i}")),
                score: scores[i],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, seconds: f64, channels: u16) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .flat_map(|i| {
                let v = (2.0 * PI * freq * i as f64 / f64::from(rate)).sin() as f32 * 0.5;
                std::iter::repeat_n(v, usize::from(channels))
            })
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn a_tone_in_band_survives_and_one_above_nyquist_is_removed() {
        // 1 kHz at 48 kHz stereo → 16 kHz mono keeps its level (0.5/√2).
        let kept = to_mono(&tone(1000.0, 48_000, 1.0, 2), 48_000, 2, MODEL_RATE);
        assert_eq!(kept.len(), 16_000);
        assert!((rms(&kept[200..15_800]) - 0.3536).abs() < 0.01, "{}", rms(&kept));
        // 12 kHz cannot exist at 16 kHz: it must not alias down to 4 kHz.
        let gone = to_mono(&tone(12_000.0, 48_000, 1.0, 1), 48_000, 1, MODEL_RATE);
        assert!(rms(&gone[200..15_800]) < 0.01, "{}", rms(&gone));
        // Upsampling keeps a tone too.
        let up = to_mono(&tone(440.0, 8_000, 1.0, 1), 8_000, 1, MODEL_RATE);
        assert_eq!(up.len(), 16_000);
        assert!((rms(&up[200..15_800]) - 0.3536).abs() < 0.01);
    }

    #[test]
    fn wav_files_decode_and_garbage_is_refused() {
        let mut bytes = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for i in 0..2205 {
            w.write_sample(i as i16).unwrap();
            w.write_sample(-16384i16).unwrap();
        }
        w.finalize().unwrap();
        let sound = decode_wav(bytes.get_ref()).unwrap();
        assert_eq!((sound.rate, sound.channels, sound.samples.len()), (22_050, 2, 4410));
        assert!((sound.samples[1] + 0.5).abs() < 1e-6);
        assert!((sound.seconds() - 0.1).abs() < 1e-9);
        assert!(decode_wav(b"RIFF nonsense").unwrap_err().contains("not a WAV file"));
        // A rate of 1 Hz (or 0) would ask the resampler for billions of samples.
        let mut bytes = std::io::Cursor::new(Vec::new());
        let spec =
            hound::WavSpec { channels: 1, sample_rate: 1, bits_per_sample: 8, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        w.write_sample(1i8).unwrap();
        w.finalize().unwrap();
        assert!(decode_wav(bytes.get_ref()).unwrap_err().contains("1 Hz is not supported"));
    }
}
