//! Write ClipShot pipeline nodes as shared libraries.
//!
//! A plugin node is the same thing as a built-in processor node: it declares
//! pads and a props type, is created from props, and is fed frames, audio,
//! tensors or events on a thread of its own, answering with tensors, events,
//! markers and save requests. This crate serves that contract over the
//! stable C ABI in [`abi`]; an author writes an ordinary trait impl:
//!
//! ```
//! use clipshot_plugin_sdk::{export_plugin, Emitter, Input, Pad, PluginNode, CreateContext, VideoInput};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Props { threshold: f32 }
//!
//! struct Bright { threshold: f32 }
//!
//! impl PluginNode for Bright {
//!     type Props = Props;
//!     const KIND: &'static str = "example.bright";
//!     const SUMMARY: &'static str = "A marker when the frame turns bright";
//!     fn pads() -> Vec<Pad> { vec![Pad::input("video", "raw-video")] }
//!     fn create(props: Props, _ctx: &CreateContext) -> Result<(Self, VideoInput), String> {
//!         Ok((Bright { threshold: props.threshold }, VideoInput::default()))
//!     }
//!     fn process(&mut self, _pad: &str, input: Input<'_>, out: &mut Emitter<'_>) -> Result<(), String> {
//!         if let Input::Video(frame) = input {
//!             let plane = frame.plane(0);
//!             let mean = plane.iter().map(|&b| f32::from(b)).sum::<f32>() / plane.len().max(1) as f32;
//!             if mean > self.threshold { out.marker(frame.pts_ns, Some("bright"))?; }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! export_plugin! { id: "com.example.bright", version: "0.1.0", nodes: [Bright] }
//! # fn main() {}
//! ```
//!
//! The export macro wraps every entry point in `catch_unwind` (a panic that
//! leaves an `extern "C"` function aborts the engine), and refuses to build
//! with `panic = "abort"`, where nothing could be caught.

pub mod abi;

use abi::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The SDK's version, as the descriptor reports it.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The compiler that built the SDK and the plugin with it.
pub const COMPILER: &str = env!("CLIPSHOT_SDK_RUSTC");

/// Media types of pads (the engine's names).
pub mod media {
    pub const RAW_VIDEO: &str = "raw-video";
    pub const RAW_AUDIO: &str = "raw-audio";
    pub const TENSOR: &str = "tensor";
    pub const EVENTS: &str = "events";
}

/// One pad of a node kind.
#[derive(Debug, Clone, Serialize)]
pub struct Pad {
    pub name: String,
    /// `in` or `out`.
    pub direction: &'static str,
    /// A media type from [`media`].
    pub media: String,
    pub required: bool,
}

impl Pad {
    /// A required input.
    pub fn input(name: &str, media: &str) -> Self {
        Self { name: name.to_owned(), direction: "in", media: media.to_owned(), required: true }
    }

    /// An output (not required to be linked).
    pub fn output(name: &str, media: &str) -> Self {
        Self { name: name.to_owned(), direction: "out", media: media.to_owned(), required: false }
    }

    #[must_use]
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }
}

/// Pixel formats a node may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgba,
    Bgra,
    Nv12,
    I420,
}

impl PixelFormat {
    pub const fn to_abi(self) -> CsPixelFormat {
        match self {
            Self::Rgba => CS_PIXEL_RGBA,
            Self::Bgra => CS_PIXEL_BGRA,
            Self::Nv12 => CS_PIXEL_NV12,
            Self::I420 => CS_PIXEL_I420,
        }
    }

    pub const fn from_abi(format: CsPixelFormat) -> Option<Self> {
        match format {
            CS_PIXEL_RGBA => Some(Self::Rgba),
            CS_PIXEL_BGRA => Some(Self::Bgra),
            CS_PIXEL_NV12 => Some(Self::Nv12),
            CS_PIXEL_I420 => Some(Self::I420),
            _ => None,
        }
    }
}

/// How a node wants raw video delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInput {
    pub max_fps: f64,
    /// Scale to this width keeping the aspect ratio; the source size when `None`.
    pub width: Option<u32>,
    pub format: PixelFormat,
}

impl Default for VideoInput {
    fn default() -> Self {
        Self { max_fps: 8.0, width: None, format: PixelFormat::Rgba }
    }
}

/// Where the node runs.
#[derive(Debug, Clone)]
pub struct CreateContext {
    pub pipeline: String,
    pub node: String,
    /// The plugin's own data directory.
    pub data_dir: PathBuf,
    /// The plugin's configuration (the manifest's `config`, as the user set it).
    pub config: serde_json::Value,
}

/// A read-only view of one frame, valid during the call.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub pts_ns: i64,
    planes: [&'a [u8]; 4],
    strides: [u32; 4],
    plane_count: usize,
}

impl<'a> Frame<'a> {
    /// Builds a view over planes (for tests of a node's logic).
    pub fn new(format: PixelFormat, width: u32, height: u32, planes: &[(&'a [u8], u32)], pts_ns: i64) -> Self {
        let mut frame =
            Self { format, width, height, pts_ns, planes: [&[]; 4], strides: [0; 4], plane_count: planes.len().min(4) };
        for (i, (data, stride)) in planes.iter().take(4).enumerate() {
            frame.planes[i] = data;
            frame.strides[i] = *stride;
        }
        frame
    }

    pub fn plane_count(&self) -> usize {
        self.plane_count
    }

    /// The bytes of plane `i` (empty past the last plane).
    pub fn plane(&self, i: usize) -> &'a [u8] {
        if i < self.plane_count { self.planes[i] } else { &[] }
    }

    pub fn stride(&self, i: usize) -> u32 {
        if i < self.plane_count { self.strides[i] } else { 0 }
    }

    /// Row `y` of plane 0 (without its padding), for packed formats the
    /// pixels `4 × width` bytes long.
    pub fn row(&self, y: u32) -> &'a [u8] {
        let bpp = match self.format {
            PixelFormat::Rgba | PixelFormat::Bgra => 4,
            PixelFormat::Nv12 | PixelFormat::I420 => 1,
        };
        let start = y as usize * self.strides[0] as usize;
        let end = start + self.width as usize * bpp;
        self.planes[0].get(start..end).unwrap_or(&[])
    }
}

/// Interleaved float audio, valid during the call.
#[derive(Debug, Clone, Copy)]
pub struct Audio<'a> {
    pub rate: u32,
    pub channels: u32,
    pub samples: &'a [f32],
    pub pts_ns: i64,
}

/// A tensor, valid during the call.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub shape: &'a [usize],
    pub data: &'a [f32],
    pub pts_ns: i64,
}

/// What a node is given.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Video(Frame<'a>),
    Audio(Audio<'a>),
    Tensor(TensorView<'a>),
    /// An engine event as JSON.
    Event(&'a str),
}

/// Log levels for [`Emitter::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

/// The host's callbacks during one call: what a node emits is copied by the host.
#[derive(Debug)]
pub struct Emitter<'a> {
    raw: &'a CsEmitter,
}

fn status(code: CsStatus, what: &str) -> Result<(), String> {
    if code == CS_OK { Ok(()) } else { Err(format!("the host refused the {what} (status {code})")) }
}

impl<'a> Emitter<'a> {
    /// Wraps the host's emitter.
    ///
    /// # Safety
    /// `raw`'s callbacks must be callable with its `ctx` for `'a`.
    pub unsafe fn from_raw(raw: &'a CsEmitter) -> Self {
        Self { raw }
    }

    /// A tensor on output `pad`.
    pub fn tensor(&mut self, pad: &str, shape: &[usize], data: &[f32], pts_ns: i64) -> Result<(), String> {
        let t = CsTensor { shape: shape.as_ptr(), ndim: shape.len(), data: data.as_ptr(), len: data.len(), pts_ns };
        // SAFETY: the host's callback copies the borrowed views during the call.
        status(unsafe { (self.raw.tensor)(self.raw.ctx, CsStr::new(pad), &t) }, "tensor")
    }

    /// An engine event (`{"type": "highlight.detected", …}`); the host fills in `pipeline`.
    pub fn event(&mut self, event: &serde_json::Value) -> Result<(), String> {
        let json = event.to_string();
        // SAFETY: as above.
        status(unsafe { (self.raw.event)(self.raw.ctx, CsStr::new(&json)) }, "event")
    }

    /// A marker on the replay timeline.
    pub fn marker(&mut self, at_ns: i64, label: Option<&str>) -> Result<(), String> {
        let label = label.map_or(CsStr::EMPTY, CsStr::new);
        // SAFETY: as above.
        status(unsafe { (self.raw.marker)(self.raw.ctx, at_ns, label) }, "marker")
    }

    /// A clip from `pre_seconds` before `at_ns` to `post_seconds` after it.
    pub fn save(&mut self, at_ns: i64, pre_seconds: f64, post_seconds: f64) -> Result<(), String> {
        // SAFETY: as above.
        status(unsafe { (self.raw.save)(self.raw.ctx, at_ns, pre_seconds, post_seconds) }, "save")
    }

    /// A line in the engine's log.
    pub fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Error => CS_LOG_ERROR,
            Level::Warn => CS_LOG_WARN,
            Level::Info => CS_LOG_INFO,
            Level::Debug => CS_LOG_DEBUG,
        };
        // SAFETY: as above.
        unsafe { (self.raw.log)(self.raw.ctx, level, CsStr::new(message)) }
    }

    fn error(&self, message: &str) {
        // SAFETY: as above.
        unsafe { (self.raw.error)(self.raw.ctx, CsStr::new(message)) }
    }
}

/// A node kind written in Rust. The export macro turns it into a
/// [`CsNodeVtable`]; the engine sees it exactly like a built-in processor.
pub trait PluginNode: Sized + Send + 'static {
    /// The node's props; its JSON Schema is what the engine validates graphs against.
    type Props: DeserializeOwned + schemars::JsonSchema;
    /// Short dotted noun, unique among all node kinds (e.g. `killfeed.color`).
    const KIND: &'static str;
    /// One line for listings.
    const SUMMARY: &'static str;

    fn pads() -> Vec<Pad>;

    fn create(props: Self::Props, ctx: &CreateContext) -> Result<(Self, VideoInput), String>;

    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Emitter<'_>) -> Result<(), String>;

    /// End of stream or stop: emit what is pending.
    fn flush(&mut self, _out: &mut Emitter<'_>) -> Result<(), String> {
        Ok(())
    }

    /// The node's own counters (shown in the engine's node stats).
    fn stats(&self) -> serde_json::Value {
        serde_json::Value::Object(serde_json::Map::new())
    }
}

/// The description [`CsDescribeFn`] writes.
pub fn describe_json<N: PluginNode>() -> String {
    serde_json::json!({
        "kind": N::KIND,
        "summary": N::SUMMARY,
        "pads": N::pads(),
        "props_schema": schemars::schema_for!(N::Props),
    })
    .to_string()
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Writes `text` to a host sink.
///
/// # Safety
/// `sink` must be null or a valid host sink.
pub unsafe fn write_sink(sink: *const CsSink, text: &str) {
    // SAFETY: the caller passes a valid sink or null.
    if let Some(sink) = unsafe { sink.as_ref() } {
        // SAFETY: the host's write copies the borrowed bytes.
        unsafe { (sink.write)(sink.ctx, CsStr::new(text)) }
    }
}

unsafe extern "C" fn describe<N: PluginNode>(out: *const CsSink) -> CsStatus {
    match catch_unwind(describe_json::<N>) {
        Ok(json) => {
            // SAFETY: the host hands a valid sink.
            unsafe { write_sink(out, &json) };
            CS_OK
        }
        Err(_) => CS_PANIC,
    }
}

unsafe fn frame_from_abi<'a>(v: &CsVideoFrame) -> Result<Frame<'a>, String> {
    let format = PixelFormat::from_abi(v.format).ok_or_else(|| format!("unknown pixel format {}", v.format))?;
    let count = (v.plane_count as usize).min(4);
    let mut planes: [&'a [u8]; 4] = [&[]; 4];
    for (i, plane) in planes.iter_mut().enumerate().take(count) {
        if !v.planes[i].is_null() {
            // SAFETY: the host guarantees each plane's bytes for the call.
            *plane = unsafe { std::slice::from_raw_parts(v.planes[i], v.plane_sizes[i]) };
        }
    }
    Ok(Frame {
        format,
        width: v.width,
        height: v.height,
        pts_ns: v.pts_ns,
        planes,
        strides: v.strides,
        plane_count: count,
    })
}

unsafe fn slice_or_empty<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the host guarantees `len` readable elements for the call.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Turns the host's input into the safe view.
///
/// # Safety
/// Every pointer in `input` must be valid for `'a`.
pub unsafe fn input_from_abi<'a>(input: &'a CsInput) -> Result<Input<'a>, String> {
    // SAFETY (all arms): the host sets the pointer that `kind` names, valid for the call.
    unsafe {
        match input.kind {
            CS_INPUT_VIDEO => {
                let v = input.video.as_ref().ok_or("video input without a frame")?;
                Ok(Input::Video(frame_from_abi(v)?))
            }
            CS_INPUT_AUDIO => {
                let a = input.audio.as_ref().ok_or("audio input without samples")?;
                Ok(Input::Audio(Audio {
                    rate: a.rate,
                    channels: a.channels,
                    samples: slice_or_empty(a.samples, a.len),
                    pts_ns: a.pts_ns,
                }))
            }
            CS_INPUT_TENSOR => {
                let t = input.tensor.as_ref().ok_or("tensor input without a tensor")?;
                Ok(Input::Tensor(TensorView {
                    shape: slice_or_empty(t.shape, t.ndim),
                    data: slice_or_empty(t.data, t.len),
                    pts_ns: t.pts_ns,
                }))
            }
            CS_INPUT_EVENT => std::str::from_utf8(input.event.as_bytes())
                .map(Input::Event)
                .map_err(|_| "event input is not UTF-8".to_owned()),
            other => Err(format!("unknown input kind {other}")),
        }
    }
}

unsafe extern "C" fn create<N: PluginNode>(
    props: CsStr,
    ctx: *const CsCreateContext,
    error: *const CsSink,
    node: *mut *mut c_void,
    video: *mut CsVideoInput,
) -> CsStatus {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes valid views for the call.
        let (props, ctx) = unsafe {
            let props: N::Props =
                serde_json::from_slice(props.as_bytes()).map_err(|e| format!("invalid props: {e}"))?;
            let ctx = ctx.as_ref().ok_or("no create context")?;
            let ctx = CreateContext {
                pipeline: ctx.pipeline.to_string_lossy(),
                node: ctx.node.to_string_lossy(),
                data_dir: Path::new(&ctx.data_dir.to_string_lossy()).to_path_buf(),
                config: serde_json::from_slice(ctx.config.as_bytes()).unwrap_or(serde_json::Value::Null),
            };
            (props, ctx)
        };
        N::create(props, &ctx)
    }));
    match result {
        Ok(Ok((instance, input))) => {
            // SAFETY: the host passes writable out-pointers.
            unsafe {
                *video = CsVideoInput {
                    max_fps: input.max_fps,
                    width: input.width.unwrap_or(0),
                    format: input.format.to_abi(),
                };
                *node = Box::into_raw(Box::new(instance)).cast();
            }
            CS_OK
        }
        Ok(Err(message)) => {
            // SAFETY: a valid sink or null.
            unsafe { write_sink(error, &message) };
            CS_ERROR
        }
        Err(panic) => {
            // SAFETY: as above.
            unsafe { write_sink(error, &format!("panicked: {}", panic_message(panic.as_ref()))) };
            CS_PANIC
        }
    }
}

/// Runs a node call with the emitter, turning errors and panics into statuses.
unsafe fn call<N: PluginNode>(
    node: *mut c_void,
    emit: *const CsEmitter,
    f: impl FnOnce(&mut N, &mut Emitter<'_>) -> Result<(), String>,
) -> CsStatus {
    // SAFETY: the host passes the handle `create` returned and a valid emitter.
    let (Some(node), Some(raw)) = (unsafe { node.cast::<N>().as_mut() }, unsafe { emit.as_ref() }) else {
        return CS_INVALID_ARGUMENT;
    };
    // SAFETY: valid for the call.
    let mut emitter = unsafe { Emitter::from_raw(raw) };
    match catch_unwind(AssertUnwindSafe(|| f(node, &mut emitter))) {
        Ok(Ok(())) => CS_OK,
        Ok(Err(message)) => {
            emitter.error(&message);
            CS_ERROR
        }
        Err(panic) => {
            emitter.error(&format!("panicked: {}", panic_message(panic.as_ref())));
            CS_PANIC
        }
    }
}

unsafe extern "C" fn process<N: PluginNode>(
    node: *mut c_void,
    pad: CsStr,
    input: *const CsInput,
    emit: *const CsEmitter,
) -> CsStatus {
    // SAFETY: the host's views are valid for the call.
    unsafe {
        call::<N>(node, emit, |n, out| {
            let pad = std::str::from_utf8(pad.as_bytes()).map_err(|_| "pad name is not UTF-8")?;
            let input = input_from_abi(input.as_ref().ok_or("no input")?)?;
            n.process(pad, input, out)
        })
    }
}

unsafe extern "C" fn flush<N: PluginNode>(node: *mut c_void, emit: *const CsEmitter) -> CsStatus {
    // SAFETY: as in `process`.
    unsafe { call::<N>(node, emit, |n, out| n.flush(out)) }
}

unsafe extern "C" fn stats<N: PluginNode>(node: *mut c_void, out: *const CsSink) -> CsStatus {
    // SAFETY: the host passes the handle `create` returned.
    let Some(node) = (unsafe { node.cast::<N>().as_ref() }) else { return CS_INVALID_ARGUMENT };
    match catch_unwind(AssertUnwindSafe(|| node.stats().to_string())) {
        Ok(json) => {
            // SAFETY: a valid sink.
            unsafe { write_sink(out, &json) };
            CS_OK
        }
        Err(_) => CS_PANIC,
    }
}

unsafe extern "C" fn destroy<N: PluginNode>(node: *mut c_void) {
    if node.is_null() {
        return;
    }
    // SAFETY: the handle came from `Box::into_raw` in `create` and is destroyed once.
    let boxed = unsafe { Box::from_raw(node.cast::<N>()) };
    // A panicking Drop must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// The vtable of a node kind (what [`export_plugin!`] puts in the descriptor).
pub const fn vtable<N: PluginNode>() -> CsNodeVtable {
    CsNodeVtable {
        describe: describe::<N>,
        create: create::<N>,
        process: process::<N>,
        flush: flush::<N>,
        stats: stats::<N>,
        destroy: destroy::<N>,
    }
}

/// A `&'static str` as a NUL-terminated C string, at compile time.
#[doc(hidden)]
#[macro_export]
macro_rules! __cstr {
    ($s:expr) => {
        concat!($s, "\0").as_ptr().cast::<::std::ffi::c_char>()
    };
}

/// Exports a plugin's descriptor: `export_plugin! { id: "…", version: "…", nodes: [A, B] }`.
///
/// `id` must equal the manifest's `id`. `init` and `shutdown` are optional
/// functions `fn() -> Result<(), String>` and `fn()`.
#[macro_export]
macro_rules! export_plugin {
    (id: $id:literal, version: $version:expr, nodes: [$($node:ty),+ $(,)?] $(, init: $init:path)? $(, shutdown: $shutdown:path)? $(,)?) => {
        #[cfg(panic = "abort")]
        compile_error!("ClipShot plugins must not be built with panic = \"abort\": a panic could not be caught at the C boundary and would abort the engine");

        #[doc(hidden)]
        static __CLIPSHOT_NODES: [$crate::abi::CsNodeVtable; [$(stringify!($node)),+].len()] = [$($crate::vtable::<$node>()),+];

        #[doc(hidden)]
        static __CLIPSHOT_PLUGIN: $crate::abi::StaticPlugin = $crate::abi::StaticPlugin($crate::abi::CsPlugin {
            abi_version: $crate::abi::CS_ABI_VERSION,
            struct_size: ::std::mem::size_of::<$crate::abi::CsPlugin>() as u32,
            plugin_id: $crate::__cstr!($id),
            plugin_version: $crate::__cstr!($version),
            sdk_version: $crate::SDK_VERSION_C.as_ptr(),
            compiler: $crate::COMPILER_C.as_ptr(),
            node_count: __CLIPSHOT_NODES.len(),
            nodes: __CLIPSHOT_NODES.as_ptr(),
            init: $crate::__init!($($init)?),
            shutdown: $crate::__shutdown!($($shutdown)?),
        });

        /// The plugin's descriptor (the one symbol the engine looks up).
        #[unsafe(no_mangle)]
        pub extern "C" fn clipshot_plugin_entry() -> *const $crate::abi::CsPlugin {
            &__CLIPSHOT_PLUGIN.0
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __init {
    () => {
        None
    };
    ($init:path) => {{
        unsafe extern "C" fn __clipshot_init(error: *const $crate::abi::CsSink) -> $crate::abi::CsStatus {
            // SAFETY: the host passes a valid error sink (or null).
            unsafe { $crate::run_init(error, $init) }
        }
        Some(__clipshot_init)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __shutdown {
    () => {
        None
    };
    ($shutdown:path) => {{
        unsafe extern "C" fn __clipshot_shutdown() {
            let _ = ::std::panic::catch_unwind($shutdown);
        }
        Some(__clipshot_shutdown)
    }};
}

/// The SDK's version as a C string (for the descriptor).
#[doc(hidden)]
pub const SDK_VERSION_C: &std::ffi::CStr =
    match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => c"0.0.0",
    };

/// The compiler as a C string (for the descriptor).
#[doc(hidden)]
pub const COMPILER_C: &std::ffi::CStr =
    match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CLIPSHOT_SDK_RUSTC"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => c"rustc",
    };

/// Runs a plugin's `init` with its panics caught.
///
/// # Safety
/// `error` must be null or a valid host sink.
#[doc(hidden)]
pub unsafe fn run_init(error: *const CsSink, init: fn() -> Result<(), String>) -> CsStatus {
    match catch_unwind(init) {
        Ok(Ok(())) => CS_OK,
        Ok(Err(message)) => {
            // SAFETY: the host passes a valid sink.
            unsafe { write_sink(error, &message) };
            CS_ERROR
        }
        Err(panic) => {
            // SAFETY: as above.
            unsafe { write_sink(error, &format!("panicked: {}", panic_message(panic.as_ref()))) };
            CS_PANIC
        }
    }
}
