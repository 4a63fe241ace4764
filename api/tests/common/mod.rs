//! Runs the real `clipshot` binary: a daemon on an ephemeral port, and CLI calls.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_clipshot")
}

/// Runs `clipshot` with `args`, isolated from the user's configuration.
pub fn clipshot(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("CLIPSHOT_DATA_DIR", data_dir)
        .env_remove("CLIPSHOT_PORT")
        .current_dir(data_dir)
        .output()
        .expect("clipshot runs")
}

pub struct Daemon {
    child: Child,
    pub port: u16,
    /// What the daemon printed on standard output (its banner).
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub data_dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn spawn(data_dir: &Path, envs: &[(String, String)]) -> (Child, u16, Lines) {
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--port", "0"])
        .env("CLIPSHOT_DATA_DIR", data_dir)
        .env("CLIPSHOT_PIPELINE", data_dir.join("test-pattern.toml"))
        .env_remove("DISPLAY")
        // Several daemons run at once: each takes a free obs-websocket port.
        .env("CLIPSHOT_OBS_WEBSOCKET_PORT", "0")
        .env("RUST_LOG", "info")
        .current_dir(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("daemon starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = Lines::default();
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line.clone());
            if let Some(url) = line.split("listening on http://").nth(1) {
                let port: u16 = url.rsplit(':').next().unwrap().trim().parse().unwrap();
                let _ = tx.send(port);
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(60)).expect("the daemon printed its address");
    (child, port, lines)
}

impl Daemon {
    /// Starts `clipshot serve --port 0` and waits for its "listening on" line.
    pub fn start(envs: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        // The test-pattern preset at a size that six daemons on two cores can encode at once.
        let preset = include_str!("../../../pipelines/test-pattern.toml")
            .replace("width = 1280, height = 720, fps = 60", "width = 640, height = 360, fps = 30");
        std::fs::write(data_dir.path().join("test-pattern.toml"), preset).unwrap();
        let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let (child, port, stdout) = spawn(data_dir.path(), &envs);
        Self { child, port, stdout, data_dir, envs }
    }

    /// Stops the daemon (SIGTERM, as a user would) and starts it again on the
    /// same data folder.
    pub fn restart(&mut self) {
        self.terminate();
        let (child, port, stdout) = spawn(self.data_dir.path(), &self.envs);
        self.child = child;
        self.port = port;
        self.stdout = stdout;
    }

    /// Stops the daemon as a user would (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The banner the daemon printed, once all of it has arrived.
    pub fn banner(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.stdout.lock().unwrap().join("\n");
            if text.contains("save clip:") || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("api-token")).unwrap()
    }

    pub fn clips_dir(&self) -> PathBuf {
        self.data_dir.path().join("clips")
    }

    /// The default pipeline's stats.
    pub async fn stats(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.url("/api/v1/pipelines/test-pattern/stats"))
            .bearer_auth(self.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the default pipeline's ring holds `seconds`.
    pub async fn wait_for_ring(&self, seconds: f64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stats = self.stats().await;
            let filled = stats["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|n| n["ring"]["seconds"].as_f64())
                .any(|s| s >= seconds);
            if filled {
                return;
            }
            assert!(Instant::now() < deadline, "ring did not fill: {stats}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A client that sends the daemon's token.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(daemon: &Daemon) -> Self {
        Self { http: reqwest::Client::new(), base: daemon.url(""), token: daemon.token() }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body)
    }

    pub fn put(&self, path: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        self.http.put(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body)
    }

    pub fn patch(&self, path: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        self.http.patch(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    /// GET, asserting the status, returning the JSON body.
    pub async fn json(&self, path: &str, status: u16) -> serde_json::Value {
        let r = self.get(path).send().await.unwrap();
        assert_eq!(r.status(), status, "GET {path}");
        r.json().await.unwrap()
    }
}

/// Runs Xvfb on a display number it picks itself (`-displayfd`), so stale
/// locks of earlier runs never collide; `None` where Xvfb is missing (outside CI).
pub struct Xvfb(std::process::Child, pub String);

impl Xvfb {
    pub fn start() -> Option<Self> {
        let spawned = std::process::Command::new("Xvfb")
            // `-noreset`: a desktop's X server does not reset when its last client (a
            // probe) disconnects; Xvfb does by default, and refuses connections meanwhile.
            .args(["-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp", "-noreset"])
            .stdout(std::process::Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(_) => {
                assert!(std::env::var_os("CI").is_none(), "CI must have Xvfb (make test installs it)");
                eprintln!("skipped: Xvfb is not installed");
                return None;
            }
        };
        // Xvfb writes the display number once it accepts connections.
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let display = format!(":{}", line.trim());
        assert!(line.trim().parse::<u32>().is_ok(), "Xvfb did not come up: {line:?}");
        Some(Self(child, display))
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM, so Xvfb removes its lock file and socket.
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}
