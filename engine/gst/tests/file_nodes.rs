//! `capture.file` and `sink.file` on real files.

mod common;

use clipshot_core::Trigger;
use clipshot_gst::SaveRequest;
use std::process::Command;
use std::time::Duration;

#[test]
fn a_file_source_plays_at_its_own_rate_into_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("gameplay.mp4");
    let status = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "num-buffers=150",
            "pattern=ball",
            "!",
            "video/x-raw,width=320,height=240,framerate=30/1",
            "!",
            "x264enc",
            "!",
            "mp4mux",
            "name=m",
            "!",
            "filesink",
        ])
        .arg(format!("location={}", source.display()))
        .args([
            "audiotestsrc",
            "num-buffers=230",
            "!",
            "audio/x-raw,rate=44100,channels=1",
            "!",
            "avenc_aac",
            "!",
            "m.",
        ])
        .status()
        .expect("gst-launch-1.0");
    assert!(status.success());
    let graph = common::graph_from(
        &format!("kind = \"capture.file\"\n        props = {{ path = \"{}\" }}", source.display()),
        30.0,
    );
    let run = common::start(&graph);
    let started = std::time::Instant::now();
    run.fill(2.0);
    // Played at its own rate, not as fast as it decodes.
    assert!(started.elapsed() >= Duration::from_millis(1800), "{:?}", started.elapsed());
    let clip = run.pipeline.save(&SaveRequest::last(2.0, Trigger::Api)).unwrap();
    let p = common::probe(&clip.path);
    assert_eq!(p.video_codec, "h264");
    assert_eq!(p.audio_codec.as_deref(), Some("aac"), "mono 44.1 kHz is converted and encoded");
}

#[test]
fn a_file_sink_records_a_playable_fragmented_mp4_beside_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    let graph = common::test_graph(10.0).replacen(
        "[[links]]",
        &format!(
            "[[nodes]]\nid = \"rec\"\nkind = \"sink.file\"\nprops = {{ dir = \"{}\", fragment_s = 1.0 }}\n\
             [[links]]\nfrom = \"venc.video\"\nto = \"rec.video\"\n[[links]]\nfrom = \"aenc.audio\"\nto = \"rec.audio\"\n[[links]]",
            rec.display()
        ),
        1,
    );
    let run = common::start(&graph);
    run.fill(3.0);
    // The tee feeds both: the ring still saves clips.
    let clip = run.pipeline.save(&SaveRequest::last(2.0, Trigger::Api)).unwrap();
    assert_eq!(common::probe(&clip.path).video_codec, "h264");
    run.pipeline.stop();
    let files = common::clip_files(&rec);
    assert_eq!(files.len(), 1, "{files:?}");
    let p = common::probe(&files[0]);
    assert_eq!(p.video_codec, "h264");
    assert_eq!(p.audio_codec.as_deref(), Some("aac"));
    assert!(p.duration_s >= 2.5, "{p:?}");
}
