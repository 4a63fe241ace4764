//! Analysis benchmarks (part `inference`), beside their peer:
//!
//! 1. Preprocessing + inference per analysed input, every iteration's ms, at
//!    720p and 1080p: text detection on the `shooter` kill-feed region,
//!    recognition of one line, and (once: it does not depend on the frame)
//!    the AudioSet tagger on a 2 s window — ours (preprocessing on the GPU
//!    adapter wgpu finds, lavapipe without a GPU, and on the CPU path)
//!    against Python's onnxruntime with numpy/Pillow on the same models,
//!    tensors and threads (`benches/python/ort_peer.py`, which prints its
//!    samples too). Headline `infer_vs_python_ort`: text detection at 1080p,
//!    our best path; the rest are `infer_<case>_<path>_<res>` and
//!    `infer_audio_tags_2s`. Goal: ≤ 1.0× the peer. The series
//!    `analysis_cost_vs_resolution` plots text detection's p50 against the
//!    frame's megapixels at 480p, 720p, 1080p and 1440p for the three.
//! 2. Analysis while recording (headline
//!    `analysis_fps_1080p_while_recording`): the test pattern at 1080p30
//!    through x264 into the ring, with motion (8 fps), text (2 fps,
//!    `shooter`), sound and the scorer beside it, for 20 s: the text node's
//!    analysed inputs per second against the rate Python's onnxruntime
//!    reaches alone on the same detection + recognition at 1080p
//!    (1000 / (det p50 + rec p50)); per-node rates and costs, what the
//!    analysis let go and the record path's drops as metrics. Goal (the
//!    highlight issue's): ≥ 8 analysed fps, zero record drops.
//!
//! `--quick`: 10 iterations instead of 50, the series at 720p and 1080p
//! only, 8 s of recording.

use clipshot_ai::Ai;
use clipshot_ai::ocr::{DetectOptions, detector_size};
use clipshot_ai::runtime::InputTensor;
use clipshot_benches::report::{self, Entry, Goal, Part, Series, Side, Summary};
use clipshot_benches::{NoEvents, root};
use clipshot_core::GraphSpec;
use clipshot_gpu::{Format, Frame, Layout, Preprocessor, Spec};
use clipshot_gst::{Pipeline, PipelineOptions};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KILL_FEED: [f32; 4] = [0.62, 0.02, 0.36, 0.22];
/// The recognised line, inside the kill feed.
const LINE: [f32; 4] = [0.655, 0.04, 0.3, 0.06];

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

/// Every iteration's ms, after one warm-up call.
fn measure(iters: usize, mut f: impl FnMut()) -> Vec<f64> {
    f();
    (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn p50(samples: &[f64]) -> f64 {
    Summary::of(samples).map_or(f64::NAN, |s| s.median)
}

fn spec(region: [f32; 4], width: u32, height: u32, mean: [f32; 3], std: [f32; 3]) -> Spec {
    Spec { region, width, height, layout: Layout::Nchw, bgr: true, scale: 1.0 / 255.0, mean, std }
}

/// One measured side: who, what ran, every iteration's ms.
#[derive(Clone)]
struct Run {
    label: String,
    command: String,
    ms: Vec<f64>,
}

impl Run {
    fn side(&self) -> Side {
        Side::from_samples(&self.label, &self.command, "ms", &self.ms)
    }
}

/// One case at one frame size: ours on each preprocessing path, and the peer.
struct Case {
    /// `text_detect`, `text_recognise`, `audio_tags`.
    name: &'static str,
    /// `720p`, `1080p`, `2s` (the audio window).
    size: String,
    what: String,
    /// `(path, run)`: `gpu`, `cpu` (or `none` where there is no preprocessing).
    ours: Vec<(&'static str, Run)>,
    peer: Run,
}

impl Case {
    fn ours(&self, path: &str) -> Option<&Run> {
        self.ours.iter().find(|(p, _)| *p == path).map(|(_, r)| r)
    }

    /// The path with the lower p50.
    fn best(&self) -> &Run {
        self.ours.iter().map(|(_, r)| r).min_by(|a, b| p50(&a.ms).total_cmp(&p50(&b.ms))).unwrap()
    }
}

/// Runs the Python peer with `args` (in the workspace root); its JSON, and
/// the command as a reader could run it again.
fn python_peer(args: &[String]) -> (serde_json::Value, String) {
    let (python, script) = (".venv/bin/python", "benches/python/ort_peer.py");
    let out = Command::new(root().join(python))
        .current_dir(root())
        .arg(script)
        .args(args)
        .output()
        .expect("the Python peer runs (make bench installs onnxruntime and Pillow)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&out.stdout).unwrap(), format!("{python} {script} {}", args.join(" ")))
}

fn peer_run(json: &serde_json::Value, case: &str, command: &str) -> Run {
    let ms = json[case]["samples_ms"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    Run { label: "Python onnxruntime".into(), command: command.into(), ms }
}

fn res_name(h: u32) -> String {
    format!("{h}p")
}

/// Text detection (and, with `recognise`, recognition of one line) at `w`×`h`.
fn text_cases(ai: &Ai, w: u32, h: u32, dir: &Path, iters: usize, recognise: bool) -> Vec<Case> {
    report::progress(format!("text at {w}x{h}"));
    let rgba = frame(w, h);
    let raw = dir.join(format!("frame-{w}x{h}.rgba"));
    std::fs::write(&raw, &rgba).unwrap();
    let f = Frame::tight(Format::Rgba, w, h, &rgba);
    let (det, rec) = (ai.load("ppocr-v4-det").unwrap(), ai.load("ppocr-v4-rec").unwrap());
    let o = DetectOptions::default();
    let (dw, dh) = detector_size(KILL_FEED[2] * w as f32, KILL_FEED[3] * h as f32, o.min_side, o.max_side);
    let rw = ((48.0 * LINE[2] * w as f32 / (LINE[3] * h as f32)).ceil() as u32).clamp(16, 960);
    let det_spec = spec(KILL_FEED, dw, dh, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    let rec_spec = spec(LINE, rw, 48, [0.5; 3], [0.5; 3]);
    let cpu = Preprocessor::Cpu { reason: "the bench's CPU path".into() };
    let mut paths: Vec<(&'static str, &Preprocessor, String)> = Vec::new();
    if let Some(a) = ai.preprocessor().adapter() {
        paths.push(("gpu", ai.preprocessor(), format!("GPU path ({}, {})", a.name, a.backend)));
    }
    paths.push(("cpu", &cpu, "CPU path".into()));
    let run = |pre: &Preprocessor, model: &clipshot_ai::LoadedModel, s: &Spec| {
        let tensor = pre.preprocess(&f, s).unwrap();
        let input =
            InputTensor::F32 { name: "x".into(), shape: vec![1, 3, s.height as usize, s.width as usize], data: tensor };
        model.run(vec![input]).unwrap();
    };
    let region = |r: [f32; 4]| r.map(|v| v.to_string()).join(",");
    let mut args: Vec<String> = vec![
        "--frame".into(),
        raw.display().to_string(),
        "--width".into(),
        w.to_string(),
        "--height".into(),
        h.to_string(),
        "--models".into(),
        "models".into(),
        "--iters".into(),
        iters.to_string(),
        "--det".into(),
        format!("{}:{dw}x{dh}", region(KILL_FEED)),
    ];
    if recognise {
        args.extend(["--rec".into(), format!("{}:{rw}x48", region(LINE))]);
        args.extend(["--cases".into(), "text-detect,text-recognise".into()]);
    } else {
        args.extend(["--cases".into(), "text-detect".into()]);
    }
    let (peer, peer_cmd) = python_peer(&args);
    let ours_cmd = |model: &str, s: &Spec, path: &str| {
        format!(
            "clipshot_gpu::Preprocessor::preprocess ({path}) of region {} of a {w}x{h} RGBA frame to a {}x{} NCHW \
             tensor + clipshot_ai LoadedModel::run of models/{model} (onnxruntime, 1 intra-op thread), \
             benches/benches/inference.rs",
            region(s.region),
            s.width,
            s.height
        )
    };
    let mut cases = Vec::new();
    let mut one = |name, what: String, model: &clipshot_ai::LoadedModel, model_dir: &str, s: &Spec, key: &str| {
        let ours = paths
            .iter()
            .map(|(path, pre, label)| {
                let ms = measure(iters, || run(pre, model, s));
                (*path, Run { label: format!("clipshot, {label}"), command: ours_cmd(model_dir, s, label), ms })
            })
            .collect();
        cases.push(Case { name, size: res_name(h), what, ours, peer: peer_run(&peer, key, &peer_cmd) });
    };
    one(
        "text_detect",
        format!("text detection of the kill feed ({dw}x{dh}) in a {w}x{h} frame"),
        &det,
        "ppocr-v4-det",
        &det_spec,
        "text-detect",
    );
    if recognise {
        one(
            "text_recognise",
            format!("recognition of one line ({rw}x48) in a {w}x{h} frame"),
            &rec,
            "ppocr-v4-rec",
            &rec_spec,
            "text-recognise",
        );
    }
    cases
}

/// The AudioSet tagger on a 2 s window (no preprocessing: one path).
fn audio_case(ai: &Ai, iters: usize) -> Case {
    report::progress("audio tags");
    let ced = ai.load("ced-tiny").unwrap();
    let wave: Vec<f32> = (0..32_000).map(|i| (i as f32 * 0.37).sin() * 0.1).collect();
    let ced_input = ai.entry("ced-tiny").and_then(|e| e.manifest().map(|m| m.inputs[0].name.clone())).unwrap();
    let ms = measure(iters, || {
        let input = InputTensor::F32 { name: ced_input.clone(), shape: vec![1, wave.len()], data: wave.clone() };
        ced.run(vec![input]).unwrap();
    });
    let args: Vec<String> =
        ["--models", "models", "--iters", &iters.to_string(), "--cases", "audio-tags", "--audio", "2"]
            .map(String::from)
            .into();
    let (peer, peer_cmd) = python_peer(&args);
    let ours = Run {
        label: "clipshot".into(),
        command: "clipshot_ai LoadedModel::run of models/ced-tiny on 32000 samples (2 s at 16 kHz; onnxruntime, \
                  1 intra-op thread), benches/benches/inference.rs"
            .into(),
        ms,
    };
    Case {
        name: "audio_tags",
        size: "2s".into(),
        what: "the AudioSet tagger on a 2 s window".into(),
        ours: vec![("none", ours)],
        peer: peer_run(&peer, "audio-tags", &peer_cmd),
    }
}

/// One node's work over the measured span.
struct NodeWork {
    inputs: u64,
    dropped: u64,
    busy_ms: f64,
}

impl NodeWork {
    fn per_s(&self, seconds: f64) -> f64 {
        self.inputs as f64 / seconds
    }
    fn ms_per_input(&self) -> f64 {
        if self.inputs == 0 { 0.0 } else { self.busy_ms / self.inputs as f64 }
    }
}

struct Recording {
    seconds: f64,
    /// motion, text, sound, score.
    nodes: Vec<(&'static str, NodeWork)>,
    record_drops: u64,
    captured_fps: f64,
    graph: String,
}

/// `seconds` of recording 1080p30 with the analysis branch beside it.
fn while_recording(dir: &Path, seconds: f64) -> Recording {
    let graph = format!(
        r#"
name = "bench"
[[nodes]]
id = "src"
kind = "capture.test"
props = {{ pattern = "ball", width = 1920, height = 1080, fps = 30 }}
[[nodes]]
id = "tone"
kind = "audio.test"
[[nodes]]
id = "venc"
kind = "encode.h264"
props = {{ encoder = "x264", preset = "ultrafast", bitrate_kbps = 8000, keyframe_interval_s = 1.0 }}
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
        events: Arc::new(NoEvents),
        offline: false,
    };
    let pipeline = Pipeline::new("bench", validated, registry, options);
    pipeline.start().unwrap();
    // The models open while the pipeline starts: measure from a warm start.
    report::progress("recording 1080p30 with analysis: warm-up");
    std::thread::sleep(Duration::from_secs(5));
    let before = pipeline.stats();
    report::progress(format!("recording 1080p30 with analysis for {seconds} s"));
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let after = pipeline.stats();
    pipeline.stop();
    let node = |s: &clipshot_gst::PipelineStats, id: &str| s.nodes.iter().find(|n| n.id == id).cloned().unwrap();
    let nodes = ["motion", "text", "sound", "score"]
        .into_iter()
        .map(|id| {
            let (a, b) = (node(&before, id), node(&after, id));
            (
                id,
                NodeWork {
                    inputs: b.frames_in - a.frames_in,
                    dropped: b.dropped - a.dropped,
                    busy_ms: b.busy_ms - a.busy_ms,
                },
            )
        })
        .collect();
    let record_drops = ["venc", "ring"].iter().map(|id| node(&after, id).dropped - node(&before, id).dropped).sum();
    let captured_fps = (node(&after, "src").frames_out - node(&before, "src").frames_out) as f64 / seconds;
    Recording { seconds, nodes, record_drops, captured_fps, graph }
}

fn main() {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("ORT_DYLIB_PATH is not set: run `make bench`");
        std::process::exit(2);
    }
    let quick = report::quick();
    let iters = if quick { 10 } else { 50 };
    let record_s = if quick { 8.0 } else { 20.0 };
    let series_sizes: &[(u32, u32)] =
        if quick { &[(1280, 720), (1920, 1080)] } else { &[(854, 480), (1280, 720), (1920, 1080), (2560, 1440)] };
    let mut part = Part::new("inference");
    let dir = tempfile::tempdir().unwrap();
    let ai = Ai::new(vec![root().join("models")], 1);
    match ai.preprocessor().adapter() {
        Some(a) => println!("preprocessing on {} ({}, {}); the CPU path beside it", a.name, a.backend, a.device_type),
        None => println!("no GPU adapter: only the CPU path"),
    }
    println!("one intra-op thread on both sides, {iters} runs, milliseconds");

    // Text at every size of the series; recognition (and the entries) at 720p and 1080p.
    let mut text: Vec<((u32, u32), Vec<Case>)> = Vec::new();
    for &(w, h) in series_sizes {
        let recognise = matches!(h, 720 | 1080);
        text.push(((w, h), text_cases(&ai, w, h, dir.path(), iters, recognise)));
    }
    let audio = audio_case(&ai, iters);
    let at = |h: u32, name: &str| {
        text.iter().find(|((_, th), _)| *th == h).and_then(|(_, cs)| cs.iter().find(|c| c.name == name)).unwrap()
    };

    // Headline 1: text detection at 1080p, our best path.
    let det_1080 = at(1080, "text_detect");
    let best = det_1080.best();
    let goal = || Goal::at_most(1.0, "≤ 1.0× Python onnxruntime");
    part.add(
        Entry::compare(
            "infer_vs_python_ort",
            &format!("Preprocessing + inference, {} (our best path), against Python onnxruntime", det_1080.what),
            best.side(),
            det_1080.peer.side(),
        )
        .goal(goal())
        .metric("p99_ms", best.side().summary.p99)
        .metric("peer_p99_ms", det_1080.peer.side().summary.p99),
    );

    // Headline 2: analysis while recording.
    let recording = while_recording(dir.path(), record_s);
    let rec_1080 = at(1080, "text_recognise");
    let python_rate = 1000.0 / (p50(&det_1080.peer.ms) + p50(&rec_1080.peer.ms));
    let work = |id: &str| &recording.nodes.iter().find(|(n, _)| *n == id).unwrap().1;
    let secs = recording.seconds;
    let text_rate = work("text").per_s(secs);
    let analysed_all: f64 = ["motion", "text", "sound"].iter().map(|id| work(id).per_s(secs)).sum();
    let dropped_analysis: u64 = recording.nodes.iter().map(|(_, w)| w.dropped).sum();
    println!("\nanalysis while recording 1080p30 (x264) for {secs} s:");
    println!("node     inputs/s  dropped  ms per input");
    for (id, w) in &recording.nodes {
        println!("{id:<8} {:>8.2}  {:>7}  {:>12.2}", w.per_s(secs), w.dropped, w.ms_per_input());
    }
    println!("record path: {:.1} fps captured, {} dropped (goal: 0)", recording.captured_fps, recording.record_drops);
    let graph_line = recording.graph.split_whitespace().collect::<Vec<_>>().join(" ");
    // The text node's capacity while recording (what one analysed input
    // costs it, beside the encoder and the other detectors) against
    // Python's standalone rate; the issue's goal is the rate all detectors
    // reach with nothing dropped.
    let text_capacity = 1000.0 / work("text").ms_per_input();
    let mut entry = Entry::compare(
        "analysis_fps_1080p_while_recording",
        "Text analysis capacity while recording 1080p30 (1000 / ms per analysed input of the text node; x264 into \
         the ring, motion + sound + scorer beside it), against Python onnxruntime's standalone detection + \
         recognition rate at 1080p",
        Side::new(
            "clipshot text node while recording",
            format!(
                "clipshot_gst::Pipeline of this graph, in process, {secs} s after a 5 s warm start \
                 (1000 / ms per analysed input of `text`): {graph_line}"
            ),
            "inputs_per_s",
            Summary::single(text_capacity),
        ),
        Side::new(
            "Python onnxruntime det + rec, standalone",
            if det_1080.peer.command == rec_1080.peer.command {
                format!("1000 / (p50 of text-detect + p50 of text-recognise) of: {}", det_1080.peer.command)
            } else {
                format!(
                    "1000 / (p50 of text-detect + p50 of text-recognise) of: {} ; {}",
                    det_1080.peer.command, rec_1080.peer.command
                )
            },
            "inputs_per_s",
            Summary::single(python_rate),
        ),
    )
    .goal(
        Goal::on_metrics("≥ 8 analysed fps (all detectors) while recording, 0 record drops (the highlight issue)")
            .metric_at_least("analysed_fps_all", 8.0)
            .metric_at_most("record_drops", 0.0),
    )
    .metric("record_drops", recording.record_drops as f64)
    .metric("captured_fps", recording.captured_fps)
    .metric("analysed_fps_all", analysed_all)
    .metric("dropped_analysis", dropped_analysis as f64)
    .metric("text_ms_per_input", work("text").ms_per_input());
    for id in ["motion", "text", "sound", "score"] {
        entry = entry.metric(&format!("{id}_fps"), work(id).per_s(secs));
    }
    for id in ["motion", "sound"] {
        entry = entry.metric(&format!("{id}_ms_per_input"), work(id).ms_per_input());
    }
    entry = entry.note(format!(
        "{analysed_all:.1} analysed inputs/s of all detectors, {text_rate:.1} of them text (the text node asks for \
         at most 2 fps, its default); each text input detects in both `shooter` regions at 1280 px wide and \
         recognises every line it finds, where the peer detects the kill feed and recognises one line"
    ));
    part.add(entry);

    // The rest: every case on every path, at 720p and 1080p, and the tagger.
    for ((_, h), cases) in &text {
        if !matches!(h, 720 | 1080) {
            continue;
        }
        for c in cases {
            for (path, run) in &c.ours {
                part.add(
                    Entry::compare(
                        &format!("infer_{}_{path}_{}", c.name, c.size),
                        &format!("Preprocessing + inference, {} ({path} path), against Python onnxruntime", c.what),
                        run.side(),
                        c.peer.side(),
                    )
                    .goal(goal())
                    .metric("p99_ms", run.side().summary.p99)
                    .metric("peer_p99_ms", c.peer.side().summary.p99),
                );
            }
        }
    }
    let a = &audio.ours[0].1;
    part.add(
        Entry::compare(
            &format!("infer_{}_{}", audio.name, audio.size),
            &format!("Inference, {}, against Python onnxruntime", audio.what),
            a.side(),
            audio.peer.side(),
        )
        .goal(goal())
        .metric("p99_ms", a.side().summary.p99)
        .metric("peer_p99_ms", audio.peer.side().summary.p99),
    );
    if ai.preprocessor().adapter().is_none() {
        println!("(no GPU adapter: no GPU-path entries)");
    }

    // How text detection's cost grows with the frame.
    let line = |pick: &dyn Fn(&Case) -> Option<&Run>| {
        text.iter()
            .filter_map(|((w, h), cs)| {
                let c = cs.iter().find(|c| c.name == "text_detect")?;
                Some((f64::from(w * h) / 1e6, p50(&pick(c)?.ms)))
            })
            .collect::<Vec<_>>()
    };
    let mut series = Series::new(
        "analysis_cost_vs_resolution",
        "Text detection (kill-feed region), preprocessing + inference p50, against the frame's size",
        "frame megapixels",
        "ms per input",
    );
    if ai.preprocessor().adapter().is_some() {
        series = series.line("ours (GPU path)", line(&|c| c.ours("gpu")));
    }
    series =
        series.line("ours (CPU path)", line(&|c| c.ours("cpu"))).line("Python onnxruntime", line(&|c| Some(&c.peer)));
    part.add_series(series);
    part.add_distribution(
        "text_detect_1080p_latency",
        "Text detection at 1080p, preprocessing + inference per input",
        "ms",
        det_1080
            .ours
            .iter()
            .map(|(_, r)| (r.label.clone(), r.ms.clone()))
            .chain([(det_1080.peer.label.clone(), det_1080.peer.ms.clone())])
            .collect(),
    );
    part.write();
}
