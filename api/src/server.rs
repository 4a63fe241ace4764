//! Assembles the HTTP service and runs the daemon.

use crate::config::{Config, Overrides};
use crate::metrics::Metrics;
use crate::openapi::{ApiDoc, Security};
use crate::problem::Problem;
use crate::routes::{self, AppState};
use crate::security::{self, Guard};
use crate::store::Store;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::routing::{get, post};
use clipshot_core::GraphSpec;
use clipshot_core::event::ClipSaved;
use clipshot_runtime::Engine;
use clipshot_runtime::recorder::ClipRecorder;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The `/api/v1` routes and the OpenAPI document describing them.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use routes::{ai, capture, clips, config, metadata, nodes, pipelines, plugins, system};
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(system::metrics))
        .routes(routes!(system::events))
        .routes(routes!(system::openapi))
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::get, plugins::uninstall))
        .routes(routes!(plugins::install))
        .routes(routes!(plugins::load))
        .routes(routes!(plugins::unload))
        .routes(routes!(plugins::reload))
        .routes(routes!(plugins::enable))
        .routes(routes!(plugins::disable))
        .routes(routes!(plugins::get_config, plugins::put_config))
        .routes(routes!(plugins::get_permissions, plugins::put_permissions))
        .routes(routes!(plugins::health))
        .routes(routes!(routes::marketplace::list))
        .routes(routes!(routes::marketplace::get))
        .routes(routes!(routes::marketplace::install))
        .routes(routes!(pipelines::list, pipelines::create))
        .routes(routes!(pipelines::presets))
        .routes(routes!(pipelines::get, pipelines::delete))
        .routes(routes!(pipelines::start))
        .routes(routes!(pipelines::stop))
        .routes(routes!(pipelines::stats))
        .routes(routes!(pipelines::save))
        .routes(routes!(pipelines::start_recording, pipelines::recording, pipelines::stop_recording))
        .routes(routes!(pipelines::replay))
        .routes(routes!(pipelines::add_marker))
        .routes(routes!(pipelines::preview))
        .routes(routes!(nodes::list))
        .routes(routes!(nodes::get))
        .routes(routes!(capture::sources))
        .routes(routes!(capture::encoders))
        .routes(routes!(clips::list))
        .routes(routes!(clips::get, clips::patch, clips::delete))
        .routes(routes!(clips::file))
        .routes(routes!(clips::thumbnail))
        .routes(routes!(metadata::get))
        .routes(routes!(metadata::generate))
        .routes(routes!(config::get, config::patch))
        .routes(routes!(routes::ui::issue_code))
        .routes(routes!(ai::list))
        .routes(routes!(ai::get))
        .routes(routes!(ai::load))
        .routes(routes!(ai::unload))
        .routes(routes!(routes::infer::infer))
        .routes(routes!(routes::infer::infer_stream))
        .routes(routes!(ai::health))
        .routes(routes!(routes::profiles::list))
        .routes(routes!(routes::profiles::get, routes::profiles::put))
        .routes(routes!(routes::tasks::list, routes::tasks::create))
        .routes(routes!(routes::tasks::get, routes::tasks::delete))
        .split_for_parts();
    // Public routes, documented alongside.
    let (_, public) = OpenApiRouter::<AppState>::new()
        .routes(routes!(routes::health::health))
        .routes(routes!(routes::root::root))
        .routes(routes!(system::prometheus))
        .split_for_parts();
    doc.merge(public);
    Security.modify(&mut doc);
    (router, doc)
}

/// The OpenAPI document (for `clipshot openapi` and tests).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().1
}

/// The whole HTTP surface.
pub fn router(state: AppState, guard: Arc<Guard>) -> Router {
    let (api, doc) = api_routes();
    let api = api.route_layer(axum::middleware::from_fn_with_state(Arc::clone(&guard), security::require_token));
    let cors_guard = Arc::clone(&guard);
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            cors_guard.origin_allowed(origin.as_bytes())
        }))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::RANGE,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([header::CONTENT_RANGE, header::ACCEPT_RANGES, header::CONTENT_LENGTH]);
    // Logs name the route, never the query string: it may carry the token.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| tracing::debug_span!("http", method = %req.method(), path = %req.uri().path()));
    Router::new()
        .route("/", get(routes::root::root))
        .route("/health", get(routes::health::health))
        .route("/metrics", get(routes::system::prometheus))
        .route("/redoc", get(routes::docs::redoc))
        .route("/redoc/redoc.standalone.js", get(routes::docs::redoc_js))
        .route("/ui", get(routes::ui::redirect_to_index))
        .route("/ui/", get(routes::ui::index))
        .route("/ui/login", get(routes::ui::login_page).post(routes::ui::login))
        .route("/ui/logout", post(routes::ui::logout))
        .route("/ui/session", get(routes::ui::session))
        .route("/ui/{*path}", get(routes::ui::file))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .merge(api)
        .fallback(|| async { Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not take that method")
        })
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(guard, security::check_host_and_origin))
        .layer(cors)
        .layer(trace)
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
}

/// The models in `models_dir` and, from a source checkout, the shipped
/// `models/` (a model in `models_dir` with the same id wins). One intra-op
/// thread per session on small machines: analysis leaves the cores to
/// recording.
pub fn ai_service(config: &Config) -> clipshot_ai::Ai {
    let mut dirs = vec![config.models_dir()];
    dirs.extend(clipshot_ai::service::bundled_models_dir());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    clipshot_ai::Ai::new(dirs, if cores <= 4 { 1 } else { 2 })
}

/// Every saved clip, whatever triggered it (hotkey, API, highlight), becomes
/// a row, written only after the file was renamed into place.
impl ClipRecorder for Store {
    async fn record(&self, saved: &ClipSaved) -> Result<(), String> {
        let trigger = serde_json::to_value(saved.trigger).unwrap_or_default();
        crate::metrics::clip_saved(trigger.as_str().unwrap_or("unknown"), saved.save_ms);
        self.record_clip(saved, None).await.map(drop).map_err(|e| e.to_string())
    }
}

/// Adds the pipelines saved through the API; starts those marked autostart.
fn restore_pipelines(engine: &Engine, saved: &[crate::store::SavedPipeline]) {
    for p in saved {
        let spec = match serde_json::from_value::<GraphSpec>(p.graph.clone()) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(pipeline = %p.id, error = %e, "saved pipeline is unreadable; skipped");
                continue;
            }
        };
        match engine.add(&spec) {
            Ok(pipeline) if p.autostart => {
                if let Err(e) = engine.start(&pipeline) {
                    tracing::error!(pipeline = %p.id, error = %e, "saved pipeline did not start");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(pipeline = %p.id, error = %e, "saved pipeline not restored"),
        }
    }
}

/// Runs the daemon until Ctrl-C or SIGTERM. `file` and `overrides` are
/// reread after the database opens, to layer the settings saved over the API.
pub use crate::routes::LogReload;

pub async fn serve(config: Config, file: Option<&Path>, overrides: &Overrides, log: LogReload) -> anyhow::Result<()> {
    use anyhow::Context;
    for dir in [config.data_dir.clone(), config.plugins_dir(), config.models_dir(), config.temp_dir()] {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    crate::problem::set_debug(config.debug);
    let token = security::load_or_create_token(&config.token_path())
        .with_context(|| format!("cannot create the API token {}", config.token_path().display()))?;
    let db_path = config.database_path().map_err(anyhow::Error::msg).context("invalid `database_url`")?;
    if let Some(parent) = db_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let store =
        Store::open(&db_path).await.with_context(|| format!("cannot open the database {}", db_path.display()))?;
    let saved = store.setting(routes::config::SETTINGS_KEY).await?;
    let config = match &saved {
        Some(saved) => Config::load_with(file, overrides, Some(saved))
            .context("the settings saved over the API no longer apply; fix or delete them")?,
        None => config,
    };
    if !config.host.is_loopback() {
        tracing::warn!(host = %config.host, "the API listens beyond this machine; anyone who has the token controls it");
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.host, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    let addr = listener.local_addr()?;

    let metrics = Arc::new(Metrics::install().map_err(anyhow::Error::msg)?);
    // The analysis nodes share the daemon's models and GPU device: handed
    // over before any pipeline starts.
    let ai = Arc::new(ai_service(&config));
    clipshot_analysis::install(Arc::clone(&ai));
    routes::profiles::restore(store.setting(routes::profiles::SETTINGS_KEY).await?);
    let engine = Arc::new(Engine::new(config.engine_settings())?);
    clipshot_runtime::recorder::spawn(&engine, store.clone());
    let saved_pipelines = store.pipelines().await?;
    let started = {
        let engine = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || {
            let default = engine.start_default();
            restore_pipelines(&engine, &saved_pipelines);
            default
        })
        .await?
    };
    let pipeline = started.context("the default pipeline did not start")?;
    let shared = Arc::new(parking_lot::RwLock::new(config.clone()));
    let hotkey = clipshot_runtime::hotkey::start(Arc::clone(&engine), &config.hotkey);

    let guard = Arc::new(Guard::new(token, addr.port(), &config.allowed_hosts, config.cors_origins.clone()));
    if let Some(revoked) = store.setting(routes::ui::REVOKED_KEY).await? {
        guard.sessions.restore_revoked(serde_json::from_value::<Vec<(String, u64)>>(revoked).unwrap_or_default());
    }
    let state = AppState {
        engine: Arc::clone(&engine),
        ai,
        tasks: Arc::default(),
        log: crate::routes::LogHandle(log),
        config: shared,
        hotkey: Arc::new(parking_lot::Mutex::new(hotkey)),
        store: store.clone(),
        guard: Arc::clone(&guard),
        metrics,
        started: Instant::now(),
    };
    let obs = start_obs_websocket(&engine, &config, &guard.token).await;
    let app = router(state, Arc::clone(&guard));

    // Scripts (and the tests) read this line to find the daemon.
    tracing::info!(pipeline = pipeline.id(), data_dir = %config.data_dir.display(), "recording");
    let recording = engine.recording(pipeline.id());
    let obs_addr = obs.as_ref().map(clipshot_obs_websocket::Server::local_addr);
    // A sign-in link only for a person at a terminal: a service manager's
    // log is no place for a working code.
    let dashboard = std::io::stdout()
        .is_terminal()
        .then(|| format!("/ui/login?code={}", guard.sessions.issue_code(crate::session::BANNER_CODE_TTL)));
    banner(&addr, pipeline.id(), engine.fallback().as_deref(), recording.as_ref(), obs_addr, dashboard, &config);

    let app = tower::ServiceBuilder::new().map_request(trim_trailing_slash).service(app);
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shutting down");
    if let Some(obs) = obs {
        obs.shutdown().await;
    }
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    store.close().await;
    Ok(())
}

/// Trailing slashes are trimmed before routing: `/api/v1/clips/` (the
/// original design's spelling) serves what `/api/v1/clips` serves. Swagger
/// UI's `/docs/` and the dashboard's `/ui/` are left alone: their pages load
/// files relative to the slash.
fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/docs") && path != "/ui/" {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// Says where the daemon listens. Nothing printed may ever stop the daemon:
/// a service manager or a launcher that read one line and closed the pipe
/// turns `println!` into a panic, so write errors are ignored here.
/// The obs-websocket server, when configured: bound like the API, with the
/// API token as its password. A port that is taken (OBS itself running, say)
/// costs the remotes, never the daemon.
async fn start_obs_websocket(
    engine: &Arc<Engine>,
    config: &Config,
    token: &str,
) -> Option<clipshot_obs_websocket::Server> {
    if !config.obs_websocket {
        return None;
    }
    let options = clipshot_obs_websocket::Options {
        bind: config.host,
        port: config.obs_websocket_port,
        token: token.to_owned(),
        password: config.obs_websocket_password.clone(),
        extra_hosts: config.allowed_hosts.clone(),
        allowed_origins: config.cors_origins.clone(),
        clips_dir: config.clips_dir(),
    };
    match clipshot_obs_websocket::Server::start(Arc::clone(engine), options).await {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::warn!(
                port = config.obs_websocket_port,
                "obs-websocket is off: cannot listen ({e}); is OBS running with its WebSocket server on? \
                 Set `obs_websocket_port` to another port"
            );
            None
        }
    }
}

fn banner(
    addr: &SocketAddr,
    pipeline: &str,
    fallback: Option<&str>,
    recording: Option<&clipshot_runtime::Recording>,
    obs: Option<SocketAddr>,
    dashboard: Option<String>,
    config: &Config,
) {
    // A daemon on every interface is still reached, and signed into, as localhost.
    let shown = match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port()),
        _ => *addr,
    };
    let url = format!("http://{shown}");
    let dashboard = match dashboard {
        Some(link) => format!("{url}{link} (once, within 10 minutes; later: clipshot open)"),
        None => format!("{url}/ui/ (sign in with: clipshot open)"),
    };
    // What is recorded and, one line each, what is not and why.
    let mut sources = String::new();
    if let Some(r) = recording {
        sources = format!("  recording: {}\n", r.sources.join(", "));
        for m in &r.missing {
            sources.push_str(&format!("  missing:   {m}\n"));
        }
    }
    if let Some(obs) = obs {
        sources.push_str(&format!("  obs-websocket: ws://{obs} (password: the token)\n"));
    }
    let text = format!(
        "ClipShot {} listening on http://{addr}\n  dashboard: {dashboard}\n  \
         pipeline:  {pipeline} ({})\n{sources}  preview:   {url}/api/v1/pipelines/{pipeline}/preview\n  \
         health:    {url}/health\n  API docs:  {url}/docs (authorize with the token)\n  data dir:  {}\n  \
         token:     {}\n  save clip: clipshot clip --seconds 30\n",
        env!("CARGO_PKG_VERSION"),
        fallback.unwrap_or("as configured"),
        config.data_dir.display(),
        config.token_path().display(),
    );
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        tracing::debug!("standard output is closed; the banner was not printed");
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
