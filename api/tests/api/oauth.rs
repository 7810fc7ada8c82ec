//! podium as an authorization server: API clients, `POST /oauth/token` (client credentials),
//! `/.well-known/jwks.json`, key rotation, and the brute-force guard.

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use podium_api::auth::{Claims, Role, SigningKey};
use serde_json::{json, Value};

const REGISTER: &str = "mutation($input: RegisterApiClientInput!) { registerApiClient(input: $input) { clientSecret client { clientId scopes tier venueId } } }";

async fn create_venue(app: &TestApp) -> String {
    let data = app
        .gql(
            r#"mutation { createVenue(name: "Hall") { id } }"#,
            json!({}),
        )
        .await;
    data["createVenue"]["id"].as_str().unwrap().to_owned()
}

/// Registers a client; returns (client_id, secret).
async fn register(app: &TestApp, scopes: &[&str], venue: Option<&str>) -> (String, String) {
    let data = app
        .gql(
            REGISTER,
            json!({ "input": { "name": "Timing partner", "scopes": scopes, "tier": "PRO", "venueId": venue } }),
        )
        .await;
    let registered = &data["registerApiClient"];
    (
        registered["client"]["clientId"]
            .as_str()
            .unwrap()
            .to_owned(),
        registered["clientSecret"].as_str().unwrap().to_owned(),
    )
}

/// Ingests one START read of bib 1 into `event` with `token`: status and body.
async fn ingest_start(app: &TestApp, token: &str, event: &str) -> (StatusCode, Value) {
    let row = json!([{ "bib": "1", "timingPoint": "START", "timestamp": "2026-03-14T09:00:00Z" }]);
    app.post_detections(
        Some(token),
        event,
        "application/json",
        row.to_string().into(),
    )
    .await
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// POST /oauth/token with `form` and an optional Authorization header.
async fn token_request(
    app: &TestApp,
    authorization: Option<String>,
    form: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let (status, headers, body) = app
        .request(request.body(Body::from(form.to_owned())).unwrap())
        .await;
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (status, _, body) = token_request(
        app,
        Some(basic(id, secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn jwks(app: &TestApp) -> Value {
    let (status, _, body) = app
        .request(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).unwrap()
}

fn header_of(token: &str) -> Value {
    let first = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(first)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_client_gets_a_short_lived_token_with_its_scopes_bound_to_its_venue() {
    let app = TestApp::spawn().await;
    let venue = create_venue(&app).await;
    let (id, secret) = register(&app, &["results:read", "timing:write"], Some(&venue)).await;
    let (status, headers, body) = token_request(
        &app,
        Some(basic(&id, &secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "results:read timing:write");
    let token = body["access_token"].as_str().unwrap();
    let jwt_header = header_of(token);
    assert_eq!(jwt_header["alg"], "EdDSA");
    assert_eq!(jwt_header["typ"], "at+jwt");
    let keys = jwks(&app).await;
    assert!(keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == jwt_header["kid"] && k["kty"] == "OKP" && k.get("d").is_none()));

    // Ingest at its own venue; not at another; no admin operations.
    let mine = app.create_event(Some(&venue)).await;
    let other_venue = create_venue(&app).await;
    let theirs = app.create_event(Some(&other_venue)).await;
    let (status, body) = ingest_start(&app, token, &mine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = ingest_start(&app, token, &theirs).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, body) = app
        .graphql_as(
            Some(token),
            r#"mutation { createVenue(name: "x") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    // The form works too, and `scope` narrows the grant.
    let form = format!(
        "grant_type=client_credentials&client_id={id}&client_secret={}&scope=results%3Aread",
        secret
    );
    let (status, _, body) = token_request(&app, None, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "results:read");
    let narrowed = body["access_token"].as_str().unwrap();
    let (status, _) = ingest_start(&app, narrowed, &mine).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_token_requests_get_rfc_6749_errors() {
    let app = TestApp::spawn().await;
    let (id, secret) = register(&app, &["results:read"], None).await;
    let cases = [
        (
            Some(basic(&id, &secret)),
            "grant_type=password".to_owned(),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            Some(basic(&id, &secret)),
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some(basic(&id, &secret)),
            "grant_type=client_credentials&scope=timing%3Awrite".into(),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            Some(basic(&id, &secret)),
            "grant_type=client_credentials&scope=everything".into(),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            Some(basic(&id, &secret)),
            format!("grant_type=client_credentials&client_id={id}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(basic(&id, "wrong")),
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(basic("pc_nobody", &secret)),
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some("Bearer abc".into()),
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
    ];
    for (authorization, form, status, error) in cases {
        let (got, headers, body) = token_request(&app, authorization, &form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form}: {body}"
        );
        assert!(body["error_description"].is_string());
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(headers[header::WWW_AUTHENTICATE], "Basic realm=\"podium\"");
        }
    }
    let json_body = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, basic(&id, &secret))
        .body(Body::from(r#"{"grant_type":"client_credentials"}"#))
        .unwrap();
    let (status, _, _) = app.request(json_body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Revoked: no new tokens.
    app.gql(
        "mutation($id: String!) { revokeApiClient(clientId: $id) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    let (status, _, body) = token_request(
        &app,
        Some(basic(&id, &secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

#[tokio::test]
async fn guessing_secrets_is_cut_off_after_the_allowed_failures() {
    let app = TestApp::spawn_with(|s| s.oauth_failures_per_min = 3).await;
    let (id, secret) = register(&app, &["results:read"], None).await;
    for guess in 0..4 {
        let (status, _, _) = token_request(
            &app,
            Some(basic(&id, &format!("guess-{guess}"))),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Blocked now, even with the right secret, until the window frees a cell.
    let (status, headers, body) = token_request(
        &app,
        Some(basic(&id, &secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "slow_down");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

#[tokio::test]
async fn rotation_signs_with_a_new_key_and_keeps_old_tokens_valid() {
    let app = TestApp::spawn().await;
    let (id, secret) = register(&app, &["results:read", "timing:write"], None).await;
    let before = access_token(&app, &id, &secret).await;
    let rotated = app
        .gql("mutation { rotateSigningKey { kid algorithm } }", json!({}))
        .await;
    let new_kid = rotated["rotateSigningKey"]["kid"].as_str().unwrap();
    assert_ne!(header_of(&before)["kid"], new_kid);
    let after = access_token(&app, &id, &secret).await;
    assert_eq!(header_of(&after)["kid"], new_kid);
    assert_eq!(jwks(&app).await["keys"].as_array().unwrap().len(), 2);
    let event = app.create_event(None).await;
    for token in [&before, &after] {
        let (status, body) = ingest_start(&app, token, &event).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, body) = app
        .graphql_as(None, "mutation { rotateSigningKey { kid } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_key_another_instance_rotated_in_verifies_here() {
    let app = TestApp::spawn().await;
    // Another instance rotates: the new key is in the database, not yet in this one's memory.
    let key: SigningKey =
        podium_api::app::access::rotate(app.state.access.as_ref(), &app.state.sealer)
            .await
            .unwrap();
    let claims = Claims {
        scope: Some("timing:write".into()),
        ..podium_api::auth::dev_claims(Role::Integration, Some("pc_elsewhere".into()), vec![], None)
    };
    let token = key
        .sign(&app.state.auth.stamp(claims, chrono::Duration::minutes(5)))
        .unwrap();
    let event = app.create_event(None).await;
    let (status, body) = ingest_start(&app, &token, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn only_admins_manage_api_clients() {
    let app = TestApp::spawn().await;
    let operator = app.token(Role::VenueOperator, vec![uuid::Uuid::new_v4()]);
    let (_, body) = app
        .graphql_as(
            Some(&operator),
            REGISTER,
            json!({ "input": { "name": "x", "scopes": ["results:read"] } }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let (_, body) = app
        .graphql_as(Some(&operator), "{ apiClients { clientId } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            REGISTER,
            json!({ "input": { "name": "x", "scopes": ["results:read", "root:all"] } }),
        )
        .await;
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown scope `root:all`"));
    register(&app, &["live:subscribe"], None).await;
    let listed = app
        .gql("{ apiClients { clientId scopes tier } }", json!({}))
        .await;
    assert_eq!(listed["apiClients"][0]["scopes"], json!(["live:subscribe"]));
    assert_eq!(listed["apiClients"][0]["tier"], "pro");
}

#[tokio::test]
async fn token_requests_spend_the_address_budget() {
    // 100 units per request: 250 buy two.
    let app = TestApp::spawn_with(|s| s.rate_limit_anonymous = 250).await;
    let (id, secret) = register(&app, &["results:read"], None).await;
    for _ in 0..2 {
        access_token(&app, &id, &secret).await;
    }
    let (status, headers, body) = token_request(
        &app,
        Some(basic(&id, &secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "slow_down");
    assert!(headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn with_a_secrets_key_signing_keys_are_stored_sealed() {
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let sealed_key = key.clone();
    let app = TestApp::spawn_with(move |s| s.secrets_key = Some(sealed_key.into())).await;
    let (id, secret) = register(&app, &["timing:write"], None).await;
    let token = access_token(&app, &id, &secret).await;
    let event = app.create_event(None).await;
    assert_eq!(ingest_start(&app, &token, &event).await.0, StatusCode::OK);
    let stored = app.state.access.signing_keys().await.unwrap();
    assert!(!stored.is_empty());
    assert!(
        stored.iter().all(|k| k.seed.starts_with("sealed:v1:")),
        "{stored:?}"
    );

    // An instance on the same database without the key cannot use them, and says why.
    let mut settings = podium_api::config::Settings::load(None, [], &Default::default()).unwrap();
    settings.data_dir =
        std::env::temp_dir().join(format!("podium-test-{}", uuid::Uuid::new_v4().simple()));
    settings.database_url = app.state.settings.database_url.clone();
    let refused = podium_api::build_state(settings.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{refused:#}").contains("secrets_key"),
        "{refused:#}"
    );
    settings.secrets_key = Some(key.into());
    assert!(podium_api::build_state(settings.clone()).await.is_ok());
    let _ = std::fs::remove_dir_all(&settings.data_dir);
}

#[tokio::test]
async fn a_revoked_clients_tokens_stop_working_before_they_expire() {
    let app = TestApp::spawn().await;
    let (id, secret) = register(&app, &["timing:write"], None).await;
    let token = access_token(&app, &id, &secret).await;
    let event = app.create_event(None).await;
    assert_eq!(ingest_start(&app, &token, &event).await.0, StatusCode::OK);
    app.gql(
        "mutation($id: String!) { revokeApiClient(clientId: $id) { revokedAt } }",
        json!({ "id": id }),
    )
    .await;
    let (status, body) = ingest_start(&app, &token, &event).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    // Another instance on the same database knows it from its start (and refreshes every 10 s).
    let shared = app.state.settings.database_url.clone();
    let other = TestApp::spawn_with(|s| s.database_url = shared).await;
    let (status, _) = ingest_start(&other, &token, &event).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
