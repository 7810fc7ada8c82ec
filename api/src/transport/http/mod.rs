//! The HTTP surface: routes, the GraphQL endpoint, REST ingest, health and metrics.

use crate::app::race::{self, RawDetection};
use crate::app::AppState;
pub mod database;
pub mod error;
pub mod exports;
mod oauth;
pub mod server;

use crate::config::Settings;
use crate::error::ApiError;
use crate::limits::LimitsHealth;
use crate::live::FanoutHealth;
use crate::transport::graphql::error::ToGraphql;
use crate::transport::graphql::limits::Meter;
use crate::transport::graphql::PodiumSchema;
use crate::transport::{principal, PeerIp};
use async_graphql::http::GraphiQLSource;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

/// The HTTP routes: GraphQL over HTTP, REST ingest, exports, OAuth, health and metrics.
pub fn routes(app: AppState, schema: PodiumSchema) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql_get).post(graphql_post.layer(axum::middleware::from_fn(json_only))),
        )
        .route("/v1/events/{event_id}/detections", post(ingest_detections))
        .route(
            "/v1/events/{event_id}/{file}",
            get(crate::transport::http::exports::results),
        )
        .route("/oauth/token", post(oauth::token).with_state(app.clone()))
        .route(
            "/.well-known/jwks.json",
            get(oauth::jwks).with_state(app.clone()),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(HttpState {
            app,
            schema,
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
        .layer(TraceLayer::new_for_http())
}

#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: PodiumSchema,
    /// Splits of every entry per event, as of a `seq`, for exports.
    pub splits: crate::app::exports::SplitsCache,
}

impl axum::extract::FromRef<HttpState> for Arc<Settings> {
    fn from_ref(state: &HttpState) -> Self {
        state.app.settings.clone()
    }
}

async fn graphql_post(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = principal(&s.app, &headers).await?;
    let limit = s.app.settings.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    if value.is_array() {
        return Err(ApiError::BadRequest(
            "batched operations are not accepted: send one operation per request".into(),
        ));
    }
    if !value.get("query").is_some_and(serde_json::Value::is_string) {
        return Err(ApiError::BadRequest(
            "body is not a GraphQL request: `query` must be a string".into(),
        ));
    }
    let request: async_graphql::Request = serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("body is not a GraphQL request: {e}")))?;
    Ok(execute_metered(&s, principal, peer, request, answer_media(&headers)).await)
}

/// Executes a GraphQL request charged to its caller: `RateLimit` headers on the answer, and
/// 429 when the charge was refused.
async fn execute_metered(
    s: &HttpState,
    principal: crate::auth::Principal,
    peer: Option<std::net::IpAddr>,
    request: async_graphql::Request,
    media: AnswerMedia,
) -> Response {
    let meter = Meter::new(&s.app.limits, &principal, peer);
    let limit = std::time::Duration::from_millis(s.app.settings.graphql_timeout_ms);
    let execution = s
        .schema
        .execute(request.data(principal).data(meter.clone()));
    // Dropping a timed-out execution cancels it; a mutation's transaction then rolls back.
    // The deadline is checked first at every wake-up: past it, nothing more runs.
    let outcome = tokio::select! {
        biased;
        _ = tokio::time::sleep(limit) => None,
        response = execution => Some(response),
    };
    let mut http = match outcome {
        Some(response) => render(response, media),
        None => {
            let mut http = graphql_error(
                ApiError::Timeout(format!(
                    "the request took longer than {} ms and was cancelled",
                    limit.as_millis()
                )),
                media,
            );
            http.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            *http.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            http
        }
    };
    if let Some(decision) = meter.decision() {
        decision.write_headers(http.headers_mut());
        if !decision.allowed() {
            *http.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        }
    }
    http
}

/// The media type a GraphQL answer is sent as (GraphQL over HTTP, "Accept"): the newer
/// `application/graphql-response+json` when the client accepts it, else `application/json`
/// (also when `Accept` is missing or `*/*`, for the clients that predate the newer type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerMedia {
    Json,
    GraphqlResponse,
}

pub(crate) fn answer_media(headers: &HeaderMap) -> AnswerMedia {
    let accepts_newer = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/graphql-response+json") && !refused
        });
    if accepts_newer {
        AnswerMedia::GraphqlResponse
    } else {
        AnswerMedia::Json
    }
}

/// A GraphQL answer carrying only `error`, refused before anything ran (see `render`).
pub(crate) fn graphql_error(error: ApiError, media: AnswerMedia) -> Response {
    let error = error
        .into_graphql()
        .into_server_error(async_graphql::Pos::default());
    render(async_graphql::Response::from_errors(vec![error]), media)
}

/// A GraphQL answer as HTTP. As `application/graphql-response+json`, a request error (the
/// document did not parse or validate, or its variables did not coerce: nothing executed)
/// is 400 without a `data` entry; as `application/json` every GraphQL answer is 200.
fn render(response: async_graphql::Response, media: AnswerMedia) -> Response {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let cache_control = (response.errors.is_empty())
        .then(|| response.cache_control.value())
        .flatten();
    let database_down = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from(crate::error::DATABASE_UNAVAILABLE))
    });
    let extra_headers = response.http_headers.clone();
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| json!({}));
    let (status, content_type) = match media {
        AnswerMedia::GraphqlResponse if request_error => {
            if let Some(object) = body.as_object_mut() {
                object.remove("data");
            }
            (StatusCode::BAD_REQUEST, "application/graphql-response+json")
        }
        AnswerMedia::GraphqlResponse => (StatusCode::OK, "application/graphql-response+json"),
        AnswerMedia::Json => (StatusCode::OK, "application/json"),
    };
    let mut http = (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response();
    if let Some(value) = cache_control.and_then(|v| header::HeaderValue::from_str(&v).ok()) {
        http.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    http.headers_mut().extend(extra_headers);
    if database_down {
        *http.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        http.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(crate::error::DATABASE_RETRY_AFTER_SECS),
        );
        http.extensions_mut().insert(database::DatabaseDown);
    }
    http
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

/// GraphQL over POST takes JSON only: a form or `text/plain` body is what a cross-site form
/// can send without a preflight (CSRF), and multipart uploads are not offered.
async fn json_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    let media = media_type(request.headers());
    if !matches!(
        media.as_str(),
        "application/json" | "application/graphql-response+json"
    ) {
        let shown = if media.is_empty() { "none" } else { &media };
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type `{shown}` is not supported; send application/json"
        )));
    }
    Ok(next.run(request).await)
}

/// GraphiQL for browsers (or a GET without a query); queries, never mutations, for other clients.
async fn graphql_get(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let query = uri.query().unwrap_or("");
    if (wants_html || query.is_empty()) && !s.app.settings.introspection() {
        return Err(ApiError::NotFound(
            "GraphiQL (off in production; POST queries to /graphql)".into(),
        ));
    }
    if wants_html || query.is_empty() {
        let page = GraphiQLSource::build()
            .endpoint("/graphql")
            .title("podium")
            .finish();
        return Ok(Html(page).into_response());
    }
    let request = async_graphql::http::parse_query_string(query)
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    let is_mutation = async_graphql::parser::parse_query(&request.query)
        .map(|doc| {
            doc.operations
                .iter()
                .any(|(_, op)| op.node.ty == async_graphql::parser::types::OperationType::Mutation)
        })
        .unwrap_or(false);
    if is_mutation {
        let body =
            json!({ "error": { "code": "METHOD_NOT_ALLOWED", "message": "mutations need POST" } });
        return Ok((
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            Json(body),
        )
            .into_response());
    }
    let principal = principal(&s.app, &headers).await?;
    Ok(execute_metered(&s, principal, peer, request, answer_media(&headers)).await)
}

/// Parses a body of detections of media type `media` (see `media_type`): a JSON array, or
/// NDJSON (one object per non-blank line).
fn parse_detections(
    media: &str,
    body: &[u8],
) -> Result<Vec<Result<RawDetection, String>>, ApiError> {
    // Each row is read from its own text, not from a parsed `Value`: a `Value` keeps only the
    // last of two equal keys, which would silently book `{"bib":"301", …, "bib":"311"}` on 311.
    let row = |text: &str| -> Result<RawDetection, String> {
        if !text.trim_start().starts_with('{') {
            return Err(format!("expected an object, got {}", text.trim()));
        }
        serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            if message.starts_with("duplicate field") {
                format!("{message}: a row names each field once")
            } else {
                message.to_owned()
            }
        })
    };
    match media {
        "application/json" | "" => {
            let values: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(body)
                .map_err(|e| {
                    ApiError::BadRequest(format!("body is not a JSON array of detections: {e}"))
                })?;
            Ok(values.iter().map(|v| row(v.get())).collect())
        }
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::BadRequest("body is not UTF-8".into()))?;
            Ok(text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|line| {
                    serde_json::from_str::<&serde_json::value::RawValue>(line)
                        .map_err(|e| format!("not JSON: {e}"))
                        .and_then(|v| row(v.get()))
                })
                .collect())
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type `{other}` is not supported; send application/json or application/x-ndjson"
        ))),
    }
}

async fn ingest_detections(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = principal(&s.app, &headers).await?;
    let event_id = Uuid::parse_str(&event_id)
        .map_err(|_| ApiError::BadRequest(format!("eventId: `{event_id}` is not a valid id")))?;
    let limit = s.app.settings.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let rows = parse_detections(&media_type(&headers), &bytes)?;
    let cost = crate::limits::rows_cost(rows.len());
    let decision = s.app.limits.charge_caller(&principal, peer, cost).await;
    if !decision.allowed() {
        return Ok(error::rate_limited(&decision));
    }
    let mut response =
        Json(race::ingest(&s.app, &principal, event_id, rows).await?).into_response();
    decision.write_headers(response.headers_mut());
    Ok(response)
}

/// Ready when the database answers. Without Redis (when configured) the instance still serves
/// its own subscribers and enforces its own rate limits, so it stays ready but reports
/// `degraded`.
async fn readyz(State(s): State<HttpState>) -> Response {
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
    match s.app.repo.ping().await {
        Ok(()) => {
            let status = if degraded || limits_degraded {
                "degraded"
            } else {
                "ready"
            };
            Json(json!({ "status": status, "database": "ok", "redis": redis, "rate_limits": limits }))
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": "unreachable", "redis": redis, "rate_limits": limits })),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics: system data, for admins (a scraper sends an admin bearer token).
async fn metrics(
    State(s): State<HttpState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    principal(&s.app, &headers).await?.require_admin()?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.app.metrics.render(),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_detections;

    #[test]
    fn ndjson_and_arrays_parse_row_by_row() {
        let rows = parse_detections(
            "application/x-ndjson",
            b"{\"bib\":\"1\"}\n\nnot json\n[1]\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].is_ok());
        assert!(rows[1].as_ref().unwrap_err().contains("not JSON"));
        assert!(rows[2].as_ref().unwrap_err().contains("expected an object"));
        assert!(parse_detections("application/json", b"{").is_err());
        assert!(parse_detections("text/plain", b"[]").is_err());
    }

    #[test]
    fn a_row_naming_a_field_twice_is_rejected() {
        let body = br#"[{"bib":"301","timingPoint":"START","timestamp":"2026-03-14T09:00:00Z","bib":"311"},
                        {"bib":"302","timingPoint":"START","timestamp":"2026-03-14T09:00:00Z"}]"#;
        let rows = parse_detections("application/json", body).unwrap();
        assert_eq!(
            rows[0].as_ref().unwrap_err(),
            "duplicate field `bib`: a row names each field once"
        );
        assert!(rows[1].is_ok());
        let ndjson = br#"{"bib":"301","timingPoint":"START","timingPoint":"RUN1","timestamp":"2026-03-14T09:00:00Z"}"#;
        let rows = parse_detections("application/x-ndjson", ndjson).unwrap();
        assert!(rows[0]
            .as_ref()
            .unwrap_err()
            .contains("duplicate field `timingPoint`"));
    }
}
