//! Windows Graphics Capture through the `windows-capture` crate.
//!
//! Frames are delivered as BGRA buffers on a bounded channel, for the GStreamer
//! adapter's `appsrc` bridge. `windows-capture` maps its staging texture only
//! during the frame callback, so each frame is copied once here; the copy is
//! counted in [`CaptureStats::bytes_copied`] and reported, never hidden. (Where
//! GStreamer has `d3d11screencapturesrc capture-api=wgc`, frames stay on the GPU
//! and this crate is not needed.)
//!
//! This crate holds no GStreamer code and builds everywhere (elsewhere
//! [`Capture::start`] says it is unsupported), so the GStreamer adapter's
//! bridge is compiled and tested on Linux too. CI type-checks it for
//! `x86_64-pc-windows-gnu`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    PrimaryMonitor,
    /// A monitor by its 1-based index.
    Monitor(usize),
    /// The first window whose title matches.
    Window(String),
    /// The window in the foreground when capture starts.
    Foreground,
}

#[derive(Debug, Clone)]
pub struct CaptureConfig {
    pub target: Target,
    pub show_cursor: bool,
    /// Upper bound on the delivered frame rate.
    pub max_fps: u32,
    /// Frames waiting for the consumer before new ones are dropped.
    pub queue_frames: usize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self { target: Target::PrimaryMonitor, show_cursor: true, max_fps: 60, queue_frames: 2 }
    }
}

/// One captured frame, tightly packed BGRA.
#[derive(Debug)]
pub struct CapturedFrame {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// System-relative capture time, in nanoseconds.
    pub timestamp_ns: i64,
}

#[derive(Debug, Default)]
pub struct CaptureStats {
    pub frames: AtomicU64,
    pub dropped: AtomicU64,
    /// Bytes copied out of the staging texture (one frame's worth per frame);
    /// shared so the pipeline's node stats can report it.
    pub bytes_copied: Arc<AtomicU64>,
}

impl CaptureStats {
    #[cfg_attr(not(windows), allow(dead_code))]
    fn delivered(&self, bytes: usize) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes_copied.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("Windows Graphics Capture is only available on Windows")]
    Unsupported,
    #[error("cannot find the capture target {0:?}")]
    NoTarget(Target),
    #[error("capture failed: {0}")]
    Failed(String),
}

/// A running capture. Dropping it stops the capture.
#[derive(Debug)]
pub struct Capture {
    pub frames: crossbeam_channel::Receiver<CapturedFrame>,
    pub stats: Arc<CaptureStats>,
    #[cfg(windows)]
    control: Option<imp::Control>,
}

impl Capture {
    /// Starts capturing on a thread of its own.
    pub fn start(config: CaptureConfig) -> Result<Self, CaptureError> {
        let (tx, rx) = crossbeam_channel::bounded::<CapturedFrame>(config.queue_frames.max(1));
        let stats = Arc::new(CaptureStats::default());
        #[cfg(windows)]
        {
            let control = imp::start(&config, tx, Arc::clone(&stats))?;
            Ok(Self { frames: rx, stats, control: Some(control) })
        }
        #[cfg(not(windows))]
        {
            let _ = (config, tx, rx, stats);
            Err(CaptureError::Unsupported)
        }
    }
}

#[cfg(windows)]
impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(control) = self.control.take()
            && let Err(e) = control.stop()
        {
            tracing::warn!("stopping Windows capture: {e}");
        }
    }
}

/// Hands a frame to the consumer, or drops it when the consumer lags (a slow
/// encoder must never stall the capture).
#[cfg_attr(not(windows), allow(dead_code))]
fn deliver(tx: &crossbeam_channel::Sender<CapturedFrame>, stats: &CaptureStats, frame: CapturedFrame) {
    let bytes = frame.data.len();
    match tx.try_send(frame) {
        Ok(()) => stats.delivered(bytes),
        Err(_) => {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(windows)]
mod imp {
    use super::{CaptureConfig, CaptureError, CaptureStats, CapturedFrame, Target, deliver};
    use std::sync::Arc;
    use std::time::Duration;
    use windows_capture::capture::{CaptureControl, Context, GraphicsCaptureApiHandler};
    use windows_capture::frame::Frame;
    use windows_capture::graphics_capture_api::InternalCaptureControl;
    use windows_capture::monitor::Monitor;
    use windows_capture::settings::{
        ColorFormat, CursorCaptureSettings, DirtyRegionSettings, DrawBorderSettings, MinimumUpdateIntervalSettings,
        SecondaryWindowSettings, Settings,
    };
    use windows_capture::window::Window;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    pub(super) struct Flags {
        tx: crossbeam_channel::Sender<CapturedFrame>,
        stats: Arc<CaptureStats>,
    }

    pub(super) struct Handler {
        tx: crossbeam_channel::Sender<CapturedFrame>,
        stats: Arc<CaptureStats>,
        scratch: Vec<u8>,
    }

    impl GraphicsCaptureApiHandler for Handler {
        type Flags = Flags;
        type Error = BoxError;

        fn new(ctx: Context<Self::Flags>) -> Result<Self, Self::Error> {
            Ok(Self { tx: ctx.flags.tx, stats: ctx.flags.stats, scratch: Vec::new() })
        }

        fn on_frame_arrived(
            &mut self,
            frame: &mut Frame<'_>,
            _control: InternalCaptureControl,
        ) -> Result<(), Self::Error> {
            let timestamp_ns = frame.timestamp()?.Duration * 100;
            let (width, height) = (frame.width(), frame.height());
            let buffer = frame.buffer()?;
            // The staging texture is unmapped when this callback returns: copy once.
            let data = buffer.as_nopadding_buffer(&mut self.scratch).to_vec();
            deliver(&self.tx, &self.stats, CapturedFrame { data, width, height, timestamp_ns });
            Ok(())
        }

        fn on_closed(&mut self) -> Result<(), Self::Error> {
            tracing::info!("capture target closed");
            Ok(())
        }
    }

    pub(super) struct Control(CaptureControl<Handler, BoxError>);

    impl std::fmt::Debug for Control {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Control")
        }
    }

    impl Control {
        pub(super) fn stop(self) -> Result<(), String> {
            self.0.stop().map_err(|e| e.to_string())
        }
    }

    pub(super) fn start(
        config: &CaptureConfig,
        tx: crossbeam_channel::Sender<CapturedFrame>,
        stats: Arc<CaptureStats>,
    ) -> Result<Control, CaptureError> {
        let cursor =
            if config.show_cursor { CursorCaptureSettings::WithCursor } else { CursorCaptureSettings::WithoutCursor };
        let interval =
            MinimumUpdateIntervalSettings::Custom(Duration::from_secs_f64(1.0 / f64::from(config.max_fps.max(1))));
        let flags = Flags { tx, stats };
        let no_target = || CaptureError::NoTarget(config.target.clone());
        let failed = |e: &dyn std::fmt::Display| CaptureError::Failed(e.to_string());
        macro_rules! run {
            ($item:expr) => {{
                let settings = Settings::new(
                    $item,
                    cursor,
                    DrawBorderSettings::WithoutBorder,
                    SecondaryWindowSettings::Default,
                    interval,
                    DirtyRegionSettings::Default,
                    ColorFormat::Bgra8,
                    flags,
                );
                Handler::start_free_threaded(settings).map(Control).map_err(|e| failed(&e))
            }};
        }
        match &config.target {
            Target::PrimaryMonitor => run!(Monitor::primary().map_err(|_| no_target())?),
            Target::Monitor(i) => run!(Monitor::from_index(*i).map_err(|_| no_target())?),
            Target::Window(title) => run!(Window::from_name(title).map_err(|_| no_target())?),
            Target::Foreground => run!(Window::foreground().map_err(|_| no_target())?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lagging_consumer_makes_capture_drop_not_block() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let stats = CaptureStats::default();
        for _ in 0..3 {
            deliver(&tx, &stats, CapturedFrame { data: vec![0; 16], width: 2, height: 2, timestamp_ns: 0 });
        }
        assert_eq!(stats.frames.load(Ordering::Relaxed), 1);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(stats.bytes_copied.load(Ordering::Relaxed), 16, "the copy is counted");
        assert_eq!(rx.len(), 1);
    }

    #[cfg(not(windows))]
    #[test]
    fn elsewhere_starting_says_it_is_unsupported() {
        assert!(matches!(Capture::start(CaptureConfig::default()), Err(CaptureError::Unsupported)));
    }
}
