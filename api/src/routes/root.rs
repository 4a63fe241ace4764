//! `GET /`: what this server is and where to go next (no token needed).

use axum::Json;
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Root {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub links: RootLinks,
}

/// The application's name, version and links (the dashboard will be served
/// here to browsers once it exists).
#[utoipa::path(get, path = "/", tag = "system", responses((status = 200, body = Root)))]
pub async fn root() -> Json<Root> {
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
        },
    })
}
