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

/// The value of the sample line `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

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
}

#[tokio::test]
async fn open_websocket_connections_are_a_gauge() {
    let app = TestApp::spawn().await;
    let addr = crate::helpers::serve(&app).await;
    let (socket, _) = {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{addr}/graphql/ws"),
            )
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.unwrap()
    };
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
