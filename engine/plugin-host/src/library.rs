//! Opening a plugin library: copy it to a private content-addressed path,
//! verify the SHA-256 of that copy, and only then open it; check the ABI
//! version and build information before calling anything else; describe
//! its node kinds.
//!
//! Hashing one path and opening another is a race (the file can change in
//! between), so the file that is opened is always the private copy whose
//! bytes were hashed. Libraries are never closed: a node's code may still be
//! on some thread's stack, and a reload opens the new copy beside the old one.

use crate::ffi::{self, SinkBuf};
use clipshot_core::{MediaType, PadSpec};
use clipshot_plugin_sdk::abi::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::CStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why a library was refused. Serializable: the out-of-process host sends it
/// back over its pipe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum LoadError {
    #[error("the library's SHA-256 is {actual}, the manifest says {expected}: the file was changed after packing")]
    Hash { expected: String, actual: String },
    #[error("the library was built for plugin ABI {found}; this engine speaks ABI {expected}")]
    Abi { found: u32, expected: u32 },
    #[error("the library's descriptor is {found} bytes, ABI {CS_ABI_VERSION} needs at least {expected}")]
    DescriptorSize { found: u32, expected: u32 },
    #[error("the library was built with plugin SDK {found}, which this engine (SDK {expected}) cannot load")]
    Build { found: String, expected: String },
    #[error("the library says it is `{found}`, the manifest says `{expected}`")]
    Identity { expected: String, found: String },
    #[error("cannot open the library: {0}")]
    Open(String),
    #[error("the plugin's init failed: {0}")]
    Init(String),
    #[error("node kind #{index} of the library is invalid: {message}")]
    Describe { index: usize, message: String },
    #[error("{0}")]
    Io(String),
}

impl LoadError {
    /// A short machine-readable reason (the API's problem `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Hash { .. } => "hash",
            Self::Abi { .. } | Self::DescriptorSize { .. } => "abi",
            Self::Build { .. } => "build",
            Self::Identity { .. } => "identity",
            Self::Open(_) => "open",
            Self::Init(_) => "init",
            Self::Describe { .. } => "describe",
            Self::Io(_) => "io",
        }
    }
}

/// What the descriptor says about the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LibraryInfo {
    pub plugin_id: String,
    pub plugin_version: String,
    pub abi_version: u32,
    pub sdk_version: String,
    pub compiler: String,
}

/// One pad as a plugin describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PadDescription {
    pub name: String,
    pub direction: String,
    pub media: String,
    #[serde(default)]
    pub required: bool,
}

/// A node kind as a plugin describes it (`CsDescribeFn`'s JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDescription {
    pub kind: String,
    #[serde(default)]
    pub summary: String,
    pub pads: Vec<PadDescription>,
    #[serde(default = "any_object")]
    pub props_schema: serde_json::Value,
}

fn any_object() -> serde_json::Value {
    serde_json::json!({"type": "object"})
}

impl NodeDescription {
    /// Checks the description and turns its pads into the engine's.
    pub fn pads(&self) -> Result<Vec<PadSpec>, String> {
        if !valid_kind(&self.kind) {
            return Err(format!("kind `{}` is not a dotted lowercase name (`vendor.thing`)", self.kind));
        }
        self.pads
            .iter()
            .map(|p| {
                let media: MediaType = serde_json::from_value(serde_json::Value::String(p.media.clone()))
                    .map_err(|_| format!("pad `{}` has unknown media type `{}`", p.name, p.media))?;
                let pad = match p.direction.as_str() {
                    "in" => PadSpec::input(&p.name, media),
                    "out" => PadSpec::output(&p.name, media),
                    other => return Err(format!("pad `{}` has direction `{other}` (want `in` or `out`)", p.name)),
                };
                Ok(pad.required(p.required))
            })
            .collect()
    }

    /// Names of the output pads (what an emitted tensor may name).
    pub fn output_pads(&self) -> Vec<String> {
        self.pads.iter().filter(|p| p.direction == "out").map(|p| p.name.clone()).collect()
    }
}

fn valid_kind(kind: &str) -> bool {
    let mut parts = 0;
    for part in kind.split('.') {
        parts += 1;
        let ok = !part.is_empty()
            && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && part.starts_with(|c: char| c.is_ascii_lowercase());
        if !ok {
            return false;
        }
    }
    parts >= 2 && kind.len() <= 64
}

/// Whether the engine can load a library built with SDK `found`: the same
/// major version (for 0.x, the same minor).
pub fn sdk_compatible(found: &str) -> bool {
    let (Ok(found), Ok(ours)) =
        (semver::Version::parse(found), semver::Version::parse(clipshot_plugin_sdk::SDK_VERSION))
    else {
        return false;
    };
    if ours.major == 0 { found.major == 0 && found.minor == ours.minor } else { found.major == ours.major }
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
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
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Copies `source` into `cache_dir` under its expected hash and verifies the
/// copy's bytes. Returns the path to open; nothing else may be opened.
pub fn private_copy(source: &Path, expected_sha256: &str, cache_dir: &Path) -> Result<PathBuf, LoadError> {
    let io = |what: &str, e: std::io::Error| LoadError::Io(format!("{what}: {e}"));
    create_private_dir(cache_dir).map_err(|e| io(&format!("cannot create {}", cache_dir.display()), e))?;
    let extension = source.extension().and_then(|e| e.to_str()).unwrap_or("so");
    let target = cache_dir.join(format!("{expected_sha256}.{extension}"));
    // Always copied and checked afresh: the installed file is what must
    // match (a copy from an earlier load proves nothing about it now).
    // A name of its own: two loads of the same bytes must not share it.
    static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = cache_dir.join(format!(".{expected_sha256}.{}.{n}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    {
        let mut input = std::fs::File::open(source).map_err(|e| io(&format!("cannot read {}", source.display()), e))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o500);
        let mut output = options.open(&tmp).map_err(|e| io(&format!("cannot write {}", tmp.display()), e))?;
        std::io::copy(&mut input, &mut output).map_err(|e| io("cannot copy the library", e))?;
        output.flush().and_then(|()| output.sync_all()).map_err(|e| io("cannot copy the library", e))?;
    }
    let actual = sha256_file(&tmp).map_err(|e| io("cannot hash the copy", e))?;
    if actual != expected_sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(LoadError::Hash { expected: expected_sha256.to_owned(), actual });
    }
    // The same bytes may be there already (mapped by a running host): keep them.
    if target.exists() && sha256_file(&target).is_ok_and(|h| h == expected_sha256) {
        let _ = std::fs::remove_file(&tmp);
        return Ok(target);
    }
    std::fs::rename(&tmp, &target).map_err(|e| io("cannot move the copy into place", e))?;
    Ok(target)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// A node kind of an opened library.
#[derive(Debug, Clone)]
pub struct LoadedNode {
    pub description: NodeDescription,
    pub vtable: CsNodeVtable,
}

/// An opened, checked library. Never closed (see the module docs).
#[derive(Debug)]
pub struct OpenedLibrary {
    pub info: LibraryInfo,
    pub nodes: Vec<LoadedNode>,
    shutdown: Option<CsShutdownFn>,
}

impl OpenedLibrary {
    /// Calls the plugin's shutdown. The library stays mapped.
    pub fn shutdown(&self) {
        if let Some(shutdown) = self.shutdown {
            // SAFETY: the entry point comes from a checked descriptor; the
            // SDK catches panics inside it.
            unsafe { shutdown() };
        }
    }
}

unsafe fn c_text(ptr: *const std::ffi::c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        // SAFETY: the descriptor's strings are NUL-terminated statics.
        unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
    }
}

/// Verifies `path` (a private copy) against `expected_sha256`, opens it,
/// checks the descriptor and describes the node kinds.
pub fn open(path: &Path, expected_sha256: &str, symbol: &str, expected_id: &str) -> Result<OpenedLibrary, LoadError> {
    let actual = sha256_file(path).map_err(|e| LoadError::Io(format!("cannot hash {}: {e}", path.display())))?;
    if actual != expected_sha256 {
        return Err(LoadError::Hash { expected: expected_sha256.to_owned(), actual });
    }
    // SAFETY: opening a library runs its initialisers; this is the file
    // whose bytes were just verified against the manifest.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Open(e.to_string()))?;
    // Never closed: see the module docs.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol's type is the ABI's entry function.
    let entry: CsEntryFn = unsafe { library.get::<CsEntryFn>(symbol.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| LoadError::Open(format!("no `{symbol}` entry point: {e}")))?;
    // SAFETY: calling the entry point is the only way to reach the descriptor.
    let descriptor = unsafe { entry() };
    if descriptor.is_null() {
        return Err(LoadError::Open(format!("`{symbol}` returned no descriptor")));
    }
    // The ABI version is the first field in every ABI: read it, and only
    // it, before trusting the layout of the rest.
    // SAFETY: every descriptor starts with a u32 ABI version.
    let abi_version = unsafe { descriptor.cast::<u32>().read() };
    if abi_version != CS_ABI_VERSION {
        return Err(LoadError::Abi { found: abi_version, expected: CS_ABI_VERSION });
    }
    // SAFETY: ABI 1 descriptors start with the two u32 fields.
    let size = unsafe { descriptor.cast::<u32>().add(1).read() };
    let expected_size = std::mem::size_of::<CsPlugin>() as u32;
    if size < expected_size {
        return Err(LoadError::DescriptorSize { found: size, expected: expected_size });
    }
    // SAFETY: the version and size say this is an ABI 1 descriptor.
    let plugin: &'static CsPlugin = unsafe { &*descriptor };
    // SAFETY (the texts): NUL-terminated statics per the ABI.
    let info = unsafe {
        LibraryInfo {
            plugin_id: c_text(plugin.plugin_id),
            plugin_version: c_text(plugin.plugin_version),
            abi_version,
            sdk_version: c_text(plugin.sdk_version),
            compiler: c_text(plugin.compiler),
        }
    };
    if !sdk_compatible(&info.sdk_version) {
        return Err(LoadError::Build {
            found: info.sdk_version,
            expected: clipshot_plugin_sdk::SDK_VERSION.to_owned(),
        });
    }
    if info.plugin_id != expected_id {
        return Err(LoadError::Identity { expected: expected_id.to_owned(), found: info.plugin_id });
    }
    if plugin.node_count > 1024 || (plugin.node_count > 0 && plugin.nodes.is_null()) {
        return Err(LoadError::Describe { index: 0, message: format!("{} node kinds declared", plugin.node_count) });
    }
    if let Some(init) = plugin.init {
        let mut error = SinkBuf::default();
        // SAFETY: a checked descriptor's entry point; the sink lives for the call.
        let status = unsafe { init(&error.sink()) };
        if status != CS_OK {
            return Err(LoadError::Init(error.message_or(status)));
        }
    }
    let vtables: &[CsNodeVtable] = if plugin.node_count == 0 {
        &[]
    } else {
        // SAFETY: `nodes` points to `node_count` static vtables.
        unsafe { std::slice::from_raw_parts(plugin.nodes, plugin.node_count) }
    };
    let mut nodes = Vec::with_capacity(vtables.len());
    for (index, vtable) in vtables.iter().enumerate() {
        let mut out = SinkBuf::default();
        // SAFETY: the vtable comes from the checked descriptor.
        let status = unsafe { (vtable.describe)(&out.sink()) };
        if status != CS_OK {
            return Err(LoadError::Describe {
                index,
                message: format!("describe failed ({})", ffi::status_name(status)),
            });
        }
        let description: NodeDescription = serde_json::from_str(&out.text())
            .map_err(|e| LoadError::Describe { index, message: format!("the description is not valid: {e}") })?;
        description.pads().map_err(|message| LoadError::Describe { index, message })?;
        if nodes.iter().any(|n: &LoadedNode| n.description.kind == description.kind) {
            return Err(LoadError::Describe {
                index,
                message: format!("kind `{}` is declared twice", description.kind),
            });
        }
        nodes.push(LoadedNode { description, vtable: *vtable });
    }
    Ok(OpenedLibrary { info, nodes, shutdown: plugin.shutdown })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clipshot_core::PadDirection;

    #[test]
    fn kinds_are_dotted_lowercase_names() {
        for ok in ["killfeed.color", "hud.crop", "c.flash", "vendor.game.kill-feed"] {
            assert!(valid_kind(ok), "{ok}");
        }
        for bad in ["killfeed", "Kill.feed", ".x", "a..b", "1a.b", "a.b c", ""] {
            assert!(!valid_kind(bad), "{bad}");
        }
    }

    #[test]
    fn sdk_versions_follow_semver_compatibility() {
        assert!(sdk_compatible(clipshot_plugin_sdk::SDK_VERSION));
        assert!(!sdk_compatible("99.0.0"));
        assert!(!sdk_compatible("not a version"));
    }

    #[test]
    fn a_copy_that_does_not_match_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("lib.so");
        std::fs::write(&source, b"not the packed bytes").unwrap();
        let cache = dir.path().join("cache");
        let err = private_copy(&source, &"0".repeat(64), &cache).unwrap_err();
        assert_eq!(err.code(), "hash");
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "no copy is left behind");
        let good = sha256_file(&source).unwrap();
        let copy = private_copy(&source, &good, &cache).unwrap();
        assert_eq!(sha256_file(&copy).unwrap(), good);
        assert!(copy.starts_with(&cache));
    }

    #[test]
    fn descriptions_with_bad_pads_are_refused() {
        let mut d = NodeDescription {
            kind: "a.b".into(),
            summary: String::new(),
            pads: vec![PadDescription {
                name: "video".into(),
                direction: "in".into(),
                media: "raw-video".into(),
                required: true,
            }],
            props_schema: any_object(),
        };
        assert_eq!(d.pads().unwrap()[0].direction, PadDirection::In);
        d.pads[0].media = "video/vp9".into();
        assert!(d.pads().unwrap_err().contains("unknown media type"));
        d.pads[0].media = "raw-video".into();
        d.pads[0].direction = "sideways".into();
        assert!(d.pads().unwrap_err().contains("direction"));
    }
}
