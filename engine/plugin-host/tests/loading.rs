//! Loading refuses what it must and names why (ABI, permission, identity,
//! archive); the examples pack, install, load and run.

mod support;

use clipshot_core::PixelFormat;
use clipshot_core::event::Event;
use clipshot_core::processor::{Input, Output, Outputs, ProcessorContext, ProcessorKind, VideoFrame};
use clipshot_plugin_host::manager::ManagerConfig;
use clipshot_plugin_host::manifest::Permission;
use clipshot_plugin_host::pack::{PackOptions, pack};
use clipshot_plugin_host::sandbox::HostCommand;
use clipshot_plugin_host::{Isolation, PluginKind, PluginManager, Policy};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn manager(dir: &Path, isolation: Isolation) -> PluginManager {
    let config = ManagerConfig {
        plugins_dir: dir.join("plugins"),
        state_dir: dir.join("state"),
        isolation,
        host: HostCommand { program: env!("CARGO_BIN_EXE_clipshot-plugin-host").into(), args: Vec::new() },
        policy: Policy::default(),
        memory_bytes: None,
        engine_version: semver::Version::new(0, 1, 0),
    };
    PluginManager::new(config, Arc::new(support::Events::default()))
}

fn ctx() -> ProcessorContext {
    ProcessorContext {
        pipeline: "main".into(),
        node: "n".into(),
        data_dir: std::env::temp_dir(),
        inputs: vec!["video".into()],
    }
}

#[test]
fn a_library_built_for_another_abi_is_refused_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let lib = support::c_plugin(&support::workspace().join("plugins/fixtures/abi999.c"), dir.path(), "libabi.so");
    let id = "com.clipshot.tests.abi999";
    support::install_folder(
        &dir.path().join("plugins"),
        "abi",
        &support::manifest(id, "libabi.so", &support::sha256(&lib)),
        &lib,
    );
    for isolation in [Isolation::OutOfProcess, Isolation::InProcess] {
        let err = manager(dir.path(), isolation).load(id).unwrap_err();
        assert_eq!(err.code(), "abi", "{err}");
        assert!(err.to_string().contains("ABI 999"), "{err}");
    }
}

#[test]
fn a_library_that_is_another_plugin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lib = support::rust_plugins().join("libclipshot_plugin_faulty.so");
    let id = "com.clipshot.tests.impostor";
    let manifest = support::manifest(id, "libclipshot_plugin_faulty.so", &support::sha256(&lib));
    support::install_folder(&dir.path().join("plugins"), "impostor", &manifest, &lib);
    let err = manager(dir.path(), Isolation::OutOfProcess).load(id).unwrap_err();
    assert_eq!(err.code(), "identity", "{err}");
}

/// Packs an example into `dir/out` (a release build in the tests' own target folder).
fn packed(example: &str, dir: &Path) -> std::path::PathBuf {
    let options = PackOptions { target_dir: Some(support::plugin_target()), verbose: false };
    pack(&support::workspace().join("plugins/examples").join(example), &dir.join("out"), &options).expect("packs")
}

fn kind_of(kinds: &[Arc<PluginKind>], name: &str) -> Arc<PluginKind> {
    Arc::clone(kinds.iter().find(|k| k.descriptor_kind() == name).expect("the kind is there"))
}

#[test]
fn the_killfeed_example_packs_installs_asks_for_its_permission_and_detects() {
    let dir = tempfile::tempdir().unwrap();
    let archive = packed("killfeed", dir.path());
    let id = "com.clipshot.examples.killfeed";
    let m = manager(dir.path(), Isolation::OutOfProcess);

    // Installed without the screen permission: it cannot load, and says so.
    let info = m.install(&archive, Some(id), &[]).unwrap();
    assert_eq!(info.version, "0.1.0");
    let err = m.load(id).unwrap_err();
    assert_eq!(err.code(), "permission", "{err}");
    assert!(err.to_string().contains("screen"), "{err}");

    let states = m.set_permissions(id, &[(Permission::Screen, true)].into()).unwrap();
    assert!(states[&Permission::Screen].granted);
    let kinds = m.load(id).unwrap();
    let kind = kind_of(&kinds, "killfeed.color");
    let props = json!({"region": {"x": 0.5, "y": 0.0, "width": 0.5, "height": 0.5}, "color": [255, 0, 0]});
    let mut setup = ProcessorKind::create(kind.as_ref(), props.as_object().unwrap(), &ctx()).unwrap();

    // A frame whose top-right quarter is the kill-feed red.
    let (w, h) = (setup.video.width.unwrap_or(640), 360u32);
    let mut data = vec![0u8; (w * h * 4) as usize];
    for y in 0..h / 2 {
        for x in w / 2..w {
            let i = ((y * w + x) * 4) as usize;
            data[i..i + 4].copy_from_slice(&[255, 0, 0, 255]);
        }
    }
    let mut out = Outputs::default();
    let input = Input::Video(VideoFrame {
        format: PixelFormat::Rgba,
        width: w,
        height: h,
        stride: w * 4,
        data: &data,
        pts_ns: 5_000_000_000,
    });
    setup.processor.process("video", input, &mut out).unwrap();
    let outputs: Vec<Output> = out.drain().collect();
    assert!(outputs.iter().any(|o| matches!(o, Output::Marker { at_ns: 5_000_000_000, .. })), "{outputs:?}");
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::HighlightDetected { pipeline, .. }) if pipeline == "main")),
        "{outputs:?}"
    );
    assert!(outputs.iter().any(|o| matches!(o, Output::Tensor { pad, .. } if pad == "score")), "{outputs:?}");
    m.shutdown();
}

#[test]
fn the_hud_crop_and_c_examples_run_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path(), Isolation::InProcess);
    let archive = packed("hud-crop", dir.path());
    m.install(&archive, Some("com.clipshot.examples.hud-crop"), &[Permission::Screen]).unwrap();
    let kinds = m.load("com.clipshot.examples.hud-crop").unwrap();
    let kind = kind_of(&kinds, "hud.crop");
    let props = json!({"region": {"x": 0.0, "y": 0.75, "width": 0.25, "height": 0.25}, "width": 32});
    let mut setup = ProcessorKind::create(kind.as_ref(), props.as_object().unwrap(), &ctx()).unwrap();
    let data = vec![128u8; 640 * 360 * 4];
    let mut out = Outputs::default();
    let input = Input::Video(VideoFrame {
        format: PixelFormat::Rgba,
        width: 640,
        height: 360,
        stride: 2560,
        data: &data,
        pts_ns: 1,
    });
    setup.processor.process("video", input, &mut out).unwrap();
    let tensor = out.drain().find_map(|o| match o {
        Output::Tensor { pad, tensor } if pad == "image" => Some(tensor),
        _ => None,
    });
    let tensor = tensor.expect("an image tensor");
    assert_eq!(tensor.shape, [1, 3, 18, 32]);
    assert!(tensor.data.iter().all(|v| (v - 128.0 / 255.0).abs() < 1e-3));

    // The C example: a flash (dark frame, then a white one) is a marker.
    let archive = packed("c-flash", dir.path());
    let info = m.install(&archive, None, &[Permission::Screen]).unwrap();
    let kinds = m.load(&info.id).unwrap();
    let kind = kind_of(&kinds, "c.flash");
    let mut setup = ProcessorKind::create(kind.as_ref(), json!({}).as_object().unwrap(), &ctx()).unwrap();
    let mut out = Outputs::default();
    for (pts, value) in [(0i64, 0u8), (1, 0), (2, 255)] {
        let data = vec![value; 320 * 180 * 4];
        let input = Input::Video(VideoFrame {
            format: PixelFormat::Rgba,
            width: 320,
            height: 180,
            stride: 1280,
            data: &data,
            pts_ns: pts,
        });
        setup.processor.process("video", input, &mut out).unwrap();
    }
    let outputs: Vec<Output> = out.drain().collect();
    assert!(outputs.iter().any(|o| matches!(o, Output::Marker { at_ns: 2, .. })), "{outputs:?}");
}

#[test]
fn archives_that_lie_or_escape_are_refused_and_install_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(dir.path(), Isolation::OutOfProcess);
    let archive = packed("killfeed", dir.path());

    // The same archive with one byte of the binary changed.
    let unpacked = dir.path().join("unpacked");
    clipshot_plugin_host::archive::extract(&archive, &unpacked, Default::default()).unwrap();
    let lib = unpacked.join("lib/libclipshot_plugin_killfeed.so");
    let mut bytes = std::fs::read(&lib).unwrap();
    let i = bytes.len() / 3;
    bytes[i] ^= 1;
    std::fs::write(&lib, bytes).unwrap();
    let files: Vec<(std::path::PathBuf, String)> = ["manifest.json", "lib/libclipshot_plugin_killfeed.so"]
        .iter()
        .map(|f| (unpacked.join(f), (*f).to_owned()))
        .collect();
    let tampered = dir.path().join("tampered.tar.gz");
    clipshot_plugin_host::archive::pack(&files, &tampered).unwrap();
    let err = m.install(&tampered, None, &[]).unwrap_err();
    assert_eq!(err.code(), "hash", "{err}");

    // An archive with a path that leaves the folder.
    let evil = dir.path().join("evil.tar.gz");
    {
        let mut b =
            tar::Builder::new(flate2::write::GzEncoder::new(std::fs::File::create(&evil).unwrap(), Default::default()));
        let mut h = tar::Header::new_gnu();
        let data = b"owned";
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        let name = b"../../escaped.txt";
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    let err = m.install(&evil, None, &[]).unwrap_err();
    assert_eq!(err.code(), "archive", "{err}");
    assert!(!dir.path().join("escaped.txt").exists());
    assert!(m.list(&Default::default()).is_empty(), "nothing was installed");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("plugins")).unwrap().collect();
    assert!(leftovers.is_empty(), "staging folders are cleaned up: {leftovers:?}");
}
