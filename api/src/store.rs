//! Persistence: clips, markers, saved pipelines and settings in SQLite (WAL),
//! with the migrations embedded in the binary and applied at start.
//!
//! Only runtime-checked queries (`sqlx::query`), so building needs no database,
//! and only portable SQL, so a PostgreSQL `DATABASE_URL` can follow.

use clipshot_core::Trigger;
use clipshot_core::event::{ClipSaved, ClipScore};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// This daemon run: ring timelines (clip spans, markers) restart with it.
    pub session: String,
}

/// `2026-11-21T10:00:00.000000Z`: fixed width, so text order is time order.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

pub fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// A saved clip, as the API serves it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Clip {
    pub id: String,
    pub pipeline: String,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub favorite: bool,
    pub trigger: Trigger,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub duration_s: f64,
    pub size_bytes: i64,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fps: Option<f64>,
    /// Highlight score, when a model scored the clip.
    pub score: Option<f64>,
    pub path: String,
    /// The file is gone from disk (deleted or moved outside ClipShot).
    pub missing: bool,
    pub span_start_ns: i64,
    pub span_end_ns: i64,
    /// Seconds that were asked for (the clip covers `duration_s`).
    pub asked_s: f64,
    /// Why the clip covers less than was asked, when it does.
    pub shortfall: Option<String>,
    pub save_ms: f64,
    #[serde(skip)]
    pub session: String,
    /// What highlight detection saw over the clip (served by `/api/v1/metadata`).
    #[serde(skip)]
    pub score_detail: Option<ClipScore>,
}

impl Clip {
    pub fn file(&self) -> PathBuf {
        PathBuf::from(&self.path)
    }
}

fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::Hotkey => "hotkey",
        Trigger::Api => "api",
        Trigger::Highlight => "highlight",
        Trigger::ObsWebsocket => "obs-websocket",
    }
}

fn parse_trigger(s: &str) -> Result<Trigger> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown trigger `{s}`")))
}

fn clip_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Clip> {
    let tags: String = row.try_get("tags")?;
    let path: String = row.try_get("path")?;
    Ok(Clip {
        id: row.try_get("id")?,
        pipeline: row.try_get("pipeline")?,
        title: row.try_get("title")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?,
        favorite: row.try_get::<i64, _>("favorite")? != 0,
        trigger: parse_trigger(&row.try_get::<String, _>("trigger_kind")?)?,
        created_at: row.try_get("created_at")?,
        duration_s: row.try_get("duration_s")?,
        size_bytes: row.try_get("size_bytes")?,
        video_codec: row.try_get("video_codec")?,
        audio_codec: row.try_get("audio_codec")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        fps: row.try_get("fps")?,
        score: row.try_get("score")?,
        missing: !Path::new(&path).is_file(),
        path,
        span_start_ns: row.try_get("span_start_ns")?,
        span_end_ns: row.try_get("span_end_ns")?,
        asked_s: row.try_get::<Option<f64>, _>("asked_s")?.unwrap_or(row.try_get("duration_s")?),
        shortfall: row.try_get("shortfall")?,
        save_ms: row.try_get("save_ms")?,
        session: row.try_get("session")?,
        // An unreadable score is only the score: the clip is still listed.
        score_detail: row.try_get::<Option<String>, _>("score_detail")?.and_then(|t| {
            serde_json::from_str(&t)
                .inspect_err(|e| tracing::warn!(error = %e, "a clip's score_detail is unreadable"))
                .ok()
        }),
    })
}

/// Which clips to list, and in what order.
#[derive(Debug, Clone, Default)]
pub struct ClipQuery {
    pub pipeline: Option<String>,
    pub trigger: Option<Trigger>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub min_score: Option<f64>,
    pub favorite: Option<bool>,
    pub sort: ClipSort,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClipSort {
    #[default]
    CreatedAt,
    Duration,
    Size,
}

impl ClipSort {
    fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::Duration => "duration_s",
            Self::Size => "size_bytes",
        }
    }
}

/// Keyset position: the sort value and id of the last clip of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub value: serde_json::Value,
    pub id: String,
}

/// Changes to a clip's user fields.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipPatch {
    /// A new title; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub favorite: Option<bool>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Technical metadata measured from the file.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fps: Option<f64>,
    pub duration_s: Option<f64>,
    pub size_bytes: Option<i64>,
}

/// A marker on a pipeline's replay timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoredMarker {
    pub id: String,
    pub pipeline: String,
    /// The id a save's `marker` field takes (valid while this daemon runs).
    pub ring_id: u64,
    pub at_ns: i64,
    pub label: Option<String>,
    pub created_at: String,
}

/// A pipeline graph saved through the API.
#[derive(Debug, Clone)]
pub struct SavedPipeline {
    pub id: String,
    pub graph: serde_json::Value,
    pub autostart: bool,
}

impl Store {
    /// Opens (creating) the database at `path` and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool, session: uuid::Uuid::new_v4().to_string() })
    }

    /// Answers with the SQLite library's version: a liveness check that says something.
    pub async fn sqlite_version(&self) -> Result<String> {
        Ok(sqlx::query_scalar("SELECT sqlite_version()").fetch_one(&self.pool).await?)
    }

    /// Records a clip whose file is complete. Idempotent by path: the event
    /// listener and the API handler may both record the same save; a title
    /// given by either is kept.
    pub async fn record_clip(&self, saved: &ClipSaved, title: Option<&str>) -> Result<Clip> {
        let id = Path::new(&saved.path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| StoreError::Corrupt(format!("clip path {} has no name", saved.path)))?;
        sqlx::query(
            "INSERT INTO clips (id, pipeline, path, title, trigger_kind, created_at, duration_s, size_bytes,
                video_codec, audio_codec, session, span_start_ns, span_end_ns, save_ms,
                asked_start_ns, asked_end_ns, asked_s, shortfall, score, score_detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (path) DO UPDATE SET title = COALESCE(excluded.title, clips.title),
                score = COALESCE(excluded.score, clips.score),
                score_detail = COALESCE(excluded.score_detail, clips.score_detail)",
        )
        .bind(&id)
        .bind(&saved.pipeline)
        .bind(&saved.path)
        .bind(title)
        .bind(trigger_name(saved.trigger))
        .bind(now())
        .bind(saved.duration_s)
        .bind(saved.size_bytes as i64)
        .bind(&saved.video_codec)
        .bind(&saved.audio_codec)
        .bind(&self.session)
        .bind(saved.span_start_ns)
        .bind(saved.span_end_ns)
        .bind(saved.save_ms)
        .bind(saved.asked_start_ns)
        .bind(saved.asked_end_ns)
        .bind(saved.asked_s)
        .bind(&saved.shortfall)
        .bind(saved.score.as_ref().map(|s| f64::from(s.score)))
        .bind(saved.score.as_ref().map(|s| serde_json::to_string(s).expect("a score serializes")))
        .execute(&self.pool)
        .await?;
        self.clip(&id).await?.ok_or_else(|| StoreError::Corrupt(format!("clip {id} vanished after insert")))
    }

    /// Stores what an analysis found in a clip (`None`: nothing, which
    /// clears an earlier score); false when there is no such clip.
    pub async fn set_score(&self, id: &str, score: Option<&ClipScore>) -> Result<bool> {
        let done = sqlx::query("UPDATE clips SET score = ?, score_detail = ? WHERE id = ?")
            .bind(score.map(|s| f64::from(s.score)))
            .bind(score.map(|s| serde_json::to_string(s).expect("a score serializes")))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn clip(&self, id: &str) -> Result<Option<Clip>> {
        let row = sqlx::query("SELECT * FROM clips WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(clip_from_row).transpose()
    }

    /// One page of clips, and the cursor of the next page when there is one.
    pub async fn clips(&self, q: &ClipQuery) -> Result<(Vec<Clip>, Option<Cursor>)> {
        let col = q.sort.column();
        let mut sql: QueryBuilder<'_, Sqlite> = QueryBuilder::new("SELECT * FROM clips WHERE 1 = 1");
        if let Some(p) = &q.pipeline {
            sql.push(" AND pipeline = ").push_bind(p.clone());
        }
        if let Some(t) = q.trigger {
            sql.push(" AND trigger_kind = ").push_bind(trigger_name(t));
        }
        if let Some(s) = &q.since {
            sql.push(" AND created_at >= ").push_bind(s.clone());
        }
        if let Some(u) = &q.until {
            sql.push(" AND created_at < ").push_bind(u.clone());
        }
        if let Some(m) = q.min_score {
            sql.push(" AND score >= ").push_bind(m);
        }
        if let Some(f) = q.favorite {
            sql.push(" AND favorite = ").push_bind(i64::from(f));
        }
        if let Some(c) = &q.after {
            let op = if q.descending { "<" } else { ">" };
            sql.push(format!(" AND ({col} {op} "));
            push_value(&mut sql, q.sort, &c.value)?;
            sql.push(format!(" OR ({col} = "));
            push_value(&mut sql, q.sort, &c.value)?;
            sql.push(format!(" AND id {op} ")).push_bind(c.id.clone()).push("))");
        }
        let dir = if q.descending { "DESC" } else { "ASC" };
        sql.push(format!(" ORDER BY {col} {dir}, id {dir} LIMIT ")).push_bind(i64::from(q.limit) + 1);
        let rows = sql.build().fetch_all(&self.pool).await?;
        let mut clips = rows.iter().map(clip_from_row).collect::<Result<Vec<_>>>()?;
        let next = if clips.len() > q.limit as usize {
            clips.truncate(q.limit as usize);
            clips.last().map(|c| Cursor {
                value: match q.sort {
                    ClipSort::CreatedAt => serde_json::json!(c.created_at),
                    ClipSort::Duration => serde_json::json!(c.duration_s),
                    ClipSort::Size => serde_json::json!(c.size_bytes),
                },
                id: c.id.clone(),
            })
        } else {
            None
        };
        Ok((clips, next))
    }

    pub async fn update_clip(&self, id: &str, patch: &ClipPatch) -> Result<Option<Clip>> {
        let mut tx = self.pool.begin().await?;
        if let Some(title) = &patch.title {
            sqlx::query("UPDATE clips SET title = ? WHERE id = ?").bind(title).bind(id).execute(&mut *tx).await?;
        }
        if let Some(tags) = &patch.tags {
            let tags = serde_json::to_string(tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("UPDATE clips SET tags = ? WHERE id = ?").bind(tags).bind(id).execute(&mut *tx).await?;
        }
        if let Some(f) = patch.favorite {
            sqlx::query("UPDATE clips SET favorite = ? WHERE id = ?")
                .bind(i64::from(f))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.clip(id).await
    }

    pub async fn set_measured(&self, id: &str, m: &Measured) -> Result<()> {
        sqlx::query(
            "UPDATE clips SET width = COALESCE(?, width), height = COALESCE(?, height), fps = COALESCE(?, fps),
                duration_s = COALESCE(?, duration_s), size_bytes = COALESCE(?, size_bytes) WHERE id = ?",
        )
        .bind(m.width)
        .bind(m.height)
        .bind(m.fps)
        .bind(m.duration_s)
        .bind(m.size_bytes)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_clip(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("DELETE FROM clips WHERE id = ?").bind(id).execute(&self.pool).await?.rows_affected() > 0)
    }

    pub async fn add_marker(&self, pipeline: &str, marker: &clipshot_replay::Marker) -> Result<StoredMarker> {
        let stored = StoredMarker {
            id: uuid::Uuid::new_v4().to_string(),
            pipeline: pipeline.to_owned(),
            ring_id: marker.id,
            at_ns: marker.at_ns,
            label: marker.label.clone(),
            created_at: now(),
        };
        sqlx::query(
            "INSERT INTO markers (id, pipeline, session, ring_id, at_ns, label, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&stored.id)
        .bind(pipeline)
        .bind(&self.session)
        .bind(marker.id as i64)
        .bind(marker.at_ns)
        .bind(&marker.label)
        .bind(&stored.created_at)
        .execute(&self.pool)
        .await?;
        Ok(stored)
    }

    /// Markers of `pipeline` between two points of the timeline of `session`.
    pub async fn markers_between(
        &self,
        pipeline: &str,
        session: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<StoredMarker>> {
        let rows = sqlx::query(
            "SELECT * FROM markers WHERE pipeline = ? AND session = ? AND at_ns >= ? AND at_ns <= ? ORDER BY at_ns",
        )
        .bind(pipeline)
        .bind(session)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredMarker {
                    id: r.try_get("id")?,
                    pipeline: r.try_get("pipeline")?,
                    ring_id: r.try_get::<i64, _>("ring_id")? as u64,
                    at_ns: r.try_get("at_ns")?,
                    label: r.try_get("label")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub async fn save_pipeline(&self, p: &SavedPipeline) -> Result<()> {
        sqlx::query(
            "INSERT INTO pipelines (id, graph, autostart, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET graph = excluded.graph, autostart = excluded.autostart",
        )
        .bind(&p.id)
        .bind(p.graph.to_string())
        .bind(i64::from(p.autostart))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn pipelines(&self) -> Result<Vec<SavedPipeline>> {
        let rows =
            sqlx::query("SELECT id, graph, autostart FROM pipelines ORDER BY created_at").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let graph: String = r.try_get("graph")?;
                Ok(SavedPipeline {
                    id: r.try_get("id")?,
                    graph: serde_json::from_str(&graph)
                        .map_err(|e| StoreError::Corrupt(format!("pipeline graph: {e}")))?,
                    autostart: r.try_get::<i64, _>("autostart")? != 0,
                })
            })
            .collect()
    }

    pub async fn delete_pipeline(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM pipelines WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(&self.pool).await?;
        row.map(|r| {
            let v: String = r.try_get("value")?;
            serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}")))
        })
        .transpose()
    }

    pub async fn set_setting(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn push_value(sql: &mut QueryBuilder<'_, Sqlite>, sort: ClipSort, v: &serde_json::Value) -> Result<()> {
    let bad = || StoreError::Corrupt("cursor does not match the sort".into());
    match sort {
        ClipSort::CreatedAt => sql.push_bind(v.as_str().ok_or_else(bad)?.to_owned()),
        ClipSort::Duration => sql.push_bind(v.as_f64().ok_or_else(bad)?),
        ClipSort::Size => sql.push_bind(v.as_i64().ok_or_else(bad)?),
    };
    Ok(())
}
