//! GPU preprocessing for the analysis branch.
//!
//! A captured frame (RGBA, BGRx, I420, NV12; padded rows) becomes a model's
//! input tensor in one compute dispatch — crop to a region, bilinear resize,
//! channel order, NCHW or NHWC, mean and std — and motion features (frame
//! difference, brightness flash, colour-histogram change) are computed on a
//! small copy against the previous frame, which stays on the GPU. The
//! shaders live in `shaders/` (`clipshot-shaders`, validated by naga).
//!
//! [`Preprocessor::open`] creates the device once (the runtime hands it to
//! the nodes); without an adapter it says so in one log line and every call
//! takes the CPU path in [`cpu`], which computes the same arithmetic and is
//! what the GPU path is tested against (on lavapipe in CI).
//!
//! wgpu has no interop with ONNX Runtime's CUDA provider: the tensor is read
//! back (3 × H × W × 4 bytes, e.g. 2.9 KB for 16×16… 590 KB for 224×224×3 ×
//! 4) and handed to the session; motion reads back 200 bytes a frame.

pub mod cpu;
pub mod frame;
pub mod gpu;

pub use frame::{Format, Frame, FrameError, Layout, Matrix, Motion, Spec};
pub use gpu::{AdapterInfo, Gpu, GpuError, GpuMotion};
use std::sync::Arc;

/// Where preprocessing runs: the GPU when there is an adapter, else the CPU.
#[derive(Debug, Clone)]
pub enum Preprocessor {
    Gpu(Arc<Gpu>),
    Cpu {
        /// Why there is no GPU path.
        reason: String,
    },
}

impl Preprocessor {
    /// The GPU when an adapter opens; otherwise the CPU path, and one log line.
    pub fn open() -> Self {
        match Gpu::new() {
            Ok(gpu) => Preprocessor::Gpu(gpu),
            Err(e) => {
                tracing::warn!("no GPU for analysis preprocessing ({e}): using the CPU path");
                Preprocessor::Cpu { reason: e.to_string() }
            }
        }
    }

    pub fn adapter(&self) -> Option<&AdapterInfo> {
        match self {
            Preprocessor::Gpu(gpu) => Some(gpu.info()),
            Preprocessor::Cpu { .. } => None,
        }
    }

    /// `frame` → the tensor `spec` describes.
    pub fn preprocess(&self, frame: &Frame<'_>, spec: &Spec) -> Result<Vec<f32>, GpuError> {
        let mut out = vec![0.0; spec.len()];
        match self {
            Preprocessor::Gpu(gpu) => gpu.preprocess(frame, spec, &mut out)?,
            Preprocessor::Cpu { .. } => cpu::preprocess(frame, spec, &mut out)?,
        }
        Ok(out)
    }

    /// A motion tracker at `width`×`height` on this backend.
    pub fn motion(&self, width: u32, height: u32) -> MotionTracker {
        // The sums are 32-bit fixed point: small frames only, on either path.
        assert!(u64::from(width) * u64::from(height) < 65_536, "motion features work on small frames");
        match self {
            Preprocessor::Gpu(gpu) => MotionTracker::Gpu(Box::new(GpuMotion::new(Arc::clone(gpu), width, height))),
            Preprocessor::Cpu { .. } => {
                MotionTracker::Cpu { spec: Spec::unit(width, height), state: cpu::MotionState::default() }
            }
        }
    }
}

/// Motion features of successive frames.
#[derive(Debug)]
pub enum MotionTracker {
    Gpu(Box<GpuMotion>),
    Cpu { spec: Spec, state: cpu::MotionState },
}

impl MotionTracker {
    pub fn update(&mut self, frame: &Frame<'_>) -> Result<Motion, GpuError> {
        match self {
            MotionTracker::Gpu(m) => m.update(frame),
            MotionTracker::Cpu { spec, state } => {
                let mut small = vec![0.0; spec.len()];
                cpu::preprocess(frame, spec, &mut small)?;
                Ok(state.update(&small, (spec.width * spec.height) as usize))
            }
        }
    }
}
