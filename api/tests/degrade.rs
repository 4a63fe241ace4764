//! The default pipeline degrades instead of failing: under Xvfb with no
//! sound server it records the screen and says what is missing; a sound
//! server that appears brings the audio back. Its own test binary, so that
//! its 60 fps screen capture does not load the other daemon tests.

mod common;

use common::{Api, Daemon, Xvfb};
use std::process::Command;
use std::time::{Duration, Instant};

/// The "done when": on a desktop with no sound server the default
/// preset records the screen (at the display's size, not the test pattern's),
/// says in one line that system audio is missing and why, and takes the
/// audio back once a sound server appears.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_sound_server_the_default_preset_records_the_screen() {
    let Some(x) = Xvfb::start() else { return };
    let pulse_dir = tempfile::tempdir().unwrap();
    let server = format!("unix:{}", pulse_dir.path().join("native").display());
    let daemon =
        Daemon::start(&[("DISPLAY", &x.1), ("CLIPSHOT_PIPELINE", "instant-replay"), ("PULSE_SERVER", &server)]);
    let banner = daemon.banner();
    let missing = banner.lines().find(|l| l.trim_start().starts_with("missing:")).unwrap_or_else(|| panic!("{banner}"));
    assert!(
        missing.contains("`desktop-audio` (audio.system, pulsesrc): PulseAudio/PipeWire not reachable"),
        "{missing}"
    );
    assert!(missing.ends_with("recording video only"), "{missing}");
    assert!(banner.contains("recording: screen (capture.screen)"), "{banner}");

    let health: serde_json::Value = reqwest::get(daemon.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["fallback"], serde_json::Value::Null, "the screen, not the test pattern: {health}");
    assert_eq!(health["pipelines"][0]["id"], "instant-replay");
    let d = &health["pipelines"][0]["degraded"][0];
    assert_eq!((d["node"].as_str(), d["kind"].as_str()), (Some("desktop-audio"), Some("audio.system")), "{health}");
    assert!(health["reasons"][0].as_str().unwrap().contains("not reachable"), "{health}");

    let api = Api::new(&daemon);
    let save = || api.post("/api/v1/pipelines/instant-replay/replay/save", serde_json::json!({"seconds": 1.5})).send();
    let ring_seconds = || async {
        let stats = api.json("/api/v1/pipelines/instant-replay/stats", 200).await;
        stats["nodes"].as_array().unwrap().iter().find_map(|n| n["ring"]["seconds"].as_f64()).unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ring_seconds().await < 2.0 {
        assert!(Instant::now() < deadline, "the screen is not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = save().await.unwrap();
    assert_eq!(r.status(), 201);
    let clip: serde_json::Value = r.json().await.unwrap();
    let probed = ffprobe_size(clip["path"].as_str().unwrap());
    assert_eq!(probed, ((640, 480), false), "the display's size, video only");

    // A sound server appears: system audio joins the running pipeline.
    let Some(_pulse) = start_pulseaudio(pulse_dir.path()) else { return };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health: serde_json::Value = reqwest::get(daemon.url("/health")).await.unwrap().json().await.unwrap();
        if health["status"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "audio did not join: {health}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let clip: serde_json::Value = save().await.unwrap().json().await.unwrap();
    assert_eq!(ffprobe_size(clip["path"].as_str().unwrap()), ((640, 480), true), "{clip}");
}

/// Width and height of the video, and whether there is audio.
fn ffprobe_size(path: &str) -> ((u64, u64), bool) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,width,height", "-of", "json", path])
        .output()
        .expect("ffprobe");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let size = (video["width"].as_u64().unwrap(), video["height"].as_u64().unwrap());
    (size, streams.iter().any(|s| s["codec_type"] == "audio"))
}

/// A PulseAudio server of the test's own on `dir/native`, with a null sink;
/// `None` where PulseAudio is missing (outside CI).
fn start_pulseaudio(dir: &std::path::Path) -> Option<KillOnDrop> {
    let spawned = Command::new("pulseaudio")
        .args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes", "--use-pid-file=no"])
        .arg(format!("--load=module-native-protocol-unix socket={} auth-anonymous=1", dir.join("native").display()))
        .arg("--load=module-null-sink sink_name=game")
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir)
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => Some(KillOnDrop(child)),
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "CI must have pulseaudio (make test installs it)");
            eprintln!("skipped the audio half: pulseaudio is not installed");
            None
        }
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With a display, a screen pipeline whose required part cannot start does
/// not turn into colour bars: it stays the default, keeps retrying, and
/// every report names the node that fails.
#[tokio::test(flavor = "multi_thread")]
async fn with_a_display_a_failing_required_part_is_named_and_not_replaced_by_the_test_pattern() {
    let Some(x) = Xvfb::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The preset with system audio required (no `optional`), and no sound server.
    let strict = include_str!("../../pipelines/instant-replay.toml").replace("optional = true", "optional = false");
    let graph = dir.path().join("strict.toml");
    std::fs::write(&graph, strict).unwrap();
    let server = format!("unix:{}", dir.path().join("no-server").display());
    let daemon =
        Daemon::start(&[("DISPLAY", &x.1), ("CLIPSHOT_PIPELINE", graph.to_str().unwrap()), ("PULSE_SERVER", &server)]);
    let health: serde_json::Value = reqwest::get(daemon.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["fallback"], serde_json::Value::Null, "no colour bars with a display: {health}");
    assert_eq!(health["status"], "degraded", "{health}");
    let p = &health["pipelines"][0];
    assert_eq!(p["id"], "instant-replay");
    assert_eq!(p["state"], "error", "{health}");
    let error = p["error"].as_str().unwrap();
    assert!(
        error.contains("node `desktop-audio` (audio.system, pulsesrc): PulseAudio/PipeWire not reachable"),
        "{error}"
    );
    let stats = Api::new(&daemon).json("/api/v1/pipelines/instant-replay/stats", 200).await;
    let node = stats["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "desktop-audio").unwrap();
    assert_eq!(node["error"], error, "{stats}");
}
