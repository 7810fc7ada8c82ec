//! `ApiError` as HTTP: status, the `{"error": {"code", "message"}}` body, `WWW-Authenticate`
//! (RFC 6750) and `Retry-After`; and the 429 of a refused rate-limit charge.

use super::database::DatabaseDown;
use crate::error::ApiError;
use crate::limits::Decision;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The HTTP status of `error`.
pub fn status(error: &ApiError) -> StatusCode {
    match error {
        ApiError::BadRequest(_) | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        ApiError::Unauthenticated(_) | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        ApiError::Forbidden(_) | ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
        ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ApiError::Timeout(_) | ApiError::Unavailable | ApiError::Busy => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The RFC 6750 `WWW-Authenticate` challenge for this error, if it has one.
pub fn challenge(error: &ApiError) -> Option<String> {
    let quote = |s: &str| s.replace(['"', '\\'], "'");
    match error {
        ApiError::Unauthenticated(_) => Some("Bearer realm=\"podium\"".to_owned()),
        ApiError::InvalidToken(why) => Some(format!(
            "Bearer realm=\"podium\", error=\"invalid_token\", error_description=\"{}\"",
            quote(why)
        )),
        ApiError::InvalidRequest(why) => Some(format!(
            "Bearer realm=\"podium\", error=\"invalid_request\", error_description=\"{}\"",
            quote(why)
        )),
        ApiError::InsufficientScope(scope) => Some(format!(
            "Bearer realm=\"podium\", error=\"insufficient_scope\", scope=\"{scope}\""
        )),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status(&self);
        let code = self.code();
        let challenge = challenge(&self);
        let retry_after = self.retry_after_secs();
        let database_down = matches!(self, ApiError::Unavailable);
        let body = json!({ "error": { "code": code, "message": self.public_message() } });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(value) = challenge.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        if database_down {
            response.extensions_mut().insert(DatabaseDown);
        }
        response
    }
}

/// The 429 answer of a refused charge (`RATE_LIMITED`, `Retry-After`, `RateLimit`).
pub fn rate_limited(decision: &Decision) -> Response {
    let mut response = ApiError::RateLimited {
        message: decision.explain(),
        retry_after_secs: decision.retry_after_secs.unwrap_or(1),
    }
    .into_response();
    decision.write_headers(response.headers_mut());
    response
}
