//! A pipeline records whatever optional part is missing, says which one and
//! why, and takes the part back when it can start again: a real PulseAudio
//! server started and stopped by the test, a real ring, real clips.

mod common;

use clipshot_core::{Event, GraphSpec, ProblemCode, Trigger};
use clipshot_gst::SaveRequest;
use common::{probe, registry, start};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Test-pattern video, and system audio from the PulseAudio server at
/// `server`, optional, into the ring (node 4; its encoder is node 2).
fn graph(server: &str) -> String {
    let source = r#"kind = "capture.test"
        props = { pattern = "ball", width = 320, height = 240, fps = 30 }"#;
    common::graph_from(source, 30.0).replace(r#"from = "src.audio""#, r#"from = "desktop-audio.audio""#)
        + &format!(
            r#"
        [[nodes]]
        id = "desktop-audio"
        kind = "audio.system"
        optional = true
        props = {{ server = "{server}" }}
        "#
        )
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A PulseAudio server of the test's own on a private socket, with a null
/// sink whose monitor is the "system audio".
struct Pulse {
    child: Child,
    dir: PathBuf,
}

impl Pulse {
    /// `None` when PulseAudio is not installed (CI installs it: there, a
    /// missing server is a failure, not a skip).
    fn available() -> bool {
        let found = Command::new("pulseaudio").arg("--version").output().is_ok_and(|o| o.status.success());
        assert!(found || std::env::var_os("CI").is_none(), "CI must have pulseaudio (scripts/install-deps.sh --test)");
        if !found {
            eprintln!("pulseaudio is not installed: skipping (scripts/install-deps.sh --test installs it)");
        }
        found
    }

    fn start(dir: &Path) -> Self {
        let socket = dir.join("native");
        let child = Command::new("pulseaudio")
            .args(["-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes", "--use-pid-file=no"])
            .arg("-L")
            .arg(format!("module-native-protocol-unix socket={} auth-anonymous=1", socket.display()))
            .args(["-L", "module-null-sink sink_name=game"])
            .env("HOME", dir)
            .env("XDG_RUNTIME_DIR", dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio starts");
        let pulse = Self { child, dir: dir.to_owned() };
        wait_for("the PulseAudio server", Duration::from_secs(10), || pulse.pactl(&["info"]));
        pulse
    }

    fn pactl(&self, args: &[&str]) -> bool {
        Command::new("pactl")
            .args(args)
            .env("PULSE_SERVER", format!("unix:{}", self.dir.join("native").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn audio_packets(run: &common::Running) -> usize {
    let stats = run.pipeline.stats();
    stats.nodes.iter().find_map(|n| n.ring.clone()).map_or(0, |r| r.stats.audio_packets)
}

fn video_seconds(run: &common::Running) -> f64 {
    let stats = run.pipeline.stats();
    stats.nodes.iter().find_map(|n| n.ring.clone()).map_or(0.0, |r| r.stats.seconds)
}

#[test]
fn without_a_sound_server_video_records_and_the_missing_part_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = format!("unix:{}", dir.path().join("no-server").display());
    let run = start(&graph(&server));
    run.fill(2.0);

    let degraded = run.pipeline.degradations();
    assert_eq!(degraded.len(), 1, "{degraded:?}");
    let d = &degraded[0];
    assert_eq!(
        (d.node.as_str(), d.kind.as_str(), d.element.as_deref()),
        ("desktop-audio", "audio.system", Some("pulsesrc"))
    );
    assert!(d.reason.starts_with("PulseAudio/PipeWire not reachable"), "{d:?}");
    assert_eq!(d.instead, "recording video only");
    assert_eq!(d.dropped, ["desktop-audio", "aenc"]);
    assert!(d.retry_in_ms.is_some());
    // One line says it all, as the log and the banner print it.
    assert!(
        d.to_string().starts_with("node `desktop-audio` (audio.system, pulsesrc): PulseAudio/PipeWire not reachable")
    );
    assert!(d.to_string().ends_with(": recording video only"), "{d}");
    assert!(run.events.all().iter().any(|e| matches!(e, Event::PipelineDegraded(x) if x.node == "desktop-audio")));

    let stats = run.pipeline.stats();
    let node = |id: &str| stats.nodes.iter().find(|n| n.id == id).unwrap().clone();
    assert!(!node("desktop-audio").running && !node("aenc").running && node("venc").running);
    assert!(node("desktop-audio").error.as_deref().is_some_and(|e| e.contains("not reachable")));
    assert_eq!(stats.degraded.len(), 1);

    let clip = run.pipeline.save(&SaveRequest::last(1.5, Trigger::Api)).unwrap();
    let p = probe(&clip.path);
    assert_eq!((p.video_codec.as_str(), p.audio_codec), ("h264", None));
}

#[test]
fn system_audio_joins_when_the_server_appears_and_leaves_when_its_device_goes() {
    if !Pulse::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = start(&graph(&format!("unix:{}", dir.path().join("native").display())));
    run.fill(1.0);
    assert_eq!(run.pipeline.degradations().len(), 1, "no server yet");
    assert_eq!(audio_packets(&run), 0);

    // The server comes: the audio joins the running pipeline.
    let pulse = Pulse::start(dir.path());
    wait_for("the audio to rejoin", Duration::from_secs(20), || run.pipeline.degradations().is_empty());
    assert!(
        run.events.all().iter().any(|e| matches!(e, Event::PipelineRecovered { node, .. } if node == "desktop-audio"))
    );
    wait_for("audio in the ring", Duration::from_secs(10), || audio_packets(&run) > 20);
    let stats = run.pipeline.stats();
    assert_eq!(stats.restarts, 0, "video never stopped: {stats:?}");
    let before = stats.nodes.iter().find_map(|n| n.ring.clone()).unwrap().stats.epoch;
    // A clip across the moment audio joined: whole video, audio from when it came.
    run.fill(video_seconds(&run) + 1.0);
    let clip = run.pipeline.save(&SaveRequest::last(video_seconds(&run) - 0.5, Trigger::Api)).unwrap();
    assert!(clip.shortfall.is_none(), "{clip:?}");
    let p = probe(&clip.path);
    assert_eq!((p.video_codec.as_str(), p.audio_codec.as_deref()), ("h264", Some("aac")));

    // The device goes (the sink unloaded): video records on, audio is missing again.
    assert!(pulse.pactl(&["unload-module", "module-null-sink"]));
    wait_for("the pipeline to degrade", Duration::from_secs(10), || !run.pipeline.degradations().is_empty());
    let d = run.pipeline.degradations().remove(0);
    assert_eq!(d.node, "desktop-audio");
    let seconds = video_seconds(&run);
    run.fill(seconds + 1.0);
    let stats = run.pipeline.stats();
    assert_eq!(stats.restarts, 0);
    assert_eq!(stats.nodes.iter().find_map(|n| n.ring.clone()).unwrap().stats.epoch, before, "the ring kept its epoch");

    // And the device back: audio joins again.
    assert!(pulse.pactl(&["load-module", "module-null-sink", "sink_name=game"]));
    let packets = audio_packets(&run);
    wait_for("the audio to rejoin again", Duration::from_secs(40), || {
        run.pipeline.degradations().is_empty() && audio_packets(&run) > packets + 20
    });
    let recovered = run.events.all().iter().filter(|e| matches!(e, Event::PipelineRecovered { .. })).count();
    assert_eq!(recovered, 2);
}

#[test]
fn a_hardware_encoder_that_cannot_run_falls_back_to_x264_and_says_why() {
    // No machine of CI's has NVENC: asking for it is asking for a hardware
    // encoder that fails its trial.
    let toml = common::test_graph(10.0).replace(r#"encoder = "x264""#, r#"encoder = "nvenc""#);
    let run = start(&toml);
    run.fill(1.0);
    let stats = run.pipeline.stats();
    assert_eq!(stats.nodes.iter().find(|n| n.id == "venc").unwrap().encoder.as_deref(), Some("x264enc"));
    let degraded = run.pipeline.degradations();
    assert_eq!(degraded.len(), 1, "{degraded:?}");
    assert_eq!((degraded[0].node.as_str(), degraded[0].instead.as_str()), ("venc", "encoding with x264enc"));
    assert!(degraded[0].reason.contains("nvenc"), "{:?}", degraded[0]);
    assert!(degraded[0].dropped.is_empty());
    assert!(run.events.all().iter().any(|e| matches!(e, Event::PipelineDegraded(d) if d.node == "venc")));

    // Without `fallback`, the graph does not validate at all.
    let strict = toml.replace(r#"encoder = "nvenc""#, r#"encoder = "nvenc", fallback = false"#);
    let err = clipshot_core::validate::validate(&GraphSpec::from_toml(&strict).unwrap(), &registry()).unwrap_err();
    assert!(err.problems.iter().any(|p| p.code == ProblemCode::Unavailable && p.location == "/nodes/1/props/encoder"));
}

#[test]
fn an_optional_part_must_not_take_what_records_with_it() {
    // Without the screen there is nothing for the ring to record.
    let toml = common::test_graph(10.0).replacen("id = \"src\"", "id = \"src\"\n        optional = true", 1);
    let err = clipshot_core::validate::validate(&GraphSpec::from_toml(&toml).unwrap(), &registry()).unwrap_err();
    let p = err.problems.iter().find(|p| p.code == ProblemCode::InvalidOptional).expect("invalid_optional");
    assert_eq!(p.location, "/nodes/0/optional");
    assert!(p.message.contains("`ring` (replay.ring)"), "{}", p.message);

    // Optional parts nest: the closest one owns a node.
    let graph = clipshot_core::validate::validate(
        &GraphSpec::from_toml(
            &graph("unix:/nowhere").replace("kind = \"encode.aac\"", "kind = \"encode.aac\"\n        optional = true"),
        )
        .unwrap(),
        &registry(),
    )
    .unwrap();
    assert_eq!(graph.dropped_with(4), [4, 2]);
    assert_eq!(graph.optional_owner(2), Some(2), "the closest optional part owns a node");
}
