//! The checked-in schema never drifts; operational endpoints answer.

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};

#[test]
fn schema_graphql_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == podium_api::transport::graphql::sdl(),
        "schema.graphql is out of date; regenerate it with:\n    cargo run -p podium-api --bin podium -- schema > schema.graphql"
    );
}

#[tokio::test]
async fn health_readiness_metrics_and_graphiql_answer() {
    let app = TestApp::spawn().await;
    let (status, _, body) = app
        .request(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"ok".as_slice())
    );
    let (status, _, body) = app
        .request(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("ready"));
    let (status, _, _) = app
        .request(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "system metrics are for admins"
    );
    let (status, _, body) = app
        .request(
            Request::get("/metrics")
                .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("podium_detections_accepted_total 0"));
    let page = Request::get("/graphql")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = app.request(page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("graphiql"));
}

#[tokio::test]
async fn queries_work_over_get_but_mutations_are_refused() {
    let app = TestApp::spawn().await;
    let get = |q: &str| {
        Request::get(format!("/graphql?query={q}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = app
        .request(get("%7B%20events%20%7B%20id%20%7D%20%7D"))
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (status, headers, _) = app
        .request(get(
            "mutation%20%7B%20createVenue(name%3A%22x%22)%20%7B%20id%20%7D%20%7D",
        ))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
}
