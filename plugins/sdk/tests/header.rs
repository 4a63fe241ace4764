//! The C header is generated from `src/abi.rs`: these tests keep the
//! checked-in `include/clipshot_plugin.h` equal to what cbindgen makes of it,
//! and check that the C sources written against it still compile.

use std::path::{Path, PathBuf};
use std::process::Command;

const HEADER: &str = "include/clipshot_plugin.h";

fn sdk_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let mut config = cbindgen::Config::from_file(sdk_dir().join("cbindgen.toml")).expect("cbindgen.toml");
    // Values cbindgen cannot take from abi.rs (a `&str` constant) or that
    // live in Cargo.toml: written from the crate itself so they cannot drift.
    let extra = format!(
        "/* The symbol a plugin library exports (a CsEntryFn). */\n\
         #define CS_ENTRY_SYMBOL \"{}\"\n\
         /* The SDK version this header belongs to (CsPlugin.sdk_version of a C plugin). */\n\
         #define CLIPSHOT_SDK_VERSION \"{}\"",
        clipshot_plugin_sdk::abi::CS_ENTRY_SYMBOL,
        env!("CARGO_PKG_VERSION")
    );
    config.after_includes = Some(match config.after_includes.take() {
        Some(text) => format!("{text}\n{extra}"),
        None => extra,
    });
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(sdk_dir().join("src/abi.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen wrote UTF-8")
}

#[test]
fn header_matches_abi() {
    let generated = generate();
    let path = sdk_dir().join(HEADER);
    if std::env::var("CLIPSHOT_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    // Compare line by line so a checkout with CRLF endings does not fail.
    let same = current.lines().eq(generated.lines());
    assert!(
        same,
        "{} is out of date with src/abi.rs; regenerate it with\n  \
         CLIPSHOT_BLESS=1 cargo test -p clipshot-plugin-sdk --test header\n\
         --- generated ---\n{generated}",
        path.display()
    );
}

/// Where `cc` is, or `None` (with a note) when the machine has no C compiler.
fn c_compiler() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    match Command::new(&cc).arg("--version").output() {
        Ok(out) if out.status.success() => Some(cc),
        _ => {
            println!("note: no C compiler (`{cc}`), skipping the C syntax check");
            None
        }
    }
}

#[test]
fn c_sources_compile_against_header() {
    let Some(cc) = c_compiler() else { return };
    let plugins: PathBuf = sdk_dir().parent().expect("plugins/").to_path_buf();
    let sources = [
        plugins.join("examples/c-flash/flash.c"),
        plugins.join("fixtures/constructor.c"),
        plugins.join("fixtures/abi999.c"),
    ];
    for source in &sources {
        let out = Command::new(&cc)
            .args(["-fsyntax-only", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(sdk_dir().join("include"))
            .arg(source)
            .output()
            .expect("run the C compiler");
        assert!(
            out.status.success(),
            "{} does not compile against {HEADER}:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
