//! `/api/v1/marketplace`: plugins from an index (JSON at the configured
//! `marketplace_url`, a file path or an `http(s)` URL), installed with the
//! same checks as an archive from disk, plus two of its own: the download's
//! SHA-256 must be the index's, and the release must accept this engine.
//!
//! The index: `{"plugins": [{"id", "name", "description": {"en": …},
//! "category", "author", "versions": [{"version", "archive_url", "sha256",
//! "engines": {"clipshot": ">=0.1"}}]}]}`; an `archive_url` may be relative
//! to the index.

use super::plugins::{engine_plugin_problem, plugin_problem};
use super::{AppState, blocking};
use crate::problem::{ApiJson, Problem};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use clipshot_core::{Event, EventSink};
use clipshot_runtime::plugin::{Permission, PluginInfo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use utoipa::{IntoParams, ToSchema};

/// Largest index and archive the daemon downloads.
const MAX_INDEX: usize = 4 << 20;
const MAX_ARCHIVE: u64 = 256 << 20;

/// One release of a plugin in the index.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Release {
    pub version: String,
    pub archive_url: String,
    pub sha256: String,
    /// Engine ranges, as in the manifest (`{"clipshot": ">=0.1.0"}`).
    #[serde(default)]
    pub engines: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Listing {
    id: String,
    name: String,
    #[serde(default)]
    description: BTreeMap<String, String>,
    #[serde(default)]
    category: String,
    #[serde(default)]
    author: Option<serde_json::Value>,
    versions: Vec<Release>,
}

#[derive(Debug, Deserialize)]
struct Index {
    plugins: Vec<Listing>,
}

/// A plugin the marketplace offers, as this engine sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MarketplaceEntry {
    pub id: String,
    pub name: String,
    pub description: BTreeMap<String, String>,
    pub category: String,
    #[schema(value_type = Option<Object>)]
    pub author: Option<serde_json::Value>,
    /// Every release, newest first, each with whether this engine can run it.
    pub versions: Vec<ReleaseView>,
    /// The newest release this engine can run.
    pub latest_compatible: Option<String>,
    /// The version installed here, if any.
    pub installed_version: Option<String>,
    pub update_available: bool,
}

#[cfg(test)]
mod tests {
    use super::resolve_url;

    #[test]
    fn archive_urls_resolve_against_the_index_and_a_remote_index_stays_remote() {
        let index = "http://example.org/market/index.json";
        assert_eq!(resolve_url(index, "a.tar.gz").unwrap(), "http://example.org/market/a.tar.gz");
        assert_eq!(resolve_url(index, "/dl/a.tar.gz").unwrap(), "http://example.org/dl/a.tar.gz");
        assert_eq!(resolve_url(index, "https://cdn.example/a.tar.gz").unwrap(), "https://cdn.example/a.tar.gz");
        assert!(resolve_url(index, "file:///etc/passwd").is_err());
        assert_eq!(resolve_url("http://h:8/index.json", "/a.tar.gz").unwrap(), "http://h:8/a.tar.gz");
        assert_eq!(resolve_url("/srv/market/index.json", "a.tar.gz").unwrap(), "/srv/market/a.tar.gz");
        assert_eq!(resolve_url("/srv/market/index.json", "/other/a.tar.gz").unwrap(), "/other/a.tar.gz");
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleaseView {
    #[serde(flatten)]
    pub release: Release,
    pub compatible: bool,
}

fn engine_version() -> semver::Version {
    semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("the crate version is semver")
}

fn compatible(release: &Release) -> bool {
    semver::Version::parse(&release.version).is_ok()
        && release
            .engines
            .get("clipshot")
            .is_some_and(|req| semver::VersionReq::parse(req).is_ok_and(|r| r.matches(&engine_version())))
}

fn marketplace_url(state: &AppState) -> Result<String, Problem> {
    state.config.read().marketplace_url.clone().ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, "no-marketplace", "no marketplace is configured (set `marketplace_url`)")
    })
}

fn is_http(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

async fn http_client() -> Result<reqwest::Client, Problem> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(|e| Problem::internal(e.to_string()))
}

fn unreachable_source(what: &str, e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::BAD_GATEWAY, "source-unreachable", format!("cannot fetch {what}: {e}"))
}

async fn read_index(url: &str) -> Result<Index, Problem> {
    let bytes = if is_http(url) {
        let mut response = http_client().await?.get(url).send().await.map_err(|e| unreachable_source(url, e))?;
        if !response.status().is_success() {
            return Err(unreachable_source(url, response.status()));
        }
        // Bounded while it arrives, not after.
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable_source(url, e))? {
            if bytes.len() + chunk.len() > MAX_INDEX {
                return Err(unreachable_source(url, "the index is larger than 4 MiB"));
            }
            bytes.extend_from_slice(&chunk);
        }
        bytes
    } else {
        let path = url.strip_prefix("file://").unwrap_or(url).to_owned();
        blocking(move || std::fs::read(&path)).await?.map_err(|e| unreachable_source(url, e))?
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(StatusCode::BAD_GATEWAY, "bad-index", format!("the marketplace index is not valid: {e}"))
    })
}

/// An archive's address, resolved against the index's. An index fetched
/// over HTTP may name only HTTP(S) archives (absolute, site-absolute or
/// relative): a remote index must not make the daemon read local files.
fn resolve_url(index: &str, archive: &str) -> Result<String, Problem> {
    let refuse = || {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            "bad-index",
            format!("the index's archive_url `{archive}` is not an http(s) address"),
        )
    };
    if is_http(index) {
        if is_http(archive) {
            return Ok(archive.to_owned());
        }
        if archive.contains("://") {
            return Err(refuse());
        }
        let scheme_end = index.find("://").map_or(0, |i| i + 3);
        let origin_end = index[scheme_end..].find('/').map_or(index.len(), |i| scheme_end + i);
        return Ok(if let Some(path) = archive.strip_prefix('/') {
            format!("{}/{path}", &index[..origin_end])
        } else {
            let dir_end = index.rfind('/').filter(|i| *i >= origin_end).unwrap_or(origin_end);
            format!("{}/{archive}", &index[..dir_end])
        });
    }
    // A local index (the user's own file) may name local archives.
    if is_http(archive) || archive.starts_with('/') || archive.starts_with("file://") {
        return Ok(archive.to_owned());
    }
    let base = index.strip_prefix("file://").unwrap_or(index);
    Ok(match base.rfind('/') {
        Some(i) => format!("{}/{archive}", &base[..i]),
        None => archive.to_owned(),
    })
}

fn entry(listing: Listing, installed: Option<String>) -> MarketplaceEntry {
    let mut versions: Vec<ReleaseView> =
        listing.versions.into_iter().map(|r| ReleaseView { compatible: compatible(&r), release: r }).collect();
    versions.sort_by(|a, b| {
        let v = |r: &ReleaseView| semver::Version::parse(&r.release.version).ok();
        v(b).cmp(&v(a))
    });
    let latest_compatible = versions.iter().find(|v| v.compatible).map(|v| v.release.version.clone());
    let update_available = match (&installed, &latest_compatible) {
        (Some(i), Some(l)) => semver::Version::parse(l).ok() > semver::Version::parse(i).ok(),
        _ => false,
    };
    MarketplaceEntry {
        id: listing.id,
        name: listing.name,
        description: listing.description,
        category: listing.category,
        author: listing.author,
        versions,
        latest_compatible,
        installed_version: installed,
        update_available,
    }
}

fn installed_version(state: &AppState, id: &str) -> Option<String> {
    state.engine.plugins().info(id).ok().map(|i| i.version).filter(|v| !v.is_empty())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MarketplaceQuery {
    /// Words to find in the id, name or description.
    pub q: Option<String>,
    pub category: Option<String>,
}

/// The plugins the marketplace offers.
#[utoipa::path(get, path = "/api/v1/marketplace", tag = "marketplace", params(MarketplaceQuery),
    responses((status = 200, body = Vec<MarketplaceEntry>),
        (status = 404, description = "No marketplace is configured", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The index cannot be fetched or read", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<MarketplaceQuery>,
) -> Result<Json<Vec<MarketplaceEntry>>, Problem> {
    let index = read_index(&marketplace_url(&state)?).await?;
    let q = query.q.map(|q| q.to_lowercase());
    Ok(Json(
        index
            .plugins
            .into_iter()
            .filter(|l| query.category.as_ref().is_none_or(|c| &l.category == c))
            .filter(|l| {
                q.as_ref().is_none_or(|q| {
                    let text = format!(
                        "{} {} {}",
                        l.id,
                        l.name,
                        l.description.values().cloned().collect::<Vec<_>>().join(" ")
                    );
                    q.split_whitespace().all(|word| text.to_lowercase().contains(word))
                })
            })
            .map(|l| {
                let installed = installed_version(&state, &l.id);
                entry(l, installed)
            })
            .collect(),
    ))
}

/// One plugin of the marketplace.
#[utoipa::path(get, path = "/api/v1/marketplace/{id}", tag = "marketplace", params(("id" = String, Path)),
    responses((status = 200, body = MarketplaceEntry), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<MarketplaceEntry>, Problem> {
    let index = read_index(&marketplace_url(&state)?).await?;
    let listing = index
        .plugins
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| Problem::not_found(format!("the marketplace has no plugin `{id}`")))?;
    let installed = installed_version(&state, &id);
    Ok(Json(entry(listing, installed)))
}

/// What to install from the marketplace.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceInstall {
    /// A release; the newest this engine can run when absent.
    pub version: Option<String>,
    /// Permissions granted with the install, among those the manifest asks for.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub grant: Vec<Permission>,
}

/// Downloads a release (with `task.progress` events), checks its SHA-256
/// against the index and its engine range, then installs and loads it.
#[utoipa::path(post, path = "/api/v1/marketplace/{id}/install", tag = "marketplace", params(("id" = String, Path)),
    request_body = MarketplaceInstall,
    responses((status = 201, body = PluginInfo),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Incompatible, tampered or unsafe", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json")))]
pub async fn install(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<PluginInfo>), Problem> {
    // An empty body is the defaults: the newest compatible release, no grants.
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        MarketplaceInstall::default()
    } else {
        ApiJson::<MarketplaceInstall>::from_bytes(&body)?.0
    };
    let url = marketplace_url(&state)?;
    let index = read_index(&url).await?;
    let listing = index
        .plugins
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| Problem::not_found(format!("the marketplace has no plugin `{id}`")))?;
    let view = entry(listing, None);
    let release = match &body.version {
        Some(v) => view
            .versions
            .iter()
            .find(|r| &r.release.version == v)
            .ok_or_else(|| Problem::not_found(format!("the marketplace has no release {v} of `{id}`")))?,
        None => view.versions.iter().find(|r| r.compatible).ok_or_else(|| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "plugin-dependency",
                format!("no release of `{id}` runs on ClipShot {}", engine_version()),
            )
        })?,
    };
    if !release.compatible {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "plugin-dependency",
            format!(
                "`{id}` {} needs ClipShot {}, this is {}",
                release.release.version,
                release.release.engines.get("clipshot").map_or("(no range given)", String::as_str),
                engine_version()
            ),
        ));
    }
    let source = resolve_url(&url, &release.release.archive_url)?;
    let temp = state.config.read().temp_dir();
    let (archive, _guard) = fetch_archive(&state, &source, &temp, Some(&release.release.sha256), &id).await?;
    let engine = std::sync::Arc::clone(&state.engine);
    let grant = body.grant;
    let info = blocking(move || engine.plugin_install(&archive, Some(&id), &grant)).await?;
    info.map(|i| (StatusCode::CREATED, Json(i))).map_err(engine_plugin_problem)
}

/// Deletes a downloaded archive when dropped.
#[derive(Debug)]
pub(crate) struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The archive `source` names, as a local file: a path as it is, a URL
/// downloaded into `temp` (bounded, with progress events). With
/// `sha256`, the bytes must hash to it.
pub(crate) async fn fetch_archive(
    state: &AppState,
    source: &str,
    temp: &std::path::Path,
    sha256: Option<&str>,
    plugin: &str,
) -> Result<(PathBuf, TempFile), Problem> {
    let (path, guard) = if is_http(source) {
        std::fs::create_dir_all(temp).map_err(|e| Problem::internal(format!("{}: {e}", temp.display())))?;
        let path = temp.join(format!("plugin-{}-{}.tar.gz", std::process::id(), uuid::Uuid::new_v4()));
        let guard = TempFile(Some(path.clone()));
        let task = format!("plugin-install:{plugin}");
        let mut response = http_client().await?.get(source).send().await.map_err(|e| unreachable_source(source, e))?;
        if !response.status().is_success() {
            return Err(unreachable_source(source, response.status()));
        }
        let total = response.content_length().filter(|n| *n > 0);
        if total.is_some_and(|n| n > MAX_ARCHIVE) {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "plugin-archive",
                "the archive is larger than 256 MiB",
            ));
        }
        let mut file = tokio::fs::File::create(&path).await.map_err(|e| Problem::internal(e.to_string()))?;
        let (mut received, mut reported) = (0u64, 0.0f32);
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable_source(source, e))? {
            received += chunk.len() as u64;
            if received > MAX_ARCHIVE {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "plugin-archive",
                    "the archive is larger than 256 MiB",
                ));
            }
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(|e| Problem::internal(e.to_string()))?;
            if let Some(total) = total {
                let progress = (received as f32 / total as f32).min(1.0);
                if progress - reported >= 0.05 {
                    reported = progress;
                    state.engine.events().emit(Event::TaskProgress { task: task.clone(), progress, message: None });
                }
            }
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(|e| Problem::internal(e.to_string()))?;
        state.engine.events().emit(Event::TaskProgress {
            task,
            progress: 1.0,
            message: Some(format!("downloaded {received} bytes")),
        });
        (path, guard)
    } else {
        let path = PathBuf::from(source.strip_prefix("file://").unwrap_or(source));
        if !path.is_file() {
            return Err(Problem::unprocessable(format!("no archive at {}", path.display()), Vec::new()));
        }
        (path, TempFile(None))
    };
    if let Some(expected) = sha256 {
        let hashed = path.clone();
        let actual = blocking(move || clipshot_runtime::plugin::library::sha256_file(&hashed))
            .await?
            .map_err(|e| Problem::internal(e.to_string()))?;
        if actual != expected {
            return Err(plugin_problem(clipshot_runtime::plugin::PluginError::Library {
                id: plugin.to_owned(),
                error: clipshot_runtime::plugin::LoadError::Hash { expected: expected.to_owned(), actual },
            }));
        }
    }
    Ok((path, guard))
}
