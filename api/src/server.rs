//! Assembles the HTTP service and runs the daemon.

use crate::config::Config;
use crate::engine::Engine;
use crate::problem::Problem;
use crate::routes::{self, AppState};
use crate::security::{self, Guard};
use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The whole HTTP surface. `port` is the port actually bound (for the Host check).
pub fn router(state: AppState, guard: Arc<Guard>) -> Router {
    let api = Router::new()
        .route("/pipelines", get(routes::pipelines::list))
        .route("/pipelines/{id}/stats", get(routes::pipelines::stats))
        .route("/pipelines/{id}/replay/save", post(routes::pipelines::save))
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&guard), security::require_token));
    let origins: Vec<HeaderValue> = guard.allowed_origins.iter().filter_map(|o| o.parse().ok()).collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, "x-api-key".parse().expect("valid header")]);
    Router::new()
        .route("/health", get(routes::health::health))
        .nest("/api/v1", api)
        .fallback(|| async { Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not take that method")
        })
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(guard, security::check_host_and_origin))
        .layer(cors)
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
}

/// Runs the daemon until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    let token = security::load_or_create_token(&config.token_path())
        .with_context(|| format!("cannot create the API token {}", config.token_path().display()))?;
    if !config.host.is_loopback() {
        tracing::warn!(host = %config.host, "the API listens beyond this machine; anyone who has the token controls it");
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.host, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    let addr = listener.local_addr()?;

    let engine = Arc::new(Engine::new(config.clone())?);
    let started = {
        let engine = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || engine.start_default()).await?
    };
    let pipeline = started.context("the default pipeline did not start")?;
    let hotkey = crate::hotkey::start(Arc::clone(&engine), &config.hotkey, config.clip_seconds);

    let guard = Arc::new(Guard::new(token, addr.port(), &config.allowed_hosts, config.cors_origins.clone()));
    let state = AppState {
        engine: Arc::clone(&engine),
        config: Arc::new(config.clone()),
        hotkey: Arc::new(parking_lot::RwLock::new(hotkey)),
    };
    let app = router(state, guard);

    // Scripts (and the tests) read this line to find the daemon.
    tracing::info!(pipeline = pipeline.id(), data_dir = %config.data_dir.display(), "recording");
    let url = format!("http://{addr}");
    println!("ClipShot {} listening on {url}", env!("CARGO_PKG_VERSION"));
    println!("  pipeline:  {} ({})", pipeline.id(), engine.fallback.read().as_deref().unwrap_or("as configured"));
    println!("  health:    {url}/health");
    println!("  data dir:  {}", config.data_dir.display());
    println!("  token:     {}", config.token_path().display());
    println!("  save clip: clipshot clip --seconds 30");

    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shutting down");
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    Ok(())
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
