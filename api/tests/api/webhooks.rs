//! Webhooks end to end: an endpoint served on a free port receives lifecycle messages signed
//! after Standard Webhooks; failures are retried with the same `webhook-id`, then given up.

use crate::helpers::{read, TestApp};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use podium_api::auth::Role;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer of a receiver.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    /// Waits this long before answering.
    pub delay: Duration,
    pub body: String,
}

impl Answer {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            delay: Duration::ZERO,
            body: String::new(),
        }
    }

    pub(crate) fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }

    pub(crate) fn slow(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub(crate) fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

/// A request as a receiver saw it, and when.
pub(crate) type Seen = (HeaderMap, String, std::time::Instant);

/// A receiver answering with the queued answers (then 204), recording every request.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    pub(crate) async fn start(statuses: &[u16]) -> (Self, String) {
        Self::scripted(statuses.iter().map(|&s| Answer::status(s)).collect()).await
    }

    pub(crate) async fn scripted(answers: Vec<Answer>) -> (Self, String) {
        let receiver = Receiver::default();
        receiver.answers.lock().unwrap().extend(answers);
        let r = receiver.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let r = r.clone();
                async move {
                    r.seen
                        .lock()
                        .unwrap()
                        .push((headers, body, std::time::Instant::now()));
                    let answer = r
                        .answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or(Answer::status(204));
                    tokio::time::sleep(answer.delay).await;
                    let mut response =
                        axum::response::Response::new(axum::body::Body::from(answer.body.clone()));
                    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap();
                    if let Some(value) = &answer.retry_after {
                        response
                            .headers_mut()
                            .insert("retry-after", value.parse().unwrap());
                    }
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    pub(crate) fn seen(&self) -> Vec<(HeaderMap, String)> {
        self.arrivals()
            .into_iter()
            .map(|(h, b, _)| (h, b))
            .collect()
    }

    pub(crate) fn arrivals(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, String)> {
        for _ in 0..200 {
            if self.seen().len() >= n {
                return self.seen();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} requests, got {}", self.seen().len());
    }
}

/// Verifies a request like a Standard Webhooks library would.
fn verify(secret: &str, headers: &HeaderMap, body: &str) {
    let id = headers["webhook-id"].to_str().unwrap();
    let timestamp: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let signatures = headers["webhook-signature"].to_str().unwrap();
    assert!(
        signatures.split(' ').any(|s| s == expected),
        "{signatures} != {expected}"
    );
}

/// Quick retries, and secrets sealed at rest (deliveries must open them to sign).
pub(crate) async fn fast_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.webhook_poll_ms = 50;
        s.webhook_retry_base_ms = 10;
        s.secrets_key = Some(
            base64::engine::general_purpose::STANDARD
                .encode([7u8; 32])
                .into(),
        );
    })
    .await
}

async fn venue(app: &TestApp) -> String {
    app.create_venue("Hall").await
}

pub(crate) const CREATE: &str = "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url topics venueId } } }";

pub(crate) async fn set_status(app: &TestApp, event: &str, status: &str) {
    app.gql(
        "mutation($e: ID!, $s: EventStatus!) { setEventStatus(eventId: $e, status: $s) { status } }",
        json!({ "e": event, "s": status }),
    )
    .await;
}

#[tokio::test]
async fn an_endpoint_receives_its_venues_messages_signed() {
    let app = fast_app().await;
    let (here, elsewhere) = (venue(&app).await, venue(&app).await);
    let operator = app.token(Role::VenueOperator, vec![here.parse().unwrap()]);
    let (receiver, url) = Receiver::start(&[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&operator),
            CREATE,
            json!({ "input": { "url": url, "topics": ["event.provisional", "event.official"], "venueId": here } }),
        )
        .await;
    let created = &body["data"]["createWebhook"];
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let stored = app.state.webhooks.webhooks().await.unwrap();
    assert!(
        stored[0].secret.starts_with("sealed:v1:"),
        "stored sealed, not in clear"
    );
    assert_eq!(
        created["webhook"]["topics"],
        json!(["event.provisional", "event.official"])
    );
    // Another venue's endpoint must not hear about this venue's event.
    let (other, other_url) = Receiver::start(&[]).await;
    app.gql(
        CREATE,
        json!({ "input": { "url": other_url, "venueId": elsewhere } }),
    )
    .await;

    let event = app.create_event(Some(&here)).await;
    for status in ["LIVE", "PROVISIONAL", "OFFICIAL"] {
        set_status(&app, &event, status).await;
    }
    let requests = receiver.wait_for(2).await;
    let mut types = Vec::new();
    for (headers, body) in &requests {
        verify(&secret, headers, body);
        assert_eq!(headers["content-type"], "application/json");
        assert!(headers["webhook-id"].to_str().unwrap().starts_with("msg_"));
        let message: Value = serde_json::from_str(body).unwrap();
        assert_eq!(message["data"]["eventId"], json!(event), "{message}");
        assert!(message["timestamp"].is_string());
        types.push(message["type"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(
        types,
        ["event.official", "event.provisional"],
        "event.live is not subscribed"
    );
    // And as the Standard Webhooks reference library sees them.
    crate::webhook_consumer::assert_verified(&secret, &requests).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen().len(), 2, "each message once");
    assert!(other.seen().is_empty());
}

#[tokio::test]
async fn failures_are_retried_with_the_same_id_then_given_up() {
    let app = TestApp::spawn_with(|s| {
        s.webhook_poll_ms = 50;
        s.webhook_retry_base_ms = 10;
        s.webhook_max_attempts = 3;
    })
    .await;
    let (flaky, flaky_url) = Receiver::start(&[500, 503]).await;
    let (down, down_url) = Receiver::start(&[500, 500, 500, 500]).await;
    let mut ids = Vec::new();
    for url in [&flaky_url, &down_url] {
        let data = app
            .gql(
                CREATE,
                json!({ "input": { "url": url, "topics": ["event.live"] } }),
            )
            .await;
        ids.push(
            data["createWebhook"]["webhook"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;

    let attempts = flaky.wait_for(3).await;
    let first_id = attempts[0].0["webhook-id"].clone();
    assert!(attempts.iter().all(|(h, _)| h["webhook-id"] == first_id));
    down.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(down.seen().len(), 3, "given up after webhook_max_attempts");

    let deliveries = |id: String| {
        let app = &app;
        async move {
            app.gql(
                "query($w: ID!) { webhookDeliveries(webhookId: $w) { messageId topic attemptCount deliveredAt failedAt lastError nextAttemptAt } }",
                json!({ "w": id }),
            )
            .await["webhookDeliveries"][0]
                .clone()
        }
    };
    let delivered = deliveries(ids[0].clone()).await;
    assert_eq!(delivered["attemptCount"], 3);
    assert!(delivered["deliveredAt"].is_string(), "{delivered}");
    assert_eq!(delivered["messageId"], first_id.to_str().unwrap());
    let failed = deliveries(ids[1].clone()).await;
    assert_eq!(failed["attemptCount"], 3);
    assert!(failed["failedAt"].is_string(), "{failed}");
    assert_eq!(failed["lastError"], "HTTP 500");
    assert!(failed["nextAttemptAt"].is_null());
}

#[tokio::test]
async fn endpoints_are_checked_and_scoped_to_their_venue() {
    let app = fast_app().await;
    let (here, elsewhere) = (venue(&app).await, venue(&app).await);
    let operator = app.token(Role::VenueOperator, vec![here.parse().unwrap()]);
    let cases = [
        (
            json!({ "url": "ftp://example.com/x", "venueId": here }),
            "BAD_USER_INPUT",
            "http(s)",
        ),
        (
            json!({ "url": "https://example.com/x", "topics": ["event.exploded"], "venueId": here }),
            "BAD_USER_INPUT",
            "event.exploded",
        ),
        (
            json!({ "url": "https://example.com/x", "venueId": elsewhere }),
            "FORBIDDEN",
            "venue",
        ),
        (
            json!({ "url": "https://example.com/x" }),
            "FORBIDDEN",
            "admins",
        ),
    ];
    for (input, code, names) in cases {
        let (_, body) = app
            .graphql_as(Some(&operator), CREATE, json!({ "input": input }))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], code,
            "{input}: {body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(names),
            "{body}"
        );
    }
    let production = TestApp::spawn_with(|s| {
        s.mode = podium_api::config::Mode::Production;
        s.dev_tokens = Some(true);
    })
    .await;
    let (_, body) = production
        .graphql_as(
            Some(&production.admin),
            CREATE,
            json!({ "input": { "url": "https://169.254.169.254/latest/meta-data" } }),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("private network"),
        "{body}"
    );

    // The operator sees and deletes only their venue's endpoints.
    app.gql(
        CREATE,
        json!({ "input": { "url": "https://example.com/a", "venueId": elsewhere } }),
    )
    .await;
    let (_, body) = app
        .graphql_as(
            Some(&operator),
            CREATE,
            json!({ "input": { "url": "https://example.com/b", "venueId": here } }),
        )
        .await;
    let mine = body["data"]["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, listed) = app
        .graphql_as(Some(&operator), "{ webhooks { id url } }", json!({}))
        .await;
    assert_eq!(
        listed["data"]["webhooks"],
        json!([{ "id": mine, "url": "https://example.com/b" }])
    );
    let theirs = app.gql("{ webhooks { id venueId } }", json!({})).await["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["venueId"] == json!(elsewhere))
        .unwrap()["id"]
        .clone();
    let (_, body) = app
        .graphql_as(
            Some(&operator),
            "mutation($id: ID!) { deleteWebhook(id: $id) }",
            json!({ "id": theirs }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let (_, body) = app
        .graphql_as(
            Some(&operator),
            "mutation($id: ID!) { deleteWebhook(id: $id) }",
            json!({ "id": mine }),
        )
        .await;
    assert_eq!(body["data"]["deleteWebhook"], true);
}

/// A result line of the public format: `name` racing `event` on `day` in `total` seconds.
fn result_line(event: &str, day: &str, bib: &str, name: &str, total: f64) -> String {
    let runs: Vec<String> = (1..=8)
        .map(|n| format!("\"0{n}_Running {n}\": 240.0"))
        .collect();
    json!({
        "event_occurrence": event, "start_number": bib, "name": name,
        "division": "regular", "category": "men", "age_group": "30",
        "start_time": format!("{day} 10:00:00"), "total_time": total, "place": 1,
        "splits": serde_json::from_str::<Value>(&format!("{{{}}}", runs.join(","))).unwrap(),
    })
    .to_string()
}

#[tokio::test]
async fn an_official_result_that_is_a_personal_best_is_told_to_subscribers() {
    let app = fast_app().await;
    let (receiver, url) = Receiver::start(&[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&app.token(Role::Admin, vec![])),
            CREATE,
            json!({ "input": { "url": url, "topics": ["athlete.personal_best"] } }),
        )
        .await;
    let secret = body["data"]["createWebhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // Anna: 3700 s, then 3600 s (a best), 3650 s (not), 3600 s (equal: not). Ben: one race.
    let lines = [
        result_line("Spring", "2025-03-01", "1", "Berg, Anna (SWE)", 3700.0),
        result_line("Summer", "2025-06-01", "1", "Berg, Anna (SWE)", 3600.0),
        result_line("Summer", "2025-06-01", "2", "Hof, Ben (GER)", 4000.0),
        result_line("Autumn", "2025-09-01", "7", "Anna Berg (SWE)", 3650.0),
        result_line("Winter", "2025-12-01", "9", "BERG, Anna (SWE)", 3600.0),
    ];
    let admin = app.token(Role::Admin, vec![]);
    let request = axum::http::Request::post("/v1/import/results?source=bests.jsonl")
        .header("content-type", "application/x-ndjson")
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::from(lines.join("\n")))
        .unwrap();
    let (status, _, report) = app.request(request).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&report)
    );

    let requests = receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut told = Vec::new();
    for (headers, body) in &receiver.seen() {
        verify(&secret, headers, body);
        let message: Value = serde_json::from_str(body).unwrap();
        assert_eq!(message["type"], "athlete.personal_best");
        let data = &message["data"];
        told.push((
            data["bib"].as_str().unwrap().to_owned(),
            data["netTimeMs"].as_i64().unwrap(),
            data["previousBestMs"].as_i64(),
        ));
    }
    told.sort();
    assert_eq!(
        told,
        [
            ("1".to_owned(), 3_600_000, Some(3_700_000)),
            ("1".to_owned(), 3_700_000, None),
            ("2".to_owned(), 4_000_000, None),
        ],
        "{} requests",
        requests.len()
    );

    // The same answer from the results and the athlete's profile.
    let pb = |event: &str, bib: &str| {
        let (event, bib) = (event.to_owned(), bib.to_owned());
        let app = &app;
        async move {
            let events = app.gql("{ events { id name } }", json!({})).await;
            let id = events["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == event.as_str())
                .unwrap()["id"]
                .clone();
            app.gql(
                "query($id: ID!, $bib: String!) { result(eventId: $id, bib: $bib) { personalBest athlete { id } } }",
                json!({ "id": id, "bib": bib }),
            )
            .await["result"]
                .clone()
        }
    };
    let mut anna = None;
    for (event, bib, expected) in [
        ("Spring", "1", true),
        ("Summer", "1", true),
        ("Summer", "2", true),
        ("Autumn", "7", false),
        ("Winter", "9", false),
    ] {
        let result = pb(event, bib).await;
        assert_eq!(result["personalBest"], expected, "{event} {bib}: {result}");
        if bib != "2" {
            let id = result["athlete"]["id"].clone();
            assert!(anna.as_ref().is_none_or(|a| *a == id), "one Anna");
            anna = Some(id);
        }
    }
    let profile = app
        .gql(
            "query($id: ID!) { athlete(id: $id) { bestNetTimeMs personalBests { segment durationMs bib } } }",
            json!({ "id": anna.unwrap() }),
        )
        .await;
    assert_eq!(profile["athlete"]["bestNetTimeMs"], 3_600_000, "{profile}");
    // Only run 1 is measured (the stations are not published, so nothing after it can be
    // placed): first run in 240 s, in Spring.
    assert_eq!(
        profile["athlete"]["personalBests"],
        json!([{ "segment": "RUN_1", "durationMs": 240_000, "bib": "1" }])
    );
}

#[tokio::test]
async fn an_event_made_official_tells_that_its_statistics_are_final() {
    let app = fast_app().await;
    let here = venue(&app).await;
    let (receiver, url) = Receiver::start(&[]).await;
    let (_, body) = app
        .graphql_as(
            Some(&app.token(Role::Admin, vec![])),
            CREATE,
            json!({ "input": { "url": url, "topics": ["event.analytics_ready"], "venueId": here } }),
        )
        .await;
    let secret = body["data"]["createWebhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = app.create_event(Some(&here)).await;
    app.add_entries(
        &event,
        &[
            ("1", "OPEN", "MEN", 1990),
            ("2", "OPEN", "MEN", 1991),
            ("3", "PRO", "WOMEN", 1992),
        ],
    )
    .await;
    let finish = |bib: &str, s: i64| [read(bib, "START", 0), read(bib, "FINISH", s)];
    let reads: Vec<Value> = finish("1", 3600)
        .into_iter()
        .chain(finish("3", 3900))
        .collect();
    app.ingest_json(&event, Value::Array(reads)).await;
    for status in ["PROVISIONAL", "OFFICIAL"] {
        set_status(&app, &event, status).await;
    }
    let requests = receiver.wait_for(1).await;
    let (headers, body) = &requests[0];
    verify(&secret, headers, body);
    let message: Value = serde_json::from_str(body).unwrap();
    assert_eq!(message["type"], "event.analytics_ready", "{message}");
    let data = &message["data"];
    assert_eq!(data["eventId"], json!(event));
    assert_eq!(
        data["divisions"],
        json!([
            { "category": "OPEN", "gender": "MEN", "entries": 2, "finishers": 1 },
            { "category": "PRO", "gender": "WOMEN", "entries": 1, "finishers": 1 },
        ])
    );
    assert_eq!(
        data["links"]["statsCsv"],
        format!("/v1/events/{event}/stats.csv")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.seen().len(), 1, "told once");
}
