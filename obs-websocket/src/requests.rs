//! The requests ClipShot answers, mapped onto the engine: OBS's replay buffer
//! is the default pipeline's ring, its recording a `sink.file` branch beside
//! the ring, its scenes the pipelines. Anything else answers the protocol's
//! "unknown request type", never a dropped connection.

use crate::protocol::{OBS_STUDIO_VERSION, OBS_WEBSOCKET_VERSION, RPC_VERSION, execution, status};
use crate::server::{ObsEvent, State};
use clipshot_core::{PipelineState, Trigger};
use clipshot_runtime::{Engine, EngineError, PipelineStats, RecordError, SaveRequest};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Every request this server knows, as `GetVersion` lists them.
pub const REQUESTS: &[&str] = &[
    "GetVersion",
    "GetStats",
    "BroadcastCustomEvent",
    "Sleep",
    "GetSceneList",
    "GetCurrentProgramScene",
    "GetOutputList",
    "GetReplayBufferStatus",
    "ToggleReplayBuffer",
    "StartReplayBuffer",
    "StopReplayBuffer",
    "SaveReplayBuffer",
    "GetLastReplayBufferReplay",
    "GetRecordStatus",
    "ToggleRecord",
    "StartRecord",
    "StopRecord",
    "CreateRecordChapter",
];

/// A request's outcome: a status code (with a comment on failure) and data.
#[derive(Debug)]
pub struct Outcome {
    pub code: u16,
    pub comment: Option<String>,
    pub data: Option<Value>,
}

impl Outcome {
    fn ok(data: Value) -> Self {
        Self { code: status::SUCCESS, comment: None, data: Some(data) }
    }

    fn done() -> Self {
        Self { code: status::SUCCESS, comment: None, data: None }
    }

    fn fail(code: u16, comment: impl Into<String>) -> Self {
        Self { code, comment: Some(comment.into()), data: None }
    }
}

/// Who asks: what a request may use of its session.
pub struct Caller {
    pub state: Arc<State>,
    /// `None` outside a batch; the batch's execution type inside one.
    pub execution: Option<i64>,
    pub incoming: u64,
    pub outgoing: u64,
}

/// Runs one request. Engine calls that block (starting and stopping
/// pipelines, recordings) run on the blocking pool.
pub async fn handle(caller: &Caller, request_type: &str, data: Option<&Value>) -> Outcome {
    let engine = Arc::clone(&caller.state.engine);
    let data = match data {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            return Outcome::fail(status::MISSING_REQUEST_DATA, "Your request data is missing or invalid (non-object)");
        }
    };
    match request_type {
        "GetVersion" => Outcome::ok(json!({
            "obsVersion": OBS_STUDIO_VERSION,
            "obsWebSocketVersion": OBS_WEBSOCKET_VERSION,
            "rpcVersion": RPC_VERSION,
            "availableRequests": REQUESTS,
            "supportedImageFormats": [],
            "platform": "clipshot",
            "platformDescription": format!("ClipShot {} ({})", env!("CARGO_PKG_VERSION"), std::env::consts::OS),
        })),
        "GetStats" => Outcome::ok(stats(caller)),
        "BroadcastCustomEvent" => match field(data, "eventData") {
            Ok(Value::Object(event_data)) => {
                let _ = caller.state.events.send(ObsEvent::custom(Value::Object(event_data.clone())));
                Outcome::done()
            }
            Ok(_) => Outcome::fail(status::INVALID_REQUEST_FIELD_TYPE, "The field `eventData` must be an object."),
            Err(e) => e,
        },
        "Sleep" => sleep(caller.execution, data).await,
        "GetSceneList" => {
            let current = engine.default_pipeline().map(|p| p.id().to_owned()).unwrap_or_default();
            // OBS lists scenes bottom-up: the first one has the highest index.
            let list = engine.list();
            let scenes: Vec<Value> = list
                .iter()
                .rev()
                .enumerate()
                .map(|(i, p)| json!({ "sceneIndex": list.len() - 1 - i, "sceneName": p.id, "sceneUuid": uuid_of(&p.id) }))
                .collect();
            Outcome::ok(json!({
                "currentProgramSceneName": current,
                "currentProgramSceneUuid": uuid_of(&current),
                "currentPreviewSceneName": null,
                "currentPreviewSceneUuid": null,
                "scenes": scenes,
            }))
        }
        "GetCurrentProgramScene" => match engine.default_pipeline() {
            Some(p) => Outcome::ok(json!({
                "sceneName": p.id(),
                "sceneUuid": uuid_of(p.id()),
                "currentProgramSceneName": p.id(),
                "currentProgramSceneUuid": uuid_of(p.id()),
            })),
            None => Outcome::fail(status::RESOURCE_NOT_FOUND, "no pipeline is running"),
        },
        "GetOutputList" => Outcome::ok(outputs(&engine)),
        "GetReplayBufferStatus" => Outcome::ok(json!({ "outputActive": replay_active(&engine) })),
        "StartReplayBuffer" if replay_active(&engine) => {
            Outcome::fail(status::OUTPUT_RUNNING, "The replay buffer is already active.")
        }
        "StartReplayBuffer" => blocking(move || start_replay(&engine)).await.map_or_else(|e| e, |()| Outcome::done()),
        "StopReplayBuffer" if !replay_active(&engine) => {
            Outcome::fail(status::OUTPUT_NOT_RUNNING, "The replay buffer is not active.")
        }
        "StopReplayBuffer" => blocking(move || stop_replay(&engine)).await.map_or_else(|e| e, |()| Outcome::done()),
        "ToggleReplayBuffer" => {
            let active = replay_active(&engine);
            let toggled = blocking(move || if active { stop_replay(&engine) } else { start_replay(&engine) }).await;
            toggled.map_or_else(|e| e, |()| Outcome::ok(json!({ "outputActive": !active })))
        }
        "SaveReplayBuffer" if !replay_active(&engine) => {
            Outcome::fail(status::OUTPUT_NOT_RUNNING, "The replay buffer is not active.")
        }
        "SaveReplayBuffer" => {
            // As in OBS, the answer comes at once and `ReplayBufferSaved` when
            // the file is there (the save waits for the encoder's latest frame).
            let request = SaveRequest::last(engine.clip_seconds(), Trigger::ObsWebsocket);
            tokio::task::spawn_blocking(move || {
                if let Err(e) = engine.save(None, &request) {
                    tracing::warn!(error = %e, "obs-websocket: replay not saved");
                }
            });
            Outcome::done()
        }
        "GetLastReplayBufferReplay" => {
            Outcome::ok(json!({ "savedReplayPath": caller.state.last_replay.read().clone().unwrap_or_default() }))
        }
        "GetRecordStatus" => Outcome::ok(record_status(&engine)),
        "StartRecord" => {
            blocking(move || engine.start_recording(None, Map::new())).await.map_or_else(|e| e, |_| Outcome::done())
        }
        "StopRecord" => blocking(move || engine.stop_recording(None))
            .await
            .map_or_else(|e| e, |info| Outcome::ok(json!({ "outputPath": info.path }))),
        "ToggleRecord" => {
            let active = engine.default_pipeline().is_some_and(|p| p.recording().is_some());
            let toggled = blocking(move || {
                if active {
                    engine.stop_recording(None).map(|_| ())
                } else {
                    engine.start_recording(None, Map::new()).map(|_| ())
                }
            })
            .await;
            toggled.map_or_else(|e| e, |()| Outcome::ok(json!({ "outputActive": !active })))
        }
        "CreateRecordChapter" => {
            let name = match data.and_then(|d| d.get("chapterName")) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Outcome::fail(
                        status::INVALID_REQUEST_FIELD_TYPE,
                        "The field `chapterName` must be a string.",
                    );
                }
            };
            match engine.default_pipeline().map(|p| p.add_marker(None, None, name)) {
                Some(Ok(_)) => Outcome::done(),
                Some(Err(e)) => Outcome::fail(status::REQUEST_PROCESSING_FAILED, e.to_string()),
                None => Outcome::fail(status::OUTPUT_NOT_RUNNING, "no pipeline is running"),
            }
        }
        "" => Outcome::fail(status::MISSING_REQUEST_TYPE, "Your request is missing a `requestType`"),
        other => Outcome::fail(
            status::UNKNOWN_REQUEST_TYPE,
            format!("Your request type `{other}` is not valid. ClipShot answers: {}", REQUESTS.join(", ")),
        ),
    }
}

/// A required field of the request's data.
fn field<'a>(data: Option<&'a Map<String, Value>>, name: &str) -> Result<&'a Value, Outcome> {
    let Some(data) = data else {
        return Err(Outcome::fail(
            status::MISSING_REQUEST_DATA,
            "Your request data is missing or invalid (non-object)",
        ));
    };
    match data.get(name) {
        None | Some(Value::Null) => {
            Err(Outcome::fail(status::MISSING_REQUEST_FIELD, format!("Your request is missing the `{name}` field.")))
        }
        Some(v) => Ok(v),
    }
}

/// `Sleep`, which only batches may use: milliseconds in a realtime batch,
/// frames (of the default pipeline's rate) in a per-frame one.
async fn sleep(execution: Option<i64>, data: Option<&Map<String, Value>>) -> Outcome {
    let (name, max, unit_ms) = match execution {
        Some(execution::SERIAL_REALTIME) => ("sleepMillis", 50_000.0, 1.0),
        Some(execution::SERIAL_FRAME) => ("sleepFrames", 10_000.0, 1000.0 / 60.0),
        _ => {
            return Outcome::fail(
                status::UNSUPPORTED_REQUEST_BATCH_EXECUTION_TYPE,
                "Sleep works only in a serial request batch.",
            );
        }
    };
    let value = match field(data, name) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let Some(n) = value.as_f64() else {
        return Outcome::fail(status::INVALID_REQUEST_FIELD_TYPE, format!("The field `{name}` must be a number."));
    };
    if !(0.0..=max).contains(&n) {
        return Outcome::fail(status::REQUEST_FIELD_OUT_OF_RANGE, format!("The field `{name}` is outside 0..={max}."));
    }
    tokio::time::sleep(Duration::from_secs_f64(n * unit_ms / 1000.0)).await;
    Outcome::done()
}

/// A stable UUID for a pipeline, as OBS gives each scene one.
fn uuid_of(name: &str) -> String {
    let hash = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Uuid::new_v8(bytes).to_string()
}

fn replay_active(engine: &Engine) -> bool {
    engine.default_pipeline().is_some_and(|p| p.state() == PipelineState::Running)
}

fn start_replay(engine: &Engine) -> Result<(), Outcome> {
    let p =
        engine.default_pipeline().ok_or_else(|| Outcome::fail(status::RESOURCE_NOT_FOUND, "no default pipeline"))?;
    engine.start(&p).map_err(|e| Outcome::fail(status::REQUEST_PROCESSING_FAILED, e.to_string()))
}

fn stop_replay(engine: &Engine) -> Result<(), Outcome> {
    let p =
        engine.default_pipeline().ok_or_else(|| Outcome::fail(status::RESOURCE_NOT_FOUND, "no default pipeline"))?;
    p.stop();
    Ok(())
}

/// Runs an engine call on the blocking pool, mapping its error to a status.
async fn blocking<T: Send + 'static, E: Into<Failure> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Outcome> {
    match tokio::task::spawn_blocking(move || f().map_err(|e| e.into().0)).await {
        Ok(result) => result,
        Err(e) => Err(Outcome::fail(status::GENERIC_ERROR, e.to_string())),
    }
}

/// An engine error as a request status.
pub struct Failure(Outcome);

impl From<Outcome> for Failure {
    fn from(o: Outcome) -> Self {
        Self(o)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::Record(RecordError::Already(_)) => status::OUTPUT_RUNNING,
            EngineError::Record(RecordError::NotRecording | RecordError::NotRunning) => status::OUTPUT_NOT_RUNNING,
            EngineError::NoDefault | EngineError::NoPipeline(_) => status::RESOURCE_NOT_FOUND,
            _ => status::REQUEST_PROCESSING_FAILED,
        };
        Self(Outcome::fail(code, e.to_string()))
    }
}

fn record_status(engine: &Engine) -> Value {
    let recording = engine.default_pipeline().and_then(|p| p.recording());
    let duration_ms = recording.as_ref().map_or(0.0, |r| r.duration_s * 1000.0);
    json!({
        "outputActive": recording.is_some(),
        "outputPaused": false,
        "outputTimecode": timecode(duration_ms),
        "outputDuration": duration_ms.round() as u64,
        "outputBytes": recording.as_ref().map_or(0, |r| r.bytes),
    })
}

/// `HH:MM:SS.mmm`, as OBS writes output timecodes.
fn timecode(ms: f64) -> String {
    let ms = ms.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

fn outputs(engine: &Engine) -> Value {
    let default = engine.default_pipeline();
    let flags = json!({
        "OBS_OUTPUT_AUDIO": true, "OBS_OUTPUT_VIDEO": true, "OBS_OUTPUT_ENCODED": true,
        "OBS_OUTPUT_MULTI_TRACK": false, "OBS_OUTPUT_SERVICE": false,
    });
    let replay = default.as_ref().is_some_and(|p| p.state() == PipelineState::Running);
    let record = default.as_ref().is_some_and(|p| p.recording().is_some());
    json!({ "outputs": [
        { "outputName": "Replay Buffer", "outputKind": "replay_buffer", "outputWidth": 0, "outputHeight": 0,
          "outputActive": replay, "outputFlags": flags },
        { "outputName": "simple_file_output", "outputKind": "ffmpeg_muxer", "outputWidth": 0, "outputHeight": 0,
          "outputActive": record, "outputFlags": flags },
    ]})
}

/// OBS's statistics from the default pipeline's: its source's frames are the
/// "render" frames, its record path's (encoders and ring) the "output" ones.
fn stats(caller: &Caller) -> Value {
    let state = &caller.state;
    let pipeline: Option<PipelineStats> = state.engine.default_pipeline().map(|p| p.stats());
    let nodes = pipeline.as_ref().map_or(&[][..], |s| &s.nodes[..]);
    let source = nodes.iter().find(|n| n.kind.starts_with("capture."));
    let record_path = nodes.iter().filter(|n| n.kind.starts_with("encode.") || n.kind == "replay.ring");
    let video_encoder = nodes.iter().find(|n| n.kind == "encode.h264");
    let disk = clipshot_runtime::process::available_disk_bytes(&state.clips_dir);
    json!({
        "cpuUsage": state.cpu.percent(),
        "memoryUsage": clipshot_runtime::process::rss_bytes() as f64 / (1024.0 * 1024.0),
        "availableDiskSpace": disk.map_or(0.0, |b| b as f64 / (1024.0 * 1024.0)),
        "activeFps": source.map_or(0.0, |n| n.fps),
        "averageFrameRenderTime": 0.0,
        "renderSkippedFrames": source.map_or(0, |n| n.dropped),
        "renderTotalFrames": source.map_or(0, |n| n.frames_out),
        "outputSkippedFrames": record_path.map(|n| n.dropped).sum::<u64>(),
        "outputTotalFrames": video_encoder.map_or(0, |n| n.frames_out),
        "webSocketSessionIncomingMessages": caller.incoming,
        "webSocketSessionOutgoingMessages": caller.outgoing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecodes_read_as_obs_writes_them() {
        assert_eq!(timecode(0.0), "00:00:00.000");
        assert_eq!(timecode(3_723_004.4), "01:02:03.004");
    }

    #[test]
    fn scene_uuids_are_stable_and_distinct() {
        assert_eq!(uuid_of("instant-replay"), uuid_of("instant-replay"));
        assert_ne!(uuid_of("instant-replay"), uuid_of("test-pattern"));
        assert_eq!(uuid_of("x").len(), 36);
    }
}
