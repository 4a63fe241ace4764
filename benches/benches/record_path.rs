//! Record-path benchmarks (`make bench`), each side by side with its peer:
//!
//! 1. Save latency of 30 s and 60 s of 720p60 H.264 at 8 Mbps + AAC held in the
//!    ring, against `gst-launch-1.0 filesrc ! qtdemux ! h264parse ! mp4mux !
//!    filesink` remuxing the same stream from an MP4, and `cp` of a file of the
//!    clip's size; all with fsync; medians of interleaved repeats.
//! 2. Record-path CPU seconds per frame: our pipeline (test source → x264 →
//!    ring) against the same elements in `gst-launch-1.0 … ! fakesink`.
//! 3. Ring memory against bitrate × seconds.
//! 4. The live preview's cost: record-path CPU per recorded frame with the
//!    shipped preset's `video.preview` node (2 fps, 480 px) against the same
//!    graph without it, measured back to back.
//!
//! Goals (from the issues): save ≤ 0.5× the remux, record CPU ≤ 1.05×
//! gst-launch, ring memory ≤ 1.1× bitrate × seconds, preview ≤ 1.02×.

use clipshot_benches::{cpu_seconds, median, rss_bytes};
use clipshot_core::{Event, EventSink, GraphSpec};
use clipshot_gst::{Pipeline, PipelineOptions, RingNode};
use clipshot_replay::{RingConfig, Span, save_clip};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPEATS: usize = 10;
const RECORD_SECONDS: u64 = 10;

fn fsync(path: &Path) {
    std::fs::File::open(path).and_then(|f| f.sync_all()).expect("fsync");
}

fn gst_launch(description: &str) -> std::process::ExitStatus {
    Command::new("gst-launch-1.0")
        .arg("-q")
        .args(description.split_whitespace())
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools)")
}

/// `seconds` of 720p60 at 8 Mbps (snow: the encoder spends its whole budget) + AAC.
fn make_source(dir: &Path, seconds: u32) -> PathBuf {
    let path = dir.join(format!("src{seconds}.mp4"));
    let frames = seconds * 60;
    let audio = seconds * 48_000 / 1024;
    let status = gst_launch(&format!(
        "videotestsrc num-buffers={frames} pattern=snow ! video/x-raw,width=1280,height=720,framerate=60/1,format=I420 \
         ! x264enc bitrate=8000 speed-preset=ultrafast tune=zerolatency key-int-max=60 ! h264parse \
         ! mp4mux name=m ! filesink location={} \
         audiotestsrc num-buffers={audio} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 \
         ! avenc_aac ! aacparse ! m.",
        path.display()
    ));
    assert!(status.success(), "could not make the source clip");
    path
}

/// Demuxes `source` into a ring through the same appsink bridge the record path uses.
fn fill_ring(source: &Path) -> Arc<RingNode> {
    let node = RingNode::new(RingConfig { max_seconds: 120.0, max_bytes: 4 << 30 });
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux name=d \
         d.video_0 ! queue ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=v \
         d.audio_0 ! queue ! aacparse ! appsink name=a",
        source.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let replace = |name: &str, sink: gst::Element| {
        let old = pipeline.by_name(name).unwrap();
        let peer = old.static_pad("sink").unwrap().peer().unwrap().parent_element().unwrap();
        pipeline.remove(&old).unwrap();
        pipeline.add(&sink).unwrap();
        peer.link(&sink).unwrap();
    };
    replace("v", node.video_sink("ring-video").upcast());
    replace("a", node.audio_sink("ring-audio").upcast());
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert!(matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)), "filling the ring failed");
    pipeline.set_state(gst::State::Null).unwrap();
    node
}

fn bench_saves(dir: &Path) {
    println!("== save latency (720p60, 8 Mbps, + AAC; with fsync; median of {REPEATS})");
    let rss_before = rss_bytes();
    let source60 = make_source(dir, 60);
    let source30 = make_source(dir, 30);
    let ring = fill_ring(&source60);
    let rss_after = rss_bytes();

    let stats = ring.ring.stats();
    let file_bytes = std::fs::metadata(&source60).unwrap().len();
    println!(
        "   ring: {:.1} s, {:.1} MB in packets; process RSS grew {:.1} MB; the 60 s file is {:.1} MB",
        stats.seconds,
        stats.bytes as f64 / 1e6,
        rss_after.saturating_sub(rss_before) as f64 / 1e6,
        file_bytes as f64 / 1e6
    );
    // The stream's real bitrate (file bytes over its 60 s) times the seconds held.
    let bitrate_bytes = file_bytes as f64 / 60.0 * stats.seconds;
    println!(
        "   ring memory / (bitrate × seconds): {:.3} (packets), {:.3} (RSS growth)",
        stats.bytes as f64 / bitrate_bytes,
        rss_after.saturating_sub(rss_before) as f64 / bitrate_bytes
    );

    let end = ring.ring.newest_video_ns().unwrap();
    for (seconds, source) in [(30.0, &source30), (60.0, &source60)] {
        let (mut ours, mut remux, mut remux_nosync, mut cp) = (vec![], vec![], vec![], vec![]);
        let out = dir.join("out");
        for i in 0..REPEATS {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).unwrap();
            // Ours: snapshot + faststart write + fsync + rename + directory fsync.
            let t = Instant::now();
            let snapshot = ring.ring.snapshot(Span { start_ns: end - (seconds * 1e9) as i64, end_ns: end }).unwrap();
            let saved = save_clip(&out, &format!("ours{i}.mp4"), &snapshot.clip_source()).unwrap();
            ours.push(t.elapsed());
            drop(snapshot);

            let target = out.join(format!("remux{i}.mp4"));
            let t = Instant::now();
            let status = gst_launch(&format!(
                "filesrc location={} ! qtdemux name=d d.video_0 ! queue ! h264parse ! mp4mux name=m ! filesink location={} \
                 d.audio_0 ! queue ! aacparse ! m.",
                source.display(),
                target.display()
            ));
            assert!(status.success());
            remux_nosync.push(t.elapsed());
            fsync(&target);
            remux.push(t.elapsed());

            let copy = out.join(format!("cp{i}.mp4"));
            let t = Instant::now();
            std::fs::copy(&saved.path, &copy).unwrap();
            fsync(&copy);
            cp.push(t.elapsed());
        }
        let (o, r, rn, c) = (median(&mut ours), median(&mut remux), median(&mut remux_nosync), median(&mut cp));
        println!(
            "   {seconds:>2} s: ours {:>7.1} ms | gst-launch remux {:>7.1} ms (without fsync {:>7.1} ms) | cp+fsync {:>6.1} ms",
            o.as_secs_f64() * 1e3,
            r.as_secs_f64() * 1e3,
            rn.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3
        );
        println!(
            "         ours / remux = {:.3} (goal ≤ 0.5), ours / cp = {:.2}",
            o.as_secs_f64() / r.as_secs_f64(),
            o.as_secs_f64() / c.as_secs_f64()
        );
    }
}

struct Quiet;
impl EventSink for Quiet {
    fn emit(&self, _: Event) {}
}

/// CPU seconds per recorded frame of the shipped test-pattern preset, with
/// or without its preview node; and the preview's frames.
fn our_cpu_per_frame(dir: &Path, with_preview: bool) -> (f64, u64, u64) {
    let registry = Arc::new(clipshot_runtime::registry().unwrap());
    let preset =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/test-pattern.toml")).unwrap();
    let mut spec = GraphSpec::from_toml(
        &preset.replace("keyframe_interval_s = 1.0", "keyframe_interval_s = 1.0, encoder = \"x264\""),
    )
    .unwrap();
    if !with_preview {
        spec.nodes.retain(|n| n.kind != "video.preview");
        spec.links.retain(|l| !l.to.starts_with("preview."));
    }
    let graph = clipshot_core::validate::validate(&spec, &registry).unwrap();
    let options = PipelineOptions {
        data_dir: dir.to_owned(),
        clips_dir: dir.join("clips"),
        events: Arc::new(Quiet),
        offline: false,
    };
    let pipeline = Pipeline::new("bench", graph, registry, options);
    let (cpu0, _) = cpu_seconds();
    pipeline.start().unwrap();
    std::thread::sleep(Duration::from_secs(RECORD_SECONDS));
    let stats = pipeline.stats();
    pipeline.stop();
    let (cpu1, _) = cpu_seconds();
    let frames_of = |id: &str| stats.nodes.iter().find(|n| n.id == id).map_or(0, |n| n.frames_out.max(n.frames_in));
    let frames = frames_of("venc");
    ((cpu1 - cpu0) / frames.max(1) as f64, frames, frames_of("preview"))
}

fn bench_record_cpu(dir: &Path) {
    println!(
        "== record-path CPU (720p60 test source → x264 ultrafast/zerolatency 8 Mbps + AAC, {RECORD_SECONDS} s live)"
    );
    // Encoder probing (trial encodes, cached per process) is a one-off start-up
    // cost, not record-path work: do it before the clock starts.
    let encoders = clipshot_gst::encode::probe::h264_encoders();
    assert!(encoders.iter().any(|e| e.usable), "{encoders:?}");
    // Interleaved, so that drift in the machine's load hits both alike.
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let mut frames = 0;
    let mut preview_frames = 0;
    for _ in 0..2 {
        let (c, f, _) = our_cpu_per_frame(dir, false);
        without.push(c);
        let (c, _, p) = our_cpu_per_frame(dir, true);
        with.push(c);
        (frames, preview_frames) = (f, p);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ours, ours_with_preview) = (mean(&without), mean(&with));
    println!(
        "   preview (video.preview 2 fps, 480 px): {:.2} ms CPU/frame with it, {:.2} ms without ({preview_frames} previews) | ratio {:.3} (goal ≤ 1.02)",
        ours_with_preview * 1e3,
        ours * 1e3,
        ours_with_preview / ours
    );

    let (_, child0) = cpu_seconds();
    let t = Instant::now();
    let status = Command::new("timeout")
        .args(["-s", "INT", &RECORD_SECONDS.to_string(), "gst-launch-1.0", "-q", "-e"])
        .args(
            "videotestsrc is-live=true pattern=smpte ! video/x-raw,width=1280,height=720,framerate=60/1 ! queue \
             ! videoconvert ! video/x-raw,format=I420 ! x264enc bitrate=8000 speed-preset=ultrafast tune=zerolatency key-int-max=60 \
             ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! queue ! fakesink sync=false \
             audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! queue ! audioconvert ! avenc_aac \
             ! aacparse ! queue ! fakesink sync=false"
                .split_whitespace(),
        )
        .status()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    let (_, child1) = cpu_seconds();
    assert!(status.code().is_some(), "gst-launch-1.0 was killed");
    let peer_frames = (wall * 60.0).round();
    let peer = (child1 - child0) / peer_frames;
    println!(
        "   ours {:.2} ms CPU/frame ({frames} frames) | gst-launch {:.2} ms CPU/frame (~{peer_frames} frames) | ratio {:.3} (goal ≤ 1.05)",
        ours * 1e3,
        peer * 1e3,
        ours / peer
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    gst::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `cargo bench --bench record_path -- record_cpu` runs one part alone.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "saves") {
        bench_saves(dir.path());
    }
    if only.as_deref().is_none_or(|o| o == "record_cpu") {
        bench_record_cpu(dir.path());
    }
}
