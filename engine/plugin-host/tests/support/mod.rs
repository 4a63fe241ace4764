//! Builds the plugins the tests load: the Rust examples and fixtures with
//! cargo (in a target folder of their own: the one running the tests is
//! locked), the C ones with `cc`; and lays out plugin folders.

#![allow(dead_code)]

use clipshot_core::event::{Event, EventSink};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Where the tests' plugin builds go.
pub fn plugin_target() -> PathBuf {
    workspace().join("target/plugin-build")
}

/// The release folder holding `libclipshot_plugin_{faulty,killfeed,hud_crop}.so`.
pub fn rust_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace())
            .args(["build", "--release", "--locked", "--target-dir"])
            .arg(plugin_target())
            .args(["-p", "clipshot-plugin-faulty", "-p", "clipshot-plugin-killfeed", "-p", "clipshot-plugin-hud-crop"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the test plugins failed");
        plugin_target().join("release")
    })
}

/// Compiles a C plugin into `out_dir`.
pub fn c_plugin(source: &Path, out_dir: &Path, name: &str) -> PathBuf {
    let out = out_dir.join(name);
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Werror", "-I"])
        .arg(workspace().join("plugins/sdk/include"))
        .arg(source)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("cc runs");
    assert!(status.success(), "cc {} failed", source.display());
    out
}

pub fn sha256(path: &Path) -> String {
    clipshot_plugin_host::library::sha256_file(path).unwrap()
}

/// A manifest for a plugin with one library, hash filled in.
pub fn manifest(id: &str, lib_name: &str, sha256: &str) -> Value {
    json!({
        "id": id,
        "name": id,
        "version": "1.0.0",
        "api_version": "v1",
        "type": "optional",
        "category": "testing",
        "description": {"en": "a test plugin"},
        "author": {"name": "tests"},
        "license": "MIT",
        "platforms": ["linux"],
        "engines": {"clipshot": ">=0.1.0"},
        "native": {"abi_version": 1, "binaries": {"linux-x64": {"path": format!("lib/{lib_name}"), "sha256": sha256}}}
    })
}

/// Lays out `<plugins_dir>/<folder>/` with `manifest` and the library.
pub fn install_folder(plugins_dir: &Path, folder: &str, manifest: &Value, library: &Path) -> PathBuf {
    let dir = plugins_dir.join(folder);
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let path = manifest["native"]["binaries"]["linux-x64"]["path"].as_str().unwrap();
    std::fs::copy(library, dir.join(path)).unwrap();
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
    dir
}

/// Every event the manager and its plugins emit.
#[derive(Debug, Default)]
pub struct Events(pub Mutex<Vec<Event>>);

impl EventSink for Events {
    fn emit(&self, event: Event) {
        self.0.lock().push(event);
    }
}

impl Events {
    pub fn crashes(&self) -> Vec<String> {
        self.0
            .lock()
            .iter()
            .filter_map(|e| match e {
                Event::PluginCrashed { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}

pub fn events() -> Arc<Events> {
    Arc::new(Events::default())
}
