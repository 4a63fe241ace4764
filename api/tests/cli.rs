//! The CLI end to end: the real binary on good and bad input.

mod common;

use common::clipshot;
use std::path::Path;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let out = clipshot(dir.path(), &["--version"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn validate_prints_every_problem_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
        name = "bad"
        [[nodes]]
        id = "src"
        kind = "capture.test"
        [[nodes]]
        id = "src"
        kind = "capture.test"
        [[nodes]]
        id = "enc"
        kind = "encode.h265"
        [[nodes]]
        id = "ring"
        kind = "replay.ring"
        props = { max_seconds = -5, colour = "red" }
        [[links]]
        from = "src.video"
        to = "nowhere.video"
        "#,
    )
    .unwrap();
    let out = clipshot(dir.path(), &["pipelines", "validate", bad.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("/nodes/1/id: duplicate node id `src`"), "{text}");
    assert!(
        text.contains("/nodes/2/kind: node `enc` has unknown kind `encode.h265`; did you mean `encode.h264`?"),
        "{text}"
    );
    assert!(text.contains("/links/0/to: link to `nowhere.video`: there is no node `nowhere`"), "{text}");
    assert!(text.contains("/nodes/3/props/max_seconds"), "{text}");
    assert!(text.contains("colour"), "{text}");
    assert!(text.contains("required input pad `ring.video`"), "{text}");
}

#[test]
fn every_shipped_preset_validates() {
    let dir = tempfile::tempdir().unwrap();
    let presets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let mut files: Vec<String> = std::fs::read_dir(&presets)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let mut args = vec!["pipelines", "validate"];
    args.extend(files.iter().map(String::as_str));
    let out = clipshot(dir.path(), &args);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.lines().filter(|l| l.ends_with(": ok")).count(), files.len(), "{text}");
    // And the binary carries the same presets it lists.
    for (name, body) in clipshot_runtime::presets::PRESETS {
        let on_disk = std::fs::read_to_string(presets.join(format!("{name}.toml"))).unwrap();
        assert_eq!(&on_disk, body);
    }
}

#[test]
fn an_unreadable_graph_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("syntax.toml");
    std::fs::write(&bad, "name = \n").unwrap();
    let out = clipshot(dir.path(), &["pipelines", "validate", bad.to_str().unwrap(), "missing.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("invalid TOML graph"), "{text}");
    assert!(text.contains("missing.toml"), "{text}");
}

#[test]
fn nodes_lists_every_kind_with_pads_and_props() {
    let dir = tempfile::tempdir().unwrap();
    let out = clipshot(dir.path(), &["nodes"]);
    let text = stdout(&out);
    assert!(out.status.success());
    for kind in [
        "capture.test",
        "capture.screen",
        "capture.file",
        "audio.system",
        "audio.mic",
        "audio.test",
        "encode.h264",
        "encode.aac",
        "encode.opus",
        "replay.ring",
        "sink.file",
        "video.preview",
    ] {
        assert!(text.contains(kind), "{kind} missing from:\n{text}");
    }
    assert!(text.contains("video.preview") && text.contains("[processor]"), "{text}");
    assert!(text.contains("max_seconds=30"), "{text}");
    let json = clipshot(dir.path(), &["nodes", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let ring = v.as_array().unwrap().iter().find(|d| d["kind"] == "replay.ring").unwrap();
    assert_eq!(ring["props_schema"]["properties"]["max_seconds"]["default"], 30.0);
}

#[test]
fn clip_without_a_daemon_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api-token"), "abc").unwrap();
    let out = clipshot(dir.path(), &["clip", "--port", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the ClipShot daemon"), "{err}");
}

#[test]
fn a_bad_configuration_is_a_readable_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clipshot.toml"), "port = \"eighty\"\n").unwrap();
    let out = clipshot(dir.path(), &["nodes"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid configuration") && err.contains("port"), "{err}");
}

/// Three problems only this machine (a file that is not there, an encoder
/// that is not installed) or the codecs (Opus cannot go into the MP4 ring) can tell.
const CONTEXT_PROBLEMS: &str = include_str!("../../engine/gst/tests/fixtures/context-problems.toml");

#[test]
fn validate_reports_structure_and_context_problems_together() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ctx.toml");
    std::fs::write(&file, CONTEXT_PROBLEMS).unwrap();
    let out = clipshot(dir.path(), &["pipelines", "validate", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("3 problem(s)"), "{text}");
    assert!(text.contains("/nodes/0/props/path") && text.contains("/no/such/gameplay.mp4"), "{text}");
    assert!(text.contains("/nodes/1/props/encoder") && text.contains("nvenc"), "{text}");
    assert!(text.contains("/links/3") && text.contains("audio/opus"), "{text}");
}
