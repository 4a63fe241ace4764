//! Record-path benchmarks, each side by side with its peer in the same run:
//!
//! 1. Save latency (`save_vs_gst_remux`, `save_vs_cp_fsync`, and `_60s`):
//!    30 s and 60 s of 720p60 H.264 at 8 Mbps + AAC held in the ring, saved
//!    as an MP4 and fsynced, against `gst-launch-1.0 filesrc ! qtdemux !
//!    h264parse ! mp4mux ! filesink` remuxing the same stream from an MP4
//!    (+ fsync), and against `cp` + fsync of the clip's bytes; interleaved
//!    repeats, medians. The ring is filled from a file, so there is no
//!    encoder wait here: `frame_latency_trigger_to_clip` (the latency bench)
//!    measures a save while recording, wait and write apart.
//! 2. Save time against clip length, 10–120 s, and against bytes, beside
//!    `cp` + fsync of the same bytes (series, fitted).
//! 3. Ring memory (`ring_memory_vs_bitrate`): the process's resident growth
//!    while the ring fills, against the bytes of the packets it received;
//!    and the growth against seconds held (series).
//! 4. Record-path CPU (`record_cpu_vs_gst_launch`): CPU seconds per frame of
//!    the shipped test-pattern preset (x264) against the same elements in
//!    `gst-launch-1.0 … ! fakesink`, interleaved runs; and on recorded
//!    gameplay (the ViZDoom recording through `capture.file` at its real
//!    rate) when it is there.
//! 5. The live preview's cost (`preview_cpu_vs_without`): record-path CPU
//!    per frame with the preset's `video.preview` node against without.
//!
//! Goals: save ≤ 0.5× the remux and ≤ 1.0× cp + fsync, record CPU ≤ 1.02×
//! gst-launch, ring memory ≤ 1.05× bytes held, preview ≤ 1.02×.
//!
//! `cargo bench --bench record_path -- saves|memory|record_cpu` runs one part.

use clipshot_benches::report::{self, Entry, Goal, Part, Series, Side};
use clipshot_benches::{
    CP_FSYNC_COMMAND, NoEvents, cp_fsync, cpu_seconds, eval_dir, fsync, heap_in_use_bytes, median, ms, root, rss_bytes,
};
use clipshot_core::GraphSpec;
use clipshot_gst::{Pipeline, PipelineOptions, RingNode};
use clipshot_replay::{RingConfig, Span, save_clip};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    if path.is_file() {
        return path;
    }
    let frames = seconds * 60;
    let audio = seconds * 48_000 / 1024;
    report::progress(format!("encoding a {seconds} s source clip"));
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

/// A ring filled from a file, with the process's resident growth sampled
/// against the seconds and bytes it held while it filled.
struct Filled {
    node: Arc<RingNode>,
    /// (seconds held, packet bytes held, resident growth in bytes).
    growth: Vec<(f64, f64, f64)>,
    /// (seconds held, growth of the allocator's bytes in use).
    heap: Vec<(f64, f64)>,
}

/// Demuxes `source` into a ring through the same appsink bridge the record path uses.
fn fill_ring(source: &Path) -> Filled {
    let node = RingNode::new(RingConfig { max_seconds: 130.0, max_bytes: 4 << 30 });
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux name=d \
         d.video_0 ! queue ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=v \
         d.audio_0 ! queue ! aacparse ! appsink name=a",
        source.display()
    ))
    .expect("the demux pipeline parses")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let replace = |name: &str, sink: gst::Element| {
        let old = pipeline.by_name(name).expect("the placeholder sink");
        let peer = old.static_pad("sink").and_then(|p| p.peer()).and_then(|p| p.parent_element()).expect("linked");
        pipeline.remove(&old).expect("remove");
        pipeline.add(&sink).expect("add");
        peer.link(&sink).expect("link");
    };
    replace("v", node.video_sink("ring-video").upcast());
    replace("a", node.audio_sink("ring-audio").upcast());
    let (rss_before, heap_before) = (rss_bytes(), heap_in_use_bytes() as f64);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (node, done) = (Arc::clone(&node), Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut points, mut heap) = (Vec::new(), Vec::new());
            while !done.load(Ordering::Relaxed) {
                let s = node.ring.stats();
                points.push((s.seconds, s.bytes as f64, rss_bytes().saturating_sub(rss_before) as f64));
                heap.push((s.seconds, heap_in_use_bytes() as f64 - heap_before));
                std::thread::sleep(Duration::from_millis(50));
            }
            (points, heap)
        })
    };
    pipeline.set_state(gst::State::Playing).expect("the demux pipeline plays");
    let bus = pipeline.bus().expect("a bus");
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(300), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert!(matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)), "filling the ring failed");
    pipeline.set_state(gst::State::Null).expect("the demux pipeline stops");
    done.store(true, Ordering::Relaxed);
    let (mut growth, mut heap) = sampler.join().expect("the sampler");
    let s = node.ring.stats();
    growth.push((s.seconds, s.bytes as f64, rss_bytes().saturating_sub(rss_before) as f64));
    heap.push((s.seconds, heap_in_use_bytes() as f64 - heap_before));
    Filled { node, growth, heap }
}

/// Resident bytes per packet byte, as the slope of one against the other.
fn marginal(growth: &[(f64, f64, f64)]) -> f64 {
    report::Fit::of(&growth.iter().map(|g| (g.1, g.2)).collect::<Vec<_>>()).map_or(f64::NAN, |f| f.slope)
}

/// One save from the ring, timed whole and in its two parts.
struct Saved {
    total: Duration,
    /// Taking the span out of the ring (under its lock).
    snapshot: Duration,
    /// The moov, the media, fsync, rename and the folder's fsync.
    write: Duration,
    path: PathBuf,
}

/// Saves the last `seconds` of the ring.
fn save_ours(ring: &RingNode, out: &Path, name: &str, seconds: f64) -> Saved {
    let end = ring.ring.newest_video_ns().expect("the ring holds video");
    let t = Instant::now();
    let snapshot = ring.ring.snapshot(Span { start_ns: end - (seconds * 1e9) as i64, end_ns: end }).expect("a span");
    let taken = t.elapsed();
    let saved = save_clip(out, name, &snapshot.clip_source()).expect("the save succeeds");
    let total = t.elapsed();
    Saved { total, snapshot: taken, write: total - taken, path: saved.path }
}

fn bench_saves(part: &mut Part, dir: &Path, quick: bool) {
    let repeats = if quick { 3 } else { 10 };
    let lengths: &[u32] = if quick { &[30] } else { &[30, 60] };
    let ring_seconds = if quick { 30 } else { 120 };
    let ring_source = make_source(dir, ring_seconds);
    report::progress("filling the ring");
    let filled = fill_ring(&ring_source);
    let ring = &filled.node;

    // Ring memory: resident growth against the bytes the ring received.
    let stats = ring.ring.stats();
    let (_, bytes, rss) = *filled.growth.last().expect("sampled");
    let heap_growth = filled.heap.last().map_or(f64::NAN, |h| h.1);
    let packets = (stats.video_packets + stats.audio_packets) as f64;
    let entry = Entry::compare(
        "ring_memory_vs_bitrate",
        &format!(
            "process memory grown by holding {:.0} s of 8 Mbps 720p60 + AAC, against the bytes held",
            stats.seconds
        ),
        Side::new("clipshot", "RSS growth while replay.ring fills", "MB", report::Summary::single(rss / 1e6)),
        Side::new(
            "bytes received",
            "sum of the packets' sizes in the ring",
            "MB",
            report::Summary::single(bytes / 1e6),
        ),
    )
    .goal(Goal::at_most(1.05, "≤ 1.05× the bytes held"))
    // The slope leaves out what filling costs once (the demuxer, the
    // allocator's first arenas): what each further byte held costs.
    .metric("marginal_ratio", marginal(&filled.growth))
    .metric("seconds_held", stats.seconds)
    .metric("packets_mb", stats.bytes as f64 / 1e6)
    .metric("heap_in_use_mb", heap_growth / 1e6)
    .metric("heap_ratio", heap_growth / stats.bytes as f64)
    .metric("heap_overhead_bytes_per_packet", (heap_growth - stats.bytes as f64) / packets)
    .metric("packets", packets)
    .note(
        "heap_ratio: what the allocator handed out and kept out (malloc in use) against the bytes held; what \
         each packet costs beyond its bytes (GStreamer's buffer and memory, the ring's entry) is \
         heap_overhead_bytes_per_packet; the rest of the resident growth is memory the allocator was given \
         back and kept",
    );
    part.add(entry);
    part.add_series(
        Series::new(
            "ring_memory_vs_seconds",
            "Ring memory against seconds held (720p60, 8 Mbps)",
            "seconds held",
            "MB",
        )
        .line("resident growth", filled.growth.iter().map(|g| (g.0, g.2 / 1e6)).collect())
        .line("allocated (malloc in use)", filled.heap.iter().map(|h| (h.0, h.1 / 1e6)).collect())
        .line("packet bytes held", filled.growth.iter().map(|g| (g.0, g.1 / 1e6)).collect()),
    );

    // Headline saves: ours, the remux, cp; interleaved so that drift in the
    // machine's load hits all three alike.
    let out = dir.join("out");
    for &seconds in lengths {
        let source = make_source(dir, seconds);
        report::progress(format!("saving {seconds} s, {repeats} interleaved repeats"));
        let (mut ours, mut remux, mut remux_nosync, mut cp) = (vec![], vec![], vec![], vec![]);
        let (mut snapshot, mut write) = (vec![], vec![]);
        let remux_cmd = format!(
            "gst-launch-1.0 filesrc location=src{seconds}.mp4 ! qtdemux name=d d.video_0 ! queue ! h264parse ! mp4mux name=m \
             ! filesink location=remux.mp4 d.audio_0 ! queue ! aacparse ! m. && fsync remux.mp4"
        );
        for i in 0..repeats {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).expect("the output folder");
            // Ours: snapshot + moov-first write + fsync + rename + directory fsync.
            let saved = save_ours(ring, &out, &format!("ours{i}.mp4"), f64::from(seconds));
            ours.push(ms(saved.total));
            snapshot.push(ms(saved.snapshot));
            write.push(ms(saved.write));

            let target = out.join(format!("remux{i}.mp4"));
            let t = Instant::now();
            let status = gst_launch(&format!(
                "filesrc location={} ! qtdemux name=d d.video_0 ! queue ! h264parse ! mp4mux name=m ! filesink location={} \
                 d.audio_0 ! queue ! aacparse ! m.",
                source.display(),
                target.display()
            ));
            assert!(status.success());
            remux_nosync.push(ms(t.elapsed()));
            fsync(&target);
            remux.push(ms(t.elapsed()));
            cp.push(ms(cp_fsync(&saved.path, &out.join(format!("cp{i}.mp4")))));
        }
        let suffix = if seconds == 30 { String::new() } else { format!("_{seconds}s") };
        let ours_side =
            Side::from_samples("clipshot", "ReplayRing::snapshot + save_clip (moov first, fsync)", "ms", &ours);
        part.add(
            Entry::compare(
                &format!("save_vs_gst_remux{suffix}"),
                &format!("save {seconds} s of 720p60 8 Mbps + AAC from the ring, fsynced"),
                ours_side.clone(),
                Side::from_samples("gst-launch-1.0 remux", &remux_cmd, "ms", &remux),
            )
            .goal(Goal::at_most(0.5, "≤ 0.5× the gst remux"))
            .metric("remux_without_fsync_ms", median(&remux_nosync))
            .metric("snapshot_ms", median(&snapshot))
            .metric("write_ms", median(&write))
            .note(
                "from a filled ring, so nothing waits for the encoder: snapshot_ms takes the span out of the ring, \
                 write_ms writes and fsyncs it; frame_latency_trigger_to_clip measures the encoder wait of a save \
                 while recording",
            ),
        );
        part.add(
            Entry::compare(
                &format!("save_vs_cp_fsync{suffix}"),
                &format!("save {seconds} s from the ring against copying the same bytes"),
                ours_side,
                Side::from_samples("cp + fsync", CP_FSYNC_COMMAND, "ms", &cp),
            )
            .goal(Goal::at_most(1.0, "≤ 1.0× cp + fsync")),
        );
    }

    // Scaling: save time against clip length and bytes, beside cp.
    let lengths: &[u32] = if quick { &[10, 20, 30] } else { &[10, 20, 30, 45, 60, 90, 120] };
    let scale_repeats = if quick { 2 } else { 3 };
    let (mut by_seconds, mut cp_by_seconds, mut by_mb, mut cp_by_mb) = (vec![], vec![], vec![], vec![]);
    report::progress("save time against clip length");
    for &seconds in lengths {
        let (mut ours, mut cp, mut size) = (vec![], vec![], 0.0);
        for i in 0..scale_repeats {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).expect("the output folder");
            let saved = save_ours(ring, &out, &format!("len{seconds}-{i}.mp4"), f64::from(seconds));
            size = std::fs::metadata(&saved.path).map_or(0.0, |m| m.len() as f64 / 1e6);
            ours.push(ms(saved.total));
            cp.push(ms(cp_fsync(&saved.path, &out.join("cp.mp4"))));
        }
        by_seconds.push((f64::from(seconds), median(&ours)));
        cp_by_seconds.push((f64::from(seconds), median(&cp)));
        by_mb.push((size, median(&ours)));
        cp_by_mb.push((size, median(&cp)));
    }
    part.add_series(
        Series::new("save_time_vs_clip_length", "Save time against clip length (720p60, 8 Mbps)", "clip seconds", "ms")
            .line("clipshot save", by_seconds)
            .line("cp + fsync", cp_by_seconds),
    );
    part.add_series(
        Series::new("save_time_vs_bytes", "Save time against clip size", "clip MB", "ms")
            .line("clipshot save", by_mb)
            .line("cp + fsync", cp_by_mb),
    );
}

/// CPU seconds per encoded frame of `spec` recorded for `seconds`, with the
/// frames encoded.
fn our_cpu_per_frame(dir: &Path, spec: GraphSpec, seconds: f64) -> (f64, u64) {
    let registry = Arc::new(clipshot_runtime::registry().expect("the built-in registry"));
    let graph = clipshot_core::validate::validate(&spec, &registry).expect("the graph is valid");
    let options = PipelineOptions {
        data_dir: dir.to_owned(),
        clips_dir: dir.join("clips"),
        events: Arc::new(NoEvents),
        offline: false,
    };
    let pipeline = Pipeline::new("bench", graph, registry, options);
    let (cpu0, _) = cpu_seconds();
    pipeline.start().expect("the pipeline starts");
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let stats = pipeline.stats();
    pipeline.stop();
    let (cpu1, _) = cpu_seconds();
    let frames = stats.nodes.iter().find(|n| n.id == "venc").map_or(0, |n| n.frames_out.max(n.frames_in));
    ((cpu1 - cpu0) / frames.max(1) as f64, frames)
}

/// The shipped test-pattern preset (x264), with or without its preview.
fn preset(with_preview: bool) -> GraphSpec {
    let toml = std::fs::read_to_string(root().join("pipelines/test-pattern.toml")).expect("the shipped preset");
    let mut spec =
        GraphSpec::from_toml(&toml.replace(
            "keyframe_interval_s = 1.0",
            "keyframe_interval_s = 1.0, encoder = \"x264\", preset = \"ultrafast\"",
        ))
        .expect("the preset parses");
    if !with_preview {
        spec.nodes.retain(|n| n.kind != "video.preview");
        spec.links.retain(|l| !l.to.starts_with("preview."));
    }
    spec
}

/// CPU seconds per frame of a gst-launch pipeline of `frames` frames (its
/// sources stop by themselves), or of `seconds` when it is given (then cut
/// with SIGINT, and the frames estimated from `fps`).
fn peer_cpu_per_frame(description: &str, frames: Option<u64>, seconds: f64, fps: f64) -> f64 {
    // With a frame count the sources end the run; the limit is a safety net.
    let limit = if frames.is_some() { seconds + 30.0 } else { seconds };
    let (_, child0) = cpu_seconds();
    let t = Instant::now();
    let status = Command::new("timeout")
        .args(["-s", "INT", &format!("{limit}"), "gst-launch-1.0", "-q", "-e"])
        .args(description.split_whitespace())
        .status()
        .expect("gst-launch-1.0");
    let wall = t.elapsed().as_secs_f64();
    assert!(status.code().is_some(), "gst-launch-1.0 was killed");
    let (_, child1) = cpu_seconds();
    let frames = frames.map_or((wall * fps).round(), |f| f as f64);
    (child1 - child0) / frames.max(1.0)
}

fn bench_record_cpu(part: &mut Part, dir: &Path, quick: bool) {
    let seconds = if quick { 4.0 } else { 10.0 };
    let rounds = if quick { 1 } else { 5 };
    // Encoder probing (trial encodes, cached per process) is a one-off start-up
    // cost, not record-path work: do it before the clock starts.
    let encoders = clipshot_gst::encode::probe::h264_encoders();
    assert!(encoders.iter().any(|e| e.usable), "{encoders:?}");
    let frames = (seconds * 60.0) as u64;
    let peer_cmd = format!(
        "videotestsrc is-live=true pattern=smpte num-buffers={frames} ! video/x-raw,width=1280,height=720,framerate=60/1 \
         ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc bitrate=8000 speed-preset=ultrafast tune=zerolatency \
         key-int-max=60 ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! tee ! queue ! fakesink sync=false \
         audiotestsrc is-live=true num-buffers={} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! queue \
         ! audioconvert ! avenc_aac ! aacparse ! tee ! queue ! fakesink sync=false",
        (seconds * 48_000.0 / 1024.0) as u64
    );
    // Interleaved, so that drift in the machine's load hits both alike.
    let (mut ours, mut with_preview, mut peer) = (vec![], vec![], vec![]);
    let mut encoded = 0;
    for round in 0..rounds {
        report::progress(format!("record-path CPU, round {}/{rounds}", round + 1));
        let (c, f) = our_cpu_per_frame(dir, preset(false), seconds);
        ours.push(c * 1e3);
        encoded = f;
        peer.push(peer_cpu_per_frame(&peer_cmd, Some(frames), seconds, 60.0) * 1e3);
        with_preview.push(our_cpu_per_frame(dir, preset(true), seconds).0 * 1e3);
    }
    let ours_side = Side::from_samples(
        "clipshot",
        "pipelines/test-pattern.toml without its preview (capture.test smpte 720p60 → x264 8 Mbps → replay.ring, + AAC)",
        "cpu_ms_per_frame",
        &ours,
    );
    part.add(
        Entry::compare(
            "record_cpu_vs_gst_launch",
            "record-path CPU per frame, 720p60 test pattern → x264 → ring",
            ours_side.clone(),
            Side::from_samples("gst-launch-1.0", &format!("gst-launch-1.0 {peer_cmd}"), "cpu_ms_per_frame", &peer),
        )
        .goal(Goal::at_most(1.02, "≤ 1.02× gst-launch"))
        .metric("frames_per_run", encoded as f64),
    );
    part.add(
        Entry::compare(
            "preview_cpu_vs_without",
            "record-path CPU per frame with the live preview (video.preview 2 fps, 480 px) against without",
            Side::from_samples("with preview", "pipelines/test-pattern.toml", "cpu_ms_per_frame", &with_preview),
            ours_side,
        )
        .goal(Goal::at_most(1.02, "≤ 1.02× without")),
    );

    // Recorded gameplay at its real rate: decode + encode on both sides.
    let recording = eval_dir().join("play.mp4");
    if !recording.is_file() {
        println!("no ViZDoom recording at {} (make bench-highlights makes it): skipped", recording.display());
        return;
    }
    let spec = GraphSpec::from_toml(&format!(
        r#"name = "vizdoom-record"
[[nodes]]
id = "src"
kind = "capture.file"
props = {{ path = "{}" }}
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
[[links]]
from = "src.video"
to = "venc.video"
[[links]]
from = "src.audio"
to = "aenc.audio"
[[links]]
from = "venc.video"
to = "ring.video"
[[links]]
from = "aenc.audio"
to = "ring.audio"
"#,
        recording.display()
    ))
    .expect("the graph parses");
    let peer_cmd = format!(
        "filesrc location={} ! decodebin name=d d. ! queue ! videoconvert ! clocksync ! queue ! videoconvert \
         ! video/x-raw,format=I420 ! x264enc bitrate=8000 speed-preset=ultrafast tune=zerolatency key-int-max=35 \
         ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! tee ! queue ! fakesink sync=false \
         d. ! queue ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate=48000,channels=2 ! clocksync ! queue \
         ! audioconvert ! avenc_aac ! aacparse ! tee ! queue ! fakesink sync=false",
        recording.display()
    );
    let (mut ours, mut peer) = (vec![], vec![]);
    for round in 0..rounds {
        report::progress(format!("record-path CPU on the ViZDoom recording, round {}/{rounds}", round + 1));
        ours.push(our_cpu_per_frame(dir, spec.clone(), seconds).0 * 1e3);
        peer.push(peer_cpu_per_frame(&peer_cmd, None, seconds, 35.0) * 1e3);
    }
    part.add(
        Entry::compare(
            "record_cpu_vs_gst_launch_vizdoom",
            "record-path CPU per frame on recorded gameplay (ViZDoom 720p35 through capture.file, real rate)",
            Side::from_samples(
                "clipshot",
                "capture.file → encode.h264 (x264) → replay.ring, + AAC",
                "cpu_ms_per_frame",
                &ours,
            ),
            Side::from_samples(
                "gst-launch-1.0",
                &format!("timeout -s INT {seconds} gst-launch-1.0 -e {peer_cmd}"),
                "cpu_ms_per_frame",
                &peer,
            ),
        )
        .goal(Goal::at_most(1.02, "≤ 1.02× gst-launch"))
        .note("the peer's frames are its wall time × 35 fps (it is cut with SIGINT)"),
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run only for bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    gst::init().expect("GStreamer initialises");
    let quick = report::quick();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut part = Part::new("record_path");
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "saves" || o == "memory") {
        bench_saves(&mut part, dir.path(), quick);
    }
    if only.as_deref().is_none_or(|o| o == "record_cpu") {
        bench_record_cpu(&mut part, dir.path(), quick);
    }
    part.write();
}
