//! Frame latency, per frame, beside GStreamer's own latency tracer.
//!
//! A frame's capture time travels with it as its running time (the PTS a
//! live source stamps), so each packet arriving in the ring, and each input a
//! processor finishes, is measured against the pipeline clock at that moment
//! (`Pipeline::latency_samples_ms`). The peer is the equivalent
//! `gst-launch-1.0` pipeline (the same elements, queue and tee as our graph
//! builds, into `fakesink`) under `GST_TRACERS=latency(flags=pipeline)`,
//! which reports source → sink time per buffer.
//!
//! At 720p60 and 1080p30 (test pattern `ball`, x264 8 Mbps + AAC):
//! - `frame_latency_capture_to_ring[_1080p30]`: capture → encoded packet in
//!   the ring; ratio p99 ours / p99 tracer (goal ≤ 1.1).
//! - `frame_latency_capture_to_score[_1080p30]`: capture → highlight score
//!   (motion detection at its 8 fps, then the scorer).
//! - `frame_latency_trigger_to_clip`: a save of the last 5 s, request → MP4
//!   complete and fsynced (the encoder wait and the write apart), beside
//!   `cp` + fsync of the same bytes.
//! - `frame_latency_capture_to_ring_vizdoom`: the ViZDoom recording
//!   (`make bench-highlights` makes it) played through `capture.file` at its
//!   real rate, when it is there. No tracer figure beside it: from a file
//!   the tracer starts at `filesrc`'s byte chunks, not at frames.

use clipshot_benches::report::{self, Entry, Goal, Part, Side};
use clipshot_benches::{CP_FSYNC_COMMAND, NoEvents, cp_fsync, eval_dir, ms};
use clipshot_core::{GraphSpec, Trigger};
use clipshot_gst::{Pipeline, PipelineOptions, SaveRequest};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// The first second of every run (encoder start-up) is left out.
const WARM_UP_S: f64 = 1.0;

#[derive(Debug, Clone, Copy)]
struct Config {
    label: &'static str,
    width: u32,
    height: u32,
    fps: u32,
}

const CONFIGS: [Config; 2] = [
    Config { label: "720p60", width: 1280, height: 720, fps: 60 },
    Config { label: "1080p30", width: 1920, height: 1080, fps: 30 },
];

fn graph(source: &str, with_analysis: bool) -> String {
    let mut g = format!(
        r#"name = "latency-bench"
{source}
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
[[links]]
from = "src.video"
to = "venc.video"
[[links]]
from = "venc.video"
to = "ring.video"
[[links]]
from = "aenc.audio"
to = "ring.audio"
"#
    );
    if with_analysis {
        g.push_str(
            r#"[[nodes]]
id = "motion"
kind = "analyze.motion"
[[nodes]]
id = "score"
kind = "analyze.score"
props = { profile = "generic", auto_clip = false }
[[links]]
from = "src.video"
to = "motion.video"
[[links]]
from = "motion.out"
to = "score.motion"
"#,
        );
    }
    g
}

fn test_source(c: Config) -> String {
    format!(
        r#"[[nodes]]
id = "src"
kind = "capture.test"
props = {{ pattern = "ball", width = {}, height = {}, fps = {} }}
[[nodes]]
id = "tone"
kind = "audio.test"
[[links]]
from = "tone.audio"
to = "aenc.audio"
"#,
        c.width, c.height, c.fps
    )
}

fn file_source(path: &Path) -> String {
    format!(
        r#"[[nodes]]
id = "src"
kind = "capture.file"
props = {{ path = "{}" }}
[[links]]
from = "src.audio"
to = "aenc.audio"
"#,
        path.display()
    )
}

/// What one run of ours measured.
struct Ours {
    ring_ms: Vec<f64>,
    score_ms: Vec<f64>,
    /// Request → complete and fsynced, the encoder wait, the write; and
    /// `cp` + fsync of the same file, and the clip's size in MB.
    saves: Vec<[f64; 5]>,
    record_drops: u64,
    frames: u64,
}

fn run_ours(dir: &Path, toml: &str, seconds: f64, fps: f64, saves: usize) -> Ours {
    let registry = Arc::new(clipshot_runtime::registry().expect("the built-in registry"));
    let spec = GraphSpec::from_toml(toml).expect("the bench graph parses");
    let graph = clipshot_core::validate::validate(&spec, &registry).expect("the bench graph is valid");
    let options = PipelineOptions {
        data_dir: dir.to_owned(),
        clips_dir: dir.join("clips"),
        events: Arc::new(NoEvents),
        offline: false,
    };
    let pipeline = Pipeline::new("bench", graph, registry, options);
    pipeline.start().expect("the pipeline starts");
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let mut timings = Vec::new();
    for i in 0..saves {
        let saved = pipeline.save(&SaveRequest::last(5.0, Trigger::Api)).expect("the save succeeds");
        let copy = dir.join(format!("cp{i}.mp4"));
        let cp_ms = ms(cp_fsync(&saved.path, &copy));
        timings.push([saved.save_ms, saved.wait_ms, saved.write_ms, cp_ms, saved.info.size_bytes as f64 / 1e6]);
        std::thread::sleep(Duration::from_millis(700));
    }
    let stats = pipeline.stats();
    let ring_ms = pipeline.latency_samples_ms("ring");
    let score_ms = pipeline.latency_samples_ms("score");
    pipeline.stop();
    let node = |id: &str| stats.nodes.iter().find(|n| n.id == id);
    let record_drops = ["venc", "ring"].iter().filter_map(|id| node(id)).map(|n| n.dropped).sum();
    let frames = node("venc").map_or(0, |n| n.frames_out);
    let skip = (WARM_UP_S * fps) as usize;
    Ours {
        ring_ms: ring_ms.into_iter().skip(skip).collect(),
        score_ms: score_ms.into_iter().skip(1).collect(),
        saves: timings,
        record_drops,
        frames,
    }
}

/// The equivalent gst-launch pipeline: what our graph builds for
/// `capture.test → encode.h264 → replay.ring` (+ the test tone through AAC).
fn peer_command(c: Config, frames: u64) -> String {
    format!(
        "videotestsrc name=vsrc is-live=true pattern=ball num-buffers={frames} \
         ! video/x-raw,width={},height={},framerate={}/1 ! queue ! videoconvert ! video/x-raw,format=I420 \
         ! x264enc bitrate=8000 speed-preset=ultrafast tune=zerolatency key-int-max={} ! h264parse \
         ! video/x-h264,stream-format=avc,alignment=au ! tee ! queue ! fakesink name=vsink sync=false \
         audiotestsrc is-live=true num-buffers={} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! queue \
         ! audioconvert ! avenc_aac ! aacparse ! tee ! queue ! fakesink sync=false",
        c.width,
        c.height,
        c.fps,
        c.fps,
        frames * 48_000 / 1024 / u64::from(c.fps)
    )
}

/// Per-frame source → sink latency of the peer, from the tracer, in ms.
fn run_peer(c: Config, seconds: f64) -> (String, Vec<f64>) {
    let frames = (seconds * c.fps as f64) as u64;
    let description = peer_command(c, frames);
    let out = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(description.split_whitespace())
        .env("GST_TRACERS", "latency(flags=pipeline)")
        .env("GST_DEBUG", "GST_TRACER:7")
        .env("GST_DEBUG_NO_COLOR", "1")
        .output()
        .expect("gst-launch-1.0 (gstreamer1.0-tools)");
    assert!(out.status.success(), "the peer pipeline failed: {}", String::from_utf8_lossy(&out.stderr));
    let samples: Vec<f64> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("latency, src-element-id") && l.contains("sink-element=(string)vsink"))
        .filter_map(|l| l.split("time=(guint64)").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .map(|ns| ns as f64 / 1e6)
        .skip((WARM_UP_S * c.fps as f64) as usize)
        .collect();
    assert!(!samples.is_empty(), "the latency tracer reported nothing");
    let command = format!(
        "GST_TRACERS='latency(flags=pipeline)' GST_DEBUG=GST_TRACER:7 gst-launch-1.0 {}",
        description.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    (command, samples)
}

fn p(samples: &[f64], q: f64) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() { f64::NAN } else { report::quantile(&s, q) }
}

fn latency_metrics(mut e: Entry, samples: &[f64]) -> Entry {
    for (k, q) in [("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99), ("max_ms", 1.0)] {
        e = e.metric(k, p(samples, q));
    }
    e
}

/// `frame_latency_trigger_to_clip`: the saves of a run, beside `cp` + fsync.
fn trigger_to_clip(run: &Ours, what: &str) -> Entry {
    let column = |i: usize| run.saves.iter().map(|s| s[i]).collect::<Vec<f64>>();
    let (total, wait, write, cp, size) = (column(0), column(1), column(2), column(3), column(4));
    let entry = Entry::compare(
        "frame_latency_trigger_to_clip",
        &format!("trigger → 5 s clip complete and fsynced while recording {what}"),
        Side::from_samples("clipshot", "Pipeline::save(last 5 s) while recording", "ms", &total),
        Side::from_samples("cp + fsync", CP_FSYNC_COMMAND, "ms", &cp),
    )
    .metric("wait_ms_median", p(&wait, 0.5))
    .metric("write_ms_median", p(&write, 0.5))
    .metric("clip_mb", p(&size, 0.5))
    .note("wait: for the encoder to deliver the span's last frame; write: the MP4, moov first, fsynced");
    latency_metrics(entry, &total)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    gstreamer::init().expect("GStreamer initialises");
    let quick = report::quick();
    let seconds = if quick { 6.0 } else { 20.0 };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut part = Part::new("latency");
    // Encoder probing (trial encodes, once per process) is not frame latency.
    let _ = clipshot_gst::encode::probe::h264_encoders();

    let recording = eval_dir().join("play.mp4");
    let save_count = if quick { 2 } else { 6 };
    for (i, c) in CONFIGS.into_iter().enumerate() {
        let suffix = if i == 0 { String::new() } else { format!("_{}", c.label) };
        report::progress(format!("{}: gst-launch-1.0 with the latency tracer", c.label));
        let (peer_cmd, tracer) = run_peer(c, seconds + WARM_UP_S);
        report::progress(format!("{}: clipshot, record path alone", c.label));
        let plain = run_ours(dir.path(), &graph(&test_source(c), false), seconds + WARM_UP_S, c.fps as f64, 0);
        report::progress(format!("{}: clipshot, with highlight analysis", c.label));
        // Saves are timed on real gameplay when the recording is there (the
        // test pattern compresses to almost nothing), else here.
        let saves = if i == 0 && !recording.is_file() { save_count } else { 0 };
        let analysed = run_ours(dir.path(), &graph(&test_source(c), true), seconds + WARM_UP_S, c.fps as f64, saves);

        let ours_cmd = format!(
            "capture.test (ball, {}x{} @ {}) → encode.h264 (x264, 8 Mbps) → replay.ring, + audio.test → encode.aac",
            c.width, c.height, c.fps
        );
        let ours = Side::from_samples("clipshot", &ours_cmd, "ms", &plain.ring_ms);
        let peer = Side::from_samples("gst-launch-1.0 latency tracer", &peer_cmd, "ms", &tracer);
        let ratio = p(&plain.ring_ms, 0.99) / p(&tracer, 0.99);
        let entry = Entry::compare(
            &format!("frame_latency_capture_to_ring{suffix}"),
            &format!("capture → encoded packet in the ring, per frame, {}", c.label),
            ours,
            peer,
        )
        .ratio(ratio, "p99 ours / p99 of the tracer")
        .goal(Goal::at_most(1.1, "p99 ≤ 1.1× the tracer's"))
        .metric("peer_p50_ms", p(&tracer, 0.5))
        .metric("peer_p99_ms", p(&tracer, 0.99))
        .metric("record_drops", plain.record_drops as f64)
        .metric("frames", plain.frames as f64);
        part.add(latency_metrics(entry, &plain.ring_ms));

        let score = Side::from_samples(
            "clipshot",
            &format!("{ours_cmd}; video → analyze.motion (8 fps) → analyze.score (generic)"),
            "ms",
            &analysed.score_ms,
        );
        let entry = Entry::single(
            &format!("frame_latency_capture_to_score{suffix}"),
            &format!("capture → highlight score available, per analysed frame, {}", c.label),
            score,
        )
        .metric("capture_to_ring_p99_ms_alongside", p(&analysed.ring_ms, 0.99))
        .metric("record_drops", analysed.record_drops as f64)
        .note("motion detection runs at 8 fps; the scorer's result is the score on the pipeline's timeline");
        part.add(latency_metrics(entry, &analysed.score_ms));

        if !analysed.saves.is_empty() {
            part.add(trigger_to_clip(&analysed, "the 720p60 test pattern"));
        }

        part.add_distribution(
            &format!("frame_latency_{}", c.label),
            &format!("Frame latency per frame, {} (CDF)", c.label),
            "ms",
            vec![
                ("clipshot capture → ring".into(), plain.ring_ms),
                ("gst-launch tracer source → sink".into(), tracer),
                ("clipshot capture → score".into(), analysed.score_ms),
            ],
        );
    }

    if recording.is_file() {
        report::progress("ViZDoom recording through capture.file at its real rate");
        let run = run_ours(dir.path(), &graph(&file_source(&recording), true), seconds + WARM_UP_S, 35.0, save_count);
        let ours = Side::from_samples(
            "clipshot",
            &format!("capture.file ({}) → encode.h264 → replay.ring, with analysis", recording.display()),
            "ms",
            &run.ring_ms,
        );
        let entry = Entry::single(
            "frame_latency_capture_to_ring_vizdoom",
            "capture → ring on recorded gameplay (ViZDoom 720p35, real rate)",
            ours,
        )
        .metric("capture_to_score_p99_ms", p(&run.score_ms, 0.99))
        .metric("record_drops", run.record_drops as f64)
        .note("no tracer figure: from a file, the tracer measures from filesrc's byte chunks, not frames");
        part.add(latency_metrics(entry, &run.ring_ms));
        part.add(trigger_to_clip(&run, "the ViZDoom recording (720p35, real rate)"));
    } else {
        println!("no ViZDoom recording at {} (make bench-highlights makes it): skipped", recording.display());
    }
    part.write();
}
