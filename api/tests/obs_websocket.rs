//! obs-websocket as remotes speak it: an unmodified client library
//! (obsws-python, which `make test` installs) against the real daemon.

mod common;

use common::{Api, Daemon};
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
    let clips = Api::new(&daemon).json("/api/v1/clips", 200).await;
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

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects asking for MessagePack, as some remotes do.
async fn msgpack_connect(port: u16) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://127.0.0.1:{port}").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "obswebsocket.msgpack".parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "obswebsocket.msgpack");
    ws
}

async fn send(ws: &mut Socket, value: serde_json::Value) {
    use futures_util::SinkExt;
    let bytes = rmp_serde::to_vec_named(&value).unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(bytes.into())).await.unwrap();
}

/// The next message, or `None` when none comes within `wait`.
async fn next(ws: &mut Socket, wait: std::time::Duration) -> Option<serde_json::Value> {
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(wait, ws.next()).await.ok()??.ok()?;
        match frame {
            tokio_tungstenite::tungstenite::Message::Binary(b) => return Some(rmp_serde::from_slice(&b).unwrap()),
            tokio_tungstenite::tungstenite::Message::Close(_) => return None,
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn messagepack_sessions_get_the_events_they_subscribed_to_and_exit_started() {
    use serde_json::json;
    use std::time::Duration;
    let daemon = Daemon::start(&[("CLIPSHOT_OBS_WEBSOCKET_PASSWORD", "deck")]);
    daemon.wait_for_ring(1.0).await;
    // The password is never served, and sending back what was served keeps it.
    let api = Api::new(&daemon);
    assert_eq!(api.json("/api/v1/config", 200).await["config"]["obs_websocket_password"], "********");
    let r = api
        .patch("/api/v1/config", json!({"obs_websocket_password": "********", "clip_seconds": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let view: serde_json::Value = r.json().await.unwrap();
    assert_eq!(view["restart_required"], json!([]), "the password did not change: {view}");
    let port = obs_port(&daemon);
    let mut ws = msgpack_connect(port).await;
    let hello = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(hello["op"], 0);
    let auth = &hello["d"]["authentication"];
    let challenge = clipshot_obs_websocket::protocol::Challenge {
        salt: auth["salt"].as_str().unwrap().to_owned(),
        challenge: auth["challenge"].as_str().unwrap().to_owned(),
    };
    // The configured password works as well as the token.
    let general_and_outputs = 1 | 64;
    send(&mut ws, json!({"op": 1, "d": {"rpcVersion": 1, "authentication": challenge.expected("deck"), "eventSubscriptions": general_and_outputs}})).await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["d"]["negotiatedRpcVersion"], 1);

    // A custom event comes back to a General subscriber.
    send(&mut ws, json!({"op": 6, "d": {"requestType": "BroadcastCustomEvent", "requestId": 7, "requestData": {"eventData": {"button": "gg"}}}})).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(next(&mut ws, Duration::from_secs(5)).await.expect("a response and the event"));
    }
    assert!(
        got.iter().any(|m| m["op"] == 7 && m["d"]["requestId"] == 7 && m["d"]["requestStatus"]["code"] == 100),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|m| m["op"] == 5 && m["d"]["eventType"] == "CustomEvent" && m["d"]["eventData"]["button"] == "gg"),
        "{got:?}"
    );

    // Sleep outside a batch, and a request with no data where data is needed.
    send(
        &mut ws,
        json!({"op": 6, "d": {"requestType": "Sleep", "requestId": "z", "requestData": {"sleepMillis": 10}}}),
    )
    .await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["d"]["requestStatus"]["code"], 206);
    send(&mut ws, json!({"op": 6, "d": {"requestType": "BroadcastCustomEvent", "requestId": "y"}})).await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["d"]["requestStatus"]["code"], 301);

    // Recording changes its state with events; outputs only after Reidentify.
    send(&mut ws, json!({"op": 3, "d": {"eventSubscriptions": 64}})).await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["op"], 2);
    send(&mut ws, json!({"op": 6, "d": {"requestType": "StartRecord", "requestId": "r"}})).await;
    let mut states = Vec::new();
    while let Some(m) = next(&mut ws, Duration::from_secs(5)).await {
        if m["op"] == 5 {
            states.push(m["d"]["eventData"]["outputState"].clone());
            assert_eq!(m["d"]["eventType"], "RecordStateChanged");
            break;
        }
    }
    assert_eq!(states, [json!("OBS_WEBSOCKET_OUTPUT_STARTED")]);
    send(&mut ws, json!({"op": 6, "d": {"requestType": "BroadcastCustomEvent", "requestId": "q", "requestData": {"eventData": {}}}})).await;
    let m = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(m["op"], 7, "no CustomEvent after unsubscribing from General: {m:?}");
    assert!(next(&mut ws, Duration::from_millis(500)).await.is_none_or(|m| m["d"]["eventType"] != "CustomEvent"));

    // The daemon stops: outputs stop, then the connection closes.
    send(&mut ws, json!({"op": 3, "d": {"eventSubscriptions": general_and_outputs}})).await;
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["op"], 2);
    tokio::task::spawn_blocking(move || {
        let mut daemon = daemon;
        daemon.stop();
    })
    .await
    .unwrap();
    let mut seen = Vec::new();
    while let Some(m) = next(&mut ws, Duration::from_secs(10)).await {
        seen.push(m["d"]["eventType"].as_str().unwrap_or_default().to_owned());
    }
    assert!(seen.contains(&"ExitStarted".to_owned()), "{seen:?}");
}
