//! HTTP: the routes (GraphQL over HTTP, REST ingest, exports, OAuth, health and metrics), the
//! layers every request passes through, and the accept loop (`server`).

mod charts;
pub mod database;
pub mod error;
pub mod exports;
mod graphql;
pub mod health;
mod import;
mod ingest;
mod oauth;
mod pages;
pub mod server;
mod stats;

use crate::app::AppState;
use crate::config::Settings;
use crate::error::ApiError;
use crate::transport::graphql::PodiumSchema;
use axum::handler::Handler;
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// The event id of a `/v1/events/{eventId}/…` path.
fn event_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    path_id("eventId", raw)
}

/// The athlete id of a `/v1/athletes/{athleteId}/…` path.
fn athlete_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    path_id("athleteId", raw)
}

fn path_id(field: &str, raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map_err(|_| ApiError::BadRequest(format!("{field}: `{raw}` is not a valid id")))
}

/// A request's body, at most `max_body_bytes` (413 beyond).
async fn read_body(app: &AppState, body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    let limit = app.settings.max_body_bytes;
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))
}

/// `value` as JSON, with the `RateLimit` headers of the charge that let it through.
fn charged_json<T: serde::Serialize>(
    decision: &crate::limits::Decision,
    value: T,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::Json(value).into_response();
    decision.write_headers(response.headers_mut());
    response
}

/// The HTTP routes: GraphQL over HTTP, REST ingest, exports, OAuth, health and metrics.
pub fn routes(
    app: AppState,
    schema: PodiumSchema,
    persisted: crate::transport::graphql::persisted::PersistedQueries,
) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql::get)
                .post(graphql::post.layer(axum::middleware::from_fn(graphql::json_only))),
        )
        .route("/v1/events/{event_id}/detections", post(ingest::detections))
        .route("/v1/athletes/{athlete_id}/wellness", post(ingest::wellness))
        .route(
            "/v1/athletes/{athlete_id}/activities",
            post(ingest::activity_file),
        )
        .route(
            "/v1/athletes/{athlete_id}/charts/{file}",
            get(charts::load_chart),
        )
        .route(
            "/v1/events/{event_id}/{file}",
            get(crate::transport::http::exports::results),
        )
        .route(
            "/v1/events/{event_id}/charts/{file}",
            get(charts::segment_chart),
        )
        .route(
            "/v1/events/{event_id}/results/{bib}/{file}",
            get(charts::report_chart),
        )
        .route("/oauth/token", post(oauth::token).with_state(app.clone()))
        .route(
            "/.well-known/jwks.json",
            get(oauth::jwks).with_state(app.clone()),
        )
        .route("/v1/import/results", post(import::results))
        .route("/", get(pages::index))
        .route("/events/{event_id}/live", get(pages::live))
        .route("/events/{event_id}/athletes/{bib}", get(pages::athlete))
        .route("/events/{event_id}/report", get(pages::report))
        .route("/assets/{file}", get(pages::assets))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(HttpState {
            app,
            schema,
            persisted,
            splits: Default::default(),
        })
}

/// What every request passes through on its way in, outermost last: the body limit, the
/// database gate, the body deadline and tracing.
pub fn layers(router: Router, app: &AppState) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(app.settings.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            database::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.settings.clone(),
            server::read_body_in_time,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_status),
        )
        .layer(axum::middleware::from_fn_with_state(
            app.metrics.clone(),
            timed,
        ))
}

/// The span of one request, named by its declared route (never by ids in the path), a child
/// of the caller's span when the request carries a W3C `traceparent`.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    crate::telemetry::adopt_traceparent(&span, request.headers());
    span
}

fn record_status(
    response: &axum::response::Response,
    _latency: std::time::Duration,
    span: &tracing::Span,
) {
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Records each request's duration by its declared route (`unmatched` for none), method and
/// status class.
async fn timed(
    axum::extract::State(metrics): axum::extract::State<Arc<crate::metrics::Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics.http_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: PodiumSchema,
    /// Persisted queries (shared with the schema's extension).
    pub persisted: crate::transport::graphql::persisted::PersistedQueries,
    /// Splits of every entry per event, as of a `seq`, for exports.
    pub splits: crate::app::exports::SplitsCache,
}

impl axum::extract::FromRef<HttpState> for Arc<Settings> {
    fn from_ref(state: &HttpState) -> Self {
        state.app.settings.clone()
    }
}

/// The media type of a request's body, lowercase and without parameters (`""` when none).
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}
