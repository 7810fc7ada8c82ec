//! GraphQL over WebSocket at `/graphql/ws`: the `graphql-transport-ws` protocol with its exact
//! close codes, and the legacy `graphql-ws` (subscriptions-transport-ws) protocol for older
//! clients. Written here rather than taken from async-graphql, whose handler answers several
//! protocol errors with 1002/1011, silently replaces a duplicate subscription id and has no
//! initialisation timeout.
//!
//! | close | when |
//! |---|---|
//! | 4400 | a message that is not JSON, has no/unknown `type`, or misses a required field |
//! | 4401 | `subscribe` before the connection was acknowledged |
//! | 4403 | `connection_init` with an invalid token |
//! | 4408 | no `connection_init` within the init timeout |
//! | 4409 | `subscribe` with the id of a subscription still running |
//! | 4429 | a second `connection_init`, or more messages per second than the caller's tier allows |
//!
//! A `subscribe` beyond the tier's concurrent-subscription cap, or whose cost the caller's
//! budget cannot pay, ends with an `error` message (`extensions.code = RATE_LIMITED`); the
//! connection stays open.
//!
//! Each subscription runs in its own task and writes its frames to the connection's socket one
//! at a time (no queue beyond the socket's own buffer): a slow client slows only its own
//! subscriptions, which catch up from the durable change log; ingest and other clients never
//! wait for it. Subscriptions of the same operation, variables and visibility execute each
//! step once between them (`transport::multiplex`).

use crate::app::AppState;
use crate::auth::Principal;
use crate::transport::graphql::subscription::{LiveMode, Opening};
use crate::transport::graphql::PodiumSchema;
use crate::transport::multiplex::{frame_text, Group, GroupKey, Groups, StepFrame};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

impl axum::extract::FromRef<WsState> for Arc<crate::config::Settings> {
    fn from_ref(state: &WsState) -> Self {
        state.app.settings.clone()
    }
}

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

/// `/graphql/ws`: graphql-transport-ws and the legacy graphql-ws subprotocol; public
/// subscriptions need no token.
pub fn routes(app: AppState, schema: PodiumSchema) -> axum::Router {
    axum::Router::new().route(
        "/graphql/ws",
        axum::routing::get(handler).with_state(WsState {
            groups: Groups::new(app.metrics.clone()),
            app,
            schema,
        }),
    )
}

#[derive(Clone)]
pub struct WsState {
    pub app: AppState,
    pub schema: PodiumSchema,
    /// Subscriptions that share the execution of their steps.
    pub groups: Groups,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Transport,
    Legacy,
}

/// The connection's write half, shared by its reader and its subscriptions. A frame is written
/// whole under the lock; a subscription waiting for a slow socket holds at most one frame, and
/// its cursor waits with it (it catches up from the change log later).
#[derive(Clone)]
struct Outbound(Arc<Mutex<SplitSink<WebSocket, Message>>>);

impl Outbound {
    /// Sends a text frame; `false` once the socket is gone.
    async fn text(&self, text: String) -> bool {
        self.0
            .lock()
            .await
            .send(Message::Text(text.into()))
            .await
            .is_ok()
    }

    async fn json(&self, frame: Value) -> bool {
        self.text(frame.to_string()).await
    }

    async fn close(&self, close: Option<(u16, &'static str)>) {
        let mut sink = self.0.lock().await;
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        let _ = sink.close().await;
    }
}

pub async fn handler(
    State(state): State<WsState>,
    crate::transport::PeerIp(peer): crate::transport::PeerIp,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let protocol = if offered.split(',').any(|p| p.trim() == TRANSPORT_WS) || offered.is_empty() {
        Protocol::Transport
    } else if offered.split(',').any(|p| p.trim() == LEGACY_WS) {
        Protocol::Legacy
    } else {
        Protocol::Transport
    };
    // A token on the upgrade request counts unless `connection_init` brings one.
    let upgrade_principal = match crate::transport::authorization(&headers) {
        Ok(Some(v)) => Some(state.app.auth.principal(Some(v)).await.map_err(|_| ())),
        Ok(None) => None,
        Err(_) => Some(Err(())),
    };
    upgrade
        .protocols([TRANSPORT_WS, LEGACY_WS])
        // Client messages are small (init, subscribe, ping); a larger one is assembled across
        // reads. tungstenite's 128 KiB default would cost more than everything else per socket.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        // Checked against the frame header: an oversized frame is refused before its payload
        // is read, so the server never buffers more than this.
        .max_frame_size(state.app.settings.ws_max_message_bytes)
        .max_message_size(state.app.settings.ws_max_message_bytes)
        .on_upgrade(move |socket| serve(socket, state, protocol, upgrade_principal, peer))
}

async fn serve(
    socket: WebSocket,
    state: WsState,
    protocol: Protocol,
    upgrade_principal: Option<Result<Principal, ()>>,
    peer: Option<std::net::IpAddr>,
) {
    let (sink, mut stream) = socket.split();
    let out = Outbound(Arc::new(Mutex::new(sink)));

    let _counted = state.app.live.connection();
    let _gauged = OpenConnection::new(state.app.metrics.clone());
    let mut shutdown = state.app.live.shutdown_signal();
    let mut principal: Option<Principal> = None;
    // Set at `connection_init`, from the caller's tier.
    let mut messages: Option<governor::DefaultDirectRateLimiter> = None;
    let mut subscriptions: HashMap<String, JoinHandle<()>> = HashMap::new();
    let deadline = tokio::time::sleep(Duration::from_secs(state.app.settings.ws_init_timeout_secs));
    tokio::pin!(deadline);
    let close = loop {
        let message = tokio::select! {
            m = stream.next() => m,
            _ = &mut deadline, if principal.is_none() => {
                break Some((4408, "Connection initialisation timeout"));
            }
            _ = shutdown.wait_for(|down| *down) => {
                break Some((1001, "Server shutting down"));
            }
        };
        let message = match message {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "websocket read failed");
                // tungstenite's capacity error ("Space limit exceeded: …"), reached through
                // axum's opaque error: close 1009 (message too big), RFC 6455 §7.4.1.
                if e.to_string().contains("Space limit exceeded") {
                    break Some((1009, "Message too big"));
                }
                break None;
            }
            None => break None,
        };
        let text = match message {
            Message::Text(t) => t,
            // Answer the client's close handshake (RFC 6455 §5.5.1), echoing its code.
            Message::Close(frame) => break Some((frame.map_or(1000, |f| f.code), "")),
            Message::Binary(_) => break Some((4400, "Binary messages are not supported")),
            _ => continue,
        };
        if messages.as_ref().is_some_and(|m| m.check().is_err()) {
            let tier = principal
                .as_ref()
                .map_or(crate::auth::Tier::Anonymous, |p| p.tier());
            state.app.limits.refused(tier, "websocket");
            break Some((4429, "Too many messages"));
        }
        let Ok(msg) = serde_json::from_str::<Value>(&text) else {
            break Some((4400, "Invalid message: not JSON"));
        };
        subscriptions.retain(|_, task| !task.is_finished());
        match (protocol, msg["type"].as_str()) {
            (_, Some("connection_init")) => {
                if principal.is_some() {
                    break Some((4429, "Too many initialisation requests"));
                }
                let from_payload = match msg["payload"]["authorization"]
                    .as_str()
                    .or_else(|| msg["payload"]["Authorization"].as_str())
                {
                    // Boxed: the verification future (a JWKS fetch at worst) is large and
                    // lives only during the handshake, not in every connection's task.
                    Some(v) => Some(
                        Box::pin(state.app.auth.principal(Some(v)))
                            .await
                            .map_err(|_| ()),
                    ),
                    None => None,
                };
                match from_payload.or_else(|| upgrade_principal.clone()) {
                    Some(Err(_)) => break Some((4403, "Forbidden")),
                    Some(Ok(p)) => principal = Some(p),
                    None => principal = Some(Principal::anonymous()),
                }
                let tier = principal
                    .as_ref()
                    .map_or(crate::auth::Tier::Anonymous, |p| p.tier());
                let policy = crate::limits::TierPolicy::of(&state.app.settings, tier);
                messages = Some(crate::limits::message_limiter(policy.messages_per_sec));
                out.json(json!({ "type": "connection_ack" })).await;
                if protocol == Protocol::Legacy {
                    out.json(json!({ "type": "ka" })).await;
                }
            }
            (Protocol::Transport, Some("ping")) => {
                let mut pong = json!({ "type": "pong" });
                if !msg["payload"].is_null() {
                    pong["payload"] = msg["payload"].clone();
                }
                out.json(pong).await;
            }
            (Protocol::Transport, Some("pong")) => {}
            (Protocol::Transport, Some("subscribe")) | (Protocol::Legacy, Some("start")) => {
                let Some(id) = msg["id"].as_str().filter(|id| !id.is_empty()) else {
                    break Some((4400, "Invalid message: subscribe needs an id"));
                };
                let Some(query) = msg["payload"]["query"].as_str() else {
                    break Some((4400, "Invalid message: subscribe needs payload.query"));
                };
                let Some(viewer) = principal.clone() else {
                    break Some((4401, "Unauthorized"));
                };
                if subscriptions.contains_key(id) {
                    break Some((4409, "Subscriber for this id already exists"));
                }
                match start_subscription(&state, &msg, id, query, viewer, peer, protocol, &out) {
                    Ok(task) => {
                        subscriptions.insert(id.to_owned(), task);
                    }
                    Err(refusal) => {
                        out.json(refusal).await;
                    }
                }
            }
            (Protocol::Transport, Some("complete")) | (Protocol::Legacy, Some("stop")) => {
                if let Some(task) = msg["id"].as_str().and_then(|id| subscriptions.remove(id)) {
                    task.abort();
                }
            }
            (Protocol::Legacy, Some("connection_terminate")) => {
                break Some((1000, "Connection terminated"))
            }
            _ => break Some((4400, "Invalid message: unknown type")),
        }
    };
    tracing::debug!(?close, "websocket connection ends");
    for (_, task) in subscriptions {
        task.abort();
    }
    let closing = close.is_some();
    out.close(close).await;
    if closing {
        // Give the client a moment to read the close frame: a client still sending (a flood
        // refused with 4429) would otherwise get a reset for its unread data, and see 1006
        // instead of our code. Read and discard until its own close frame, for at most 1 s.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Starts one subscription's task, or answers why it may not start (the caller's cap). Not
/// async: nothing here lives in the connection's task between messages.
#[allow(clippy::too_many_arguments)]
fn start_subscription(
    state: &WsState,
    msg: &Value,
    id: &str,
    query: &str,
    viewer: Principal,
    peer: Option<std::net::IpAddr>,
    protocol: Protocol,
    out: &Outbound,
) -> Result<JoinHandle<()>, Value> {
    let key = viewer.limit_key(peer);
    let tier = viewer.tier();
    let max = crate::limits::TierPolicy::of(&state.app.settings, tier).max_subscriptions;
    let Some(place) = state.app.subscription_caps.acquire(&key, max) else {
        state.app.limits.refused(tier, "websocket");
        let payload = json!([{
            "message": format!("subscription limit reached: the {} tier allows {max} at once", tier.as_str()),
            "extensions": { "code": "RATE_LIMITED" },
        }]);
        return Err(json!({ "id": id, "type": "error", "payload": payload }));
    };
    let variables = match &msg["payload"]["variables"] {
        v if v.is_object() => v.clone(),
        _ => json!({}),
    };
    let group = GroupKey::new(
        query,
        msg["payload"]["operationName"].as_str(),
        &variables,
        &viewer,
    );
    let meter = crate::transport::graphql::limits::Meter::new(&state.app.limits, &viewer, peer)
        .over_websocket();
    // The opening runs as the caller (charged to them); its follower is handed over.
    let opening = Arc::new(Opening::default());
    let request = group
        .request()
        .data(viewer.clone())
        .data(meter)
        .data(LiveMode::Opening(opening.clone()));
    // Started here, so the task keeps only the stream, not the request.
    let responses = state.schema.execute_stream(request);
    let subscription = Subscription {
        id: id.to_owned(),
        protocol,
        out: out.clone(),
        viewer,
        metrics: state.app.metrics.clone(),
        _place: place,
        _counted: state.app.metrics.subscription_started(tier.as_str()),
    };
    Ok(tokio::spawn(subscription.run(
        responses,
        opening,
        state.schema.clone(),
        state.groups.join(group),
    )))
}

/// Counts an open WebSocket connection on `/metrics` while it lives.
struct OpenConnection(Arc<crate::metrics::Metrics>);

impl OpenConnection {
    fn new(metrics: Arc<crate::metrics::Metrics>) -> Self {
        metrics.websocket_connections(1.0);
        Self(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.websocket_connections(-1.0);
    }
}

/// One subscription of a connection, once opened: its id, where it writes, who it runs as.
struct Subscription {
    id: String,
    protocol: Protocol,
    out: Outbound,
    viewer: Principal,
    metrics: Arc<crate::metrics::Metrics>,
    /// Held while the subscription runs: its place under the caller's cap.
    _place: crate::limits::CapGuard,
    /// Held while the subscription runs: counted in `podium_subscriptions{tier}`.
    _counted: crate::metrics::SubscriptionGauge,
}

impl Subscription {
    /// Writes one `next` (`data`) frame around `payload`, counted; `false` once the socket
    /// is gone.
    async fn send(&self, kind: &str, payload: &str) -> bool {
        let sent = self.out.text(frame_text(&self.id, kind, payload)).await;
        if sent {
            self.metrics.frame_sent();
        }
        sent
    }

    /// Sends the opening message (or the errors that end the operation), then each step's
    /// payload from the group, until the change log ends or the socket goes.
    async fn run(
        self,
        mut opening: impl futures::Stream<Item = async_graphql::Response> + Unpin,
        handed: Arc<Opening>,
        schema: PodiumSchema,
        group: Arc<Group>,
    ) {
        let next = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        while let Some(response) = opening.next().await {
            // Errors before any data (validation, bad arguments) end the operation with
            // `error`.
            if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
                let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
                self.out
                    .json(json!({ "id": self.id, "type": "error", "payload": errors }))
                    .await;
                return;
            }
            let Ok(payload) = serde_json::to_string(&response) else {
                tracing::error!(id = %self.id, "a subscription response could not be serialised");
                return;
            };
            if !self.send(next, &payload).await {
                return;
            }
        }
        drop(opening);
        if let Some((mut follower, course)) = handed.take() {
            while let Some(change) = follower.next().await {
                let seq = change.seq;
                let mode = LiveMode::Step {
                    change,
                    course: course.clone(),
                };
                // Boxed: the execution's future is large and lives only during a step, not in
                // every idle subscription's task.
                match Box::pin(group.frame(&schema, &self.viewer, mode, seq)).await {
                    StepFrame::Payload(payload) => {
                        if !self.send(next, &payload).await {
                            return;
                        }
                    }
                    StepFrame::End => break,
                }
            }
        }
        self.out
            .json(json!({ "id": self.id, "type": "complete" }))
            .await;
    }
}
