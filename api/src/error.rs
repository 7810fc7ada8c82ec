//! The one place errors become responses: HTTP status + JSON body, or a GraphQL error with a
//! stable `extensions.code`. Internal causes are logged and replaced by a generic message.

use async_graphql::ErrorExtensions;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use podium_domain::ports::RepoError;
use podium_domain::InvalidInput;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No token where one is needed.
    #[error("{0}")]
    Unauthenticated(String),
    /// A token that does not verify (RFC 6750 `invalid_token`).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    /// A request malformed at the HTTP level (RFC 6750 `invalid_request`), e.g. two
    /// `Authorization` headers that a proxy in front might read differently.
    #[error("{0}")]
    InvalidRequest(String),
    /// A valid token without the scope an operation needs (RFC 6750 `insufficient_scope`).
    #[error("this operation needs scope `{0}`")]
    InsufficientScope(crate::auth::Scope),
    /// Over the caller's rate limit; try again after `retry_after_secs`.
    #[error("rate limit exceeded: {message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request ran longer than the server allows.
    #[error("{0}")]
    Timeout(String),
    /// The client did not send its request in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// The database cannot be reached; the request may be repeated (nothing was written).
    #[error("the database is unavailable; retry in a few seconds")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BAD_USER_INPUT",
            ApiError::InvalidRequest(_) => "INVALID_REQUEST",
            ApiError::Unauthenticated(_) | ApiError::InvalidToken(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) | ApiError::InsufficientScope(_) => "FORBIDDEN",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            ApiError::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::Timeout(_) => "TIMEOUT",
            ApiError::RequestTimeout(_) => "REQUEST_TIMEOUT",
            ApiError::Unavailable => DATABASE_UNAVAILABLE,
            ApiError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout(_) | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client sees; internal causes are logged here, never sent.
    pub fn public_message(&self) -> String {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        self.to_string()
    }

    /// The GraphQL form of this error.
    pub fn into_graphql(self) -> async_graphql::Error {
        let code = self.code();
        let scope = match &self {
            ApiError::InsufficientScope(scope) => Some(scope.as_str()),
            _ => None,
        };
        let retry = match &self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::Unavailable => Some(DATABASE_RETRY_AFTER_SECS),
            _ => None,
        };
        async_graphql::Error::new(self.public_message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(scope) = scope {
                ext.set("scope", scope);
            }
            if let Some(secs) = retry {
                ext.set("retryAfterSecs", secs);
            }
        })
    }

    /// The RFC 6750 `WWW-Authenticate` challenge for this error, if it has one.
    pub fn challenge(&self) -> Option<String> {
        let quote = |s: &str| s.replace(['"', '\\'], "'");
        match self {
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
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound(what) => ApiError::NotFound(what),
            RepoError::Duplicate(what) => ApiError::Conflict(format!("{what} already exists")),
            RepoError::Conflict(what) => ApiError::Conflict(what),
            RepoError::Invalid(e) => e.into(),
            RepoError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ApiError::Unavailable
            }
            RepoError::Unexpected(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let challenge = self.challenge();
        let retry_after = match &self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::Unavailable => Some(DATABASE_RETRY_AFTER_SECS),
            _ => None,
        };
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

/// The code of answers given while the database cannot be reached.
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";
/// What `Retry-After` says while the database cannot be reached.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;

/// Marks a response that found the database unreachable, for `database::gate` to notice.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseDown;

/// `?` in resolvers: every error goes through the same mapping.
pub type GqlResult<T> = Result<T, async_graphql::Error>;

pub trait IntoGql<T> {
    fn gql(self) -> GqlResult<T>;
}

impl<T, E: Into<ApiError>> IntoGql<T> for Result<T, E> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(|e| e.into().into_graphql())
    }
}
