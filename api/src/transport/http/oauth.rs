//! OAuth 2.0 over HTTP: `POST /oauth/token` (client credentials, RFC 6749 §4.4) and the public
//! keys at `/.well-known/jwks.json`. Issuing is `app::access`'s; this reads the request and
//! writes RFC 6749 answers.

use crate::app::access::{self, TokenForm, TokenRefusal};
use crate::app::AppState;
use crate::transport::PeerIp;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An RFC 6749 §5.2 error response; the status follows from the error code.
fn refusal(refusal: TokenRefusal) -> Response {
    let status = match refusal.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "slow_down" => StatusCode::TOO_MANY_REQUESTS,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": refusal.error, "error_description": refusal.description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"podium\""),
        );
    }
    if let Some(secs) = refusal.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    response
}

/// `client_id:client_secret` from HTTP Basic (each part form-urlencoded, RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenRefusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        TokenRefusal::new(
            "invalid_client",
            "Authorization must be `Basic base64(client_id:client_secret)`",
        )
    };
    let encoded = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .ok_or_else(bad)?;
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// `POST /oauth/token`: `grant_type=client_credentials` with the client's credentials in HTTP
/// Basic or in the form; `scope` may narrow the granted scopes.
pub async fn token(
    State(state): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&state, peer, headers, &body).await {
        Ok(response) => response,
        Err(e) => refusal(e),
    }
}

async fn issue(
    state: &AppState,
    peer: Option<std::net::IpAddr>,
    headers: HeaderMap,
    body: &[u8],
) -> Result<Response, TokenRefusal> {
    if super::media_type(&headers) != "application/x-www-form-urlencoded" {
        return Err(TokenRefusal::new(
            "invalid_request",
            "send the request as application/x-www-form-urlencoded",
        ));
    }
    let form: TokenForm = serde_urlencoded::from_bytes(body)
        .map_err(|e| TokenRefusal::new("invalid_request", e.to_string()))?;
    let basic = basic_credentials(&headers)?;
    let issued = access::issue_token(state, peer, basic, form).await?;
    let body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    });
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response())
}

/// `GET /.well-known/jwks.json`: the public keys of every token podium issued that can still
/// be valid.
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.auth.own_keys().public_jwks()),
    )
        .into_response()
}
