//! `model.json`: what a model is, where it came from, and what it takes and
//! gives. Loading checks everything it can without ONNX Runtime (the file,
//! its hash, the labels) and reports every problem at once; opening a
//! session checks the declared inputs and outputs against the graph.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a model does; the routes filter on it (`?type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Task {
    AudioTags,
    TextDetect,
    TextRecognise,
    Vad,
    Highlight,
    Classify,
    Detect,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::AudioTags => "audio-tags",
            Task::TextDetect => "text-detect",
            Task::TextRecognise => "text-recognise",
            Task::Vad => "vad",
            Task::Highlight => "highlight",
            Task::Classify => "classify",
            Task::Detect => "detect",
        }
    }

    /// What the model takes in, for `?capability=`: `audio` or `image`.
    pub fn capability(self) -> &'static str {
        match self {
            Task::AudioTags | Task::Vad => "audio",
            Task::TextDetect | Task::TextRecognise | Task::Classify | Task::Detect => "image",
            Task::Highlight => "features",
        }
    }
}

/// A dimension: fixed, or named (dynamic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Dim {
    Fixed(i64),
    Named(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Named(s) => f.write_str(s),
        }
    }
}

/// One input or output of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<Dim>,
    /// `float32`, `int64`…
    pub dtype: String,
    /// How to prepare the input (sample rate, layout, mean/std…), as the
    /// node that feeds this model reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub preprocessing: Option<serde_json::Value>,
    /// What the graph's last layer already applied (`sigmoid`, `softmax`):
    /// never apply it twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
}

/// The registry package a model file comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    /// `crates.io` or `pypi`.
    pub registry: String,
    pub package: String,
    pub version: String,
    /// The file inside the package.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_column: Option<String>,
}

/// Where a model's class names are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelsSpec {
    /// A text file beside the manifest, one label per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Or a key of the model's own metadata (read when a session opens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    pub count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// A model manifest, as written in `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    pub task: Task,
    #[serde(default)]
    pub description: String,
    /// The ONNX file, relative to the manifest.
    pub file: String,
    pub sha256: String,
    pub licence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelsSpec>,
    /// Default thresholds by name (`default` at least), which profiles override.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
}

/// A manifest whose file is present and verified.
#[derive(Debug, Clone)]
pub struct Model {
    pub manifest: Manifest,
    pub dir: PathBuf,
    /// Class names from a labels file; metadata labels arrive with the session.
    pub labels: Vec<String>,
}

impl Model {
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.manifest.file)
    }
}

/// Everything wrong with one manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", .manifest.display(), .problems.join("; "))]
pub struct ManifestError {
    pub manifest: PathBuf,
    /// The model's id, when the manifest could be read that far.
    pub id: Option<String>,
    pub problems: Vec<String>,
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
}

/// The SHA-256 of a file, hex, read in chunks.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A file name that stays inside the model's folder.
fn inside(dir: &Path, name: &str) -> Option<PathBuf> {
    let rel = Path::new(name);
    let plain = rel.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    plain.then(|| dir.join(rel))
}

/// Reads and checks `model.json` at `path`: every problem in one error.
pub fn load(path: &Path) -> Result<Model, ManifestError> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
    let fail = |id: Option<String>, problems: Vec<String>| ManifestError { manifest: path.to_owned(), id, problems };
    let text = std::fs::read_to_string(path).map_err(|e| fail(None, vec![format!("cannot read it: {e}")]))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| fail(None, vec![format!("not a model manifest: {e}")]))?;
    let mut problems = Vec::new();
    if !is_id(&manifest.id) {
        problems.push(format!("`id` {:?} must be lowercase letters, digits, `-`, `_` or `.`", manifest.id));
    }
    if manifest.inputs.is_empty() {
        problems.push("`inputs` is empty".into());
    }
    if manifest.outputs.is_empty() {
        problems.push("`outputs` is empty".into());
    }
    for (i, t) in manifest.inputs.iter().chain(&manifest.outputs).enumerate() {
        if t.name.is_empty() {
            problems.push(format!("tensor #{i} has no name"));
        }
        if !matches!(t.dtype.as_str(), "float32" | "float16" | "int64" | "int32" | "uint8" | "bool") {
            problems.push(format!("tensor `{}`: unknown dtype `{}`", t.name, t.dtype));
        }
    }
    if manifest.sha256.len() != 64 || !manifest.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        problems.push("`sha256` must be 64 hex digits".into());
    }
    match inside(&dir, &manifest.file) {
        None => problems.push(format!("`file` {:?} must be a name inside the model's folder", manifest.file)),
        Some(file) => match file_sha256(&file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems
                .push(format!("the model file {} is missing (`make models` fetches the shipped ones)", file.display())),
            Err(e) => problems.push(format!("cannot read {}: {e}", file.display())),
            Ok(hash) if !hash.eq_ignore_ascii_case(&manifest.sha256) => problems.push(format!(
                "{} has sha256 {hash}, the manifest says {}: a different or damaged file",
                file.display(),
                manifest.sha256
            )),
            Ok(_) => {}
        },
    }
    let mut labels = Vec::new();
    if let Some(spec) = &manifest.labels {
        match (&spec.file, &spec.metadata) {
            (Some(name), None) => match inside(&dir, name).map(std::fs::read_to_string) {
                None => problems.push(format!("`labels.file` {name:?} must be a name inside the model's folder")),
                Some(Err(e)) => problems.push(format!("cannot read the labels {name}: {e}")),
                Some(Ok(text)) => {
                    labels = text.lines().map(str::to_owned).collect();
                    if labels.len() != spec.count {
                        problems.push(format!(
                            "{name} has {} labels, `labels.count` says {}",
                            labels.len(),
                            spec.count
                        ));
                    }
                }
            },
            (None, Some(_)) => {}
            _ => problems.push("`labels` takes one of `file` and `metadata`".into()),
        }
    }
    if problems.is_empty() { Ok(Model { manifest, dir, labels }) } else { Err(fail(Some(manifest.id), problems)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, manifest: serde_json::Value) -> PathBuf {
        let path = dir.join("model.json");
        std::fs::write(&path, manifest.to_string()).unwrap();
        path
    }

    fn manifest(sha: &str) -> serde_json::Value {
        serde_json::json!({
            "id": "tiny", "name": "Tiny", "version": "1", "task": "classify", "file": "model.onnx",
            "sha256": sha, "licence": "MIT",
            "inputs": [{ "name": "x", "shape": ["batch", 4], "dtype": "float32" }],
            "outputs": [{ "name": "y", "shape": ["batch", 2], "dtype": "float32", "activation": "softmax" }],
            "labels": { "file": "labels.txt", "count": 2 },
            "thresholds": { "default": 0.5 }
        })
    }

    #[test]
    fn a_good_manifest_loads_with_its_labels() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.onnx"), b"graph").unwrap();
        std::fs::write(dir.path().join("labels.txt"), "yes\nno\n").unwrap();
        let sha = file_sha256(&dir.path().join("model.onnx")).unwrap();
        let model = load(&write(dir.path(), manifest(&sha))).unwrap();
        assert_eq!(model.labels, ["yes", "no"]);
        assert_eq!(model.manifest.task, Task::Classify);
        assert_eq!(model.manifest.inputs[0].shape, [Dim::Named("batch".into()), Dim::Fixed(4)]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("labels.txt"), "only one\n").unwrap();
        let mut m = manifest(&"0".repeat(64));
        m["id"] = "Not An Id".into();
        m["outputs"][0]["dtype"] = "float99".into();
        let err = load(&write(dir.path(), m)).unwrap_err();
        assert_eq!(err.id.as_deref(), Some("Not An Id"));
        let text = err.problems.join("\n");
        assert_eq!(err.problems.len(), 4, "{text}");
        assert!(
            text.contains("`id`")
                && text.contains("float99")
                && text.contains("is missing")
                && text.contains("1 labels")
        );
    }

    #[test]
    fn a_hash_mismatch_and_an_escaping_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.onnx"), b"graph").unwrap();
        std::fs::write(dir.path().join("labels.txt"), "a\nb\n").unwrap();
        let err = load(&write(dir.path(), manifest(&"0".repeat(64)))).unwrap_err();
        assert!(err.problems[0].contains("a different or damaged file"), "{err}");
        let mut m = manifest(&"0".repeat(64));
        m["file"] = "../model.onnx".into();
        let err = load(&write(dir.path(), m)).unwrap_err();
        assert!(err.problems[0].contains("inside the model's folder"), "{err}");
        let err = load(&write(dir.path(), serde_json::json!({"id": "x"}))).unwrap_err();
        assert!(err.problems[0].contains("not a model manifest"), "{err}");
    }
}
