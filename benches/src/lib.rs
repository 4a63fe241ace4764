//! Shared measuring helpers for the benchmarks, and the report they write.

pub mod report;

use std::time::Duration;

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// CPU seconds (user + system) of this process, and of its waited-for children.
pub fn cpu_seconds() -> (f64, f64) {
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    // SAFETY: getrusage only writes the struct we pass.
    let usage = |who| unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        tv(u.ru_utime) + tv(u.ru_stime)
    };
    (usage(libc::RUSAGE_SELF), usage(libc::RUSAGE_CHILDREN))
}

/// Resident memory of this process, in bytes.
pub use clipshot_runtime::process::rss_bytes;

/// The release daemon next to the running bench binary
/// (`target/release/deps/<bench>-…` → `target/release/clipshot`).
pub fn daemon_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|d| d.parent()).unwrap().join("clipshot");
    assert!(bin.exists(), "build the daemon first: cargo build --release -p clipshot ({})", bin.display());
    bin
}

/// A daemon the bench started on the test pattern, with its ports; stopped
/// with SIGTERM, as a user would.
#[derive(Debug)]
pub struct Daemon {
    child: std::process::Child,
    pub api_port: u16,
    pub obs_port: u16,
}

impl Daemon {
    /// Starts `clipshot serve` in `dir` with `envs`. Its standard output is
    /// read to the end on a thread of its own, so the daemon never writes
    /// into a closed pipe, and the harness never depends on what follows the
    /// lines it needs.
    pub fn start(dir: &std::path::Path, envs: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut command = std::process::Command::new(daemon_binary());
        command
            .args(["serve", "--port", "0", "--obs-websocket-port", "0", "--pipeline", "test-pattern"])
            .env("CLIPSHOT_DATA_DIR", dir)
            .env("CLIPSHOT_HOTKEY", "")
            .env("RUST_LOG", "warn")
            .env_remove("DISPLAY")
            .current_dir(dir)
            .stdout(std::process::Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("clipshot starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let port = |s: &str| s.split_whitespace().next()?.rsplit(':').next()?.parse::<u16>().ok();
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(p) = line.split("listening on http://").nth(1).and_then(port) {
                    let _ = tx.send((true, p));
                }
                if let Some(p) = line.split("obs-websocket: ws://").nth(1).and_then(port) {
                    let _ = tx.send((false, p));
                }
            }
        });
        let (mut api_port, mut obs_port) = (0, 0);
        while api_port == 0 || obs_port == 0 {
            let (api, p) = rx.recv_timeout(Duration::from_secs(60)).expect("the daemon printed its ports");
            if api { api_port = p } else { obs_port = p }
        }
        Self { child, api_port, obs_port }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}
