//! `manifest.json`: what a plugin is, what it asks for and which library to
//! open. Parsing checks every field and reports every problem at once, each
//! with a JSON Pointer, so an author fixes a manifest in one pass.
//!
//! The JSON is read as a `serde_json::Value` and checked field by field
//! rather than deserialised straight into the types: serde stops at the
//! first error and cannot say "and these five other things too".

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file inside a plugin's folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The folder of `<lang>.json` translations inside a plugin's folder.
pub const LOCALES_DIR: &str = "locales";
/// The manifest format this engine reads.
pub const API_VERSION: &str = "v1";
pub const MAX_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 100;
/// The keys of `native.binaries`, `<os>-<arch>`.
pub const BINARY_PLATFORMS: [&str; 6] =
    ["linux-x64", "linux-arm64", "windows-x64", "windows-arm64", "macos-x64", "macos-arm64"];

/// The top-level fields, in the order the checks report them.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "version",
    "api_version",
    "type",
    "category",
    "description",
    "author",
    "license",
    "entry",
    "permissions",
    "platforms",
    "engines",
    "dependencies",
    "native",
    "config_schema",
    "config",
];

/// A closed set of lowercase names: the enum, `ALL`, `as_str`, `from_name`.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $(#[serde(rename = $s)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }

            /// `a, b, c`, for messages.
            fn list() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names! {
    /// How the plugin ships and who may turn it off.
    PluginType { Core = "core", Optional = "optional", Ai = "ai", Ui = "ui", System = "system" }
}

names! {
    /// What a plugin may touch; ordered as the consent screen lists them.
    Permission {
        Screen = "screen",
        Microphone = "microphone",
        Filesystem = "filesystem",
        Network = "network",
        Gpu = "gpu",
        System = "system",
    }
}

names! {
    /// How much of a permission the plugin asks for, least first.
    PermissionLevel { None = "none", Limited = "limited", Optional = "optional", Required = "required" }
}

names! {
    /// An operating system a plugin supports.
    Os { Windows = "windows", Linux = "linux", Macos = "macos" }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// How the host enters the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The exported symbol, a C identifier.
    pub native: String,
}

impl Default for Entry {
    fn default() -> Self {
        Entry { native: clipshot_plugin_sdk::abi::CS_ENTRY_SYMBOL.to_owned() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRequest {
    pub level: PermissionLevel,
    /// Why, by language code, shown when the user is asked.
    #[serde(default)]
    pub reason: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Native {
    /// The C ABI the library was built against.
    pub abi_version: u32,
    /// By platform key (`linux-x64`…).
    pub binaries: BTreeMap<String, Binary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binary {
    /// Relative to the plugin's folder, `/`-separated.
    pub path: String,
    /// Lowercase hex; checked before the library is opened. Empty only in
    /// an unpacked manifest that `clipshot plugins pack` has yet to fill in.
    pub sha256: String,
}

/// A plugin's manifest, checked by [`Manifest::parse`] and friends. The
/// `Deserialize` impl only reads back what this type serialised (over the
/// API, say); it checks nothing, so never feed it a plugin's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    /// Translated names from `locales/<lang>.json`.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
    pub version: Version,
    pub api_version: String,
    #[serde(rename = "type")]
    pub plugin_type: PluginType,
    pub category: String,
    /// By language code; always has `en`.
    pub description: BTreeMap<String, String>,
    pub author: Author,
    pub license: String,
    #[serde(default)]
    pub entry: Entry,
    #[serde(default)]
    pub permissions: BTreeMap<Permission, PermissionRequest>,
    pub platforms: Vec<Os>,
    /// Always has `clipshot`.
    pub engines: BTreeMap<String, VersionReq>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, VersionReq>,
    pub native: Native,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<Value>,
    /// The default config; valid against `config_schema` when both are given.
    #[serde(default)]
    pub config: Map<String, Value>,
    /// The plugin's folder, where `native.binaries` paths start.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Whether binaries must carry their hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParseMode {
    /// An installed plugin: every `sha256` is 64 hex characters.
    #[default]
    Installed,
    /// A folder about to be packed: `sha256` may still be `""`.
    Unpacked,
}

/// One thing wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A JSON Pointer into the manifest (`/native/binaries/linux-x64/sha256`),
    /// or `/locales/<file>` for a translation file.
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a JSON object: {message}", .path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}", invalid_message(.path, .problems))]
    Invalid { path: PathBuf, problems: Vec<Problem> },
}

impl ManifestError {
    /// The problems of an invalid manifest; empty for the other errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ManifestError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn invalid_message(path: &Path, problems: &[Problem]) -> String {
    let count = problems.len();
    let mut out = format!("{}: {count} problem{}", path.display(), if count == 1 { "" } else { "s" });
    for problem in problems {
        out.push_str("\n  ");
        out.push_str(&problem.to_string());
    }
    out
}

/// This machine's `native.binaries` key, or `"unknown"`.
pub fn current_platform() -> &'static str {
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        "linux-x64"
    } else if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
        "linux-arm64"
    } else if cfg!(all(target_os = "windows", target_arch = "x86_64")) {
        "windows-x64"
    } else if cfg!(all(target_os = "windows", target_arch = "aarch64")) {
        "windows-arm64"
    } else if cfg!(all(target_os = "macos", target_arch = "x86_64")) {
        "macos-x64"
    } else if cfg!(all(target_os = "macos", target_arch = "aarch64")) {
        "macos-arm64"
    } else {
        "unknown"
    }
}

pub fn current_os() -> Option<Os> {
    if cfg!(target_os = "linux") {
        Some(Os::Linux)
    } else if cfg!(target_os = "windows") {
        Some(Os::Windows)
    } else if cfg!(target_os = "macos") {
        Some(Os::Macos)
    } else {
        None
    }
}

/// The OS part of a `native.binaries` key.
pub fn platform_os(platform: &str) -> Option<Os> {
    if !BINARY_PLATFORMS.contains(&platform) {
        return None;
    }
    platform.split_once('-').and_then(|(os, _)| Os::from_name(os))
}

impl Manifest {
    /// Reads and checks `dir/manifest.json` of an installed plugin.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        Self::load_with(dir, ParseMode::Installed)
    }

    pub fn load_with(dir: &Path, mode: ParseMode) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let json = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read { path, source })?;
        Self::parse_with(&json, dir, mode)
    }

    /// Checks a manifest's text; `dir` is the plugin's folder (for
    /// `locales/` and the error's path).
    pub fn parse(json: &str, dir: &Path) -> Result<Manifest, ManifestError> {
        Self::parse_with(json, dir, ParseMode::Installed)
    }

    /// As [`Manifest::parse`], allowing binaries whose `sha256` is still `""`.
    pub fn parse_unpacked(json: &str, dir: &Path) -> Result<Manifest, ManifestError> {
        Self::parse_with(json, dir, ParseMode::Unpacked)
    }

    pub fn parse_with(json: &str, dir: &Path, mode: ParseMode) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let value: Value = serde_json::from_str(json)
            .map_err(|e| ManifestError::Syntax { path: path.clone(), message: e.to_string() })?;
        let Value::Object(obj) = value else {
            let message = format!("the manifest is {}", kind(&value));
            return Err(ManifestError::Syntax { path, message });
        };
        let mut p = Problems::default();
        let locales = read_locales(dir, &mut p);
        let manifest = check(&obj, locales, mode, dir, &mut p);
        match manifest {
            Some(manifest) if p.0.is_empty() => Ok(manifest),
            _ => {
                debug_assert!(!p.0.is_empty(), "a check failed without saying why");
                Err(ManifestError::Invalid { path, problems: p.0 })
            }
        }
    }

    /// The library for this machine, if the plugin ships one.
    pub fn binary_for_current_platform(&self) -> Option<&Binary> {
        self.native.binaries.get(current_platform())
    }

    /// The description in `lang` (`pt-BR`, then `pt`), else English.
    pub fn description_for(&self, lang: &str) -> Option<&str> {
        localised(&self.description, lang).or_else(|| self.description.get("en")).map(String::as_str)
    }

    /// The name in `lang` (`pt-BR`, then `pt`), else the manifest's own.
    pub fn name_for(&self, lang: &str) -> &str {
        localised(&self.names, lang).map_or(&self.name, String::as_str)
    }

    /// What the plugin asks for `permission`; `None` when it does not ask.
    pub fn permission_level(&self, permission: Permission) -> PermissionLevel {
        self.permissions.get(&permission).map_or(PermissionLevel::None, |r| r.level)
    }
}

fn localised<'a>(map: &'a BTreeMap<String, String>, lang: &str) -> Option<&'a String> {
    map.get(lang).or_else(|| lang.split_once('-').and_then(|(primary, _)| map.get(primary)))
}

#[derive(Debug, Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { pointer: pointer.into(), message: message.into() });
    }
}

/// `base/key`, with the key escaped as RFC 6901 says.
fn ptr(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn required<'a>(p: &mut Problems, at: &str, v: Option<&'a Value>) -> Option<&'a Value> {
    if v.is_none() {
        p.add(at, "required");
    }
    v
}

fn string<'a>(p: &mut Problems, at: &str, v: Option<&'a Value>) -> Option<&'a str> {
    match required(p, at, v)? {
        Value::String(s) => Some(s),
        other => {
            p.add(at, format!("must be a string, not {}", kind(other)));
            None
        }
    }
}

fn non_empty<'a>(p: &mut Problems, at: &str, v: Option<&'a Value>) -> Option<&'a str> {
    let s = string(p, at, v)?;
    if s.trim().is_empty() {
        p.add(at, "must not be empty");
        return None;
    }
    Some(s)
}

fn object<'a>(p: &mut Problems, at: &str, v: Option<&'a Value>) -> Option<&'a Map<String, Value>> {
    match required(p, at, v)? {
        Value::Object(m) => Some(m),
        other => {
            p.add(at, format!("must be an object, not {}", kind(other)));
            None
        }
    }
}

/// Flags keys of `obj` outside `known`, suggesting the nearest one.
fn unknown_fields(p: &mut Problems, at: &str, obj: &Map<String, Value>, known: &[&str]) {
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        let nearest = known.iter().map(|k| (edit_distance(key, k), *k)).min().filter(|(d, _)| *d <= 2);
        let message = match nearest {
            Some((_, k)) => format!("unknown field; did you mean `{k}`?"),
            None => format!("unknown field; the fields here are {}", known.join(", ")),
        };
        p.add(ptr(at, key), message);
    }
}

/// Levenshtein distance; strsim is not worth a dependency for one use.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Lowercase reverse-DNS: at least two `.`-separated labels of `[a-z0-9-]`,
/// none starting with `-`.
pub fn is_plugin_id(s: &str) -> bool {
    s.len() <= MAX_ID_LEN
        && s.split('.').count() >= 2
        && s.split('.').all(|label| {
            label.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn id_problem(s: &str) -> Option<String> {
    if s.len() > MAX_ID_LEN {
        Some(format!("longer than {MAX_ID_LEN} characters"))
    } else if !is_plugin_id(s) {
        Some(format!("`{s}` is not a lowercase reverse-DNS id like `com.example.my-plugin`"))
    } else {
        None
    }
}

/// `en`, `pt-BR`, `zh-Hans`: a BCP 47 tag, loosely.
fn is_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|sub| (2..=8).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_c_identifier(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Words of `[a-z0-9]` joined by single `-`.
fn is_category(s: &str) -> bool {
    s.split('-').all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why a binary's path could leave the plugin's folder or not work on
/// every OS; checked as text so a Linux host catches Windows-only forms.
fn path_problem(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    if path.is_empty() {
        Some("must not be empty")
    } else if path.contains('\\') {
        Some("must use `/` as the separator")
    } else if path.starts_with('/') {
        Some("must be relative to the plugin's folder")
    } else if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        Some("must be relative to the plugin's folder, without a drive")
    } else if path.split('/').any(|part| part == "..") {
        Some("must stay inside the plugin's folder (no `..`)")
    } else {
        None
    }
}

fn version_req(p: &mut Problems, at: &str, v: &Value) -> Option<VersionReq> {
    let s = string(p, at, Some(v))?;
    VersionReq::parse(s).map_err(|e| p.add(at, format!("`{s}` is not a version range like `^1.2` ({e})"))).ok()
}

/// An object of language code → non-empty text.
fn texts(p: &mut Problems, at: &str, v: &Value) -> Option<BTreeMap<String, String>> {
    let obj = object(p, at, Some(v))?;
    let before = p.0.len();
    let mut out = BTreeMap::new();
    for (lang, text) in obj {
        let here = ptr(at, lang);
        if !is_language(lang) {
            p.add(&here, format!("`{lang}` is not a language code like `en` or `pt-BR`"));
        }
        if let Some(text) = non_empty(p, &here, Some(text)) {
            out.insert(lang.clone(), text.to_owned());
        }
    }
    (p.0.len() == before).then_some(out)
}

/// What one `locales/<lang>.json` gives.
#[derive(Debug, Default)]
struct Locale {
    name: Option<String>,
    description: Option<String>,
}

fn read_locales(dir: &Path, p: &mut Problems) -> BTreeMap<String, Locale> {
    let mut out = BTreeMap::new();
    let locales_dir = dir.join(LOCALES_DIR);
    let entries = match std::fs::read_dir(&locales_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            p.add("/locales", format!("cannot read {}: {e}", locales_dir.display()));
            return out;
        }
    };
    // Sorted so problems come out in the same order on every file system.
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    for file in files {
        let file_name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let lang = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let at = ptr("/locales", &file_name);
        if !is_language(&lang) {
            p.add(&at, "the file name is not a language code like `en.json` or `pt-BR.json`");
            continue;
        }
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                p.add(&at, format!("cannot read: {e}"));
                continue;
            }
        };
        let obj = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(obj)) => obj,
            Ok(other) => {
                p.add(&at, format!("must be a JSON object of strings, not {}", kind(&other)));
                continue;
            }
            Err(e) => {
                p.add(&at, format!("not JSON: {e}"));
                continue;
            }
        };
        let mut locale = Locale::default();
        for (key, value) in &obj {
            match value {
                Value::String(s) if s.trim().is_empty() => p.add(&at, format!("`{key}` must not be empty")),
                Value::String(s) if key == "name" => locale.name = Some(s.clone()),
                Value::String(s) if key == "description" => locale.description = Some(s.clone()),
                Value::String(_) => {}
                other => p.add(&at, format!("`{key}` must be a string, not {}", kind(other))),
            }
        }
        out.insert(lang, locale);
    }
    out
}

/// Checks every field, recording each problem; `Some` only when every
/// required field could be read (the caller still checks for problems).
fn check(
    obj: &Map<String, Value>,
    locales: BTreeMap<String, Locale>,
    mode: ParseMode,
    dir: &Path,
    p: &mut Problems,
) -> Option<Manifest> {
    unknown_fields(p, "", obj, FIELDS);

    let id = string(p, "/id", obj.get("id")).and_then(|s| match id_problem(s) {
        Some(message) => {
            p.add("/id", message);
            None
        }
        None => Some(s.to_owned()),
    });

    let name = non_empty(p, "/name", obj.get("name")).and_then(|s| {
        if s.chars().count() > MAX_NAME_LEN {
            p.add("/name", format!("longer than {MAX_NAME_LEN} characters"));
            return None;
        }
        Some(s.to_owned())
    });

    let version = string(p, "/version", obj.get("version")).and_then(|s| {
        Version::parse(s)
            .map_err(|e| p.add("/version", format!("`{s}` is not a semantic version like `1.2.3` ({e})")))
            .ok()
    });

    let api_version = string(p, "/api_version", obj.get("api_version")).and_then(|s| {
        if s != API_VERSION {
            p.add("/api_version", format!("`{s}` is not supported; this engine reads `{API_VERSION}`"));
            return None;
        }
        Some(s.to_owned())
    });

    let plugin_type = string(p, "/type", obj.get("type")).and_then(|s| {
        let parsed = PluginType::from_name(s);
        if parsed.is_none() {
            p.add("/type", format!("`{s}` is not one of {}", PluginType::list()));
        }
        parsed
    });

    let category = non_empty(p, "/category", obj.get("category")).and_then(|s| {
        if !is_category(s) {
            p.add("/category", format!("`{s}` is not lowercase words joined by `-`, like `detection`"));
            return None;
        }
        Some(s.to_owned())
    });

    let description = check_description(p, obj.get("description"), &locales);
    let author = check_author(p, obj.get("author"));
    let license = non_empty(p, "/license", obj.get("license")).map(str::to_owned);
    let entry = check_entry(p, obj.get("entry"));
    let permissions = check_permissions(p, obj.get("permissions"));
    let platforms = check_platforms(p, obj.get("platforms"));
    let engines = check_engines(p, obj.get("engines"));
    let dependencies = check_dependencies(p, obj.get("dependencies"), id.as_deref());
    let native = check_native(p, obj.get("native"), platforms.as_deref(), mode);
    let (config_schema, config) = check_config(p, obj.get("config_schema"), obj.get("config"));

    let names = locales.into_iter().filter_map(|(lang, locale)| locale.name.map(|name| (lang, name))).collect();
    Some(Manifest {
        id: id?,
        name: name?,
        names,
        version: version?,
        api_version: api_version?,
        plugin_type: plugin_type?,
        category: category?,
        description: description?,
        author: author?,
        license: license?,
        entry: entry?,
        permissions: permissions?,
        platforms: platforms?,
        engines: engines?,
        dependencies: dependencies?,
        native: native?,
        config_schema,
        config: config?,
        dir: dir.to_path_buf(),
    })
}

fn check_description(
    p: &mut Problems,
    v: Option<&Value>,
    locales: &BTreeMap<String, Locale>,
) -> Option<BTreeMap<String, String>> {
    let mut description = match v {
        Some(v) => texts(p, "/description", v)?,
        None => BTreeMap::new(),
    };
    // The manifest's own text wins over a translation file's.
    for (lang, locale) in locales {
        if let Some(text) = &locale.description {
            description.entry(lang.clone()).or_insert_with(|| text.clone());
        }
    }
    if !description.contains_key("en") {
        let message = if v.is_none() {
            "required: an object of descriptions by language code, with `en`"
        } else {
            "needs an English (`en`) description, here or in locales/en.json"
        };
        p.add("/description", message);
        return None;
    }
    Some(description)
}

fn check_author(p: &mut Problems, v: Option<&Value>) -> Option<Author> {
    let obj = object(p, "/author", v)?;
    unknown_fields(p, "/author", obj, &["name", "email", "url"]);
    let name = non_empty(p, "/author/name", obj.get("name"));
    let email = obj.get("email").and_then(|v| {
        let s = string(p, "/author/email", Some(v))?;
        let valid = s.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
            && !s.contains(char::is_whitespace);
        if !valid {
            p.add("/author/email", format!("`{s}` is not an email address"));
        }
        Some(s.to_owned())
    });
    let url = obj.get("url").and_then(|v| {
        let s = string(p, "/author/url", Some(v))?;
        let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
        if rest.is_none_or(str::is_empty) {
            p.add("/author/url", format!("`{s}` is not an http:// or https:// address"));
        }
        Some(s.to_owned())
    });
    Some(Author { name: name?.to_owned(), email, url })
}

fn check_entry(p: &mut Problems, v: Option<&Value>) -> Option<Entry> {
    let Some(v) = v else { return Some(Entry::default()) };
    let obj = object(p, "/entry", Some(v))?;
    unknown_fields(p, "/entry", obj, &["native"]);
    let Some(native) = obj.get("native") else { return Some(Entry::default()) };
    let symbol = non_empty(p, "/entry/native", Some(native))?;
    if !is_c_identifier(symbol) {
        p.add("/entry/native", format!("`{symbol}` is not a C identifier"));
        return None;
    }
    Some(Entry { native: symbol.to_owned() })
}

fn check_permissions(p: &mut Problems, v: Option<&Value>) -> Option<BTreeMap<Permission, PermissionRequest>> {
    let Some(v) = v else { return Some(BTreeMap::new()) };
    let obj = object(p, "/permissions", Some(v))?;
    let before = p.0.len();
    let mut out = BTreeMap::new();
    for (key, request) in obj {
        let at = ptr("/permissions", key);
        let permission = Permission::from_name(key);
        if permission.is_none() {
            p.add(&at, format!("unknown permission; one of {}", Permission::list()));
            continue;
        }
        let Some(request) = object(p, &at, Some(request)) else { continue };
        unknown_fields(p, &at, request, &["level", "reason"]);
        let level_at = ptr(&at, "level");
        let level = string(p, &level_at, request.get("level")).and_then(|s| {
            let level = PermissionLevel::from_name(s);
            if level.is_none() {
                p.add(&level_at, format!("`{s}` is not one of {}", PermissionLevel::list()));
            }
            level
        });
        let reason = match request.get("reason") {
            Some(reason) => texts(p, &ptr(&at, "reason"), reason),
            None => Some(BTreeMap::new()),
        };
        if let (Some(permission), Some(level), Some(reason)) = (permission, level, reason) {
            out.insert(permission, PermissionRequest { level, reason });
        }
    }
    (p.0.len() == before).then_some(out)
}

fn check_platforms(p: &mut Problems, v: Option<&Value>) -> Option<Vec<Os>> {
    let list = match required(p, "/platforms", v)? {
        Value::Array(list) => list,
        other => {
            p.add("/platforms", format!("must be an array, not {}", kind(other)));
            return None;
        }
    };
    if list.is_empty() {
        p.add("/platforms", format!("must list at least one of {}", Os::list()));
        return None;
    }
    let before = p.0.len();
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("/platforms/{i}");
        let Some(s) = string(p, &at, Some(item)) else { continue };
        match Os::from_name(s) {
            Some(os) if out.contains(&os) => p.add(&at, format!("`{s}` is listed twice")),
            Some(os) => out.push(os),
            None => p.add(&at, format!("`{s}` is not one of {}", Os::list())),
        }
    }
    (p.0.len() == before).then_some(out)
}

fn check_engines(p: &mut Problems, v: Option<&Value>) -> Option<BTreeMap<String, VersionReq>> {
    let obj = object(p, "/engines", v)?;
    let before = p.0.len();
    if !obj.contains_key("clipshot") {
        p.add("/engines/clipshot", "required: the ClipShot versions this plugin works with, like `>=0.1.0`");
    }
    let mut out = BTreeMap::new();
    for (engine, req) in obj {
        if let Some(req) = version_req(p, &ptr("/engines", engine), req) {
            out.insert(engine.clone(), req);
        }
    }
    (p.0.len() == before).then_some(out)
}

fn check_dependencies(
    p: &mut Problems,
    v: Option<&Value>,
    own_id: Option<&str>,
) -> Option<BTreeMap<String, VersionReq>> {
    let Some(v) = v else { return Some(BTreeMap::new()) };
    let obj = object(p, "/dependencies", Some(v))?;
    let before = p.0.len();
    let mut out = BTreeMap::new();
    for (dependency, req) in obj {
        let at = ptr("/dependencies", dependency);
        if let Some(message) = id_problem(dependency) {
            p.add(&at, message);
        } else if own_id == Some(dependency) {
            p.add(&at, "a plugin cannot depend on itself");
        }
        if let Some(req) = version_req(p, &at, req) {
            out.insert(dependency.clone(), req);
        }
    }
    (p.0.len() == before).then_some(out)
}

fn check_native(p: &mut Problems, v: Option<&Value>, platforms: Option<&[Os]>, mode: ParseMode) -> Option<Native> {
    let obj = object(p, "/native", v)?;
    unknown_fields(p, "/native", obj, &["abi_version", "binaries"]);
    let abi_version = required(p, "/native/abi_version", obj.get("abi_version")).and_then(|v| {
        let abi = v.as_u64().filter(|n| *n > 0).and_then(|n| u32::try_from(n).ok());
        if abi.is_none() {
            p.add("/native/abi_version", format!("must be a positive integer, not {v}"));
        }
        abi
    });
    let binaries = check_binaries(p, obj.get("binaries"), platforms, mode);
    Some(Native { abi_version: abi_version?, binaries: binaries? })
}

fn check_binaries(
    p: &mut Problems,
    v: Option<&Value>,
    platforms: Option<&[Os]>,
    mode: ParseMode,
) -> Option<BTreeMap<String, Binary>> {
    let obj = object(p, "/native/binaries", v)?;
    if obj.is_empty() {
        p.add(
            "/native/binaries",
            format!("must name at least one library, by platform ({})", BINARY_PLATFORMS.join(", ")),
        );
        return None;
    }
    let before = p.0.len();
    let mut out = BTreeMap::new();
    for (platform, binary) in obj {
        let at = ptr("/native/binaries", platform);
        match (platform_os(platform), platforms) {
            (None, _) => p.add(&at, format!("unknown platform; one of {}", BINARY_PLATFORMS.join(", "))),
            // Only when `platforms` itself is fine, so one mistake is one problem.
            (Some(os), Some(platforms)) if !platforms.contains(&os) => {
                p.add(&at, format!("`{os}` is not listed in /platforms"));
            }
            _ => {}
        }
        let Some(binary) = object(p, &at, Some(binary)) else { continue };
        unknown_fields(p, &at, binary, &["path", "sha256"]);
        let path_at = ptr(&at, "path");
        let path = string(p, &path_at, binary.get("path")).and_then(|path| match path_problem(path) {
            Some(message) => {
                p.add(&path_at, message);
                None
            }
            None => Some(path),
        });
        let sha_at = ptr(&at, "sha256");
        let sha256 = string(p, &sha_at, binary.get("sha256")).and_then(|sha| {
            if sha.is_empty() && mode == ParseMode::Unpacked {
                return Some(sha);
            }
            if !is_sha256(sha) {
                p.add(&sha_at, "must be 64 lowercase hex characters (the library's SHA-256)");
                return None;
            }
            Some(sha)
        });
        if let (Some(path), Some(sha256)) = (path, sha256) {
            out.insert(platform.clone(), Binary { path: path.to_owned(), sha256: sha256.to_owned() });
        }
    }
    (p.0.len() == before).then_some(out)
}

/// The schema must compile and the default config must pass it.
fn check_config(
    p: &mut Problems,
    schema: Option<&Value>,
    config: Option<&Value>,
) -> (Option<Value>, Option<Map<String, Value>>) {
    let validator = schema.and_then(|schema| {
        jsonschema::validator_for(schema)
            .map_err(|e| p.add(format!("/config_schema{}", e.instance_path), format!("not a valid JSON Schema: {e}")))
            .ok()
    });
    if let (Some(validator), Some(instance @ Value::Object(_))) = (&validator, config) {
        for e in validator.iter_errors(instance) {
            p.add(format!("/config{}", e.instance_path), format!("does not match config_schema: {e}"));
        }
    }
    let config = match config {
        None => Some(Map::new()),
        Some(Value::Object(config)) => Some(config.clone()),
        Some(other) => {
            p.add("/config", format!("must be an object, not {}", kind(other)));
            None
        }
    };
    (schema.cloned(), config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VALID: &str = include_str!("../testdata/manifest/valid.json");
    /// One row per mistake: an RFC 6902 patch on `valid.json`, files to add
    /// beside it, and exactly the pointers the problems must carry.
    const MISTAKES: &str = include_str!("../testdata/manifest/mistakes.json");

    #[derive(Debug, Deserialize)]
    struct Row {
        mistake: String,
        patch: Vec<Value>,
        pointers: Vec<String>,
        #[serde(default)]
        files: BTreeMap<String, String>,
        #[serde(default)]
        mode: Option<String>,
    }

    fn rows() -> Vec<Row> {
        serde_json::from_str(MISTAKES).expect("mistakes.json")
    }

    fn valid() -> Value {
        serde_json::from_str(VALID).expect("valid.json")
    }

    fn write_files<'a>(dir: &Path, files: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    /// The `add`, `replace` and `remove` operations of RFC 6902.
    fn apply_patch(doc: &mut Value, patch: &[Value]) {
        for op in patch {
            let path = op["path"].as_str().unwrap();
            let (parent, key) = path.rsplit_once('/').unwrap();
            let key = key.replace("~1", "/").replace("~0", "~");
            let parent = doc.pointer_mut(parent).unwrap_or_else(|| panic!("no parent for {path}"));
            match (op["op"].as_str().unwrap(), parent) {
                ("add" | "replace", Value::Object(map)) => {
                    map.insert(key, op["value"].clone());
                }
                ("add", Value::Array(list)) if key == "-" => list.push(op["value"].clone()),
                ("add", Value::Array(list)) => list.insert(key.parse().unwrap(), op["value"].clone()),
                ("replace", Value::Array(list)) => list[key.parse::<usize>().unwrap()] = op["value"].clone(),
                ("remove", Value::Object(map)) => {
                    map.remove(&key).unwrap_or_else(|| panic!("nothing to remove at {path}"));
                }
                ("remove", Value::Array(list)) => {
                    list.remove(key.parse().unwrap());
                }
                (other, _) => panic!("cannot {other} at {path}"),
            }
        }
    }

    fn pointers(result: &Result<Manifest, ManifestError>) -> Vec<String> {
        let mut out: Vec<String> = match result {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(|p| p.pointer.clone()).collect(),
        };
        out.sort();
        out
    }

    #[test]
    fn a_valid_manifest_parses_with_its_locales_merged() {
        let dir = tempfile::tempdir().unwrap();
        write_files(
            dir.path(),
            [
                (MANIFEST_FILE, VALID),
                ("locales/en.json", r#"{"name": "Kill feed", "description": "the manifest's own text wins"}"#),
                ("locales/fr.json", r#"{"name": "Détecteur de frags", "description": "Marque les frags."}"#),
            ],
        );
        let m = Manifest::load(dir.path()).unwrap();

        assert_eq!(m.id, "com.clipshot.examples.killfeed");
        assert_eq!(m.name, "Kill feed detector");
        assert_eq!(m.version, Version::new(1, 0, 0));
        assert_eq!(m.api_version, "v1");
        assert_eq!(m.plugin_type, PluginType::Optional);
        assert_eq!(m.category, "detection");
        assert_eq!(m.author.email.as_deref(), Some("dev@clipshot.example"));
        assert_eq!(m.license, "MIT");
        assert_eq!(m.entry.native, clipshot_plugin_sdk::abi::CS_ENTRY_SYMBOL);
        assert_eq!(m.permission_level(Permission::Screen), PermissionLevel::Required);
        assert_eq!(m.permission_level(Permission::Gpu), PermissionLevel::Optional);
        assert_eq!(m.permission_level(Permission::Network), PermissionLevel::None);
        assert_eq!(m.permissions[&Permission::Screen].reason["en"], "reads the kill feed");
        assert_eq!(m.platforms, [Os::Linux, Os::Windows]);
        assert!(m.engines["clipshot"].matches(&Version::new(0, 1, 0)));
        assert!(m.dependencies["com.other.plugin"].matches(&Version::new(1, 4, 0)));
        assert_eq!(m.native.abi_version, 1);
        assert_eq!(m.native.binaries["linux-x64"].path, "lib/libkillfeed.so");
        assert_eq!(m.config["threshold"], json!(0.6));
        assert!(m.config_schema.is_some());
        assert_eq!(m.dir, dir.path());

        // The manifest's text wins; a locale fills only what is missing.
        assert_eq!(m.description["en"], "Marks kills read from the kill feed.");
        assert_eq!(m.description["fr"], "Marque les frags.");
        assert_eq!(m.description_for("fr-CA"), Some("Marque les frags."));
        assert_eq!(m.description_for("pt-BR"), Some("Marca abates lidos do feed de abates."));
        assert_eq!(m.description_for("de"), Some("Marks kills read from the kill feed."));
        assert_eq!(m.names["fr"], "Détecteur de frags");
        assert_eq!(m.name_for("fr"), "Détecteur de frags");
        assert_eq!(m.name_for("de"), "Kill feed detector");
    }

    #[test]
    fn it_serialises_with_the_manifest_names() {
        let m = Manifest::parse(VALID, Path::new("/plugins/killfeed")).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["type"], "optional");
        assert_eq!(v["version"], "1.0.0");
        assert_eq!(v["permissions"]["screen"]["level"], "required");
        assert_eq!(v["platforms"], json!(["linux", "windows"]));
        assert_eq!(v["engines"]["clipshot"], ">=0.1.0");
        assert!(v.get("dir").is_none());
    }

    #[test]
    fn the_entry_symbol_defaults_to_the_sdk_one() {
        let mut doc = valid();
        doc.as_object_mut().unwrap().remove("entry");
        let m = Manifest::parse(&doc.to_string(), Path::new("/nowhere")).unwrap();
        assert_eq!(m.entry, Entry::default());
        assert_eq!(m.entry.native, "clipshot_plugin_entry");
    }

    #[test]
    fn every_mistake_in_the_table_is_reported_at_exactly_its_pointers() {
        let mut failures = Vec::new();
        for row in rows() {
            let mut doc = valid();
            apply_patch(&mut doc, &row.patch);
            let dir = tempfile::tempdir().unwrap();
            write_files(dir.path(), row.files.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let mode = match row.mode.as_deref() {
                None | Some("installed") => ParseMode::Installed,
                Some("unpacked") => ParseMode::Unpacked,
                Some(other) => panic!("{}: unknown mode {other}", row.mistake),
            };
            let result = Manifest::parse_with(&doc.to_string(), dir.path(), mode);
            let mut expected = row.pointers.clone();
            expected.sort();
            let found = pointers(&result);
            if found != expected {
                let detail = match &result {
                    Ok(_) => "parsed".to_owned(),
                    Err(e) => e.to_string(),
                };
                failures.push(format!("{}: expected {expected:?}, found {found:?}\n    {detail}", row.mistake));
            }
            if let Err(e) = &result {
                assert!(e.problems().iter().all(|p| !p.message.is_empty()), "{}: an empty message", row.mistake);
            }
        }
        assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn the_table_covers_every_field() {
        let rows = rows();
        let covered = |field: &str| {
            let at = format!("/{field}");
            rows.iter().flat_map(|r| &r.pointers).any(|p| *p == at || p.starts_with(&format!("{at}/")))
        };
        let missing: Vec<&str> = FIELDS.iter().copied().chain(["locales"]).filter(|f| !covered(f)).collect();
        assert!(missing.is_empty(), "no row for {missing:?}");
    }

    #[test]
    fn several_mistakes_are_reported_at_once() {
        let mut doc = valid();
        apply_patch(
            &mut doc,
            &serde_json::from_value::<Vec<Value>>(json!([
                {"op": "replace", "path": "/id", "value": "Killfeed"},
                {"op": "replace", "path": "/version", "value": "1.0"},
                {"op": "remove", "path": "/license"},
                {"op": "add", "path": "/platforms/-", "value": "windows"},
                {"op": "replace", "path": "/native/binaries/linux-x64/sha256", "value": "nope"},
                {"op": "replace", "path": "/native/binaries/windows-x64/path", "value": "../killfeed.dll"},
                {"op": "replace", "path": "/config/threshold", "value": -1},
                {"op": "add", "path": "/licence", "value": "MIT"},
            ]))
            .unwrap(),
        );
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), [("locales/de.json", "{\"name\": [\"Killfeed\"]}")]);
        let err = Manifest::parse(&doc.to_string(), dir.path()).unwrap_err();
        let found = pointers(&Err(err));
        assert_eq!(
            found,
            [
                "/config/threshold",
                "/id",
                "/licence",
                "/license",
                "/locales/de.json",
                "/native/binaries/linux-x64/sha256",
                "/native/binaries/windows-x64/path",
                "/platforms/2",
                "/version",
            ]
        );

        let err = Manifest::parse(&doc.to_string(), dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(&format!("{}: 9 problems\n", dir.path().join(MANIFEST_FILE).display())), "{text}");
        for problem in err.problems() {
            assert!(text.contains(&format!("\n  {problem}")), "{problem} missing from {text}");
        }
        let licence = err.problems().iter().find(|p| p.pointer == "/licence").unwrap();
        assert_eq!(licence.message, "unknown field; did you mean `license`?");
    }

    #[test]
    fn one_problem_is_said_in_the_singular() {
        let mut doc = valid();
        doc["name"] = json!("");
        let err = Manifest::parse(&doc.to_string(), Path::new("/p")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: 1 problem\n  /name: must not be empty", Path::new("/p/manifest.json").display())
        );
    }

    #[test]
    fn text_that_is_not_a_json_object_is_a_syntax_error() {
        for text in ["", "{", "[1, 2]", "\"manifest\"", "null"] {
            let err = Manifest::parse(text, Path::new("/p")).unwrap_err();
            assert!(matches!(err, ManifestError::Syntax { .. }), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_folder_without_a_manifest_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(matches!(&err, ManifestError::Read { path, .. } if *path == dir.path().join(MANIFEST_FILE)), "{err}");
    }

    #[test]
    fn an_unpacked_manifest_loads_with_empty_hashes() {
        let mut doc = valid();
        doc["native"]["binaries"]["linux-x64"]["sha256"] = json!("");
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), [(MANIFEST_FILE, doc.to_string().as_str())]);
        assert!(Manifest::load(dir.path()).is_err());
        let m = Manifest::load_with(dir.path(), ParseMode::Unpacked).unwrap();
        assert_eq!(m.native.binaries["linux-x64"].sha256, "");
    }

    #[test]
    fn pointers_escape_slashes_and_tildes() {
        let mut doc = valid();
        doc["dependencies"] = json!({"a/b~c": "^1"});
        let err = Manifest::parse(&doc.to_string(), Path::new("/p")).unwrap_err();
        assert_eq!(pointers(&Err(err)), ["/dependencies/a~1b~0c"]);
    }

    #[test]
    fn platforms_map_to_binaries() {
        assert_eq!(platform_os("macos-arm64"), Some(Os::Macos));
        assert_eq!(platform_os("windows-x64"), Some(Os::Windows));
        assert_eq!(platform_os("linux-x86"), None);
        assert_eq!(platform_os("linux"), None);
        if current_platform() != "unknown" {
            assert_eq!(platform_os(current_platform()), current_os());
        }

        let m = Manifest::parse(VALID, Path::new("/p")).unwrap();
        let expected = match current_platform() {
            "linux-x64" => Some("lib/libkillfeed.so"),
            "windows-x64" => Some("lib/killfeed.dll"),
            _ => None,
        };
        assert_eq!(m.binary_for_current_platform().map(|b| b.path.as_str()), expected);
    }

    #[test]
    fn names_round_trip() {
        for &p in Permission::ALL {
            assert_eq!(Permission::from_name(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
        }
        assert_eq!(Permission::ALL.len(), 6);
        assert!(PermissionLevel::Required > PermissionLevel::Optional);
        assert_eq!(PluginType::from_name("ai"), Some(PluginType::Ai));
        assert_eq!(Os::from_name("macos"), Some(Os::Macos));
    }

    #[test]
    fn ids_are_lowercase_reverse_dns() {
        for id in ["com.example.x", "a.b", "io.github.user-name.plugin2", "0.1"] {
            assert!(is_plugin_id(id), "{id}");
        }
        for id in ["", "example", "com.", ".com", "com..x", "Com.x", "com.x_y", "com.-x", "com.x y"] {
            assert!(!is_plugin_id(id), "{id}");
        }
    }
}
