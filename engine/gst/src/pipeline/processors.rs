//! The bridges between GStreamer pads and in-process processors.
//!
//! A raw-video link into a processor becomes
//! `queue leaky=downstream max-size-buffers=1 ! videorate drop-only=true max-rate=N
//!  ! videoscale ! videoconvert ! caps ! appsink sync=false` and then a bounded
//! channel to the processor's own thread. The channel keeps the newest input:
//! when the processor is still busy, the oldest waiting input is dropped and
//! counted. Nothing on this side ever blocks a streaming thread, so a slow or
//! stuck processor costs the record path nothing.
//!
//! Offline (a file being analysed, `PipelineOptions::offline`) is the
//! exception: queues do not leak and a full channel waits, so every input
//! reaches its processor; workers drain what is queued when the file ends,
//! upstream first. There is no record path there to protect.

use super::Shared;
use super::stats::Counters;
use crate::error::BuildError;
use crate::kind::chain;
use crate::sample::{callback_sink, running_ns};
use clipshot_core::PixelFormat;
use clipshot_core::processor::{AudioChunk, Input, Outputs, Processor, Tensor, VideoFrame, VideoInput};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often an idle processor thread looks at its stop flag.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long a stop waits for a processor to finish its current call before
/// leaving the thread behind (a stuck processor must not hang a stop).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// One input waiting for a processor.
pub(crate) enum Item {
    Video { buffer: gst::MappedBuffer<gst::buffer::Readable>, info: FrameInfo },
    Audio { buffer: gst::MappedBuffer<gst::buffer::Readable>, rate: u32, channels: u16, pts_ns: i64 },
    Tensor(Tensor),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameInfo {
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: u32,
    pts_ns: i64,
}

impl Item {
    /// The capture time of the frame the input comes from, on the ring's timeline.
    fn pts_ns(&self) -> i64 {
        match self {
            Self::Video { info, .. } => info.pts_ns,
            Self::Audio { pts_ns, .. } => *pts_ns,
            Self::Tensor(t) => t.pts_ns,
        }
    }

    fn input(&self) -> Input<'_> {
        match self {
            Self::Video { buffer, info } => Input::Video(VideoFrame {
                format: info.format,
                width: info.width,
                height: info.height,
                stride: info.stride,
                data: buffer.as_slice(),
                pts_ns: info.pts_ns,
            }),
            Self::Audio { buffer, rate, channels, pts_ns } => Input::Audio(AudioChunk {
                rate: *rate,
                channels: *channels,
                // F32LE caps make the buffer f32 samples; a misaligned or odd
                // length (never seen from audioconvert) yields no samples.
                samples: bytemuck_f32(buffer.as_slice()),
                pts_ns: *pts_ns,
            }),
            Self::Tensor(t) => Input::Tensor(t),
        }
    }
}

fn bytemuck_f32(bytes: &[u8]) -> &[f32] {
    // SAFETY: any bit pattern is a valid f32; `align_to` gives the aligned middle.
    let (head, floats, _) = unsafe { bytes.align_to::<f32>() };
    if head.is_empty() { floats } else { &[] }
}

struct Message(String, Item);

/// The sending end of a processor's queue: drops the oldest waiting input
/// when full, and counts it on the processor's node.
#[derive(Clone)]
pub(crate) struct Inlet {
    tx: Sender<Message>,
    /// A receiver of the same channel, to drop the oldest input when full.
    /// None when lossless: then the channel closes with its worker, and a
    /// push to a stopped processor fails at once.
    oldest: Option<Receiver<Message>>,
    counters: Arc<Counters>,
    /// Offline (a file being analysed): wait for room instead of dropping.
    lossless: bool,
}

impl Inlet {
    pub fn push(&self, pad: &str, item: Item) {
        let mut message = Message(pad.to_owned(), item);
        if self.lossless {
            // A processor that takes this long on one input is stuck: drop
            // rather than hold a stopping pipeline forever.
            if self.tx.send_timeout(message, std::time::Duration::from_secs(30)).is_err() {
                Counters::add(&self.counters.dropped, 1);
            }
            return;
        }
        loop {
            match self.tx.try_send(message) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    message = back;
                    if self.oldest.as_ref().is_some_and(|o| o.try_recv().is_ok()) {
                        Counters::add(&self.counters.dropped, 1);
                    }
                }
            }
        }
    }
}

/// A processor's queue, created before any worker starts so that processors
/// can feed each other whatever the build order.
pub(crate) struct Queue {
    pub inlet: Inlet,
    rx: Receiver<Message>,
}

impl Queue {
    /// `capacity` 1 for video-only processors: only the newest frame matters.
    pub fn new(capacity: usize, counters: Arc<Counters>, lossless: bool) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let oldest = (!lossless).then(|| rx.clone());
        Self { inlet: Inlet { tx, oldest, counters, lossless }, rx }
    }
}

/// A processor's thread; dropping it flushes and joins the processor.
pub(crate) struct Worker {
    node: String,
    /// Offline: wait for the drain however long it takes.
    lossless: bool,
    stop: Arc<AtomicBool>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(
        shared: Arc<Shared>,
        node: String,
        mut processor: Box<dyn Processor>,
        queue: Queue,
    ) -> Result<Self, BuildError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let counters = Arc::clone(&queue.inlet.counters);
        let lossless = queue.inlet.lossless;
        let (flag, id) = (Arc::clone(&stop), node.clone());
        let thread = std::thread::Builder::new()
            .name(format!("proc:{node}"))
            .spawn(move || {
                let mut out = Outputs::default();
                while !flag.load(Ordering::Relaxed) {
                    let Message(pad, item) = match queue.rx.recv_timeout(IDLE_POLL) {
                        Ok(message) => message,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    Counters::add(&counters.frames_in, 1);
                    let began = Instant::now();
                    // A panicking processor stops; the pipeline and its record path go on.
                    let result =
                        std::panic::catch_unwind(AssertUnwindSafe(|| processor.process(&pad, item.input(), &mut out)));
                    Counters::add(&counters.busy_ns, began.elapsed().as_nanos() as u64);
                    match result {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            Counters::add(&counters.errors, 1);
                            tracing::debug!(node = %id, error = %e, "processor failed on one input");
                        }
                        Err(_) => {
                            Counters::add(&counters.errors, 1);
                            tracing::error!(node = %id, "processor panicked; it is stopped until the pipeline restarts");
                            let _ = done_tx.send(());
                            return;
                        }
                    }
                    shared.route(&id, &mut out);
                    // Capture → this input done, on the live timeline only:
                    // offline, inputs wait by design.
                    if !lossless && let Some(now) = shared.timeline_now_ns() {
                        counters.latency.record_ns(now - item.pts_ns());
                    }
                }
                // Offline, what is still queued at the end is analysed too.
                while lossless && let Ok(Message(pad, item)) = queue.rx.try_recv() {
                    Counters::add(&counters.frames_in, 1);
                    let began = Instant::now();
                    let result =
                        std::panic::catch_unwind(AssertUnwindSafe(|| processor.process(&pad, item.input(), &mut out)));
                    Counters::add(&counters.busy_ns, began.elapsed().as_nanos() as u64);
                    match result {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => Counters::add(&counters.errors, 1),
                        Err(_) => {
                            Counters::add(&counters.errors, 1);
                            let _ = done_tx.send(());
                            return;
                        }
                    }
                    shared.route(&id, &mut out);
                }
                if std::panic::catch_unwind(AssertUnwindSafe(|| processor.flush(&mut out))).is_ok() {
                    shared.route(&id, &mut out);
                }
                let _ = done_tx.send(());
            })
            .map_err(|e| BuildError::Node { node: node.clone(), message: format!("cannot start a thread: {e}") })?;
        Ok(Self { node, lossless, stop, done, thread: Some(thread) })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.thread.take() else { return };
        let grace = if self.lossless { Duration::from_secs(3600) } else { STOP_GRACE };
        if self.done.recv_timeout(grace).is_ok() {
            let _ = thread.join();
        } else {
            // Stuck in a call: leave the thread behind rather than hang the stop.
            tracing::warn!(node = %self.node, "processor did not stop within {grace:?}; its thread is left behind");
        }
    }
}

fn gst_format(format: PixelFormat) -> &'static str {
    match format {
        PixelFormat::Rgba => "RGBA",
        PixelFormat::Bgra => "BGRA",
        PixelFormat::Nv12 => "NV12",
        PixelFormat::I420 => "I420",
    }
}

fn make(pipeline: &gst::Pipeline, factory: &str, name: &str) -> Result<gst::Element, BuildError> {
    let e = gst::ElementFactory::make(factory).name(name).build().map_err(|_| BuildError::MissingElement {
        node: name.to_owned(),
        element: factory.to_owned(),
        hint: crate::kind::install_hint(factory),
    })?;
    pipeline.add(&e).map_err(|e| BuildError::Start(e.to_string()))?;
    Ok(e)
}

/// The parts of a sample a bridge needs, on the ring's timeline.
fn parts(sample: &gst::Sample, offset_ns: i64) -> Option<(gst::Buffer, &gst::CapsRef, i64)> {
    let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
    let buffer = sample.buffer_owned()?;
    let pts_ns = running_ns(segment, buffer.pts()).unwrap_or(0) + offset_ns;
    Some((buffer, sample.caps()?, pts_ns))
}

/// Adds the raw-video bridge named after the link and returns its sink pad.
pub(crate) fn video_bridge(
    pipeline: &gst::Pipeline,
    link: &str,
    want: VideoInput,
    to_pad: &str,
    inlet: Inlet,
    offset_ns: i64,
) -> Result<gst::Pad, BuildError> {
    let queue = make(pipeline, "queue", &format!("{link}.queue"))?;
    // Live: a busy processor loses input, never holds the pipeline back.
    // Offline (a file being analysed): every input arrives, in turn.
    if !inlet.lossless {
        queue.set_property_from_str("leaky", "downstream");
    }
    queue.set_property("max-size-buffers", 1u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 0u64);
    let rate = make(pipeline, "videorate", &format!("{link}.rate"))?;
    rate.set_property("drop-only", true);
    rate.set_property("max-rate", (want.max_fps.ceil() as i32).max(1));
    let scale = make(pipeline, "videoscale", &format!("{link}.scale"))?;
    let convert = make(pipeline, "videoconvert", &format!("{link}.convert"))?;
    let caps = make(pipeline, "capsfilter", &format!("{link}.caps"))?;
    let mut c = gst::Caps::builder("video/x-raw").field("format", gst_format(want.format));
    if let Some(w) = want.width {
        c = c.field("width", w as i32).field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    }
    caps.set_property("caps", c.build());
    let to_pad = to_pad.to_owned();
    let sink = callback_sink(&format!("{link}.sink"), move |sample, _| {
        let Some((buffer, caps, pts_ns)) = parts(&sample, offset_ns) else { return };
        let Ok(info) = gst_video::VideoInfo::from_caps(caps) else { return };
        if let Ok(buffer) = buffer.into_mapped_buffer_readable() {
            let (width, height, stride) = (info.width(), info.height(), info.stride()[0] as u32);
            let info = FrameInfo { format: want.format, width, height, stride, pts_ns };
            inlet.push(&to_pad, Item::Video { buffer, info });
        }
    });
    // Only the newest frame is of use to a processor.
    sink.set_max_buffers(1);
    sink.set_drop(true);
    pipeline.add(&sink).map_err(|e| BuildError::Start(e.to_string()))?;
    chain(&[&queue, &rate, &scale, &convert, &caps, sink.upcast_ref()])?;
    let pad = queue.static_pad("sink").expect("queue has a sink pad");
    // Take whatever the source gives: left alone, the bridge's converter
    // answers the source's caps query with its own format first, the source
    // then produces that (RGBA) and the *record* branch converts every frame
    // (measured: 1.58x the record path's CPU). Converting the few frames
    // that reach the processor costs next to nothing.
    pad.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, |_, info| {
        let Some(gst::PadProbeData::Query(query)) = &mut info.data else { return gst::PadProbeReturn::Ok };
        let gst::QueryViewMut::Caps(q) = query.view_mut() else { return gst::PadProbeReturn::Ok };
        let any = gst::Caps::new_empty_simple("video/x-raw");
        let result = match q.filter() {
            Some(filter) => filter.intersect_with_mode(&any, gst::CapsIntersectMode::First),
            None => any,
        };
        q.set_result(&result);
        gst::PadProbeReturn::Handled
    });
    Ok(pad)
}

/// Adds the raw-audio bridge (interleaved F32) and returns its sink pad.
pub(crate) fn audio_bridge(
    pipeline: &gst::Pipeline,
    link: &str,
    to_pad: &str,
    inlet: Inlet,
    offset_ns: i64,
) -> Result<gst::Pad, BuildError> {
    let queue = make(pipeline, "queue", &format!("{link}.queue"))?;
    // Live: a busy processor loses input, never holds the pipeline back.
    // Offline (a file being analysed): every input arrives, in turn.
    if !inlet.lossless {
        queue.set_property_from_str("leaky", "downstream");
    }
    let convert = make(pipeline, "audioconvert", &format!("{link}.convert"))?;
    let caps = make(pipeline, "capsfilter", &format!("{link}.caps"))?;
    caps.set_property(
        "caps",
        gst::Caps::builder("audio/x-raw").field("format", "F32LE").field("layout", "interleaved").build(),
    );
    let to_pad = to_pad.to_owned();
    let sink = callback_sink(&format!("{link}.sink"), move |sample, _| {
        let Some((buffer, caps, pts_ns)) = parts(&sample, offset_ns) else { return };
        let s = caps.structure(0);
        let rate = s.and_then(|s| s.get::<i32>("rate").ok()).unwrap_or(48_000) as u32;
        let channels = s.and_then(|s| s.get::<i32>("channels").ok()).unwrap_or(2) as u16;
        if let Ok(buffer) = buffer.into_mapped_buffer_readable() {
            inlet.push(&to_pad, Item::Audio { buffer, rate, channels, pts_ns });
        }
    });
    pipeline.add(&sink).map_err(|e| BuildError::Start(e.to_string()))?;
    chain(&[&queue, &convert, &caps, sink.upcast_ref()])?;
    Ok(queue.static_pad("sink").expect("queue has a sink pad"))
}
