//! RFC 9457 problem details: every error the API returns.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// `debug` in the configuration: 500 answers keep their internal detail.
static DEBUG: AtomicBool = AtomicBool::new(false);

pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

/// An error (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Every problem, for validation errors: `location` (a JSON Pointer
    /// into the request), `code` and `message`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://clipshot.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            problems: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn unprocessable(detail: impl Into<String>, problems: Vec<serde_json::Value>) -> Self {
        Self { problems, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail) }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        // An internal error's text is for the log, unless `debug` is on.
        if self.status == 500 && !DEBUG.load(Ordering::Relaxed) {
            tracing::error!(detail = %self.detail, "internal error answered with 500");
            self.detail = "internal error; the daemon's log has the details (set `debug` to see them here)".into();
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
    }
}

/// JSON bodies whose rejections (syntax, content type, shape, size) are
/// problem details rather than axum's plain-text answers.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> ApiJson<T> {
    /// A body already read (a route that takes several content types),
    /// with the same answers as the extractor: 400 for bad JSON, 422 for the
    /// wrong shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Problem> {
        match axum::Json::<T>::from_bytes(bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                use axum::extract::rejection::JsonRejection;
                let detail = rejection.body_text();
                Err(match rejection {
                    JsonRejection::JsonDataError(_) => Problem::unprocessable(detail, Vec::new()),
                    _ => Problem::bad_request(detail),
                })
            }
        }
    }
}

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => {
                let detail = rejection.body_text();
                Err(match rejection {
                    JsonRejection::JsonSyntaxError(_) => Problem::bad_request(detail),
                    JsonRejection::MissingJsonContentType(_) => {
                        Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", detail)
                    }
                    JsonRejection::JsonDataError(_) => Problem::unprocessable(detail, Vec::new()),
                    JsonRejection::BytesRejection(_) => {
                        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", detail)
                    }
                    _ => Problem::bad_request(detail),
                })
            }
        }
    }
}
