//! `/metrics`: the Prometheus exposition written by the `metrics` crate — ingest counters and
//! batch sizes, HTTP latency by declared route and status class (no ids in labels), open
//! WebSocket connections.

use crate::helpers::{read, TestApp};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;

async fn scrape(app: &TestApp) -> String {
    let (status, headers, body) = app
        .request(
            Request::get("/metrics")
                .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    String::from_utf8(body).unwrap()
}

use podium_api::metrics::sample_in as sample;

#[tokio::test]
async fn ingest_and_requests_are_counted_without_ids_in_labels() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    app.add_entries(&event, &[("1", "OPEN", "MEN", 1990)]).await;
    // Two good rows, one of them sent twice (a duplicate), and one bad row: one request.
    app.ingest_json(
        &event,
        json!([
            read("1", "START", 0),
            read("1", "RUN1", 300),
            read("1", "RUN1", 300),
            { "bib": "1", "timingPoint": "NOWHERE", "timestamp": "2026-03-14T09:10:00Z" },
        ]),
    )
    .await;
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "podium_ingest_requests_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "podium_detections_accepted_total"), Some(2.0));
    assert_eq!(
        sample(&text, "podium_detections_duplicate_total"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "podium_detections_rejected_total"), Some(1.0));
    assert!(
        text.contains("# TYPE podium_ingest_batch_rows histogram"),
        "{text}"
    );
    assert_eq!(sample(&text, "podium_ingest_batch_rows_count"), Some(1.0));
    assert_eq!(sample(&text, "podium_ingest_batch_rows_sum"), Some(4.0));
    assert_eq!(
        sample(&text, r#"podium_ingest_batch_rows_bucket{le="1"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"podium_ingest_batch_rows_bucket{le="5"}"#),
        Some(1.0)
    );
    // The ingest request, by its declared route: the event's id is not a label.
    let ingest = r#"podium_http_request_duration_seconds_count{route="/v1/events/{event_id}/detections",method="POST",status="2xx"}"#;
    assert_eq!(sample(&text, ingest), Some(1.0), "{text}");
    assert!(!text.contains(&event), "an event id leaked into a label");
    assert!(text.contains("# TYPE podium_http_request_duration_seconds histogram"));
    // A path no route declares is one series, whatever the path.
    for path in ["/nope/1", "/nope/2"] {
        let (status, _, _) = app
            .request(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let text = scrape(&app).await;
    let unmatched = r#"podium_http_request_duration_seconds_count{route="unmatched",method="GET",status="4xx"}"#;
    assert_eq!(sample(&text, unmatched), Some(2.0), "{text}");
    assert!(!text.contains("/nope/"));
    // The pool, read at scrape time: the scrape itself holds no connection, the ingest
    // opened at least one.
    let idle = sample(&text, r#"podium_db_pool_connections{state="idle"}"#).unwrap();
    let in_use = sample(&text, r#"podium_db_pool_connections{state="in_use"}"#).unwrap();
    assert!(idle + in_use >= 1.0, "{idle} idle, {in_use} in use");
}

#[tokio::test]
async fn open_websocket_connections_are_a_gauge() {
    let app = TestApp::spawn().await;
    let url = crate::websocket::serve(&app).await;
    let socket = crate::websocket::connect(&url, "graphql-transport-ws").await;
    let open = |text: &str| sample(text, "podium_websocket_connections");
    let mut seen = None;
    for _ in 0..50 {
        seen = open(&scrape(&app).await);
        if seen == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(1.0));
    drop(socket);
    for _ in 0..100 {
        seen = open(&scrape(&app).await);
        if seen == Some(0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(0.0));
}

/// Running subscriptions count by tier while they run; one refused by the tier's cap is a
/// refusal over the WebSocket.
#[tokio::test]
async fn subscriptions_count_by_tier_and_a_refused_one_by_transport() {
    use crate::websocket::{connect, init, race, receive, send, serve};
    let app = TestApp::spawn_with(|s| s.ws_max_subscriptions_anonymous = 1).await;
    let event = race(&app).await;
    let url = serve(&app).await;
    let mut socket = connect(&url, "graphql-transport-ws").await;
    init(&mut socket, json!({})).await;
    let subscribe = |id: &str| {
        json!({ "id": id, "type": "subscribe", "payload": {
            "query": "subscription($e: ID!) { leaderboardUpdates(eventId: $e) { seq } }",
            "variables": { "e": event }
        } })
    };
    send(&mut socket, subscribe("a")).await;
    assert_eq!(receive(&mut socket).await.unwrap()["type"], "next");
    let running = r#"podium_subscriptions{tier="anonymous"}"#;
    assert_eq!(sample(&scrape(&app).await, running), Some(1.0));
    send(&mut socket, subscribe("b")).await;
    let refused = receive(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"podium_rate_limit_refusals_total{tier="anonymous",transport="websocket"}"#
        ),
        Some(1.0),
        "{text}"
    );
    send(&mut socket, json!({ "id": "a", "type": "complete" })).await;
    let mut seen = None;
    for _ in 0..100 {
        seen = sample(&scrape(&app).await, running);
        if seen == Some(0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen, Some(0.0));
}

/// The metric families named in PromQL `text` (`_bucket`, `_count`, `_sum` folded into their
/// histogram), Prometheus's own `up` left out.
fn families(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("podium_") {
        let start = i + at;
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        let preceded =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if !preceded {
            let name = &text[start..end];
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            out.insert(family.to_owned());
        }
        i = end;
    }
    out
}

/// Every expression of the Grafana dashboard and of the alert rules, as text.
fn dashboard_and_alert_expressions() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/grafana/podium.json")).unwrap(),
    )
    .unwrap();
    let mut out: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    let alerts = std::fs::read_to_string(root.join("docs/prometheus/alerts.yml")).unwrap();
    out.extend(
        alerts
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr:"))
            .map(|e| e.trim().to_owned()),
    );
    out
}

#[tokio::test]
async fn every_dashboard_panel_and_alert_reads_a_family_that_a_race_exposes() {
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let app = TestApp::spawn_with(|s| {
        s.webhook_poll_ms = 50;
        s.rate_limit_anonymous = 2;
        s.redis_url = Some(redis.into());
    })
    .await;
    let url = crate::websocket::serve(&app).await;
    // A consumer that takes every message.
    let hook = axum::Router::new().route("/hook", axum::routing::post(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await });
    let created = app.gql(
        "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }",
        json!({ "input": { "url": hook_url, "topics": ["event.provisional", "event.official"] } }),
    )
    .await;
    let webhook = created["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A small race: ingest, a subscriber, a prediction, the lifecycle (webhooks), the
    // statistics, anonymous readers over their budget (429).
    let event = app.create_event(None).await;
    app.add_entries(&event, &[("1", "OPEN", "MEN", 1990)]).await;
    let mut socket = crate::websocket::connect(&url, "graphql-transport-ws").await;
    crate::websocket::init(&mut socket, json!({})).await;
    crate::websocket::send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": {
            "query": "subscription($e: ID!) { leaderboardUpdates(eventId: $e) { seq } }",
            "variables": { "e": event }
        } }),
    )
    .await;
    app.ingest_json(&event, json!([read("1", "START", 0)]))
        .await;
    app.gql(
        "query($e: ID!) { leaderboard(eventId: $e) { edges { node { prediction { finishMs } } } } }",
        json!({ "e": event }),
    )
    .await;
    app.ingest_json(&event, json!([read("1", "FINISH", 4_000)]))
        .await;
    for status in ["PROVISIONAL", "OFFICIAL"] {
        app.gql(
            "mutation($e: ID!, $s: EventStatus!) { setEventStatus(eventId: $e, status: $s) { status } }",
            json!({ "e": event, "s": status }),
        )
        .await;
    }
    app.gql(
        "query($e: ID!) { segmentStats(eventId: $e) { segment count } }",
        json!({ "e": event }),
    )
    .await;
    let mut refused = false;
    for _ in 0..5 {
        let (status, _, _) = app
            .request(
                Request::get(format!("/v1/events/{event}/results.csv"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        refused |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused, "the anonymous budget of 2 per minute was exceeded");

    let wanted: std::collections::BTreeSet<String> = dashboard_and_alert_expressions()
        .iter()
        .flat_map(|e| families(e))
        .collect();
    assert!(wanted.len() >= 12, "{wanted:?}");
    let mut missing = wanted.clone();
    for _ in 0..100 {
        let text = scrape(&app).await;
        missing.retain(|f| !text.contains(&format!("# TYPE {f} ")));
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        missing.is_empty(),
        "named by the dashboard or alerts, never exposed: {missing:?}"
    );
    // Deliveries count by endpoint: the two lifecycle messages reached this one.
    let delivered =
        format!(r#"podium_webhook_attempts_total{{endpoint="{webhook}",outcome="delivered"}}"#);
    let mut seen = None;
    for _ in 0..100 {
        seen = sample(&scrape(&app).await, &delivered);
        if seen == Some(2.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(2.0), "{delivered}");
}

#[test]
fn families_are_read_from_promql() {
    let found = families(
        r#"histogram_quantile(0.99, sum by (le) (rate(podium_http_request_duration_seconds_bucket{route="/x"}[5m]))) / sum(xpodium_not_this) + podium_webhook_backlog"#,
    );
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        [
            "podium_http_request_duration_seconds",
            "podium_webhook_backlog"
        ]
    );
}

#[tokio::test]
async fn metrics_bind_serves_the_scraper_without_a_token_and_the_public_route_stays_closed() {
    let app = TestApp::spawn_with(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let server = podium_api::Application::build(app.state.clone())
        .await
        .unwrap();
    let (public, internal) = (server.local_addr(), server.metrics_addr().unwrap());
    tokio::spawn(server.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let scraped = client
        .get(format!("http://{internal}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped
        .text()
        .await
        .unwrap()
        .contains("# TYPE podium_ingest_requests_total counter"));
    // Only /metrics there; the API is not on the internal address.
    let other = client
        .get(format!("http://{internal}/graphql"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let closed = client
        .get(format!("http://{public}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 401);
}

/// A race on `app` and a leaderboard subscriber to it, past its opening message.
async fn race_with_a_subscriber(app: &TestApp) -> (String, crate::websocket::Socket) {
    use crate::websocket::{connect, init, race, receive, send, serve};
    let event = race(app).await;
    let url = serve(app).await;
    let mut socket = connect(&url, "graphql-transport-ws").await;
    init(&mut socket, json!({})).await;
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe", "payload": {
            "query": "subscription($e: ID!) { leaderboardUpdates(eventId: $e, category: OPEN, gender: MEN) { seq } }",
            "variables": { "e": event }
        } }),
    )
    .await;
    let opening = receive(&mut socket).await.unwrap();
    assert_eq!(opening["type"], "next", "{opening}");
    (event, socket)
}

#[tokio::test]
async fn a_step_pushed_to_subscribers_records_its_latency_from_the_ingest() {
    use crate::websocket::receive;
    let app = TestApp::spawn().await;
    let (event, mut socket) = race_with_a_subscriber(&app).await;
    let count = r#"podium_push_latency_seconds_count"#;
    let before = sample(&scrape(&app).await, count).unwrap_or(0.0);
    app.ingest_json(&event, json!([read("1", "START", 0)]))
        .await;
    let step = receive(&mut socket).await.unwrap();
    assert_eq!(step["type"], "next", "{step}");
    let text = scrape(&app).await;
    assert_eq!(sample(&text, count), Some(before + 1.0), "{text}");
    // A step not ingested here (a correction, another instance's ingest) is not measured.
    let sum = sample(&text, "podium_push_latency_seconds_sum").unwrap();
    assert!((0.0..10.0).contains(&sum), "{sum}");
}

/// The live feed that read the step counts it as prompted by the ingest's notice, and records
/// how long after the announcement it read it.
#[tokio::test]
async fn a_live_feed_counts_the_steps_it_reads_and_its_lag_behind_the_announcement() {
    use crate::websocket::receive;
    let app = TestApp::spawn().await;
    let (event, mut socket) = race_with_a_subscriber(&app).await;
    let by_notice = r#"podium_live_steps_read_total{trigger="notice"}"#;
    let lag = "podium_live_feed_lag_seconds_count";
    let text = scrape(&app).await;
    let (steps_before, lag_before) = (
        sample(&text, by_notice).unwrap_or(0.0),
        sample(&text, lag).unwrap_or(0.0),
    );
    for (i, point) in ["START", "RUN1"].iter().enumerate() {
        app.ingest_json(&event, json!([read("1", point, 300 * i as i64)]))
            .await;
        assert_eq!(receive(&mut socket).await.unwrap()["type"], "next");
    }
    let text = scrape(&app).await;
    assert_eq!(sample(&text, by_notice), Some(steps_before + 2.0), "{text}");
    assert_eq!(sample(&text, lag), Some(lag_before + 2.0), "{text}");
    let seconds = sample(&text, "podium_live_feed_lag_seconds_sum").unwrap();
    assert!((0.0..10.0).contains(&seconds), "{seconds}");
}
