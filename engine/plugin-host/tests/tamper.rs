//! A binary changed after packing is refused before it is opened: its
//! load-time constructor never runs (this file is its own test binary, so
//! the marker variable it sets is seen by nothing else).

mod support;

use clipshot_plugin_host::manager::ManagerConfig;
use clipshot_plugin_host::sandbox::HostCommand;
use clipshot_plugin_host::{Isolation, PluginManager, Policy};
use std::sync::Arc;

const ID: &str = "com.clipshot.tests.constructor";

#[test]
fn a_tampered_binary_is_refused_before_it_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("constructor-ran");
    // SAFETY: set before any other thread of this test binary exists.
    unsafe { std::env::set_var("CLIPSHOT_TEST_MARKER", &marker) };
    let lib = support::c_plugin(&support::workspace().join("plugins/fixtures/constructor.c"), dir.path(), "libctor.so");
    let manifest = support::manifest(ID, "libctor.so", &support::sha256(&lib));
    let folder = support::install_folder(&dir.path().join("plugins"), "ctor", &manifest, &lib);
    let config = |isolation| ManagerConfig {
        plugins_dir: dir.path().join("plugins"),
        state_dir: dir.path().join("state"),
        isolation,
        host: HostCommand { program: env!("CARGO_BIN_EXE_clipshot-plugin-host").into(), args: Vec::new() },
        policy: Policy::default(),
        memory_bytes: None,
        engine_version: semver::Version::new(0, 1, 0),
    };

    // One byte changes in the installed binary.
    let installed = folder.join("lib/libctor.so");
    let mut bytes = std::fs::read(&installed).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0xff;
    std::fs::write(&installed, &bytes).unwrap();
    for isolation in [Isolation::OutOfProcess, Isolation::InProcess] {
        let manager = PluginManager::new(config(isolation), Arc::new(support::Events::default()));
        let err = manager.load(ID).unwrap_err();
        assert_eq!(err.code(), "hash", "{err}");
        assert!(err.to_string().contains("SHA-256"), "{err}");
        assert!(!marker.exists(), "the tampered library was opened ({isolation:?})");
        let info = manager.info(ID).unwrap();
        assert_eq!(info.error.as_ref().map(|e| e.code.as_str()), Some("hash"), "{info:?}");
    }
    // No private copy of the tampered bytes is left to be opened later.
    let cache = dir.path().join("state/cache");
    let leftovers = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "a copy of refused bytes stays in {}", cache.display());

    // The genuine bytes load (in a host process), and the constructor runs
    // there: the fixture would have told had the tampered one been opened.
    bytes[i] ^= 0xff;
    std::fs::write(&installed, &bytes).unwrap();
    let manager = PluginManager::new(config(Isolation::OutOfProcess), Arc::new(support::Events::default()));
    manager.load(ID).expect("the genuine library loads");
    assert!(marker.exists(), "the fixture's constructor did not run");
    manager.shutdown();
}
