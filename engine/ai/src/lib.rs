//! Models for highlight detection, on ONNX Runtime.
//!
//! - [`manifest`]: `model.json` — what a model is, its file and hash, its
//!   inputs and outputs, labels and thresholds; every problem reported at once.
//! - [`runtime`]: the ONNX Runtime library loaded at run time (`ort`,
//!   `load-dynamic`), sessions on the best execution provider present
//!   (TensorRT, CUDA, DirectML, CoreML, then the CPU), checked against their
//!   manifest.
//! - [`service`]: the models a daemon knows and has open.
//! - [`audio`]: 16 kHz mono for the audio models, WAV uploads, the AudioSet tagger.
//! - [`ocr`]: text in screen regions (PP-OCR detection and recognition).
//! - [`vad`]: voice activity (Silero VAD).
//!
//! No GStreamer, no HTTP: the runtime and the API use this crate.

pub mod audio;
pub mod manifest;
pub mod ocr;
pub mod runtime;
pub mod service;
pub mod vad;

pub use manifest::{Manifest, ManifestError, Model, Task};
pub use runtime::{LoadedModel, OnnxRuntime, RuntimeError};
pub use service::{Ai, AiError, Entry};
