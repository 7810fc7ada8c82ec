//! Persisted and cacheable queries: Apollo's automatic persisted queries over POST and GET
//! (checked with Apollo Client's own link as well), and `ETag` / `304` with caching that is
//! public only for anonymous answers.

use crate::helpers::{read, TestApp};
use crate::websocket::race;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

const BOARD: &str =
    "query($id: ID!) { leaderboard(eventId: $id, first: 5) { seq edges { node { bib } } } }";

fn sha(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(app: &TestApp, body: Value) -> Value {
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, body) = app.request(request).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).unwrap()
}

/// GET /graphql?… with `params`, an optional token and `If-None-Match`.
async fn get(
    app: &TestApp,
    params: &[(&str, String)],
    token: Option<&str>,
    if_none_match: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let query = serde_urlencoded::to_string(params).unwrap();
    let mut request =
        Request::get(format!("/graphql?{query}")).header(header::ACCEPT, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    app.request(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn a_persisted_query_is_asked_for_by_its_hash_once_its_text_is_known() {
    let app = TestApp::spawn().await;
    let event_id = race(&app).await;
    let hash = sha(BOARD);
    let variables = json!({ "id": event_id });
    let unknown = post(
        &app,
        json!({ "variables": variables, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{unknown}"
    );
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    let mismatch = post(
        &app,
        json!({ "query": BOARD, "variables": variables, "extensions": persisted(&sha("{ x }")) }),
    )
    .await;
    assert_eq!(
        mismatch["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_HASH_MISMATCH"
    );
    let registered = post(
        &app,
        json!({ "query": BOARD, "variables": variables, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(
        registered["data"]["leaderboard"]["edges"][0]["node"]["bib"],
        "1"
    );
    let by_hash = post(
        &app,
        json!({ "variables": variables, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(by_hash["data"], registered["data"]);
    let (status, _, body) = get(
        &app,
        &[
            ("variables", variables.to_string()),
            ("extensions", persisted(&hash).to_string()),
        ],
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let over_get: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(over_get["data"], registered["data"]);
    // A persisted mutation stays a mutation: GET refuses it like a written one.
    let mutation = r#"mutation { createVenue(name: "Hall 9") { id } }"#;
    let mutation_hash = sha(mutation);
    let stored = post(
        &app,
        json!({ "query": mutation, "extensions": persisted(&mutation_hash) }),
    )
    .await;
    assert!(
        stored["errors"].is_array(),
        "anonymous may not create venues"
    );
    let (status, headers, _) = get(
        &app,
        &[("extensions", persisted(&mutation_hash).to_string())],
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
}

#[tokio::test]
async fn anonymous_get_answers_are_public_and_revalidate_with_304_until_the_event_moves() {
    let app = TestApp::spawn().await;
    let event_id = race(&app).await;
    let params = [
        ("query", BOARD.to_owned()),
        ("variables", json!({ "id": event_id }).to_string()),
    ];
    let (status, headers, body) = get(&app, &params, None, None).await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=1");
    assert!(headers[header::VARY]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    let (status, again, empty) = get(&app, &params, None, Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(empty.is_empty());
    assert_eq!(again[header::ETAG].to_str().unwrap(), etag);
    // A read moves the event: the old tag no longer matches.
    app.ingest_json(&event_id, json!([read("1", "START", 5)]))
        .await;
    let (status, moved, newer) = get(&app, &params, None, Some(&etag)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(moved[header::ETAG].to_str().unwrap(), etag);
    assert_ne!(newer, body);
    // With a token the answer is the caller's alone: never public.
    let (status, private, _) = get(&app, &params, Some(&app.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(private[header::CACHE_CONTROL], "private, no-cache");
    // Errors are never cached.
    let (_, failed, _) = get(&app, &[("query", "{ nope }".to_owned())], None, None).await;
    assert!(failed.get(header::ETAG).is_none());
    assert!(failed.get(header::CACHE_CONTROL).is_none());
}

/// Apollo Client's persisted-queries link (npm `@apollo/client`) against a real socket.
#[tokio::test]
async fn apollo_clients_persisted_queries_link_works_against_podium() {
    let app = TestApp::spawn().await;
    let event_id = race(&app).await;
    let addr = crate::helpers::serve(&app).await;
    let url = format!("http://{addr}/graphql");
    let stdout = crate::helpers::run_js("apollo-persisted.mjs", &[url, event_id]).await;
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    for answer in report["answers"].as_array().unwrap() {
        assert_eq!(
            answer["leaderboard"]["edges"][0]["node"]["bib"], "1",
            "{report}"
        );
    }
    let requests = report["requests"].as_array().unwrap();
    // Hash only (unknown) → the text once → the hash alone.
    assert_eq!(requests.len(), 3, "{report:#}");
    assert_eq!(requests[0]["method"], "GET");
    assert!(
        requests[0]["body"]
            .as_str()
            .unwrap()
            .contains("PERSISTED_QUERY_NOT_FOUND"),
        "{report:#}"
    );
    assert_eq!(requests[1]["sentQuery"], true);
    assert_eq!(requests[2]["method"], "GET");
    assert_eq!(requests[2]["sentQuery"], false);
    assert_eq!(requests[2]["status"], 200);
}

/// A parsed and validated document is reused only with the same operation and variables:
/// other variables are validated again (a wrong type is still refused after a good one).
#[tokio::test]
async fn a_cached_document_is_validated_again_for_other_variables() {
    let app = TestApp::spawn().await;
    race(&app).await;
    let query = "query($n: Int!) { events(first: $n) { id } }";
    for _ in 0..2 {
        let good = post(&app, json!({ "query": query, "variables": { "n": 3 } })).await;
        assert!(good["data"]["events"].is_array(), "{good}");
    }
    let wrong = post(
        &app,
        json!({ "query": query, "variables": { "n": "three" } }),
    )
    .await;
    assert!(wrong["errors"].is_array(), "{wrong}");
    assert!(wrong["data"].is_null(), "{wrong}");
    let missing = post(&app, json!({ "query": query })).await;
    assert!(missing["errors"].is_array(), "{missing}");
    let again = post(&app, json!({ "query": query, "variables": { "n": 3 } })).await;
    assert!(again["data"]["events"].is_array(), "{again}");
}
