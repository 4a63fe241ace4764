//! The stable C ABI between the engine and a plugin library.
//!
//! Everything here is `#[repr(C)]` and versioned by [`CS_ABI_VERSION`]; the
//! C header `include/clipshot_plugin.h` is generated from this file
//! (cbindgen; a test keeps the two equal). Rules that make the boundary safe:
//!
//! * The library exports one symbol, [`CS_ENTRY_SYMBOL`]: a function that
//!   returns a pointer to a static [`CsPlugin`] descriptor. The host reads
//!   `abi_version` and `struct_size` **before anything else** and refuses a
//!   library built for another ABI.
//! * Only status codes ([`CsStatus`]) cross the boundary as results. Text and
//!   data go through host callbacks ([`CsSink`], [`CsEmitter`]) that copy what
//!   they are given: each side frees only its own memory.
//! * Every entry point catches panics inside the library (a panic that
//!   escapes an `extern "C"` function aborts the host); the Rust export macro
//!   does it, C authors have no unwinding to worry about.
//! * Views handed to the plugin (frames, audio, tensors, event JSON) are
//!   borrowed for the duration of the call only.

use std::ffi::{c_char, c_void};

/// The ABI this SDK speaks. A host refuses any other value.
pub const CS_ABI_VERSION: u32 = 1;

/// The one symbol a plugin library exports (a [`CsEntryFn`]).
pub const CS_ENTRY_SYMBOL: &str = "clipshot_plugin_entry";

/// Result of every call into a plugin.
pub type CsStatus = i32;
/// Success.
pub const CS_OK: CsStatus = 0;
/// The call failed; the message was written to the call's error sink.
pub const CS_ERROR: CsStatus = 1;
/// The plugin panicked; the panic was caught inside the library.
pub const CS_PANIC: CsStatus = 2;
/// An argument (config, pad, input kind) is not what the node accepts.
pub const CS_INVALID_ARGUMENT: CsStatus = 3;

/// Pixel formats of [`CsVideoFrame`] and [`CsVideoInput`].
pub type CsPixelFormat = u32;
/// 8-bit R, G, B, A; one plane.
pub const CS_PIXEL_RGBA: CsPixelFormat = 1;
/// 8-bit B, G, R, A; one plane.
pub const CS_PIXEL_BGRA: CsPixelFormat = 2;
/// Y plane, then interleaved UV at half resolution; two planes.
pub const CS_PIXEL_NV12: CsPixelFormat = 3;
/// Y, U, V planes, chroma at half resolution; three planes.
pub const CS_PIXEL_I420: CsPixelFormat = 4;

/// Kinds of [`CsInput`].
pub type CsInputKind = u32;
pub const CS_INPUT_VIDEO: CsInputKind = 1;
pub const CS_INPUT_AUDIO: CsInputKind = 2;
pub const CS_INPUT_TENSOR: CsInputKind = 3;
pub const CS_INPUT_EVENT: CsInputKind = 4;

/// Log levels of [`CsEmitter::log`].
pub type CsLogLevel = u32;
pub const CS_LOG_ERROR: CsLogLevel = 1;
pub const CS_LOG_WARN: CsLogLevel = 2;
pub const CS_LOG_INFO: CsLogLevel = 3;
pub const CS_LOG_DEBUG: CsLogLevel = 4;

/// Borrowed UTF-8 text (not NUL-terminated).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsStr {
    pub ptr: *const u8,
    pub len: usize,
}

/// A host-owned receiver of text: the plugin calls `write` (any number of
/// times; the pieces are appended) and the host copies the bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsSink {
    pub ctx: *mut c_void,
    pub write: unsafe extern "C" fn(ctx: *mut c_void, text: CsStr),
}

/// How a node wants raw video: the host scales, converts and rate-limits
/// before the plugin sees a frame.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsVideoInput {
    /// Frames above this rate are dropped (and counted) by the host.
    pub max_fps: f64,
    /// Scale to this width keeping the aspect ratio; 0 keeps the source size.
    pub width: u32,
    pub format: CsPixelFormat,
}

/// A read-only frame, valid during the call. Rows may be padded: use the strides.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsVideoFrame {
    pub format: CsPixelFormat,
    pub width: u32,
    pub height: u32,
    pub plane_count: u32,
    pub planes: [*const u8; 4],
    pub strides: [u32; 4],
    /// Bytes of each plane.
    pub plane_sizes: [usize; 4],
    /// Running time on the pipeline's timeline.
    pub pts_ns: i64,
}

/// Interleaved 32-bit float audio, valid during the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsAudioChunk {
    pub rate: u32,
    pub channels: u32,
    pub samples: *const f32,
    /// Samples in all (frames × channels).
    pub len: usize,
    pub pts_ns: i64,
}

/// A dense row-major `f32` tensor, valid during the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsTensor {
    pub shape: *const usize,
    pub ndim: usize,
    pub data: *const f32,
    pub len: usize,
    pub pts_ns: i64,
}

/// One input to a node: `kind` says which pointer is set.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsInput {
    pub kind: CsInputKind,
    pub video: *const CsVideoFrame,
    pub audio: *const CsAudioChunk,
    pub tensor: *const CsTensor,
    /// An engine event as JSON (`{"type": "highlight.detected", …}`).
    pub event: CsStr,
}

/// Host callbacks a node calls during `process` and `flush`. Every callback
/// copies what it is given and returns a status: `CS_INVALID_ARGUMENT` for
/// what is malformed on its face (a tensor whose shape does not match its
/// length, negative clip lengths, too many outputs in one call). What the
/// engine refuses after the call (an unknown output pad, an event it cannot
/// parse or does not take from plugins) is dropped and counted in the
/// plugin's health as an error.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsEmitter {
    pub ctx: *mut c_void,
    /// A tensor on one of the node's output pads.
    pub tensor: unsafe extern "C" fn(ctx: *mut c_void, pad: CsStr, tensor: *const CsTensor) -> CsStatus,
    /// An engine event as JSON; the host fills in `pipeline` when absent.
    pub event: unsafe extern "C" fn(ctx: *mut c_void, json: CsStr) -> CsStatus,
    /// A marker on the pipeline's replay timeline; an empty label is none.
    pub marker: unsafe extern "C" fn(ctx: *mut c_void, at_ns: i64, label: CsStr) -> CsStatus,
    /// A clip of the ring around `at_ns` (the engine's one save path).
    pub save: unsafe extern "C" fn(ctx: *mut c_void, at_ns: i64, pre_seconds: f64, post_seconds: f64) -> CsStatus,
    /// Explains a failing status: call it before returning `CS_ERROR`.
    pub error: unsafe extern "C" fn(ctx: *mut c_void, message: CsStr),
    /// A line in the engine's log, attributed to the plugin.
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: CsLogLevel, message: CsStr),
}

/// What a node is told when it is created.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsCreateContext {
    pub pipeline: CsStr,
    pub node: CsStr,
    /// The plugin's own data directory (exists; the plugin may write there).
    pub data_dir: CsStr,
    /// The plugin's configuration (JSON object, validated against the
    /// manifest's `config_schema`): settings shared by all its nodes.
    pub config: CsStr,
}

/// Describes the node kind as JSON into `out`:
/// `{"kind", "summary", "pads": [{"name", "direction", "media", "required"}], "props_schema"}`.
pub type CsDescribeFn = unsafe extern "C" fn(out: *const CsSink) -> CsStatus;
/// Creates a node from its props (JSON object). On success `*node` is the
/// plugin's handle and `*video` how it wants raw video; on failure the reason
/// goes to `error`.
pub type CsCreateFn = unsafe extern "C" fn(
    props: CsStr,
    ctx: *const CsCreateContext,
    error: *const CsSink,
    node: *mut *mut c_void,
    video: *mut CsVideoInput,
) -> CsStatus;
/// Handles one input that arrived on `pad`.
pub type CsProcessFn =
    unsafe extern "C" fn(node: *mut c_void, pad: CsStr, input: *const CsInput, emit: *const CsEmitter) -> CsStatus;
/// End of stream or stop: emit what is pending.
pub type CsFlushFn = unsafe extern "C" fn(node: *mut c_void, emit: *const CsEmitter) -> CsStatus;
/// The node's own counters as a JSON object (may write nothing).
pub type CsStatsFn = unsafe extern "C" fn(node: *mut c_void, out: *const CsSink) -> CsStatus;
/// Frees the node. Called once; the handle is not used afterwards.
pub type CsDestroyFn = unsafe extern "C" fn(node: *mut c_void);

/// The entry points of one node kind.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CsNodeVtable {
    pub describe: CsDescribeFn,
    pub create: CsCreateFn,
    pub process: CsProcessFn,
    pub flush: CsFlushFn,
    pub stats: CsStatsFn,
    pub destroy: CsDestroyFn,
}

/// Called once after the library is checked and before any node is created.
pub type CsInitFn = unsafe extern "C" fn(error: *const CsSink) -> CsStatus;
/// Called once when the host is done with the library (it is never closed).
pub type CsShutdownFn = unsafe extern "C" fn();

/// The descriptor a plugin library exports. Strings are NUL-terminated,
/// static and UTF-8.
#[repr(C)]
#[derive(Debug)]
pub struct CsPlugin {
    /// [`CS_ABI_VERSION`] of the SDK the library was built with.
    pub abi_version: u32,
    /// `sizeof(CsPlugin)` as the library sees it.
    pub struct_size: u32,
    /// The manifest's `id`.
    pub plugin_id: *const c_char,
    /// The plugin's version (semver).
    pub plugin_version: *const c_char,
    /// The SDK's version (semver), or the header's for C plugins.
    pub sdk_version: *const c_char,
    /// The compiler that built the library (`rustc 1.95.0 (…)`, `gcc 12.2.0`).
    pub compiler: *const c_char,
    pub node_count: usize,
    pub nodes: *const CsNodeVtable,
    pub init: Option<CsInitFn>,
    pub shutdown: Option<CsShutdownFn>,
}

/// The type of [`CS_ENTRY_SYMBOL`].
pub type CsEntryFn = unsafe extern "C" fn() -> *const CsPlugin;

/// A [`CsPlugin`] in a `static`: the descriptor holds pointers to static,
/// immutable data only, so sharing it between threads is sound.
#[derive(Debug)]
#[repr(transparent)]
pub struct StaticPlugin(pub CsPlugin);

// SAFETY: every pointer in the descriptor points to immutable static data
// (string literals and a static vtable array).
unsafe impl Sync for StaticPlugin {}

impl CsStr {
    pub const EMPTY: CsStr = CsStr { ptr: std::ptr::null(), len: 0 };

    pub fn new(text: &str) -> Self {
        Self { ptr: text.as_ptr(), len: text.len() }
    }

    /// The bytes, or an empty slice for a null pointer.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees the range is readable for 'a.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    /// The text, lossily decoded.
    ///
    /// # Safety
    /// As [`CsStr::as_bytes`].
    pub unsafe fn to_string_lossy(self) -> String {
        // SAFETY: forwarded to the caller.
        String::from_utf8_lossy(unsafe { self.as_bytes() }).into_owned()
    }
}
