// Visual motion features of one small frame (the preprocess pass's NCHW
// output, RGB in 0..1) against the previous one, which stays on the GPU:
// mean absolute luma difference, mean luma, and a 16-bin histogram per
// channel (for scene cuts). One workgroup; sums are fixed point (1/65536).

const BINS: u32 = 16u;

struct Params {
    pixels: u32,
    // 0 for the first frame: nothing to compare with
    has_previous: u32,
    _pad: vec2<u32>,
}

@group(0) @binding(0) var<storage, read> current: array<f32>;
@group(0) @binding(1) var<storage, read> previous: array<f32>;
// [0] Σ|Δluma|, [1] Σluma, [2..50] histograms R, G, B
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> diff: atomic<u32>;
var<workgroup> light: atomic<u32>;
var<workgroup> hist: array<atomic<u32>, 48>;

fn luma(rgb: vec3<f32>) -> f32 {
    return dot(rgb, vec3<f32>(0.299, 0.587, 0.114));
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_index) lid: u32) {
    let n = params.pixels;
    var d = 0u;
    var l = 0u;
    for (var i = lid; i < n; i += 256u) {
        let rgb = vec3<f32>(current[i], current[n + i], current[2u * n + i]);
        let y = luma(rgb);
        l += u32(y * 65536.0);
        if (params.has_previous == 1u) {
            let before = vec3<f32>(previous[i], previous[n + i], previous[2u * n + i]);
            d += u32(abs(y - luma(before)) * 65536.0);
        }
        let bins = min(vec3<u32>(rgb * f32(BINS)), vec3<u32>(BINS - 1u));
        atomicAdd(&hist[bins.x], 1u);
        atomicAdd(&hist[BINS + bins.y], 1u);
        atomicAdd(&hist[2u * BINS + bins.z], 1u);
    }
    atomicAdd(&diff, d);
    atomicAdd(&light, l);
    workgroupBarrier();
    if (lid == 0u) {
        sums[0] = atomicLoad(&diff);
        sums[1] = atomicLoad(&light);
    }
    if (lid < 3u * BINS) {
        sums[2u + lid] = atomicLoad(&hist[lid]);
    }
}
