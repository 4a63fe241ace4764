//! The record path on real GStreamer: test source + tone → x264 + AAC → ring → MP4.

mod common;

use clipshot_core::{Event, PipelineState, Trigger};
use clipshot_gst::{RecordError, SaveRequest, SaveSpan};
use common::{probe, start, test_graph};
use std::time::Duration;

const GOP_S: f64 = 1.0;

#[test]
fn a_five_second_save_is_h264_and_aac_of_the_right_length_and_decodes() {
    let run = start(&test_graph(10.0));
    run.fill(7.0);
    let clip = run.pipeline.save(&SaveRequest::last(5.0, Trigger::Api)).unwrap();

    let p = probe(&clip.path);
    assert_eq!(p.video_codec, "h264");
    assert_eq!(p.pix_fmt, "yuv420p");
    assert_eq!(p.audio_codec.as_deref(), Some("aac"));
    assert!(p.duration_s >= 5.0 && p.duration_s <= 5.0 + GOP_S + 0.1, "duration {p:?}");
    assert_eq!(p.video_frames as usize, clip.info.video_samples, "every frame decodes");
    assert!((clip.info.duration_s - p.duration_s).abs() < 0.1, "{clip:?} vs {p:?}");

    // The event comes after the file is in place, with what a frontend shows.
    let saved = run.events.all().into_iter().find_map(|e| match e {
        Event::ClipSaved(c) => Some(c),
        _ => None,
    });
    let saved = saved.expect("clip.saved emitted");
    assert_eq!(saved.path, clip.path.to_string_lossy());
    assert_eq!(saved.trigger, Trigger::Api);
    assert!(saved.video_codec.starts_with("avc1."));
    // No temporary file is left behind.
    let leftovers: Vec<_> = common::clip_files(clip.path.parent().unwrap())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_ring_evicts_whole_gops_and_keeps_at_most_max_seconds() {
    let run = start(&test_graph(3.0));
    run.fill(2.5);
    std::thread::sleep(Duration::from_secs(3));
    let stats = run.pipeline.stats();
    let ring = stats.nodes.iter().find_map(|n| n.ring.clone()).unwrap();
    assert!(ring.stats.seconds <= 3.0 && ring.stats.seconds > 1.5, "{ring:?}");
    // 30 fps, one keyframe a second: whole GOPs of 30 frames, plus the one being filled.
    assert!(ring.stats.keyframes <= 4, "{ring:?}");
    let r = run.pipeline.ring(None).unwrap();
    let keys = r.keyframes();
    assert!(keys.windows(2).all(|w| (w[1] - w[0] - 1_000_000_000).abs() < 50_000_000), "{keys:?}");
    // The clip of everything in the ring starts at the oldest keyframe.
    let clip = run.pipeline.save(&SaveRequest::last(60.0, Trigger::Api)).unwrap();
    assert!(clip.info.duration_s <= 3.1, "{clip:?}");
    assert_eq!(clip.span.start_ns, keys[0]);
}

#[test]
fn concurrent_saves_are_both_valid() {
    let run = start(&test_graph(10.0));
    run.fill(4.0);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run.pipeline.save(&SaveRequest::last(3.0, Trigger::Api)));
        let b = s.spawn(|| run.pipeline.save(&SaveRequest::last(2.0, Trigger::Hotkey)));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_ne!(a.path, b.path);
    for clip in [&a, &b] {
        let p = probe(&clip.path);
        assert_eq!(p.video_codec, "h264");
        assert_eq!(p.audio_codec.as_deref(), Some("aac"));
    }
}

#[test]
fn a_save_into_an_unusable_folder_fails_cleanly_and_the_next_one_works() {
    let run = start(&test_graph(10.0));
    run.fill(3.0);
    let before = run.pipeline.stats();
    // A folder that cannot be created: its parent is a file.
    let file = run.dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    run.pipeline.set_clips_dir(file.join("clips"));
    let err = run.pipeline.save(&SaveRequest::last(2.0, Trigger::Api)).unwrap_err();
    assert!(err.to_string().contains("not-a-dir"), "{err}");
    assert!(run.events.names().contains(&"clip.failed"));

    let after = run.pipeline.stats();
    let ring_before = before.nodes.iter().find_map(|n| n.ring.clone()).unwrap();
    let ring_after = after.nodes.iter().find_map(|n| n.ring.clone()).unwrap();
    assert!(ring_after.stats.video_packets >= ring_before.stats.video_packets, "the ring is untouched");
    assert_eq!(after.state, PipelineState::Running, "recording goes on");

    run.pipeline.set_clips_dir(run.dir.path().join("clips"));
    let clip = run.pipeline.save(&SaveRequest::last(2.0, Trigger::Api)).unwrap();
    assert_eq!(probe(&clip.path).video_codec, "h264");
}

/// A full disk: a 64 KiB tmpfs. Needs root (CI runs as root); elsewhere it says why it is skipped.
#[test]
fn a_save_onto_a_full_disk_removes_its_partial_file_and_the_next_one_works() {
    let run = start(&test_graph(10.0));
    let full = run.dir.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(std::env::var_os("CI").is_none(), "CI must be able to mount a tmpfs to test a full disk");
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&full);
    run.fill(3.0);
    run.pipeline.set_clips_dir(full.clone());
    let err = run.pipeline.save(&SaveRequest::last(3.0, Trigger::Api)).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("space"), "{err}");
    assert!(common::clip_files(&full).is_empty(), "partial file removed: {:?}", common::clip_files(&full));

    run.pipeline.set_clips_dir(run.dir.path().join("clips"));
    let clip = run.pipeline.save(&SaveRequest::last(3.0, Trigger::Api)).unwrap();
    assert_eq!(probe(&clip.path).audio_codec.as_deref(), Some("aac"));
}

#[test]
fn a_marker_save_waits_for_its_post_roll() {
    let run = start(&test_graph(10.0));
    run.fill(3.0);
    let marker = run.pipeline.add_marker(None, None, Some("clutch".into())).unwrap();
    let clip = run
        .pipeline
        .save(&SaveRequest {
            ring: None,
            span: SaveSpan::Marker { id: marker.id, pre_seconds: 2.0, post_seconds: 1.5 },
            trigger: Trigger::Api,
            score: None,
        })
        .unwrap();
    assert!(clip.span.end_ns >= marker.at_ns + 1_400_000_000, "post-roll included: {clip:?}");
    assert!(clip.wait_ms >= 1000.0, "the save waited for the post-roll: {clip:?}");
    let p = probe(&clip.path);
    assert!(p.duration_s >= 3.4 && p.duration_s <= 3.5 + GOP_S + 0.1, "{p:?}");
}

#[test]
fn an_error_restarts_the_pipeline_and_the_ring_keeps_its_contents() {
    let run = start(&test_graph(10.0));
    run.fill(2.0);
    run.pipeline.inject_error(Some("venc"), "simulated encoder failure");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(run.events.names().contains(&"pipeline.error")
        && run.pipeline.state() == PipelineState::Running
        && run.pipeline.stats().restarts >= 1)
    {
        assert!(std::time::Instant::now() < deadline, "no restart: {:?}", run.events.names());
        std::thread::sleep(Duration::from_millis(100));
    }
    let error = run.events.all().into_iter().find_map(|e| match e {
        Event::PipelineError { message, restart_in_ms, fault, .. } => Some((message, restart_in_ms, fault)),
        _ => None,
    });
    let (message, restart_in, fault) = error.unwrap();
    // The error names its node, its kind and the element, the same everywhere.
    let fault = fault.expect("the error names the node it came from");
    assert_eq!((fault.node.as_str(), fault.kind.as_str()), ("venc", "encode.h264"), "{fault:?}");
    assert!(fault.element.is_some(), "{fault:?}");
    assert_eq!(message, fault.to_string());
    assert!(
        message.starts_with("node `venc` (encode.h264, ") && message.contains("simulated encoder failure"),
        "{message}"
    );
    let stats = run.pipeline.stats();
    let venc = stats.nodes.iter().find(|n| n.id == "venc").unwrap();
    assert_eq!(venc.error.as_deref(), Some(message.as_str()));
    assert!(restart_in.is_some());
    // Right after the restart the old recording is still there to save.
    let clip = run.pipeline.save(&SaveRequest::last(1.5, Trigger::Api)).unwrap();
    assert_eq!(probe(&clip.path).video_codec, "h264");
    // And the new run records into the same ring.
    run.fill(2.0);
    assert!(run.pipeline.stats().nodes.iter().find_map(|n| n.ring.clone()).unwrap().stats.epoch >= 1);
}

#[test]
fn a_recording_on_demand_taps_the_encoders_and_leaves_the_ring_alone() {
    let run = start(&test_graph(10.0));
    run.fill(1.0);
    let dir = run.dir.path().join("recordings");
    let mut props = clipshot_core::Props::new();
    props.insert("dir".into(), dir.display().to_string().into());
    let path = run.pipeline.start_recording(props.clone()).unwrap();
    assert!(path.starts_with(&dir) && path.file_name().unwrap().to_string_lossy().starts_with("test-"), "{path:?}");
    assert!(matches!(run.pipeline.start_recording(props.clone()), Err(RecordError::Already(p)) if p == path));
    let before = run.pipeline.stats();
    run.fill(before.nodes.iter().find_map(|n| n.ring.clone()).unwrap().stats.seconds + 3.0);
    assert!(run.pipeline.recording().is_some_and(|r| r.bytes > 0 && r.path == path));
    let info = run.pipeline.stop_recording().unwrap();
    assert!(matches!(run.pipeline.stop_recording(), Err(RecordError::NotRecording)));
    assert!(run.pipeline.recording().is_none());
    assert!(info.duration_s >= 2.5, "{info:?}");

    // A file that starts on a keyframe, with both streams, that decodes cleanly.
    let p = probe(&path);
    assert_eq!((p.video_codec.as_str(), p.audio_codec.as_deref()), ("h264", Some("aac")));
    assert!(p.duration_s >= 2.0 && p.duration_s <= info.duration_s + 1.0, "{p:?} {info:?}");
    // The ring went on: the same epoch, nothing dropped, still filling.
    let after = run.pipeline.stats();
    let ring = |s: &clipshot_gst::PipelineStats| s.nodes.iter().find_map(|n| n.ring.clone()).unwrap().stats;
    assert_eq!(ring(&after).epoch, ring(&before).epoch);
    assert_eq!(after.restarts, 0);
    assert!(after.nodes.iter().all(|n| n.dropped == 0), "{after:?}");
    let names = run.events.names();
    assert!(names.contains(&"recording.started") && names.contains(&"recording.stopped"), "{names:?}");

    // A second recording, cut short by the pipeline's stop, still ends its file.
    let second = run.pipeline.start_recording(props).unwrap();
    assert_ne!(second, path);
    run.fill(ring(&run.pipeline.stats()).seconds + 2.0);
    run.pipeline.stop();
    assert!(run.events.all().iter().any(
        |e| matches!(e, Event::RecordingStopped { path, reason: Some(_), .. } if *path == second.display().to_string())
    ));
    assert_eq!(probe(&second).video_codec, "h264");
}

#[test]
fn a_recording_that_fails_ends_alone_and_the_record_path_goes_on() {
    let run = start(&test_graph(10.0));
    run.fill(1.0);
    // Every write to /dev/full fails (ENOSPC): a disk that fills up mid-recording.
    let mut props = clipshot_core::Props::new();
    props.insert("path".into(), "/dev/full".into());
    run.pipeline.start_recording(props).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !run.events.all().iter().any(|e| matches!(e, Event::RecordingStopped { reason: Some(_), .. })) {
        assert!(std::time::Instant::now() < deadline, "the failed recording was not ended: {:?}", run.events.names());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(run.pipeline.recording().is_none());
    let seconds = run.pipeline.stats().nodes.iter().find_map(|n| n.ring.clone()).unwrap().stats.seconds;
    run.fill(seconds + 2.0);
    let stats = run.pipeline.stats();
    assert_eq!(stats.restarts, 0, "the record path never noticed: {stats:?}");
    assert_eq!(stats.state, PipelineState::Running);
    assert!(!run.events.names().contains(&"pipeline.error"), "{:?}", run.events.names());
}
