//! The dashboard: its files (built into the binary from `ui/src`), the
//! login that turns a one-time code or the pasted token into a session
//! cookie, and the route that issues codes.

use super::AppState;
use crate::problem::{ApiJson, Problem};
use crate::security::forbidden;
use crate::session::{CODE_TTL, CSRF_HEADER};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(rust_embed::RustEmbed)]
#[folder = "../ui/src"]
struct Assets;

/// Everything the page loads comes from this daemon: no CDN, no inline script.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

fn asset(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return Problem::not_found(format!("the dashboard has no file `{path}`")).into_response();
    };
    let mime = file.metadata.mimetype();
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("text/plain")));
    // Small files, served from memory: revalidate so an upgrade shows at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `/ui` → `/ui/`, so the page's relative module paths resolve under it.
pub async fn redirect_to_index() -> Redirect {
    Redirect::permanent("/ui/")
}

pub async fn index() -> Response {
    asset("index.html")
}

pub async fn file(Path(path): Path<String>) -> Response {
    asset(&path)
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    code: Option<String>,
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /ui/login?code=…`: spends a one-time code for a session cookie and
/// sends the browser on to the dashboard, so the code leaves the address bar.
/// A spent or expired code lands on the page's login form.
pub async fn login_with_code(State(state): State<AppState>, Query(q): Query<CodeQuery>) -> Response {
    let sessions = &state.guard.sessions;
    if q.code.as_deref().is_some_and(|c| sessions.redeem(c)) {
        let mut r = Redirect::to("/ui/").into_response();
        r.headers_mut().insert(header::SET_COOKIE, sessions.new_cookie());
        return no_store(r);
    }
    no_store(Redirect::to("/ui/#/login?expired").into_response())
}

#[derive(Debug, Deserialize)]
pub struct TokenLogin {
    token: String,
}

/// `POST /ui/login` with `{"token": …}`: the login form, for a browser that
/// has no code (the token is typed or pasted, never put in a URL).
pub async fn login_with_token(State(state): State<AppState>, ApiJson(body): ApiJson<TokenLogin>) -> Response {
    let given = body.token.trim().as_bytes();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(given, state.guard.token.as_bytes())) {
        return Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "that is not this daemon's token")
            .into_response();
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, state.guard.sessions.new_cookie());
    no_store(r)
}

/// `POST /ui/logout`: forgets the cookie in this browser.
pub async fn logout(State(state): State<AppState>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, state.guard.sessions.clear_cookie());
    r
}

/// What the page needs to talk to the API.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    /// Send as `X-CSRF-Token` on every request that changes something.
    csrf_token: String,
    csrf_header: &'static str,
    version: &'static str,
}

/// `GET /ui/session`: 200 with the CSRF token while the cookie is valid, 401 otherwise.
pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.guard.sessions.from_headers(&headers) {
        Some(session) => no_store(
            Json(SessionInfo {
                csrf_token: state.guard.sessions.csrf_token(&session),
                csrf_header: CSRF_HEADER,
                version: env!("CARGO_PKG_VERSION"),
            })
            .into_response(),
        ),
        None => Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "no dashboard session; run `clipshot open`")
            .into_response(),
    }
}

/// A one-time link into the dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginCode {
    /// Spend at `GET /ui/login?code=…` (once).
    pub code: String,
    /// The path to open, relative to the daemon.
    pub path: String,
    pub expires_in_s: u64,
}

/// Issues a one-time code that opens a dashboard session in a browser
/// (what `clipshot open` does). Only a caller that holds the token gets one.
#[utoipa::path(post, path = "/api/v1/ui/codes", tag = "system",
    responses((status = 201, body = LoginCode), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn issue_code(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // A cookie session must not mint codes for other browsers: the token only.
    if state.guard.sessions.from_headers(&headers).is_some() && !has_token_header(&headers) {
        return forbidden("codes are issued to holders of the token, not to dashboard sessions");
    }
    let code = state.guard.sessions.issue_code(CODE_TTL);
    let body = LoginCode { path: format!("/ui/login?code={code}"), code, expires_in_s: CODE_TTL.as_secs() };
    no_store((StatusCode::CREATED, Json(body)).into_response())
}

fn has_token_header(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-api-key")
}

/// Whether a request to `/` comes from a browser that wants a page.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|t| t.trim().starts_with("text/html")))
}
