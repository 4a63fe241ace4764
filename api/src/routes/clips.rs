//! `/api/v1/clips`: saved clips, their files (with HTTP Range, so a browser
//! `<video>` can seek) and thumbnails.

use super::{AppState, blocking};
use crate::problem::{ApiJson, Problem};
use crate::store::{Clip, ClipPatch, ClipQuery, ClipSort, Cursor};
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clipshot_core::Trigger;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub pipeline: Option<String>,
    pub trigger: Option<Trigger>,
    /// Saved at or after (RFC 3339).
    pub since: Option<String>,
    /// Saved before (RFC 3339).
    pub until: Option<String>,
    pub min_score: Option<f64>,
    pub favorite: Option<bool>,
    /// `created_at`, `duration` or `size`; `-` in front for descending.
    /// Default `-created_at` (newest first).
    pub sort: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClipPage {
    pub items: Vec<Clip>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> Problem {
    let message = message.into();
    Problem::unprocessable(
        format!("`{param}`: {message}"),
        vec![serde_json::json!({ "location": format!("/query/{param}"), "code": "invalid", "message": message })],
    )
}

/// Normalises an RFC 3339 time to the stored fixed-width UTC form.
fn time_param(param: &str, value: Option<String>) -> Result<Option<String>, Problem> {
    value
        .map(|v| {
            time::OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
                .map(crate::store::timestamp)
                .map_err(|e| invalid(param, format!("not an RFC 3339 time: {e}")))
        })
        .transpose()
}

/// Clips, filtered and sorted, a page at a time.
#[utoipa::path(get, path = "/api/v1/clips", tag = "clips", params(ListQuery),
    responses((status = 200, body = ClipPage), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ClipPage>, Problem> {
    let Query(q) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let sort_text = q.sort.unwrap_or_else(|| "-created_at".into());
    let (descending, key) = match sort_text.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort_text.as_str()),
    };
    let sort = match key {
        "created_at" => ClipSort::CreatedAt,
        "duration" => ClipSort::Duration,
        "size" => ClipSort::Size,
        _ => return Err(invalid("sort", "one of created_at, duration, size (with `-` for descending)")),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", "between 1 and 200"));
    }
    let after = q
        .cursor
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(&c)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Cursor>(&bytes).ok())
                .filter(|cur| match sort {
                    ClipSort::CreatedAt => cur.value.is_string(),
                    ClipSort::Duration => cur.value.is_f64() || cur.value.is_i64(),
                    ClipSort::Size => cur.value.is_i64(),
                })
                .ok_or_else(|| Problem::bad_request("`cursor` is not a cursor of this listing"))
        })
        .transpose()?;
    let query = ClipQuery {
        pipeline: q.pipeline,
        trigger: q.trigger,
        since: time_param("since", q.since)?,
        until: time_param("until", q.until)?,
        min_score: q.min_score,
        favorite: q.favorite,
        sort,
        descending,
        after,
        limit,
    };
    let (items, next) = state.store.clips(&query).await?;
    let next_cursor = next.map(|c| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("a cursor serializes")));
    Ok(Json(ClipPage { items, next_cursor }))
}

pub async fn find(state: &AppState, id: &str) -> Result<Clip, Problem> {
    state.store.clip(id).await?.ok_or_else(|| Problem::not_found(format!("no clip `{id}`")))
}

fn gone(clip: &Clip) -> Problem {
    Problem::new(
        StatusCode::GONE,
        "clip-file-missing",
        format!("the file of clip `{}` is missing from disk ({})", clip.id, clip.path),
    )
}

/// One clip.
#[utoipa::path(get, path = "/api/v1/clips/{id}", tag = "clips", params(("id" = String, Path)),
    responses((status = 200, body = Clip), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Clip>, Problem> {
    Ok(Json(find(&state, &id).await?))
}

/// The MP4 file. Honours `Range` (206 Partial Content), so players can seek.
/// Takes the token as `?access_token=` too, for a `<video src>`.
#[utoipa::path(get, path = "/api/v1/clips/{id}/file", tag = "clips",
    params(("id" = String, Path), ("Range" = Option<String>, Header, description = "bytes=start-end"),
        ("access_token" = Option<String>, Query, description = "The API token, for `<video>`")),
    responses((status = 200, description = "The whole file", content_type = "video/mp4", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "video/mp4", body = Vec<u8>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The file vanished from disk", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range is outside the file")))]
pub async fn file(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, Problem> {
    let clip = find(&state, &id).await?;
    if clip.missing {
        return Err(gone(&clip));
    }
    let service =
        tower_http::services::ServeFile::new_with_mime(clip.file(), &"video/mp4".parse().expect("a mime type"));
    let response = service.oneshot(request).await.map_err(|e| Problem::internal(e.to_string()))?;
    Ok(response.map(axum::body::Body::new).into_response())
}

/// A JPEG of the clip: its highlight's peak when detection saved or scored
/// it, else its first frame (made on first request, then kept).
#[utoipa::path(get, path = "/api/v1/clips/{id}/thumbnail", tag = "clips",
    params(("id" = String, Path), ("access_token" = Option<String>, Query, description = "The API token, for `<img>`")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json")))]
pub async fn thumbnail(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Problem> {
    let clip = find(&state, &id).await?;
    if clip.missing {
        return Err(gone(&clip));
    }
    let path = thumbnail_path(&state, &clip.id);
    let jpeg = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(_) => make_thumbnail(&state, &clip).await?,
    };
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=3600")], jpeg).into_response())
}

pub fn thumbnail_path(state: &AppState, id: &str) -> std::path::PathBuf {
    state.config.read().data_dir.join("thumbnails").join(format!("{id}.jpg"))
}

/// Renders and stores the thumbnail of `clip`.
pub async fn make_thumbnail(state: &AppState, clip: &Clip) -> Result<Vec<u8>, Problem> {
    let (file, path) = (clip.file(), thumbnail_path(state, &clip.id));
    let at = clip.score_detail.as_ref().map(|d| super::metadata::clip_seconds(clip, d.peak_ns));
    blocking(move || {
        let jpeg = clipshot_runtime::media::thumbnail(&file, 320, at).map_err(|e| {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "undecodable", format!("cannot make a thumbnail: {e}"))
        })?;
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A cache: failing to keep it only costs a re-render.
        let tmp = path.with_extension("jpg.part");
        if std::fs::write(&tmp, &jpeg).and_then(|()| std::fs::rename(&tmp, &path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(jpeg)
    })
    .await?
}

/// Changes title, tags or favorite.
#[utoipa::path(patch, path = "/api/v1/clips/{id}", tag = "clips", params(("id" = String, Path)), request_body = ClipPatch,
    responses((status = 200, body = Clip), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ClipPatch>,
) -> Result<Json<Clip>, Problem> {
    if let Some(tags) = &patch.tags
        && let Some(bad) = tags.iter().find(|t| t.trim().is_empty() || t.len() > 64)
    {
        return Err(invalid("tags", format!("tag `{bad}` must be 1 to 64 characters")));
    }
    state.store.update_clip(&id, &patch).await?.map(Json).ok_or_else(|| Problem::not_found(format!("no clip `{id}`")))
}

/// Deletes the clip's file, thumbnail and row.
#[utoipa::path(delete, path = "/api/v1/clips/{id}", tag = "clips", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, Problem> {
    let clip = find(&state, &id).await?;
    for path in [clip.file(), thumbnail_path(&state, &clip.id)] {
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Problem::internal(format!("cannot delete {}: {e}", path.display()))),
        }
    }
    state.store.delete_clip(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
