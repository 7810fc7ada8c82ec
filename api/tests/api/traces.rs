//! OpenTelemetry traces, received by a tiny OTLP/HTTP collector in the test: the spans of one
//! detection, from the HTTP request that brought it (with the caller's `traceparent`) to the
//! push on another instance that learnt of it through Redis, linked parent to child in one
//! trace; and the last spans flushed when the server stops.

use crate::helpers::{read, STARTS_AT};
use crate::scale_out::{admin_token, free_port, next_seq, start_redis, Instance};
use crate::websocket::{connect, init, send};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received span, flattened.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace: String,
    id: String,
    parent: String,
    attributes: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

impl Collector {
    /// Serves `POST /v1/traces` (OTLP/HTTP, protobuf) on a free port; returns its base URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/v1/traces", post(export))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    fn spans(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (up to 20 s) for a span named `name` from `service` that `matches`.
    async fn wait_for(
        &self,
        service: &str,
        name: &str,
        matches: impl Fn(&Received) -> bool,
    ) -> Received {
        for _ in 0..200 {
            if let Some(span) = self
                .spans()
                .into_iter()
                .find(|s| s.service == service && s.name == name && matches(s))
            {
                return span;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen: Vec<_> = self
            .spans()
            .into_iter()
            .map(|s| format!("{}:{} {:?}", s.service, s.name, s.attributes))
            .collect();
        panic!("no {name} span from {service}; received {seen:?}");
    }
}

async fn export(State(collector): State<Collector>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    collector.collect(request);
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// The same collector over OTLP/gRPC: the generated `TraceService` server, on HTTP/2.
#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.collect(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves OTLP/gRPC on a free port (HTTP/2 without TLS); returns its base URL.
    async fn start_grpc(&self) -> String {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::service::TowerToHyperService;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new().route_service(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            TraceServiceServer::new(self.clone()),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        format!("http://{address}")
    }

    fn collect(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .map(|a| text(a.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        name: span.name,
                        trace: hex::encode(&span.trace_id),
                        id: hex::encode(&span.span_id),
                        parent: hex::encode(&span.parent_span_id),
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| {
                                (
                                    a.key.clone(),
                                    text(a.value.as_ref().and_then(|v| v.value.as_ref())),
                                )
                            })
                            .collect(),
                    });
                }
            }
        }
    }
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// The caller's span: a W3C `traceparent` the ingest request carries.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn traced(collector: &str, service: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.to_owned()),
        ("OTEL_SERVICE_NAME", service.to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test".into(),
        ),
        // Export every 100 ms instead of every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ]
}

/// Two instances exporting to one collector, Redis between them: a detection ingested on A
/// with the caller's `traceparent` gives one trace, http.request → ingest → db.ingest (→
/// change_log.append, db.commit) → live.notify on A → live.feed_read → live.push on B, where
/// the subscriber's frame went out.
#[tokio::test]
async fn one_detection_is_one_trace_from_the_request_to_the_push_on_another_instance() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let database_url = podium_persistence::testing::fresh_database_url()
        .await
        .unwrap();
    let redis_port = free_port();
    let _redis = start_redis(redis_port);
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let data_dir: PathBuf =
        std::env::temp_dir().join(format!("podium-traces-{}", uuid::Uuid::new_v4().simple()));
    let mut a = Instance::start_with(
        &database_url,
        &redis_url,
        &data_dir,
        &traced(&endpoint, "podium-a"),
    );
    a.wait_for("ready").await;
    let mut b = Instance::start_with(
        &database_url,
        &redis_url,
        &data_dir,
        &traced(&endpoint, "podium-b"),
    );
    assert_eq!(b.wait_for("ready").await["redis"], "ok");

    let on_a = a.client(&admin_token(&data_dir));
    let created = on_a
        .graphql(
            "mutation Create($input: CreateEventInput!) { createEvent(input: $input) { id } }",
            json!({ "input": { "name": "Traced", "startsAt": STARTS_AT, "timezone": "Europe/Berlin", "course": "HYROX_STANDARD" } }),
        )
        .await
        .unwrap();
    let event_id = created["createEvent"]["id"].as_str().unwrap().to_owned();
    on_a.graphql(
        "mutation($id: ID!, $entries: [EntryInput!]!) { addEntries(eventId: $id, entries: $entries) { id } }",
        json!({ "id": event_id, "entries": [{ "bib": "1", "firstName": "A", "lastName": "B", "category": "OPEN", "gender": "MEN", "birthYear": 1990, "waveStart": STARTS_AT }] }),
    )
    .await
    .unwrap();
    // The GraphQL operation is named by its operation name, never by its text.
    let graphql = collector
        .wait_for("podium-a", "graphql Create", |_| true)
        .await;
    assert_eq!(graphql.attributes["graphql.operation.name"], "Create");
    assert_eq!(graphql.attributes["graphql.operation.type"], "mutation");
    assert!(graphql
        .attributes
        .values()
        .all(|v| !v.contains("createEvent")));

    let mut ws = connect(
        &format!("ws://{}/graphql/ws", b.base),
        "graphql-transport-ws",
    )
    .await;
    init(&mut ws, json!({})).await;
    send(
        &mut ws,
        json!({ "id": "lb", "type": "subscribe", "payload": { "query": "subscription($id: ID!) { leaderboardUpdates(eventId: $id) { seq } }", "variables": { "id": event_id } } }),
    )
    .await;
    let first = next_seq(&mut ws).await;

    let ingested = reqwest::Client::new()
        .post(format!("http://{}/v1/events/{event_id}/detections", a.base))
        .bearer_auth(admin_token(&data_dir))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!([read("1", "START", 5)]))
        .send()
        .await
        .unwrap();
    assert!(ingested.status().is_success());
    let seq = first + 1;
    assert_eq!(next_seq(&mut ws).await, seq);

    let in_trace = |s: &crate::traces::Received| s.trace == CALLER_TRACE;
    // Spans are named as OpenTelemetry's conventions say: an HTTP server span by its method
    // and route (never by the ids in its path).
    let request = collector
        .wait_for(
            "podium-a",
            "POST /v1/events/{event_id}/detections",
            in_trace,
        )
        .await;
    assert_eq!(
        request.parent, CALLER_SPAN,
        "the caller's span is the parent"
    );
    assert_eq!(
        request.attributes["http.route"],
        "/v1/events/{event_id}/detections"
    );
    assert_eq!(request.attributes["http.response.status_code"], "200");
    let ingest = collector.wait_for("podium-a", "ingest", in_trace).await;
    assert_eq!(
        ingest.parent,
        request.id,
        "{:?}",
        collector.spans().iter().find(|s| s.id == ingest.parent)
    );
    let db = collector.wait_for("podium-a", "db.ingest", in_trace).await;
    assert_eq!(db.parent, ingest.id);
    assert_eq!(db.attributes["seq"], seq.to_string());
    for step in [
        "db.insert_reads",
        "db.recompute",
        "change_log.append",
        "db.commit",
    ] {
        assert_eq!(
            collector.wait_for("podium-a", step, in_trace).await.parent,
            db.id,
            "{step}"
        );
    }
    let notify = collector
        .wait_for("podium-a", "live.notify", in_trace)
        .await;
    assert_eq!(notify.parent, ingest.id);
    // On B, through Redis: the feed read is the notice's child, the push the read's.
    let feed_read = collector
        .wait_for("podium-b", "live.feed_read", in_trace)
        .await;
    assert_eq!(feed_read.parent, notify.id);
    let push = collector
        .wait_for("podium-b", "live.push", |s| {
            in_trace(s) && s.attributes.get("seq") == Some(&seq.to_string())
        })
        .await;
    assert_eq!(push.parent, feed_read.id);
    assert_eq!(push.attributes["frames"], "1", "one subscriber, one frame");
    // The resource says who sent it.
    assert!(collector
        .spans()
        .iter()
        .all(|s| s.service == "podium-a" || s.service == "podium-b"));
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// One `podium serve` on a fresh database (no Redis) with `env`; its data directory.
async fn single_instance(env: &[(&str, String)]) -> (Instance, PathBuf) {
    let database_url = podium_persistence::testing::fresh_database_url()
        .await
        .unwrap();
    let data_dir: PathBuf =
        std::env::temp_dir().join(format!("podium-traces-{}", uuid::Uuid::new_v4().simple()));
    let mut instance = Instance::start_with(&database_url, "", &data_dir, env);
    instance.wait_for("ready").await;
    (instance, data_dir)
}

/// `GET /healthz` as a child of the caller's span.
async fn traced_healthz(instance: &Instance) {
    let answered = reqwest::Client::new()
        .get(format!("http://{}/healthz", instance.base))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert!(answered.status().is_success());
}

/// Spans still buffered when the server is asked to stop (SIGTERM) are exported before it
/// exits: a schedule of an hour leaves the shutdown as the only way out.
#[tokio::test]
async fn the_last_spans_are_flushed_when_the_server_stops() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let mut env = traced(&endpoint, "podium-stop");
    env.retain(|(k, _)| *k != "OTEL_BSP_SCHEDULE_DELAY");
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "3600000".into()));
    // podium's own setting, instead of the standard variable.
    env.retain(|(k, _)| *k != "OTEL_EXPORTER_OTLP_ENDPOINT");
    env.push(("PODIUM_OTEL_ENDPOINT", endpoint.clone()));
    let (mut instance, data_dir) = single_instance(&env).await;
    traced_healthz(&instance).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        collector.spans().is_empty(),
        "nothing is exported before the schedule or the shutdown"
    );
    instance.terminate().await;
    let healthz = collector
        .wait_for("podium-stop", "GET /healthz", |s| s.trace == CALLER_TRACE)
        .await;
    assert_eq!(healthz.attributes["http.route"], "/healthz");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`: the spans travel over OTLP/gRPC instead.
#[tokio::test]
async fn spans_are_exported_over_grpc_when_the_protocol_says_so() {
    let collector = Collector::default();
    let endpoint = collector.start_grpc().await;
    let mut env = traced(&endpoint, "podium-grpc");
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()));
    let (instance, data_dir) = single_instance(&env).await;
    traced_healthz(&instance).await;
    let healthz = collector
        .wait_for("podium-grpc", "GET /healthz", |s| s.trace == CALLER_TRACE)
        .await;
    assert_eq!(healthz.parent, CALLER_SPAN);
    let _ = std::fs::remove_dir_all(&data_dir);
}
