//! REST API under load while a 720p60 recording runs (part `api_load`).
//!
//! `GET /api/v1/pipelines` on the real daemon (release build, the shipped
//! test-pattern preset at 1280x720@60, x264) against a minimal axum
//! hello-world on the same machine, both hit by the same closed-loop load
//! generator (keep-alive connections, one request in flight each) while the
//! daemon records, in alternating windows, so that both sides share the
//! recording's load and any drift in the machine's speed. Entry
//! `api_vs_hello_world`: every request's latency in ms on both sides (drawn,
//! thinned to 10 000 a side, as the distribution `api_latency`); the ratio
//! is the throughput, ours over the hello-world's requests per second;
//! metrics the two throughputs, our p99, the frames the recording dropped
//! while our side was under load and the rate it encoded at. Goal: ≥ 0.5×
//! the hello-world's throughput with p99 < 10 ms and zero frames dropped.
//!
//! `--quick`: 3 s of load per side, in 2 windows, instead of 10 s in 5.
//!
//! Needs `cargo build --release -p clipshot` first (`make bench` does it).

use clipshot_benches::Daemon;
use clipshot_benches::report::{self, Entry, Goal, Part, Side, Summary};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 16;
/// At most this many samples per set go into the distribution (the sides' summaries use all).
const DISTRIBUTION_SAMPLES: usize = 10_000;

/// Every k-th sample, at most `max` of them: the distribution's shape, not its size.
fn thin(samples: &[f64], max: usize) -> Vec<f64> {
    let step = samples.len().div_ceil(max).max(1);
    samples.iter().step_by(step).copied().collect()
}

#[derive(Default)]
struct Load {
    /// Every successful request's latency, ms.
    latencies_ms: Vec<f64>,
    errors: usize,
    /// Seconds under load.
    seconds: f64,
}

impl Load {
    fn add(&mut self, other: Load) {
        self.latencies_ms.extend(other.latencies_ms);
        self.errors += other.errors;
        self.seconds += other.seconds;
    }

    fn rps(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.seconds
    }
}

async fn load(url: String, token: Option<String>, duration: Duration) -> Load {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                while started.elapsed() < duration {
                    let t = Instant::now();
                    let mut request = client.get(&url);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    match request.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            latencies.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    Load { latencies_ms: all, errors, seconds: started.elapsed().as_secs_f64() }
}

async fn stats(base: &str, token: &str) -> (u64, u64) {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/pipelines/test-pattern/stats"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    let dropped = nodes.iter().map(|n| n["dropped"].as_u64().unwrap()).sum();
    let frames = nodes.iter().find(|n| n["id"] == "venc").map_or(0, |n| n["frames_out"].as_u64().unwrap());
    (dropped, frames)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let duration = Duration::from_secs(if report::quick() { 3 } else { 10 });
    let windows: u32 = if report::quick() { 2 } else { 5 };
    let window = duration / windows;
    let mut part = Part::new("api_load");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let secs = duration.as_secs();
        let generator = format!(
            "{CONNECTIONS} keep-alive reqwest connections, one request in flight each, closed loop, {secs} s a side \
             in {windows} alternating windows while the daemon records"
        );
        println!("API under load ({CONNECTIONS} connections, {secs} s a side in {windows} windows):");
        // The peer: axum hello-world, same runtime kind, same generator.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hello_port = listener.local_addr().unwrap().port();
        let hello = tokio::spawn(async move {
            let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
            axum::serve(listener, app).await.unwrap();
        });

        report::progress("starting the daemon (720p60 test pattern, x264)");
        let dir = tempfile::tempdir().unwrap();
        // Reads the daemon's whole standard output on a thread of its own.
        let daemon = Daemon::start(dir.path(), &[]);
        let port = daemon.api_port;
        let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        tokio::time::sleep(Duration::from_secs(3)).await; // encoder warm-up
        let (mut peer, mut ours) = (Load::default(), Load::default());
        let (mut record_drops, mut frames) = (0u64, 0u64);
        for w in 1..=windows {
            report::progress(format!("window {w}/{windows}: axum hello-world, then GET /api/v1/pipelines"));
            peer.add(load(format!("http://127.0.0.1:{hello_port}/"), None, window).await);
            let (dropped_before, frames_before) = stats(&base, &token).await;
            ours.add(load(format!("{base}/api/v1/pipelines"), Some(token.clone()), window).await);
            let (dropped_after, frames_after) = stats(&base, &token).await;
            record_drops += dropped_after - dropped_before;
            frames += frames_after - frames_before;
        }
        drop(daemon);
        hello.abort();
        // Frames encoded while our side was under load.
        let fps = frames as f64 / ours.seconds;

        for (name, l) in [("axum hello-world", &peer), ("GET /api/v1/pipelines", &ours)] {
            println!("   {name:<28} {:>8.0} req/s  ({} requests, {} errors)", l.rps(), l.latencies_ms.len(), l.errors);
        }
        let record_drops = record_drops as f64;
        let ours_side = Side::new(
            "clipshot GET /api/v1/pipelines",
            format!(
                "clipshot serve --pipeline test-pattern (release; 1280x720@60 x264 recording); \
                 GET http://127.0.0.1:PORT/api/v1/pipelines with the bearer token; {generator}"
            ),
            "req_per_s",
            Summary::single(ours.rps()),
        );
        let peer_side = Side::new(
            "axum hello-world",
            format!(
                "axum::Router::new().route(\"/\", get(|| async {{ \"hello\" }})) served in the bench process \
                 while the daemon records; GET http://127.0.0.1:PORT/; {generator}"
            ),
            "req_per_s",
            Summary::single(peer.rps()),
        );
        // The sides are throughput; the latencies are summarised in the
        // metrics and drawn in the distribution.
        let latency = |l: &Load| Summary::of(&l.latencies_ms).expect("requests were answered");
        let (ours_latency, peer_latency) = (latency(&ours), latency(&peer));
        let p99 = ours_latency.p99;
        let entry = Entry::compare(
            "api_vs_hello_world",
            "REST API throughput under load while recording 720p60, against axum hello-world",
            ours_side,
            peer_side,
        )
        .goal(
            Goal::at_least(0.5, "≥ 0.5× hello-world, p99 < 10 ms, 0 record drops")
                .metric_at_most("p99_ms", 10.0)
                .metric_at_most("record_drops", 0.0),
        )
        .metric("ours_rps", ours.rps())
        .metric("peer_rps", peer.rps())
        .metric("p50_ms", ours_latency.median)
        .metric("p99_ms", p99)
        .metric("peer_p50_ms", peer_latency.median)
        .metric("peer_p99_ms", peer_latency.p99)
        .metric("requests", ours.latencies_ms.len() as f64)
        .metric("record_drops", record_drops)
        .metric("encoded_fps", fps)
        .metric("ours_errors", ours.errors as f64)
        .metric("peer_errors", peer.errors as f64)
        .note(format!(
            "p99 {p99:.2} ms (goal < 10 ms: {}); {record_drops} frames dropped during the load (goal 0: {}); \
             encoded {fps:.1} fps of a 60 fps source",
            if p99 < 10.0 { "met" } else { "missed" },
            if record_drops == 0.0 { "met" } else { "missed" },
        ));
        part.add(entry);
        part.add_distribution(
            "api_latency",
            &format!(
                "Per-request latency under load: GET /api/v1/pipelines while recording, and axum hello-world \
                 (every k-th request, at most {DISTRIBUTION_SAMPLES} per side)"
            ),
            "ms",
            vec![
                ("clipshot".into(), thin(&ours.latencies_ms, DISTRIBUTION_SAMPLES)),
                ("axum hello-world".into(), thin(&peer.latencies_ms, DISTRIBUTION_SAMPLES)),
            ],
        );
    });
    part.write();
}
