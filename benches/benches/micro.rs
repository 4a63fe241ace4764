//! Criterion micro-benchmarks of the hot functions (part `micro`), each an
//! entry of its own with no peer; the samples are criterion's, per iteration,
//! in ns (metric `per_second`: 1e9 / the median).
//!
//! Record path (runs for every frame, on the appsink's streaming thread):
//! 1. `micro_ring_push_evict`: one 720p60 frame into a full 60 s
//!    [`ReplayRing`] (H.264 at 8 Mbps, a keyframe every 60 frames, ~17 KB a
//!    frame) with the AAC packets due by its end (48 kHz, 128 kbps); every
//!    60th push closes a GOP and evicts the oldest whole, audio with it.
//! 2. `micro_event_fanout_8`: one event emitted on the runtime's `EventBus`
//!    and received by 8 subscribers (SSE streams, the recorder).
//!
//! Save path (what a hotkey waits for before the first byte is written):
//! 3. `micro_ring_snapshot_30s`: `ReplayRing::snapshot` of the last 30 s of
//!    that full 60 s ring, and dropping it.
//! 4. `micro_moov_build_30s`: `mp4::write_clip` of that snapshot into
//!    `io::sink()`: the `moov` (sample tables, chunk offsets) computed as
//!    `save_clip` does, with the media handed over as slices, none written.
//! 5. `micro_graph_validate_default`: both phases of validation of the
//!    default preset (`instant-replay`) against the daemon's registry (what
//!    every pipeline start and `clipshot pipelines validate` runs).
//!
//! `--quick`: 0.5 s of measurement and 20 samples per benchmark instead of 2 s
//! and 100. Criterion's own results land in `target/criterion/micro_*`.

use clipshot_benches::report::{self, Entry, Part, Side};
use clipshot_core::{Event, EventSink, MediaBytes, Packet};
use clipshot_replay::{AudioTrackConfig, ReplayRing, RingConfig, Snapshot, Span, VideoTrackConfig};
use clipshot_runtime::EventBus;
use criterion::{BatchSize, Criterion};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const FPS: i64 = 60;
const GOP: i64 = 60;
/// 8 Mbps: 1 MB a second, a keyframe five times a P-frame's size.
const KEYFRAME_BYTES: usize = 80_000;
const FRAME_BYTES: usize = (1_000_000 - KEYFRAME_BYTES) / (GOP as usize - 1);
/// AAC-LC at 48 kHz: 1024 samples a packet; 128 kbps.
const AAC_NS: i64 = 1024 * 1_000_000_000 / 48_000;
const AAC_BYTES: usize = 341;
const RING_SECONDS: f64 = 60.0;
const CLIP_NS: i64 = 30_000_000_000;
const SUBSCRIBERS: usize = 8;

/// A synthetic 720p60 stream: packets share three buffers (the ring never
/// looks at the bytes), so a push costs what the ring does, not an allocation.
struct Feed {
    frame: i64,
    audio: i64,
    key: Arc<dyn MediaBytes>,
    delta: Arc<dyn MediaBytes>,
    aac: Arc<dyn MediaBytes>,
}

impl Feed {
    fn new() -> Self {
        Self {
            frame: 0,
            audio: 0,
            key: Arc::new(vec![0u8; KEYFRAME_BYTES]),
            delta: Arc::new(vec![0u8; FRAME_BYTES]),
            aac: Arc::new(vec![0u8; AAC_BYTES]),
        }
    }

    fn frame_ns(i: i64) -> i64 {
        i * 1_000_000_000 / FPS
    }

    /// One video frame, then the audio packets that start before it ends.
    fn push_frame(&mut self, ring: &ReplayRing) {
        let (pts, end) = (Self::frame_ns(self.frame), Self::frame_ns(self.frame + 1));
        let keyframe = self.frame % GOP == 0;
        let data = Arc::clone(if keyframe { &self.key } else { &self.delta });
        ring.push_video(Packet::new(data, pts, pts, end - pts, keyframe));
        self.frame += 1;
        while self.audio * AAC_NS < end {
            let t = self.audio * AAC_NS;
            ring.push_audio(Packet::new(Arc::clone(&self.aac), t, t, AAC_NS, true));
            self.audio += 1;
        }
    }
}

/// A 60 s ring with codec configurations, filled for `seconds` (past 60: full,
/// evicting) and half a GOP more, so the open GOP is half full.
fn full_ring(feed: &mut Feed, seconds: i64) -> ReplayRing {
    let ring = ReplayRing::new(RingConfig { max_seconds: RING_SECONDS, max_bytes: 512 * 1024 * 1024 });
    ring.set_video_config(VideoTrackConfig {
        // avcC of High@3.1 with a 25-byte SPS and a 4-byte PPS.
        avcc: [&[1u8, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 25][..], &[0x67; 25], &[1, 0, 4, 0x68, 0xee, 0x3c, 0x80]]
            .concat(),
        width: 1280,
        height: 720,
    });
    ring.set_audio_config(AudioTrackConfig {
        audio_specific_config: vec![0x11, 0x90],
        sample_rate: 48_000,
        channels: 2,
    });
    for _ in 0..seconds * FPS + GOP / 2 {
        feed.push_frame(&ring);
    }
    ring
}

fn last_30s(ring: &ReplayRing) -> Span {
    let newest = ring.newest_video_ns().expect("the ring holds video");
    Span { start_ns: newest - CLIP_NS, end_ns: newest }
}

/// What one benchmark is, for the report and for criterion's directory.
struct Bench {
    group: &'static str,
    id: &'static str,
    name: &'static str,
    title: &'static str,
    command: &'static str,
    notes: Vec<String>,
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME").map(PathBuf::from).unwrap_or_else(|| {
        report::out_dir().parent().map_or_else(|| PathBuf::from("target/criterion"), |t| t.join("criterion"))
    })
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn numbers(v: &serde_json::Value, key: &str) -> Vec<f64> {
    v[key].as_array().map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default()
}

/// The entry of one benchmark from criterion's `sample.json` (per-sample
/// time over iterations: ns per iteration) and `estimates.json`.
fn entry(dir: &Path, b: Bench) -> Entry {
    let new = dir.join(b.group).join(b.id).join("new");
    let sample = read_json(&new.join("sample.json"));
    let (iters, times) = (numbers(&sample, "iters"), numbers(&sample, "times"));
    let per_iter: Vec<f64> = iters.iter().zip(&times).filter(|(i, _)| **i > 0.0).map(|(i, t)| t / i).collect();
    let side = Side::from_samples("clipshot", b.command, "ns", &per_iter);
    let mut e = Entry::single(b.name, b.title, side.clone()).metric("per_second", 1e9 / side.summary.median);
    let estimates = read_json(&new.join("estimates.json"));
    for (key, metric) in [("mean", "criterion_mean_ns"), ("slope", "criterion_slope_ns")] {
        if let Some(v) = estimates[key]["point_estimate"].as_f64() {
            e = e.metric(metric, v);
        }
    }
    b.notes.into_iter().fold(e, Entry::note)
}

fn main() {
    let quick = report::quick();
    let mut part = Part::new("micro");
    let dir = criterion_dir();
    let (measure, warm_up, samples, resamples) = if quick { (0.5, 0.2, 20, 5_000) } else { (2.0, 0.5, 100, 20_000) };
    let mut c = Criterion::default()
        .output_directory(&dir)
        .without_plots()
        .measurement_time(Duration::from_secs_f64(measure))
        .warm_up_time(Duration::from_secs_f64(warm_up))
        .sample_size(samples)
        .nresamples(resamples);
    let mut benches = Vec::new();

    report::progress("ring: push at steady state, snapshot of 30 s");
    let mut feed = Feed::new();
    let ring = full_ring(&mut feed, 90);
    let stats = ring.stats();
    let ring_note = format!(
        "ring at steady state: {:.1} s, {:.1} MB, {} video and {} audio packets",
        stats.seconds,
        stats.bytes as f64 / 1e6,
        stats.video_packets,
        stats.audio_packets
    );
    {
        let mut g = c.benchmark_group("micro_ring");
        g.bench_function("push_evict", |b| b.iter(|| feed.push_frame(&ring)));
        g.bench_function("snapshot_30s", |b| b.iter(|| ring.snapshot(black_box(last_30s(&ring)))));
        g.finish();
    }
    let evicted = ring.stats().evicted_gops - stats.evicted_gops;
    benches.push(Bench {
        group: "micro_ring",
        id: "push_evict",
        name: "micro_ring_push_evict",
        title: "Replay ring: one 720p60 frame (and its audio) pushed into a full 60 s ring, evicting whole GOPs",
        command: "ReplayRing::push_video of one 720p60 8 Mbps frame + push_audio of the AAC packets due by its end, \
                  60 s ring at steady state (1 GOP in 60 pushes evicted)",
        notes: vec![ring_note.clone(), format!("{evicted} GOPs evicted while measuring")],
    });
    benches.push(Bench {
        group: "micro_ring",
        id: "snapshot_30s",
        name: "micro_ring_snapshot_30s",
        title: "Replay ring: snapshot of the last 30 s of a full 60 s ring (the save's span, under the ring's lock)",
        command: "ReplayRing::snapshot(last 30 s) of a full 60 s 720p60 ring, and its drop",
        notes: vec![ring_note],
    });

    report::progress("mp4: the moov of a 30 s clip");
    let snapshot: Snapshot = ring.snapshot(last_30s(&ring)).expect("a snapshot of the full ring");
    let src = snapshot.clip_source();
    let info = clipshot_replay::mp4::write_clip(&mut std::io::sink(), &src).expect("the clip's layout");
    {
        let mut g = c.benchmark_group("micro_mp4");
        g.bench_function("moov_build_30s", |b| {
            b.iter(|| clipshot_replay::mp4::write_clip(&mut std::io::sink(), black_box(&src)))
        });
        g.finish();
    }
    benches.push(Bench {
        group: "micro_mp4",
        id: "moov_build_30s",
        name: "micro_moov_build_30s",
        title: "MP4 writer: the moov of a 30 s 720p60 clip, computed as save_clip does, media not written",
        command: "mp4::write_clip of a 30 s ring snapshot into io::sink() (layout: ftyp + moov + mdat header; \
                  the samples passed as IoSlices, not copied)",
        notes: vec![format!(
            "{:.2} s, {} video and {} audio samples, {:.1} MB file",
            info.duration_s,
            info.video_samples,
            info.audio_samples,
            info.size_bytes as f64 / 1e6
        )],
    });
    drop(src);
    drop(snapshot);
    drop(ring);

    report::progress("graph: validation of the default pipeline");
    let registry = clipshot_runtime::registry().expect("the engine's registry");
    let spec = clipshot_runtime::presets::load("instant-replay").expect("the shipped default preset");
    // The first validation probes the encoders (cached after it).
    let outcome = match clipshot_core::validate::validate(&spec, &registry) {
        Ok(g) if g.warnings().is_empty() => "instant-replay validates here".to_owned(),
        Ok(g) => format!("instant-replay validates here, without {} optional part(s)", g.warnings().len()),
        Err(e) => format!("instant-replay does not validate here ({} problem(s)): {e}", e.problems.len()),
    };
    {
        let mut g = c.benchmark_group("micro_graph");
        g.bench_function("validate_default", |b| {
            b.iter(|| clipshot_core::validate::validate(black_box(&spec), &registry))
        });
        g.finish();
    }
    benches.push(Bench {
        group: "micro_graph",
        id: "validate_default",
        name: "micro_graph_validate_default",
        title: "Graph validation: the default preset (instant-replay) against the daemon's registry, both phases",
        command: "clipshot_core::validate::validate(instant-replay, clipshot_runtime::registry()), encoder probe cached",
        notes: vec![outcome],
    });

    report::progress(format!("events: one event to {SUBSCRIBERS} subscribers"));
    let bus = EventBus::new();
    let mut subscribers: Vec<_> = (0..SUBSCRIBERS).map(|_| bus.subscribe(None)).collect();
    let event = Event::MarkerAdded {
        pipeline: "instant-replay".into(),
        marker_id: "42".into(),
        at_ns: 12_345_678_900,
        label: Some("clutch".into()),
    };
    {
        let mut g = c.benchmark_group("micro_events");
        g.bench_function("fanout_8", |b| {
            b.iter_batched(
                || event.clone(),
                |e| {
                    bus.emit(e);
                    for s in &mut subscribers {
                        black_box(s.live.try_recv().expect("each subscriber gets the event"));
                    }
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
    benches.push(Bench {
        group: "micro_events",
        id: "fanout_8",
        name: "micro_event_fanout_8",
        title: "Event bus: one event emitted and received by 8 subscribers",
        command: "EventBus::emit(marker.added) + try_recv on each of 8 live subscriptions (the event built outside)",
        notes: Vec::new(),
    });

    c.final_summary();
    for b in benches {
        part.add(entry(&dir, b));
    }
    part.write();
}
