//! The host's side of the C boundary: sinks and emitters that copy what a
//! plugin hands them, and the C views of an input. Shared by the in-process
//! path and the out-of-process host, so both call a plugin the same way.

use clipshot_core::PixelFormat;
use clipshot_core::processor::Input;
use clipshot_plugin_sdk::abi::*;
use serde::{Deserialize, Serialize};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// At most this much text per sink (a description, an error, stats).
const SINK_LIMIT: usize = 1 << 20;
/// At most this many outputs per call, and this many floats per tensor.
const MAX_OUTPUTS: usize = 1024;
const MAX_TENSOR: usize = 1 << 24;

pub(crate) fn status_name(status: CsStatus) -> String {
    match status {
        CS_OK => "ok".into(),
        CS_ERROR => "error".into(),
        CS_PANIC => "panic".into(),
        CS_INVALID_ARGUMENT => "invalid argument".into(),
        other => format!("status {other}"),
    }
}

/// A host-owned text buffer behind a [`CsSink`].
#[derive(Debug, Default)]
pub(crate) struct SinkBuf {
    bytes: Vec<u8>,
}

unsafe extern "C" fn sink_write(ctx: *mut c_void, text: CsStr) {
    // A panic must not unwind into the plugin's frames.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `ctx` is the SinkBuf that made the sink, alive for the call.
        let buf = unsafe { &mut *ctx.cast::<SinkBuf>() };
        // SAFETY: the plugin passes readable bytes for the call.
        let bytes = unsafe { text.as_bytes() };
        if buf.bytes.len() + bytes.len() <= SINK_LIMIT {
            buf.bytes.extend_from_slice(bytes);
        }
    }));
}

impl SinkBuf {
    pub(crate) fn sink(&mut self) -> CsSink {
        CsSink { ctx: (self as *mut Self).cast(), write: sink_write }
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The plugin's message, or the status when it wrote none.
    pub(crate) fn message_or(&self, status: CsStatus) -> String {
        if self.bytes.is_empty() { format!("failed without a message ({})", status_name(status)) } else { self.text() }
    }
}

/// An output as a plugin emitted it, before the engine checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RawOutput {
    Tensor { pad: String, shape: Vec<usize>, data: Vec<f32>, pts_ns: i64 },
    Event(String),
    Marker { at_ns: i64, label: Option<String> },
    Save { at_ns: i64, pre_seconds: f64, post_seconds: f64 },
}

/// What one call produced: outputs, the error explanation, log lines.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResult {
    pub status: CsStatus,
    pub outputs: Vec<RawOutput>,
    pub error: Option<String>,
    pub logs: Vec<(u32, String)>,
}

/// Receives a call's outputs through a [`CsEmitter`].
#[derive(Debug, Default)]
pub(crate) struct Collector {
    pub(crate) result: CallResult,
}

fn collect(ctx: *mut c_void, f: impl FnOnce(&mut CallResult) -> CsStatus) -> CsStatus {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `ctx` is the Collector that made the emitter, alive for the call.
        let collector = unsafe { &mut *ctx.cast::<Collector>() };
        if collector.result.outputs.len() >= MAX_OUTPUTS {
            return CS_INVALID_ARGUMENT;
        }
        f(&mut collector.result)
    }))
    .unwrap_or(CS_INVALID_ARGUMENT)
}

unsafe extern "C" fn emit_tensor(ctx: *mut c_void, pad: CsStr, tensor: *const CsTensor) -> CsStatus {
    collect(ctx, |r| {
        // SAFETY: the plugin's views are valid for the call.
        let Some(t) = (unsafe { tensor.as_ref() }) else { return CS_INVALID_ARGUMENT };
        if t.len > MAX_TENSOR || t.ndim > 8 || (t.len > 0 && t.data.is_null()) || (t.ndim > 0 && t.shape.is_null()) {
            return CS_INVALID_ARGUMENT;
        }
        // SAFETY: checked non-null above; lengths as the plugin states them.
        let (shape, data) = unsafe {
            (
                if t.ndim == 0 { &[][..] } else { std::slice::from_raw_parts(t.shape, t.ndim) },
                if t.len == 0 { &[][..] } else { std::slice::from_raw_parts(t.data, t.len) },
            )
        };
        if shape.iter().product::<usize>() != data.len() {
            return CS_INVALID_ARGUMENT;
        }
        // SAFETY: as above.
        let pad = unsafe { pad.to_string_lossy() };
        r.outputs.push(RawOutput::Tensor { pad, shape: shape.to_vec(), data: data.to_vec(), pts_ns: t.pts_ns });
        CS_OK
    })
}

unsafe extern "C" fn emit_event(ctx: *mut c_void, json: CsStr) -> CsStatus {
    collect(ctx, |r| {
        // SAFETY: valid for the call.
        let bytes = unsafe { json.as_bytes() };
        if bytes.len() > SINK_LIMIT {
            return CS_INVALID_ARGUMENT;
        }
        r.outputs.push(RawOutput::Event(String::from_utf8_lossy(bytes).into_owned()));
        CS_OK
    })
}

unsafe extern "C" fn emit_marker(ctx: *mut c_void, at_ns: i64, label: CsStr) -> CsStatus {
    collect(ctx, |r| {
        // SAFETY: valid for the call.
        let label = unsafe { label.to_string_lossy() };
        r.outputs.push(RawOutput::Marker { at_ns, label: (!label.is_empty()).then_some(label) });
        CS_OK
    })
}

unsafe extern "C" fn emit_save(ctx: *mut c_void, at_ns: i64, pre_seconds: f64, post_seconds: f64) -> CsStatus {
    collect(ctx, |r| {
        if !(pre_seconds.is_finite() && post_seconds.is_finite() && pre_seconds >= 0.0 && post_seconds >= 0.0) {
            return CS_INVALID_ARGUMENT;
        }
        r.outputs.push(RawOutput::Save { at_ns, pre_seconds, post_seconds });
        CS_OK
    })
}

unsafe extern "C" fn emit_error(ctx: *mut c_void, message: CsStr) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `collect`.
        let collector = unsafe { &mut *ctx.cast::<Collector>() };
        // SAFETY: valid for the call.
        let text = unsafe { message.to_string_lossy() };
        collector.result.error = Some(text.chars().take(4096).collect());
    }));
}

unsafe extern "C" fn emit_log(ctx: *mut c_void, level: CsLogLevel, message: CsStr) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `collect`.
        let collector = unsafe { &mut *ctx.cast::<Collector>() };
        if collector.result.logs.len() < 64 {
            // SAFETY: valid for the call.
            let text = unsafe { message.to_string_lossy() };
            collector.result.logs.push((level, text.chars().take(4096).collect()));
        }
    }));
}

impl Collector {
    pub(crate) fn emitter(&mut self) -> CsEmitter {
        CsEmitter {
            ctx: (self as *mut Self).cast(),
            tensor: emit_tensor,
            event: emit_event,
            marker: emit_marker,
            save: emit_save,
            error: emit_error,
            log: emit_log,
        }
    }
}

/// An input, with video planes located: what both the in-process path (from
/// the engine's [`Input`]) and the out-of-process host (from shared memory)
/// hand to [`with_c_input`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum InputRef<'a> {
    Video { format: CsPixelFormat, width: u32, height: u32, planes: Planes, data: &'a [u8], pts_ns: i64 },
    Audio { rate: u32, channels: u32, samples: &'a [f32], pts_ns: i64 },
    Tensor { shape: &'a [usize], data: &'a [f32], pts_ns: i64 },
    Event(&'a str),
}

/// Where the planes of a frame lie in its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planes {
    pub count: u32,
    pub offsets: [usize; 4],
    pub strides: [u32; 4],
    pub sizes: [usize; 4],
}

const fn round_up(v: usize, to: usize) -> usize {
    v.div_ceil(to) * to
}

/// Plane layout of a frame as GStreamer lays it out for `stride` (the
/// first plane's), clipped to the bytes there are.
pub(crate) fn planes(format: PixelFormat, width: u32, height: u32, stride: u32, len: usize) -> Planes {
    let (w, h, s) = (width as usize, height as usize, stride as usize);
    let mut p = Planes { count: 1, offsets: [0; 4], strides: [stride, 0, 0, 0], sizes: [len, 0, 0, 0] };
    match format {
        PixelFormat::Rgba | PixelFormat::Bgra => {}
        PixelFormat::Nv12 => {
            let y = s * round_up(h, 2);
            p.count = 2;
            p.sizes[0] = (s * h).min(len);
            p.offsets[1] = y.min(len);
            p.strides[1] = stride;
            p.sizes[1] = (s * h.div_ceil(2)).min(len - p.offsets[1]);
        }
        PixelFormat::I420 => {
            let cs = round_up(round_up(w, 2) / 2, 4);
            let ch = round_up(h, 2) / 2;
            p.count = 3;
            p.sizes[0] = (s * h).min(len);
            p.offsets[1] = (s * round_up(h, 2)).min(len);
            p.offsets[2] = (p.offsets[1] + cs * ch).min(len);
            p.strides[1] = cs as u32;
            p.strides[2] = cs as u32;
            p.sizes[1] = (cs * ch).min(len - p.offsets[1]);
            p.sizes[2] = (cs * ch).min(len - p.offsets[2]);
        }
    }
    p
}

pub(crate) const fn format_to_abi(format: PixelFormat) -> CsPixelFormat {
    match format {
        PixelFormat::Rgba => CS_PIXEL_RGBA,
        PixelFormat::Bgra => CS_PIXEL_BGRA,
        PixelFormat::Nv12 => CS_PIXEL_NV12,
        PixelFormat::I420 => CS_PIXEL_I420,
    }
}

pub(crate) const fn format_from_abi(format: CsPixelFormat) -> Option<PixelFormat> {
    match format {
        CS_PIXEL_RGBA => Some(PixelFormat::Rgba),
        CS_PIXEL_BGRA => Some(PixelFormat::Bgra),
        CS_PIXEL_NV12 => Some(PixelFormat::Nv12),
        CS_PIXEL_I420 => Some(PixelFormat::I420),
        _ => None,
    }
}

/// The engine's input as an [`InputRef`]; events are serialized into `json`.
pub(crate) fn input_ref<'a>(input: &Input<'a>, json: &'a mut String) -> InputRef<'a> {
    match *input {
        Input::Video(f) => InputRef::Video {
            format: format_to_abi(f.format),
            width: f.width,
            height: f.height,
            planes: planes(f.format, f.width, f.height, f.stride, f.data.len()),
            data: f.data,
            pts_ns: f.pts_ns,
        },
        Input::Audio(a) => {
            InputRef::Audio { rate: a.rate, channels: u32::from(a.channels), samples: a.samples, pts_ns: a.pts_ns }
        }
        Input::Tensor(t) => InputRef::Tensor { shape: &t.shape, data: &t.data, pts_ns: t.pts_ns },
        Input::Event(e) => {
            *json = serde_json::to_string(e).unwrap_or_default();
            InputRef::Event(json)
        }
    }
}

/// Calls `f` with the C view of `input` (valid only during `f`).
pub(crate) fn with_c_input<R>(input: &InputRef<'_>, f: impl FnOnce(&CsInput) -> R) -> R {
    let mut c = CsInput {
        kind: 0,
        video: std::ptr::null(),
        audio: std::ptr::null(),
        tensor: std::ptr::null(),
        event: CsStr::EMPTY,
    };
    match *input {
        InputRef::Video { format, width, height, planes, data, pts_ns } => {
            let mut frame = CsVideoFrame {
                format,
                width,
                height,
                plane_count: planes.count,
                planes: [std::ptr::null(); 4],
                strides: planes.strides,
                plane_sizes: planes.sizes,
                pts_ns,
            };
            for i in 0..planes.count as usize {
                if planes.sizes[i] > 0 {
                    frame.planes[i] = data[planes.offsets[i]..].as_ptr();
                }
            }
            c.kind = CS_INPUT_VIDEO;
            c.video = &frame;
            f(&c)
        }
        InputRef::Audio { rate, channels, samples, pts_ns } => {
            let audio = CsAudioChunk { rate, channels, samples: samples.as_ptr(), len: samples.len(), pts_ns };
            c.kind = CS_INPUT_AUDIO;
            c.audio = &audio;
            f(&c)
        }
        InputRef::Tensor { shape, data, pts_ns } => {
            let tensor =
                CsTensor { shape: shape.as_ptr(), ndim: shape.len(), data: data.as_ptr(), len: data.len(), pts_ns };
            c.kind = CS_INPUT_TENSOR;
            c.tensor = &tensor;
            f(&c)
        }
        InputRef::Event(json) => {
            c.kind = CS_INPUT_EVENT;
            c.event = CsStr::new(json);
            f(&c)
        }
    }
}

/// One call of a node's `process` with a fresh collector.
///
/// # Safety
/// `node` must be a live handle created by `vtable.create`.
pub(crate) unsafe fn call_process(
    vtable: &CsNodeVtable,
    node: *mut c_void,
    pad: &str,
    input: &InputRef<'_>,
) -> CallResult {
    let mut collector = Collector::default();
    let emitter = collector.emitter();
    let status = with_c_input(input, |c| {
        // SAFETY: the caller guarantees the handle; the views live for the call.
        unsafe { (vtable.process)(node, CsStr::new(pad), c, &emitter) }
    });
    collector.result.status = status;
    collector.result
}

/// One call of a node's `flush`.
///
/// # Safety
/// As [`call_process`].
pub(crate) unsafe fn call_flush(vtable: &CsNodeVtable, node: *mut c_void) -> CallResult {
    let mut collector = Collector::default();
    let emitter = collector.emitter();
    // SAFETY: the caller guarantees the handle.
    let status = unsafe { (vtable.flush)(node, &emitter) };
    collector.result.status = status;
    collector.result
}

/// How a node asked for video, in the engine's terms.
pub(crate) fn video_input(v: &CsVideoInput) -> clipshot_core::processor::VideoInput {
    clipshot_core::processor::VideoInput {
        max_fps: if v.max_fps.is_finite() && v.max_fps > 0.0 { v.max_fps.min(240.0) } else { 8.0 },
        width: (v.width > 0).then_some(v.width.min(7680)),
        format: format_from_abi(v.format).unwrap_or(PixelFormat::Rgba),
    }
}

/// What `create` needs besides the props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateArgs {
    pub kind: String,
    pub props: String,
    pub pipeline: String,
    pub node: String,
    pub data_dir: String,
    pub config: String,
}

/// Creates a node: the handle and how it wants video, or the plugin's reason.
///
/// # Safety
/// `vtable` must come from a checked descriptor.
pub(crate) unsafe fn call_create(
    vtable: &CsNodeVtable,
    args: &CreateArgs,
) -> Result<(*mut c_void, CsVideoInput), (CsStatus, String)> {
    let ctx = CsCreateContext {
        pipeline: CsStr::new(&args.pipeline),
        node: CsStr::new(&args.node),
        data_dir: CsStr::new(&args.data_dir),
        config: CsStr::new(&args.config),
    };
    let mut error = SinkBuf::default();
    let mut node: *mut c_void = std::ptr::null_mut();
    let mut video = CsVideoInput { max_fps: 8.0, width: 0, format: CS_PIXEL_RGBA };
    // SAFETY: the caller guarantees the vtable; every pointer lives for the call.
    let status = unsafe { (vtable.create)(CsStr::new(&args.props), &ctx, &error.sink(), &mut node, &mut video) };
    if status == CS_OK && !node.is_null() {
        Ok((node, video))
    } else if status == CS_OK {
        Err((CS_ERROR, "create returned no node".into()))
    } else {
        Err((status, error.message_or(status)))
    }
}

/// The node's own counters as JSON (an empty object when it has none).
///
/// # Safety
/// As [`call_process`].
pub(crate) unsafe fn call_stats(vtable: &CsNodeVtable, node: *mut c_void) -> serde_json::Value {
    let mut out = SinkBuf::default();
    // SAFETY: the caller guarantees the handle.
    let status = unsafe { (vtable.stats)(node, &out.sink()) };
    if status != CS_OK {
        return serde_json::json!({});
    }
    serde_json::from_str(&out.text()).unwrap_or_else(|_| serde_json::json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_layouts_match_gstreamer() {
        // 640x360 I420: Y stride 640, chroma stride 320, 180 rows each.
        let p = planes(PixelFormat::I420, 640, 360, 640, 640 * 360 * 3 / 2);
        assert_eq!(p.count, 3);
        assert_eq!(p.offsets, [0, 640 * 360, 640 * 360 + 320 * 180, 0]);
        assert_eq!(p.strides[..3], [640, 320, 320]);
        assert_eq!(p.sizes[..3], [640 * 360, 320 * 180, 320 * 180]);
        // NV12 with an odd height: the UV plane starts after an even row count.
        let p = planes(PixelFormat::Nv12, 4, 3, 4, 4 * 4 + 4 * 2);
        assert_eq!((p.count, p.offsets[1], p.sizes[1]), (2, 16, 8));
        // A short buffer never yields a plane past its end.
        let p = planes(PixelFormat::I420, 640, 360, 640, 1000);
        assert!(p.offsets.iter().zip(p.sizes).all(|(o, s)| o + s <= 1000));
    }
}
