//! Every route family over real HTTP against a daemon on port 0, with a real
//! SQLite file and real clips.

mod common;

use common::{Api, Daemon};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Reads SSE frames from a streaming response until `pred` matches one.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if pred(&frame) {
                return frame;
            }
        }
        assert!(Instant::now() < deadline, "no matching event; got so far: {buffer}");
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk()).await.unwrap().unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
    }
}

/// How `value` fails the OpenAPI component `schema` (empty: it conforms).
fn violations(doc: &Value, schema: &str, value: &Value) -> Vec<String> {
    let wrapper = json!({ "$ref": format!("#/components/schemas/{schema}"), "components": doc["components"] });
    let validator = jsonschema::validator_for(&wrapper).unwrap_or_else(|e| panic!("schema {schema}: {e}"));
    validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

fn conforms(doc: &Value, schema: &str, value: &Value) {
    let errors = violations(doc, schema, value);
    assert!(errors.is_empty(), "a {schema} that does not match the spec: {errors:?}\n{value}");
}

fn field<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    frame.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_clip_streams_as_an_event_plays_with_ranges_and_survives_a_restart() {
    let mut daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    // EventSource cannot send headers: the token rides in the query.
    let events_url = format!("{}/api/v1/system/events?types=clip.*&access_token={}", api.base, api.token);
    let mut events = api.http.get(&events_url).send().await.unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    daemon.wait_for_ring(3.0).await;

    let r = api
        .post("/api/v1/pipelines/test-pattern/replay/save", json!({"seconds": 2, "title": "ace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let clip: Value = r.json().await.unwrap();
    let id = clip["id"].as_str().unwrap().to_owned();
    assert_eq!(clip["title"], "ace");
    assert_eq!(clip["trigger"], "api");
    assert_eq!(clip["missing"], false);

    let mut buffer = String::new();
    let frame = next_event(&mut events, &mut buffer, |f| f.contains("event: clip.saved")).await;
    let data: Value = serde_json::from_str(field(&frame, "data").unwrap()).unwrap();
    assert_eq!(data["path"], clip["path"]);
    let first_id: u64 = field(&frame, "id").unwrap().parse().unwrap();

    // An exact span of the ring (the dashboard's drag): from a keyframe to just before now.
    let ring = api.json("/api/v1/pipelines/test-pattern/replay", 200).await;
    let keyframes = ring["keyframes_ns"].as_array().unwrap();
    let start_ns = keyframes[keyframes.len() - 3].as_i64().unwrap();
    let end_ns = ring["now_ns"].as_i64().unwrap() - 200_000_000;
    let save = "/api/v1/pipelines/test-pattern/replay/save";
    let r = api.post(save, json!({"start_ns": start_ns, "end_ns": end_ns})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let span: Value = r.json().await.unwrap();
    assert_eq!(span["span_start_ns"].as_i64(), Some(start_ns), "{span}");
    let asked = (end_ns - start_ns) as f64 / 1e9;
    assert!((span["duration_s"].as_f64().unwrap() - asked).abs() < 0.15, "asked {asked} s: {span}");
    for bad in [
        json!({"start_ns": start_ns}),
        json!({"end_ns": end_ns}),
        json!({"start_ns": end_ns, "end_ns": start_ns}),
        json!({"start_ns": start_ns, "end_ns": end_ns, "seconds": 3}),
        json!({"start_ns": 0, "end_ns": 9_000_000_000_000_000_000_i64}),
        json!({"start_ns": i64::MIN, "end_ns": i64::MAX}),
        json!({"start_ns": end_ns, "end_ns": end_ns + 700_000_000_000_i64}),
    ] {
        let r = api.post(save, bad.clone()).send().await.unwrap();
        assert_eq!(r.status(), 422, "{bad}");
    }
    api.delete(&format!("/api/v1/clips/{}", span["id"].as_str().unwrap())).send().await.unwrap();

    // Range: 206 with exactly the asked bytes.
    let file = std::fs::read(clip["path"].as_str().unwrap()).unwrap();
    let r = api.get(&format!("/api/v1/clips/{id}/file")).header("Range", "bytes=100-1099").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert_eq!(r.headers()["content-range"], format!("bytes 100-1099/{}", file.len()).as_str());
    assert_eq!(r.bytes().await.unwrap().as_ref(), &file[100..1100]);
    let whole = reqwest::get(format!("{}/api/v1/clips/{id}/file?access_token={}", api.base, api.token)).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().len(), file.len());
    let r = api.get(&format!("/api/v1/clips/{id}/file")).header("Range", "bytes=999999999-").send().await.unwrap();
    assert_eq!(r.status(), 416);
    // The query token is for those GET routes only.
    let r = reqwest::get(format!("{}/api/v1/clips?access_token={}", api.base, api.token)).await.unwrap();
    assert_eq!(r.status(), 401);

    let thumb = api.get(&format!("/api/v1/clips/{id}/thumbnail")).send().await.unwrap();
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    assert_eq!(&thumb.bytes().await.unwrap()[..2], &[0xFF, 0xD8], "a JPEG");

    let meta = api.json(&format!("/api/v1/metadata/{id}"), 200).await;
    assert_eq!((meta["width"].as_i64(), meta["height"].as_i64()), (Some(640), Some(360)), "{meta}");
    assert!((meta["fps"].as_f64().unwrap() - 30.0).abs() < 0.5, "{meta}");
    assert_eq!(meta["size_bytes"].as_u64(), Some(file.len() as u64));
    let regenerated = api.post(&format!("/api/v1/metadata/{id}/generate"), json!({})).send().await.unwrap();
    assert_eq!(regenerated.status(), 200);

    let patched: Value = api
        .patch(&format!("/api/v1/clips/{id}"), json!({"favorite": true, "tags": ["clutch"], "title": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((patched["favorite"].as_bool(), patched["title"].is_null()), (Some(true), true), "{patched}");
    let r = api.patch(&format!("/api/v1/clips/{id}"), json!({"favourite": true})).send().await.unwrap();
    assert_eq!(r.status(), 422);

    // Resume: the events after the first one, from the backlog.
    let mut resumed = api
        .http
        .get(format!("{}/api/v1/system/events", api.base))
        .bearer_auth(&api.token)
        .header("Last-Event-ID", (first_id - 1).to_string())
        .send()
        .await
        .unwrap();
    let again = next_event(&mut resumed, &mut String::new(), |f| f.contains("event: clip.saved")).await;
    assert_eq!(field(&again, "id"), Some(first_id.to_string().as_str()));
    drop((events, resumed));

    daemon.restart();
    let api = Api::new(&daemon);
    let after = api.json(&format!("/api/v1/clips/{id}"), 200).await;
    assert_eq!((after["favorite"].as_bool(), after["tags"][0].as_str()), (Some(true), Some("clutch")), "{after}");
    let page = api.json("/api/v1/clips?favorite=true", 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let r = api.delete(&format!("/api/v1/clips/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(!std::path::Path::new(clip["path"].as_str().unwrap()).exists(), "the file is deleted with the row");
    api.json(&format!("/api/v1/clips/{id}"), 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clips_filter_sort_and_page_and_a_vanished_file_is_reported_missing() {
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    daemon.wait_for_ring(2.0).await;
    let mut ids = Vec::new();
    for seconds in [1.0, 1.5, 0.5] {
        let r =
            api.post("/api/v1/pipelines/test-pattern/replay/save", json!({"seconds": seconds})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    // Newest first by default; pages of two chain through the cursor.
    let first = api.json("/api/v1/clips?limit=2", 200).await;
    let got: Vec<_> = first["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, vec![ids[2].clone(), ids[1].clone()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = api.json(&format!("/api/v1/clips?limit=2&cursor={cursor}"), 200).await;
    assert_eq!(second["items"][0]["id"].as_str(), Some(ids[0].as_str()));
    assert!(second["next_cursor"].is_null());
    let by_duration = api.json("/api/v1/clips?sort=duration", 200).await;
    let durations: Vec<f64> =
        by_duration["items"].as_array().unwrap().iter().map(|c| c["duration_s"].as_f64().unwrap()).collect();
    assert!(durations.windows(2).all(|w| w[0] <= w[1]), "{durations:?}");
    assert_eq!(api.json("/api/v1/clips?trigger=hotkey", 200).await["items"].as_array().unwrap().len(), 0);
    assert_eq!(
        api.json("/api/v1/clips?pipeline=test-pattern&trigger=api", 200).await["items"].as_array().unwrap().len(),
        3
    );
    assert_eq!(api.json("/api/v1/clips?until=2000-01-01T00:00:00Z", 200).await["items"].as_array().unwrap().len(), 0);
    for bad in ["sort=colour", "limit=0", "since=yesterday", "cursor=garbage", "trigger=psychic"] {
        let r = api.get(&format!("/api/v1/clips?{bad}")).send().await.unwrap();
        assert!(matches!(r.status().as_u16(), 400 | 422), "{bad}: {}", r.status());
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }

    let clip = api.json(&format!("/api/v1/clips/{}", ids[0]), 200).await;
    std::fs::remove_file(clip["path"].as_str().unwrap()).unwrap();
    let listed = api.json(&format!("/api/v1/clips/{}", ids[0]), 200).await;
    assert_eq!(listed["missing"], true);
    let r = api.get(&format!("/api/v1/clips/{}/file", ids[0])).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelines_are_created_validated_controlled_and_persisted() {
    let mut daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    let presets = api.json("/api/v1/pipelines/presets", 200).await;
    assert!(presets.as_array().unwrap().iter().any(|p| p["name"] == "test-pattern"));

    // Every problem of a bad graph at once, located in the body.
    let bad = json!({"graph": {"name": "broken", "nodes": [
        {"id": "src", "kind": "capture.tset"},
        {"id": "enc", "kind": "encode.h264", "props": {"bitrate_kbps": "fast"}}
    ], "links": [{"from": "src.video", "to": "nowhere.video"}]}});
    let r = api.post("/api/v1/pipelines", bad).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    let at: Vec<&str> = p["problems"].as_array().unwrap().iter().map(|x| x["location"].as_str().unwrap()).collect();
    for expected in ["/graph/nodes/0/kind", "/graph/nodes/1/props/bitrate_kbps", "/graph/links/0/to"] {
        assert!(at.contains(&expected), "{expected} in {at:?}");
    }
    assert_eq!(api.post("/api/v1/pipelines", json!({"preset": "nope"})).send().await.unwrap().status(), 422);
    assert_eq!(api.post("/api/v1/pipelines", json!({})).send().await.unwrap().status(), 400);

    // A saved, stopped pipeline (two encoding pipelines are too much for CI's two cores).
    let r = api
        .post("/api/v1/pipelines", json!({"id": "spare", "preset": "test-pattern", "start": false, "autostart": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!((created["id"].as_str(), created["state"].as_str()), (Some("spare"), Some("stopped")), "{created}");
    let r = api
        .post("/api/v1/pipelines", json!({"id": "spare", "preset": "test-pattern", "start": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        api.json("/api/v1/pipelines/spare", 200).await["graph"]["nodes"].as_array().unwrap().len(),
        5,
        "the preset with its preview node"
    );

    // The default pipeline: markers, the timeline, a marker save, stop and start.
    daemon.wait_for_ring(2.0).await;
    let r = api
        .post("/api/v1/pipelines/test-pattern/markers", json!({"label": "boom", "offset_s": -0.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let marker: Value = r.json().await.unwrap();
    let replay = api.json("/api/v1/pipelines/test-pattern/replay", 200).await;
    assert!(replay["keyframes_ns"].as_array().unwrap().len() >= 2, "{replay}");
    assert_eq!(replay["markers"][0]["label"], "boom");
    let r = api
        .post(
            "/api/v1/pipelines/test-pattern/replay/save",
            json!({"marker": marker["ring_id"], "seconds": 1, "post_seconds": 0.5}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let clip: Value = r.json().await.unwrap();
    let meta = api.json(&format!("/api/v1/metadata/{}", clip["id"].as_str().unwrap()), 200).await;
    assert_eq!(meta["markers"][0]["label"], "boom", "the marker lies inside the clip: {meta}");

    assert_eq!(api.delete("/api/v1/pipelines/test-pattern").send().await.unwrap().status(), 409);
    let stopped: Value =
        api.post("/api/v1/pipelines/test-pattern/stop", json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!(stopped["state"], "stopped");
    let started: Value =
        api.post("/api/v1/pipelines/test-pattern/start", json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!(started["state"], "running");
    let stats = api.json("/api/v1/pipelines/test-pattern/stats", 200).await;
    assert!(stats["nodes"].as_array().unwrap().iter().all(|n| n["bytes_copied"] == 0));

    daemon.restart();
    let api = Api::new(&daemon);
    assert_eq!(api.json("/api/v1/pipelines/spare", 200).await["state"], "stopped", "saved pipelines come back");
    assert_eq!(api.delete("/api/v1/pipelines/spare").send().await.unwrap().status(), 204);
    api.json("/api/v1/pipelines/spare", 404).await;
    daemon.restart();
    Api::new(&daemon).json("/api/v1/pipelines/spare", 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn config_changes_are_validated_persisted_and_applied() {
    let mut daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    let before = api.json("/api/v1/config", 200).await;
    assert!(before["token_path"].as_str().unwrap().ends_with("api-token"));
    assert!(!before.to_string().contains(&api.token), "the token is never served");

    let r = api
        .patch("/api/v1/config", json!({"clip_seconds": 0, "host": "0.0.0.0", "hotkey": "Hyper+Nothing", "volume": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["problems"].as_array().unwrap().len(), 4, "{p}");
    assert_eq!(api.json("/api/v1/config", 200).await, before, "a rejected change changes nothing");

    let r = api
        .patch(
            "/api/v1/config",
            json!({"clip_seconds": 4, "replay_seconds": 6, "cors_origins": ["http://localhost:3000"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Applied live: the ring's limit, the default save length, CORS.
    let replay = api.json("/api/v1/pipelines/test-pattern/replay", 200).await;
    assert_eq!(replay["max_seconds"], 6.0);
    daemon.wait_for_ring(4.5).await;
    let clip: Value =
        api.post("/api/v1/pipelines/test-pattern/replay/save", json!({})).send().await.unwrap().json().await.unwrap();
    assert!((clip["duration_s"].as_f64().unwrap() - 4.0).abs() < 1.1, "{clip}");
    let r = api.get("/api/v1/pipelines").header("Origin", "http://localhost:3000").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://localhost:3000");

    daemon.restart();
    let api = Api::new(&daemon);
    let after = api.json("/api/v1/config", 200).await;
    assert_eq!(
        (after["config"]["clip_seconds"].as_f64(), after["config"]["replay_seconds"].as_f64()),
        (Some(4.0), Some(6.0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_describes_itself_and_the_machine() {
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    let doc: Value = reqwest::get(daemon.url("/openapi.json")).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/health",
        "/metrics",
        "/api/v1/system/health",
        "/api/v1/system/metrics",
        "/api/v1/system/events",
        "/api/v1/pipelines",
        "/api/v1/pipelines/{id}",
        "/api/v1/pipelines/{id}/start",
        "/api/v1/pipelines/{id}/stop",
        "/api/v1/pipelines/{id}/stats",
        "/api/v1/pipelines/presets",
        "/api/v1/pipelines/{id}/replay/save",
        "/api/v1/pipelines/{id}/replay",
        "/api/v1/pipelines/{id}/markers",
        "/api/v1/nodes",
        "/api/v1/nodes/{kind}",
        "/api/v1/capture/sources",
        "/api/v1/capture/encoders",
        "/api/v1/clips",
        "/api/v1/clips/{id}",
        "/api/v1/clips/{id}/file",
        "/api/v1/clips/{id}/thumbnail",
        "/api/v1/metadata/{clip_id}",
        "/api/v1/metadata/{clip_id}/generate",
        "/api/v1/config",
    ] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
    // Every operation documents its responses, and /api/v1 ones the token.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(!op["responses"].as_object().unwrap().is_empty(), "{method} {path}");
            assert_eq!(path.starts_with("/api/v1"), op.get("security").is_some(), "{method} {path}");
        }
    }
    // The docs pages work offline: everything they load is served here.
    let swagger = reqwest::get(daemon.url("/docs/")).await.unwrap().text().await.unwrap();
    assert!(swagger.contains("swagger-ui") && !swagger.contains("https://"), "Swagger UI loads nothing remote");
    let redoc = reqwest::get(daemon.url("/redoc")).await.unwrap().text().await.unwrap();
    assert!(redoc.contains("/redoc/redoc.standalone.js") && !redoc.contains("https://"));
    let js = reqwest::get(daemon.url("/redoc/redoc.standalone.js")).await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 500_000);

    // Served bodies match the documented schemas.
    daemon.wait_for_ring(1.5).await;
    let clip: Value = api
        .post("/api/v1/pipelines/test-pattern/replay/save", json!({"seconds": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = clip["id"].as_str().unwrap().to_owned();
    conforms(&doc, "Clip", &clip);
    let mut broken = clip.clone();
    broken.as_object_mut().unwrap().remove("id");
    broken["favorite"] = json!("yes");
    assert_eq!(violations(&doc, "Clip", &broken).len(), 2, "the check can fail");
    let marker: Value =
        api.post("/api/v1/pipelines/test-pattern/markers", json!({})).send().await.unwrap().json().await.unwrap();
    conforms(&doc, "StoredMarker", &marker);
    for (path, schema) in [
        ("/api/v1/clips".to_owned(), "ClipPage"),
        (format!("/api/v1/metadata/{id}"), "ClipMetadata"),
        ("/api/v1/pipelines/test-pattern".to_owned(), "PipelineDetail"),
        ("/api/v1/pipelines/test-pattern/stats".to_owned(), "PipelineStats"),
        ("/api/v1/pipelines/test-pattern/replay".to_owned(), "ReplayStatus"),
        ("/api/v1/nodes/encode.h264".to_owned(), "NodeDescriptor"),
        ("/api/v1/capture/sources".to_owned(), "CaptureSources"),
        ("/api/v1/capture/encoders".to_owned(), "Encoders"),
        ("/api/v1/system/health".to_owned(), "SystemHealth"),
        ("/api/v1/system/metrics".to_owned(), "SystemMetrics"),
        ("/api/v1/config".to_owned(), "ConfigView"),
        ("/api/v1/nodes/nope".to_owned(), "Problem"),
    ] {
        let r = api.get(&path).send().await.unwrap();
        conforms(&doc, schema, &r.json().await.unwrap());
    }
    for item in api.json("/api/v1/pipelines", 200).await.as_array().unwrap() {
        conforms(&doc, "PipelineSummary", item);
    }
    conforms(&doc, "Health", &reqwest::get(daemon.url("/health")).await.unwrap().json().await.unwrap());

    let nodes = api.json("/api/v1/nodes", 200).await;
    assert!(nodes.as_array().unwrap().len() >= 11);
    let h264 = api.json("/api/v1/nodes/encode.h264", 200).await;
    assert_eq!(h264["props_schema"]["type"], "object");
    let missing = api.json("/api/v1/nodes/encode.h246", 404).await;
    assert!(missing["detail"].as_str().unwrap().contains("encode.h264"), "a suggestion: {missing}");

    let sources = api.json("/api/v1/capture/sources", 200).await;
    assert!(sources["test_sources"].as_array().unwrap().iter().any(|s| s["kind"] == "capture.test"));
    assert!(sources["display_error"].as_str().unwrap().contains("DISPLAY"), "headless says why: {sources}");
    let encoders = api.json("/api/v1/capture/encoders", 200).await;
    assert!(encoders["video"].as_array().unwrap().iter().any(|e| e["element"] == "x264enc" && e["usable"] == true));

    let health = api.json("/api/v1/system/health", 200).await;
    assert_eq!(
        (health["status"].as_str(), health["database"]["status"].as_str()),
        (Some("ok"), Some("ok")),
        "{health}"
    );
    daemon.wait_for_ring(1.0).await;
    let metrics = api.json("/api/v1/system/metrics", 200).await;
    assert!(metrics["process"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(metrics["pipelines"][0]["ring_seconds"].as_f64().unwrap() > 0.0, "{metrics}");
    // Per-frame latency, measured against each frame's capture time.
    let (p50, p99) = (&metrics["pipelines"][0]["frame_latency_ms"], &metrics["pipelines"][0]["frame_latency_p99_ms"]);
    assert!(p50.as_f64().unwrap() > 0.0 && p50.as_f64() <= p99.as_f64(), "{metrics}");
    let text = reqwest::get(daemon.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains("clipshot_ring_seconds{pipeline=\"test-pattern\"}"), "{text}");
    assert!(text.contains("clipshot_frame_latency_p99_seconds{pipeline=\"test-pattern\"}"), "{text}");
}
