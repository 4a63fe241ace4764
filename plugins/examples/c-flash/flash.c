/*
 * c.flash: a ClipShot plugin node written in C against the generated header.
 *
 * It measures the mean luma of each RGBA frame and, when it jumps up by more
 * than `jump` (a fraction of full scale) from one frame to the next, emits a
 * marker and a `highlight.detected` event: a muzzle flash, an explosion, a
 * flashbang.
 *
 * Everything the host hands over is checked before it is read (null pointers,
 * plane sizes against strides): a bad call fails with a status, never a crash.
 * No floating-point text goes through printf/strtod, whose decimal separator
 * follows the host process's locale and would corrupt the JSON.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipshot_plugin.h"

#define KIND "c.flash"
#define DEFAULT_JUMP 0.25

#if defined(__GNUC__)
#define EXPORT __attribute__((visibility("default")))
#else
#define EXPORT
#endif

#if defined(__clang__)
#define COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define COMPILER "gcc " __VERSION__
#else
#define COMPILER "cc (unknown)"
#endif

typedef struct Flash {
    double jump;
    int have_prev;
    double prev_luma;
    uint64_t frames;
    uint64_t flashes;
} Flash;

static CsStr str_of(const char *text) {
    CsStr s;
    s.ptr = (const uint8_t *)text;
    s.len = strlen(text);
    return s;
}

static void sink_write(const CsSink *sink, const char *text) {
    if (sink != NULL && sink->write != NULL) {
        sink->write(sink->ctx, str_of(text));
    }
}

static CsStatus fail(const CsEmitter *emit, CsStatus status, const char *message) {
    if (emit != NULL && emit->error != NULL) {
        emit->error(emit->ctx, str_of(message));
    }
    return status;
}

/* ---- props: {"jump": <number>} -------------------------------------------- */

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/*
 * Parses a JSON number at text[*at..len) without strtod (locale-free).
 * Returns 0 on success.
 */
static int parse_number(const uint8_t *text, size_t len, size_t *at, double *out) {
    size_t i = *at;
    double sign = 1.0, value = 0.0, scale = 1.0;
    int digits = 0, exp_sign = 1, exponent = 0;
    if (i < len && text[i] == '-') {
        sign = -1.0;
        i++;
    }
    for (; i < len && is_digit(text[i]); i++, digits++) {
        value = value * 10.0 + (text[i] - '0');
    }
    if (i < len && text[i] == '.') {
        for (i++; i < len && is_digit(text[i]); i++, digits++) {
            scale /= 10.0;
            value += (text[i] - '0') * scale;
        }
    }
    if (digits == 0) {
        return -1;
    }
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-')) {
            exp_sign = text[i] == '-' ? -1 : 1;
            i++;
        }
        if (i >= len || !is_digit(text[i])) {
            return -1;
        }
        for (; i < len && is_digit(text[i]); i++) {
            if (exponent < 400) {
                exponent = exponent * 10 + (text[i] - '0');
            }
        }
        for (; exponent > 0; exponent--) {
            value = exp_sign > 0 ? value * 10.0 : value / 10.0;
        }
    }
    *at = i;
    *out = sign * value;
    return 0;
}

/*
 * Reads props: a JSON object whose only key is "jump" (the host validated
 * them against the schema; this stays safe on anything else). Returns NULL on
 * success or a message.
 */
static const char *parse_props(CsStr props, double *jump) {
    static const char key[] = "\"jump\"";
    const size_t key_len = sizeof key - 1;
    const uint8_t *text = props.ptr;
    size_t len = text == NULL ? 0 : props.len, i = 0;

    *jump = DEFAULT_JUMP;
    while (i < len && is_space(text[i])) {
        i++;
    }
    if (i >= len) {
        return NULL; /* no props at all: the defaults */
    }
    if (text[i] != '{') {
        return "props must be a JSON object";
    }
    for (; i + key_len <= len; i++) {
        if (memcmp(text + i, key, key_len) != 0) {
            continue;
        }
        i += key_len;
        while (i < len && is_space(text[i])) {
            i++;
        }
        if (i >= len || text[i] != ':') {
            return "props: \"jump\" must be followed by a value";
        }
        i++;
        while (i < len && is_space(text[i])) {
            i++;
        }
        if (parse_number(text, len, &i, jump) != 0) {
            return "props: \"jump\" must be a number";
        }
        break;
    }
    if (!(*jump > 0.0 && *jump <= 1.0)) {
        return "props: \"jump\" must be in (0, 1] (a fraction of full-scale luma)";
    }
    return NULL;
}

/* ---- the node ---------------------------------------------------------------- */

static CsStatus flash_describe(const CsSink *out) {
    sink_write(out,
        "{\"kind\":\"" KIND "\","
        "\"summary\":\"Highlight markers on sudden brightness flashes (mean luma jumps)\","
        "\"pads\":[{\"name\":\"video\",\"direction\":\"in\",\"media\":\"raw-video\",\"required\":true}],"
        "\"props_schema\":{"
        "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
        "\"title\":\"FlashProps\",\"type\":\"object\","
        "\"properties\":{\"jump\":{"
        "\"description\":\"Rise of mean luma from one frame to the next that counts as a flash, "
        "as a fraction of full scale.\","
        "\"type\":\"number\",\"exclusiveMinimum\":0,\"maximum\":1,\"default\":0.25}},"
        "\"additionalProperties\":false}}");
    return CS_OK;
}

static CsStatus flash_create(CsStr props, const CsCreateContext *ctx, const CsSink *error, void **node,
                             CsVideoInput *video) {
    double jump;
    const char *message;
    Flash *flash;

    (void)ctx;
    if (node == NULL || video == NULL) {
        sink_write(error, "create: null out-pointer");
        return CS_INVALID_ARGUMENT;
    }
    message = parse_props(props, &jump);
    if (message != NULL) {
        sink_write(error, message);
        return CS_INVALID_ARGUMENT;
    }
    flash = calloc(1, sizeof *flash);
    if (flash == NULL) {
        sink_write(error, "out of memory");
        return CS_ERROR;
    }
    flash->jump = jump;
    *node = flash;
    /* A flash lasts a few frames; a small frame averages the same. */
    video->max_fps = 15.0;
    video->width = 320;
    video->format = CS_PIXEL_RGBA;
    return CS_OK;
}

/* Mean BT.709 luma of a checked RGBA/BGRA frame, 0..1. */
static double mean_luma(const CsVideoFrame *v) {
    /* Integer weights (sum 256) keep the sum exact; 64 bits cannot overflow. */
    const unsigned wr = 54, wg = 183, wb = 19;
    const int bgra = v->format == CS_PIXEL_BGRA;
    uint64_t sum = 0;
    uint32_t x, y;
    for (y = 0; y < v->height; y++) {
        const uint8_t *row = v->planes[0] + (size_t)y * v->strides[0];
        for (x = 0; x < v->width; x++) {
            const uint8_t *p = row + (size_t)x * 4;
            unsigned r = bgra ? p[2] : p[0], b = bgra ? p[0] : p[2];
            sum += wr * r + wg * p[1] + wb * b;
        }
    }
    return (double)sum / (255.0 * 256.0 * (double)v->width * (double)v->height);
}

/* Checks that plane 0 holds `height` rows of `width` 4-byte pixels. */
static const char *check_frame(const CsVideoFrame *v) {
    uint64_t row_bytes, needed;
    if (v->format != CS_PIXEL_RGBA && v->format != CS_PIXEL_BGRA) {
        return KIND " reads RGBA frames";
    }
    if (v->width == 0 || v->height == 0) {
        return KIND ": empty frame";
    }
    if (v->plane_count < 1 || v->planes[0] == NULL) {
        return KIND ": frame without pixels";
    }
    row_bytes = (uint64_t)v->width * 4;
    if (v->strides[0] < row_bytes) {
        return KIND ": stride shorter than a row";
    }
    /* The last row needs only its pixels, not its padding. */
    needed = (uint64_t)v->strides[0] * (v->height - 1) + row_bytes;
    if ((uint64_t)v->plane_sizes[0] < needed) {
        return KIND ": frame plane smaller than its size and stride";
    }
    return NULL;
}

static CsStatus flash_process(void *node, CsStr pad, const CsInput *input, const CsEmitter *emit) {
    Flash *flash = node;
    const CsVideoFrame *v;
    const char *message;
    double luma, rise;

    (void)pad;
    if (emit == NULL) {
        return CS_INVALID_ARGUMENT;
    }
    if (flash == NULL || input == NULL) {
        return fail(emit, CS_INVALID_ARGUMENT, KIND ": null node or input");
    }
    if (input->kind != CS_INPUT_VIDEO || input->video == NULL) {
        return fail(emit, CS_INVALID_ARGUMENT, KIND " takes raw video on its `video` pad");
    }
    v = input->video;
    message = check_frame(v);
    if (message != NULL) {
        return fail(emit, CS_INVALID_ARGUMENT, message);
    }

    luma = mean_luma(v);
    flash->frames++;
    rise = luma - flash->prev_luma;
    if (flash->have_prev && rise > flash->jump) {
        /* 0.5 at the threshold, 1.0 at twice it; printed as thousandths. */
        double score = rise / (2.0 * flash->jump);
        int milli = (int)((score > 1.0 ? 1.0 : score < 0.5 ? 0.5 : score) * 1000.0 + 0.5);
        long long at = (long long)v->pts_ns;
        char json[256];
        CsStatus status;

        flash->flashes++;
        status = emit->marker == NULL ? CS_ERROR : emit->marker(emit->ctx, v->pts_ns, str_of("flash"));
        if (status != CS_OK) {
            return fail(emit, CS_ERROR, KIND ": the host refused the marker");
        }
        snprintf(json, sizeof json,
                 "{\"type\":\"highlight.detected\",\"at_ns\":%lld,\"score\":%d.%03d,\"label\":\"flash\","
                 "\"start_ns\":%lld,\"end_ns\":%lld,\"detectors\":[\"" KIND "\"]}",
                 at, milli / 1000, milli % 1000, at, at);
        status = emit->event == NULL ? CS_ERROR : emit->event(emit->ctx, str_of(json));
        if (status != CS_OK) {
            return fail(emit, CS_ERROR, KIND ": the host refused the event");
        }
    }
    flash->prev_luma = luma;
    flash->have_prev = 1;
    return CS_OK;
}

static CsStatus flash_flush(void *node, const CsEmitter *emit) {
    (void)node;
    (void)emit;
    return CS_OK;
}

static CsStatus flash_stats(void *node, const CsSink *out) {
    const Flash *flash = node;
    char json[128];
    if (flash == NULL) {
        return CS_INVALID_ARGUMENT;
    }
    snprintf(json, sizeof json, "{\"frames\":%llu,\"flashes\":%llu}", (unsigned long long)flash->frames,
             (unsigned long long)flash->flashes);
    sink_write(out, json);
    return CS_OK;
}

static void flash_destroy(void *node) { free(node); }

static const CsNodeVtable NODES[] = {{
    flash_describe,
    flash_create,
    flash_process,
    flash_flush,
    flash_stats,
    flash_destroy,
}};

static const CsPlugin PLUGIN = {
    CS_ABI_VERSION,
    sizeof(CsPlugin),
    "com.clipshot.examples.c-flash",
    "0.1.0",
    CLIPSHOT_SDK_VERSION,
    COMPILER,
    sizeof NODES / sizeof NODES[0],
    NODES,
    NULL, /* init */
    NULL, /* shutdown */
};

EXPORT const CsPlugin *clipshot_plugin_entry(void) { return &PLUGIN; }
