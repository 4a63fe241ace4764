//! What the figures were measured on, so two reports can be told apart.

use serde::{Deserialize, Serialize};
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub logical_cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub kernel: String,
    pub gstreamer: String,
    pub gpu: String,
}

impl Machine {
    /// Reads this machine; anything unreadable is "unknown" rather than an
    /// error (a report without the kernel version is still worth writing).
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let cores = cpuinfo.lines().filter(|l| key_value(l).is_some_and(|(k, _)| k == "processor")).count();
        Self {
            cpu: field(&cpuinfo, "model name").unwrap_or_else(unknown),
            logical_cores: if cores > 0 {
                cores
            } else {
                std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
            },
            memory_gib: field(&meminfo, "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / (1024.0 * 1024.0)),
            os: os_release
                .lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim().trim_matches('"').to_string())
                .unwrap_or_else(unknown),
            kernel: first_line("uname", &["-r"]).unwrap_or_else(unknown),
            gstreamer: first_line("gst-launch-1.0", &["--version"]).unwrap_or_else(|| "not found".into()),
            gpu: gpus().unwrap_or_else(|| "none".into()),
        }
    }
}

fn unknown() -> String {
    "unknown".into()
}

fn key_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(':')?;
    Some((k.trim(), v.trim()))
}

/// The value of the first `key: value` line with this key.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().filter_map(key_value).find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
}

/// The first line of a command's standard output, when it runs and succeeds.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok().filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout).lines().map(str::trim).find(|l| !l.is_empty()).map(String::from)
}

/// `nvidia-smi -L`'s GPUs without their UUIDs; `None` where it does not run.
fn gpus() -> Option<String> {
    let out = Command::new("nvidia-smi").arg("-L").output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let gpus: Vec<&str> =
        text.lines().map(|l| l.split(" (UUID").next().unwrap_or(l).trim()).filter(|l| !l.is_empty()).collect();
    (!gpus.is_empty()).then(|| gpus.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields() {
        let text = "processor\t: 0\nmodel name\t: Some CPU @ 3.0GHz\nprocessor\t: 1\n";
        assert_eq!(field(text, "model name").as_deref(), Some("Some CPU @ 3.0GHz"));
        assert_eq!(field(text, "flags"), None);
        let m = Machine::describe();
        assert!(m.logical_cores > 0);
    }
}
