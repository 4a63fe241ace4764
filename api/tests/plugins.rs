//! Plugins end to end, against the real daemon: a plugin that segfaults
//! while recording costs no clip and is disabled after three crashes; an
//! example packed with the CLI and installed over the API adds its node
//! kind and runs in a pipeline that saves clips; a changed byte in its
//! binary makes a reload answer 422 naming the hash while the daemon stays
//! healthy; the marketplace installs from an index on loopback and refuses
//! a tampered and a path-escaping archive.

mod common;

use common::{Api, Daemon};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// `clipshot plugins pack DIR` into `out` (the tests' own cargo target folder:
/// the one running the tests is locked).
fn pack(dir: &str, out: &Path) -> PathBuf {
    let output = std::process::Command::new(common::bin())
        .args(["plugins", "pack"])
        .arg(workspace().join(dir))
        .arg("--out")
        .arg(out)
        .arg("--target-dir")
        .arg(workspace().join("target/plugin-build"))
        .env("CLIPSHOT_DATA_DIR", out)
        .output()
        .expect("clipshot runs");
    assert!(output.status.success(), "pack failed: {}", String::from_utf8_lossy(&output.stderr));
    let path = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    assert!(path.is_file(), "{}", path.display());
    path
}

async fn poll(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const FAULTY: &str = "com.clipshot.tests.faulty";
const KILLFEED: &str = "com.clipshot.examples.killfeed";

#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_plugin_costs_no_clip_and_an_installed_example_records() {
    let work = tempfile::tempdir().unwrap();
    // The faulty fixture, installed before the daemon starts, in the default
    // pipeline: it segfaults from its 11th frame on.
    let archive = pack("plugins/fixtures/faulty", work.path());
    let plugins_dir = work.path().join("plugins");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    clipshot_runtime::plugin::archive::extract(&archive, &plugins_dir.join("faulty"), Default::default()).unwrap();
    let preset = include_str!("../../pipelines/test-pattern.toml")
        .replace("width = 1280, height = 720, fps = 60", "width = 640, height = 360, fps = 30")
        + "\n[[nodes]]\nid = \"crashy\"\nkind = \"test.faulty\"\nprops = { mode = \"segfault\", after = 10 }\n\n[[links]]\nfrom = \"src.video\"\nto = \"crashy.video\"\n";
    let preset_path = work.path().join("crashy.toml");
    std::fs::write(&preset_path, preset).unwrap();
    let daemon = Daemon::start(&[
        ("CLIPSHOT_PLUGINS_DIR", plugins_dir.to_str().unwrap()),
        ("CLIPSHOT_PIPELINE", preset_path.to_str().unwrap()),
        ("CLIPSHOT_PLUGIN_TIMEOUT", "0.5"),
    ]);
    let api = Api::new(&daemon);
    let pipeline = "test-pattern";

    // It segfaults, then (the plugin's config switching every node's mode,
    // enabled again each time) panics, then hangs; each time three crashes
    // (a restart gets 10 good frames first) disable it while recording goes on.
    for (round, (mode, expect)) in
        [("segfault", "SIGSEGV"), ("panic", "deliberate panic"), ("hang", "500 ms budget")].into_iter().enumerate()
    {
        if round > 0 {
            let r = api.put(&format!("/api/v1/plugins/{FAULTY}/config"), json!({"mode": mode})).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            let r = api.post(&format!("/api/v1/plugins/{FAULTY}/enable"), json!({})).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
        let health = poll(&format!("{mode}: the plugin to be disabled"), Duration::from_secs(90), async || {
            let h: Value = api.get(&format!("/api/v1/plugins/{FAULTY}/health")).send().await.ok()?.json().await.ok()?;
            (h["status"] == "disabled").then_some(h)
        })
        .await;
        assert_eq!(health["crashes"], 3, "{mode}: {health}");
        assert!(health["last_crash"].as_str().unwrap().contains(expect), "{mode}: {health}");
        let info: Value = api.get(&format!("/api/v1/plugins/{FAULTY}")).send().await.unwrap().json().await.unwrap();
        assert_eq!((info["enabled"].as_bool(), info["status"].as_str()), (Some(false), Some("error")), "{info}");

        // Recording never noticed: running, and a clip of the last 4 s is whole.
        tokio::time::sleep(Duration::from_secs(2)).await;
        daemon.wait_for_ring(4.0).await;
        let stats = daemon.stats().await;
        assert_eq!(stats["state"], "running", "{mode}: {stats}");
        if round == 0 {
            assert_eq!(stats["restarts"], 0, "{stats}");
        }
        let r =
            api.post(&format!("/api/v1/pipelines/{pipeline}/replay/save"), json!({"seconds": 4})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let clip: Value = r.json().await.unwrap();
        assert!(clip["duration_s"].as_f64().unwrap() >= 3.9, "{mode}: {clip}");
        assert!(clip["shortfall"].is_null(), "{mode}: {clip}");
    }
    let system: Value = api.get("/api/v1/system/health").send().await.unwrap().json().await.unwrap();
    assert_eq!(system["plugins"]["status"], "degraded", "{system}");
    assert!(system["plugins"]["detail"].as_str().unwrap().contains("1 crashed"), "{system}");

    // The examples, packed with the CLI and installed over the API.
    for (dir, id, kind) in [
        ("plugins/examples/killfeed", KILLFEED, "killfeed.color"),
        ("plugins/examples/hud-crop", "com.clipshot.examples.hud-crop", "hud.crop"),
        ("plugins/examples/c-flash", "com.clipshot.examples.c-flash", "c.flash"),
    ] {
        let archive = pack(dir, work.path());
        let r = api
            .post(&format!("/api/v1/plugins/{id}/install"), json!({"source": archive, "grant": ["screen"]}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let installed: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{installed}");
        assert_eq!(installed["node_kinds"], json!([kind]), "{installed}");
        assert_eq!(installed["status"], "running", "{installed}");
    }
    let nodes: Value = api.get("/api/v1/nodes").send().await.unwrap().json().await.unwrap();
    let kind = nodes.as_array().unwrap().iter().find(|n| n["kind"] == "killfeed.color").expect("listed with the nodes");
    assert!(kind["props_schema"]["properties"]["region"].is_object(), "{kind}");

    // A pipeline using all three records and saves (the default one stops:
    // two encoders are too much for two cores).
    assert!(
        api.post(&format!("/api/v1/pipelines/{pipeline}/stop"), json!({})).send().await.unwrap().status().is_success()
    );
    let graph = json!({
        "name": "killfeed",
        "nodes": [
            {"id": "src", "kind": "capture.test", "props": {"pattern": "smpte", "width": 640, "height": 360, "fps": 30}},
            {"id": "venc", "kind": "encode.h264", "props": {"keyframe_interval_s": 1.0}},
            {"id": "ring", "kind": "replay.ring", "props": {"max_seconds": 30}},
            {"id": "feed", "kind": "killfeed.color", "props": {"region": {"x": 0.0, "y": 0.0, "width": 0.14, "height": 0.6}, "color": [224, 224, 224], "tolerance": 40, "cooldown_s": 5}},
            {"id": "hud", "kind": "hud.crop", "props": {"region": {"x": 0.0, "y": 0.75, "width": 0.25, "height": 0.25}, "width": 64}},
            {"id": "flash", "kind": "c.flash", "props": {}}
        ],
        "links": [
            {"from": "src.video", "to": "venc.video"},
            {"from": "venc.video", "to": "ring.video"},
            {"from": "src.video", "to": "feed.video"},
            {"from": "src.video", "to": "hud.video"},
            {"from": "src.video", "to": "flash.video"}
        ]
    });
    let r = api.post("/api/v1/pipelines", json!({"graph": graph})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    poll("the killfeed pipeline's ring", Duration::from_secs(60), async || {
        let s: Value = api.get("/api/v1/pipelines/killfeed/stats").send().await.ok()?.json().await.ok()?;
        let filled = s["nodes"].as_array()?.iter().filter_map(|n| n["ring"]["seconds"].as_f64()).any(|x| x >= 2.0);
        filled.then_some(s)
    })
    .await;
    for id in ["com.clipshot.examples.hud-crop", "com.clipshot.examples.c-flash"] {
        let health: Value =
            api.get(&format!("/api/v1/plugins/{id}/health")).send().await.unwrap().json().await.unwrap();
        assert!(health["calls"].as_u64().unwrap() > 0 && health["errors"] == 0, "{id} ran: {health}");
    }
    let r = api.post("/api/v1/pipelines/killfeed/replay/save", json!({"seconds": 2})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let health: Value =
        api.get(&format!("/api/v1/plugins/{KILLFEED}/health")).send().await.unwrap().json().await.unwrap();
    assert!(health["calls"].as_u64().unwrap() > 0, "the node ran: {health}");
    assert_eq!(health["nodes"][0]["pipeline"], "killfeed", "{health}");
    // (The test pattern's white bar is the "kill feed" colour here.)
    assert!(health["nodes"][0]["stats"]["detections"].as_u64().unwrap() >= 1, "{health}");
    let r = api.delete(&format!("/api/v1/plugins/{KILLFEED}")).send().await.unwrap();
    assert_eq!(r.status(), 409, "in use");

    // One byte of the installed binary changes: the reload is refused, naming the hash.
    let lib = plugins_dir.join(KILLFEED).join("lib/libclipshot_plugin_killfeed.so");
    let mut bytes = std::fs::read(&lib).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x55;
    std::fs::write(&lib, &bytes).unwrap();
    let r = api.post(&format!("/api/v1/plugins/{KILLFEED}/reload"), json!({})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with("/plugin-hash"), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("SHA-256"), "{problem}");
    let system = api.get("/api/v1/system/health").send().await.unwrap();
    assert_eq!(system.status(), 200);
    let stats: Value = api.get("/api/v1/pipelines/killfeed/stats").send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["state"], "running", "the pipeline records on, its plugin node bypassed: {stats}");
    let r = api.post("/api/v1/pipelines/killfeed/replay/save", json!({"seconds": 2})).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

/// A static file server on loopback: the marketplace's index and archives.
async fn serve(dir: PathBuf) -> u16 {
    let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(dir));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

fn sha256(path: &Path) -> String {
    clipshot_runtime::plugin::library::sha256_file(path).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_marketplace_installs_from_an_index_and_refuses_tampered_and_escaping_archives() {
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let good = pack("plugins/examples/hud-crop", &site);

    // An archive whose bytes differ from what the index promises.
    let tampered = site.join("tampered.tar.gz");
    std::fs::copy(&good, &tampered).unwrap();
    let promised = sha256(&good);
    let mut bytes = std::fs::read(&tampered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();

    // An archive (honestly hashed) with a path that leaves the plugin folder.
    let escape = site.join("escape.tar.gz");
    {
        let file = std::fs::File::create(&escape).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
        let mut h = tar::Header::new_gnu();
        let data = b"{}";
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        let name = b"../../../escaped.json";
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    let release = |archive: &Path, sha: &str| json!({"version": "0.1.0", "archive_url": archive.file_name().unwrap().to_str().unwrap(), "sha256": sha, "engines": {"clipshot": ">=0.1.0"}});
    let index = json!({"plugins": [
        {"id": "com.clipshot.examples.hud-crop", "name": "HUD crop", "category": "preprocessing",
         "description": {"en": "Crops a HUD region for inference"}, "versions": [release(&good, &promised),
            {"version": "9.0.0", "archive_url": "never.tar.gz", "sha256": promised, "engines": {"clipshot": ">=9"}}]},
        {"id": "com.clipshot.tests.tampered", "name": "Tampered", "category": "testing", "versions": [release(&tampered, &promised)]},
        {"id": "com.clipshot.tests.escape", "name": "Escape", "category": "testing", "versions": [release(&escape, &sha256(&escape))]}
    ]});
    std::fs::write(site.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let port = serve(site.clone()).await;
    let url = format!("http://127.0.0.1:{port}/index.json");
    let daemon = Daemon::start(&[("CLIPSHOT_MARKETPLACE_URL", &url)]);
    let api = Api::new(&daemon);

    let found: Value = api.get("/api/v1/marketplace?q=hud").send().await.unwrap().json().await.unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["latest_compatible"], "0.1.0", "the 9.0.0 release needs a newer engine: {found}");
    let testing: Value = api.get("/api/v1/marketplace?category=testing").send().await.unwrap().json().await.unwrap();
    assert_eq!(testing.as_array().unwrap().len(), 2, "{testing}");

    let r = api
        .post("/api/v1/marketplace/com.clipshot.examples.hud-crop/install", json!({"grant": ["screen"]}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let info: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["node_kinds"], json!(["hud.crop"]), "{info}");
    let entry: Value =
        api.get("/api/v1/marketplace/com.clipshot.examples.hud-crop").send().await.unwrap().json().await.unwrap();
    assert_eq!(entry["installed_version"], "0.1.0", "{entry}");
    let r = api
        .post("/api/v1/marketplace/com.clipshot.examples.hud-crop/install", json!({"version": "9.0.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "an incompatible release");

    let r = api.post("/api/v1/marketplace/com.clipshot.tests.tampered/install", json!({})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with("/plugin-hash"), "{problem}");

    let r = api.post("/api/v1/marketplace/com.clipshot.tests.escape/install", json!({})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with("/plugin-archive"), "{problem}");
    assert!(!work.path().join("escaped.json").exists() && !daemon.data_dir.path().join("escaped.json").exists());

    let list: Value = api.get("/api/v1/plugins").send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, ["com.clipshot.examples.hud-crop"], "nothing else was installed");
}
