//! Health: `/healthz` (the process answers), `/readyz` (the database answers; Redis and the
//! rate limits' backend reported) and `/metrics` (Prometheus, for admins).

use super::HttpState;
use crate::error::ApiError;
use crate::limits::LimitsHealth;
use crate::live::FanoutHealth;
use crate::transport::principal;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Ready when the database answers. Without Redis (when configured) the instance still serves
/// its own subscribers and enforces its own rate limits, so it stays ready but reports
/// `degraded`.
pub(super) async fn readyz(State(s): State<HttpState>) -> Response {
    let (limits, limits_degraded) = match s.app.limits.health() {
        LimitsHealth::Local => (json!("local"), false),
        LimitsHealth::Shared => (json!("shared"), false),
        LimitsHealth::Fallback { since, error } => (
            json!({ "status": "local_fallback", "since": since, "error": error }),
            true,
        ),
    };
    let (redis, degraded) = match s.app.live.health() {
        FanoutHealth::Disabled => (json!("disabled"), false),
        FanoutHealth::Connected => (json!("ok"), false),
        FanoutHealth::Degraded { since, error } => (
            json!({ "status": "unreachable", "since": since, "error": error }),
            true,
        ),
    };
    let timescale = &s.app.timescale;
    let timescaledb = json!({
        "status": timescale.support.code(),
        "hypertables": timescale.features.hypertables,
        "compression": timescale.features.compression,
        "continuous_aggregates": timescale.features.continuous_aggregates,
        "note": timescale.summary(),
    });
    match s.app.repo.ping().await {
        Ok(()) => {
            let status = if degraded || limits_degraded {
                "degraded"
            } else {
                "ready"
            };
            Json(json!({ "status": status, "database": "ok", "timescaledb": timescaledb, "redis": redis, "rate_limits": limits }))
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable", "timescaledb": timescaledb, "redis": redis, "rate_limits": limits })),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics: system data, for admins (a scraper sends an admin bearer token).
pub(super) async fn metrics(
    State(s): State<HttpState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    principal(&s.app, &headers).await?.require_admin()?;
    Ok(exposition(&s.app))
}

/// The Prometheus exposition, with the gauges read at scrape time brought up to date.
pub(crate) fn exposition(app: &crate::app::AppState) -> impl IntoResponse {
    match app.live.health() {
        FanoutHealth::Disabled => {}
        FanoutHealth::Connected => app.metrics.redis_connected(true),
        FanoutHealth::Degraded { .. } => app.metrics.redis_connected(false),
    }
    let (open, idle) = app.pool.state();
    app.metrics.database_pool(open, idle);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

/// What `metrics_bind` serves: `GET /metrics` without a token, nothing else.
pub fn internal_router(app: crate::app::AppState) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let app = app.clone();
            async move { exposition(&app) }
        }),
    )
}
