//! `/api/v1/ai/infer` and `/api/v1/ai/infer/stream`: a model run on an
//! uploaded sound or image, on a moment of a saved clip, or over a whole
//! clip window by window.
//!
//! What runs depends on the model's task: `audio-tags` (AudioSet classes per
//! window), `vad` (speech probability per 32 ms), `text-detect` (text boxes),
//! `text-recognise` (one line read); an image without a model is read with
//! the detector and the recogniser together (lines of text with their boxes).

use super::{AppState, blocking};
use crate::problem::{ApiJson, Problem};
use crate::store::Clip;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use clipshot_ai::audio::{AudioTagger, MODEL_RATE, Tag, decode_wav, to_mono};
use clipshot_ai::ocr::{DetectOptions, TextLine, TextReader};
use clipshot_ai::vad::{CHUNK, Vad};
use clipshot_ai::{Ai, AiError, LoadedModel, RuntimeError, Task};
use clipshot_runtime::media::RgbaFrame;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::StreamExt as _;
use utoipa::{IntoParams, ToSchema};

/// Longest sound or clip a request may run a model over.
const MAX_SECONDS: f64 = 600.0;
/// Widest image read (larger ones are scaled down by the preprocessor).
const MAX_PIXELS: u64 = 3840 * 2160;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InferQuery {
    /// The model; by default the first `audio-tags` model for sound, and
    /// text detection plus recognition for an image.
    pub model: Option<String>,
    /// Classes to return per window (1 to 50, default 5).
    pub top: Option<usize>,
    /// For images: the region to read, `x,y,width,height` as fractions of the
    /// image (default the whole image).
    pub region: Option<String>,
}

/// A moment of a saved clip to run a model on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferClip {
    pub clip_id: String,
    /// Seconds from the clip's start: the frame there, or the sound from there.
    pub at_s: f64,
    /// Seconds of sound from `at_s` (audio models; default 2, at most 30).
    pub seconds: Option<f64>,
    pub model: Option<String>,
    pub top: Option<usize>,
    /// x, y, width, height as fractions of the frame (image models).
    pub region: Option<[f32; 4]>,
}

/// One window of sound and what the model heard in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Window {
    pub start_s: f64,
    pub end_s: f64,
    pub tags: Vec<Tag>,
}

/// Speech probability of one 32 ms chunk.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Speech {
    pub start_s: f64,
    pub probability: f32,
}

/// A line of text read in an image.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Line {
    pub text: String,
    pub confidence: f32,
    /// x, y, width, height as fractions of the image.
    pub rect: [f32; 4],
}

impl From<TextLine> for Line {
    fn from(l: TextLine) -> Self {
        Line { text: l.text, confidence: l.confidence, rect: l.rect }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Timings {
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
}

/// What a model found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InferResult {
    /// The model (`det+rec` for an image read with both text models).
    pub model: String,
    pub provider: &'static str,
    /// `audio` or `image`.
    pub input: &'static str,
    /// Seconds of sound, for audio.
    pub seconds: Option<f64>,
    /// `audio-tags`: each class's highest probability over all windows, most likely first.
    pub tags: Vec<Tag>,
    pub windows: Vec<Window>,
    /// `vad`: per 32 ms chunk.
    pub speech: Vec<Speech>,
    /// Text read (detection and recognition, or `text-recognise` on the region).
    pub lines: Vec<Line>,
    /// `text-detect`: boxes as fractions of the image.
    pub boxes: Vec<[f32; 4]>,
    pub timings: Timings,
}

enum Media {
    /// Interleaved samples at their rate.
    Sound {
        rate: u32,
        channels: u16,
        samples: Vec<f32>,
    },
    Image(RgbaFrame),
}

fn invalid(location: &str, message: impl Into<String>) -> Problem {
    let message = message.into();
    Problem::unprocessable(
        message.clone(),
        vec![serde_json::json!({ "location": location, "code": "invalid", "message": message })],
    )
}

fn ai_problem(e: AiError) -> Problem {
    super::ai::ai_problem(e)
}

fn run_problem(e: impl std::fmt::Display) -> Problem {
    Problem::internal(e.to_string())
}

fn check_top(top: Option<usize>) -> Result<usize, Problem> {
    let top = top.unwrap_or(5);
    if !(1..=50).contains(&top) {
        return Err(invalid("/top", "`top` must be between 1 and 50"));
    }
    Ok(top)
}

fn parse_region(text: &str) -> Result<[f32; 4], Problem> {
    let parts: Vec<f32> = text.split(',').filter_map(|p| p.trim().parse().ok()).collect();
    let region: [f32; 4] =
        parts.try_into().map_err(|_| invalid("/query/region", "`region` is `x,y,width,height` (four fractions)"))?;
    check_region(region, "/query/region")
}

fn check_region(r: [f32; 4], location: &str) -> Result<[f32; 4], Problem> {
    let [x, y, w, h] = r;
    let inside = r.iter().all(|v| v.is_finite())
        && x >= 0.0
        && y >= 0.0
        && w > 0.0
        && h > 0.0
        && x + w <= 1.0 + 1e-6
        && y + h <= 1.0 + 1e-6;
    if inside { Ok(r) } else { Err(invalid(location, "the region must lie inside the image (fractions 0..1)")) }
}

/// The model's task and the model to use: the one asked for, or the default for the input.
fn resolve(ai: &Ai, model: Option<String>, image: bool) -> Result<Option<(String, Task)>, Problem> {
    let id = match model {
        Some(id) => id,
        // An image without a model: detection and recognition together.
        None if image => return Ok(None),
        None => {
            ai.model_for(Task::AudioTags).ok_or_else(|| Problem::not_found("no `audio-tags` model is installed"))?
        }
    };
    let entry = ai.entry(&id).ok_or_else(|| Problem::not_found(format!("no model `{id}`")))?;
    let manifest = entry.manifest().ok_or_else(|| {
        Problem::unprocessable(
            format!("model `{id}` cannot be used: its manifest is invalid"),
            entry
                .result
                .as_ref()
                .err()
                .map(|e| {
                    e.problems
                        .iter()
                        .map(|p| serde_json::json!({ "location": "/manifest", "code": "invalid_model", "message": p }))
                        .collect()
                })
                .unwrap_or_default(),
        )
    })?;
    let takes_image = matches!(manifest.task, Task::TextDetect | Task::TextRecognise);
    let takes_sound = matches!(manifest.task, Task::AudioTags | Task::Vad);
    if !(takes_image || takes_sound) {
        return Err(invalid(
            "/model",
            format!(
                "model `{id}` is a `{}` model; this route runs audio-tags, vad and text models",
                manifest.task.as_str()
            ),
        ));
    }
    if takes_image != image {
        let (have, wants) = if image { ("an image", "sound") } else { ("sound", "an image") };
        return Err(invalid("/model", format!("model `{id}` takes {wants}, and {have} was given")));
    }
    Ok(Some((id, manifest.task)))
}

fn input_name(ai: &Ai, id: &str) -> String {
    ai.entry(id).and_then(|e| e.manifest().map(|m| m.inputs[0].name.clone())).unwrap_or_else(|| "x".into())
}

/// The audio model's window, from its manifest, within reason.
fn window_s(ai: &Ai, id: &str) -> f64 {
    ai.entry(id)
        .and_then(|e| {
            e.manifest().and_then(|m| m.inputs[0].preprocessing.as_ref().and_then(|p| p["window_s"].as_f64()))
        })
        .filter(|w| (0.25..=30.0).contains(w))
        .unwrap_or(2.0)
}

/// Runs `model` (or det+rec) on `media`.
fn run(
    ai: &Ai,
    model: Option<(String, Task)>,
    media: Media,
    top: usize,
    region: [f32; 4],
    decode_ms: f64,
) -> Result<InferResult, Problem> {
    let mut result = InferResult {
        model: String::new(),
        provider: "",
        input: "audio",
        seconds: None,
        tags: Vec::new(),
        windows: Vec::new(),
        speech: Vec::new(),
        lines: Vec::new(),
        boxes: Vec::new(),
        timings: Timings { decode_ms, preprocess_ms: 0.0, inference_ms: 0.0 },
    };
    match media {
        Media::Sound { rate, channels, samples } => {
            let (id, task) = model.expect("sound always resolves a model");
            let loaded = ai.load(&id).map_err(ai_problem)?;
            let started = Instant::now();
            let mono = to_mono(&samples, rate, channels, MODEL_RATE);
            result.timings.preprocess_ms = started.elapsed().as_secs_f64() * 1000.0;
            result.seconds = Some(mono.len() as f64 / f64::from(MODEL_RATE));
            let started = Instant::now();
            if task == Task::Vad {
                result.speech = Vad::new(Arc::clone(&loaded))
                    .probabilities(&mono)
                    .map_err(run_problem)?
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| Speech { start_s: (i * CHUNK) as f64 / f64::from(MODEL_RATE), probability: p })
                    .collect();
            } else {
                let (windows, best) = tag_windows(&loaded, &input_name(ai, &id), &mono, window_s(ai, &id), 0.0, top)?;
                result.windows = windows;
                result.tags = AudioTagger::new(&loaded, "").top(&best, top);
            }
            result.timings.inference_ms = started.elapsed().as_secs_f64() * 1000.0;
            (result.model, result.provider) = (id, loaded.provider);
        }
        Media::Image(image) => {
            result.input = "image";
            let frame = clipshot_gpu::Frame::tight(clipshot_gpu::Format::Rgba, image.width, image.height, &image.data);
            let started = Instant::now();
            let read = |det, rec, det_in, rec_in| reader(ai, det, rec, det_in, rec_in);
            let text_model = |task: Task| {
                ai.model_for(task)
                    .ok_or_else(|| Problem::not_found(format!("no `{}` model is installed", task.as_str())))
            };
            match model {
                None => {
                    let (det_id, rec_id) = (text_model(Task::TextDetect)?, text_model(Task::TextRecognise)?);
                    let det = ai.load(&det_id).map_err(ai_problem)?;
                    let rec = ai.load(&rec_id).map_err(ai_problem)?;
                    let (di, ri) = (input_name(ai, &det_id), input_name(ai, &rec_id));
                    let lines = read(&det, &rec, &di, &ri).read(&frame, region).map_err(run_problem)?;
                    result.lines = lines.into_iter().map(Line::from).collect();
                    result.model = format!("{det_id}+{rec_id}");
                    result.provider = det.provider;
                }
                Some((id, Task::TextDetect)) => {
                    let det = ai.load(&id).map_err(ai_problem)?;
                    let di = input_name(ai, &id);
                    // Detection alone: the recogniser slot is never used.
                    result.boxes = read(&det, &det, &di, &di).detect(&frame, region).map_err(run_problem)?;
                    (result.model, result.provider) = (id, det.provider);
                }
                Some((id, _)) => {
                    let rec = ai.load(&id).map_err(ai_problem)?;
                    let ri = input_name(ai, &id);
                    let (text, confidence) =
                        read(&rec, &rec, &ri, &ri).recognise(&frame, region).map_err(run_problem)?;
                    result.lines = vec![Line { text, confidence, rect: region }];
                    (result.model, result.provider) = (id, rec.provider);
                }
            }
            result.timings.inference_ms = started.elapsed().as_secs_f64() * 1000.0;
        }
    }
    Ok(result)
}

fn reader<'a>(
    ai: &'a Ai,
    det: &'a LoadedModel,
    rec: &'a LoadedModel,
    det_in: &'a str,
    rec_in: &'a str,
) -> TextReader<'a> {
    TextReader {
        det,
        det_input: det_in,
        rec,
        rec_input: rec_in,
        pre: ai.preprocessor(),
        options: DetectOptions::default(),
    }
}

/// `mono` (16 kHz) in windows of `window_s`, each window's top classes, and
/// each class's best score over all windows. `offset_s` shifts the times.
fn tag_windows(
    model: &LoadedModel,
    input: &str,
    mono: &[f32],
    window_s: f64,
    offset_s: f64,
    top: usize,
) -> Result<(Vec<Window>, Vec<f32>), Problem> {
    let tagger = AudioTagger::new(model, input);
    let window = ((window_s * f64::from(MODEL_RATE)) as usize).max(1);
    let mut windows = Vec::new();
    let mut best: Vec<f32> = Vec::new();
    for (i, chunk) in mono.chunks(window).enumerate() {
        // The last, short window is padded with silence to the model's length.
        let mut samples = chunk.to_vec();
        samples.resize(window, 0.0);
        let scores = tagger.scores(&samples).map_err(run_problem)?;
        if best.is_empty() {
            best = scores.clone();
        } else {
            best.iter_mut().zip(&scores).for_each(|(b, s)| *b = b.max(*s));
        }
        let start_s = offset_s + (i * window) as f64 / f64::from(MODEL_RATE);
        let end_s = start_s + chunk.len() as f64 / f64::from(MODEL_RATE);
        windows.push(Window { start_s, end_s, tags: tagger.top(&scores, top) });
    }
    Ok((windows, best))
}

fn decode_image(bytes: &[u8]) -> Result<RgbaFrame, Problem> {
    let undecodable = |e: String| {
        Problem::unprocessable(
            e.clone(),
            vec![serde_json::json!({ "location": "/body", "code": "undecodable", "message": e })],
        )
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| undecodable(e.to_string()))?;
    let (w, h) = reader.into_dimensions().map_err(|e| undecodable(e.to_string()))?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(undecodable(format!("a {w}×{h} image is larger than 3840×2160")));
    }
    let decoded = image::load_from_memory(bytes).map_err(|e| undecodable(e.to_string()))?.into_rgba8();
    Ok(RgbaFrame { width: decoded.width(), height: decoded.height(), data: decoded.into_raw() })
}

/// Runs a model on an uploaded sound (`audio/wav`), an uploaded image
/// (`image/png`, `image/jpeg`), or a moment of a saved clip
/// (`application/json`: `{clip_id, at_s}`): classes per window, speech per
/// chunk, or the text read, with the timings.
#[utoipa::path(post, path = "/api/v1/ai/infer", tag = "ai", params(InferQuery),
    request_body(description = "A WAV file (PCM or float, any rate and channels), a PNG or JPEG image, up to 2 MB; or a clip and a time",
        content(
            (Vec<u8> = "audio/wav"),
            (Vec<u8> = "image/png"),
            (Vec<u8> = "image/jpeg"),
            (InferClip = "application/json"))),
    responses((status = 200, body = InferResult),
        (status = 404, description = "No such model or clip", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The clip's file is gone", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a WAV, PNG, JPEG or JSON body", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Undecodable, out of range, or a model that does not take this input", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ONNX Runtime is not installed", body = Problem, content_type = "application/problem+json")))]
pub async fn infer(
    State(state): State<AppState>,
    query: Result<Query<InferQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<InferResult>, Problem> {
    let Query(q) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let kind = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let ai = Arc::clone(&state.ai);
    match kind.as_str() {
        "audio/wav" | "audio/x-wav" | "audio/wave" => {
            let top = check_top(q.top)?;
            let model = resolve(&ai, q.model, false)?;
            Ok(Json(
                blocking(move || {
                    let started = Instant::now();
                    let sound = decode_wav(&body).map_err(|e| invalid("/body", e))?;
                    if sound.seconds() > MAX_SECONDS {
                        return Err(invalid("/body", "the sound is longer than 10 minutes"));
                    }
                    let media = Media::Sound { rate: sound.rate, channels: sound.channels, samples: sound.samples };
                    run(&ai, model, media, top, [0.0, 0.0, 1.0, 1.0], started.elapsed().as_secs_f64() * 1000.0)
                })
                .await??,
            ))
        }
        "image/png" | "image/jpeg" => {
            let region = q.region.as_deref().map(parse_region).transpose()?.unwrap_or([0.0, 0.0, 1.0, 1.0]);
            let model = resolve(&ai, q.model, true)?;
            Ok(Json(
                blocking(move || {
                    let started = Instant::now();
                    let image = decode_image(&body)?;
                    run(&ai, model, Media::Image(image), 5, region, started.elapsed().as_secs_f64() * 1000.0)
                })
                .await??,
            ))
        }
        "application/json" => {
            let ApiJson(moment): ApiJson<InferClip> = ApiJson::from_bytes(&body)?;
            let top = check_top(moment.top)?;
            let clip = clip(&state, &moment.clip_id).await?;
            if !moment.at_s.is_finite() || moment.at_s < 0.0 || moment.at_s > clip.duration_s {
                return Err(invalid(
                    "/at_s",
                    format!("`at_s` must be within the clip (0 to {:.2} s)", clip.duration_s),
                ));
            }
            let region = moment.region.map(|r| check_region(r, "/region")).transpose()?.unwrap_or([0.0, 0.0, 1.0, 1.0]);
            // A model that takes an image reads the frame; otherwise sound from `at_s`.
            let image_model = match &moment.model {
                None => false,
                Some(id) => ai
                    .entry(id)
                    .and_then(|e| e.manifest().map(|m| matches!(m.task, Task::TextDetect | Task::TextRecognise)))
                    .unwrap_or(false),
            };
            let model = resolve(&ai, moment.model, image_model)?;
            let seconds = moment.seconds.unwrap_or(2.0);
            if !(0.032..=30.0).contains(&seconds) {
                return Err(invalid("/seconds", "`seconds` must be between 0.032 and 30"));
            }
            let (file, at_s) = (clip.file(), moment.at_s);
            Ok(Json(
                blocking(move || {
                    let started = Instant::now();
                    let media = if image_model {
                        Media::Image(
                            clipshot_runtime::media::frame_at(&file, at_s, 1920)
                                .map_err(|e| invalid("/clip_id", e.to_string()))?,
                        )
                    } else {
                        let all = clipshot_runtime::media::audio(&file, MODEL_RATE, at_s + seconds)
                            .map_err(|e| invalid("/clip_id", e.to_string()))?;
                        let from = ((at_s * f64::from(MODEL_RATE)) as usize).min(all.len());
                        Media::Sound { rate: MODEL_RATE, channels: 1, samples: all[from..].to_vec() }
                    };
                    run(&ai, model, media, top, region, started.elapsed().as_secs_f64() * 1000.0)
                })
                .await??,
            ))
        }
        other => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("send `audio/wav`, `image/png`, `image/jpeg` or `application/json` (got `{other}`)"),
        )),
    }
}

/// A clip whose file is there.
async fn clip(state: &AppState, id: &str) -> Result<Clip, Problem> {
    let clip = super::clips::find(state, id).await?;
    if clip.missing {
        return Err(Problem::new(StatusCode::GONE, "clip-file-missing", format!("the file of clip `{id}` is missing")));
    }
    Ok(clip)
}

/// A clip to run a model over, window by window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferStream {
    pub clip_id: String,
    /// An `audio-tags` or `vad` model (default: the first `audio-tags`
    /// model), or a text model (`text-detect`, `text-recognise`).
    pub model: Option<String>,
    /// Classes per window (1 to 50, default 5).
    pub top: Option<usize>,
    /// Text models: read a frame this often (seconds, default 1, at least 0.25).
    pub every_s: Option<f64>,
    /// Text models: x, y, width, height as fractions of the frame.
    pub region: Option<[f32; 4]>,
}

/// One window's result on the stream (`window` events).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamWindow {
    pub start_s: f64,
    pub end_s: f64,
    /// `audio-tags`: the window's top classes.
    pub tags: Vec<Tag>,
    /// `vad`: the window's highest speech probability.
    pub speech: Option<f32>,
    /// Text models: what was read in the frame at `start_s`.
    pub lines: Vec<Line>,
    pub inference_ms: f64,
}

/// Runs a model over a clip and streams each window's result as it is
/// computed: Server-Sent Events `window` (a [`StreamWindow`]), then `done`
/// (`{"windows": n, "elapsed_ms": …}`), or `error` (a problem document) if
/// it fails midway. Problems found before the first window answer as usual.
#[utoipa::path(post, path = "/api/v1/ai/infer/stream", tag = "ai", request_body = InferStream,
    responses((status = 200, description = "`window` events, then `done`", content_type = "text/event-stream", body = StreamWindow),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ONNX Runtime is not installed", body = Problem, content_type = "application/problem+json")))]
pub async fn infer_stream(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<InferStream>,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>>>, Problem> {
    let top = check_top(body.top)?;
    let every_s = body.every_s.unwrap_or(1.0);
    if !(0.25..=60.0).contains(&every_s) {
        return Err(invalid("/every_s", "`every_s` must be between 0.25 and 60"));
    }
    let region = body.region.map(|r| check_region(r, "/region")).transpose()?.unwrap_or([0.0, 0.0, 1.0, 1.0]);
    let clip = clip(&state, &body.clip_id).await?;
    if clip.duration_s > MAX_SECONDS {
        return Err(invalid("/clip_id", "the clip is longer than 10 minutes"));
    }
    let ai = Arc::clone(&state.ai);
    let image = match &body.model {
        Some(id) => ai
            .entry(id)
            .and_then(|e| e.manifest().map(|m| matches!(m.task, Task::TextDetect | Task::TextRecognise)))
            .unwrap_or(false),
        None => false,
    };
    let model = resolve(&ai, body.model, image)?.expect("a model is always resolved for a stream");
    // The session opens before the stream starts: a missing runtime is a 503, not an event.
    let loaded = {
        let (ai, id) = (Arc::clone(&ai), model.0.clone());
        blocking(move || ai.load(&id)).await?.map_err(ai_problem)?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<SseEvent>(16);
    let (file, duration) = (clip.file(), clip.duration_s);
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let send = |e: SseEvent| tx.blocking_send(e).is_ok();
        let window_event = |w: &StreamWindow| {
            SseEvent::default().event("window").data(serde_json::to_string(w).expect("a window serializes"))
        };
        let fail = |message: String| {
            let problem = serde_json::json!({ "type": "about:blank", "title": "inference failed", "status": 500, "detail": message });
            SseEvent::default().event("error").data(problem.to_string())
        };
        let mut count = 0usize;
        let outcome: Result<(), String> = (|| {
            if image {
                let input = input_name(&ai, &model.0);
                let reader = TextReader {
                    det: &loaded,
                    det_input: &input,
                    rec: &loaded,
                    rec_input: &input,
                    pre: ai.preprocessor(),
                    options: DetectOptions::default(),
                };
                let mut t = 0.0;
                while t < duration {
                    let frame = clipshot_runtime::media::frame_at(&file, t, 1920).map_err(|e| e.to_string())?;
                    let f =
                        clipshot_gpu::Frame::tight(clipshot_gpu::Format::Rgba, frame.width, frame.height, &frame.data);
                    let at = Instant::now();
                    let lines = if model.1 == Task::TextDetect {
                        reader
                            .detect(&f, region)
                            .map_err(|e| e.to_string())?
                            .into_iter()
                            .map(|rect| Line { text: String::new(), confidence: 0.0, rect })
                            .collect()
                    } else {
                        let (text, confidence) = reader.recognise(&f, region).map_err(|e| e.to_string())?;
                        vec![Line { text, confidence, rect: region }]
                    };
                    let w = StreamWindow {
                        start_s: t,
                        end_s: (t + every_s).min(duration),
                        tags: Vec::new(),
                        speech: None,
                        lines,
                        inference_ms: at.elapsed().as_secs_f64() * 1000.0,
                    };
                    if !send(window_event(&w)) {
                        return Ok(());
                    }
                    count += 1;
                    t += every_s;
                }
                return Ok(());
            }
            let mono = clipshot_runtime::media::audio(&file, MODEL_RATE, MAX_SECONDS).map_err(|e| e.to_string())?;
            // Whole 32 ms chunks: the VAD's context runs on from one window to the next.
            let window = ((window_s(&ai, &model.0) * f64::from(MODEL_RATE)) as usize / CHUNK).max(1) * CHUNK;
            let input = input_name(&ai, &model.0);
            let tagger = AudioTagger::new(&loaded, &input);
            let mut vad = Vad::new(Arc::clone(&loaded));
            for (i, chunk) in mono.chunks(window).enumerate() {
                let at = Instant::now();
                let start_s = (i * window) as f64 / f64::from(MODEL_RATE);
                let mut w = StreamWindow {
                    start_s,
                    end_s: start_s + chunk.len() as f64 / f64::from(MODEL_RATE),
                    tags: Vec::new(),
                    speech: None,
                    lines: Vec::new(),
                    inference_ms: 0.0,
                };
                if model.1 == Task::Vad {
                    let p = vad.probabilities(chunk).map_err(|e: RuntimeError| e.to_string())?;
                    w.speech = Some(p.into_iter().fold(0.0, f32::max));
                } else {
                    let mut samples = chunk.to_vec();
                    samples.resize(window, 0.0);
                    w.tags = tagger.top(&tagger.scores(&samples).map_err(|e| e.to_string())?, top);
                }
                w.inference_ms = at.elapsed().as_secs_f64() * 1000.0;
                if !send(window_event(&w)) {
                    return Ok(());
                }
                count += 1;
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => {
                let done =
                    serde_json::json!({ "windows": count, "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0 });
                send(SseEvent::default().event("done").data(done.to_string()));
            }
            Err(message) => {
                tracing::warn!(error = %message, "streamed inference failed");
                send(fail(message));
            }
        }
    });
    Ok(Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok)).keep_alive(KeepAlive::default()))
}
