//! The price of the plugin boundary (part `plugins`): per-call time of a
//! no-op node built in, the same node as a plugin in process (entry
//! `plugin_call_vs_builtin`; goal ≤ 1.1× and < 100 ns added), and out of
//! process with a 640×360 RGBA frame through shared memory (entry
//! `plugin_call_vs_builtin_out_of_process`, its ratio still against the
//! built-in; goal < 50 µs per call, a note; the host side copies each frame
//! once, into the shared memory). The no-op is `test.faulty` in its `ok` mode
//! (it counts frames); the built-in is the same counting in a `Processor`.
//! Each sample is the mean per call over one round of calls, after a warm-up
//! round; built-in and in-process rounds alternate.
//!
//! `--quick`: 5 rounds per side instead of 15.
//!
//! Needs the release daemon (`cargo build --release -p clipshot`: it is the
//! plugin host) and builds the fixture in `target/plugin-build`.

use clipshot_benches::report::{self, Entry, Goal, Part, Side};
use clipshot_benches::{NoEvents, root};
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

/// Mean ns per call of each of `rounds` rounds of `calls` calls (after a warm-up round).
fn measure(
    processor: &mut dyn Processor,
    data: &[u8],
    width: u32,
    height: u32,
    calls: usize,
    rounds: usize,
) -> Vec<f64> {
    // Called through the trait object, as the pipeline calls every node (never devirtualised).
    let processor = std::hint::black_box(processor);
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
    per_call
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
    let manager = clipshot_runtime::plugin::PluginManager::new(config, Arc::new(NoEvents));
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
    let rounds = if report::quick() { 5 } else { 15 };
    let mut part = Part::new("plugins");
    let dir = tempfile::tempdir().unwrap();
    report::progress("building the faulty plugin fixture");
    let lib = fixture();
    let (w, h) = (640u32, 360u32);
    let frame = vec![7u8; (w * h * 4) as usize];
    let (calls, sandboxed_calls) = (200_000, 2_000);

    // Built in and in process alternate round by round, so that drift in
    // the machine's speed hits both alike.
    report::progress("built-in no-op and the plugin in process, alternating");
    let mut builtin = Counting::default();
    let (_m1, mut in_process) = plugin(dir.path(), &lib, Isolation::InProcess);
    let (mut builtin_ns, mut in_process_ns) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        builtin_ns.extend(measure(&mut builtin, &frame, w, h, calls, 1));
        in_process_ns.extend(measure(in_process.as_mut(), &frame, w, h, calls, 1));
    }
    report::progress("plugin out of process");
    let (m2, mut sandboxed) = plugin(dir.path(), &lib, Isolation::OutOfProcess);
    let sandboxed_ns = measure(sandboxed.as_mut(), &frame, w, h, sandboxed_calls, rounds);
    let health = m2.health(FAULTY).unwrap().0;

    println!("plugin call overhead (no-op node, 640x360 RGBA frames, {rounds} rounds each):");
    let builtin_cmd = |calls: usize| {
        format!(
            "Processor::process of the bench's built-in no-op (counts video frames) on a 640x360 RGBA frame, \
             {rounds} rounds of {calls} calls, in process"
        )
    };
    let in_process_side = Side::from_samples(
        "plugin, in process",
        &format!(
            "{FAULTY} (test.faulty, mode ok) loaded with Isolation::InProcess by PluginManager, \
             Processor::process on a 640x360 RGBA frame, {rounds} rounds of {calls} calls"
        ),
        "ns_per_call",
        &in_process_ns,
    );
    let builtin_side = Side::from_samples("built in", &builtin_cmd(calls), "ns_per_call", &builtin_ns);
    let added_ns = in_process_side.summary.median - builtin_side.summary.median;
    part.add(
        Entry::compare(
            "plugin_call_vs_builtin",
            "Per-call time of a no-op node as an in-process plugin, against the same node built in",
            in_process_side,
            builtin_side,
        )
        .goal(Goal::at_most(1.1, "≤ 1.1× built in and < 100 ns added").metric_at_most("added_ns", 100.0))
        .metric("added_ns", added_ns)
        .note(format!(
            "{added_ns:.1} ns added per call (goal < 100 ns: {})",
            if added_ns < 100.0 { "met" } else { "missed" }
        )),
    );

    let to_us = |ns: &[f64]| ns.iter().map(|v| v / 1e3).collect::<Vec<_>>();
    let sandboxed_side = Side::from_samples(
        "plugin, out of process",
        &format!(
            "{FAULTY} (test.faulty, mode ok) loaded with Isolation::OutOfProcess by PluginManager \
             (host: target/release/clipshot plugin-host), Processor::process on a 640x360 RGBA frame \
             through shared memory, {rounds} rounds of {sandboxed_calls} calls"
        ),
        "us_per_call",
        &to_us(&sandboxed_ns),
    );
    let builtin_side = Side::from_samples("built in", &builtin_cmd(calls), "us_per_call", &to_us(&builtin_ns));
    let per_call_us = sandboxed_side.summary.median;
    part.add(
        Entry::compare(
            "plugin_call_vs_builtin_out_of_process",
            "Per-call time of a no-op node as an out-of-process plugin (640x360 RGBA frame), against built in",
            sandboxed_side,
            builtin_side,
        )
        .goal(Goal::on_metrics("< 50 µs per call with a 640×360 frame").metric_at_most("per_call_us", 50.0))
        .metric("per_call_us", per_call_us)
        .metric("host_p99_call_us", health.p99_call_us)
        .metric("host_calls", health.calls as f64)
        .metric("frame_kib", (frame.len() / 1024) as f64)
        .metric("shm_kib", (health.shm_bytes / 1024) as f64)
        .note("the ratio against a built-in no-op has no goal: the built-in call is a few ns")
        .note(format!(
            "one {} KiB write into {} KiB of shared memory per call, no other host-side copy",
            frame.len() / 1024,
            health.shm_bytes / 1024
        )),
    );
    part.write();
}
