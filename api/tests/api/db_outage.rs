//! PostgreSQL going away in the middle of a race day, on a throwaway cluster of this test's own
//! (`initdb` / `pg_ctl` on a free port): timing software gets a fast 503 with `Retry-After`,
//! never a hang or a 500, and once the database is back everything is accepted — nothing lost.

use crate::cluster::Cluster;
use crate::helpers::{read, TestApp};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn ingest(app: &TestApp, event: &str, rows: &Value) -> (StatusCode, Option<String>, Value) {
    let request = Request::post(format!("/v1/events/{event}/detections"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .body(Body::from(rows.to_string()))
        .unwrap();
    let (status, headers, body) = app.request(request).await;
    let retry = headers
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn postgresql_away_mid_ingest_answers_503_fast_and_loses_nothing() {
    if std::env::var_os("TEST_DATABASE_URL").is_none() {
        // A PostgreSQL behaviour: run in the PostgreSQL pass of scripts/test.
        return;
    }
    let cluster = Cluster::create();
    let url = cluster.url();
    let app = TestApp::spawn_with(|s| {
        s.database_url = Some(url.into());
        s.database_acquire_timeout_ms = 1_500;
    })
    .await;
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1991)],
    )
    .await;
    let (status, _, _) = ingest(
        &app,
        &event,
        &json!([read("1", "START", 5), read("2", "START", 6)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    cluster.stop();
    let batch = json!([read("1", "RUN1", 300), read("2", "RUN1", 310)]);
    // The first request finds the database gone within the acquire timeout…
    let started = Instant::now();
    let (status, retry, body) = ingest(&app, &event, &batch).await;
    let first = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "DATABASE_UNAVAILABLE", "{body}");
    assert!(retry.is_some(), "Retry-After");
    assert!(
        first < Duration::from_secs(5),
        "first answer after {first:?}"
    );
    // …and the next ones are answered at once, on every transport.
    let started = Instant::now();
    let (status, retry, _) = ingest(&app, &event, &batch).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let (status, body) = app
        .graphql_as(
            Some(&app.admin),
            "query($id: ID!) { leaderboard(eventId: $id, first: 5) { totalCount } }",
            json!({ "id": event }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE",
        "{body}"
    );
    let (status, _, _) = app
        .request(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // Back: the retried batch is accepted without a restart, and nothing was lost.
    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let (status, _, body) = ingest(&app, &event, &batch).await;
        if status == StatusCode::OK {
            break body;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            Instant::now() < deadline,
            "the database is back but podium is not"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report["accepted"], 2, "{report}");
    let data = app
        .gql(
            "query($id: ID!) { leaderboard(eventId: $id, first: 5) { edges { node { bib lastTimingPoint } } } }",
            json!({ "id": event }),
        )
        .await;
    let points: Vec<&Value> = data["leaderboard"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["lastTimingPoint"])
        .collect();
    assert_eq!(points, [&json!("RUN1"), &json!("RUN1")]);
}
