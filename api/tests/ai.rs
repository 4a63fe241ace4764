//! `/api/v1/ai` over real HTTP, on the real ONNX Runtime (CPU provider) with
//! the shipped models (`make models`), and a daemon without the runtime.

mod common;

use common::{Api, Daemon};
use serde_json::{Value, json};

/// The runtime and the models, or `None` (outside CI) when either is missing.
fn ready() -> bool {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ced-tiny/model.onnx");
    let ok = std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty()) && models.is_file();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI must have the models and ONNX Runtime (make test fetches them)");
        eprintln!("skipped: run `make models onnxruntime` and export ORT_DYLIB_PATH");
    }
    ok
}

/// A 16-bit PCM WAV file.
fn wav(rate: u32, channels: u16, samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    out
}

async fn infer(api: &Api, query: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    api.http
        .post(format!("{}/api/v1/ai/infer{query}", api.base))
        .bearer_auth(&api.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn models_are_listed_loaded_run_and_unloaded() {
    if !ready() {
        return;
    }
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    // A broken model in the user's models dir is listed with every problem.
    let broken = daemon.data_dir.path().join("models/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("model.json"),
        json!({ "id": "broken", "name": "Broken", "version": "1", "task": "classify", "file": "model.onnx",
                "sha256": "0".repeat(64), "licence": "MIT", "inputs": [], "outputs": [] })
        .to_string(),
    )
    .unwrap();

    let all = api.json("/api/v1/ai/models", 200).await;
    let ids: Vec<&str> = all.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["broken", "ced-tiny", "ppocr-v4-det", "ppocr-v4-rec", "silero-vad"]);
    let broken = &all[0];
    assert_eq!(broken["status"], "invalid");
    assert_eq!(broken["problems"].as_array().unwrap().len(), 3, "{broken}");
    let ced = &all[1];
    assert_eq!((ced["type"].as_str(), ced["capability"].as_str()), (Some("audio-tags"), Some("audio")));
    assert_eq!(ced["status"], "available");
    assert_eq!(ced["labels"]["count"], 527);
    let vad = api.json("/api/v1/ai/models?type=vad", 200).await;
    assert_eq!(vad.as_array().unwrap().len(), 1);
    let images = api.json("/api/v1/ai/models?capability=image", 200).await;
    assert_eq!(images.as_array().unwrap().len(), 2, "{images}");
    api.json("/api/v1/ai/models/nope", 404).await;
    let r = api.post("/api/v1/ai/models/broken/load", json!({})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["problems"].as_array().unwrap().len(), 3, "{problem}");

    let loaded: Value =
        api.post("/api/v1/ai/models/ced-tiny/load", json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!((loaded["status"].as_str(), loaded["provider"].as_str()), (Some("loaded"), Some("CPU")), "{loaded}");
    let health = api.json("/api/v1/ai/health", 200).await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["runtime"]["version"], "1.31.1");
    assert_eq!(health["loaded"][0]["id"], "ced-tiny");
    assert_eq!(health["loaded"][0]["provider"], "CPU");
    assert_eq!(health["execution_providers"], json!(["TensorRT", "CUDA", "DirectML", "CoreML", "CPU"]));
    assert_eq!(health["invalid_models"], 1);
    // The GPU that preprocesses: Mesa's software Vulkan in CI.
    if std::env::var_os("CI").is_some() {
        assert_eq!(health["gpu"]["available"], true, "{health}");
        assert!(health["gpu"]["adapter"].as_str().unwrap().contains("llvmpipe"), "{health}");
        assert_eq!(
            (health["gpu"]["backend"].as_str(), health["gpu"]["device_type"].as_str()),
            (Some("Vulkan"), Some("Cpu"))
        );
    }

    // Three seconds of silence at 48 kHz stereo: two windows, both "Silence".
    let silence = vec![0.0f32; 48_000 * 2 * 3];
    let r = infer(&api, "?top=3", "audio/wav", wav(48_000, 2, &silence)).await;
    assert_eq!(r.status(), 200);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["model"], "ced-tiny");
    assert!((result["seconds"].as_f64().unwrap() - 3.0).abs() < 1e-6);
    let windows = result["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2, "{result}");
    assert_eq!((windows[1]["start_s"].as_f64(), windows[1]["end_s"].as_f64()), (Some(2.0), Some(3.0)));
    assert_eq!(windows[0]["tags"].as_array().unwrap().len(), 3);
    assert_eq!(result["tags"][0]["label"], "Silence", "{result}");
    assert!(result["timings"]["inference_ms"].as_f64().unwrap() > 0.0);

    // What is not sound, or not for this model, says so.
    assert_eq!(infer(&api, "", "video/mp4", vec![1, 2, 3]).await.status(), 415);
    let r = infer(&api, "", "audio/wav", b"RIFF....WAVEjunk".to_vec()).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("not a WAV file"));
    let vad: Value =
        infer(&api, "?model=silero-vad", "audio/wav", wav(16_000, 1, &[0.0; 16_000])).await.json().await.unwrap();
    assert_eq!(vad["speech"].as_array().map(Vec::len), Some(32), "32 ms chunks of a second: {vad}");
    // A voice is speech (espeak-ng's, at its own rate).
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("said.wav");
    let spoken = std::process::Command::new("espeak-ng").arg("-w").arg(&said).arg("nice shot, well played").status();
    if spoken.is_ok_and(|s| s.success()) {
        let r = infer(&api, "?model=silero-vad", "audio/wav", std::fs::read(&said).unwrap()).await;
        let voice: Value = r.json().await.unwrap();
        let best =
            voice["speech"].as_array().unwrap().iter().filter_map(|c| c["probability"].as_f64()).fold(0.0, f64::max);
        assert!(best > 0.8, "{voice}");
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must have espeak-ng (make test installs it)");
    }
    assert_eq!(infer(&api, "?model=ppocr-v4-det", "audio/wav", wav(16_000, 1, &[0.0; 16_000])).await.status(), 422);
    assert_eq!(infer(&api, "?model=nope", "audio/wav", wav(16_000, 1, &[0.0; 16_000])).await.status(), 404);
    assert_eq!(infer(&api, "?top=0", "audio/wav", wav(16_000, 1, &[0.0; 16_000])).await.status(), 422);

    let unloaded: Value =
        api.post("/api/v1/ai/models/ced-tiny/unload", json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!(unloaded["status"], "available");
    let loaded = api.json("/api/v1/ai/health", 200).await["loaded"].clone();
    assert!(loaded.as_array().unwrap().iter().all(|m| m["id"] != "ced-tiny"), "{loaded}");

    let doc = api.json("/openapi.json", 200).await;
    for path in ["/api/v1/ai/models", "/api/v1/ai/models/{id}/load", "/api/v1/ai/infer", "/api/v1/ai/health"] {
        assert!(doc["paths"][path].is_object(), "{path} is not in the OpenAPI document");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_runtime_library_the_ai_says_why_and_recording_goes_on() {
    let daemon = Daemon::start(&[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")]);
    let api = Api::new(&daemon);
    let health = api.json("/api/v1/ai/health", 200).await;
    assert_eq!(health["status"], "unavailable", "{health}");
    let error = health["runtime"]["error"].as_str().unwrap();
    assert!(error.contains("does not exist") && error.contains("make onnxruntime"), "{error}");
    let system = api.json("/api/v1/system/health", 200).await;
    assert_eq!(system["ai_runtime"]["status"], "down", "{system}");
    assert_eq!(system["status"], "ok", "recording does not need the runtime: {system}");
    // The models are still listed; opening one is a 503 that says why.
    if std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ced-tiny/model.onnx").is_file() {
        let r = api.post("/api/v1/ai/models/ced-tiny/load", json!({})).send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert!(r.text().await.unwrap().contains("ONNX Runtime is not available"));
    }
    // Recording never noticed.
    daemon.wait_for_ring(2.0).await;
    let r = api.post("/api/v1/pipelines/test-pattern/replay/save", json!({ "seconds": 1 })).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let health: Value = reqwest::get(daemon.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
}

/// A PNG of a dark 960×540 scene with `text` drawn large at the top right (ffmpeg, DejaVu Sans Bold).
fn png_with_text(text: &str) -> Vec<u8> {
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "color=c=0x1d2226:s=960x540", "-vf"])
        .arg(format!("drawtext=fontfile={font}:text='{text}':fontcolor=white:fontsize=28:x=560:y=30"))
        .args(["-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"])
        .output()
        .expect("ffmpeg runs (make test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn images_clips_and_streams_go_through_the_models() {
    if !ready() {
        return;
    }
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);

    // An image, read whole with detection + recognition, or in a region.
    let png = png_with_text("Player2 ELIMINATED Bot_4");
    let r = infer(&api, "", "image/png", png.clone()).await;
    assert_eq!(r.status(), 200);
    let read: Value = r.json().await.unwrap();
    assert_eq!((read["input"].as_str(), read["model"].as_str()), (Some("image"), Some("ppocr-v4-det+ppocr-v4-rec")));
    let line = read["lines"].as_array().unwrap().iter().find(|l| l["text"].as_str().unwrap().contains("ELIMINATED"));
    let line = line.unwrap_or_else(|| panic!("{read}"));
    assert!(line["rect"][0].as_f64().unwrap() > 0.5, "found at the top right: {line}");
    let left = infer(&api, "?region=0,0,0.5,1", "image/png", png.clone()).await.json::<Value>().await.unwrap();
    assert!(left["lines"].as_array().unwrap().is_empty(), "nothing on the left: {left}");
    let boxes = infer(&api, "?model=ppocr-v4-det", "image/png", png.clone()).await.json::<Value>().await.unwrap();
    assert_eq!(boxes["boxes"].as_array().unwrap().len(), 1, "{boxes}");
    assert_eq!(infer(&api, "?region=0.5,0.5,0.9,0.1", "image/png", png.clone()).await.status(), 422);
    assert_eq!(infer(&api, "?model=ced-tiny", "image/png", png.clone()).await.status(), 422);
    assert_eq!(infer(&api, "", "image/png", b"\x89PNG not really".to_vec()).await.status(), 422);
    assert_eq!(infer(&api, "", "text/plain", b"hello".to_vec()).await.status(), 415);

    // A moment of a saved clip: the test pattern's tone, then its frame.
    daemon.wait_for_ring(3.0).await;
    let clip: Value = api
        .post("/api/v1/pipelines/test-pattern/replay/save", json!({ "seconds": 2.5 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = clip["id"].as_str().unwrap();
    let moment = |body: Value| infer(&api, "", "application/json", body.to_string().into_bytes());
    let sound: Value = moment(json!({ "clip_id": id, "at_s": 0.2, "seconds": 2.0 })).await.json().await.unwrap();
    assert_eq!((sound["input"].as_str(), sound["model"].as_str()), (Some("audio"), Some("ced-tiny")), "{sound}");
    assert!((sound["seconds"].as_f64().unwrap() - 2.0).abs() < 0.1, "{sound}");
    assert!(!sound["tags"].as_array().unwrap().is_empty(), "{sound}");
    let voice: Value = moment(json!({ "clip_id": id, "at_s": 0.0, "seconds": 1.0, "model": "silero-vad" }))
        .await
        .json()
        .await
        .unwrap();
    let speech = voice["speech"].as_array().unwrap();
    assert!((31..=32).contains(&speech.len()), "32 ms chunks: {voice}");
    assert!(speech.iter().all(|c| c["probability"].as_f64().unwrap() < 0.5), "a test tone is not a voice: {voice}");
    let frame: Value =
        moment(json!({ "clip_id": id, "at_s": 1.0, "model": "ppocr-v4-det" })).await.json().await.unwrap();
    assert_eq!((frame["input"].as_str(), frame["model"].as_str()), (Some("image"), Some("ppocr-v4-det")), "{frame}");
    assert!(frame["timings"]["decode_ms"].as_f64().unwrap() > 0.0, "a frame of the clip was decoded: {frame}");
    assert_eq!(moment(json!({ "clip_id": id, "at_s": 99.0 })).await.status(), 422);
    assert_eq!(moment(json!({ "clip_id": "nope", "at_s": 0.0 })).await.status(), 404);
    assert_eq!(moment(json!({ "clip_id": id })).await.status(), 422);

    // The whole clip, window by window, as Server-Sent Events.
    let r = api.post("/api/v1/ai/infer/stream", json!({ "clip_id": id, "top": 2 })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    let windows: Vec<Value> = text
        .split("\n\n")
        .filter(|e| e.contains("event: window"))
        .map(|e| serde_json::from_str(e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap())
        .collect();
    assert_eq!(windows.len(), 2, "two 2 s windows over 2.5 s: {text}");
    assert_eq!(windows[0]["tags"].as_array().unwrap().len(), 2);
    assert!(text.contains("event: done"), "{text}");
    let r = api.post("/api/v1/ai/infer/stream", json!({ "clip_id": id, "every_s": 0.01 })).send().await.unwrap();
    assert_eq!(r.status(), 422);

    // A pipeline without analysis nodes has no profile to switch.
    let r = api.put("/api/v1/pipelines/test-pattern/profile", json!({ "profile": "generic" })).send().await.unwrap();
    assert_eq!(r.status(), 409);

    let doc = api.json("/openapi.json", 200).await;
    for path in ["/api/v1/ai/infer/stream", "/api/v1/ai/profiles", "/api/v1/pipelines/{id}/profile"] {
        assert!(doc["paths"][path].is_object(), "{path} is not in the OpenAPI document");
    }
    // System health and metrics report the runtime and the GPU.
    let health = api.json("/api/v1/system/health", 200).await;
    assert_eq!(health["ai_runtime"]["status"], "ok", "{health}");
    assert_eq!(health["ai_runtime"]["version"], "ONNX Runtime 1.31.1");
    if std::env::var_os("CI").is_some() {
        assert_eq!(health["gpu"]["status"], "ok", "{health}");
        assert!(health["gpu"]["detail"].as_str().unwrap().contains("llvmpipe"), "{health}");
    }
    let metrics = api.json("/api/v1/system/metrics", 200).await;
    assert_eq!(metrics["ai"]["runtime"], "1.31.1", "{metrics}");
    assert!(metrics["ai"]["loaded_models"].as_array().unwrap().iter().any(|m| m == "ced-tiny (CPU)"), "{metrics}");
}
