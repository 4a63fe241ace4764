//! `capture.screen` backends that this machine cannot serve must say why,
//! promptly, instead of hanging or recording nothing.
//!
//! This file is its own test binary so that pointing the session bus away
//! (before any thread starts) touches no other test.

mod common;

use clipshot_core::GraphSpec;
use clipshot_gst::{Pipeline, PipelineOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn screen_graph(source_props: &str) -> GraphSpec {
    let toml = common::graph_from(&format!("kind = \"capture.screen\"\nprops = {source_props}"), 5.0)
        // The screen has no audio: drop the audio branch.
        .replacen("[[links]]\n        from = \"src.audio\"\n        to = \"aenc.audio\"", "", 1)
        .replacen("[[nodes]]\n        id = \"aenc\"\n        kind = \"encode.aac\"", "", 1)
        .replacen("[[links]]\n        from = \"aenc.audio\"\n        to = \"ring.audio\"", "", 1);
    GraphSpec::from_toml(&toml).unwrap()
}

/// What validation says of props that this platform cannot serve.
fn validation_error(source_props: &str) -> String {
    let errors = clipshot_core::validate::validate(&screen_graph(source_props), &common::registry()).unwrap_err();
    errors.to_string()
}

fn start_error(source_props: &str) -> String {
    let registry = common::registry();
    let graph = clipshot_core::validate::validate(&screen_graph(source_props), &registry).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = PipelineOptions {
        data_dir: dir.path().to_owned(),
        clips_dir: dir.path().join("clips"),
        events: Arc::new(common::Events::default()),
        offline: false,
    };
    let pipeline = Pipeline::new("screen", graph, registry, options);
    let err = pipeline.start().expect_err("this machine cannot capture with that backend");
    pipeline.stop();
    err.to_string()
}

#[test]
fn backends_this_machine_lacks_fail_with_the_reason() {
    // SAFETY: the first statement of the only test in this binary: no other
    // thread reads the environment yet.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/clipshot-test-bus") };

    let started = Instant::now();
    let err = start_error(r#"{ backend = "pipewire" }"#);
    assert!(err.contains("ScreenCast portal"), "{err}");
    assert!(err.contains("pipewire_node"), "the error says what else to do: {err}");
    assert!(started.elapsed() < Duration::from_secs(30), "no portal must not mean a long wait");

    // Props the platform cannot serve are found before anything starts.
    let err = validation_error(r#"{ backend = "wgc" }"#);
    assert!(err.contains("/nodes/0/props/backend") && err.contains("Windows only"), "{err}");

    let err = validation_error(r#"{ backend = "wgc", region = { x = 0, y = 0, width = 64, height = 64 } }"#);
    assert!(err.contains("/nodes/0/props/region") && err.contains("X11 backend only"), "{err}");
}
