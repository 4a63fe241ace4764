//! `GET /`: what this server is and where to go next (no token needed).

use axum::Json;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct RootLinks {
    /// Swagger UI.
    pub docs: &'static str,
    pub redoc: &'static str,
    pub openapi: &'static str,
    pub health: &'static str,
    /// The versioned API (token required).
    pub api: &'static str,
    /// The web dashboard (`clipshot open` logs a browser in).
    pub dashboard: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Root {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub links: RootLinks,
}

/// The application's name, version and links. A browser (a request that
/// accepts `text/html`) is sent to the dashboard instead.
#[utoipa::path(get, path = "/", tag = "system", responses((status = 200, body = Root),
    (status = 303, description = "To `/ui/`, for a request that accepts `text/html`")))]
pub async fn root(headers: HeaderMap) -> Response {
    if super::ui::wants_html(&headers) {
        return Redirect::to("/ui/").into_response();
    }
    Json(Root {
        name: "ClipShot",
        version: env!("CARGO_PKG_VERSION"),
        description: "GPU-first instant replay: the last 30 seconds of your game, as an MP4, in milliseconds",
        links: RootLinks {
            docs: "/docs",
            redoc: "/redoc",
            openapi: "/openapi.json",
            health: "/health",
            api: "/api/v1",
            dashboard: "/ui/",
        },
    })
    .into_response()
}
