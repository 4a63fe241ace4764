//! What this process costs the machine, for every front end's statistics
//! (the REST metrics, obs-websocket's `GetStats`).

use parking_lot::Mutex;
use std::time::Instant;

/// CPU seconds this process has used (user + system).
#[cfg(unix)]
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(not(unix))]
pub fn cpu_seconds() -> f64 {
    0.0
}

/// Resident memory of this process.
#[cfg(unix)]
pub fn rss_bytes() -> u64 {
    // Linux: the second field of statm is resident pages.
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

#[cfg(not(unix))]
pub fn rss_bytes() -> u64 {
    0
}

/// Free space for unprivileged writers on the file system holding `path`.
#[cfg(unix)]
pub fn available_disk_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs only writes the struct we hand it; `c` is a valid C string.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn available_disk_bytes(_path: &std::path::Path) -> Option<u64> {
    None
}

/// CPU use in percent of one core since the previous reading (since the
/// meter was made, the first time).
#[derive(Debug)]
pub struct CpuMeter {
    last: Mutex<(Instant, f64)>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self { last: Mutex::new((Instant::now(), cpu_seconds())) }
    }
}

impl CpuMeter {
    pub fn percent(&self) -> f64 {
        let (now, cpu) = (Instant::now(), cpu_seconds());
        let mut last = self.last.lock();
        let elapsed = now.duration_since(last.0).as_secs_f64();
        let pct = if elapsed > 0.0 { (cpu - last.1) / elapsed * 100.0 } else { 0.0 };
        *last = (now, cpu);
        pct.max(0.0)
    }
}
