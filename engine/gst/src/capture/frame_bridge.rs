//! Feeds raw frames captured outside GStreamer into the graph through `appsrc`:
//! the bridge for Windows Graphics Capture (`clipshot-capture-windows`).
//!
//! Each frame's `Vec<u8>` becomes a `gst::Buffer` by ownership, not by copy.
//! WGC delivers a frame only when the screen changes, so when none arrives
//! within one frame interval the previous buffer is pushed again, by
//! reference: a static desktop still gives the encoder its steady rate and
//! the ring its keyframes.

use clipshot_capture_windows::CapturedFrame;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The feeding thread. Dropping it stops the thread and then drops what it
/// keeps (the capture session).
pub(crate) struct FrameBridge {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FrameBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameBridge").field("running", &self.thread.is_some()).finish()
    }
}

/// Sets up `appsrc` as a live, self-timestamping source that drops its
/// oldest frame rather than queueing without bound when downstream lags.
pub(crate) fn configure(appsrc: &gst_app::AppSrc) {
    appsrc.set_is_live(true);
    appsrc.set_format(gst::Format::Time);
    appsrc.set_do_timestamp(true);
    appsrc.set_max_buffers(2);
    appsrc.set_leaky_type(gst_app::AppLeakyType::Downstream);
}

impl FrameBridge {
    /// Starts feeding `appsrc` from `frames` at up to `fps`. `keep` lives as
    /// long as the thread: the capture whose channel this is.
    pub(crate) fn spawn(
        appsrc: gst_app::AppSrc,
        frames: Receiver<CapturedFrame>,
        fps: u32,
        keep: impl Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let interval = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
        let thread = std::thread::Builder::new().name(format!("bridge:{}", appsrc.name())).spawn(move || {
            feed(&appsrc, &frames, interval, &flag);
            drop(keep);
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for FrameBridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn feed(appsrc: &gst_app::AppSrc, frames: &Receiver<CapturedFrame>, interval: Duration, stop: &AtomicBool) {
    let mut last: Option<gst::Buffer> = None;
    let mut size = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let buffer = match frames.recv_timeout(interval) {
            Ok(frame) => {
                if (frame.width, frame.height) != size {
                    size = (frame.width, frame.height);
                    appsrc.set_caps(Some(&bgra_caps(size.0, size.1)));
                }
                let buffer = gst::Buffer::from_mut_slice(frame.data);
                last = Some(buffer.clone());
                buffer
            }
            Err(RecvTimeoutError::Timeout) => match &last {
                Some(previous) => previous.clone(),
                None => continue,
            },
            Err(RecvTimeoutError::Disconnected) => {
                let _ = appsrc.end_of_stream();
                return;
            }
        };
        match appsrc.push_buffer(buffer) {
            // Not playing yet, or stopping: the stop flag decides.
            Ok(_) | Err(gst::FlowError::Flushing) => {}
            Err(e) => {
                tracing::debug!(appsrc = %appsrc.name(), error = ?e, "bridge stops");
                return;
            }
        }
    }
}

fn bgra_caps(width: u32, height: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "BGRA")
        .field("width", width as i32)
        .field("height", height as i32)
        // The rate is variable until videorate downstream fixes it.
        .field("framerate", gst::Fraction::new(0, 1))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct DropCounter(Arc<AtomicUsize>);
    impl Drop for DropCounter {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn frame(width: u32, height: u32, shade: u8) -> CapturedFrame {
        CapturedFrame { data: vec![shade; (width * height * 4) as usize], width, height, timestamp_ns: 0 }
    }

    /// appsrc → videoconvert → x264 → appsink, fed by the bridge: encoded
    /// frames come out at the bridge's rate even when the capture goes quiet,
    /// a size change renegotiates, and stopping drops the capture.
    #[test]
    fn frames_reach_the_encoder_repeat_when_quiet_and_follow_size_changes() {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(
            "appsrc name=src ! videoconvert ! video/x-raw,format=I420 ! \
             x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! appsink name=out sync=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let appsrc = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        configure(&appsrc);
        let out = pipeline.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let bridge = FrameBridge::spawn(appsrc, rx, 30, DropCounter(Arc::clone(&drops))).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();

        tx.send(frame(64, 48, 10)).unwrap();
        // A quiet capture: the first frame must be repeated to keep the rate.
        let mut encoded = 0;
        while encoded < 10 {
            let sample = out.try_pull_sample(gst::ClockTime::from_seconds(5)).expect("repeated frames are encoded");
            let s = sample.caps().unwrap().structure(0).unwrap().to_owned();
            assert_eq!(s.get::<i32>("width").unwrap(), 64);
            encoded += 1;
        }
        tx.send(frame(96, 64, 200)).unwrap();
        let mut resized = false;
        for _ in 0..30 {
            let sample = out.try_pull_sample(gst::ClockTime::from_seconds(5)).expect("frames keep coming");
            if sample.caps().unwrap().structure(0).unwrap().get::<i32>("width").unwrap() == 96 {
                resized = true;
                break;
            }
        }
        assert!(resized, "the new size reaches the encoder");

        pipeline.set_state(gst::State::Null).unwrap();
        drop(bridge);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "stopping the bridge releases the capture");
    }

    #[test]
    fn a_closed_capture_ends_the_stream() {
        gst::init().unwrap();
        let pipeline = gst::parse::launch("appsrc name=src ! fakesink").unwrap().downcast::<gst::Pipeline>().unwrap();
        let appsrc = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        configure(&appsrc);
        let (tx, rx) = crossbeam_channel::bounded(2);
        let bridge = FrameBridge::spawn(appsrc, rx, 30, ()).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        tx.send(frame(32, 32, 0)).unwrap();
        drop(tx);
        let bus = pipeline.bus().unwrap();
        let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Eos]);
        assert!(msg.is_some(), "EOS after the capture closed");
        pipeline.set_state(gst::State::Null).unwrap();
        drop(bridge);
    }
}
