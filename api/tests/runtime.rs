//! The engine runtime seen through the daemon: the live preview, saves that
//! say what they delivered, context validation over HTTP, and a daemon that
//! outlives the terminal it was started from.

mod common;

use common::{Api, Daemon, clipshot};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

async fn preview(api: &Api, pipeline: &str) -> reqwest::Response {
    api.get(&format!("/api/v1/pipelines/{pipeline}/preview")).send().await.unwrap()
}

/// Polls the preview until it answers 200.
async fn first_preview(api: &Api, pipeline: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = preview(api, pipeline).await;
        if r.status() == 200 {
            return r;
        }
        assert_eq!(r.status(), 503, "before the first frame the preview is not there yet");
        assert!(Instant::now() < deadline, "no preview frame within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preview_is_a_jpeg_that_follows_the_moving_pattern() {
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    // The shipped preset has a preview node.
    let r = first_preview(&api, "test-pattern").await;
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["cache-control"], "no-store");
    // A moving ball: the preview must change as it moves.
    let graph = json!({
        "name": "ball",
        "nodes": [
            {"id": "src", "kind": "capture.test", "props": {"pattern": "ball", "width": 320, "height": 180, "fps": 15}},
            {"id": "venc", "kind": "encode.h264", "props": {"encoder": "x264", "bitrate_kbps": 500}},
            {"id": "ring", "kind": "replay.ring", "props": {"max_seconds": 5}},
            {"id": "preview", "kind": "video.preview", "props": {"fps": 5, "width": 160}}
        ],
        "links": [
            {"from": "src.video", "to": "venc.video"},
            {"from": "venc.video", "to": "ring.video"},
            {"from": "src.video", "to": "preview.video"}
        ]
    });
    let r = api.post("/api/v1/pipelines", json!({"graph": graph})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let first = first_preview(&api, "ball").await.bytes().await.unwrap();
    assert_eq!(&first[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = preview(&api, "ball").await.bytes().await.unwrap();
    assert_eq!(&second[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    assert_ne!(first, second, "the preview follows the moving ball");
    // A pipeline without a preview node says so.
    let r = api.post("/api/v1/pipelines", json!({"id": "spare", "preset": "test-pattern", "start": false})).send();
    assert_eq!(r.await.unwrap().status(), 201);
    assert_eq!(preview(&api, "spare").await.status(), 503, "stopped before its first frame");
    assert_eq!(preview(&api, "nope").await.status(), 404);
    // The preview's cost is visible: its node counts frames like any other.
    let stats = api.json("/api/v1/pipelines/ball/stats", 200).await;
    let node = stats["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "preview").unwrap().clone();
    assert!(node["frames_in"].as_u64().unwrap() >= 2, "{node}");
    assert!(node["frames_in"].as_u64().unwrap() < 20, "rate-limited to 5 fps, not 15: {node}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_save_says_what_it_delivered_when_the_pipeline_stopped_or_restarted() {
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    daemon.wait_for_ring(3.0).await;
    // A full save: nothing to report.
    let r = api.post("/api/v1/pipelines/test-pattern/replay/save", json!({"seconds": 2})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let clip: Value = r.json().await.unwrap();
    assert_eq!(clip["shortfall"], Value::Null, "{clip}");
    assert_eq!(clip["asked_s"], 2.0, "{clip}");

    // Stopped: it still saves what the ring holds, and says the pipeline is stopped.
    let r = api.post("/api/v1/pipelines/test-pattern/stop", json!({})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = api.post("/api/v1/pipelines/test-pattern/replay/save", json!({"seconds": 2})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let clip: Value = r.json().await.unwrap();
    assert!(clip["shortfall"].as_str().unwrap().contains("stopped"), "{clip}");
    assert!(clip["duration_s"].as_f64().unwrap() >= 1.5, "{clip}");

    // Restarted: a clip never spans the restart, so 20 s back is not 20 s.
    let r = api.post("/api/v1/pipelines/test-pattern/start", json!({})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = tokio::task::spawn_blocking({
        let dir = daemon.data_dir.path().to_owned();
        let port = daemon.port.to_string();
        move || clipshot(&dir, &["clip", "--seconds", "20", "--port", &port])
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.trim().ends_with(".mp4"), "the path is still printed alone: {stdout}");
    assert!(stderr.contains("warning: asked for 20.0 s") && stderr.contains("restarted"), "{stderr}");
    let clips = api.json("/api/v1/clips?sort=-created_at", 200).await;
    let newest = &clips["items"][0];
    assert!(newest["shortfall"].as_str().unwrap().contains("restarted"), "{newest}");
    assert!(newest["duration_s"].as_f64().unwrap() < 10.0, "{newest}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graph_with_context_problems_answers_422_with_all_of_them() {
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    let graph = json!({
        "name": "ctx",
        "nodes": [
            {"id": "file", "kind": "capture.file", "props": {"path": "/no/such/gameplay.mp4"}},
            {"id": "venc", "kind": "encode.h264", "props": {"encoder": "nvenc", "fallback": false}},
            {"id": "opus", "kind": "encode.opus"},
            {"id": "ring", "kind": "replay.ring"}
        ],
        "links": [
            {"from": "file.video", "to": "venc.video"},
            {"from": "file.audio", "to": "opus.audio"},
            {"from": "venc.video", "to": "ring.video"},
            {"from": "opus.audio", "to": "ring.audio"}
        ]
    });
    let r = api.post("/api/v1/pipelines", json!({"graph": graph})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    let found: Vec<(&str, &str)> = p["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["code"].as_str().unwrap(), x["location"].as_str().unwrap()))
        .collect();
    assert_eq!(found.len(), 3, "{p}");
    for expected in [
        ("missing_file", "/graph/nodes/0/props/path"),
        ("unavailable", "/graph/nodes/1/props/encoder"),
        ("media_mismatch", "/graph/links/3"),
    ] {
        assert!(found.contains(&expected), "{expected:?} in {found:?}");
    }
    // Recording went on.
    assert_eq!(api.json("/api/v1/pipelines/test-pattern", 200).await["state"], "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_outlives_a_closed_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let preset = include_str!("../../pipelines/test-pattern.toml")
        .replace("width = 1280, height = 720, fps = 60", "width = 320, height = 180, fps = 15");
    std::fs::write(dir.path().join("p.toml"), preset).unwrap();
    // Its standard output is a pipe whose reader is gone before it prints a thing.
    let mut child = Command::new(common::bin())
        .args(["serve", "--port", &port.to_string()])
        .env("CLIPSHOT_DATA_DIR", dir.path())
        .env("CLIPSHOT_PIPELINE", dir.path().join("p.toml"))
        .env_remove("DISPLAY")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the daemon died with its standard output");
        assert!(Instant::now() < deadline, "the daemon never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let r = http
        .post(format!("{base}/api/v1/pipelines/test-pattern/replay/save"))
        .bearer_auth(&token)
        .json(&json!({"seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "still recording and saving");
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

#[test]
fn the_http_crate_does_not_depend_on_gstreamer() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    for line in deps.lines().filter(|l| !l.trim().is_empty()) {
        let name = line.split([' ', '=', '.']).next().unwrap();
        assert!(
            !(name.starts_with("gstreamer") || name == "glib" || name == "clipshot-gst" || name == "x11rb"),
            "api depends on {name}: the media stack belongs behind clipshot-runtime"
        );
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                for word in ["gstreamer", "clipshot_gst", "glib::"] {
                    assert!(!text.contains(word), "{} uses {word}", path.display());
                }
            }
        }
    }
    assert!(files > 10, "the walk found the sources");
}
