/*
 * ClipShot native plugin ABI.
 *
 * Generated from plugins/sdk/src/abi.rs by cbindgen (plugins/sdk/cbindgen.toml).
 * Do not edit: change abi.rs and run
 *   CLIPSHOT_BLESS=1 cargo test -p clipshot-plugin-sdk --test header
 */

#ifndef CLIPSHOT_PLUGIN_H
#define CLIPSHOT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
/* The symbol a plugin library exports (a CsEntryFn). */
#define CS_ENTRY_SYMBOL "clipshot_plugin_entry"
/* The SDK version this header belongs to (CsPlugin.sdk_version of a C plugin). */
#define CLIPSHOT_SDK_VERSION "0.1.0"

/*
 The ABI this SDK speaks. A host refuses any other value.
 */
#define CS_ABI_VERSION 1

/*
 Result of every call into a plugin.
 */
typedef int32_t CsStatus;

/*
 Pixel formats of [`CsVideoFrame`] and [`CsVideoInput`].
 */
typedef uint32_t CsPixelFormat;

/*
 Kinds of [`CsInput`].
 */
typedef uint32_t CsInputKind;

/*
 Log levels of [`CsEmitter::log`].
 */
typedef uint32_t CsLogLevel;

/*
 Borrowed UTF-8 text (not NUL-terminated).
 */
typedef struct CsStr {
    const uint8_t *ptr;
    uintptr_t len;
} CsStr;

/*
 A host-owned receiver of text: the plugin calls `write` (any number of
 times; the pieces are appended) and the host copies the bytes.
 */
typedef struct CsSink {
    void *ctx;
    void (*write)(void *ctx, struct CsStr text);
} CsSink;

/*
 How a node wants raw video: the host scales, converts and rate-limits
 before the plugin sees a frame.
 */
typedef struct CsVideoInput {
    /*
     Frames above this rate are dropped (and counted) by the host.
     */
    double max_fps;
    /*
     Scale to this width keeping the aspect ratio; 0 keeps the source size.
     */
    uint32_t width;
    CsPixelFormat format;
} CsVideoInput;

/*
 A read-only frame, valid during the call. Rows may be padded: use the strides.
 */
typedef struct CsVideoFrame {
    CsPixelFormat format;
    uint32_t width;
    uint32_t height;
    uint32_t plane_count;
    const uint8_t *planes[4];
    uint32_t strides[4];
    /*
     Bytes of each plane.
     */
    uintptr_t plane_sizes[4];
    /*
     Running time on the pipeline's timeline.
     */
    int64_t pts_ns;
} CsVideoFrame;

/*
 Interleaved 32-bit float audio, valid during the call.
 */
typedef struct CsAudioChunk {
    uint32_t rate;
    uint32_t channels;
    const float *samples;
    /*
     Samples in all (frames × channels).
     */
    uintptr_t len;
    int64_t pts_ns;
} CsAudioChunk;

/*
 A dense row-major `f32` tensor, valid during the call.
 */
typedef struct CsTensor {
    const uintptr_t *shape;
    uintptr_t ndim;
    const float *data;
    uintptr_t len;
    int64_t pts_ns;
} CsTensor;

/*
 One input to a node: `kind` says which pointer is set.
 */
typedef struct CsInput {
    CsInputKind kind;
    const struct CsVideoFrame *video;
    const struct CsAudioChunk *audio;
    const struct CsTensor *tensor;
    /*
     An engine event as JSON (`{"type": "highlight.detected", …}`).
     */
    struct CsStr event;
} CsInput;

/*
 Host callbacks a node calls during `process` and `flush`. Every callback
 copies what it is given and returns a status: `CS_INVALID_ARGUMENT` for
 what is malformed on its face (a tensor whose shape does not match its
 length, negative clip lengths, too many outputs in one call). What the
 engine refuses after the call (an unknown output pad, an event it cannot
 parse or does not take from plugins) is dropped and counted in the
 plugin's health as an error.
 */
typedef struct CsEmitter {
    void *ctx;
    /*
     A tensor on one of the node's output pads.
     */
    CsStatus (*tensor)(void *ctx, struct CsStr pad, const struct CsTensor *tensor);
    /*
     An engine event as JSON; the host fills in `pipeline` when absent.
     */
    CsStatus (*event)(void *ctx, struct CsStr json);
    /*
     A marker on the pipeline's replay timeline; an empty label is none.
     */
    CsStatus (*marker)(void *ctx, int64_t at_ns, struct CsStr label);
    /*
     A clip of the ring around `at_ns` (the engine's one save path).
     */
    CsStatus (*save)(void *ctx, int64_t at_ns, double pre_seconds, double post_seconds);
    /*
     Explains a failing status: call it before returning `CS_ERROR`.
     */
    void (*error)(void *ctx, struct CsStr message);
    /*
     A line in the engine's log, attributed to the plugin.
     */
    void (*log)(void *ctx, CsLogLevel level, struct CsStr message);
} CsEmitter;

/*
 What a node is told when it is created.
 */
typedef struct CsCreateContext {
    struct CsStr pipeline;
    struct CsStr node;
    /*
     The plugin's own data directory (exists; the plugin may write there).
     */
    struct CsStr data_dir;
    /*
     The plugin's configuration (JSON object, validated against the
     manifest's `config_schema`): settings shared by all its nodes.
     */
    struct CsStr config;
} CsCreateContext;

/*
 Describes the node kind as JSON into `out`:
 `{"kind", "summary", "pads": [{"name", "direction", "media", "required"}], "props_schema"}`.
 */
typedef CsStatus (*CsDescribeFn)(const struct CsSink *out);

/*
 Creates a node from its props (JSON object). On success `*node` is the
 plugin's handle and `*video` how it wants raw video; on failure the reason
 goes to `error`.
 */
typedef CsStatus (*CsCreateFn)(struct CsStr props,
                               const struct CsCreateContext *ctx,
                               const struct CsSink *error,
                               void **node,
                               struct CsVideoInput *video);

/*
 Handles one input that arrived on `pad`.
 */
typedef CsStatus (*CsProcessFn)(void *node,
                                struct CsStr pad,
                                const struct CsInput *input,
                                const struct CsEmitter *emit);

/*
 End of stream or stop: emit what is pending.
 */
typedef CsStatus (*CsFlushFn)(void *node, const struct CsEmitter *emit);

/*
 The node's own counters as a JSON object (may write nothing).
 */
typedef CsStatus (*CsStatsFn)(void *node, const struct CsSink *out);

/*
 Frees the node. Called once; the handle is not used afterwards.
 */
typedef void (*CsDestroyFn)(void *node);

/*
 The entry points of one node kind.
 */
typedef struct CsNodeVtable {
    CsDescribeFn describe;
    CsCreateFn create;
    CsProcessFn process;
    CsFlushFn flush;
    CsStatsFn stats;
    CsDestroyFn destroy;
} CsNodeVtable;

/*
 Called once after the library is checked and before any node is created.
 */
typedef CsStatus (*CsInitFn)(const struct CsSink *error);

/*
 Called once when the host is done with the library (it is never closed).
 */
typedef void (*CsShutdownFn)(void);

/*
 The descriptor a plugin library exports. Strings are NUL-terminated,
 static and UTF-8.
 */
typedef struct CsPlugin {
    /*
     [`CS_ABI_VERSION`] of the SDK the library was built with.
     */
    uint32_t abi_version;
    /*
     `sizeof(CsPlugin)` as the library sees it.
     */
    uint32_t struct_size;
    /*
     The manifest's `id`.
     */
    const char *plugin_id;
    /*
     The plugin's version (semver).
     */
    const char *plugin_version;
    /*
     The SDK's version (semver), or the header's for C plugins.
     */
    const char *sdk_version;
    /*
     The compiler that built the library (`rustc 1.95.0 (…)`, `gcc 12.2.0`).
     */
    const char *compiler;
    uintptr_t node_count;
    const struct CsNodeVtable *nodes;
    CsInitFn init;
    CsShutdownFn shutdown;
} CsPlugin;

/*
 The type of [`CS_ENTRY_SYMBOL`].
 */
typedef const struct CsPlugin *(*CsEntryFn)(void);

/*
 Success.
 */
#define CS_OK 0

/*
 The call failed; the message was written to the call's error sink.
 */
#define CS_ERROR 1

/*
 The plugin panicked; the panic was caught inside the library.
 */
#define CS_PANIC 2

/*
 An argument (config, pad, input kind) is not what the node accepts.
 */
#define CS_INVALID_ARGUMENT 3

/*
 8-bit R, G, B, A; one plane.
 */
#define CS_PIXEL_RGBA 1

/*
 8-bit B, G, R, A; one plane.
 */
#define CS_PIXEL_BGRA 2

/*
 Y plane, then interleaved UV at half resolution; two planes.
 */
#define CS_PIXEL_NV12 3

/*
 Y, U, V planes, chroma at half resolution; three planes.
 */
#define CS_PIXEL_I420 4

#define CS_INPUT_VIDEO 1

#define CS_INPUT_AUDIO 2

#define CS_INPUT_TENSOR 3

#define CS_INPUT_EVENT 4

#define CS_LOG_ERROR 1

#define CS_LOG_WARN 2

#define CS_LOG_INFO 3

#define CS_LOG_DEBUG 4

#endif  /* CLIPSHOT_PLUGIN_H */
