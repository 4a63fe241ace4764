//! The engine core stays free of the media stacks: it must build and be
//! tested where GStreamer, wgpu and ONNX Runtime are absent.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

#[test]
fn the_core_depends_on_no_gstreamer_wgpu_or_ort() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let deps: HashMap<&str, Vec<&str>> = nodes
        .iter()
        .map(|n| {
            let id = n["id"].as_str().unwrap();
            // Normal (non-dev, non-build) dependencies only: what ships in the crate.
            let normal = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
                .map(|d| d["pkg"].as_str().unwrap())
                .collect();
            (id, normal)
        })
        .collect();
    let name_of: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let core = name_of.iter().find(|(_, n)| **n == "clipshot-core").map(|(id, _)| *id).unwrap();
    let mut seen = BTreeSet::new();
    let mut stack = vec![core];
    while let Some(id) = stack.pop() {
        if seen.insert(name_of[id]) {
            stack.extend(deps.get(id).into_iter().flatten().copied());
        }
    }
    let forbidden: Vec<&&str> = seen
        .iter()
        .filter(|n| n.starts_with("gstreamer") || n.starts_with("wgpu") || n.starts_with("ort") || **n == "glib")
        .collect();
    assert!(forbidden.is_empty(), "clipshot-core pulls in {forbidden:?}");
    assert!(seen.contains("serde"), "the walk found the core's real dependencies: {seen:?}");
}
