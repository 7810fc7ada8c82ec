//! The one error type of the use cases, with its stable `code`. Each transport maps it once:
//! `transport::http::error` (status, JSON body, headers) and `transport::graphql::error`
//! (`extensions.code`). Internal causes are logged and replaced by a generic message.

use podium_domain::ports::RepoError;
use podium_domain::InvalidInput;

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
    InsufficientScope(crate::scope::Scope),
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
    /// Concurrent writes conflicted past the server's retries; the request may be repeated
    /// (nothing was written).
    #[error("the database is busy with concurrent writes to the same data; retry in a moment")]
    Busy,
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
            ApiError::Busy => DATABASE_BUSY,
            ApiError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message a client sees; internal causes are logged here, never sent.
    pub fn public_message(&self) -> String {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        self.to_string()
    }

    /// Seconds after which the request may be repeated, when the error says so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::Unavailable => Some(DATABASE_RETRY_AFTER_SECS),
            ApiError::Busy => Some(1),
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
            RepoError::Busy(cause) => {
                tracing::warn!(%cause, "concurrent writes conflicted past the retries");
                ApiError::Busy
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

/// The code of answers given while the database cannot be reached.
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";
/// The code of answers given when concurrent writes conflicted past the retries.
pub const DATABASE_BUSY: &str = "DATABASE_BUSY";
/// What `Retry-After` says while the database cannot be reached.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;
