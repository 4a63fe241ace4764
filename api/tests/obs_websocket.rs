//! obs-websocket as remotes speak it: an unmodified client library
//! (obsws-python, which `make test` installs) against the real daemon.

mod common;

use common::Daemon;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtualenv's Python, with obsws-python; `None` outside CI when it is
/// not installed (`make test` installs it; there, missing is a failure).
fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let ok = Command::new(&venv).args(["-c", "import obsws_python"]).output().is_ok_and(|o| o.status.success());
    assert!(ok || std::env::var_os("CI").is_none(), "CI must have obsws-python in .venv (make test installs it)");
    if !ok {
        eprintln!("skipped: obsws-python is not installed in .venv (make test installs it)");
    }
    ok.then_some(venv)
}

/// The obs-websocket port from the daemon's banner.
fn obs_port(daemon: &Daemon) -> u16 {
    let banner = daemon.banner();
    let line = banner.lines().find(|l| l.contains("obs-websocket: ws://")).unwrap_or_else(|| panic!("{banner}"));
    let addr = line.split("ws://").nth(1).unwrap().split_whitespace().next().unwrap();
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmodified_obs_websocket_client_saves_a_clip_with_the_token_as_password() {
    let Some(python) = python() else { return };
    let daemon = Daemon::start(&[("CLIPSHOT_CLIP_SECONDS", "2")]);
    daemon.wait_for_ring(3.0).await;
    let port = obs_port(&daemon);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/obs/client.py");
    let token = daemon.token();
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(port.to_string()).arg(token).output())
            .await
            .unwrap()
            .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client failed:\n{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    // Identified with the token; GetVersion names ClipShot and what it answers.
    assert_eq!(r["platform"], "clipshot", "{r}");
    assert_eq!(r["rpc_version"], 1);
    let available: Vec<&str> = r["available"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(available.contains(&"SaveReplayBuffer") && available.contains(&"GetLastReplayBufferReplay"));
    assert_eq!(r["replay_active"], true);
    assert_eq!(r["scenes"], serde_json::json!(["test-pattern"]));
    assert_eq!(r["current_scene"], "test-pattern");
    assert!(r["active_fps"].as_f64().unwrap() > 0.0 && r["memory_mb"].as_f64().unwrap() > 1.0, "{r}");

    // SaveReplayBuffer → ReplayBufferSaved with the path → the file, which
    // GetLastReplayBufferReplay names too.
    assert_eq!(r["saved_event"], true, "{r}");
    let path = r["event_path"].as_str().unwrap();
    assert_eq!(r["last_replay"], path);
    assert!(Path::new(path).is_file() && path.starts_with(daemon.clips_dir().to_str().unwrap()), "{path}");

    // The clip is a clip like any other: in the REST API, with its trigger.
    let clips: serde_json::Value = reqwest::Client::new()
        .get(daemon.url("/api/v1/clips"))
        .bearer_auth(daemon.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clip =
        clips["items"].as_array().unwrap().iter().find(|c| c["path"] == path).unwrap_or_else(|| panic!("{clips}"));
    assert_eq!(clip["trigger"], "obs-websocket", "{clip}");

    // StartRecord / StopRecord: a real file beside the ring.
    assert_eq!(r["record_status"], true);
    let record = r["record_path"].as_str().unwrap();
    assert!(std::fs::metadata(record).is_ok_and(|m| m.len() > 10_000), "{record}");

    // The protocol's answers to what goes wrong.
    assert_eq!(r["hello_has_auth"], true);
    assert_eq!(r["wrong_password_close"], 4009, "AuthenticationFailed: {r}");
    assert_eq!(r["unknown_status"]["code"], 204, "UnknownRequestType: {r}");
    assert_eq!(r["unknown_status"]["result"], false);
    assert_eq!(r["unknown_id"], "x1");
    // A batch runs in order, sleeps where asked, and halts at the first failure.
    assert_eq!(r["batch_op"], 9);
    assert_eq!(r["batch_ids"], serde_json::json!(["first", "second", "third", "fourth"]), "{r}");
    assert_eq!(r["batch_codes"], serde_json::json!([100, 100, 100, 204]));
    assert!(r["batch_ms"].as_f64().unwrap() >= 200.0, "{r}");
    assert_eq!(r["foreign_origin"], 403, "{r}");
}
