//! A clip saved from a remote, as the remote sees it (part `remote_save`):
//! obs-websocket's `SaveReplayBuffer` until `ReplayBufferSaved` arrives,
//! beside the REST save (`POST …/replay/save` until its 201) of the same 30 s
//! of 720p60, on the same daemon, interleaved. Entry
//! `obs_websocket_save_vs_rest`: both round trips in ms, ratio of the
//! medians (also drawn as the distribution `remote_save_latency`). Goals:
//! obs-websocket within 1.1× of REST, and ≤ 0.1× of what OBS 29 takes for the
//! same replay on this kind of machine (≈ 724 ms, the figure the issue quotes;
//! OBS itself does not run here, so that one is a note, not a measured ratio).
//!
//! `--quick`: 3 repeats of 10 s clips instead of 12 of 30 s (the ring fills
//! for the clip's length first).

use clipshot_benches::Daemon;
use clipshot_benches::report::{self, Entry, Goal, Part, Side};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// What the issue quotes for OBS 29 saving the same replay (not measured here).
const OBS_29_MS: f64 = 724.0;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv(ws: &mut Socket) -> Value {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            _ => continue,
        }
    }
}

/// Connects and identifies with the token, subscribed to output events.
async fn obs_connect(port: u16, token: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}")).await.unwrap();
    let hello = recv(&mut ws).await;
    let auth = &hello["d"]["authentication"];
    let challenge = clipshot_obs_websocket::protocol::Challenge {
        salt: auth["salt"].as_str().unwrap().to_owned(),
        challenge: auth["challenge"].as_str().unwrap().to_owned(),
    };
    let identify =
        json!({"op": 1, "d": {"rpcVersion": 1, "authentication": challenge.expected(token), "eventSubscriptions": 64}});
    ws.send(Message::Text(identify.to_string().into())).await.unwrap();
    assert_eq!(recv(&mut ws).await["op"], 2, "identified");
    ws
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (repeats, seconds) = if report::quick() { (3, 10.0) } else { (12, 30.0) };
    let mut part = Part::new("remote_save");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        report::progress("starting the daemon (720p60 test pattern, x264)");
        let daemon = Daemon::start(dir.path(), &[("CLIPSHOT_CLIP_SECONDS", &seconds.to_string())]);
        let (api, obs) = (daemon.api_port, daemon.obs_port);
        let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
        println!("Remote save of {seconds} s of 720p60 ({repeats} interleaved repeats each; filling the ring first):");
        report::progress(format!("filling the ring ({seconds} s)"));
        tokio::time::sleep(Duration::from_secs_f64(seconds + 2.0)).await;
        let client = reqwest::Client::new();
        let mut ws = obs_connect(obs, &token).await;
        let (mut rest, mut remote) = (Vec::new(), Vec::new());
        for i in 0..repeats {
            report::progress(format!("save {}/{repeats}", i + 1));
            let t = Instant::now();
            let r = client
                .post(format!("http://127.0.0.1:{api}/api/v1/pipelines/test-pattern/replay/save"))
                .bearer_auth(&token)
                .json(&json!({ "seconds": seconds }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            rest.push(t.elapsed().as_secs_f64() * 1e3);
            // The REST clip is a replay too: its `ReplayBufferSaved` is not ours.
            let rest_path = r.json::<Value>().await.unwrap()["path"].clone();

            let t = Instant::now();
            let request = json!({"op": 6, "d": {"requestType": "SaveReplayBuffer", "requestId": format!("s{i}")}});
            ws.send(Message::Text(request.to_string().into())).await.unwrap();
            loop {
                let m = recv(&mut ws).await;
                let saved = m["op"] == 5 && m["d"]["eventType"] == "ReplayBufferSaved";
                if saved && m["d"]["eventData"]["savedReplayPath"] != rest_path {
                    break;
                }
            }
            remote.push(t.elapsed().as_secs_f64() * 1e3);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        drop(daemon);
        let daemon_cmd = format!(
            "clipshot serve --pipeline test-pattern (release; 1280x720@60 x264 + AAC, CLIPSHOT_CLIP_SECONDS={seconds})"
        );
        let ours = Side::from_samples(
            "obs-websocket SaveReplayBuffer",
            &format!(
                "{daemon_cmd}; on an identified obs-websocket 5 connection (ws://127.0.0.1:PORT, eventSubscriptions 64): \
                 {{\"op\":6,\"d\":{{\"requestType\":\"SaveReplayBuffer\"}}}} until the ReplayBufferSaved event"
            ),
            "ms",
            &remote,
        );
        let peer = Side::from_samples(
            "REST replay/save",
            &format!(
                "{daemon_cmd}; POST http://127.0.0.1:PORT/api/v1/pipelines/test-pattern/replay/save \
                 {{\"seconds\":{seconds}}} with the bearer token, until its 201"
            ),
            "ms",
            &rest,
        );
        let median = ours.summary.median;
        let entry = Entry::compare(
            "obs_websocket_save_vs_rest",
            &format!("Save of {seconds} s of 720p60 from a remote: obs-websocket against the REST save"),
            ours,
            peer,
        )
        .goal(Goal::at_most(1.1, "≤ 1.1× the REST save"))
        .metric("repeats", repeats as f64)
        .metric("clip_seconds", seconds)
        .note(format!(
            "The issue's second goal, ≤ 0.1× OBS 29 saving the same replay (≈ {OBS_29_MS} ms as the issue quotes it), \
             is not measured here (OBS does not run on this machine): {median:.1} ms would be {:.3}× that figure",
            median / OBS_29_MS
        ));
        part.add(entry);
        part.add_distribution(
            "remote_save_latency",
            &format!("Save round trip of {seconds} s of 720p60: obs-websocket and REST, interleaved"),
            "ms",
            vec![("obs-websocket".into(), remote), ("REST".into(), rest)],
        );
    });
    part.write();
}
