//! Plugin archives (`.tar.gz`): written by `clipshot plugins pack`, opened
//! on install. Extraction trusts nothing in the archive: only regular files
//! and folders, every path relative and inside the destination, no links
//! of any kind, and limits on the count and size of what comes out (a
//! small archive can inflate to gigabytes).

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Bounds on what an archive may extract to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_files: 2_000, max_file_bytes: 256 << 20, max_total_bytes: 512 << 20 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("`{0}` leaves the plugin's folder")]
    Traversal(String),
    #[error("`{0}` is a link; plugin archives hold regular files and folders only")]
    Link(String),
    #[error("`{path}` is a {kind}; plugin archives hold regular files and folders only")]
    Unsupported { path: String, kind: String },
    #[error("the archive holds more than {0} files")]
    TooManyFiles(usize),
    #[error("the archive extracts to more than {0} bytes")]
    TooLarge(u64),
    #[error("the archive is not a readable .tar.gz: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(String),
}

/// A relative path made only of normal components, or why not.
fn safe_path(path: &Path) -> Result<PathBuf, ArchiveError> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(ArchiveError::Traversal(path.display().to_string()));
            }
        }
    }
    Ok(out)
}

/// Extracts `archive` into `dest` (created; must not exist yet).
pub fn extract(archive: &Path, dest: &Path, limits: Limits) -> Result<(), ArchiveError> {
    let file = std::fs::File::open(archive)
        .map_err(|e| ArchiveError::Io(format!("cannot open {}: {e}", archive.display())))?;
    extract_from(file, dest, limits)
}

/// As [`extract`], from any reader of `.tar.gz` bytes.
pub fn extract_from(reader: impl Read, dest: &Path, limits: Limits) -> Result<(), ArchiveError> {
    std::fs::create_dir(dest).map_err(|e| ArchiveError::Io(format!("cannot create {}: {e}", dest.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let entries = archive.entries().map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    let (mut files, mut total) = (0usize, 0u64);
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = entry.path().map_err(|e| ArchiveError::Corrupt(e.to_string()))?.into_owned();
        let shown = raw.display().to_string();
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(ArchiveError::Link(shown));
        }
        let relative = safe_path(&raw)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&relative);
        if !kind.is_dir() && !kind.is_file() {
            return Err(ArchiveError::Unsupported { path: shown, kind: format!("{kind:?}").to_lowercase() });
        }
        // Folders count too: a million of them exhausts inodes just as well.
        files += 1;
        if files > limits.max_files {
            return Err(ArchiveError::TooManyFiles(limits.max_files));
        }
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| ArchiveError::Io(e.to_string()))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ArchiveError::Io(e.to_string()))?;
        }
        // A folder created above may not be a link planted by an earlier
        // entry: links were refused, so every parent is a real folder here.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| ArchiveError::Io(format!("cannot write {shown}: {e}")))?;
        // Count what actually comes out, not what the header claims.
        let allowed = limits.max_file_bytes.min(limits.max_total_bytes - total);
        let written = std::io::copy(&mut (&mut entry).take(allowed + 1), &mut out)
            .map_err(|e| ArchiveError::Corrupt(format!("{shown}: {e}")))?;
        if written > allowed {
            return Err(ArchiveError::TooLarge(limits.max_total_bytes.min(limits.max_file_bytes)));
        }
        total += written;
    }
    Ok(())
}

/// The `id` in an archive's `manifest.json`, without extracting anything.
pub fn peek_id(archive: &Path) -> Result<String, ArchiveError> {
    peek_manifest(archive)?["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ArchiveError::Corrupt("manifest.json has no id".into()))
}

/// An archive's `manifest.json` as JSON (unchecked), without extracting anything.
pub fn peek_manifest(archive: &Path) -> Result<serde_json::Value, ArchiveError> {
    let file = std::fs::File::open(archive)
        .map_err(|e| ArchiveError::Io(format!("cannot open {}: {e}", archive.display())))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in tar.entries().map_err(|e| ArchiveError::Corrupt(e.to_string()))? {
        let entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let is_manifest =
            entry.path().is_ok_and(|p| safe_path(&p).is_ok_and(|p| p == Path::new(crate::manifest::MANIFEST_FILE)));
        if is_manifest && entry.header().entry_type().is_file() {
            let mut text = String::new();
            entry.take(1 << 20).read_to_string(&mut text).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
            return serde_json::from_str(&text).map_err(|e| ArchiveError::Corrupt(format!("manifest.json: {e}")));
        }
    }
    Err(ArchiveError::Corrupt("the archive has no manifest.json".into()))
}

/// Writes `files` (source path, path in the archive) as a `.tar.gz` at `out`.
pub fn pack(files: &[(PathBuf, String)], out: &Path) -> std::io::Result<()> {
    let tmp = out.with_extension("part");
    {
        let file = std::fs::File::create(&tmp)?;
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
        builder.mode(tar::HeaderMode::Deterministic);
        for (source, name) in files {
            builder.append_path_with_name(source, name)?;
        }
        let mut gz = builder.into_inner()?;
        gz.flush()?;
        gz.finish()?.sync_all()?;
    }
    std::fs::rename(&tmp, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        build(&mut b);
        b.into_inner().unwrap().finish().unwrap()
    }

    fn file(b: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Written raw so that hostile names reach the extractor unchanged.
        h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn a_plain_archive_extracts_and_packs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("lib.so"), b"\x7fELF").unwrap();
        let out = dir.path().join("p.tar.gz");
        pack(
            &[
                (dir.path().join("manifest.json"), "manifest.json".into()),
                (dir.path().join("lib.so"), "lib/lib.so".into()),
            ],
            &out,
        )
        .unwrap();
        let dest = dir.path().join("x");
        extract(&out, &dest, Limits::default()).unwrap();
        assert_eq!(std::fs::read(dest.join("lib/lib.so")).unwrap(), b"\x7fELF");
    }

    #[test]
    fn traversal_links_and_bombs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let traversal = archive(|b| file(b, "../evil.so", b"x"));
        let err = extract_from(traversal.as_slice(), &dir.path().join("a"), Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Traversal(_)), "{err}");
        assert!(!dir.path().join("evil.so").exists());

        let absolute = archive(|b| file(b, "/tmp/evil.so", b"x"));
        let err = extract_from(absolute.as_slice(), &dir.path().join("b"), Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Traversal(_)), "{err}");

        let link = archive(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "lib", "/etc").unwrap();
        });
        let err = extract_from(link.as_slice(), &dir.path().join("c"), Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Link(_)), "{err}");

        let big = archive(|b| file(b, "big.bin", &vec![0u8; 10_000]));
        let small = Limits { max_total_bytes: 1_000, ..Limits::default() };
        let err = extract_from(big.as_slice(), &dir.path().join("d"), small).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge(_)), "{err}");

        let many = archive(|b| (0..5).for_each(|i| file(b, &format!("f{i}"), b"x")));
        let few = Limits { max_files: 3, ..Limits::default() };
        let err = extract_from(many.as_slice(), &dir.path().join("e"), few).unwrap_err();
        assert!(matches!(err, ArchiveError::TooManyFiles(3)), "{err}");

        let err = extract_from(&b"not gzip"[..], &dir.path().join("f"), Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    }
}
