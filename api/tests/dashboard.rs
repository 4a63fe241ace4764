//! The dashboard: its files, the login that keeps the token out of URLs, the
//! cookie's rules over real HTTP, and the whole UI in headless Chromium.

mod common;

use common::{Api, Daemon, clipshot};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `/ui/session` says this cookie is signed in.
async fn signed_in(daemon: &Daemon, cookie: &str) -> bool {
    let r = raw().get(daemon.url("/ui/session")).header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<serde_json::Value>().await.unwrap()["signed_in"].as_bool().unwrap()
}

/// A client that shows redirects instead of following them.
fn raw() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `name=value` of a `Set-Cookie` answer.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// What the page does with a code: POST it to `/ui/login`.
async fn spend(daemon: &Daemon, code: &str) -> reqwest::Response {
    raw().post(daemon.url("/ui/login")).json(&serde_json::json!({ "code": code })).send().await.unwrap()
}

/// The code in a link `…/ui/login?code=…`.
fn code_of(link: &str) -> &str {
    link.split("code=").nth(1).unwrap().split_whitespace().next().unwrap()
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
    let code = code["code"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("/ui/login?code={code}"));

    // Opening the link spends nothing (a link scanner may GET it): it sends
    // the browser to the page, the code in the fragment, which servers never see.
    let r = http.get(daemon.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION].to_str().unwrap(), format!("/ui/#/login?code={code}"));
    assert!(r.headers().get(SET_COOKIE).is_none());
    // The page spends it once: a cookie.
    let r = spend(&daemon, &code).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with(&format!("clipshot_session_{}=", daemon.port)), "{set}");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    assert!(!set.contains(&daemon.token()));
    let cookie = cookie_pair(&set);
    // Spent twice: nothing, and a problem that says why.
    let r = spend(&daemon, &code).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("used already or has expired"));
    assert_eq!(spend(&daemon, "0123").await.status(), StatusCode::UNAUTHORIZED);
    let both = serde_json::json!({ "code": code, "token": daemon.token() });
    let r = http.post(daemon.url("/ui/login")).json(&both).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

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
    // A session cannot mint codes for other browsers; only the token can
    // (another kind of Authorization header beside the cookie changes nothing).
    let codes = daemon.url("/api/v1/ui/codes");
    let r = with_cookie(http.post(&codes)).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = with_cookie(http.post(&codes)).header("x-csrf-token", &csrf).header("authorization", "Basic eDp4");
    assert_eq!(r.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // A cookie signed by another daemon's token is nobody.
    let forged = format!("clipshot_session_{}=00.{}", daemon.port, "0".repeat(64));
    let r = http.get(daemon.url("/api/v1/pipelines")).header(COOKIE, forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The cookie outlives a restart (it is signed with the token, which
    // stays), under the port's name: a daemon on another port ignores it.
    let mut daemon = daemon;
    let old_port = daemon.port;
    daemon.restart();
    assert!(!signed_in(&daemon, &cookie).await);
    let renamed =
        cookie.replacen(&format!("clipshot_session_{old_port}="), &format!("clipshot_session_{}=", daemon.port), 1);
    assert!(signed_in(&daemon, &renamed).await);

    // Signing out clears the cookie and revokes the session: a copy of the
    // cookie is refused too, also after the next restart.
    let r = http.post(daemon.url("/ui/logout")).header(COOKIE, &renamed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let r = http.get(daemon.url("/api/v1/pipelines")).header(COOKIE, &renamed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let port = daemon.port;
    daemon.restart();
    let renamed = renamed.replacen(&format!("_{port}="), &format!("_{}=", daemon.port), 1);
    assert!(!signed_in(&daemon, &renamed).await);
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

    // Standard output is a pipe here (a service manager's log, say): the
    // banner links the dashboard with no code in it, and never the token.
    let banner = daemon.banner();
    assert!(!banner.contains(&daemon.token()), "{banner}");
    let line = format!("dashboard: http://127.0.0.1:{}/ui/ (sign in with: clipshot open)", daemon.port);
    assert!(banner.contains(&line), "{banner}");
    assert!(!banner.contains("code="), "{banner}");

    // So does `clipshot open --print`'s.
    let out = clipshot(daemon.data_dir.path(), &["--port", &daemon.port.to_string(), "open", "--print"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(link.starts_with(&daemon.url("/ui/login?code=")) && !link.contains(&daemon.token()), "{link}");
    assert!(spend(&daemon, code_of(&link)).await.headers().get(SET_COOKIE).is_some());
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
    assert!(!signed_in(&daemon, "").await);
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
    let ai_ready = std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty())
        && root.join("models/ced-tiny/model.onnx").is_file();
    assert!(ai_ready || std::env::var_os("CI").is_none(), "CI must have ONNX Runtime and the models");
    let daemon = Daemon::start(&[]);
    // The browser saves a 4-second clip: let the ring hold that first.
    tokio::runtime::Runtime::new().unwrap().block_on(daemon.wait_for_ring(5.0));
    // A plugin for the Plugins page to list.
    let plugin = daemon.data_dir.path().join("plugins/kill-feed");
    std::fs::create_dir_all(&plugin).unwrap();
    // Built for Windows only: listed, and its load refused with the reason.
    let manifest = serde_json::json!({
        "id": "com.example.kill-feed", "name": "Kill feed", "version": "0.3.1", "api_version": "v1",
        "type": "optional", "category": "fps", "description": { "en": "Reads kill feeds" },
        "author": { "name": "Someone" }, "license": "MIT", "platforms": ["windows"],
        "engines": { "clipshot": ">=0.1.0" },
        "native": { "abi_version": 1, "binaries": { "windows-x64": { "path": "lib/killfeed.dll", "sha256": "0".repeat(64) } } },
    });
    std::fs::write(plugin.join("manifest.json"), manifest.to_string()).unwrap();
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
        .env("AI_READY", if ai_ready { "1" } else { "0" })
        .status()
        .expect("node runs");
    assert!(status.success(), "the browser test failed (its report is above; screenshots in {})", shots.display());
    for page in ["login", "pipelines", "clips", "player", "replay", "plugins", "settings"]
        .into_iter()
        .chain(ai_ready.then_some("models"))
    {
        assert!(shots.join(format!("{page}.png")).is_file(), "no screenshot of {page}");
    }
}

/// `make run` starts the daemon on a terminal: there the banner carries a
/// one-time link straight into the dashboard. (`script` gives it one.)
#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_banner_links_straight_in() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    // `exec`: the daemon is the terminal's session leader, which the kernel
    // sends SIGHUP when the terminal goes.
    let serve = format!("exec {} serve --port 0", common::bin());
    let mut command = Command::new("script");
    command
        .args(["-qfec", &serve, "/dev/null"])
        .env("CLIPSHOT_DATA_DIR", dir.path())
        .env("CLIPSHOT_PIPELINE", "test-pattern")
        .env("CLIPSHOT_OBS_WEBSOCKET_PORT", "0")
        .env_remove("DISPLAY")
        .env_remove("CLIPSHOT_PORT")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // A terminal's programs start with SIGHUP at its default; a test run
    // under `nohup` would otherwise hand the daemon an ignored one.
    // SAFETY: signal() is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            Ok(())
        });
    }
    let spawned = command.spawn();
    let Ok(mut script) = spawned else {
        assert!(std::env::var_os("CI").is_none(), "CI must have `script` (util-linux)");
        eprintln!("skipped: `script` is not installed");
        return;
    };
    let stdout = script.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line.trim_end_matches('\r').to_owned());
        }
    });
    let mut lines = Vec::new();
    let link = loop {
        let line = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap_or_else(|_| panic!("banner: {lines:?}"));
        if let Some(rest) = line.trim().strip_prefix("dashboard: ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        lines.push(line);
    };
    assert!(link.contains("/ui/login?code="), "{link}");
    assert!(!link.contains(&std::fs::read_to_string(dir.path().join("api-token")).unwrap()));
    let base = link.split("/ui/").next().unwrap().to_owned();
    let r = raw().post(format!("{base}/ui/login")).json(&serde_json::json!({ "code": code_of(&link) })).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers().get(SET_COOKIE).is_some());
    // Closing the terminal (SIGHUP) ends the daemon.
    let _ = script.kill();
    let _ = script.wait();
    for _ in 0..100 {
        if raw().get(format!("{base}/health")).send().await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the daemon outlived its terminal");
}
