//! API documentation pages that work offline: Swagger UI (vendored by
//! `utoipa-swagger-ui`) at `/docs`, ReDoc (its standalone bundle, vendored in
//! `api/assets/redoc`) at `/redoc`, and the document at `/openapi.json`.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

pub async fn redoc() -> Html<&'static str> {
    Html(
        r#"<!DOCTYPE html>
<html>
  <head>
    <title>ClipShot API</title>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <redoc spec-url="/openapi.json"></redoc>
    <script src="/redoc/redoc.standalone.js"></script>
  </body>
</html>"#,
    )
}

pub async fn redoc_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        REDOC_JS,
    )
}
