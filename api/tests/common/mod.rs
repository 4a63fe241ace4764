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
    pub data_dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `clipshot serve --port 0` and waits for its "listening on" line.
    pub fn start(envs: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        // The test-pattern preset at a size that six daemons on two cores can encode at once.
        let preset = include_str!("../../../pipelines/test-pattern.toml")
            .replace("width = 1280, height = 720, fps = 60", "width = 640, height = 360, fps = 30");
        let graph = data_dir.path().join("test-pattern.toml");
        std::fs::write(&graph, preset).unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--port", "0"])
            .env("CLIPSHOT_DATA_DIR", data_dir.path())
            .env("CLIPSHOT_PIPELINE", &graph)
            .env_remove("DISPLAY")
            .env("RUST_LOG", "info")
            .current_dir(data_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("daemon starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on http://").nth(1) {
                    let port: u16 = url.rsplit(':').next().unwrap().trim().parse().unwrap();
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(60)).expect("the daemon printed its address");
        Self { child, port, data_dir }
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
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}
