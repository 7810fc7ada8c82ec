//! Ingest over GraphQL and over `POST /v1/events/{id}/detections`.

use crate::helpers::{at, error_code, read, TestApp};
use axum::http::StatusCode;
use serde_json::json;

async fn event_with_bibs(app: &TestApp) -> String {
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1991)],
    )
    .await;
    event
}

#[tokio::test]
async fn a_batch_keeps_every_good_row_and_names_each_bad_one() {
    let app = TestApp::spawn().await;
    let event = event_with_bibs(&app).await;
    let rows = json!([
        read("1", "START", 5),
        read("99", "RUN1", 300),                                        // unknown bib
        read("1", "RUN9", 300),                                         // unknown timing point
        { "bib": "1", "timingPoint": "RUN1", "timestamp": "noon" },     // malformed timestamp
        read("1", "RUN1", 86_400 * 3),                                  // out of range
        { "bib": "1", "timestamp": at(10) },                            // missing field
        read("2", "START", 7),
        read("1", "START", 5),                                          // duplicate in batch
    ]);
    let report = app.ingest_json(&event, rows).await;
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["duplicates"], 1);
    let rejected = report["rejected"].as_array().unwrap();
    let indices: Vec<u64> = rejected
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3, 4, 5]);
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("not registered"), "{reasons:?}");
    assert!(reasons[1].contains("RUN9"));
    assert!(reasons[2].contains("ISO-8601"));
    assert!(reasons[3].contains("out of range"));
    assert!(reasons[4].contains("timingPoint"));

    // Re-sending the whole batch changes nothing.
    let again = app
        .ingest_json(
            &event,
            json!([read("1", "START", 5), read("2", "START", 7)]),
        )
        .await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(again["seq"], report["seq"]);
}

#[tokio::test]
async fn ndjson_is_accepted_like_a_json_array() {
    let app = TestApp::spawn().await;
    let event = event_with_bibs(&app).await;
    let body = format!(
        "{}\n{}\n\n{{\"bib\":2}}\n",
        read("1", "START", 5),
        json!({"bib": "1", "timingPoint": "RUN1", "timestamp": at(300), "readId": "r-1", "deviceId": "mat-1"})
    );
    let (status, report) = app
        .post_detections(
            Some(&app.admin),
            &event,
            "application/x-ndjson",
            body.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["rejected"][0]["index"], 2);
    assert!(report["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("timingPoint"));
}

#[tokio::test]
async fn the_same_read_id_is_a_duplicate_whatever_its_content() {
    let app = TestApp::spawn().await;
    let event = event_with_bibs(&app).await;
    let first =
        json!([{ "bib": "1", "timingPoint": "RUN1", "timestamp": at(300), "readId": "r-9" }]);
    assert_eq!(app.ingest_json(&event, first).await["accepted"], 1);
    let resent =
        json!([{ "bib": "1", "timingPoint": "RUN1", "timestamp": at(301), "readId": "r-9" }]);
    let report = app.ingest_json(&event, resent).await;
    assert_eq!(
        (report["accepted"].as_u64(), report["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn malformed_oversized_and_unknown_requests_get_clear_errors() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 1024).await;
    let event = event_with_bibs(&app).await;
    let (status, body) = app
        .post_detections(
            Some(&app.admin),
            &event,
            "application/json",
            b"{\"bib\":".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("JSON array"));

    let (status, body) = app
        .post_detections(
            Some(&app.admin),
            &event,
            "application/json",
            vec![b' '; 4096],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let (status, _) = app
        .post_detections(Some(&app.admin), &event, "text/csv", b"bib".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (status, body) = app
        .post_detections(None, &event, "application/json", b"[]".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");

    let missing = uuid::Uuid::new_v4().to_string();
    let (status, _) = app
        .post_detections(
            Some(&app.admin),
            &missing,
            "application/json",
            b"[]".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post_detections(
            Some(&app.admin),
            "not-an-id",
            "application/json",
            b"[]".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn graphql_ingest_reports_like_rest_and_moves_the_event_live() {
    let app = TestApp::spawn().await;
    let event = event_with_bibs(&app).await;
    let q = "mutation($id: ID!, $d: [DetectionInput!]!) { ingestDetections(eventId: $id, detections: $d) { accepted duplicates rejected { index reason } seq } }";
    let data = app
        .gql(q, json!({ "id": event, "d": [read("1", "START", 1), read("1", "START", 1), read("7", "START", 1)] }))
        .await;
    let report = &data["ingestDetections"];
    assert_eq!(report["accepted"], 1);
    assert_eq!(report["duplicates"], 1);
    assert_eq!(report["rejected"][0]["index"], 2);
    let status = app
        .gql(
            "query($id: ID!) { event(id: $id) { status seq } }",
            json!({ "id": event }),
        )
        .await;
    assert_eq!(status["event"]["status"], "LIVE");
    assert_eq!(status["event"]["seq"], report["seq"]);

    let operator = app.token(
        podium_api::auth::Role::VenueOperator,
        vec![uuid::Uuid::new_v4()],
    );
    let (_, body) = app
        .graphql_as(Some(&operator), q, json!({ "id": event, "d": [] }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}
