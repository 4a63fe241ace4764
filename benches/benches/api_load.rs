//! REST API under load while a 720p60 recording runs.
//!
//! `GET /api/v1/pipelines` on the real daemon (release build, the shipped
//! test-pattern preset at 1280x720@60, x264) against a minimal axum
//! hello-world on the same machine, both hit by the same closed-loop load
//! generator (keep-alive connections, one request in flight each). Reports
//! requests per second, p50/p99 latency and whether the recording dropped
//! frames during the load. Goals: ≥ 0.5× the hello-world's throughput,
//! p99 < 10 ms, zero frames dropped.
//!
//! Needs `cargo build --release -p clipshot` first (`make bench` does it).

use clipshot_benches::Daemon;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 16;
const DURATION: Duration = Duration::from_secs(10);

struct Load {
    requests: usize,
    errors: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(url: String, token: Option<String>) -> Load {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0usize);
                while started.elapsed() < DURATION {
                    let t = Instant::now();
                    let mut request = client.get(&url);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    match request.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            latencies.push(t.elapsed());
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
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1e3;
    Load { requests: all.len(), errors, rps: all.len() as f64 / elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99) }
}

fn print(name: &str, l: &Load) {
    println!(
        "   {name:<28} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests, {} errors)",
        l.rps, l.p50_ms, l.p99_ms, l.requests, l.errors
    );
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
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        println!("API under load ({CONNECTIONS} connections, {} s each):", DURATION.as_secs());
        // The peer: axum hello-world, same runtime kind, same generator.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hello_port = listener.local_addr().unwrap().port();
        let hello = tokio::spawn(async move {
            let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
            axum::serve(listener, app).await.unwrap();
        });
        let peer = load(format!("http://127.0.0.1:{hello_port}/"), None).await;
        hello.abort();

        let dir = tempfile::tempdir().unwrap();
        let daemon = Daemon::start(dir.path(), &[]);
        let port = daemon.api_port;
        let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        tokio::time::sleep(Duration::from_secs(3)).await; // encoder warm-up
        let (dropped_before, frames_before) = stats(&base, &token).await;
        let t = Instant::now();
        let ours = load(format!("{base}/api/v1/pipelines"), Some(token.clone())).await;
        let (dropped_after, frames_after) = stats(&base, &token).await;
        let fps = (frames_after - frames_before) as f64 / t.elapsed().as_secs_f64();

        print("axum hello-world", &peer);
        print("GET /api/v1/pipelines", &ours);
        println!(
            "   throughput ratio {:.2} (goal ≥ 0.5) | p99 {:.2} ms (goal < 10) | frames dropped during load: {} | encoded {:.1} fps (source 60)",
            ours.rps / peer.rps,
            ours.p99_ms,
            dropped_after - dropped_before,
            fps
        );
    });
}
