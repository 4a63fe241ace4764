//! Helpers for the record-path tests: a real pipeline, an event collector and
//! ffprobe/ffmpeg as the oracle for the clips.
#![allow(dead_code)]

use clipshot_core::{Event, EventSink, GraphSpec};
use clipshot_gst::Registry;
use clipshot_gst::{Pipeline, PipelineOptions};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Events(Mutex<Vec<Event>>);

impl EventSink for Events {
    fn emit(&self, event: Event) {
        self.0.lock().push(event);
    }
}

impl Events {
    pub fn names(&self) -> Vec<&'static str> {
        self.0.lock().iter().map(Event::name).collect()
    }

    pub fn all(&self) -> Vec<Event> {
        self.0.lock().clone()
    }
}

pub fn registry() -> Arc<Registry> {
    clipshot_gst::init().unwrap();
    let mut r = Registry::new();
    clipshot_gst::register_builtin(&mut r).unwrap();
    Arc::new(r)
}

/// Test pattern + tone → x264 + AAC → ring, small enough for 2 cores.
pub fn test_graph(max_seconds: f64) -> String {
    graph_from(
        r#"kind = "capture.test"
        props = { pattern = "ball", width = 640, height = 360, fps = 30 }"#,
        max_seconds,
    )
}

/// The test graph with another source node (`kind` and `props` lines) as `src`.
pub fn graph_from(source: &str, max_seconds: f64) -> String {
    format!(
        r#"
        name = "t"
        [[nodes]]
        id = "src"
        {source}
        [[nodes]]
        id = "venc"
        kind = "encode.h264"
        props = {{ bitrate_kbps = 2000, keyframe_interval_s = 1.0, encoder = "x264" }}
        [[nodes]]
        id = "aenc"
        kind = "encode.aac"
        [[nodes]]
        id = "ring"
        kind = "replay.ring"
        props = {{ max_seconds = {max_seconds} }}
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
        "#
    )
}

pub struct Running {
    pub pipeline: Pipeline,
    pub events: Arc<Events>,
    pub dir: tempfile::TempDir,
}

pub fn start(toml: &str) -> Running {
    let registry = registry();
    let spec = GraphSpec::from_toml(toml).unwrap();
    let graph = clipshot_core::validate::validate(&spec, &registry).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Events::default());
    let options = PipelineOptions {
        data_dir: dir.path().to_owned(),
        clips_dir: dir.path().join("clips"),
        events: events.clone(),
        offline: false,
    };
    let pipeline = Pipeline::new("test", graph, registry, options);
    pipeline.start().unwrap();
    Running { pipeline, events, dir }
}

impl Running {
    /// Waits until the ring holds `seconds` of video.
    pub fn fill(&self, seconds: f64) {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds * 4.0 + 20.0);
        loop {
            let stats = self.pipeline.stats();
            let ring = stats.nodes.iter().find_map(|n| n.ring.clone()).expect("a ring node");
            if ring.stats.seconds >= seconds {
                return;
            }
            assert!(Instant::now() < deadline, "ring did not fill to {seconds} s: {stats:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[derive(Debug)]
pub struct Probe {
    pub video_codec: String,
    pub pix_fmt: String,
    pub audio_codec: Option<String>,
    pub duration_s: f64,
    pub video_frames: u64,
}

/// What ffprobe sees in `path`, after checking that ffmpeg decodes every frame without an error.
pub fn probe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,codec_name,pix_fmt,nb_read_frames:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (install ffmpeg)");
    assert!(out.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").expect("a video stream");
    let audio = streams.iter().find(|s| s["codec_type"] == "audio");
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(decode.status.success() && errors.trim().is_empty(), "decode errors in {}: {errors}", path.display());
    Probe {
        video_codec: video["codec_name"].as_str().unwrap_or_default().to_owned(),
        pix_fmt: video["pix_fmt"].as_str().unwrap_or_default().to_owned(),
        audio_codec: audio.map(|a| a["codec_name"].as_str().unwrap_or_default().to_owned()),
        duration_s: v["format"]["duration"].as_str().unwrap_or("0").parse().unwrap(),
        video_frames: video["nb_read_frames"].as_str().unwrap_or("0").parse().unwrap(),
    }
}

pub fn clip_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map_or(Vec::new(), |d| d.flatten().map(|e| e.path()).collect());
    v.sort();
    v
}
