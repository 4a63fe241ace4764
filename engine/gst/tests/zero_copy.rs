//! Zero-copy, proven rather than counted: the memory that GStreamer hands the
//! record appsinks is the memory whose bytes are written to the clip.

mod common;

use clipshot_replay::{Span, mp4::write_clip};
use gstreamer as gst;
use gstreamer::prelude::*;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::io::{IoSlice, Write};
use std::sync::Arc;
use std::time::Duration;

/// A writer that remembers where each slice it was given lives.
#[derive(Default)]
struct PointerRecorder {
    slices: Vec<(usize, usize)>,
}

impl Write for PointerRecorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.slices.push((buf.as_ptr() as usize, buf.len()));
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.slices.extend(bufs.iter().map(|b| (b.as_ptr() as usize, b.len())));
        Ok(bufs.iter().map(|b| b.len()).sum())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_bytes_at_the_record_appsink_are_the_bytes_written_to_the_clip() {
    let run = common::start(&common::test_graph(10.0));
    let seen: Arc<Mutex<HashSet<(usize, usize)>>> = Arc::default();
    for sink in ["ring.video-sink", "ring.audio-sink"] {
        let pad = run.pipeline.element(sink).expect(sink).static_pad("sink").unwrap();
        let seen = Arc::clone(&seen);
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
                // Read-only maps of system memory give the memory's own address.
                let map = buffer.map_readable().unwrap();
                seen.lock().insert((map.as_ptr() as usize, map.len()));
            }
            gst::PadProbeReturn::Ok
        });
    }
    // Everything in a 2 s span (and its keyframe, ≤ 1 s earlier) arrives after the probes.
    std::thread::sleep(Duration::from_secs(4));
    let ring = run.pipeline.ring(None).unwrap();
    let now = run.pipeline.now_ns(None).unwrap();
    let snapshot = ring.snapshot(Span { start_ns: now - 2_000_000_000, end_ns: now }).unwrap();
    let mut recorder = PointerRecorder::default();
    let info = write_clip(&mut recorder, &snapshot.clip_source()).unwrap();

    let media = &recorder.slices[1..]; // the first slice is the header we built
    assert_eq!(media.len(), info.video_samples + info.audio_samples);
    assert!(info.video_samples >= 55 && info.audio_samples > 80, "{info:?}");
    let seen = seen.lock();
    let foreign: Vec<_> = media.iter().filter(|s| !seen.contains(s)).collect();
    assert!(foreign.is_empty(), "{} of {} slices are not the appsink's memory", foreign.len(), media.len());

    // And the pipeline's own account agrees.
    for node in run.pipeline.stats().nodes {
        assert_eq!(node.bytes_copied, 0, "{}", node.id);
    }
}
