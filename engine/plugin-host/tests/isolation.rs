//! A plugin that crashes, aborts, panics, hangs or leaks costs its own
//! nodes' output and nothing else: the calls return, `plugin.crashed` is
//! emitted, the code is restarted after a back-off, and the third crash in
//! the window disables the plugin (persisted).

mod support;

use clipshot_core::processor::{Input, Outputs, ProcessorContext, ProcessorKind, Setup, VideoFrame};
use clipshot_core::{NodeKind, PixelFormat};
use clipshot_plugin_host::manager::ManagerConfig;
use clipshot_plugin_host::sandbox::HostCommand;
use clipshot_plugin_host::{Isolation, PluginKind, PluginManager, Policy};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Events;

const FAULTY: &str = "com.clipshot.tests.faulty";

fn manager(dir: &Path, isolation: Isolation, events: &Arc<Events>) -> PluginManager {
    let config = ManagerConfig {
        plugins_dir: dir.join("plugins"),
        state_dir: dir.join("state"),
        isolation,
        host: HostCommand { program: env!("CARGO_BIN_EXE_clipshot-plugin-host").into(), args: Vec::new() },
        policy: Policy {
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(40),
            call_timeout: Duration::from_millis(600),
            ..Policy::default()
        },
        memory_bytes: Some(768 << 20),
        engine_version: semver::Version::new(0, 1, 0),
    };
    PluginManager::new(config, Arc::clone(events) as _)
}

/// The faulty fixture installed and loaded; its one kind.
fn faulty(dir: &Path, isolation: Isolation, events: &Arc<Events>) -> (PluginManager, Arc<PluginKind>) {
    let lib = support::rust_plugins().join("libclipshot_plugin_faulty.so");
    let manifest = support::manifest(FAULTY, "libclipshot_plugin_faulty.so", &support::sha256(&lib));
    support::install_folder(&dir.join("plugins"), "faulty", &manifest, &lib);
    let manager = manager(dir, isolation, events);
    let kinds = manager.load(FAULTY).expect("the fixture loads");
    assert_eq!(kinds.len(), 1);
    let kind = Arc::clone(&kinds[0]);
    (manager, kind)
}

fn create(kind: &PluginKind, props: serde_json::Value) -> Setup {
    let ctx = ProcessorContext {
        pipeline: "main".into(),
        node: "faulty".into(),
        data_dir: std::env::temp_dir(),
        inputs: vec!["video".into()],
    };
    ProcessorKind::create(kind, props.as_object().unwrap(), &ctx).expect("created")
}

const W: u32 = 64;
const H: u32 = 36;

fn frame(data: &[u8], pts_ns: i64) -> Input<'_> {
    Input::Video(VideoFrame { format: PixelFormat::Rgba, width: W, height: H, stride: W * 4, data, pts_ns })
}

/// Feeds frames until `done` or the deadline; returns how many were fed.
fn feed(setup: &mut Setup, mut done: impl FnMut() -> bool, limit: Duration) -> usize {
    let data = vec![0u8; (W * H * 4) as usize];
    let deadline = Instant::now() + limit;
    let mut n = 0;
    while !done() && Instant::now() < deadline {
        let mut out = Outputs::default();
        // Whatever the plugin does, the call returns without an error.
        setup
            .processor
            .process("video", frame(&data, n as i64 * 1_000_000), &mut out)
            .expect("a crash is not an error");
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    n
}

#[test]
fn a_segfaulting_plugin_is_restarted_then_disabled_after_three_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let events = support::events();
    let (manager, kind) = faulty(dir.path(), Isolation::OutOfProcess, &events);
    let first_pid = manager.health(FAULTY).unwrap().0.pid;
    let mut setup = create(&kind, json!({"mode": "segfault", "after": 2, "marker_every": 1}));

    // Two good frames, each with its marker.
    let data = vec![0u8; (W * H * 4) as usize];
    for i in 0..2 {
        let mut out = Outputs::default();
        setup.processor.process("video", frame(&data, i), &mut out).unwrap();
        assert_eq!(out.drain().count(), 1, "a marker per frame while it behaves");
    }
    // The third crashes its host; the call still returns.
    let mut out = Outputs::default();
    setup.processor.process("video", frame(&data, 2), &mut out).unwrap();
    assert!(out.is_empty());
    let crashes = events.crashes();
    assert_eq!(crashes.len(), 1, "{crashes:?}");
    assert!(crashes[0].contains("SIGSEGV"), "{crashes:?}");
    let (health, _) = manager.health(FAULTY).unwrap();
    assert_eq!((health.crashes, health.status.as_str()), (1, "restarting"), "{health:?}");

    // Restarted after the back-off, in a new process, twice more: disabled.
    feed(&mut setup, || events.crashes().len() >= 3, Duration::from_secs(20));
    let (health, _) = manager.health(FAULTY).unwrap();
    assert_eq!(health.crashes, 3, "{health:?}");
    assert_eq!(health.restarts, 2, "{health:?}");
    assert_eq!(health.status, "disabled", "{health:?}");
    assert!(health.disabled_reason.as_deref().unwrap_or("").contains("3 crashes"), "{health:?}");
    assert!(health.bypassed > 0, "frames during the back-off were bypassed: {health:?}");
    assert_ne!(health.pid, first_pid);

    // Disabled for good: no more crashes, and the decision is persisted.
    feed(&mut setup, || false, Duration::from_millis(200));
    assert_eq!(events.crashes().len(), 3);
    let info = manager.info(FAULTY).unwrap();
    assert!(!info.enabled && info.disabled_reason.is_some(), "{info:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/plugins.json")).unwrap()).unwrap();
    assert_eq!(state["plugins"][FAULTY]["enabled"], false, "{state}");
    // A new manager (a restarted daemon) does not load it.
    drop(setup);
    manager.shutdown();
    let again = manager_again(dir.path(), &events);
    assert!(again.load_enabled().is_empty());
}

fn manager_again(dir: &Path, events: &Arc<Events>) -> PluginManager {
    manager(dir, Isolation::OutOfProcess, events)
}

#[test]
fn a_hanging_call_is_cut_at_its_budget_and_the_host_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let events = support::events();
    let (manager, kind) = faulty(dir.path(), Isolation::OutOfProcess, &events);
    let pid = manager.health(FAULTY).unwrap().0.pid;
    let mut setup = create(&kind, json!({"mode": "hang"}));
    let data = vec![0u8; (W * H * 4) as usize];
    let started = Instant::now();
    let mut out = Outputs::default();
    setup.processor.process("video", frame(&data, 0), &mut out).unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600) && took < Duration::from_secs(5), "{took:?}");
    let (health, _) = manager.health(FAULTY).unwrap();
    assert_eq!((health.timeouts, health.crashes), (1, 1), "{health:?}");
    assert!(events.crashes()[0].contains("600 ms budget"), "{:?}", events.crashes());
    // The stuck process is gone.
    let pid = pid.unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid), "the hung host {pid} still runs");
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

#[test]
fn abort_leak_and_panic_out_of_process_are_crashes_of_the_host_only() {
    for (mode, expect) in [("abort", "SIGABRT"), ("leak", "plugin host"), ("panic", "deliberate panic")] {
        let dir = tempfile::tempdir().unwrap();
        let events = support::events();
        let (_manager, kind) = faulty(dir.path(), Isolation::OutOfProcess, &events);
        let mut setup = create(&kind, json!({"mode": mode}));
        feed(&mut setup, || !events.crashes().is_empty(), Duration::from_secs(30));
        let crashes = events.crashes();
        assert!(!crashes.is_empty(), "{mode}: no crash reported");
        assert!(crashes[0].contains(expect), "{mode}: {crashes:?}");
    }
}

#[test]
fn in_process_a_panic_is_caught_and_counted_and_an_error_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let events = support::events();
    let (manager, kind) = faulty(dir.path(), Isolation::InProcess, &events);
    let data = vec![0u8; (W * H * 4) as usize];

    let mut setup = create(&kind, json!({"mode": "panic", "after": 1}));
    let mut out = Outputs::default();
    setup.processor.process("video", frame(&data, 0), &mut out).unwrap();
    setup.processor.process("video", frame(&data, 1), &mut out).unwrap();
    assert_eq!(events.crashes().len(), 1);
    assert!(events.crashes()[0].contains("deliberate panic"));
    let (health, _) = manager.health(FAULTY).unwrap();
    assert_eq!(health.pid, Some(std::process::id()), "in process");
    assert_eq!(health.isolation, Isolation::InProcess);

    let dir = tempfile::tempdir().unwrap();
    let events = support::events();
    let (manager, kind) = faulty(dir.path(), Isolation::InProcess, &events);
    let mut setup = create(&kind, json!({"mode": "error"}));
    let err = setup.processor.process("video", frame(&data, 0), &mut out).unwrap_err();
    assert!(err.0.contains("deliberate error"), "{err}");
    let (health, _) = manager.health(FAULTY).unwrap();
    assert_eq!((health.errors, health.crashes), (1, 0), "{health:?}");
    assert!(events.crashes().is_empty());
}

#[test]
fn props_the_plugin_refuses_are_an_error_at_create_and_counters_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let events = support::events();
    let (manager, kind) = faulty(dir.path(), Isolation::OutOfProcess, &events);
    let descriptor = NodeKind::<()>::descriptor(kind.as_ref());
    assert_eq!(descriptor.kind, "test.faulty");
    assert!(descriptor.props_schema["properties"]["mode"].is_object(), "{}", descriptor.props_schema);
    let ctx =
        ProcessorContext { pipeline: "p".into(), node: "n".into(), data_dir: std::env::temp_dir(), inputs: vec![] };
    let err = ProcessorKind::create(kind.as_ref(), json!({"mode": "sideways"}).as_object().unwrap(), &ctx).unwrap_err();
    assert!(err.contains("invalid props"), "{err}");

    let mut setup = create(&kind, json!({"marker_every": 2}));
    feed(&mut setup, || false, Duration::from_millis(100));
    let (health, nodes) = manager.health(FAULTY).unwrap();
    assert!(
        health.calls > 0 && health.mean_call_us > 0.0 && health.p99_call_us >= health.mean_call_us * 0.5,
        "{health:?}"
    );
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].stats.as_ref().is_some_and(|s| s.is_object()), "{nodes:?}");
}

#[test]
fn a_host_outlives_the_thread_that_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = support::events();
    // Loaded on a thread that then ends (as a blocking-pool thread retires):
    // the host must not die with it.
    let (path, sink) = (dir.path().to_owned(), Arc::clone(&events));
    let (manager, kind) = std::thread::spawn(move || faulty(&path, Isolation::OutOfProcess, &sink)).join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = manager.health(FAULTY).unwrap().0.pid;
    let mut setup = create(&kind, json!({"marker_every": 1}));
    let data = vec![0u8; (W * H * 4) as usize];
    let mut out = Outputs::default();
    setup.processor.process("video", frame(&data, 0), &mut out).unwrap();
    assert_eq!(out.drain().count(), 1, "the node ran");
    assert!(events.crashes().is_empty(), "{:?}", events.crashes());
    assert_eq!(manager.health(FAULTY).unwrap().0.pid, pid);
}
