//! Configuration: defaults < `clipshot.toml` < `CLIPSHOT_*` variables < flags.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the database, the token, clips and recordings live.
    #[schema(value_type = String)]
    pub data_dir: PathBuf,
    /// Address the API binds. Anything but loopback exposes the daemon.
    #[schema(value_type = String)]
    pub host: IpAddr,
    pub port: u16,
    /// The pipeline started with the daemon: a preset name or a TOML file.
    pub pipeline: String,
    /// Where clips are saved; `<data_dir>/clips` when unset.
    #[schema(value_type = Option<String>)]
    pub clips_dir: Option<PathBuf>,
    /// Global hotkey that saves a clip, e.g. `Alt+F10`; empty disables it.
    pub hotkey: String,
    /// Seconds a hotkey or CLI save takes by default.
    pub clip_seconds: f64,
    /// Extra host names accepted in the `Host` header (beyond localhost).
    pub allowed_hosts: Vec<String>,
    /// Origins allowed through CORS: a list, or one comma-separated string
    /// (the seed's `CORS_ORIGINS` form).
    #[serde(deserialize_with = "list_or_csv")]
    pub cors_origins: Vec<String>,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` wins when set.
    pub log: String,
    /// Seconds every replay ring holds; each preset's own value when unset.
    pub replay_seconds: Option<f64>,
    /// Verbose errors: 500 answers carry the internal detail, and the log
    /// shows debug messages (seed: `DEBUG`).
    pub debug: bool,
    /// The SQLite database: a path or a `sqlite://` URL (seed:
    /// `DATABASE_URL`, whose `sqlite+aiosqlite:///./clipshot.db` form works);
    /// `<data_dir>/clipshot.db` when unset.
    pub database_url: Option<String>,
    /// Where plugins are installed (seed: `PLUGINS_DIR`); `<data_dir>/plugins` when unset.
    #[schema(value_type = Option<String>)]
    pub plugins_dir: Option<PathBuf>,
    /// Plugins run in host processes of their own, where a crash costs only
    /// that process (seed: `PLUGIN_SANDBOX_ENABLED`); `false` runs them in
    /// the daemon (lowest overhead; a crashing plugin then ends the daemon).
    pub plugin_sandbox_enabled: bool,
    /// Seconds one call into a plugin may take before its host is stopped
    /// and its nodes bypassed (seed: `PLUGIN_TIMEOUT`, whose 30 s suits no
    /// frame-rate node: 2 s here).
    pub plugin_timeout: f64,
    /// The plugin marketplace's index: a JSON file's path or an `http(s)`
    /// URL; `/api/v1/marketplace` answers 404 when unset.
    pub marketplace_url: Option<String>,
    /// Where ONNX models live (seed: `AI_MODELS_DIR`); `<data_dir>/models` when unset.
    #[schema(value_type = Option<String>)]
    pub models_dir: Option<PathBuf>,
    /// Scratch space (seed: `TEMP_DIR`); `<data_dir>/temp` when unset. Clips
    /// are never written here: they are written beside their final name, so
    /// the rename that completes them is atomic.
    #[schema(value_type = Option<String>)]
    pub temp_dir: Option<PathBuf>,
    /// Threads for blocking work (saves, GStreamer state changes, file
    /// probes) (seed: `MAX_WORKERS`); the runtime's default (512) when unset.
    pub max_workers: Option<u32>,
    /// Where inference runs (seed: `DEFAULT_AI_PROVIDER`): `local` only.
    pub ai_provider: String,
    /// The obs-websocket server, for remotes that speak OBS's protocol
    /// (Stream Deck, Touch Portal, streamer.bot); `false` turns it off.
    pub obs_websocket: bool,
    /// Its port: OBS's own 4455 by default; 0 picks a free one.
    pub obs_websocket_port: u16,
    /// A password for it besides the API token (remotes' password fields
    /// take a short one more easily). Served as `********` when set.
    pub obs_websocket_password: Option<String>,
}

/// The live configuration, shared by the API, the hotkey and the engine.
pub type SharedConfig = std::sync::Arc<parking_lot::RwLock<Config>>;

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
            replay_seconds: None,
            debug: false,
            database_url: None,
            plugins_dir: None,
            plugin_sandbox_enabled: true,
            plugin_timeout: 2.0,
            marketplace_url: None,
            models_dir: None,
            temp_dir: None,
            max_workers: None,
            ai_provider: "local".into(),
            obs_websocket: true,
            obs_websocket_port: 4455,
            obs_websocket_password: None,
        }
    }
}

/// A list of strings, or one string of comma-separated items.
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(csv) => csv.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    })
}

/// Settings of the original (FastAPI) design under their own names, and ours.
const SEED_ALIASES: &[(&str, &str)] =
    &[("log_level", "log"), ("ai_models_dir", "models_dir"), ("default_ai_provider", "ai_provider")];

/// Settings of the original design that ClipShot accepts and ignores, and why.
const SEED_IGNORED: &[(&str, &str)] = &[
    ("secret_key", "the API is protected by the token in <data dir>/api-token, not a secret key"),
    ("app_name", "the daemon is ClipShot"),
    ("version", "the version is the binary's own"),
];

/// Maps a `CLIPSHOT_*` variable's name (without the prefix) to a setting;
/// `None` for what the configuration does not take.
fn env_key(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    if let Some((_, ours)) = SEED_ALIASES.iter().find(|(seed, _)| *seed == name) {
        return Some((*ours).to_owned());
    }
    let known = serde_json::to_value(Config::default()).expect("config serializes");
    known.get(&name).is_some().then_some(name)
}

/// What the environment sets that the configuration does not take: seed
/// settings ClipShot ignores (and why), and unknown `CLIPSHOT_*` variables.
/// Warnings, not errors: other tools set variables too.
pub fn env_warnings() -> Vec<String> {
    let mut warnings: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter_map(|k| k.strip_prefix("CLIPSHOT_").map(str::to_owned))
        .filter(|k| !k.eq_ignore_ascii_case("config") && env_key(k).is_none())
        .map(|k| match SEED_IGNORED.iter().find(|(seed, _)| k.eq_ignore_ascii_case(seed)) {
            Some((_, why)) => format!("CLIPSHOT_{k} is ignored: {why}"),
            None => format!("CLIPSHOT_{k} is not a ClipShot setting and is ignored"),
        })
        .collect();
    warnings.sort();
    warnings
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obs_websocket_port: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Loads the layers. `file` is the config file (`clipshot.toml` in the
    /// current folder when not given; a missing default file is fine).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_with(file, overrides, None)
    }

    /// As [`load`](Self::load), with the changes saved through the API
    /// (`PATCH /api/v1/config`) above the file and environment, below flags.
    pub fn load_with(
        file: Option<&Path>,
        overrides: &Overrides,
        saved: Option<&serde_json::Value>,
    ) -> Result<Self, ConfigError> {
        let file = file.map_or_else(|| PathBuf::from("clipshot.toml"), Path::to_owned);
        let mut figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("CLIPSHOT_").ignore(&["config"]).filter_map(|k| env_key(k.as_str()).map(Into::into)));
        if let Some(saved) = saved {
            figment = figment.merge(Serialized::defaults(saved));
        }
        figment.merge(Serialized::defaults(overrides)).extract().map_err(|e| ConfigError(Box::new(e)))
    }

    pub fn clips_dir(&self) -> PathBuf {
        self.clips_dir.clone().unwrap_or_else(|| self.data_dir.join("clips"))
    }

    pub fn token_path(&self) -> PathBuf {
        self.data_dir.join("api-token")
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir.clone().unwrap_or_else(|| self.data_dir.join("plugins"))
    }

    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(|| self.data_dir.join("models"))
    }

    pub fn temp_dir(&self) -> PathBuf {
        self.temp_dir.clone().unwrap_or_else(|| self.data_dir.join("temp"))
    }

    /// The SQLite file `database_url` names. SQLAlchemy's forms work:
    /// `sqlite:///relative.db`, `sqlite:////absolute.db`, with a `+driver`.
    pub fn database_path(&self) -> Result<PathBuf, String> {
        let Some(url) = &self.database_url else { return Ok(self.data_dir.join("clipshot.db")) };
        let Some((scheme, rest)) = url.split_once("://") else { return Ok(PathBuf::from(url)) };
        if scheme != "sqlite" && !scheme.starts_with("sqlite+") {
            return Err(format!("`{url}`: only SQLite databases are supported"));
        }
        match rest.strip_prefix('/') {
            Some(path) if !path.is_empty() && path != ":memory:" => Ok(PathBuf::from(path)),
            _ => Err(format!("`{url}` names no database file")),
        }
    }

    /// The log filter in effect: `debug` turns debug messages on.
    pub fn log_filter(&self) -> String {
        if self.debug { "debug".to_owned() } else { self.log.clone() }
    }

    /// What the engine needs of this configuration.
    pub fn engine_settings(&self) -> clipshot_runtime::Settings {
        clipshot_runtime::Settings {
            data_dir: self.data_dir.clone(),
            clips_dir: self.clips_dir(),
            pipeline: self.pipeline.clone(),
            clip_seconds: self.clip_seconds,
            replay_seconds: self.replay_seconds,
            plugins_dir: self.plugins_dir(),
            plugin_sandbox: self.plugin_sandbox_enabled,
            plugin_timeout: std::time::Duration::from_secs_f64(self.plugin_timeout.clamp(0.01, 3600.0)),
        }
    }
}

/// Keys only `clipshot.toml`, the environment or flags may change: moving
/// the data or exposing the daemon is not something a web page may ask for.
pub const NOT_PATCHABLE: &[&str] = &[
    "data_dir",
    "host",
    "port",
    "database_url",
    "plugins_dir",
    "plugin_sandbox_enabled",
    "marketplace_url",
    "models_dir",
    "temp_dir",
    "max_workers",
];
/// Keys that take effect at the next start.
pub const NEEDS_RESTART: &[&str] =
    &["pipeline", "obs_websocket", "obs_websocket_port", "obs_websocket_password", "plugin_timeout"];

/// One thing wrong with a configuration change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// JSON Pointer into the request body.
    pub location: String,
    pub message: String,
}

impl Config {
    /// Applies a JSON merge patch, returning the new configuration or every
    /// problem with it. Nothing changes unless all of it is valid.
    pub fn patched(&self, patch: &serde_json::Map<String, serde_json::Value>) -> Result<Self, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let problem = |key: &str, message: String| FieldProblem { location: format!("/{key}"), message };
        let mut merged = serde_json::to_value(self).expect("config serializes");
        let defaults = serde_json::to_value(Config::default()).expect("config serializes");
        for (key, value) in patch {
            if NOT_PATCHABLE.contains(&key.as_str()) {
                problems.push(problem(
                    key,
                    format!("`{key}` can only be changed in clipshot.toml, the environment or flags"),
                ));
                continue;
            }
            if defaults.get(key).is_none() {
                problems.push(problem(key, format!("unknown setting `{key}`")));
                continue;
            }
            // Each key alone, so one bad value does not hide the next.
            let mut probe = defaults.clone();
            probe[key] = if value.is_null() { defaults[key].clone() } else { value.clone() };
            if let Err(e) = serde_json::from_value::<Config>(probe) {
                problems.push(problem(key, e.to_string()));
                continue;
            }
            merged[key] = if value.is_null() { defaults[key].clone() } else { value.clone() };
        }
        let config: Config = match serde_json::from_value(merged) {
            Ok(c) => c,
            Err(e) => {
                problems.push(problem("", e.to_string()));
                return Err(problems);
            }
        };
        for key in patch.keys() {
            if let Err(message) = config.check(key) {
                problems.push(problem(key, message));
            }
        }
        if problems.is_empty() { Ok(config) } else { Err(problems) }
    }

    /// Range and syntax checks that serde's types cannot express.
    fn check(&self, key: &str) -> Result<(), String> {
        match key {
            "clip_seconds" if !(self.clip_seconds > 0.0 && self.clip_seconds <= 3600.0) => {
                Err("must be more than 0 and at most 3600 seconds".into())
            }
            "plugin_timeout" if !(0.01..=3600.0).contains(&self.plugin_timeout) => {
                Err("must be between 0.01 and 3600 seconds".into())
            }
            "replay_seconds" if self.replay_seconds.is_some_and(|s| !(1.0..=3600.0).contains(&s)) => {
                Err("must be between 1 and 3600 seconds".into())
            }
            "hotkey" if !self.hotkey.trim().is_empty() => clipshot_runtime::hotkey::check_binding(&self.hotkey),
            "cors_origins" => {
                for o in &self.cors_origins {
                    let ok = o.split_once("://").is_some_and(|(scheme, rest)| {
                        !scheme.is_empty() && !rest.is_empty() && !rest.contains('/') && o.trim() == o
                    });
                    if !ok {
                        return Err(format!("`{o}` is not an origin (scheme://host[:port])"));
                    }
                }
                Ok(())
            }
            "allowed_hosts" => match self.allowed_hosts.iter().find(|h| {
                h.is_empty()
                    || !h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
            }) {
                Some(h) => Err(format!("`{h}` is not a host name")),
                None => Ok(()),
            },
            "pipeline" => clipshot_runtime::presets::load(&self.pipeline).map(|_| ()).map_err(|e| e.to_string()),
            "log" => tracing_subscriber::EnvFilter::try_new(&self.log).map(|_| ()).map_err(|e| e.to_string()),
            "ai_provider" if self.ai_provider != "local" => {
                Err(format!("`{}`: the only provider is `local` (ONNX Runtime on this machine)", self.ai_provider))
            }
            "clips_dir" => match &self.clips_dir {
                Some(d) if !d.is_absolute() => Err("must be an absolute path".into()),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
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
    fn the_seed_names_are_taken_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLIPSHOT_LOG_LEVEL", "DEBUG");
            jail.set_env("CLIPSHOT_CORS_ORIGINS", "http://a.test, http://b.test:8080");
            jail.set_env("CLIPSHOT_AI_MODELS_DIR", "/tmp/models");
            jail.set_env("CLIPSHOT_DATABASE_URL", "sqlite:////var/lib/clipshot/clips.db");
            jail.set_env("CLIPSHOT_SECRET_KEY", "change-me");
            jail.set_env("CLIPSHOT_NOT_A_THING", "1");
            let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.log, "DEBUG");
            assert_eq!(c.cors_origins, ["http://a.test", "http://b.test:8080"]);
            assert_eq!(c.models_dir(), PathBuf::from("/tmp/models"));
            assert_eq!(c.database_path(), Ok(PathBuf::from("/var/lib/clipshot/clips.db")));
            let warnings = env_warnings();
            assert!(warnings.iter().any(|w| w.starts_with("CLIPSHOT_SECRET_KEY is ignored")), "{warnings:?}");
            assert!(warnings.iter().any(|w| w.starts_with("CLIPSHOT_NOT_A_THING is not")), "{warnings:?}");
            Ok(())
        });
    }

    #[test]
    fn database_urls_name_sqlite_files_only() {
        let with = |url: &str| Config { database_url: Some(url.into()), ..Config::default() }.database_path();
        assert_eq!(with("sqlite+aiosqlite:///./clipshot.db"), Ok(PathBuf::from("./clipshot.db")));
        assert_eq!(with("/srv/c.db"), Ok(PathBuf::from("/srv/c.db")));
        assert!(with("postgresql://db/clips").unwrap_err().contains("only SQLite"));
        assert!(with("sqlite:///:memory:").is_err());
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

    #[test]
    fn a_patch_reports_every_problem_and_changes_nothing() {
        let c = Config::default();
        let patch = serde_json::json!({
            "clip_seconds": -1, "hotkey": "Alt+Nope", "port": 1, "colour": "red", "cors_origins": ["not an origin"],
            "replay_seconds": "long"
        });
        let problems = c.patched(patch.as_object().unwrap()).unwrap_err();
        let at: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
        for key in ["/clip_seconds", "/hotkey", "/port", "/colour", "/cors_origins", "/replay_seconds"] {
            assert!(at.contains(&key), "{key} missing from {problems:?}");
        }
        let ok =
            c.patched(serde_json::json!({"clip_seconds": 12.5, "hotkey": "Ctrl+F9"}).as_object().unwrap()).unwrap();
        assert_eq!((ok.clip_seconds, ok.hotkey.as_str()), (12.5, "Ctrl+F9"));
        let reset = ok.patched(serde_json::json!({"hotkey": null}).as_object().unwrap()).unwrap();
        assert_eq!(reset.hotkey, Config::default().hotkey, "null restores the default");
    }
}
