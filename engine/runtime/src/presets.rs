//! The pipeline presets shipped in `pipelines/`, compiled into the binary so an
//! installed daemon has them; a path to a TOML file works wherever a name does.

use clipshot_core::GraphSpec;
use std::path::Path;

pub const PRESETS: &[(&str, &str)] = &[
    ("instant-replay", include_str!("../../../pipelines/instant-replay.toml")),
    ("test-pattern", include_str!("../../../pipelines/test-pattern.toml")),
    ("session-recording", include_str!("../../../pipelines/session-recording.toml")),
    ("highlights", include_str!("../../../pipelines/highlights.toml")),
];

/// The fallback on machines without a display.
pub const HEADLESS_PRESET: &str = "test-pattern";

#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error(
        "no preset named `{0}` (presets: instant-replay, test-pattern, session-recording, highlights) and no such file"
    )]
    Unknown(String),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: String, source: clipshot_core::ParseError },
}

/// A preset by name, or a graph file by path.
pub fn load(name_or_path: &str) -> Result<GraphSpec, PresetError> {
    if let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == name_or_path) {
        return GraphSpec::from_toml(text).map_err(|source| PresetError::Parse { path: name_or_path.into(), source });
    }
    let path = Path::new(name_or_path);
    if !path.exists() {
        return Err(PresetError::Unknown(name_or_path.to_owned()));
    }
    let text =
        std::fs::read_to_string(path).map_err(|source| PresetError::Read { path: name_or_path.into(), source })?;
    GraphSpec::from_toml(&text).map_err(|source| PresetError::Parse { path: name_or_path.into(), source })
}
