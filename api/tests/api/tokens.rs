//! Bearer tokens from an external identity provider (a JWKS served over HTTP) and the attack
//! battery of RFC 8725: every forged, stale or misdirected token is refused with RFC 6750's
//! `401 invalid_token` naming what is wrong, and scopes never widen a role.

use crate::helpers::TestApp;
use crate::idp::{claims, Idp, IdpKey, ISSUER};
use crate::websocket::{connect, init, receive, send, serve};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const CREATE_VENUE: &str = r#"mutation { createVenue(name: "Hall 7") { id } }"#;

async fn with_idp(idp: &Idp, configure: impl FnOnce(&mut podium_api::config::Settings)) -> TestApp {
    let url = idp.jwks_url.clone();
    TestApp::spawn_with(move |s| {
        s.oauth_issuer = Some(ISSUER.into());
        s.oauth_jwks_url = Some(url);
        configure(s);
    })
    .await
}

/// POST /graphql with `token`: status, `WWW-Authenticate`, body.
async fn call(app: &TestApp, token: &str, query: &str) -> (StatusCode, String, Value) {
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    let (status, headers, body) = app.request(request).await;
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        challenge,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

async fn assert_accepted(app: &TestApp, token: &str) {
    let (status, _, body) = call(app, token, CREATE_VENUE).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["createVenue"]["id"].is_string(), "{body}");
}

async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let (status, challenge, body) = call(app, token, CREATE_VENUE).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
    assert!(
        challenge.contains("error=\"invalid_token\"") && challenge.contains(why),
        "{why}: {challenge}"
    );
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn the_providers_rs256_es256_and_eddsa_tokens_are_accepted() {
    let (rsa, ec, ed) = (IdpKey::rsa("rsa-1"), IdpKey::ec("ec-1"), IdpKey::ed("ed-1"));
    let idp = Idp::start(&[&rsa, &ec, &ed]).await;
    let app = with_idp(&idp, |_| {}).await;
    for key in [&rsa, &ec, &ed] {
        assert_accepted(&app, &key.token(&claims("admin"))).await;
    }
    assert_eq!(idp.fetches(), 1, "the set is cached");
    // 30 s past `exp` is within the 60 s leeway.
    let mut late = claims("admin");
    late["exp"] = json!(chrono::Utc::now().timestamp() - 30);
    assert_accepted(&app, &rsa.token(&late)).await;
}

#[tokio::test]
async fn forged_stale_and_misdirected_tokens_are_refused() {
    let (rsa, ed) = (IdpKey::rsa("rsa-1"), IdpKey::ed("ed-1"));
    let idp = Idp::start(&[&rsa, &ed]).await;
    let app = with_idp(&idp, |_| {}).await;
    let now = chrono::Utc::now().timestamp();

    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": "rsa-1" })),
        b64(&claims("admin"))
    );
    assert_refused(&app, &none, "algorithm `none` is not allowed").await;

    // HS256 "signed" with the provider's public RSA key: the classic key-confusion attack.
    let public = base64::engine::general_purpose::STANDARD
        .decode(
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/idp-rsa-public.der.b64"
            ))
            .unwrap()
            .trim(),
        )
        .unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(
        &header,
        &claims("admin"),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_refused(&app, &confused, "algorithm `HS256` is not allowed").await;

    // A token signed with the Ed25519 key but naming the RSA key: each key verifies only its
    // own algorithm.
    let swapped = ed.sign(&claims("admin"), |h| h.kid = Some("rsa-1".into()));
    assert_refused(
        &app,
        &swapped,
        "algorithm `EdDSA` is not allowed for this key",
    )
    .await;

    let mut expired = claims("admin");
    expired["exp"] = json!(now - 120);
    assert_refused(&app, &rsa.token(&expired), "expired").await;

    let mut early = claims("admin");
    early["nbf"] = json!(now + 300);
    assert_refused(&app, &rsa.token(&early), "not valid yet").await;

    let mut foreign = claims("admin");
    foreign["iss"] = json!("https://evil.test");
    assert_refused(&app, &rsa.token(&foreign), "wrong issuer").await;
    // The provider's keys cannot speak for podium itself.
    foreign["iss"] = json!("podium");
    assert_refused(&app, &rsa.token(&foreign), "wrong issuer").await;

    let mut elsewhere = claims("admin");
    elsewhere["aud"] = json!("another-api");
    assert_refused(&app, &rsa.token(&elsewhere), "wrong audience").await;

    let id_token = rsa.sign(&claims("admin"), |h| h.typ = Some("JWT".into()));
    assert_refused(&app, &id_token, "typ must be at+jwt").await;

    let ghost = rsa.sign(&claims("admin"), |h| h.kid = Some("ghost".into()));
    assert_refused(&app, &ghost, "unknown key id").await;
    // Without `kid`, and two keys in the set: no guessing.
    let anonymous = rsa.sign(&claims("admin"), |h| h.kid = None);
    assert_refused(&app, &anonymous, "unknown key id").await;

    let athlete = rsa.token(&claims("athlete"));
    let mut parts: Vec<&str> = athlete.split('.').collect();
    let promoted = b64(&claims("admin"));
    parts[1] = &promoted;
    assert_refused(&app, &parts.join("."), "bad signature").await;

    assert_refused(&app, "not-a-jwt", "malformed").await;
    let mut unknown_role = claims("root");
    unknown_role["role"] = json!("root");
    assert_refused(&app, &rsa.token(&unknown_role), "claims are not valid").await;
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_set_at_most_once_per_interval() {
    let rsa = IdpKey::rsa("rsa-1");
    let idp = Idp::start(&[&rsa]).await;
    let app = with_idp(&idp, |_| {}).await;
    assert_accepted(&app, &rsa.token(&claims("admin"))).await;
    for _ in 0..5 {
        let ghost = rsa.sign(&claims("admin"), |h| h.kid = Some("ghost".into()));
        assert_refused(&app, &ghost, "unknown key id").await;
    }
    assert_eq!(
        idp.fetches(),
        1,
        "forged kids do not make podium hammer the provider"
    );
}

#[tokio::test]
async fn a_key_the_provider_rotates_in_is_picked_up_without_restart() {
    let rsa = IdpKey::rsa("rsa-1");
    let idp = Idp::start(&[&rsa]).await;
    let app = with_idp(&idp, |s| s.oauth_jwks_refetch_secs = 0).await;
    assert_accepted(&app, &rsa.token(&claims("admin"))).await;
    let next = IdpKey::ec("ec-2026");
    idp.publish(&next);
    assert_accepted(&app, &next.token(&claims("admin"))).await;
    assert_eq!(idp.fetches(), 2);
}

#[tokio::test]
async fn a_token_without_kid_uses_the_only_key_of_the_set() {
    let rsa = IdpKey::rsa("rsa-1");
    let idp = Idp::start(&[&rsa]).await;
    let app = with_idp(&idp, |_| {}).await;
    assert_accepted(&app, &rsa.sign(&claims("admin"), |h| h.kid = None)).await;
}

#[tokio::test]
async fn typ_can_be_optional_for_providers_that_omit_it() {
    let rsa = IdpKey::rsa("rsa-1");
    let idp = Idp::start(&[&rsa]).await;
    let app = with_idp(&idp, |s| s.oauth_require_typ = false).await;
    assert_accepted(
        &app,
        &rsa.sign(&claims("admin"), |h| h.typ = Some("JWT".into())),
    )
    .await;
    assert_accepted(&app, &rsa.sign(&claims("admin"), |h| h.typ = None)).await;
}

#[tokio::test]
async fn development_tokens_are_refused_in_production() {
    let app = TestApp::spawn_with(|s| s.mode = podium_api::config::Mode::Production).await;
    assert_refused(&app, &app.admin, "development tokens are not accepted here").await;
    let allowed = TestApp::spawn_with(|s| {
        s.mode = podium_api::config::Mode::Production;
        s.dev_tokens = Some(true);
    })
    .await;
    assert_accepted(&allowed, &allowed.admin).await;
}

#[tokio::test]
async fn missing_and_insufficient_credentials_answer_rfc_6750_challenges() {
    let rsa = IdpKey::rsa("rsa-1");
    let idp = Idp::start(&[&rsa]).await;
    let app = with_idp(&idp, |_| {}).await;
    let event = app.create_event(None).await;
    let detections =
        json!([{ "bib": "1", "timingPoint": "START", "timestamp": "2026-03-14T09:00:00Z" }]);
    let post = |token: Option<String>| {
        let mut request = Request::post(format!("/v1/events/{event}/detections"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(Body::from(detections.to_string())).unwrap()
    };
    let (status, headers, _) = app.request(post(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"podium\"");

    // An athlete asking for timing:write gets no more than an athlete may do.
    let mut escalating = claims("athlete");
    escalating["scope"] = json!("results:read timing:write");
    let (status, headers, body) = app.request(post(Some(rsa.token(&escalating)))).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"podium\", error=\"insufficient_scope\", scope=\"timing:write\""
    );

    // An integration token carries exactly its scopes.
    let mut reader = claims("integration");
    reader["scope"] = json!("results:read");
    let (status, _, _) = app.request(post(Some(rsa.token(&reader)))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut writer = claims("integration");
    writer["scope"] = json!("timing:write");
    let (status, _, body) = app.request(post(Some(rsa.token(&writer)))).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn websocket_connection_init_validates_provider_tokens_the_same_way() {
    let rsa = IdpKey::rsa("rsa-1");
    let idp = Idp::start(&[&rsa]).await;
    let app = with_idp(&idp, |_| {}).await;
    let url = serve(&app).await;
    let mut good = connect(&url, "graphql-transport-ws").await;
    init(
        &mut good,
        json!({ "authorization": format!("Bearer {}", rsa.token(&claims("coach"))) }),
    )
    .await;
    let mut expired = claims("coach");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 600);
    let mut bad = connect(&url, "graphql-transport-ws").await;
    send(
        &mut bad,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", rsa.token(&expired)) } }),
    )
    .await;
    assert_eq!(receive(&mut bad).await, Err(4403));
}

// The verified-token cache: a token's signature is checked once, and the cached answer never
// outlives the token, its client or its key.

#[tokio::test]
async fn a_verified_token_is_remembered_once_and_refused_tokens_never() {
    let rsa = IdpKey::rsa("rsa-1");
    let idp = Idp::start(&[&rsa]).await;
    let app = with_idp(&idp, |_| {}).await;
    let before = app.state.auth.remembered_tokens();
    let token = rsa.token(&claims("admin"));
    for _ in 0..3 {
        assert_accepted(&app, &token).await;
    }
    assert_eq!(app.state.auth.remembered_tokens(), before + 1);
    // Fifty forgeries: other claims under the genuine header and signature.
    let parts: Vec<&str> = token.split('.').collect();
    for n in 0..50 {
        let mut forged_claims = claims("admin");
        forged_claims["sub"] = json!(format!("intruder-{n}"));
        let forged = format!("{}.{}.{}", parts[0], b64(&forged_claims), parts[2]);
        assert_refused(&app, &forged, "bad signature").await;
    }
    assert_eq!(
        app.state.auth.remembered_tokens(),
        before + 1,
        "refused tokens take no room"
    );
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_the_provider_withdraws_its_key() {
    let rsa = IdpKey::rsa("rsa-1");
    let next = IdpKey::ec("ec-2");
    let idp = Idp::start(&[&rsa, &next]).await;
    let app = with_idp(&idp, |s| {
        s.oauth_jwks_max_age_secs = 1;
        s.oauth_jwks_refetch_secs = 0;
    })
    .await;
    let token = rsa.token(&claims("admin"));
    assert_accepted(&app, &token).await;
    assert_accepted(&app, &token).await;
    assert_eq!(
        idp.fetches(),
        1,
        "the second request used the remembered token"
    );
    idp.withdraw("rsa-1");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_refused(&app, &token, "unknown key id").await;
    assert_accepted(&app, &next.token(&claims("admin"))).await;
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_its_signing_key_is_removed() {
    use podium_api::auth::{Claims, Role, SigningKey};
    let app = TestApp::spawn().await;
    let key: SigningKey =
        podium_api::app::access::rotate(app.state.access.as_ref(), &app.state.sealer)
            .await
            .unwrap();
    app.state.auth.load_own_keys().await.unwrap();
    let claims = Claims {
        scope: Some("venues:write".into()),
        ..podium_api::auth::dev_claims(Role::Admin, None, vec![], None)
    };
    let token = key
        .sign(&app.state.auth.stamp(claims, chrono::Duration::minutes(5)))
        .unwrap();
    assert_accepted(&app, &token).await;
    // The key retires (a newer one signs) and is pruned: it verifies nothing any more.
    podium_api::app::access::rotate(app.state.access.as_ref(), &app.state.sealer)
        .await
        .unwrap();
    let later = podium_domain::timing::Timestamp::from_chrono(
        chrono::Utc::now() + chrono::Duration::days(1),
    );
    app.state.access.prune_signing_keys(later).await.unwrap();
    app.state.auth.load_own_keys().await.unwrap();
    assert_refused(&app, &token, "unknown key id").await;
}

#[tokio::test]
async fn a_remembered_token_is_not_served_past_its_expiry() {
    let app = TestApp::spawn().await;
    let claims = podium_api::auth::dev_claims(podium_api::auth::Role::Admin, None, vec![], None);
    let token = app
        .state
        .auth
        .mint_dev(claims, chrono::Duration::seconds(2))
        .unwrap();
    let before = app.state.auth.remembered_tokens();
    assert_accepted(&app, &token).await;
    assert_eq!(app.state.auth.remembered_tokens(), before + 1);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Verified again in full (still within the clock-skew leeway) and no longer remembered.
    assert_accepted(&app, &token).await;
    assert_eq!(app.state.auth.remembered_tokens(), before);
}
