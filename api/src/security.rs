//! Protection for a daemon on localhost: the API token, the Host allow-list
//! (against DNS rebinding) and the Origin check on state-changing requests.

use crate::problem::Problem;
use crate::session::Sessions;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use rand::RngCore;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Reads the token at `path`, creating it (256 random bits, mode 0600) on first start.
pub fn load_or_create_token(path: &Path) -> std::io::Result<String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            file.write_all(token.as_bytes())?;
            file.sync_all()?;
            Ok(token)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_token(path),
        Err(e) => Err(e),
    }
}

/// Reads an existing token (clients).
pub fn read_token(path: &Path) -> std::io::Result<String> {
    let mut token = String::new();
    std::fs::File::open(path)?.read_to_string(&mut token)?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(std::io::Error::new(ErrorKind::InvalidData, format!("{} is empty", path.display())));
    }
    Ok(token)
}

/// What the security layers compare against. Hosts and origins change live
/// with the configuration.
#[derive(Debug)]
pub struct Guard {
    pub token: String,
    /// Dashboard sessions: cookies instead of the token.
    pub sessions: Sessions,
    port: u16,
    /// `host:port` values accepted in the `Host` header.
    allowed_hosts: RwLock<Vec<String>>,
    allowed_origins: RwLock<Vec<String>>,
}

impl Guard {
    pub fn new(token: String, port: u16, extra_hosts: &[String], allowed_origins: Vec<String>) -> Self {
        let sessions = Sessions::new(&token, port);
        let guard =
            Self { token, sessions, port, allowed_hosts: RwLock::default(), allowed_origins: RwLock::default() };
        guard.set_allowed(extra_hosts, allowed_origins);
        guard
    }

    pub fn set_allowed(&self, extra_hosts: &[String], allowed_origins: Vec<String>) {
        *self.allowed_hosts.write() = clipshot_runtime::access::allowed_hosts(self.port, extra_hosts);
        *self.allowed_origins.write() = allowed_origins;
    }

    pub fn origin_allowed(&self, origin: &[u8]) -> bool {
        self.allowed_origins.read().iter().any(|a| a.as_bytes() == origin)
    }

    /// The daemon's own pages (`http://<a Host it answers to>`) are never foreign.
    fn same_origin(&self, origin: &[u8]) -> bool {
        origin.strip_prefix(b"http://").is_some_and(|host| {
            let host = String::from_utf8_lossy(host).to_ascii_lowercase();
            self.allowed_hosts.read().contains(&host)
        })
    }

    fn token_matches(&self, given: &str) -> bool {
        given.as_bytes().ct_eq(self.token.as_bytes()).into()
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub(crate) fn forbidden(detail: &str) -> Response {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", detail).into_response()
}

/// Every route: the Host header must name this daemon (DNS rebinding), and a
/// state-changing request must not come from a foreign origin.
pub async fn check_host_and_origin(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
    if !host.as_ref().is_some_and(|h| guard.allowed_hosts.read().contains(h)) {
        return forbidden("the Host header does not name this daemon");
    }
    // `null` (sandboxed frames, file pages) counts as foreign.
    if changes_state(req.method())
        && let Some(origin) = req.headers().get(header::ORIGIN)
        && !guard.origin_allowed(origin.as_bytes())
        && !guard.same_origin(origin.as_bytes())
    {
        return forbidden("requests from this origin may not change anything");
    }
    next.run(req).await
}

/// GET routes a browser opens without headers (`EventSource`, `<video>`,
/// `<img>`): these also take the token as `?access_token=`.
fn takes_query_token(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == Method::GET
        && (path.ends_with("/system/events")
            || (path.contains("/clips/") && (path.ends_with("/file") || path.ends_with("/thumbnail"))))
}

fn query_token(req: &Request) -> Option<&str> {
    req.uri().query()?.split('&').find_map(|pair| pair.strip_prefix("access_token="))
}

/// `/api/v1`: `Authorization: Bearer <token>` or `X-API-Key: <token>`; or
/// the dashboard's session cookie, which must come with `X-CSRF-Token` on
/// anything that changes state.
pub async fn require_token(State(guard): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let query = if takes_query_token(&req) { query_token(&req) } else { None };
    let by = match bearer.or(key).or(query) {
        Some(given) if guard.token_matches(given.trim()) => AuthBy::Token,
        Some(_) => {
            return Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "the API token is wrong").into_response();
        }
        None => match guard.sessions.from_headers(headers) {
            Some(session) => {
                if changes_state(req.method()) && !guard.sessions.csrf_ok(&session, headers) {
                    return forbidden("a request authenticated by the session cookie must send `X-CSRF-Token`");
                }
                AuthBy::Session
            }
            None => {
                let mut r = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send the token from <data_dir>/api-token as `Authorization: Bearer <token>`",
                )
                .into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
                return r;
            }
        },
    };
    // Handlers that only the token's holder may use read how the caller got in.
    req.extensions_mut().insert(by);
    next.run(req).await
}

/// How a request to `/api/v1` proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthBy {
    /// The token: a header, or the query for the few GET routes that take it.
    Token,
    /// A dashboard session cookie (with `X-CSRF-Token` for changes).
    Session,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_created_once_with_owner_only_access() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/api-token");
        let a = load_or_create_token(&path).unwrap();
        let b = load_or_create_token(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
