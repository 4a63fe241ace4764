//! In-process processors beside the record path, and the context phase of
//! validation on this machine's real GStreamer registry.
//!
//! The processor kind here is declared in this test crate, with the core's
//! contract only: a node kind needs no change to the GStreamer adapter.

mod common;

use clipshot_core::processor::{
    Input, Output, Outputs, ProcessError, Processor, ProcessorContext, ProcessorNode, Setup, VideoInput,
};
use clipshot_core::{Event, GraphSpec, MediaType, Node, PadSpec, PixelFormat, ProblemCode};
use clipshot_gst::{Pipeline, PipelineOptions};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Frames seen by every `test.slow` processor, for the test to read.
static SEEN: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SlowProps {
    /// How long each frame takes.
    busy_ms: u64,
}

/// A processor slower than the frames it is given.
struct Slow;

impl Node for Slow {
    type Props = SlowProps;
    const KIND: &'static str = "test.slow";
    const SUMMARY: &'static str = "Takes its time over every frame";

    fn pads() -> Vec<PadSpec> {
        vec![PadSpec::input("video", MediaType::RawVideo)]
    }
}

struct SlowProcessor {
    busy: Duration,
    first: bool,
}

impl ProcessorNode for Slow {
    fn create(props: SlowProps, _: &ProcessorContext) -> Result<Setup, String> {
        Ok(Setup {
            processor: Box::new(SlowProcessor { busy: Duration::from_millis(props.busy_ms), first: true }),
            // Every frame, full size: the processor cannot keep up.
            video: VideoInput { max_fps: 30.0, width: Some(160), format: PixelFormat::Rgba },
        })
    }
}

impl Processor for SlowProcessor {
    fn process(&mut self, pad: &str, input: Input<'_>, out: &mut Outputs) -> Result<(), ProcessError> {
        let Input::Video(frame) = input else { return Err(ProcessError(format!("unexpected input on {pad}"))) };
        assert_eq!((frame.width, frame.height), (160, 90), "scaled as asked, aspect kept");
        assert!(frame.data.len() >= (frame.stride * frame.height) as usize);
        SEEN.fetch_add(1, Ordering::SeqCst);
        if std::mem::take(&mut self.first) {
            out.push(Output::Marker { at_ns: frame.pts_ns, label: Some("first frame".into()) });
        }
        std::thread::sleep(self.busy);
        Ok(())
    }
}

fn registry() -> Arc<clipshot_gst::Registry> {
    clipshot_gst::init().unwrap();
    let mut r = clipshot_gst::Registry::new();
    clipshot_gst::register_builtin(&mut r).unwrap();
    r.register(clipshot_core::processor::<Slow>()).unwrap();
    Arc::new(r)
}

#[test]
fn a_busy_processor_drops_frames_while_the_ring_keeps_every_packet() {
    let toml = common::test_graph(60.0).replacen(
        "[[links]]",
        "[[nodes]]\nid = \"slow\"\nkind = \"test.slow\"\nprops = { busy_ms = 250 }\n\
         [[links]]\nfrom = \"src.video\"\nto = \"slow.video\"\n[[links]]",
        1,
    );
    let registry = registry();
    let graph = clipshot_core::validate::validate(&GraphSpec::from_toml(&toml).unwrap(), &registry).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(common::Events::default());
    let options = PipelineOptions {
        data_dir: dir.path().to_owned(),
        clips_dir: dir.path().join("clips"),
        events: events.clone(),
        offline: false,
    };
    let pipeline = Pipeline::new("proc", graph, registry, options);
    pipeline.start().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    pipeline.stop();

    let stats = pipeline.stats();
    let node = |id: &str| stats.nodes.iter().find(|n| n.id == id).unwrap().clone();
    let (slow, venc, ring) = (node("slow"), node("venc"), node("ring"));
    assert!(slow.frames_in >= 4, "frames reached the processor: {slow:?}");
    assert_eq!(slow.frames_in, SEEN.load(Ordering::SeqCst), "every frame handed over was processed");
    assert!(slow.dropped > 0, "a processor four times too slow drops frames, and counts them: {slow:?}");
    assert!(venc.frames_out >= 60, "the encoder kept its rate: {venc:?}");
    let fill = ring.ring.expect("ring stats");
    // Every packet the encoders made is in the ring, but for the one or two
    // in flight at the moment of the stop (the state change flushes them).
    let held = (fill.stats.video_packets + fill.stats.audio_packets) as u64;
    let made = venc.frames_out + stats.nodes.iter().find(|n| n.id == "aenc").unwrap().frames_out;
    assert!(made - held <= 2, "the ring holds every packet ({held} of {made}): {stats:?}");
    assert_eq!(venc.dropped + ring.dropped, 0, "nothing dropped on the record path: {stats:?}");
    let marker = events.all().into_iter().find_map(|e| match e {
        Event::MarkerAdded { label, .. } => label,
        _ => None,
    });
    assert_eq!(marker.as_deref(), Some("first frame"), "what the processor emitted reached the ring and the bus");

    // Each frame's capture time travelled with it: every video packet in the
    // ring was measured, and a processor's latency includes its own 250 ms.
    let to_ring = ring.latency.expect("capture → ring measured");
    assert!(to_ring.frames + 2 >= venc.frames_out && to_ring.frames <= venc.frames_out, "{to_ring:?} {venc:?}");
    let to_slow = slow.latency.expect("capture → processed measured");
    assert_eq!(to_slow.frames, slow.frames_in, "{to_slow:?}");
    assert!(to_slow.p50_ms >= 250.0, "the processor's time counts: {to_slow:?}");
    assert!(to_ring.p50_ms < to_slow.p50_ms, "the ring does not wait for processors: {to_ring:?}");
    assert_eq!(pipeline.latency_samples_ms("ring").len(), to_ring.window);
}

#[test]
fn context_problems_are_all_reported_before_anything_starts() {
    let registry = registry();
    let toml = include_str!("fixtures/context-problems.toml");
    let errors = clipshot_core::validate::validate(&GraphSpec::from_toml(toml).unwrap(), &registry).unwrap_err();
    let found: Vec<(ProblemCode, &str)> = errors.problems.iter().map(|p| (p.code, p.location.as_str())).collect();
    assert_eq!(found.len(), 3, "{errors}");
    assert!(found.contains(&(ProblemCode::MissingFile, "/nodes/0/props/path")), "{errors}");
    assert!(found.contains(&(ProblemCode::MediaMismatch, "/links/3")), "{errors}");
    // Not installed here (no NVIDIA driver); where the plugin is installed but
    // no GPU answers, the trial encode says it is unusable.
    assert!(found.contains(&(ProblemCode::Unavailable, "/nodes/1/props/encoder")), "{errors}");
}

#[test]
fn a_file_that_vanished_after_validation_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gameplay.mp4");
    std::fs::write(&file, b"not really a video").unwrap();
    let toml = common::graph_from(&format!("kind = \"capture.file\"\nprops = {{ path = {:?} }}", file), 10.0);
    let registry = registry();
    let graph = clipshot_core::validate::validate(&GraphSpec::from_toml(&toml).unwrap(), &registry).unwrap();
    std::fs::remove_file(&file).unwrap();
    let options = PipelineOptions {
        data_dir: dir.path().to_owned(),
        clips_dir: dir.path().join("clips"),
        events: Arc::new(common::Events::default()),
        offline: false,
    };
    let pipeline = Pipeline::new("gone", graph, registry, options);
    let err = pipeline.start().unwrap_err();
    assert!(matches!(err, clipshot_gst::BuildError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("gameplay.mp4") && err.to_string().contains("does not exist"), "{err}");
    pipeline.stop();
}
