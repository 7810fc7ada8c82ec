//! `ApiError` as a GraphQL error: the message, `extensions.code`, and `scope` or
//! `retryAfterSecs` where they apply. Resolvers use `?` with `.gql()` so every error goes
//! through this one mapping.

use crate::error::ApiError;
use async_graphql::ErrorExtensions;

/// The GraphQL form of an error.
pub trait ToGraphql {
    fn into_graphql(self) -> async_graphql::Error;
}

impl ToGraphql for ApiError {
    fn into_graphql(self) -> async_graphql::Error {
        let code = self.code();
        let scope = match &self {
            ApiError::InsufficientScope(scope) => Some(scope.as_str()),
            _ => None,
        };
        let retry = self.retry_after_secs();
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
}

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
