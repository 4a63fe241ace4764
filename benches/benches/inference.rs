//! Analysis benchmarks (`make bench`), beside their peer:
//!
//! 1. Preprocessing + inference per analysed input, p50/p99, at 720p and
//!    1080p: text detection on the `shooter` kill-feed region, recognition of
//!    one line, the AudioSet tagger on a 2 s window — ours (preprocessing on
//!    the GPU adapter wgpu finds, lavapipe without a GPU, and on the CPU
//!    path) against Python's onnxruntime with numpy/Pillow on the same
//!    models, tensors and threads (`benches/python/ort_peer.py`).
//!    Goal: ≤ 1.0× the peer.
//! 2. Analysis while recording: the test pattern at 720p60 through x264 into
//!    the ring, with motion (8 fps), text (2 fps, `shooter`), sound and the
//!    scorer beside it, for 20 s: analysed inputs per second per node, what
//!    the analysis let go, and the record path's drops. Goal: ≥ 8 analysed
//!    fps, zero record drops.

use clipshot_ai::Ai;
use clipshot_ai::ocr::{DetectOptions, detector_size};
use clipshot_ai::runtime::InputTensor;
use clipshot_core::{Event, EventSink, GraphSpec};
use clipshot_gpu::{Format, Frame, Layout, Preprocessor, Spec};
use clipshot_gst::{Pipeline, PipelineOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ITERS: usize = 50;
const KILL_FEED: [f32; 4] = [0.62, 0.02, 0.36, 0.22];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A game-like RGBA frame with a kill-feed line, at `w`×`h`.
fn frame(w: u32, h: u32) -> Vec<u8> {
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    let size = h / 30;
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2=s={w}x{h}"), "-vf"])
        .arg(format!(
            "drawtext=fontfile={font}:text='Player1 ELIMINATED Bot_7':fontcolor=white:fontsize={size}:x={}:y={}:box=1:boxcolor=black@0.5",
            w * 66 / 100,
            h * 5 / 100
        ))
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success());
    out.stdout
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[((ms.len() as f64 * 0.99) as usize).min(ms.len() - 1)])
}

fn measure(mut f: impl FnMut()) -> (f64, f64) {
    f();
    percentiles(
        (0..ITERS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn spec(region: [f32; 4], width: u32, height: u32, mean: [f32; 3], std: [f32; 3]) -> Spec {
    Spec { region, width, height, layout: Layout::Nchw, bgr: true, scale: 1.0 / 255.0, mean, std }
}

struct Case {
    name: &'static str,
    /// (p50, p99) ms: GPU path, CPU path.
    ours: [(f64, f64); 2],
    peer: (f64, f64),
}

fn inference(ai: &Ai, w: u32, h: u32, dir: &Path) -> Vec<Case> {
    let rgba = frame(w, h);
    let raw = dir.join(format!("frame-{w}x{h}.rgba"));
    std::fs::write(&raw, &rgba).unwrap();
    let f = Frame::tight(Format::Rgba, w, h, &rgba);
    let (det, rec, ced) =
        (ai.load("ppocr-v4-det").unwrap(), ai.load("ppocr-v4-rec").unwrap(), ai.load("ced-tiny").unwrap());
    let o = DetectOptions::default();
    let (dw, dh) = detector_size(KILL_FEED[2] * w as f32, KILL_FEED[3] * h as f32, o.min_side, o.max_side);
    let line = [0.655, 0.04, 0.3, 0.06];
    let rw = ((48.0 * line[2] * w as f32 / (line[3] * h as f32)).ceil() as u32).clamp(16, 960);
    let det_spec = spec(KILL_FEED, dw, dh, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    let rec_spec = spec(line, rw, 48, [0.5; 3], [0.5; 3]);
    let cpu = Preprocessor::Cpu { reason: "the bench's CPU path".into() };
    let paths = [ai.preprocessor(), &cpu];
    let run = |pre: &Preprocessor, model: &clipshot_ai::LoadedModel, s: &Spec| {
        let tensor = pre.preprocess(&f, s).unwrap();
        let input =
            InputTensor::F32 { name: "x".into(), shape: vec![1, 3, s.height as usize, s.width as usize], data: tensor };
        model.run(vec![input]).unwrap();
    };
    let wave: Vec<f32> = (0..32_000).map(|i| (i as f32 * 0.37).sin() * 0.1).collect();
    let ced_input = ai.entry("ced-tiny").and_then(|e| e.manifest().map(|m| m.inputs[0].name.clone())).unwrap();
    let ced_run = || {
        let input = InputTensor::F32 { name: ced_input.clone(), shape: vec![1, wave.len()], data: wave.clone() };
        ced.run(vec![input]).unwrap();
    };
    let peer = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("benches/python/ort_peer.py"))
        .args(["--frame", raw.to_str().unwrap(), "--width", &w.to_string(), "--height", &h.to_string()])
        .args(["--models", root().join("models").to_str().unwrap(), "--iters", &ITERS.to_string()])
        .arg("--det")
        .arg(format!("{}:{dw}x{dh}", KILL_FEED.map(|v| v.to_string()).join(",")))
        .arg("--rec")
        .arg(format!("{}:{rw}x48", line.map(|v| v.to_string()).join(",")))
        .output()
        .expect("the Python peer runs (make bench installs onnxruntime and Pillow)");
    assert!(peer.status.success(), "{}", String::from_utf8_lossy(&peer.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&peer.stdout).unwrap();
    let p = |name: &str| (peer[name]["p50_ms"].as_f64().unwrap(), peer[name]["p99_ms"].as_f64().unwrap());
    vec![
        Case {
            name: "text-detect",
            ours: paths.map(|pre| measure(|| run(pre, &det, &det_spec))),
            peer: p("text-detect"),
        },
        Case {
            name: "text-recognise",
            ours: paths.map(|pre| measure(|| run(pre, &rec, &rec_spec))),
            peer: p("text-recognise"),
        },
        Case { name: "audio-tags", ours: [measure(ced_run), measure(ced_run)], peer: p("audio-tags") },
    ]
}

struct Quiet;

impl EventSink for Quiet {
    fn emit(&self, _: Event) {}
}

/// 20 s of recording 720p60 with the analysis branch beside it.
fn while_recording(dir: &Path) {
    let graph = format!(
        r#"
name = "bench"
[[nodes]]
id = "src"
kind = "capture.test"
props = {{ pattern = "ball", width = 1280, height = 720, fps = 60 }}
[[nodes]]
id = "tone"
kind = "audio.test"
[[nodes]]
id = "venc"
kind = "encode.h264"
props = {{ encoder = "x264", bitrate_kbps = 8000, keyframe_interval_s = 1.0 }}
[[nodes]]
id = "aenc"
kind = "encode.aac"
[[nodes]]
id = "ring"
kind = "replay.ring"
props = {{ max_seconds = 30 }}
[[nodes]]
id = "motion"
kind = "analyze.motion"
[[nodes]]
id = "text"
kind = "analyze.text"
props = {{ profile = "shooter", width = 1280 }}
[[nodes]]
id = "sound"
kind = "analyze.audio"
props = {{ profile = "shooter" }}
[[nodes]]
id = "score"
kind = "analyze.score"
props = {{ profile = "shooter", auto_clip = false }}
{}"#,
        [
            ("src.video", "venc.video"),
            ("tone.audio", "aenc.audio"),
            ("venc.video", "ring.video"),
            ("aenc.audio", "ring.audio"),
            ("src.video", "motion.video"),
            ("src.video", "text.video"),
            ("tone.audio", "sound.audio"),
            ("motion.out", "score.motion"),
            ("text.out", "score.text"),
            ("sound.out", "score.audio"),
        ]
        .iter()
        .map(|(from, to)| format!("[[links]]\nfrom = \"{from}\"\nto = \"{to}\"\n"))
        .collect::<String>()
    );
    let registry = Arc::new(clipshot_runtime::registry().unwrap());
    let spec = GraphSpec::from_toml(&graph).unwrap();
    let validated = clipshot_core::validate::validate(&spec, &registry).unwrap();
    let options = PipelineOptions {
        data_dir: dir.to_owned(),
        clips_dir: dir.join("clips"),
        events: Arc::new(Quiet),
        offline: false,
    };
    let pipeline = Pipeline::new("bench", validated, registry, options);
    pipeline.start().unwrap();
    // The models open while the pipeline starts: measure from a warm start.
    std::thread::sleep(Duration::from_secs(5));
    let before = pipeline.stats();
    let seconds = 20.0;
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let after = pipeline.stats();
    pipeline.stop();
    let node = |s: &clipshot_gst::PipelineStats, id: &str| s.nodes.iter().find(|n| n.id == id).cloned().unwrap();
    println!("\nanalysis while recording 720p60 (x264) for {seconds} s:");
    println!("node     inputs/s  dropped  ms per input");
    for id in ["motion", "text", "sound", "score"] {
        let (a, b) = (node(&before, id), node(&after, id));
        let inputs = b.frames_in - a.frames_in;
        println!(
            "{id:<8} {:>8.2}  {:>7}  {:>12.2}",
            inputs as f64 / seconds,
            b.dropped - a.dropped,
            if inputs == 0 { 0.0 } else { (b.busy_ms - a.busy_ms) / inputs as f64 }
        );
    }
    let record_drops: u64 =
        ["venc", "ring"].iter().map(|id| node(&after, id).dropped - node(&before, id).dropped).sum();
    let fps = (node(&after, "src").frames_out - node(&before, "src").frames_out) as f64 / seconds;
    println!("record path: {fps:.1} fps captured, {record_drops} dropped (goal: 0)");
}

fn main() {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("ORT_DYLIB_PATH is not set: run `make bench`");
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().unwrap();
    let ai = Ai::new(vec![root().join("models")], 1);
    match ai.preprocessor().adapter() {
        Some(a) => println!("preprocessing on {} ({}, {}); the CPU path beside it", a.name, a.backend, a.device_type),
        None => println!("no GPU adapter: both columns are the CPU path"),
    }
    println!("one intra-op thread on both sides, {ITERS} runs, milliseconds");
    println!(
        "\ncase              frame      ours GPU p50/p99   ours CPU p50/p99   Python p50/p99   ours/Python (best path, p50)"
    );
    for (w, h) in [(1280, 720), (1920, 1080)] {
        for c in inference(&ai, w, h, dir.path()) {
            let best = c.ours[0].0.min(c.ours[1].0);
            println!(
                "{:<16}  {w}×{h:<5}  {:>7.2} / {:<7.2}  {:>7.2} / {:<7.2}  {:>6.2} / {:<6.2}  {:.2}×",
                c.name,
                c.ours[0].0,
                c.ours[0].1,
                c.ours[1].0,
                c.ours[1].1,
                c.peer.0,
                c.peer.1,
                best / c.peer.0
            );
        }
    }
    while_recording(dir.path());
}
