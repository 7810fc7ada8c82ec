//! The transports: how clients reach the use cases in `app`. `graphql` is the schema (the
//! API's shape); `http` and `ws` are the carriers that serve it (and REST ingest, exports,
//! OAuth and health over HTTP). Carriers never import each other.

pub mod graphql;
pub mod http;
pub mod multiplex;
pub mod ws;

use crate::app::AppState;
use crate::config::Settings;
use crate::error::ApiError;
use axum::http::{header, HeaderMap};
use axum::Router;
use std::sync::Arc;

/// Every route of both carriers, with the HTTP layers around them.
pub fn router(app: AppState) -> Router {
    let persisted = graphql::persisted::PersistedQueries::default();
    let schema = graphql::build_schema_with(Some(app.clone()), persisted.clone());
    let routes = Router::new()
        .merge(ws::routes(app.clone(), schema.clone()))
        .merge(http::routes(app.clone(), schema, persisted));
    http::layers(routes, &app)
}

/// The caller's address: the connection's peer (when the server was started with connection
/// info, as `podium serve` is), or behind `forwarded_for_hops` trusted proxies the address the
/// outermost of them put into `X-Forwarded-For`. Addresses further left are the client's own
/// claims and are never trusted.
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S> axum::extract::FromRequestParts<S> for PeerIp
where
    S: Send + Sync,
    Arc<Settings>: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let socket = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let hops = <Arc<Settings> as axum::extract::FromRef<S>>::from_ref(state).forwarded_for_hops;
        Ok(PeerIp(forwarded_client(&parts.headers, hops).or(socket)))
    }
}

/// The address `hops` trusted proxies vouch for: the `hops`-th entry of `X-Forwarded-For`
/// from the right (each proxy appends the address it received the request from).
fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<std::net::IpAddr> {
    if hops == 0 {
        return None;
    }
    let chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let index = chain.len().checked_sub(hops)?;
    chain[index].parse().ok()
}

impl axum::extract::FromRef<AppState> for Arc<Settings> {
    fn from_ref(state: &AppState) -> Self {
        state.settings.clone()
    }
}

/// The caller behind a request's `Authorization` header (anonymous without one).
pub(crate) async fn principal(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<crate::auth::Principal, ApiError> {
    app.auth.principal(authorization(headers)?).await
}

/// The request's one `Authorization` header. Two are refused: the first would win here while a
/// proxy in front may have read (and authorised) the other.
pub(crate) fn authorization(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest(
            "more than one Authorization header".into(),
        ));
    }
    first
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::InvalidToken("Authorization header is not text".into()))
        })
        .transpose()
}
