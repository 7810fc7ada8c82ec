//! GraphQL hardening, as the graphql-cop checks probe it: alias overloading, field duplication,
//! directive overloading, oversized and deep (circular introspection) queries, array batching,
//! non-JSON POST bodies (CSRF), GET mutations, tracing in responses, and introspection, field
//! suggestions and GraphiQL off in production.

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use podium_api::config::Mode;
use serde_json::{json, Value};

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn oversized_query_shapes_are_refused_before_they_run() {
    let app = TestApp::spawn().await;
    let aliases: String = (0..16).map(|i| format!("a{i}: __typename ")).collect();
    let (_, body) = app
        .graphql_as(None, &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("16 aliases"));
    let fifteen: String = (0..15).map(|i| format!("a{i}: __typename ")).collect();
    let (_, body) = app
        .graphql_as(None, &format!("{{ {fifteen} }}"), json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");

    let duplicated = "__typename ".repeat(501);
    let (_, body) = app
        .graphql_as(None, &format!("{{ {duplicated} }}"), json!({}))
        .await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");

    let huge = format!("{{ __typename }} # {}", "x".repeat(17 * 1024));
    let (_, body) = app.graphql_as(None, &huge, json!({})).await;
    assert_eq!(code(&body), "QUERY_TOO_LARGE", "{body}");

    let directives = "@skip(if: false) ".repeat(11);
    let (_, body) = app
        .graphql_as(None, &format!("{{ __typename {directives} }}"), json!({}))
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("directive"),
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");

    // Circular introspection, as graphql-cop sends it: within the depth limit, refused by the
    // introspection rule.
    let circular = "query { __schema { types { fields { type { fields { type { fields { type { fields { type { name } } } } } } } } } } }";
    for query in [
        circular,
        "{ __type(name: \"Query\") { fields { type { inputFields { type { interfaces { name } } } } } } }",
        "{ __schema { types { ...F } } } fragment F on __Type { fields { type { fields { type { fields { name } } } } } }",
    ] {
        let (_, body) = app.graphql_as(None, query, json!({})).await;
        assert_eq!(code(&body), "INTROSPECTION_TOO_DEEP", "{query}: {body}");
        assert!(body["data"].is_null(), "{body}");
    }
    let chain = format!(
        "{{ __type(name: \"Query\") {{ {} name {} }} }}",
        "ofType { ".repeat(13),
        "}".repeat(13)
    );
    let (_, body) = app.graphql_as(None, &chain, json!({})).await;
    assert_eq!(code(&body), "INTROSPECTION_TOO_DEEP", "{body}");
}

#[tokio::test]
async fn deep_queries_are_refused_and_standard_introspection_is_answered() {
    let app = TestApp::spawn_with(|s| s.graphql_max_depth = 2).await;
    let (_, body) = app
        .graphql_as(None, "{ events(first: 1) { course { code } } }", json!({}))
        .await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("nested too deep: 3 levels"),
        "{body}"
    );
    // graphql-js's introspection query with every option (descriptions, specifiedByUrl,
    // directive repeatability, schema description, deprecated input values) — what GraphiQL
    // and code generators send — is answered and rebuilds the schema, whatever the depth limit.
    let addr = crate::helpers::serve(&app).await;
    let types =
        crate::helpers::run_js("introspection.mjs", &[format!("http://{addr}/graphql")]).await;
    assert!(types.trim().parse::<u32>().unwrap() > 50, "{types}");
}

#[tokio::test]
async fn only_json_bodies_and_single_operations_are_taken_over_post() {
    let app = TestApp::spawn().await;
    for (content_type, body) in [
        (
            "application/x-www-form-urlencoded",
            "query=%7B__typename%7D",
        ),
        ("text/plain", r#"{"query":"{ __typename }"}"#),
        ("multipart/form-data; boundary=x", "--x--"),
    ] {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let (status, _, body) = app.request(request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    }
    // Array batching: one request, one operation.
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string(),
        ))
        .unwrap();
    let (status, _, _) = app.request(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Mutations over GET (CSRF through a link or an image).
    let request = Request::get("/graphql?query=mutation%20%7B%20__typename%20%7D")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = app.request(request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
    // No tracing or debug extensions in answers.
    let (_, body) = app.graphql_as(None, "{ __typename }", json!({})).await;
    assert!(body.get("extensions").is_none(), "{body}");
}

#[tokio::test]
async fn production_mode_turns_off_introspection_suggestions_and_graphiql() {
    let development = TestApp::spawn().await;
    let (_, body) = development
        .graphql_as(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
    let (_, body) = development
        .graphql_as(None, "{ evnts { id } }", json!({}))
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{body}"
    );

    let production = TestApp::spawn_with(|s| s.mode = Mode::Production).await;
    let (_, body) = production
        .graphql_as(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    // Introspection off: `__schema` resolves to nothing.
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let (_, body) = production
        .graphql_as(None, "{ evnts { id } }", json!({}))
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    let request = Request::get("/graphql")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = production.request(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The setting wins over the mode.
    let explicit = TestApp::spawn_with(|s| {
        s.mode = Mode::Production;
        s.graphql_introspection = Some(true);
    })
    .await;
    let (_, body) = explicit
        .graphql_as(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
}

/// A request that runs past `graphql_timeout_ms` is cancelled with 503 `TIMEOUT`.
#[tokio::test]
async fn a_request_past_the_timeout_is_cancelled() {
    let setup = TestApp::spawn().await;
    let event_id = setup.create_event(None).await;
    let entries: Vec<(String, i32)> = (1..=1000).map(|b| (b.to_string(), 1990)).collect();
    let rows: Vec<(&str, &str, &str, i32)> = entries
        .iter()
        .map(|(bib, year)| (bib.as_str(), "OPEN", "MEN", *year))
        .collect();
    setup.add_entries(&event_id, &rows).await;
    let shared = setup.state.settings.database_url.clone();
    let app = TestApp::spawn_with(|s| {
        s.database_url = shared;
        s.graphql_timeout_ms = 1;
    })
    .await;
    let (status, body) = app
        .graphql_as(
            None,
            "query($id: ID!) { leaderboard(eventId: $id, first: 500) { edges { node { bib } } } }",
            json!({ "id": event_id }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT");
    assert!(body["data"].is_null());
}

/// A 10 MB body is refused before it is read whole (413), on GraphQL and on ingest; a batch
/// above `max_batch` is refused whole, naming the limit.
#[tokio::test]
async fn ten_megabyte_bodies_and_oversized_batches_are_refused() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    let huge = format!(
        "{{\"query\":\"{{ events {{ id }} }}\",\"variables\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(10 * 1024 * 1024)
    );
    let request = axum::http::Request::post("/graphql")
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(huge.clone()))
        .unwrap();
    let (status, _, _) = app.request(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = app
        .post_detections(
            Some(&app.admin),
            &event,
            "application/json",
            huge.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");

    let rows: Vec<serde_json::Value> = (0..10_001)
        .map(|i| json!({ "bib": "1", "timingPoint": "START", "timestamp": "2026-03-14T09:00:00Z", "readId": i.to_string() }))
        .collect();
    let (status, body) = app
        .post_detections(
            Some(&app.admin),
            &event,
            "application/json",
            serde_json::to_vec(&rows).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("10000"),
        "{body}"
    );
}

/// The GraphQL-over-HTTP spec's reference audit (npm `graphql-http`): every MUST and SHOULD
/// (and the MAYs) pass on a real socket.
#[tokio::test]
async fn the_graphql_over_http_audit_passes() {
    let app = TestApp::spawn().await;
    let addr = crate::helpers::serve(&app).await;
    let out = crate::helpers::run_js(
        "graphql-http-audit.mjs",
        &[format!("http://{addr}/graphql")],
    )
    .await;
    let results: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(results.len() > 50, "{out}");
    let failed: Vec<&Value> = results.iter().filter(|r| r["status"] != "ok").collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test]
async fn answers_follow_the_accept_header() {
    let app = TestApp::spawn().await;
    let post = |accept: Option<&str>, query: &str| {
        let mut request =
            Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        request
            .body(Body::from(json!({ "query": query }).to_string()))
            .unwrap()
    };
    for accept in [None, Some("*/*"), Some("application/json")] {
        let (status, headers, _) = app.request(post(accept, "{ __typename }")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/json",
            "{accept:?}"
        );
        // A document that does not validate is still 200 with `data: null` for these clients.
        let (status, _, body) = app.request(post(accept, "{ nope }")).await;
        assert_eq!(status, StatusCode::OK);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            body["data"].is_null() && body["errors"].is_array(),
            "{body}"
        );
    }
    let newer = Some("application/graphql-response+json, application/json;q=0.9");
    let (status, headers, _) = app.request(post(newer, "{ __typename }")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/graphql-response+json"
    );
    for broken in ["{", "{ nope }"] {
        let (status, _, body) = app.request(post(newer, broken)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{broken}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(body.get("data").is_none(), "{body}");
        assert!(
            body["errors"][0]["extensions"]["code"].is_string(),
            "{body}"
        );
    }
}
