//! The analysis nodes as the runtime drives them: created from props,
//! fed plain frames, sound and tensors, answering with tensors, events,
//! markers and saves. (The live pipeline test is the runtime's.)

use clipshot_analysis::{AudioNode, MotionNode, ScoreNode};
use clipshot_core::processor::{
    AudioChunk, Input, Output, Outputs, ProcessorContext, ProcessorNode, Tensor, VideoFrame,
};
use clipshot_core::{Event, PixelFormat, Trigger};

fn ctx() -> ProcessorContext {
    ProcessorContext {
        pipeline: "p".into(),
        node: "n".into(),
        data_dir: std::env::temp_dir().join("clipshot-analysis-tests"),
    }
}

/// ONNX Runtime and the shipped models, or `None` outside CI.
fn models_ready() -> bool {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/ced-tiny/model.onnx");
    let ok = std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty()) && model.is_file();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI must have the models and ONNX Runtime");
        eprintln!("skipped: run `make models onnxruntime` and export ORT_DYLIB_PATH");
    }
    ok
}

fn tensors(out: &mut Outputs) -> Vec<Tensor> {
    out.drain().filter_map(|o| if let Output::Tensor { tensor, .. } = o { Some(tensor) } else { None }).collect()
}

/// Deterministic noise in -1..1.
fn noise(seed: &mut u64) -> f32 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
}

#[test]
fn the_audio_node_hears_a_loud_burst_and_not_silence() {
    if !models_ready() {
        return;
    }
    let mut setup = AudioNode::create(serde_json::from_value(serde_json::json!({})).unwrap(), &ctx()).unwrap();
    let mut out = Outputs::default();
    let mut seed = 7u64;
    let mut results = Vec::new();
    // 8 s of 48 kHz stereo in 100 ms chunks: quiet, a 2 s burst at 3 s, quiet.
    for chunk in 0..80 {
        let t0 = chunk as f64 * 0.1;
        let loud = (3.0..5.0).contains(&t0);
        let samples: Vec<f32> = (0..4800)
            .flat_map(|i| {
                let t = i as f32 / 48_000.0;
                let v = if loud {
                    noise(&mut seed) * 0.9 * (-((t * 10.0) % 0.25) * 12.0).exp()
                } else {
                    noise(&mut seed) * 0.002
                };
                [v, v]
            })
            .collect();
        let input =
            Input::Audio(AudioChunk { rate: 48_000, channels: 2, samples: &samples, pts_ns: (t0 * 1e9) as i64 });
        setup.processor.process("audio", input, &mut out).unwrap();
        results.extend(tensors(&mut out));
    }
    // A 2 s window every second, from 2 s on.
    assert!(results.len() >= 6, "{results:?}");
    for t in &results {
        assert_eq!(t.shape, [3]);
    }
    let at = |s: f64| results.iter().min_by_key(|t| (t.pts_ns - (s * 1e9) as i64).abs()).unwrap();
    let (quiet, burst) = (at(2.0), at(4.0));
    assert!(burst.data[0] > 0.8, "loudness jumps: {burst:?}");
    assert!(quiet.data[0] < 0.1, "quiet is quiet: {quiet:?}");
    assert!(burst.data[1] > quiet.data[1], "action sounds rank above quiet: {burst:?} vs {quiet:?}");
}

#[test]
fn the_motion_node_sees_a_burst_of_motion() {
    let mut setup = MotionNode::create(serde_json::from_value(serde_json::json!({})).unwrap(), &ctx()).unwrap();
    assert_eq!(setup.video.max_fps, 8.0);
    let (w, h) = (320u32, 180u32);
    let stride = w * 4 + 16; // padded rows
    let mut seed = 3u64;
    let mut out = Outputs::default();
    let mut features = Vec::new();
    for i in 0..6 {
        let busy = i == 3 || i == 4;
        let data: Vec<u8> =
            (0..stride * h).map(|_| if busy { (noise(&mut seed).abs() * 255.0) as u8 } else { 20 }).collect();
        let frame =
            VideoFrame { format: PixelFormat::Rgba, width: w, height: h, stride, data: &data, pts_ns: i * 125_000_000 };
        setup.processor.process("video", Input::Video(frame), &mut out).unwrap();
        features.extend(tensors(&mut out));
    }
    assert_eq!(features.len(), 6);
    let diff: Vec<f32> = features.iter().map(|t| t.data[0]).collect();
    assert!(diff[1] < 0.01 && diff[2] < 0.01, "{diff:?}");
    assert!(diff[3] > 0.1 && diff[4] > 0.05, "{diff:?}");
    // Other formats are refused, not misread.
    let data = vec![0u8; (w * h * 4) as usize];
    let frame = VideoFrame { format: PixelFormat::Nv12, width: w, height: h, stride: w, data: &data, pts_ns: 0 };
    assert!(setup.processor.process("video", Input::Video(frame), &mut out).is_err());
}

#[test]
fn the_scorer_node_marks_the_peak_tells_the_bus_and_saves_a_clip() {
    let props = serde_json::from_value(serde_json::json!({ "profile": "generic" })).unwrap();
    let mut setup = ScoreNode::create(props, &ctx()).unwrap();
    let mut out = Outputs::default();
    let mut all = Vec::new();
    for i in 0..(30 * 8) {
        let t = f64::from(i) / 8.0;
        let on = (10.0..12.0).contains(&t);
        let pts = (t * 1e9) as i64;
        let motion = Tensor { shape: vec![4], data: vec![if on { 0.3 } else { 0.0 }, 0.2, 0.0, 0.05], pts_ns: pts };
        setup.processor.process("motion", Input::Tensor(&motion), &mut out).unwrap();
        if i % 8 == 0 {
            // Class 2 of the profile's classes (sorted): "Boom".
            let sound = Tensor {
                shape: vec![3],
                data: vec![if on { 1.0 } else { 0.0 }, if on { 0.6 } else { 0.0 }, 2.0],
                pts_ns: pts,
            };
            setup.processor.process("audio", Input::Tensor(&sound), &mut out).unwrap();
        }
        all.extend(out.drain());
    }
    setup.processor.flush(&mut out);
    all.extend(out.drain());
    let events: Vec<&Event> =
        all.iter().filter_map(|o| if let Output::Event(e) = o { Some(e) } else { None }).collect();
    assert_eq!(events.len(), 1, "{all:?}");
    let Event::HighlightDetected { at_ns, score, label, .. } = events[0] else { panic!("{events:?}") };
    assert!((10_000_000_000..12_500_000_000).contains(at_ns) && *score >= 0.5, "{events:?}");
    assert_eq!(label, "motion");
    let markers: Vec<_> = all.iter().filter(|o| matches!(o, Output::Marker { .. })).collect();
    assert_eq!(markers.len(), 1);
    let saves: Vec<_> = all
        .iter()
        .filter_map(|o| {
            if let Output::Save { at_ns, pre_seconds, post_seconds, trigger } = o {
                Some((*at_ns, *pre_seconds, *post_seconds, *trigger))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(saves.len(), 1, "{all:?}");
    let (end, pre, post, trigger) = saves[0];
    assert_eq!(trigger, Trigger::Highlight);
    assert_eq!(post, 0.0);
    // From 10 s before the highlight to 3 s after it.
    assert!((end as f64 / 1e9 - pre - 0.0).abs() < 0.2, "starts near 0 s: end {end}, pre {pre}");
    assert!((14.5e9..15.5e9).contains(&(end as f64)), "{end}");
    // A bad profile is an error at creation, not at the first frame.
    let props = serde_json::from_value(serde_json::json!({ "profile": "no-such-profile" })).unwrap();
    assert!(ScoreNode::create(props, &ctx()).unwrap_err().contains("not found"));
}

#[test]
fn in_order_fuses_a_detector_that_ran_ahead() {
    // A file decoded faster than real time: all motion arrives before any sound.
    let run = |in_order: bool| {
        let props = serde_json::from_value(serde_json::json!({ "in_order": in_order, "auto_clip": false })).unwrap();
        let mut setup = ScoreNode::create(props, &ctx()).unwrap();
        let mut out = Outputs::default();
        let on = |t: f64| (10.0..12.0).contains(&t);
        for i in 0..(20 * 8) {
            let t = f64::from(i) / 8.0;
            let m = Tensor {
                shape: vec![4],
                data: vec![if on(t) { 0.3 } else { 0.0 }, 0.2, 0.0, 0.05],
                pts_ns: (t * 1e9) as i64,
            };
            setup.processor.process("motion", Input::Tensor(&m), &mut out).unwrap();
        }
        for s in 0..20 {
            let t = f64::from(s);
            let a = Tensor {
                shape: vec![3],
                data: vec![if on(t) { 1.0 } else { 0.0 }, 0.0, -1.0],
                pts_ns: (t * 1e9) as i64,
            };
            setup.processor.process("audio", Input::Tensor(&a), &mut out).unwrap();
        }
        setup.processor.flush(&mut out);
        out.drain().filter(|o| matches!(o, Output::Event(Event::HighlightDetected { .. }))).count()
    };
    assert_eq!(run(true), 1);
    assert_eq!(run(false), 0, "without it, motion and sound never meet");
}
