//! What a user of the original (FastAPI) design expects: its settings under
//! their own names, its routes and its shapes, against a real daemon.

mod common;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct SeedDaemon {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SeedDaemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl SeedDaemon {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Starts a daemon with every setting of the seed's `.env.example` (and a
/// `.env` file in its working folder), its stderr kept in `stderr.log`.
fn start(dir: tempfile::TempDir) -> SeedDaemon {
    let d = dir.path();
    let preset = include_str!("../../pipelines/test-pattern.toml")
        .replace("width = 1280, height = 720, fps = 60", "width = 320, height = 180, fps = 15");
    std::fs::write(d.join("p.toml"), preset).unwrap();
    // `.env` sits below the real environment: replay_seconds comes from the
    // environment, clip_seconds from the file.
    std::fs::write(d.join(".env"), "CLIPSHOT_CLIP_SECONDS=7\nCLIPSHOT_REPLAY_SECONDS=20\n").unwrap();
    let path = |p: &str| d.join(p).to_string_lossy().into_owned();
    let mut child = Command::new(common::bin())
        .args(["serve", "--port", "0"])
        .current_dir(d)
        .env_remove("DISPLAY")
        .env_remove("RUST_LOG")
        .env("CLIPSHOT_DATA_DIR", d)
        .env("CLIPSHOT_PIPELINE", d.join("p.toml"))
        .env("CLIPSHOT_REPLAY_SECONDS", "25")
        .env("CLIPSHOT_APP_NAME", "ClipShot API")
        .env("CLIPSHOT_VERSION", "0.1.0")
        .env("CLIPSHOT_DEBUG", "true")
        .env("CLIPSHOT_LOG_LEVEL", "INFO")
        .env("CLIPSHOT_CORS_ORIGINS", "http://localhost:3000, http://localhost:5173")
        .env("CLIPSHOT_DATABASE_URL", "sqlite+aiosqlite:///./seed.db")
        .env("CLIPSHOT_PLUGINS_DIR", path("my-plugins"))
        .env("CLIPSHOT_AI_MODELS_DIR", path("my-models"))
        .env("CLIPSHOT_TEMP_DIR", path("my-temp"))
        .env("CLIPSHOT_MAX_WORKERS", "8")
        .env("CLIPSHOT_DEFAULT_AI_PROVIDER", "local")
        .env("CLIPSHOT_SECRET_KEY", "change-me-in-production")
        .env("CLIPSHOT_PLUGIN_SANDBOX_ENABLED", "true")
        .env("CLIPSHOT_PLUGIN_TIMEOUT", "30")
        .env("CLIPSHOT_SOMETHING_ELSE", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(d.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on http://").nth(1) {
                let _ = tx.send(url.rsplit(':').next().unwrap().trim().parse::<u16>().unwrap());
            }
        }
    });
    let Ok(port) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        panic!("the daemon did not start: {}", std::fs::read_to_string(d.join("stderr.log")).unwrap_or_default());
    };
    SeedDaemon { child, port, dir }
}

async fn wait_for_line(daemon: &SeedDaemon, after: usize, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if daemon.stderr()[after..].contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_settings_routes_and_shapes_work() {
    let dir = tempfile::tempdir().unwrap();
    // A plugin in the seed's folder layout.
    let plugin = dir.path().join("my-plugins/kill-feed");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::write(
        plugin.join("manifest.json"),
        r#"{"id": "com.example.kill-feed", "name": "Kill feed", "version": "1.0.0", "api_version": "v1",
            "type": "optional", "category": "enhancement", "description": {"en": "Finds kills"}}"#,
    )
    .unwrap();
    let daemon = start(dir);
    let d = daemon.dir.path();
    let token = std::fs::read_to_string(d.join("api-token")).unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(daemon.url(path)).bearer_auth(&token);

    // Every setting started the daemon and took effect.
    let config: Value = get("/api/v1/config").send().await.unwrap().json().await.unwrap();
    let c = &config["config"];
    assert_eq!(c["log"], "INFO", "{c}");
    assert_eq!((c["plugin_sandbox_enabled"].as_bool(), c["plugin_timeout"].as_f64()), (Some(true), Some(30.0)), "{c}");
    assert_eq!(c["debug"], true, "{c}");
    assert_eq!(c["cors_origins"], json!(["http://localhost:3000", "http://localhost:5173"]), "{c}");
    assert_eq!(c["max_workers"], 8, "{c}");
    assert_eq!(c["ai_provider"], "local", "{c}");
    assert_eq!((c["clip_seconds"].as_f64(), c["replay_seconds"].as_f64()), (Some(7.0), Some(25.0)), ".env below env");
    assert!(d.join("seed.db").is_file(), "DATABASE_URL names the SQLite file");
    assert!(!d.join("clipshot.db").exists(), "and no other database was made");
    for folder in ["my-plugins", "my-models", "my-temp"] {
        assert!(d.join(folder).is_dir(), "{folder} was created");
    }
    let stderr = daemon.stderr();
    assert!(stderr.contains("CLIPSHOT_SECRET_KEY is ignored") && stderr.contains("api-token"), "{stderr}");
    assert!(stderr.contains("CLIPSHOT_SOMETHING_ELSE is not a ClipShot setting"), "{stderr}");
    assert!(stderr.contains("DEBUG"), "DEBUG turns debug logs on: {stderr}");
    let cors = http.get(daemon.url("/health")).header("Origin", "http://localhost:3000").send().await.unwrap();
    assert_eq!(cors.headers()["access-control-allow-origin"], "http://localhost:3000", "CORS_ORIGINS as CSV");

    // The seed's two example tests, against our API (trailing slash and all).
    let r = get("/api/v1/plugins/").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let plugins: Value = r.json().await.unwrap();
    assert_eq!(plugins[0]["id"], "com.example.kill-feed", "{plugins}");
    // The seed's manifest predates native plugins: listed, and refused with every reason.
    assert_eq!(plugins[0]["status"], "error", "{plugins}");
    assert_eq!(plugins[0]["error"]["code"], "manifest", "{plugins}");
    assert!(plugins[0]["error"]["message"].as_str().unwrap().contains("/native"), "{plugins}");
    assert_eq!(get("/api/v1/plugins/nonexistent").send().await.unwrap().status(), 404);

    // Its routes: the root, the OpenAPI route, trailing slashes.
    let root: Value = http.get(daemon.url("/")).send().await.unwrap().json().await.unwrap();
    assert_eq!((root["name"].as_str(), root["links"]["docs"].as_str()), (Some("ClipShot"), Some("/docs")), "{root}");
    let doc: Value = get("/api/v1/system/openapi").send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert!(doc["paths"]["/api/v1/plugins"].is_object());
    for path in ["/api/v1/clips/", "/api/v1/pipelines/", "/api/v1/nodes/", "/health/", "/api/v1/system/health/"] {
        assert_eq!(get(path).send().await.unwrap().status(), 200, "{path}");
    }
    // Its shapes: version in health, memory_mb and gpu_percent in metrics.
    let health: Value = get("/api/v1/system/health").send().await.unwrap().json().await.unwrap();
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let metrics: Value = get("/api/v1/system/metrics").send().await.unwrap().json().await.unwrap();
    assert!(metrics["memory_mb"].as_f64().unwrap() > 1.0, "{metrics}");
    assert!(metrics["cpu_percent"].is_number() && metrics["gpu_percent"].is_null(), "{metrics}");

    // `event_type` filters the stream as `types` does.
    let mut stream = get("/api/v1/system/events?event_type=config.changed").send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let stop = http.post(daemon.url("/api/v1/pipelines/test-pattern/stop")).bearer_auth(&token).send();
    assert_eq!(stop.await.unwrap().status(), 200, "a pipeline.state event the filter must drop");

    // The log level changes live: debug off, warn only.
    let r = http
        .patch(daemon.url("/api/v1/config"))
        .bearer_auth(&token)
        .json(&json!({"debug": false, "log": "warn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["restart_required"], json!([]), "applied live: {view}");
    let before = daemon.stderr().len();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("event: config.changed") && Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await;
        if let Ok(Ok(Some(bytes))) = chunk {
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert!(seen.contains("event: config.changed"), "{seen}");
    assert!(!seen.contains("event: pipeline.state"), "event_type filtered: {seen}");
    // Events are logged at debug: starting the pipeline logs none now.
    let r = http.post(daemon.url("/api/v1/pipelines/test-pattern/start")).bearer_auth(&token).send();
    assert_eq!(r.await.unwrap().status(), 200);
    assert!(!wait_for_line(&daemon, before, "DEBUG").await, "no debug lines after the change");
    // Before the change, the same start logged its events at debug.
    assert!(daemon.stderr()[..before].contains("pipeline.state"), "{}", daemon.stderr());
}

#[test]
fn an_unknown_setting_in_the_file_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clipshot.toml"), "LOG_LEVEL = \"INFO\"\n").unwrap();
    let out = common::clipshot(dir.path(), &["nodes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOG_LEVEL"));
}
