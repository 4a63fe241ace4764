//! `/api/v1/nodes`: the node kinds in the registry, with pads and props schema.

use super::AppState;
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, State};
use clipshot_core::NodeDescriptor;

/// Every node kind: pads and the JSON Schema of its props.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", responses((status = 200, body = Vec<NodeDescriptor>)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<NodeDescriptor>> {
    Json(state.engine.registry().descriptors().cloned().collect())
}

/// One node kind.
#[utoipa::path(get, path = "/api/v1/nodes/{kind}", tag = "nodes", params(("kind" = String, Path, example = "encode.h264")),
    responses((status = 200, body = NodeDescriptor), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get(State(state): State<AppState>, Path(kind): Path<String>) -> Result<Json<NodeDescriptor>, Problem> {
    let registry = state.engine.registry();
    registry.get(&kind).map(|k| Json(k.descriptor().clone())).ok_or_else(|| {
        let hint = registry.suggest(&kind).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
        Problem::not_found(format!("no node kind `{kind}`{hint}"))
    })
}
