//! Browser sessions for the dashboard, so the page never holds the token.
//!
//! `clipshot open` (or the daemon's banner, on a terminal) hands the browser
//! a one-time code; the page spends it with a POST (a link scanner that only
//! GETs the link spends nothing) for an HttpOnly, SameSite=Strict cookie.
//! The cookie is `<issued>.<nonce>.<HMAC(token, issued.nonce)>`: it survives
//! daemon restarts, cannot be forged without the token, expires on the
//! server after 30 days, is revoked by signing out (the revocations are
//! persisted), and every session dies when the token changes.
//! State-changing requests that authenticate by cookie must also carry
//! `X-CSRF-Token`, another HMAC of the same nonce, which only a page of this
//! origin can read (from `/ui/session`).

use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a code from `clipshot open` stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(120);
/// The banner's code waits longer: the link may be opened a while after start.
pub const BANNER_CODE_TTL: Duration = Duration::from_secs(600);
/// How long a session lasts (the browser is told the same).
const SESSION_MAX_AGE_S: u64 = 30 * 24 * 3600;
/// Codes outstanding at once; older ones are dropped beyond this.
const MAX_CODES: usize = 64;

/// The CSRF header a cookie-authenticated request must send to change anything.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// One-time codes and the keys that sign cookies.
pub struct Sessions {
    key: Vec<u8>,
    /// Cookies are per host, not per port: the name carries the port so two
    /// daemons on one machine keep separate sessions.
    cookie_name: String,
    codes: Mutex<HashMap<String, Instant>>,
    /// Signed-out sessions: nonce → when the cookie would have expired (unix s).
    revoked: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("cookie_name", &self.cookie_name).finish_non_exhaustive()
    }
}

/// A valid session cookie.
#[derive(Debug, Clone)]
pub struct Session {
    nonce: String,
    issued: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex(&buf)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    pub fn new(token: &str, port: u16) -> Self {
        Self {
            key: token.as_bytes().to_vec(),
            cookie_name: format!("clipshot_session_{port}"),
            codes: Mutex::default(),
            revoked: Mutex::default(),
        }
    }

    fn sign(&self, purpose: &str, nonce: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(nonce.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// A new one-time code, valid for `ttl`.
    pub fn issue_code(&self, ttl: Duration) -> String {
        let code = random_hex(16);
        let now = Instant::now();
        let mut codes = self.codes.lock();
        codes.retain(|_, expires| *expires > now);
        if codes.len() >= MAX_CODES
            && let Some(oldest) = codes.iter().min_by_key(|(_, e)| **e).map(|(c, _)| c.clone())
        {
            codes.remove(&oldest);
        }
        codes.insert(code.clone(), now + ttl);
        code
    }

    /// Spends a code: true once, for a code that exists and has not expired.
    pub fn redeem(&self, code: &str) -> bool {
        let mut codes = self.codes.lock();
        // Compared in constant time against every outstanding code.
        let found = codes.keys().find(|c| c.as_bytes().ct_eq(code.as_bytes()).into()).cloned();
        match found.and_then(|c| codes.remove(&c)) {
            Some(expires) => expires > Instant::now(),
            None => false,
        }
    }

    /// A `Set-Cookie` value for a new session.
    pub fn new_cookie(&self) -> HeaderValue {
        self.cookie_issued_at(unix_now())
    }

    fn cookie_issued_at(&self, issued: u64) -> HeaderValue {
        let signed = format!("{issued}.{}", random_hex(16));
        let value = format!("{signed}.{}", self.sign("session", &signed));
        let cookie =
            format!("{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_MAX_AGE_S}", self.cookie_name);
        HeaderValue::from_str(&cookie).expect("cookie is ASCII")
    }

    /// A `Set-Cookie` value that removes the session.
    pub fn clear_cookie(&self) -> HeaderValue {
        let cookie = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", self.cookie_name);
        HeaderValue::from_str(&cookie).expect("cookie is ASCII")
    }

    /// The session the request's cookie proves, if any: signed with this
    /// daemon's token, not expired, not signed out.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<Session> {
        let prefix = format!("{}=", self.cookie_name);
        let now = unix_now();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().strip_prefix(&prefix))
            .find_map(|value| {
                let (signed, mac) = value.rsplit_once('.')?;
                let expected = self.sign("session", signed);
                if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
                    return None;
                }
                let (issued, nonce) = signed.split_once('.')?;
                let issued: u64 = issued.parse().ok()?;
                let fresh = issued <= now + 60 && now - issued.min(now) < SESSION_MAX_AGE_S;
                (fresh && !self.revoked.lock().contains_key(nonce)).then(|| Session { nonce: nonce.to_owned(), issued })
            })
    }

    /// Signs a session out for good (its cookie may live on in a copy).
    pub fn revoke(&self, session: &Session) {
        let now = unix_now();
        let mut revoked = self.revoked.lock();
        revoked.retain(|_, expires| *expires > now);
        revoked.insert(session.nonce.clone(), session.issued + SESSION_MAX_AGE_S);
    }

    /// The revocations still in force, to persist.
    pub fn revoked(&self) -> Vec<(String, u64)> {
        let now = unix_now();
        self.revoked.lock().iter().filter(|(_, e)| **e > now).map(|(n, e)| (n.clone(), *e)).collect()
    }

    /// Restores persisted revocations.
    pub fn restore_revoked(&self, list: impl IntoIterator<Item = (String, u64)>) {
        self.revoked.lock().extend(list);
    }

    /// The CSRF token that goes with `session`.
    pub fn csrf_token(&self, session: &Session) -> String {
        self.sign("csrf", &session.nonce)
    }

    /// Whether the request carries the session's CSRF token.
    pub fn csrf_ok(&self, session: &Session, headers: &HeaderMap) -> bool {
        let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        self.csrf_token(session).as_bytes().ct_eq(given.trim().as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_headers(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
        h
    }

    #[test]
    fn a_code_is_spent_once() {
        let s = Sessions::new("t", 1);
        let code = s.issue_code(CODE_TTL);
        assert!(!s.redeem("nope"));
        assert!(s.redeem(&code));
        assert!(!s.redeem(&code));
        let stale = s.issue_code(Duration::ZERO);
        assert!(!s.redeem(&stale));
    }

    #[test]
    fn the_cookie_is_httponly_strict_and_proves_a_session() {
        let s = Sessions::new("token", 8000);
        let set = s.new_cookie();
        let text = set.to_str().unwrap();
        assert!(text.starts_with("clipshot_session_8000="));
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(!text.contains("token"));
        let headers = cookie_headers(&set);
        let session = s.from_headers(&headers).expect("valid cookie");
        // Another daemon's key, or another port, does not accept it.
        assert!(Sessions::new("other", 8000).from_headers(&headers).is_none());
        assert!(Sessions::new("token", 8001).from_headers(&headers).is_none());
        // The CSRF token matches only its own session.
        let mut with_csrf = headers.clone();
        assert!(!s.csrf_ok(&session, &with_csrf));
        with_csrf.insert(CSRF_HEADER, HeaderValue::from_str(&s.csrf_token(&session)).unwrap());
        assert!(s.csrf_ok(&session, &with_csrf));
        let other = s.from_headers(&cookie_headers(&s.new_cookie())).unwrap();
        assert!(!s.csrf_ok(&other, &with_csrf));
    }

    #[test]
    fn a_session_expires_and_can_be_signed_out() {
        let s = Sessions::new("token", 8000);
        let old = s.cookie_issued_at(unix_now() - SESSION_MAX_AGE_S - 1);
        assert!(s.from_headers(&cookie_headers(&old)).is_none());
        let future = s.cookie_issued_at(unix_now() + 3600);
        assert!(s.from_headers(&cookie_headers(&future)).is_none());
        let headers = cookie_headers(&s.new_cookie());
        let session = s.from_headers(&headers).unwrap();
        s.revoke(&session);
        assert!(s.from_headers(&headers).is_none());
        // Persisted and restored, the revocation holds in the next run.
        let next = Sessions::new("token", 8000);
        assert!(next.from_headers(&headers).is_some());
        next.restore_revoked(s.revoked());
        assert!(next.from_headers(&headers).is_none());
    }

    #[test]
    fn a_tampered_cookie_is_refused() {
        let s = Sessions::new("token", 8000);
        let set = s.new_cookie();
        let pair = set.to_str().unwrap().split(';').next().unwrap();
        let flipped = if pair.ends_with('0') { '1' } else { '0' };
        let tampered = format!("{}{flipped}", &pair[..pair.len() - 1]);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&tampered).unwrap());
        assert!(s.from_headers(&h).is_none());
    }
}
