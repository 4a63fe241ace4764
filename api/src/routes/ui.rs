//! The dashboard: its files (built into the binary from `ui/src`), the
//! login that turns a one-time code or the typed token into a session
//! cookie, sign-out, and the route that issues codes.

use super::AppState;
use crate::problem::{ApiJson, Problem};
use crate::security::{AuthBy, forbidden};
use crate::session::{CODE_TTL, CSRF_HEADER};
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
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

/// `GET /ui/login?code=…`, the link `clipshot open` hands out: sends the
/// browser to the page, which spends the code with a POST. A GET never
/// spends it, so a link scanner or a preview fetch cannot.
pub async fn login_page(Query(q): Query<CodeQuery>) -> Response {
    let to = match q.code.filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_hexdigit())) {
        Some(code) => format!("/ui/#/login?code={code}"),
        None => "/ui/#/login".to_owned(),
    };
    no_store(Redirect::to(&to).into_response())
}

/// How the login form proves itself: a one-time code, or the token typed in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    code: Option<String>,
    token: Option<String>,
}

/// `POST /ui/login` with `{"code": …}` or `{"token": …}`: a session cookie
/// (204), or 401. The token only ever travels in this body, never in a URL.
pub async fn login(State(state): State<AppState>, ApiJson(body): ApiJson<Login>) -> Response {
    let guard = &state.guard;
    let ok = match (&body.code, &body.token) {
        (Some(code), None) => guard.sessions.redeem(code.trim()),
        (None, Some(token)) => {
            bool::from(subtle::ConstantTimeEq::ct_eq(token.trim().as_bytes(), guard.token.as_bytes()))
        }
        _ => return Problem::bad_request("send `code` or `token`").into_response(),
    };
    if !ok {
        let detail = if body.code.is_some() {
            "that link was used already or has expired; run `clipshot open` for a new one"
        } else {
            "that is not this daemon's token"
        };
        return Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, guard.sessions.new_cookie());
    no_store(r)
}

/// Where signed-out sessions are kept between runs.
pub const REVOKED_KEY: &str = "ui_revoked_sessions";

/// `POST /ui/logout`: signs this session out for good (a copy of the cookie
/// stops working too) and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let sessions = &state.guard.sessions;
    if let Some(session) = sessions.from_headers(&headers) {
        sessions.revoke(&session);
        state.store.set_setting(REVOKED_KEY, &serde_json::json!(sessions.revoked())).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, sessions.clear_cookie());
    Ok(r)
}

/// What the page needs to talk to the API.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    signed_in: bool,
    /// Send as `X-CSRF-Token` on every request that changes something.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    csrf_header: &'static str,
    version: &'static str,
}

/// `GET /ui/session`: whether this browser is signed in and, if so, its CSRF
/// token. Always 200: the page asks before every view, and a browser logs
/// every 401 as an error.
pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = state.guard.sessions.from_headers(&headers);
    no_store(
        Json(SessionInfo {
            signed_in: session.is_some(),
            csrf_token: session.map(|s| state.guard.sessions.csrf_token(&s)),
            csrf_header: CSRF_HEADER,
            version: env!("CARGO_PKG_VERSION"),
        })
        .into_response(),
    )
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
/// (what `clipshot open` does): open `path`; the page spends the code. Only
/// a caller that holds the token gets one.
#[utoipa::path(post, path = "/api/v1/ui/codes", tag = "system",
    responses((status = 201, body = LoginCode), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn issue_code(State(state): State<AppState>, Extension(by): Extension<AuthBy>) -> Response {
    // A dashboard session must not mint codes for other browsers.
    if by != AuthBy::Token {
        return forbidden("codes are issued to holders of the token, not to dashboard sessions");
    }
    let code = state.guard.sessions.issue_code(CODE_TTL);
    let body = LoginCode { path: format!("/ui/login?code={code}"), code, expires_in_s: CODE_TTL.as_secs() };
    no_store((StatusCode::CREATED, Json(body)).into_response())
}

/// Whether a request to `/` comes from a browser that wants a page.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|t| t.trim().starts_with("text/html")))
}
