//! A live pipeline finds a highlight by itself and saves it as a clip: a
//! made-up video — quiet, then two seconds of motion and loud sound, then
//! quiet — played as if live into a replay ring and the analysis branch.

mod common;

use common::{Api, Daemon};
use std::process::Command;
use std::time::{Duration, Instant};

/// 14 s at 320×180: black and silent, with flickering blocks on screen and
/// white noise in the speakers from 6 to 8 s.
fn made_up_video(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let path = dir.join("burst.mp4");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "color=c=black:s=32x18:r=30:d=14"])
        .args(["-f", "lavfi", "-i", "anoisesrc=d=14:c=white:a=0.8:r=48000"])
        .args([
            "-filter_complex",
            // Noise in 10-pixel blocks: motion that survives the analysis's downscale.
            "[0:v]geq=lum='255*random(1)':cb=128:cr=128:enable='between(t,6,8)',scale=320:180:flags=neighbor[v];\
             [1:a]volume=0:enable='not(between(t,6,8))'[a]",
        ])
        .args(["-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(path),
        Ok(o) => panic!("ffmpeg failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI must have ffmpeg (make test installs it): {e}");
            eprintln!("skipped: no ffmpeg ({e})");
            None
        }
    }
}

fn graph(video: &std::path::Path) -> String {
    format!(
        r#"
name = "burst"
description = "the made-up video through the highlights branch"

[[nodes]]
id = "file"
kind = "capture.file"
props = {{ path = "{}" }}

[[nodes]]
id = "venc"
kind = "encode.h264"
props = {{ bitrate_kbps = 1000, keyframe_interval_s = 1.0 }}

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
id = "sound"
kind = "analyze.audio"

[[nodes]]
id = "score"
kind = "analyze.score"

[[links]]
from = "file.video"
to = "venc.video"

[[links]]
from = "file.audio"
to = "aenc.audio"

[[links]]
from = "venc.video"
to = "ring.video"

[[links]]
from = "aenc.audio"
to = "ring.audio"

[[links]]
from = "file.video"
to = "motion.video"

[[links]]
from = "file.audio"
to = "sound.audio"

[[links]]
from = "motion.out"
to = "score.motion"

[[links]]
from = "sound.out"
to = "score.audio"
"#,
        video.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_pipeline_finds_the_burst_and_saves_one_auto_clip_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(video) = made_up_video(dir.path()) else { return };
    let toml = dir.path().join("burst.toml");
    std::fs::write(&toml, graph(&video)).unwrap();
    let daemon = Daemon::start(&[("CLIPSHOT_PIPELINE", toml.to_str().unwrap())]);
    let api = Api::new(&daemon);

    // Wait for the auto-clip (the video lasts 14 s, played in real time).
    let deadline = Instant::now() + Duration::from_secs(60);
    let clip = loop {
        let page = api.json("/api/v1/clips?trigger=highlight", 200).await;
        if let Some(clip) = page["items"].as_array().and_then(|a| a.first()).cloned() {
            break clip;
        }
        assert!(Instant::now() < deadline, "no auto-clip: {}", api.json("/api/v1/pipelines/burst/stats", 200).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Let the video end: exactly one highlight, one clip.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let page = api.json("/api/v1/clips?trigger=highlight", 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let replay = api.json("/api/v1/pipelines/burst/replay", 200).await;
    let highlights: Vec<i64> = replay["markers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["label"].as_str().is_some_and(|l| l.starts_with("highlight")))
        .map(|m| m["at_ns"].as_i64().unwrap())
        .collect();
    assert_eq!(highlights.len(), 1, "{replay}");
    let (start, end) = (clip["span_start_ns"].as_i64().unwrap(), clip["span_end_ns"].as_i64().unwrap());
    // The clip holds the peak with room on either side, and the burst's two seconds.
    assert!(start + 2_000_000_000 <= highlights[0] && highlights[0] + 1_000_000_000 <= end, "{clip} vs {highlights:?}");
    assert!(clip["duration_s"].as_f64().unwrap() >= 6.0, "{clip}");
    let stats = api.json("/api/v1/pipelines/burst/stats", 200).await;
    let venc = stats["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "venc").unwrap();
    assert_eq!(venc["dropped"], 0, "the record path never drops for analysis: {stats}");
    let motion = stats["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "motion").unwrap();
    assert!(motion["busy_ms"].as_f64().unwrap() > 0.0, "what analysis costs is counted: {motion}");

    // The clip carries its score over time and its best highlight; the
    // thumbnail is taken at the peak.
    let id = clip["id"].as_str().unwrap();
    assert!(clip["score"].as_f64().unwrap() >= 0.5, "{clip}");
    let meta = api.json(&format!("/api/v1/metadata/{id}"), 200).await;
    let best = &meta["highlight"];
    let peak = (highlights[0] - start) as f64 / 1e9;
    assert!((best["peak_s"].as_f64().unwrap() - peak).abs() < 0.01, "{best} vs {peak}");
    assert_eq!(best["highlights"], 1);
    let timeline = meta["score_timeline"].as_array().unwrap();
    assert!(timeline.len() > 20, "{meta}");
    assert!(timeline.windows(2).all(|w| w[0]["t_s"].as_f64() <= w[1]["t_s"].as_f64()), "in time order: {meta}");
    let fired = timeline.iter().find(|p| p["detectors"].is_array()).unwrap_or_else(|| panic!("{meta}"));
    assert!((fired["t_s"].as_f64().unwrap() - peak).abs() < 0.01 && fired["score"].as_f64().unwrap() >= 0.5, "{fired}");
    assert!(timeline.iter().any(|p| p["score"].as_f64().unwrap() < 0.1), "quiet before the burst: {meta}");
    let r = api.get(&format!("/api/v1/clips/{id}/thumbnail")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "image/jpeg"));

    // The pipeline's profile: read, switched while it records, refused when wrong.
    let profile = api.json("/api/v1/pipelines/burst/profile", 200).await;
    assert_eq!((profile["profile"]["name"].as_str(), profile["source"].as_str()), (Some("generic"), Some("graph")));
    assert_eq!(profile["nodes"], serde_json::json!(["sound", "score"]));
    let profiles = api.json("/api/v1/ai/profiles", 200).await;
    let names: Vec<&str> = profiles.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["generic", "shooter", "vizdoom"] {
        assert!(names.contains(&name), "{profiles}");
    }
    let r =
        api.put("/api/v1/pipelines/burst/profile", serde_json::json!({ "profile": "shooter" })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let switched: serde_json::Value = r.json().await.unwrap();
    assert_eq!((switched["profile"]["name"].as_str(), switched["source"].as_str()), (Some("shooter"), Some("api")));
    assert!(switched["profile"]["detectors"].as_array().unwrap().iter().any(|d| d == "text"), "{switched}");
    let r =
        api.put("/api/v1/pipelines/burst/profile", serde_json::json!({ "profile": "../etc" })).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let r = api.put("/api/v1/pipelines/burst/profile", serde_json::json!({ "profile": "nope" })).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("not found"));
    assert_eq!(api.json("/api/v1/pipelines/burst/profile", 200).await["profile"]["name"], "shooter");
    let r =
        api.put("/api/v1/pipelines/nope/profile", serde_json::json!({ "profile": "shooter" })).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let stats = api.json("/api/v1/pipelines/burst/stats", 200).await;
    assert_eq!(stats["restarts"], 0, "switching does not restart the pipeline: {stats}");
}

#[test]
fn clipshot_analyze_finds_the_one_burst_in_the_made_up_video() {
    let dir = tempfile::tempdir().unwrap();
    let Some(video) = made_up_video(dir.path()) else { return };
    let out = common::clipshot(dir.path(), &["analyze", "--json", video.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let highlights = result[0]["highlights"].as_array().unwrap();
    assert_eq!(highlights.len(), 1, "{result}");
    let h = &highlights[0];
    let (start, peak, end) =
        (h["start_s"].as_f64().unwrap(), h["peak_s"].as_f64().unwrap(), h["end_s"].as_f64().unwrap());
    assert!((5.5..=7.0).contains(&start) && (6.0..=8.6).contains(&peak) && (7.5..=9.0).contains(&end), "{h}");
    assert!(h["score"].as_f64().unwrap() >= 0.5);
    assert!(h["detectors"].as_array().unwrap().iter().any(|d| d == "motion"), "{h}");
    assert_eq!(result[0]["duration_s"].as_f64().map(f64::round), Some(14.0));

    // A file without sound ends too (motion alone is not enough in `generic`).
    let silent = dir.path().join("silent.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i", video.to_str().unwrap(), "-an", "-c", "copy"])
        .arg(&silent)
        .status()
        .unwrap();
    assert!(status.success());
    let out = common::clipshot(dir.path(), &["analyze", "--json", silent.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result[0]["highlights"].as_array().unwrap().len(), 0, "{result}");

    // Plain output, one line per highlight; a missing file or profile is a clear error and exit 1.
    let out = common::clipshot(dir.path(), &["analyze", video.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 highlight(s)") && text.contains("motion"), "{text}");
    let out = common::clipshot(dir.path(), &["analyze", "/nonexistent.mp4"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.mp4"));
    let out = common::clipshot(dir.path(), &["analyze", "--profile", "nope", video.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("profile nope: not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_analysis_task_runs_over_the_api_reports_progress_and_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let Some(video) = made_up_video(dir.path()) else { return };
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    let r = api.post("/api/v1/ai/tasks", serde_json::json!({ "path": video })).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let task: serde_json::Value = r.json().await.unwrap();
    assert_eq!((task["state"].as_str(), task["profile"].as_str()), (Some("queued"), Some("generic")));
    let id = task["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let t = api.json(&format!("/api/v1/ai/tasks/{id}"), 200).await;
        if t["state"] != "running" && t["state"] != "queued" {
            break t;
        }
        assert!(Instant::now() < deadline, "{t}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["result"]["highlights"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(api.json("/api/v1/ai/tasks", 200).await.as_array().unwrap().len(), 1);

    // What cannot be analysed is refused before anything starts.
    for (body, status) in [
        (serde_json::json!({ "path": "relative.mp4" }), 422),
        (serde_json::json!({ "path": video, "clip_id": "x" }), 422),
        (serde_json::json!({ "path": video, "profile": "nope" }), 422),
        (serde_json::json!({ "clip_id": "nope" }), 404),
    ] {
        let r = api.post("/api/v1/ai/tasks", body.clone()).send().await.unwrap();
        assert_eq!(r.status(), status, "{body}");
    }

    // A long recording, cancelled while it runs.
    let long = dir.path().join("long.mp4");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=300"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=d=300:a=0.1:r=48000",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ])
        .arg(&long)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = api.post("/api/v1/ai/tasks", serde_json::json!({ "path": long })).send().await.unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = api.delete(&format!("/api/v1/ai/tasks/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    let t = loop {
        let t = api.json(&format!("/api/v1/ai/tasks/{id}"), 200).await;
        if t["state"] != "running" && t["state"] != "queued" {
            break t;
        }
        assert!(Instant::now() < deadline, "{t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(t["state"], "cancelled", "{t}");
    assert!(t["progress"].as_f64().unwrap() < 1.0);
    // A finished task is forgotten on a second delete.
    assert_eq!(api.delete(&format!("/api/v1/ai/tasks/{id}")).send().await.unwrap().status(), 200);
    api.json(&format!("/api/v1/ai/tasks/{id}"), 404).await;
}
