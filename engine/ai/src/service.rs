//! The models a daemon knows, the ones it has open, and the runtime under
//! them: what the AI routes (and, later, the analysis nodes) share.

use crate::manifest::{self, Manifest, ManifestError, Model, Task};
use crate::runtime::{LoadedModel, OnnxRuntime, RuntimeError, library_path};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("no model `{0}`")]
    UnknownModel(String),
    #[error("model `{id}` cannot be used: {}", .error.problems.join("; "))]
    Invalid { id: String, error: ManifestError },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// A model folder as found: its manifest, or what is wrong with it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub manifest_path: PathBuf,
    pub result: Result<Model, ManifestError>,
}

impl Entry {
    pub fn id(&self) -> Option<&str> {
        match &self.result {
            Ok(m) => Some(&m.manifest.id),
            Err(e) => e.id.as_deref(),
        }
    }

    pub fn manifest(&self) -> Option<&Manifest> {
        self.result.as_ref().ok().map(|m| &m.manifest)
    }
}

/// Models, sessions and the runtime.
pub struct Ai {
    dirs: Vec<PathBuf>,
    threads: usize,
    entries: RwLock<Vec<Entry>>,
    /// What the last scan saw: each model folder and its manifest's mtime.
    seen: parking_lot::Mutex<Vec<(PathBuf, Option<std::time::SystemTime>)>>,
    loaded: RwLock<BTreeMap<String, Arc<LoadedModel>>>,
    gpu: std::sync::OnceLock<clipshot_gpu::Preprocessor>,
    opening: parking_lot::Mutex<()>,
}

impl std::fmt::Debug for Ai {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ai").field("dirs", &self.dirs).finish_non_exhaustive()
    }
}

/// Model folders (`<dir>/<model>/model.json`) in `dirs`, first dir first.
fn scan(dirs: &[PathBuf]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> =
            read.flatten().map(|e| e.path().join("model.json")).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let result = manifest::load(&path);
            let entry = Entry { manifest_path: path, result };
            // An id seen already (in an earlier folder) wins: the user's models dir overrides the shipped one.
            if entry.id().is_some_and(|id| entries.iter().any(|e| e.id() == Some(id))) {
                tracing::warn!(manifest = %entry.manifest_path.display(), "a model with this id was found already; ignored");
                continue;
            }
            entries.push(entry);
        }
    }
    entries
}

/// The model folders and when each folder and manifest last changed.
fn fingerprint(dirs: &[PathBuf]) -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut out = Vec::new();
    for dir in dirs {
        out.push((dir.clone(), mtime(dir)));
        let Ok(read) = std::fs::read_dir(dir) else { continue };
        let mut folders: Vec<PathBuf> = read.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        folders.sort();
        for f in folders {
            let manifest = f.join("model.json");
            out.push((manifest.clone(), mtime(&manifest)));
            out.push((f.clone(), mtime(&f)));
        }
    }
    out
}

impl Ai {
    /// Scans `dirs` now; the runtime loads on first use.
    pub fn new(dirs: Vec<PathBuf>, threads: usize) -> Self {
        let entries = scan(&dirs);
        for e in &entries {
            if let Err(err) = &e.result {
                tracing::warn!("model skipped: {err}");
            }
        }
        let seen = parking_lot::Mutex::new(fingerprint(&dirs));
        Self {
            dirs,
            threads,
            entries: RwLock::new(entries),
            seen,
            loaded: RwLock::default(),
            gpu: Default::default(),
            opening: Default::default(),
        }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Reads the folders again when a model folder or manifest changed (a
    /// model added or fixed by hand); unchanged, nothing is hashed again.
    pub fn rescan(&self) {
        let now = fingerprint(&self.dirs);
        let mut seen = self.seen.lock();
        if *seen != now {
            *self.entries.write() = scan(&self.dirs);
            *seen = now;
        }
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.read().clone()
    }

    pub fn entry(&self, id: &str) -> Option<Entry> {
        self.entries.read().iter().find(|e| e.id() == Some(id)).cloned()
    }

    /// The runtime, loading its library on first use. A failure is not
    /// remembered: installing the library later makes the next call work.
    pub fn runtime(&self) -> Result<Arc<OnnxRuntime>, RuntimeError> {
        OnnxRuntime::load(&library_path())
    }

    /// The open session of `id`, opening it if needed (the file is hashed
    /// again first: what is opened is what the manifest names).
    pub fn load(&self, id: &str) -> Result<Arc<LoadedModel>, AiError> {
        if let Some(m) = self.loaded.read().get(id) {
            return Ok(Arc::clone(m));
        }
        // One opening at a time: two callers asking at once get one session.
        let _opening = self.opening.lock();
        if let Some(m) = self.loaded.read().get(id) {
            return Ok(Arc::clone(m));
        }
        let entry = self.entry(id).ok_or_else(|| AiError::UnknownModel(id.to_owned()))?;
        let model =
            manifest::load(&entry.manifest_path).map_err(|error| AiError::Invalid { id: id.to_owned(), error })?;
        let loaded = Arc::new(self.runtime()?.open(&model, self.threads)?);
        self.loaded.write().insert(id.to_owned(), Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Closes the session of `id` (once its last user lets go); false if none was open.
    pub fn unload(&self, id: &str) -> bool {
        self.loaded.write().remove(id).is_some()
    }

    pub fn loaded(&self, id: &str) -> Option<Arc<LoadedModel>> {
        self.loaded.read().get(id).cloned()
    }

    pub fn loaded_all(&self) -> Vec<Arc<LoadedModel>> {
        self.loaded.read().values().cloned().collect()
    }

    /// Where frames are preprocessed: the GPU device, opened on first use
    /// and shared by every node, or the CPU path (and one log line why).
    pub fn preprocessor(&self) -> &clipshot_gpu::Preprocessor {
        self.gpu.get_or_init(clipshot_gpu::Preprocessor::open)
    }

    /// The preprocessor if something has opened it (a metrics scrape should
    /// not create a GPU device).
    pub fn preprocessor_if_open(&self) -> Option<&clipshot_gpu::Preprocessor> {
        self.gpu.get()
    }

    /// The first usable model for `task`.
    pub fn model_for(&self, task: Task) -> Option<String> {
        self.entries.read().iter().find_map(|e| match &e.result {
            Ok(m) if m.manifest.task == task => Some(m.manifest.id.clone()),
            _ => None,
        })
    }
}

/// The shipped models: `models/` of a source checkout, when it has one.
pub fn bundled_models_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}
