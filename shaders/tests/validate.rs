//! Shaders are code: every WGSL file in `shaders/` parses and validates with naga,
//! no GPU needed.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use std::path::Path;

fn validate(name: &str, source: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    Validator::new(ValidationFlags::all(), Capabilities::default())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(source)));
    module
}

#[test]
fn every_wgsl_file_is_embedded_and_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = clipshot_shaders::ALL.iter().map(|(n, _)| (*n).to_owned()).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded, "every shader file is listed in clipshot_shaders::ALL");
    for (name, source) in clipshot_shaders::ALL {
        validate(name, source);
    }
}

#[test]
fn preprocess_has_the_entry_point_the_adapter_dispatches() {
    let module = validate("preprocess.wgsl", clipshot_shaders::PREPROCESS);
    let entry = module.entry_points.iter().find(|e| e.name == "main").expect("entry point `main`");
    assert_eq!(entry.stage, naga::ShaderStage::Compute);
    assert_eq!(entry.workgroup_size, [8, 8, 1]);
}

#[test]
fn a_broken_shader_is_caught() {
    let broken = clipshot_shaders::PREPROCESS.replace("dst[i] = norm.x;", "dst[i] = norm.q;");
    assert_ne!(broken, clipshot_shaders::PREPROCESS, "the test must break something");
    let module = naga::front::wgsl::parse_str(&broken);
    let invalid = match module {
        Err(_) => true,
        Ok(m) => Validator::new(ValidationFlags::all(), Capabilities::default()).validate(&m).is_err(),
    };
    assert!(invalid);
}

#[test]
fn motion_has_the_entry_point_the_adapter_dispatches() {
    let module = validate("motion.wgsl", clipshot_shaders::MOTION);
    let entry = module.entry_points.iter().find(|e| e.name == "main").expect("entry point `main`");
    assert_eq!(entry.stage, naga::ShaderStage::Compute);
    assert_eq!(entry.workgroup_size, [256, 1, 1]);
}
