//! Shared measuring helpers for the benchmarks.

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

/// A daemon the bench started: stopped with SIGTERM, as a user would.
#[derive(Debug)]
pub struct Daemon(pub std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}
