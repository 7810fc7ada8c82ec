//! `podium backup` / `podium restore` on the configured backend (SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`): a finished event with a correction, flags, a webhook and an API
//! client, backed up while the application runs, restored into a new database, reads the
//! same — byte-identical exports, the same leaderboard, flags, webhooks and keys — and the
//! old server's tokens still verify.

use crate::helpers::{read, TestApp};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use podium_persistence::backup;
use serde_json::{json, Value};

fn secrets_key() -> String {
    base64::engine::general_purpose::STANDARD.encode([9u8; 32])
}

async fn app_on(database_url: Option<String>) -> TestApp {
    TestApp::spawn_with(|s| {
        s.secrets_key = Some(secrets_key().into());
        if let Some(url) = database_url {
            s.database_url = Some(url.into());
        }
    })
    .await
}

async fn ok(app: &TestApp, query: &str, variables: Value) -> Value {
    let (status, body) = app.graphql_as(Some(&app.admin), query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// A finished, official event: bib 2 wins, bib 1 is second with a penalty, bib 3's run read
/// is impossibly fast (set aside, flagged); a webhook and an API client are registered.
/// Returns the event and the API client's access token.
async fn finished_event(app: &TestApp) -> (String, String) {
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[
            ("1", "OPEN", "MEN", 1990),
            ("2", "OPEN", "WOMEN", 1991),
            ("3", "OPEN", "MEN", 1985),
        ],
    )
    .await;
    app.ingest_json(
        &event,
        json!([
            read("1", "START", 0),
            read("2", "START", 0),
            read("3", "START", 0),
            read("3", "RUN1", 20),
            read("1", "FINISH", 5_025),
            read("2", "FINISH", 4_800),
            read("3", "FINISH", 5_400),
        ]),
    )
    .await;
    ok(
        app,
        "mutation($input: CorrectionInput!) { applyCorrection(input: $input) { id } }",
        json!({ "input": { "eventId": event, "bib": "1", "kind": "TIME_PENALTY", "penaltyMs": 60_000, "reason": "no-rep" } }),
    )
    .await;
    ok(
        app,
        "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret } }",
        json!({ "input": { "url": "https://results.example.org/hook", "topics": ["event.official"] } }),
    )
    .await;
    for status in ["PROVISIONAL", "OFFICIAL"] {
        ok(
            app,
            "mutation($e: ID!, $s: EventStatus!) { setEventStatus(eventId: $e, status: $s) { status } }",
            json!({ "e": event, "s": status }),
        )
        .await;
    }
    let client = ok(
        app,
        "mutation($input: RegisterApiClientInput!) { registerApiClient(input: $input) { clientSecret client { clientId } } }",
        json!({ "input": { "name": "Results partner", "scopes": ["results:read"], "tier": "PRO" } }),
    )
    .await;
    let id = client["registerApiClient"]["client"]["clientId"]
        .as_str()
        .unwrap();
    let secret = client["registerApiClient"]["clientSecret"]
        .as_str()
        .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let (status, _, body) = app
        .request(
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::from("grant_type=client_credentials"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let token: Value = serde_json::from_slice(&body).unwrap();
    (event, token["access_token"].as_str().unwrap().to_owned())
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, _, body) = app.request(request.body(Body::empty()).unwrap()).await;
    (status, String::from_utf8(body).unwrap())
}

/// Everything a restore must give back, as text.
async fn snapshot(app: &TestApp, event: &str) -> Vec<String> {
    let mut out = Vec::new();
    for format in ["csv", "json", "ndjson"] {
        let (status, body) = get(app, &format!("/v1/events/{event}/results.{format}"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        out.push(body);
    }
    let (_, keys) = get(app, "/.well-known/jwks.json", None).await;
    out.push(keys);
    let data = ok(
        app,
        r#"query($e: ID!) {
            event(id: $e) { status seq }
            leaderboard(eventId: $e, category: OPEN, gender: MEN, first: 10) { edges { node { bib rank status netTimeMs } } }
            flags(eventId: $e) { kind status timingPoint }
            webhooks { url topics }
            apiClients { clientId name scopes }
        }"#,
        json!({ "e": event }),
    )
    .await;
    out.push(data.to_string());
    out
}

#[tokio::test]
async fn a_restored_backup_reads_the_same_and_keeps_the_old_tokens_valid() {
    let app = app_on(None).await;
    let (event, token) = finished_event(&app).await;
    let before = snapshot(&app, &event).await;
    assert!(
        before[0].contains(",5085000,"),
        "the penalty shows: {}",
        before[0]
    );
    assert!(before[4].contains("SEGMENT_TOO_FAST"), "{}", before[4]);

    // Online: the application keeps its connections open while the copy is written.
    let dir = std::env::temp_dir().join(format!("podium-backup-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("podium.backup");
    let url = app.state.settings.effective_database_url();
    let written = backup::backup(&url, &file).await.unwrap();
    assert!(written.bytes > 0);
    // A backup never overwrites.
    let again = backup::backup(&url, &file).await.unwrap_err().to_string();
    assert!(again.contains("exists"), "{again}");

    let target = podium_persistence::testing::fresh_database_url()
        .await
        .unwrap();
    backup::restore(&file, &target).await.unwrap();
    // Restoring over a database that is in use is refused.
    let over = backup::restore(&file, &target)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        over.contains("exists") || over.contains("already holds"),
        "{over}"
    );

    let copy = app_on(Some(target)).await;
    let after = snapshot(&copy, &event).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }
    // The old server's token verifies on the restored one (its key came back, unsealed with
    // the same secrets_key).
    let (status, body) = get(
        &copy,
        &format!("/v1/events/{event}/results.csv"),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // (A token the copy cannot verify is refused there, so the line above means something.)
    let forged = format!("{}x", token);
    let (status, _) = get(
        &copy,
        &format!("/v1/events/{event}/results.csv"),
        Some(&forged),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_file_that_is_not_a_backup_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("podium-backup-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("notes.txt");
    std::fs::write(&file, "not a database").unwrap();
    let target = podium_persistence::testing::fresh_database_url()
        .await
        .unwrap();
    let error = backup::restore(&file, &target).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("notes.txt"), "{text}");
    let missing = backup::restore(&dir.join("nope"), &target)
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("no such backup file"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
