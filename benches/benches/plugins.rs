//! The price of the plugin boundary: per-call time of a no-op node built in,
//! the same node as a plugin in process (goal ≤ 1.1× and < 100 ns added),
//! and out of process with a 640×360 RGBA frame through shared memory (goal
//! < 50 µs per call; the host side copies each frame once, into the shared
//! memory). The no-op is `test.faulty` in its `ok` mode (it counts frames);
//! the built-in is the same counting in a `Processor`.
//!
//! Needs the release daemon (`cargo build --release -p clipshot`: it is the
//! plugin host) and builds the fixture in `target/plugin-build`.

use clipshot_core::PixelFormat;
use clipshot_core::processor::{Input, Outputs, ProcessError, Processor, ProcessorContext, ProcessorKind, VideoFrame};
use clipshot_runtime::plugin::Isolation;
use clipshot_runtime::plugin::manager::ManagerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const FAULTY: &str = "com.clipshot.tests.faulty";

#[derive(Debug, Default)]
struct Counting {
    frames: u64,
}

impl Processor for Counting {
    fn process(&mut self, _pad: &str, input: Input<'_>, _out: &mut Outputs) -> Result<(), ProcessError> {
        if let Input::Video(f) = input {
            self.frames += 1;
            std::hint::black_box(f.pts_ns);
        }
        Ok(())
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = root().join("target/plugin-build");
    let status = std::process::Command::new(cargo)
        .current_dir(root())
        .args(["build", "--release", "--locked", "-p", "clipshot-plugin-faulty", "--target-dir"])
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success());
    target.join("release/libclipshot_plugin_faulty.so")
}

#[derive(Default)]
struct Quiet;

impl clipshot_core::EventSink for Quiet {
    fn emit(&self, _event: clipshot_core::Event) {}
}

/// Median ns per call over `rounds` rounds of `calls` calls.
fn measure(processor: &mut dyn Processor, data: &[u8], width: u32, height: u32, calls: usize, rounds: usize) -> f64 {
    let mut per_call = Vec::with_capacity(rounds);
    let mut out = Outputs::default();
    for round in 0..=rounds {
        let started = Instant::now();
        for i in 0..calls {
            let frame =
                VideoFrame { format: PixelFormat::Rgba, width, height, stride: width * 4, data, pts_ns: i as i64 };
            processor.process("video", Input::Video(frame), &mut out).unwrap();
        }
        // Round 0 warms up.
        if round > 0 {
            per_call.push(started.elapsed().as_nanos() as f64 / calls as f64);
        }
    }
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

fn plugin(
    dir: &Path,
    lib: &Path,
    isolation: Isolation,
) -> (clipshot_runtime::plugin::PluginManager, Box<dyn Processor>) {
    let plugins = dir.join(format!("plugins-{isolation:?}"));
    let folder = plugins.join("faulty");
    std::fs::create_dir_all(folder.join("lib")).unwrap();
    std::fs::copy(lib, folder.join("lib/libclipshot_plugin_faulty.so")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("plugins/fixtures/faulty/manifest.json")).unwrap()).unwrap();
    manifest["native"]["binaries"]["linux-x64"]["sha256"] =
        clipshot_runtime::plugin::library::sha256_file(lib).unwrap().into();
    std::fs::write(folder.join("manifest.json"), manifest.to_string()).unwrap();
    let host = clipshot_runtime::plugin::sandbox::HostCommand {
        program: clipshot_benches::daemon_binary(),
        args: vec!["plugin-host".into()],
    };
    let config = ManagerConfig {
        plugins_dir: plugins,
        state_dir: dir.join(format!("state-{isolation:?}")),
        isolation,
        host,
        policy: clipshot_runtime::plugin::Policy::default(),
        memory_bytes: None,
        engine_version: "0.1.0".parse().unwrap(),
    };
    let manager = clipshot_runtime::plugin::PluginManager::new(config, Arc::new(Quiet));
    let kinds = manager.load(FAULTY).expect("the fixture loads");
    let ctx = ProcessorContext {
        pipeline: "bench".into(),
        node: "noop".into(),
        data_dir: dir.to_owned(),
        inputs: vec!["video".into()],
    };
    let setup = ProcessorKind::create(kinds[0].as_ref(), &serde_json::Map::new(), &ctx).unwrap();
    (manager, setup.processor)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lib = fixture();
    let (w, h) = (640u32, 360u32);
    let frame = vec![7u8; (w * h * 4) as usize];

    let mut builtin = Counting::default();
    let builtin_ns = measure(&mut builtin, &frame, w, h, 200_000, 9);
    let (_m1, mut in_process) = plugin(dir.path(), &lib, Isolation::InProcess);
    let in_process_ns = measure(in_process.as_mut(), &frame, w, h, 200_000, 9);
    let (m2, mut sandboxed) = plugin(dir.path(), &lib, Isolation::OutOfProcess);
    let sandboxed_ns = measure(sandboxed.as_mut(), &frame, w, h, 2_000, 9);
    let health = m2.health(FAULTY).unwrap().0;

    println!("plugin call overhead (no-op node, 640x360 RGBA frames):");
    println!("  built in                 {builtin_ns:>10.1} ns/call");
    println!(
        "  plugin, in process       {in_process_ns:>10.1} ns/call  ({:.2}x built in, +{:.1} ns; goal <= 1.1x and < 100 ns added)",
        in_process_ns / builtin_ns,
        in_process_ns - builtin_ns
    );
    println!(
        "  plugin, out of process   {:>10.1} us/call  (goal < 50 us; one {} KiB write into {} KiB of shared memory per call, no other host-side copy)",
        sandboxed_ns / 1e3,
        frame.len() / 1024,
        health.shm_bytes / 1024
    );
    println!("  host-reported p99        {:>10.1} us/call over {} calls", health.p99_call_us, health.calls);
}
