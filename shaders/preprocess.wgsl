// Analysis-branch preprocessing: one RGBA frame (any size) to the model's input
// tensor, NCHW float32, resized with bilinear filtering and normalised per
// channel: out = (rgb - mean) * inv_std (the reciprocal saves a division).

struct Params {
    dst_size: vec2<u32>,
    _pad: vec2<u32>,
    mean: vec4<f32>,
    inv_std: vec4<f32>,
}

@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var src_sampler: sampler;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = params.dst_size;
    if (id.x >= size.x || id.y >= size.y) {
        return;
    }
    // Sample at the centre of the destination pixel.
    let uv = (vec2<f32>(id.xy) + vec2<f32>(0.5, 0.5)) / vec2<f32>(size);
    let rgb = textureSampleLevel(src, src_sampler, uv, 0.0).rgb;
    let norm = (rgb - params.mean.rgb) * params.inv_std.rgb;
    let plane = size.x * size.y;
    let i = id.y * size.x + id.x;
    dst[i] = norm.r;
    dst[plane + i] = norm.g;
    dst[2u * plane + i] = norm.b;
}
