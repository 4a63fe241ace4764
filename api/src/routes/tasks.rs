//! `/api/v1/ai/tasks`: analysis jobs — a saved clip or a file scored for
//! highlights in the background, with `task.progress` events and cancel.

use super::AppState;
use crate::problem::{ApiJson, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use clipshot_core::event::{ClipScore, ScorePoint};
use clipshot_core::{Event, EventSink};
use clipshot_runtime::analyze::{Analysis, AnalyzeError, analyze_file};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use utoipa::ToSchema;

/// Finished tasks kept for listing; older ones are forgotten first.
const KEEP: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for the task before it: one analysis at a time, beside recording.
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// An analysis job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Task {
    pub id: String,
    /// `analyze`.
    pub kind: &'static str,
    /// The file analysed.
    pub file: String,
    /// The clip, when the task was asked for one.
    pub clip_id: Option<String>,
    pub profile: String,
    pub state: TaskState,
    /// 0 to 1.
    pub progress: f64,
    /// The highlights found, once done.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Analysis>,
    pub error: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

struct Entry {
    task: Task,
    cancel: Arc<AtomicBool>,
}

/// The daemon's tasks.
#[derive(Default)]
pub struct Tasks(Mutex<BTreeMap<String, Entry>>, Mutex<()>);

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("count", &self.0.lock().len()).finish()
    }
}

impl Tasks {
    fn update(&self, id: &str, f: impl FnOnce(&mut Task)) {
        if let Some(e) = self.0.lock().get_mut(id) {
            f(&mut e.task);
        }
    }

    fn prune(map: &mut BTreeMap<String, Entry>) {
        let finished: Vec<String> = map
            .iter()
            .filter(|(_, e)| !matches!(e.task.state, TaskState::Running | TaskState::Queued))
            .map(|(k, _)| k.clone())
            .collect();
        let excess = finished.len().saturating_sub(KEEP);
        for id in finished.into_iter().take(excess) {
            map.remove(&id);
        }
    }
}

/// What to analyse: a saved clip, or a file on this machine.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub clip_id: Option<String>,
    /// An absolute path of a video file.
    pub path: Option<String>,
    /// A game profile; `generic` when omitted.
    pub profile: Option<String>,
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Starts scoring a clip or a file for highlights; follow it with
/// `GET …/tasks/{id}` or the `task.progress` events.
#[utoipa::path(post, path = "/api/v1/ai/tasks", tag = "ai", request_body = NewTask,
    responses((status = 202, description = "Started", body = Task),
        (status = 404, description = "No such clip", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewTask>,
) -> Result<(StatusCode, Json<Task>), Problem> {
    let bad = |field: &str, msg: &str| {
        Problem::unprocessable(
            format!("`{field}` {msg}"),
            vec![serde_json::json!({ "location": format!("/{field}"), "code": "invalid", "message": msg })],
        )
    };
    let mut clip = None;
    let file = match (&body.clip_id, &body.path) {
        (Some(id), None) => {
            let found = super::clips::find(&state, id).await?;
            let path = found.path.clone();
            clip = Some(found);
            path
        }
        (None, Some(path)) => {
            let p = std::path::Path::new(path);
            if !p.is_absolute() || !p.is_file() {
                return Err(bad("path", "must be an absolute path of an existing file"));
            }
            path.clone()
        }
        _ => return Err(bad("clip_id", "give `clip_id` or `path`, one of them")),
    };
    let profile = body.profile.unwrap_or_else(|| "generic".into());
    // A bad profile is a 422 now, not a failed task later.
    let dirs = clipshot_analysis::profile::dirs(&state.config.read().data_dir);
    if let Err(e) = clipshot_analysis::profile::load(&profile, &dirs) {
        return Err(bad("profile", &e.to_string()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let task = Task {
        id: id.clone(),
        kind: "analyze",
        file: file.clone(),
        clip_id: body.clip_id,
        profile: profile.clone(),
        state: TaskState::Queued,
        progress: 0.0,
        result: None,
        error: None,
        created_at: now(),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let mut map = state.tasks.0.lock();
        Tasks::prune(&mut map);
        map.insert(id.clone(), Entry { task: task.clone(), cancel: Arc::clone(&cancel) });
    }
    let (tasks, events, data_dir) =
        (Arc::clone(&state.tasks), Arc::clone(state.engine.events()), state.config.read().data_dir.clone());
    let (store, thumbnail) = (state.store.clone(), clip.as_ref().map(|c| super::clips::thumbnail_path(&state, &c.id)));
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        // One analysis at a time: each decodes as fast as it can.
        let turn = tasks.1.lock();
        tasks.update(&id, |t| {
            if t.state == TaskState::Queued {
                t.state = TaskState::Running;
            }
        });
        let last = Mutex::new(-1i64);
        let progress = |f: f64| {
            tasks.update(&id, |t| t.progress = f);
            // An event every 5 %.
            let step = (f * 20.0) as i64;
            if std::mem::replace(&mut *last.lock(), step) != step {
                events.emit(Event::TaskProgress { task: id.clone(), progress: f as f32, message: None });
            }
            !cancel.load(Ordering::Relaxed)
        };
        let result = analyze_file(std::path::Path::new(&file), &profile, &data_dir, &progress);
        let message = match &result {
            Ok(a) => format!("{} highlight(s)", a.highlights.len()),
            Err(e) => e.to_string(),
        };
        // A scored clip keeps what was found: its score, its peaks, and a
        // thumbnail at the best one (made again on the next request).
        if let (Ok(a), Some(clip)) = (&result, &clip) {
            let score = clip_score(clip, a);
            match runtime.block_on(store.set_score(&clip.id, score.as_ref())) {
                Ok(_) => {
                    if let Some(t) = &thumbnail {
                        let _ = std::fs::remove_file(t);
                    }
                }
                Err(e) => tracing::warn!(clip = %clip.id, error = %e, "the clip's score was not stored"),
            }
        }
        tasks.update(&id, |t| match result {
            Ok(a) => {
                t.state = TaskState::Done;
                t.progress = 1.0;
                t.result = Some(a);
            }
            Err(AnalyzeError::Cancelled) => t.state = TaskState::Cancelled,
            Err(e) => {
                t.state = TaskState::Failed;
                t.error = Some(e.to_string());
            }
        });
        drop(turn);
        events.emit(Event::TaskProgress { task: id, progress: 1.0, message: Some(message) });
    });
    Ok((StatusCode::ACCEPTED, Json(task)))
}

/// What an analysis found in a clip, on the clip's pipeline timeline: the
/// best highlight, and each highlight's peak as the timeline; `None` when
/// nothing was found.
fn clip_score(clip: &crate::store::Clip, a: &Analysis) -> Option<ClipScore> {
    let at = |s: f64| clip.span_start_ns + (s * 1e9) as i64;
    let best = a.highlights.iter().max_by(|x, y| x.score.total_cmp(&y.score))?;
    Some(ClipScore {
        score: best.score,
        peak_ns: at(best.peak_s),
        label: best.label.clone(),
        highlights: a.highlights.len(),
        timeline: a
            .highlights
            .iter()
            .map(|h| ScorePoint { at_ns: at(h.peak_s), score: h.score, detectors: h.detectors.clone() })
            .collect(),
    })
}

/// Every task, newest first.
#[utoipa::path(get, path = "/api/v1/ai/tasks", tag = "ai", responses((status = 200, body = Vec<Task>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<Task>> {
    let mut all: Vec<Task> = state.tasks.0.lock().values().map(|e| e.task.clone()).collect();
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Json(all)
}

#[utoipa::path(get, path = "/api/v1/ai/tasks/{id}", tag = "ai", params(("id" = String, Path)),
    responses((status = 200, body = Task), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Task>, Problem> {
    state
        .tasks
        .0
        .lock()
        .get(&id)
        .map(|e| Json(e.task.clone()))
        .ok_or_else(|| Problem::not_found(format!("no task `{id}`")))
}

/// Cancels a running task (it ends as `cancelled`), or forgets a finished one.
#[utoipa::path(delete, path = "/api/v1/ai/tasks/{id}", tag = "ai", params(("id" = String, Path)),
    responses((status = 200, description = "The task, as it stands", body = Task),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Task>, Problem> {
    let mut map = state.tasks.0.lock();
    let Some(entry) = map.get(&id) else { return Err(Problem::not_found(format!("no task `{id}`"))) };
    if matches!(entry.task.state, TaskState::Running | TaskState::Queued) {
        entry.cancel.store(true, Ordering::Relaxed);
        return Ok(Json(entry.task.clone()));
    }
    Ok(Json(map.remove(&id).expect("present").task))
}
