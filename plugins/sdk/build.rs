//! Records the compiler that builds the SDK (and so the plugin that uses it):
//! the descriptor carries it as build information.
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown)".into());
    println!("cargo:rustc-env=CLIPSHOT_SDK_RUSTC={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
