//! Middleware over the database's availability (`app::database::DatabaseGate`): while the
//! database is known to be down, requests that need it are answered 503
//! `DATABASE_UNAVAILABLE` with `Retry-After` at once, in the shape of the transport asked.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Marks a response that found the database unreachable, for `gate` to notice.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseDown;

/// Paths that answer without the database.
fn needs_database(path: &str) -> bool {
    !matches!(
        path,
        "/healthz" | "/readyz" | "/metrics" | "/.well-known/jwks.json" | "/graphql/ws"
    )
}

/// Middleware: refuses at once while the database is known to be down, and notices answers
/// that found it so.
pub async fn gate(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if app.database.is_down() && needs_database(&path) {
        // 503 with `Retry-After`, in the shape of the transport that was asked.
        return if path == "/graphql" {
            super::graphql::graphql_error(
                ApiError::Unavailable,
                super::graphql::answer_media(request.headers()),
            )
        } else {
            ApiError::Unavailable.into_response()
        };
    }
    let response = next.run(request).await;
    if response.extensions().get::<DatabaseDown>().is_some() {
        app.database.report_down(app.repo.clone());
    }
    response
}
