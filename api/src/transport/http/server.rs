//! Accepting connections: HTTP/1.1 and HTTP/2 (with WebSocket upgrades), `TCP_NODELAY`, and
//! the protections a slow or greedy client needs — a header-read timeout, a cap on concurrent
//! connections per address, a `Host` header on HTTP/1.1 (RFC 9112 §3.2) — then a graceful
//! shutdown. The body-read timeout is a middleware (`read_body_in_time`), since the router
//! answers it.

use crate::config::Settings;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, Version};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

/// Connections open per client address.
#[derive(Clone, Default)]
struct OpenConnections(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One counted connection; uncounted on drop.
struct Slot {
    open: OpenConnections,
    ip: IpAddr,
}

impl OpenConnections {
    fn take(&self, ip: IpAddr, cap: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if cap > 0 && *count >= cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The answer to a connection over the per-address cap, written before closing it.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 119\r\n\r\n{\"error\":{\"code\":\"RATE_LIMITED\",\"message\":\"too many open connections from this address; close some and retry\"}}";

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// (at most 30 s) for the connections in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(settings.http_header_timeout_ms));
    builder.http2().enable_connect_protocol();
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = OpenConnections::default();
    let cap = settings.max_connections_per_address;
    tokio::pin!(shutdown);
    loop {
        let (mut tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Live updates are small frames that must leave at once: no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Some(slot) = open.take(remote.ip(), cap) else {
            tokio::spawn(async move {
                let _ = tcp.write_all(TOO_MANY_CONNECTIONS).await;
                let _ = tcp.shutdown().await;
            });
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let router = router.clone();
            async move {
                if request.version() == Version::HTTP_11
                    && !request.headers().contains_key(header::HOST)
                {
                    return Ok(no_host());
                }
                request.extensions_mut().insert(ConnectInfo(remote));
                router.oneshot(request.map(Body::new)).await
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open 30 s after shutdown began; leaving them");
        }
    }
    Ok(())
}

/// 400 for an HTTP/1.1 request without `Host`, and the connection closed.
fn no_host() -> Response<Body> {
    closing(ApiError::BadRequest(
        "an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)".into(),
    ))
}

/// An error answer after which the connection is closed.
fn closing(error: ApiError) -> Response<Body> {
    let mut response = error.into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Middleware: reads a request's body within `http_body_timeout_ms` (and `max_body_bytes`)
/// before the handler runs, so a client that sends half a body and stalls gets 408 and loses
/// its connection instead of holding it open.
pub async fn read_body_in_time(
    axum::extract::State(settings): axum::extract::State<Arc<Settings>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let limit = settings.max_body_bytes;
    let wait = Duration::from_millis(settings.http_body_timeout_ms);
    match tokio::time::timeout(wait, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(_)) => ApiError::PayloadTooLarge(limit).into_response(),
        Err(_) => closing(ApiError::RequestTimeout(format!(
            "the request body did not arrive within {} ms",
            wait.as_millis()
        ))),
    }
}
