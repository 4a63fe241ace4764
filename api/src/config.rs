//! Configuration: defaults < `clipshot.toml` < `CLIPSHOT_*` variables < flags.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, the token, clips and recordings live.
    pub data_dir: PathBuf,
    /// Address the API binds. Anything but loopback exposes the daemon.
    pub host: IpAddr,
    pub port: u16,
    /// The pipeline started with the daemon: a preset name or a TOML file.
    pub pipeline: String,
    /// Where clips are saved; `<data_dir>/clips` when unset.
    pub clips_dir: Option<PathBuf>,
    /// Global hotkey that saves a clip, e.g. `Alt+F10`; empty disables it.
    pub hotkey: String,
    /// Seconds a hotkey or CLI save takes by default.
    pub clip_seconds: f64,
    /// Extra host names accepted in the `Host` header (beyond localhost).
    pub allowed_hosts: Vec<String>,
    /// Origins allowed through CORS.
    pub cors_origins: Vec<String>,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` wins when set.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            pipeline: "instant-replay".into(),
            clips_dir: None,
            hotkey: "Alt+F10".into(),
            clip_seconds: 30.0,
            allowed_hosts: Vec::new(),
            cors_origins: [
                "tauri://localhost",
                "http://tauri.localhost",
                "https://tauri.localhost",
                "http://localhost:1420",
                "http://localhost:5173",
            ]
            .map(String::from)
            .to_vec(),
            log: "info".into(),
        }
    }
}

/// `~/.local/share/clipshot` on Linux, the platform's data folder elsewhere.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("clipshot")
}

/// Values given on the command line (only those set override the rest).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Loads the layers. `file` is the config file (`clipshot.toml` in the
    /// current folder when not given; a missing default file is fine).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = file.map_or_else(|| PathBuf::from("clipshot.toml"), Path::to_owned);
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("CLIPSHOT_").ignore(&["config"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError(Box::new(e)))
    }

    pub fn clips_dir(&self) -> PathBuf {
        self.clips_dir.clone().unwrap_or_else(|| self.data_dir.join("clips"))
    }

    pub fn token_path(&self) -> PathBuf {
        self.data_dir.join("api-token")
    }
}

#[cfg(test)]
// figment's Jail fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("clipshot.toml", "port = 9000\npipeline = \"from-file\"\nhotkey = \"Ctrl+F9\"\n")?;
            jail.set_env("CLIPSHOT_PORT", "9100");
            jail.set_env("CLIPSHOT_DATA_DIR", "/tmp/from-env");
            let overrides = Overrides { data_dir: Some("/tmp/from-flag".into()), ..Overrides::default() };
            let c = Config::load(None, &overrides).map_err(|e| e.to_string())?;
            assert_eq!(c.hotkey, "Ctrl+F9"); // file over default
            assert_eq!(c.pipeline, "from-file");
            assert_eq!(c.port, 9100); // env over file
            assert_eq!(c.data_dir, PathBuf::from("/tmp/from-flag")); // flag over env
            assert_eq!(c.host, IpAddr::from([127, 0, 0, 1])); // default
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("clipshot.toml", "prot = 9000\n")?;
            let e = Config::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(e.contains("prot"), "{e}");
            jail.create_file("clipshot.toml", "port = \"high\"\n")?;
            let e = Config::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(e.contains("port"), "{e}");
            Ok(())
        });
    }
}
