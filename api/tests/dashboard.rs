//! The dashboard: its files, the login that keeps the token out of URLs, the
//! cookie's rules over real HTTP, and the whole UI in headless Chromium.

mod common;

use common::{Api, Daemon, clipshot};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A client that shows redirects instead of following them.
fn raw() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `name=value` of a `Set-Cookie` answer.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn spend(daemon: &Daemon, path: &str) -> reqwest::Response {
    raw().get(daemon.url(path)).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_code_buys_a_session_cookie_that_needs_csrf_to_change_anything() {
    let daemon = Daemon::start(&[]);
    let api = Api::new(&daemon);
    let http = raw();

    let r = api.post("/api/v1/ui/codes", serde_json::json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let code: serde_json::Value = r.json().await.unwrap();
    let path = code["path"].as_str().unwrap().to_owned();
    assert!(!path.contains(&daemon.token()));
    assert_eq!(code["expires_in_s"], 120);

    // Spent once: a cookie, and the browser is sent on without the code.
    let r = spend(&daemon, &path).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/ui/");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with(&format!("clipshot_session_{}=", daemon.port)), "{set}");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    assert!(!set.contains(&daemon.token()));
    let cookie = cookie_pair(&set);
    // Spent twice: nothing, and the login form says why.
    let r = spend(&daemon, &path).await;
    assert_eq!(r.headers()[LOCATION], "/ui/#/login?expired");
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(spend(&daemon, "/ui/login?code=0123").await.headers().get(SET_COOKIE).is_none());

    // The cookie reads the API…
    let with_cookie = |req: reqwest::RequestBuilder| req.header(COOKIE, &cookie);
    let r = with_cookie(http.get(daemon.url("/api/v1/pipelines"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // …but changes nothing without the CSRF token…
    let marker = daemon.url("/api/v1/pipelines/test-pattern/markers");
    let r = with_cookie(http.post(&marker)).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let session: serde_json::Value =
        with_cookie(http.get(daemon.url("/ui/session"))).send().await.unwrap().json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let r = with_cookie(http.post(&marker)).header("x-csrf-token", "0".repeat(64)).json(&serde_json::json!({}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // …and with it, from this daemon's own page, it does.
    daemon.wait_for_ring(1.0).await;
    let r = with_cookie(http.post(&marker))
        .header("x-csrf-token", &csrf)
        .header("origin", daemon.url(""))
        .json(&serde_json::json!({ "label": "from the page" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    // A foreign page with a stolen CSRF token is still refused by its Origin.
    let r = with_cookie(http.post(&marker))
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.test")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A session cannot mint codes for other browsers; only the token can.
    let r = with_cookie(http.post(daemon.url("/api/v1/ui/codes"))).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A cookie signed by another daemon's token is nobody.
    let forged = format!("clipshot_session_{}=00.{}", daemon.port, "0".repeat(64));
    let r = http.get(daemon.url("/api/v1/pipelines")).header(COOKIE, forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The cookie outlives a restart (it is signed with the token, which
    // stays), under the port's name: a daemon on another port ignores it.
    let mut daemon = daemon;
    let old_port = daemon.port;
    daemon.restart();
    let r = http.get(daemon.url("/ui/session")).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let renamed =
        cookie.replacen(&format!("clipshot_session_{old_port}="), &format!("clipshot_session_{}=", daemon.port), 1);
    let r = http.get(daemon.url("/ui/session")).header(COOKIE, renamed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Logging out clears it.
    let r = http.post(daemon.url("/ui/logout")).send().await.unwrap();
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_form_takes_the_token_in_a_body_and_the_banner_links_in() {
    let daemon = Daemon::start(&[]);
    let http = raw();
    let login = daemon.url("/ui/login");
    let r = http.post(&login).json(&serde_json::json!({ "token": "wrong" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let r = http.post(&login).json(&serde_json::json!({ "token": daemon.token() })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("HttpOnly"));
    // Not from another site's form.
    let r = http
        .post(&login)
        .header("origin", "http://evil.test")
        .json(&serde_json::json!({ "token": daemon.token() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The banner's link signs in once, and the banner never shows the token.
    let banner = daemon.banner();
    assert!(!banner.contains(&daemon.token()), "{banner}");
    let prefix = format!("dashboard: http://127.0.0.1:{}", daemon.port);
    let line = banner.lines().find(|l| l.contains(&prefix)).unwrap_or_else(|| panic!("no dashboard line: {banner}"));
    let path = line.split(&prefix).nth(1).unwrap().split_whitespace().next().unwrap();
    assert!(spend(&daemon, path).await.headers().get(SET_COOKIE).is_some());
    assert!(spend(&daemon, path).await.headers().get(SET_COOKIE).is_none());

    // So does `clipshot open --print`'s.
    let out = clipshot(daemon.data_dir.path(), &["--port", &daemon.port.to_string(), "open", "--print"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(link.starts_with(&daemon.url("/ui/login?code=")) && !link.contains(&daemon.token()), "{link}");
    let r = http.get(&link).send().await.unwrap();
    assert!(r.headers().get(SET_COOKIE).is_some());
    // Without a daemon, a readable error and a non-zero exit.
    let out = clipshot(daemon.data_dir.path(), &["--port", "1", "open", "--print"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the ClipShot daemon"));
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_get_the_page_other_clients_the_json_root() {
    let daemon = Daemon::start(&[]);
    let http = raw();
    let r =
        http.get(daemon.url("/")).header("accept", "text/html,application/xhtml+xml,*/*;q=0.8").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/ui/");
    let root: serde_json::Value = http.get(daemon.url("/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(root["links"]["dashboard"], "/ui/");

    let r = http.get(daemon.url("/ui")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    let r = http.get(daemon.url("/ui/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="app.js">"#));
    // Every file the page names is served from the binary, none from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    for (file, mime) in [("app.js", "javascript"), ("style.css", "text/css"), ("pages/player.js", "javascript")] {
        let r = http.get(daemon.url(&format!("/ui/{file}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        assert!(r.headers()["content-type"].to_str().unwrap().contains(mime), "{file}");
    }
    let r = http.get(daemon.url("/ui/nope.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // The page's files are no way around the Host check.
    let r = http.get(daemon.url("/ui/")).header("host", "evil.test").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Without a session, the page learns it must sign in.
    assert_eq!(http.get(daemon.url("/ui/session")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

/// The browser test's tools: Node with the dashboard's packages, and Chromium.
/// Missing outside CI: skipped with a note; in CI (`make test` installs them): a failure.
fn browser_tools(ui: &Path) -> Option<PathBuf> {
    let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    let packages = ui.join("node_modules/playwright-core").is_dir();
    if node && packages && chromium.exists() {
        return Some(chromium);
    }
    let why = format!(
        "node: {node}, ui/node_modules: {packages}, {}: {} (make test installs them)",
        chromium.display(),
        chromium.exists()
    );
    assert!(std::env::var_os("CI").is_none(), "CI must run the browser test; missing {why}");
    eprintln!("skipped: the browser test needs {why}");
    None
}

#[test]
fn the_dashboard_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ui = root.join("ui");
    let Some(chromium) = browser_tools(&ui) else { return };
    let daemon = Daemon::start(&[]);
    // The browser saves a 4-second clip: let the ring hold that first.
    tokio::runtime::Runtime::new().unwrap().block_on(daemon.wait_for_ring(5.0));
    let out = clipshot(daemon.data_dir.path(), &["--port", &daemon.port.to_string(), "open", "--print"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // Each page's screenshot, for people to look at after the run.
    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("ui-screenshots");
    let status = Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/dashboard.test.mjs"])
        .current_dir(&ui)
        .env("CLIPSHOT_URL", daemon.url(""))
        .env("CLIPSHOT_LINK", &link)
        .env("CLIPSHOT_TOKEN", daemon.token())
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .status()
        .expect("node runs");
    assert!(status.success(), "the browser test failed (its report is above; screenshots in {})", shots.display());
    for page in ["login", "pipelines", "clips", "player", "replay", "plugins", "settings"] {
        assert!(shots.join(format!("{page}.png")).is_file(), "no screenshot of {page}");
    }
}
