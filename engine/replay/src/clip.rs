//! Crash-safe clip files: written under a temporary name, synced, renamed.
//!
//! A crash leaves either no clip or a complete one; a failure (disk full, an
//! unwritable folder) removes the partial file and leaves the ring untouched,
//! since the writer only ever reads shared handles.

use crate::mp4::{self, ClipInfo, ClipSource};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A file name stem from the UTC time, unique within the process
/// (`20261121-234501-042-7`): clips and recordings sort by when they began.
pub fn timestamp_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let stamp = now.format(&fmt).unwrap_or_else(|_| now.unix_timestamp().to_string());
    format!("{stamp}-{:03}-{}", now.millisecond(), SEQ.fetch_add(1, Ordering::Relaxed))
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("cannot create clip folder {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write clip {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("clip {path} already exists")]
    Exists { path: PathBuf },
}

/// A clip that is complete on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedFile {
    pub path: PathBuf,
    pub info: ClipInfo,
    /// Writing, syncing and renaming, in milliseconds.
    pub write_ms: f64,
}

/// Writes `src` to `dir/file_name` atomically: `.file_name.part`, fsync,
/// rename, fsync of the folder.
pub fn save_clip(dir: &Path, file_name: &str, src: &ClipSource<'_>) -> Result<SavedFile, SaveError> {
    let started = Instant::now();
    fs::create_dir_all(dir).map_err(|source| SaveError::CreateDir { path: dir.to_owned(), source })?;
    let path = dir.join(file_name);
    if path.exists() {
        return Err(SaveError::Exists { path });
    }
    let temp = dir.join(format!(".{file_name}.part"));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        let info = mp4::write_clip(&mut file, src)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, &path)?;
        // The rename is durable only once the folder's entry is.
        File::open(dir)?.sync_all()?;
        Ok(info)
    })();
    match result {
        Ok(info) => Ok(SavedFile { path, info, write_ms: started.elapsed().as_secs_f64() * 1e3 }),
        Err(source) => {
            let _ = fs::remove_file(&temp);
            Err(SaveError::Write { path, source })
        }
    }
}
