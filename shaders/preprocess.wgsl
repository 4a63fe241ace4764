// Analysis-branch preprocessing, in one dispatch: a captured frame, raw as
// the capture gives it (RGBA, BGRx, I420 or NV12, rows padded to a stride),
// to a model's input tensor: cropped to a region, resized (bilinear),
// channels in the model's order, NCHW or NHWC, and normalised per channel:
// out = (rgb * scale - mean) * inv_std (the reciprocal saves a division).
// `clipshot-gpu`'s CPU path computes the same; its tests compare the two.

struct Params {
    src_size: vec2<u32>,
    // 0 RGBA, 1 BGRx/BGRA, 2 I420, 3 NV12
    format: u32,
    // YUV matrix, limited range: 0 BT.601, 1 BT.709
    matrix: u32,
    // Byte offset and stride of each plane (packed formats use plane 0).
    offsets: vec4<u32>,
    strides: vec4<u32>,
    // Crop in source pixels: x, y, width, height.
    crop: vec4<f32>,
    dst_size: vec2<u32>,
    // 0 NCHW, 1 NHWC
    nhwc: u32,
    // 1: channels out in B, G, R order
    bgr: u32,
    mean: vec4<f32>,
    inv_std: vec4<f32>,
    scale: f32,
    // Scalars, not a vec3 (which would align to 16 and grow the struct).
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn byte_at(i: u32) -> f32 {
    return f32((src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

fn yuv_to_rgb(y: f32, u: f32, v: f32) -> vec3<f32> {
    let c = (y - 16.0) * 1.164383;
    let d = u - 128.0;
    let e = v - 128.0;
    if (params.matrix == 1u) {
        return vec3<f32>(c + 1.792741 * e, c - 0.213249 * d - 0.532909 * e, c + 2.112402 * d);
    }
    return vec3<f32>(c + 1.596027 * e, c - 0.391762 * d - 0.812968 * e, c + 2.017232 * d);
}

// One source pixel as RGB in 0..255.
fn pixel(x: u32, y: u32) -> vec3<f32> {
    let o = params.offsets;
    let s = params.strides;
    switch params.format {
        case 0u: {
            let i = o.x + y * s.x + x * 4u;
            return vec3<f32>(byte_at(i), byte_at(i + 1u), byte_at(i + 2u));
        }
        case 1u: {
            let i = o.x + y * s.x + x * 4u;
            return vec3<f32>(byte_at(i + 2u), byte_at(i + 1u), byte_at(i));
        }
        case 2u: {
            let luma = byte_at(o.x + y * s.x + x);
            let u = byte_at(o.y + (y / 2u) * s.y + x / 2u);
            let v = byte_at(o.z + (y / 2u) * s.z + x / 2u);
            return clamp(yuv_to_rgb(luma, u, v), vec3<f32>(0.0), vec3<f32>(255.0));
        }
        default: {
            let luma = byte_at(o.x + y * s.x + x);
            let uv = o.y + (y / 2u) * s.y + (x / 2u) * 2u;
            return clamp(yuv_to_rgb(luma, byte_at(uv), byte_at(uv + 1u)), vec3<f32>(0.0), vec3<f32>(255.0));
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = params.dst_size;
    if (id.x >= size.x || id.y >= size.y) {
        return;
    }
    // The destination pixel's centre, in source pixels (bilinear, edges clamped).
    let step = params.crop.zw / vec2<f32>(size);
    let at = params.crop.xy + (vec2<f32>(id.xy) + vec2<f32>(0.5)) * step - vec2<f32>(0.5);
    let maxp = vec2<f32>(params.src_size) - vec2<f32>(1.0);
    let p = clamp(at, vec2<f32>(0.0), maxp);
    let p0 = vec2<u32>(floor(p));
    let p1 = vec2<u32>(min(floor(p) + vec2<f32>(1.0), maxp));
    let f = p - floor(p);
    let top = mix(pixel(p0.x, p0.y), pixel(p1.x, p0.y), f.x);
    let bottom = mix(pixel(p0.x, p1.y), pixel(p1.x, p1.y), f.x);
    var rgb = mix(top, bottom, f.y);
    if (params.bgr == 1u) {
        rgb = rgb.bgr;
    }
    let norm = (rgb * params.scale - params.mean.xyz) * params.inv_std.xyz;
    let i = id.y * size.x + id.x;
    if (params.nhwc == 0u) {
        let plane = size.x * size.y;
        dst[i] = norm.x;
        dst[plane + i] = norm.y;
        dst[2u * plane + i] = norm.z;
    } else {
        dst[i * 3u] = norm.x;
        dst[i * 3u + 1u] = norm.y;
        dst[i * 3u + 2u] = norm.z;
    }
}
