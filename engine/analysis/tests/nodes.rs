//! The analysis nodes as the runtime drives them: created from props,
//! fed plain frames, sound and tensors, answering with tensors, events,
//! markers and saves. (The live pipeline test is the runtime's.)

use clipshot_analysis::{AudioNode, MotionNode, ScoreNode, TextNode};
use clipshot_core::processor::{
    AudioChunk, Input, Output, Outputs, ProcessorContext, ProcessorNode, Tensor, VideoFrame,
};
use clipshot_core::{Event, PixelFormat, Trigger};

fn ctx() -> ProcessorContext {
    ProcessorContext {
        pipeline: "p".into(),
        node: "n".into(),
        data_dir: std::env::temp_dir().join("clipshot-analysis-tests"),
        inputs: vec!["motion".into(), "audio".into()],
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
            if let Output::Save { at_ns, pre_seconds, post_seconds, trigger, .. } = o {
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

/// A 1280×720 RGBA frame of a dark game scene with `lines` of text drawn
/// by ffmpeg (DejaVu Sans Bold): (text, x, y as fractions, size in px).
fn rendered(lines: &[(&str, f32, f32, u32)]) -> Vec<u8> {
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    let mut filters = vec!["drawbox=x=0:y=480:w=1280:h=240:color=0x3a5a2a:t=fill".to_owned()];
    for (text, x, y, size) in lines {
        filters.push(format!(
            "drawtext=fontfile={font}:text='{text}':fontcolor=white:fontsize={size}:x={}:y={}:box=1:boxcolor=black@0.4",
            (x * 1280.0) as u32,
            (y * 720.0) as u32
        ));
    }
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "color=c=0x202428:s=1280x720", "-vf"])
        .arg(filters.join(","))
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .output()
        .expect("ffmpeg runs (make test installs it)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.len(), 1280 * 720 * 4);
    out.stdout
}

fn video(data: &[u8], pts_ns: i64) -> Input<'_> {
    Input::Video(VideoFrame { format: PixelFormat::Rgba, width: 1280, height: 720, stride: 1280 * 4, data, pts_ns })
}

#[test]
fn the_ocr_stage_reads_a_rendered_kill_feed_line() {
    if !models_ready() {
        return;
    }
    let ai = clipshot_ai::Ai::new(vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")], 1);
    let (det, rec) = (ai.load("ppocr-v4-det").unwrap(), ai.load("ppocr-v4-rec").unwrap());
    let frame = rendered(&[("Player1  ELIMINATED  Bot_7", 0.66, 0.05, 24)]);
    let reader = clipshot_ai::ocr::TextReader {
        det: &det,
        det_input: "x",
        rec: &rec,
        rec_input: "x",
        pre: ai.preprocessor(),
        options: Default::default(),
    };
    let f = clipshot_gpu::Frame::tight(clipshot_gpu::Format::Rgba, 1280, 720, &frame);
    let lines = reader.read(&f, [0.62, 0.02, 0.36, 0.22]).unwrap();
    let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert!(
        lines.iter().any(|l| clipshot_ai::ocr::contains_keyword(&l.text, "ELIMINATED") && l.confidence > 0.6),
        "{lines:?}"
    );
    // The whole line, not just the keyword (DejaVu's "1" may read as "l").
    assert!(text.iter().any(|t| t.starts_with("Player") && t.ends_with("Bot_7")), "{text:?}");
    // Where it was read, as fractions of the frame: inside the region, near the line.
    let line = lines.iter().find(|l| l.text.contains("ELIMINATED")).unwrap();
    assert!(line.rect[0] >= 0.62 && line.rect[1] >= 0.02 && line.rect[1] < 0.12, "{line:?}");
    // An empty region reads nothing.
    assert!(reader.read(&f, [0.0, 0.3, 0.3, 0.2]).unwrap().is_empty());
}

#[test]
fn the_text_node_counts_a_kill_once_and_marks_a_death_as_a_lowlight() {
    if !models_ready() {
        return;
    }
    let props = serde_json::from_value(serde_json::json!({ "profile": "shooter" })).unwrap();
    let mut setup = TextNode::create(props, &ctx()).unwrap();
    assert_eq!(setup.video.width, Some(1280));
    let kill = rendered(&[("Player1  ELIMINATED  Bot_7", 0.66, 0.05, 24)]);
    let two_kills =
        rendered(&[("Player1  ELIMINATED  Bot_7", 0.66, 0.05, 24), ("Player1  ELIMINATED  Bot_3", 0.66, 0.11, 24)]);
    let died = rendered(&[("YOU DIED", 0.4, 0.4, 56)]);
    let quiet = rendered(&[]);
    let mut step = |frame: &[u8], at_s: i64| {
        let mut out = Outputs::default();
        setup.processor.process("video", video(frame, at_s * 1_000_000_000), &mut out).unwrap();
        out.drain().collect::<Vec<Output>>()
    };
    let value = |outs: &[Output]| {
        outs.iter()
            .find_map(|o| if let Output::Tensor { tensor, .. } = o { Some(tensor.data.clone()) } else { None })
            .expect("a tensor per frame")
    };
    assert_eq!(value(&step(&quiet, 0)), [0.0, -1.0]);
    assert_eq!(value(&step(&kill, 1)), [1.0, 0.0], "ELIMINATED (keyword 0) appeared");
    assert_eq!(value(&step(&kill, 2)), [0.0, -1.0], "the same line still on screen counts once");
    assert_eq!(value(&step(&two_kills, 3)), [1.0, 0.0], "a second line is a second kill");
    let outs = step(&died, 4);
    assert_eq!(value(&outs), [0.0, -1.0], "a death is not a highlight");
    let marker = outs.iter().find_map(|o| if let Output::Marker { label, .. } = o { label.clone() } else { None });
    assert_eq!(marker.as_deref(), Some("lowlight: death (YOU DIED)"));
}

#[test]
fn a_profile_switch_reaches_a_running_scorer() {
    // The scorer under `generic` ignores text; switched to `shooter`, a keyword alone is a highlight.
    let ctx = ProcessorContext { pipeline: "switching".into(), inputs: vec!["text".into()], ..ctx() };
    let props = serde_json::from_value(serde_json::json!({ "auto_clip": false })).unwrap();
    let mut setup = ScoreNode::create(props, &ctx).unwrap();
    let mut feed = |from_s: i64, out: &mut Outputs| {
        for i in 0..40 {
            let pts = from_s * 1_000_000_000 + i * 250_000_000;
            let value = if i == 4 { 1.0 } else { 0.0 };
            let t = Tensor { shape: vec![2], data: vec![value, if i == 4 { 0.0 } else { -1.0 }], pts_ns: pts };
            setup.processor.process("text", Input::Tensor(&t), out).unwrap();
        }
    };
    let highlights =
        |out: &mut Outputs| out.drain().filter(|o| matches!(o, Output::Event(Event::HighlightDetected { .. }))).count();
    let mut out = Outputs::default();
    feed(0, &mut out);
    assert_eq!(highlights(&mut out), 0, "generic has no [text]");
    clipshot_analysis::select("switching", "shooter");
    assert_eq!(clipshot_analysis::selected("switching").as_deref(), Some("shooter"));
    feed(20, &mut out);
    setup.processor.flush(&mut out);
    let events: Vec<Output> = out.drain().collect();
    let labels: Vec<String> = events
        .iter()
        .filter_map(|o| {
            if let Output::Event(Event::HighlightDetected { label, .. }) = o { Some(label.clone()) } else { None }
        })
        .collect();
    assert_eq!(labels, ["text: ELIMINATED"], "{events:?}");
}

/// Speech from espeak-ng (make test installs it) as 16 kHz mono, or `None` outside CI without it.
fn spoken(words: &str) -> Option<Vec<f32>> {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    match std::process::Command::new("espeak-ng").args(["-s", "170", "-w"]).arg(&wav).arg(words).status() {
        Ok(s) if s.success() => {}
        other => {
            assert!(std::env::var_os("CI").is_none(), "CI must have espeak-ng: {other:?}");
            eprintln!("skipped: no espeak-ng");
            return None;
        }
    }
    let sound = clipshot_ai::audio::decode_wav(&std::fs::read(&wav).unwrap()).unwrap();
    Some(clipshot_ai::audio::to_mono(&sound.samples, sound.rate, sound.channels, 16_000))
}

#[test]
fn the_voice_node_hears_an_excited_voice_and_not_noise_or_quiet() {
    if !models_ready() {
        return;
    }
    let Some(speech) = spoken("Oh my god, did you see that? We won! We actually won!") else { return };
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data_dir.path().join("profiles")).unwrap();
    std::fs::write(
        data_dir.path().join("profiles/comms.toml"),
        "name = \"comms\"\nthreshold = 0.5\nrelease = 0.8\nhold_s = 1\npre_roll_s = 10\npost_roll_s = 3\n\
         cooldown_s = 5\n[voice]\nweight = 1.0\n",
    )
    .unwrap();
    let ctx = ProcessorContext { data_dir: data_dir.path().to_owned(), ..ctx() };
    let props = serde_json::from_value(serde_json::json!({ "profile": "comms" })).unwrap();
    let mut setup = clipshot_analysis::VoiceNode::create(props, &ctx).unwrap();
    // 3 s of room tone, the sentence (louder), 2 s of loud noise: 16 kHz mono in 100 ms chunks.
    let mut seed = 3u64;
    let mut sound: Vec<f32> = (0..48_000).map(|_| noise(&mut seed) * 0.003).collect();
    let spoken_from = sound.len();
    sound.extend(speech.iter().map(|s| s * 0.9));
    let noise_from = sound.len();
    sound.extend((0..32_000).map(|_| noise(&mut seed) * 0.5));
    let mut results = Vec::new();
    for (i, chunk) in sound.chunks(1600).enumerate() {
        let mut out = Outputs::default();
        let input =
            Input::Audio(AudioChunk { rate: 16_000, channels: 1, samples: chunk, pts_ns: i as i64 * 100_000_000 });
        setup.processor.process("audio", input, &mut out).unwrap();
        results.extend(tensors(&mut out));
    }
    let at = |from: usize, to: usize| {
        let (a, b) = ((from as i64) * 62_500, (to as i64) * 62_500);
        results.iter().filter(move |t| t.pts_ns > a && t.pts_ns <= b)
    };
    let speaking = at(spoken_from, noise_from).map(|t| t.data[1]).fold(0.0f32, f32::max);
    let excited = at(spoken_from, noise_from).map(|t| t.data[0]).fold(0.0f32, f32::max);
    assert!(speaking > 0.8 && excited > 0.3, "the voice is heard and rises: {speaking} {excited} {results:?}");
    assert!(at(0, spoken_from).all(|t| t.data[0] == 0.0), "quiet is not a voice: {results:?}");
    assert!(at(noise_from + 8_000, sound.len()).all(|t| t.data[1] < 0.5), "noise is not a voice: {results:?}");
}
