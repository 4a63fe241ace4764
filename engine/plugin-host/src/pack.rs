//! `clipshot plugins pack DIR --out OUTDIR`: builds a plugin in release and
//! writes the installable archive — the manifest with each binary's SHA-256
//! filled in, the binary at its manifest path, `locales/` and `README.md`.
//!
//! A folder with a `Cargo.toml` is built with cargo (the cdylib is found in
//! cargo's own build report, wherever the target folder is); one with a
//! `Makefile` (a C or C++ plugin) with `make`, the library then being the
//! manifest path's file name in the folder or the manifest path itself.

use crate::archive;
use crate::library::sha256_file;
use crate::manifest::{self, Manifest, ParseMode};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error("the manifest has no binary for this platform ({0})")]
    NoBinary(String),
    #[error("{0} has neither a Cargo.toml nor a Makefile: nothing to build")]
    NoBuild(PathBuf),
    #[error("the build failed: {0}")]
    Build(String),
    #[error("{0}")]
    Io(String),
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Cargo's target folder (cargo's default when `None`).
    pub target_dir: Option<PathBuf>,
    /// Show the build's output (a terminal); tests keep it quiet.
    pub verbose: bool,
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> PackError {
    move |e| PackError::Io(format!("{what}: {e}"))
}

/// The cdylib cargo built for the package in `dir`.
fn cargo_build(dir: &Path, options: &PackOptions) -> Result<PathBuf, PackError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .stderr(if options.verbose { Stdio::inherit() } else { Stdio::piped() });
    if let Some(target) = &options.target_dir {
        cmd.arg("--target-dir").arg(target);
    }
    let output = cmd.output().map_err(io("cannot run cargo"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(PackError::Build(tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
    }
    let package = std::fs::canonicalize(dir.join("Cargo.toml")).map_err(io(dir.display()))?;
    let mut found = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact"
            || !msg["target"]["crate_types"].as_array().is_some_and(|t| t.iter().any(|t| t == "cdylib"))
        {
            continue;
        }
        let manifest_path = msg["manifest_path"].as_str().map(PathBuf::from);
        if manifest_path.and_then(|p| std::fs::canonicalize(p).ok()) != Some(package.clone()) {
            continue;
        }
        let dylib = msg["filenames"].as_array().and_then(|files| {
            files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".so") || f.ends_with(".dll") || f.ends_with(".dylib"))
        });
        found = dylib.map(PathBuf::from);
    }
    found.ok_or_else(|| {
        PackError::Build("cargo built no cdylib for this package (set `crate-type = [\"cdylib\"]`)".into())
    })
}

fn make_build(dir: &Path, binary: &str, options: &PackOptions) -> Result<PathBuf, PackError> {
    let output = Command::new("make")
        .arg("-C")
        .arg(dir)
        // make's chatter goes to stderr: stdout is the archive's path alone.
        .stdout(if options.verbose { Stdio::from(std::io::stderr()) } else { Stdio::piped() })
        .stderr(if options.verbose { Stdio::inherit() } else { Stdio::piped() })
        .output()
        .map_err(io("cannot run make"))?;
    if !output.status.success() {
        return Err(PackError::Build(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    let at_path = dir.join(binary);
    let name = Path::new(binary).file_name().map(|n| dir.join(n));
    [Some(at_path), name]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .ok_or_else(|| PackError::Build(format!("make built no {binary}")))
}

/// Builds the plugin in `dir` and writes `<out_dir>/<id>-<version>.tar.gz`.
pub fn pack(dir: &Path, out_dir: &Path, options: &PackOptions) -> Result<PathBuf, PackError> {
    let manifest = Manifest::load_with(dir, ParseMode::Unpacked)?;
    let platform = manifest::current_platform();
    let binary =
        manifest.native.binaries.get(platform).ok_or_else(|| PackError::NoBinary(platform.to_owned()))?.clone();
    let built = if dir.join("Cargo.toml").is_file() {
        cargo_build(dir, options)?
    } else if dir.join("Makefile").is_file() {
        make_build(dir, &binary.path, options)?
    } else {
        return Err(PackError::NoBuild(dir.to_owned()));
    };
    let sha256 = sha256_file(&built).map_err(io(built.display()))?;

    // The manifest as written, with this platform's hash filled in.
    let text = std::fs::read_to_string(dir.join(manifest::MANIFEST_FILE)).map_err(io("manifest.json"))?;
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| PackError::Io(e.to_string()))?;
    json["native"]["binaries"][platform]["sha256"] = sha256.into();
    std::fs::create_dir_all(out_dir).map_err(io(out_dir.display()))?;
    let staged = out_dir.join(format!(".{}.manifest.json", manifest.id));
    std::fs::write(&staged, serde_json::to_vec_pretty(&json).expect("JSON serializes"))
        .map_err(io(staged.display()))?;

    let mut files = vec![(staged.clone(), manifest::MANIFEST_FILE.to_owned()), (built, binary.path.clone())];
    for extra in ["README.md", "LICENSE"] {
        if dir.join(extra).is_file() {
            files.push((dir.join(extra), extra.to_owned()));
        }
    }
    if let Ok(locales) = std::fs::read_dir(dir.join(manifest::LOCALES_DIR)) {
        let mut locales: Vec<PathBuf> = locales
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        locales.sort();
        for path in locales {
            let name = path.file_name().expect("a file").to_string_lossy().into_owned();
            files.push((path, format!("{}/{name}", manifest::LOCALES_DIR)));
        }
    }
    let out = out_dir.join(format!("{}-{}.tar.gz", manifest.id, manifest.version));
    let written = archive::pack(&files, &out).map_err(io(out.display()));
    let _ = std::fs::remove_file(&staged);
    written?;
    Ok(out)
}
