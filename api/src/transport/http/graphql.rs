//! GraphQL over HTTP: `POST /graphql` (JSON only), `GET /graphql` (queries, and GraphiQL for
//! browsers outside production), charged to the caller with a deadline, answered as
//! `application/json` or `application/graphql-response+json` after `Accept`.

use super::HttpState;
use crate::error::ApiError;
use crate::transport::graphql::error::ToGraphql;
use crate::transport::graphql::limits::Meter;
use crate::transport::{principal, PeerIp};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::Instrument;

pub(super) async fn post(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = principal(&s.app, &headers).await?;
    let bytes = super::read_body(&s.app, body).await?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    if value.is_array() {
        return Err(ApiError::BadRequest(
            "batched operations are not accepted: send one operation per request".into(),
        ));
    }
    let persisted = value.pointer("/extensions/persistedQuery").is_some();
    let query_ok = match value.get("query") {
        Some(q) => q.is_string(),
        None => persisted,
    };
    if !query_ok {
        return Err(ApiError::BadRequest(
            "body is not a GraphQL request: `query` must be a string".into(),
        ));
    }
    let request: async_graphql::Request = serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("body is not a GraphQL request: {e}")))?;
    let media = answer_media(&headers);
    Ok(execute_metered(&s, principal, peer, request, media, None).await)
}

/// Seconds a shared cache (a CDN, a browser) may serve an anonymous GET answer without asking
/// again: live standings move every few hundred milliseconds, so a stadium of spectators costs
/// one request per query per second and a revalidation (`304`) after that.
const PUBLIC_MAX_AGE_SECS: u32 = 1;

/// A GET query's caching: anonymous answers are public; others are for the caller's own
/// browser only. `if_none_match` is the caller's `If-None-Match`.
pub(crate) struct Conditional {
    public: bool,
    if_none_match: Option<String>,
}

/// Executes a GraphQL request charged to its caller: `RateLimit` headers on the answer, and
/// 429 when the charge was refused.
async fn execute_metered(
    s: &HttpState,
    principal: crate::auth::Principal,
    peer: Option<std::net::IpAddr>,
    request: async_graphql::Request,
    media: AnswerMedia,
    conditional: Option<Conditional>,
) -> Response {
    let meter = Meter::new(&s.app.limits, &principal, peer);
    let limit = std::time::Duration::from_millis(s.app.settings.graphql_timeout_ms);
    // Named by the operation, never by the query's text (it may hold personal data).
    let operation = request.operation_name.clone();
    // Without an operation name in the request, the parser names it after the document's
    // sole named operation (`limits::ShapeLimits`).
    let span = tracing::info_span!(
        "graphql",
        otel.name = %format_args!("graphql {}", operation.as_deref().unwrap_or("anonymous")),
        graphql.operation.name = operation.as_deref(),
        graphql.operation.type = tracing::field::Empty,
    );
    let execution = s
        .schema
        .execute(request.data(principal).data(meter.clone()))
        .instrument(span);
    // Dropping a timed-out execution cancels it; a mutation's transaction then rolls back.
    // The deadline is checked first at every wake-up: past it, nothing more runs.
    let outcome = tokio::select! {
        biased;
        _ = tokio::time::sleep(limit) => None,
        response = execution => Some(response),
    };
    let mut http = match outcome {
        Some(response) => render(response, media, conditional.as_ref()),
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
    render(
        async_graphql::Response::from_errors(vec![error]),
        media,
        None,
    )
}

/// A GraphQL answer as HTTP. As `application/graphql-response+json`, a request error (the
/// document did not parse or validate, or its variables did not coerce: nothing executed)
/// is 400 without a `data` entry; as `application/json` every GraphQL answer is 200. An
/// answer without errors to a GET carries an `ETag` (the hash of its body, which changes when
/// the event's `seq` changes what it says) and its caching, and is `304` when the caller has it.
fn render(
    response: async_graphql::Response,
    media: AnswerMedia,
    conditional: Option<&Conditional>,
) -> Response {
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
    let text = body.to_string();
    let validator = conditional
        .filter(|_| response.errors.is_empty() && status == StatusCode::OK)
        .map(|c| {
            use sha2::Digest;
            let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
            let etag = format!("\"{}\"", &digest[..32]);
            let fresh = c.if_none_match.as_deref().is_some_and(|given| {
                given
                    .split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
            });
            (c, etag, fresh)
        });
    let mut http = match &validator {
        Some((_, _, true)) => StatusCode::NOT_MODIFIED.into_response(),
        _ => (status, [(header::CONTENT_TYPE, content_type)], text).into_response(),
    };
    if let Some((c, etag, _)) = &validator {
        let caching = if c.public {
            format!("public, max-age={PUBLIC_MAX_AGE_SECS}")
        } else {
            "private, no-cache".to_owned()
        };
        let headers = http.headers_mut();
        if let Ok(v) = header::HeaderValue::from_str(etag) {
            headers.insert(header::ETAG, v);
        }
        if let Ok(v) = header::HeaderValue::from_str(&caching) {
            headers.insert(header::CACHE_CONTROL, v);
        }
        headers.insert(
            header::VARY,
            header::HeaderValue::from_static("Authorization, Accept"),
        );
    }
    if validator.is_none() {
        if let Some(value) = cache_control.and_then(|v| header::HeaderValue::from_str(&v).ok()) {
            http.headers_mut().insert(header::CACHE_CONTROL, value);
        }
    }
    http.headers_mut().extend(extra_headers);
    if database_down {
        *http.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        http.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(crate::error::DATABASE_RETRY_AFTER_SECS),
        );
        http.extensions_mut().insert(super::database::DatabaseDown);
    }
    http
}

/// GraphQL over POST takes JSON only: a form or `text/plain` body is what a cross-site form
/// can send without a preflight (CSRF), and multipart uploads are not offered.
pub(super) async fn json_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    let media = super::media_type(request.headers());
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
pub(super) async fn get(
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
        return Ok(super::pages::graphiql());
    }
    let mut request = async_graphql::http::parse_query_string(query)
        .map_err(|e| ApiError::BadRequest(format!("query string: {e}")))?;
    if request.operation_name.is_none() {
        // GraphQL over HTTP spells it `operationName`.
        request.operation_name = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "operationName")
            .map(|(_, v)| v.into_owned());
    }
    let media = answer_media(&headers);
    // A persisted query's text first: a persisted mutation is refused like a written one.
    if let Err(error) = s.persisted.resolve(&mut request) {
        return Ok(render(
            async_graphql::Response::from_errors(vec![error]),
            media,
            None,
        ));
    }
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
    let conditional = Conditional {
        public: principal.claims.is_none(),
        if_none_match: headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    Ok(execute_metered(&s, principal, peer, request, media, Some(conditional)).await)
}
