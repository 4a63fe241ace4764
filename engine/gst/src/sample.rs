//! Samples out of GStreamer, the same way wherever our code takes them: a
//! callback appsink that never waits on the clock, and the running time of a
//! buffer (signed: encoders shift segments, B-frames decode before time 0).

use gstreamer as gst;
use gstreamer::prelude::ElementExtManual;
use gstreamer_app as gst_app;

/// An appsink that hands each sample to `on_sample` on the streaming thread
/// and never syncs to the clock: the record path must not add latency, and
/// what runs in the callback only takes short locks or drops. The callback
/// also gets the sink's running time now, so frame latency can be measured
/// against the sample's PTS (its capture time on a live pipeline).
pub(crate) fn callback_sink(
    name: &str,
    on_sample: impl Fn(gst::Sample, Option<i64>) + Send + Sync + 'static,
) -> gst_app::AppSink {
    gst_app::AppSink::builder()
        .name(name)
        .sync(false)
        .async_(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let now = sink.current_running_time().map(|t| t.nseconds() as i64);
                    on_sample(sample, now);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        )
        .build()
}

/// Running time of a buffer time in `segment`, in signed nanoseconds.
pub(crate) fn running_ns(segment: &gst::FormattedSegment<gst::ClockTime>, t: Option<gst::ClockTime>) -> Option<i64> {
    match segment.to_running_time_full(t?)? {
        gst::Signed::Positive(v) => Some(v.nseconds() as i64),
        gst::Signed::Negative(v) => Some(-(v.nseconds() as i64)),
    }
}
