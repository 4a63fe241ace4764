//! Shared measuring helpers for the benchmarks, and the report they write.

pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The workspace's root (benches run with the package as their directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder of the labelled ViZDoom recording (`play.mp4`, `labels.json`):
/// `CLIPSHOT_EVAL_DIR`, or `target/eval/vizdoom`, where `make vizdoom-recording`
/// makes it.
pub fn eval_dir() -> PathBuf {
    std::env::var_os("CLIPSHOT_EVAL_DIR").map_or_else(|| root().join("target/eval/vizdoom"), PathBuf::from)
}

/// Milliseconds, as the reports give them.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of `samples`, NaN for none.
pub fn median(samples: &[f64]) -> f64 {
    report::Summary::of(samples).map_or(f64::NAN, |s| s.median)
}

/// Makes `path`'s bytes durable.
pub fn fsync(path: &Path) {
    std::fs::File::open(path).and_then(|f| f.sync_all()).expect("fsync");
}

/// The peer of every save: `cp from to && fsync to`, timed.
pub fn cp_fsync(from: &Path, to: &Path) -> Duration {
    let t = Instant::now();
    std::fs::copy(from, to).expect("cp");
    fsync(to);
    t.elapsed()
}

/// How the reports write the `cp` + fsync peer's command.
pub const CP_FSYNC_COMMAND: &str = "cp clip.mp4 copy.mp4 && fsync copy.mp4";

/// An event sink that drops everything: the benches' pipelines run without a daemon.
#[derive(Debug, Default)]
pub struct NoEvents;

impl clipshot_core::EventSink for NoEvents {
    fn emit(&self, _event: clipshot_core::Event) {}
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

/// Bytes the C allocator has handed out and not had back (glibc's
/// `mallinfo2`: heap chunks in use plus mmapped chunks), which Rust's
/// allocations and GStreamer's buffers both come from. Beside the resident
/// size it tells per-allocation overhead from memory freed but kept.
pub fn heap_in_use_bytes() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

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
