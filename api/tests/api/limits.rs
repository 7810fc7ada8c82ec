//! Rate limits: GraphQL requests charged by computed cost, per caller and tier, with
//! `RateLimit` headers and 429 `RATE_LIMITED`; WebSocket caps; budgets shared through Redis
//! so two instances do not double a caller's quota, and a local fallback when Redis is gone.

use crate::helpers::TestApp;
use crate::scale_out::{free_port, start_redis};
use crate::websocket::{connect, init, receive, send, serve};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use podium_api::auth::Role;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// POST /graphql as `token` (or anonymous) from `peer`: status, headers, body.
async fn query(
    app: &TestApp,
    token: Option<&str>,
    peer: [u8; 4],
    query: &str,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let mut request = request
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    let (status, headers, body) = app.request(request).await;
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// `r` of the `RateLimit` header.
fn remaining(headers: &HeaderMap) -> i64 {
    let value = headers["ratelimit"].to_str().unwrap();
    let r = value.split(';').find_map(|p| p.strip_prefix("r=")).unwrap();
    r.parse().unwrap()
}

const CHEAP: &str = "{ __typename }";
const LIST: &str = "{ events(first: 10) { id name status } }";

#[tokio::test]
async fn graphql_requests_pay_their_complexity_until_refused_with_429() {
    let app = TestApp::spawn_with(|s| s.rate_limit_anonymous = 200).await;
    let here = [10, 0, 0, 1];
    let (status, headers, _) = query(&app, None, here, CHEAP).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["ratelimit-policy"], "\"anonymous\";q=200;w=60");
    assert_eq!(remaining(&headers), 199, "a trivial query costs 1");
    let (_, headers, _) = query(&app, None, here, LIST).await;
    let cost = 199 - remaining(&headers);
    assert!(cost > 10, "a list of ten costs more than one field: {cost}");

    let mut refused = None;
    for _ in 0..50 {
        let (status, headers, body) = query(&app, None, here, LIST).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((headers, body));
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (headers, body) = refused.expect("the budget runs out");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    assert!(body["data"].is_null(), "nothing ran: {body}");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert!(remaining(&headers) < cost);
    // What is left still pays for a cheap query; another address has its own budget.
    let (status, _, _) = query(&app, None, here, CHEAP).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, _) = query(&app, None, [10, 0, 0, 2], LIST).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(remaining(&headers), 200 - cost);
}

#[tokio::test]
async fn token_holders_are_limited_by_subject_in_their_tier() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit_anonymous = 5;
        s.rate_limit_free = 300;
    })
    .await;
    let athlete = app.token(Role::Athlete, vec![]);
    let (status, headers, _) = query(&app, Some(&athlete), [10, 0, 0, 1], CHEAP).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["ratelimit-policy"], "\"free\";q=300;w=60");
    // The same subject from another address spends the same budget.
    let (_, headers, _) = query(&app, Some(&athlete), [10, 0, 0, 9], CHEAP).await;
    assert_eq!(remaining(&headers), 298);
    let (_, headers, _) = query(&app, Some(&app.admin), [10, 0, 0, 1], CHEAP).await;
    assert!(headers["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with("\"enterprise\""));
}

#[tokio::test]
async fn ingest_is_charged_per_hundred_rows() {
    let app = TestApp::spawn_with(|s| s.rate_limit_pro = 3).await;
    let venue = app.create_venue("Hall").await;
    let event = app.create_event(Some(&venue)).await;
    let operator = app.token(Role::VenueOperator, vec![venue.parse().unwrap()]);
    let rows: Vec<Value> = (0..150)
        .map(|i| json!({ "bib": "1", "timingPoint": "START", "timestamp": "2026-03-14T09:00:00Z", "readId": format!("r{i}") }))
        .collect();
    let post = || {
        Request::post(format!("/v1/events/{event}/detections"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {operator}"))
            .body(Body::from(json!(rows).to_string()))
            .unwrap()
    };
    let (status, headers, _) = app.request(post()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(remaining(&headers), 1, "150 rows cost 2");
    let (status, headers, body) = app.request(post()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert!(headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn websocket_callers_are_capped_in_subscriptions_and_messages() {
    let app = TestApp::spawn_with(|s| {
        s.ws_max_subscriptions_anonymous = 2;
        s.ws_messages_per_sec_anonymous = 5;
    })
    .await;
    let event = app.create_event(None).await;
    let url = serve(&app).await;
    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    let subscribe = |id: &str| {
        json!({ "id": id, "type": "subscribe", "payload": {
            "query": "subscription($e: ID!) { leaderboardUpdates(eventId: $e) { seq } }",
            "variables": { "e": event } } })
    };
    for id in ["a", "b"] {
        send(&mut ws, subscribe(id)).await;
        assert_eq!(receive(&mut ws).await.unwrap()["type"], "next");
    }
    send(&mut ws, subscribe("c")).await;
    let refused = receive(&mut ws).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "c");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    // Completing one frees its place (the caller's count is per instance, across sockets).
    tokio::time::sleep(Duration::from_millis(250)).await;
    send(&mut ws, json!({ "id": "a", "type": "complete" })).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    send(&mut ws, subscribe("d")).await;
    assert_eq!(receive(&mut ws).await.unwrap()["type"], "next");

    let mut chatty = connect(&url, "graphql-transport-ws").await;
    init(&mut chatty, json!({})).await;
    for _ in 0..10 {
        send(&mut chatty, json!({ "type": "ping" })).await;
    }
    let mut closed = None;
    for _ in 0..11 {
        match receive(&mut chatty).await {
            Ok(frame) => assert_eq!(frame["type"], "pong"),
            Err(code) => {
                closed = Some(code);
                break;
            }
        }
    }
    assert_eq!(closed, Some(4429));
}

/// Two instances sharing a throwaway Redis: a caller's budget is one budget. Then Redis dies:
/// each instance falls back to its own limits (still serving) and says so in `/readyz`.
#[tokio::test]
async fn instances_share_budgets_through_redis_and_fall_back_when_it_dies() {
    let port = free_port();
    let mut redis = start_redis(port);
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let configure = |s: &mut podium_api::config::Settings| {
        s.redis_url = Some(url.clone().into());
        s.rate_limit_anonymous = 40;
    };
    let a = TestApp::spawn_with(configure).await;
    let b = TestApp::spawn_with(configure).await;
    let here = [10, 9, 9, 9];
    let mut allowed = 0;
    for i in 0..80 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (status, _, _) = query(app, None, here, CHEAP).await;
        if status == StatusCode::OK {
            allowed += 1;
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    // 40 per minute; a request or two may refill while the loop runs, never a second 40.
    assert!((40..=43).contains(&allowed), "allowed {allowed} of 80");
    let ready = readyz(&a).await;
    assert_eq!(ready["rate_limits"], "shared", "{ready}");

    redis.kill().await.unwrap();
    let (status, headers, _) = query(&a, None, here, CHEAP).await;
    assert_eq!(status, StatusCode::OK, "local budgets take over");
    assert_eq!(remaining(&headers), 39);
    let ready = readyz(&a).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["rate_limits"]["status"], "local_fallback", "{ready}");

    // Back: sharing resumes without waiting for traffic.
    let _redis = start_redis(port);
    let mut shared = false;
    for _ in 0..100 {
        if readyz(&a).await["rate_limits"] == "shared" {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shared, "{}", readyz(&a).await);
}

async fn readyz(app: &TestApp) -> Value {
    let (_, _, body) = app
        .request(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    serde_json::from_slice(&body).unwrap()
}

/// Behind trusted proxies the caller is the address the outermost proxy appended to
/// `X-Forwarded-For`; without them the header is the client's own claim and ignored.
#[tokio::test]
async fn behind_trusted_proxies_callers_are_told_apart_by_forwarded_for() {
    async fn remaining_for(app: &TestApp, forwarded: &str) -> i64 {
        let mut request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-forwarded-for", forwarded)
            .body(Body::from(json!({ "query": CHEAP }).to_string()))
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 254], 40_000))));
        let (status, headers, _) = app.request(request).await;
        assert_eq!(status, StatusCode::OK);
        remaining(&headers)
    }
    let behind = TestApp::spawn_with(|s| {
        s.rate_limit_anonymous = 100;
        s.forwarded_for_hops = 1;
    })
    .await;
    assert_eq!(remaining_for(&behind, "203.0.113.7").await, 99);
    assert_eq!(remaining_for(&behind, "203.0.113.7").await, 98);
    // A client cannot pose as someone else by prepending addresses.
    assert_eq!(
        remaining_for(&behind, "198.51.100.1, 203.0.113.7").await,
        97
    );
    assert_eq!(remaining_for(&behind, "203.0.113.8").await, 99);

    let direct = TestApp::spawn_with(|s| s.rate_limit_anonymous = 100).await;
    assert_eq!(remaining_for(&direct, "203.0.113.7").await, 99);
    assert_eq!(
        remaining_for(&direct, "203.0.113.8").await,
        98,
        "the header is ignored"
    );
}

/// The documented rule, figure by figure: one per field, a paginated field times its `first`,
/// an unpaginated list times 20 (a list of scalars costs its size). The limit is set low so
/// each query is refused with its exact cost.
#[tokio::test]
async fn a_query_costs_what_the_documented_rule_says() {
    let app = TestApp::spawn_with(|s| s.graphql_max_complexity = 50).await;
    let event = app.create_event(None).await;
    let here = [10, 0, 0, 9];
    let cost_of = |body: &Value| -> u64 {
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        message
            .strip_prefix("query costs ")
            .and_then(|m| m.split(';').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{message}"))
    };
    let nested = |first: u64| {
        format!(
            "{{ events(first: {first}) {{ waves {{ id startsAt entryCount }} course {{ timingPoints segments {{ code fromPoint toPoint minMs maxMs }} }} }} }}"
        )
    };
    // Per event: waves 1 + 20 × 3, course 1 + timingPoints 20 + segments (1 + 20 × 5).
    let per_event = (1 + 20 * 3) + (1 + 20 + (1 + 20 * 5));
    for first in [50, 500] {
        let (_, _, body) = query(&app, None, here, &nested(first)).await;
        assert_eq!(
            cost_of(&body),
            1 + first * per_event,
            "events(first: {first})"
        );
    }
    // A page counts its rows once: 1 + 20 × (totalCount 1 + edges (1 + node (1 + 2))).
    let page = format!(
        "{{ leaderboard(eventId: \"{event}\", first: 20) {{ totalCount edges {{ node {{ bib rank }} }} }} }}"
    );
    let (_, _, body) = query(&app, None, here, &page).await;
    assert_eq!(cost_of(&body), 1 + 20 * (1 + (1 + (1 + 2))));
    // Without `first`, the field's default page size (events: 50).
    let (_, _, body) = query(&app, None, here, "{ events { id } }").await;
    assert_eq!(cost_of(&body), 1 + 50);
    let (status, _, body) = query(&app, None, here, "{ __typename }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
