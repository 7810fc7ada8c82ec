//! A webhook consumer's checklist, end to end: verify (with the Standard Webhooks reference
//! library), retry (`Retry-After`, timeouts, the attempt history), rotate, replay and
//! redeliver, pause and move, `410 Gone` and the owner's notice, the dead letters, ordering by
//! `data.seq`, and two dispatching instances.

use crate::helpers::{run_js, TestApp};
use crate::webhooks::{fast_app, set_status, Answer, Receiver, CREATE};
use axum::http::HeaderMap;
use podium_api::auth::Role;
use serde_json::{json, Value};
use std::time::Duration;

/// Each request checked by the reference verifier (npm `standardwebhooks`) with `secret`:
/// `true`, or the library's reason for refusing it.
async fn reference_verdicts(secret: &str, requests: &[(HeaderMap, String)]) -> Vec<Value> {
    let cases: Vec<Value> = requests
        .iter()
        .map(|(headers, body)| {
            let header = |name: &str| headers[name].to_str().unwrap().to_owned();
            json!({
                "secret": secret,
                "headers": {
                    "webhook-id": header("webhook-id"),
                    "webhook-timestamp": header("webhook-timestamp"),
                    "webhook-signature": header("webhook-signature"),
                },
                "body": body,
            })
        })
        .collect();
    let file = std::env::temp_dir().join(format!(
        "podium-webhooks-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = run_js("webhook-verify.mjs", &[file.display().to_string()]).await;
    let _ = std::fs::remove_file(&file);
    serde_json::from_str(out.trim()).unwrap()
}

pub(crate) async fn assert_verified(secret: &str, requests: &[(HeaderMap, String)]) {
    let verdicts = reference_verdicts(secret, requests).await;
    assert!(
        verdicts.iter().all(|v| v == &json!(true)),
        "the reference verifier refused: {verdicts:?}"
    );
}

/// Registers an endpoint as the admin; answers its id and secret.
async fn endpoint(app: &TestApp, url: &str, topics: &[&str]) -> (String, String) {
    let data = app
        .gql(CREATE, json!({ "input": { "url": url, "topics": topics } }))
        .await;
    let created = &data["createWebhook"];
    (
        created["webhook"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

fn message(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

const DELIVERIES: &str = "query($w: ID, $s: WebhookDeliveryStatus) { webhookDeliveries(webhookId: $w, status: $s) { id webhookId messageId topic status attemptCount attempts { at status latencyMs responseExcerpt error } } }";

const UPDATE: &str = "mutation($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { id url topics status disabledReason } }";

#[tokio::test]
async fn signatures_verify_with_the_reference_library_and_both_during_a_rotation() {
    let app = fast_app().await;
    let (receiver, url) = Receiver::start(&[]).await;
    let (id, first_secret) = endpoint(&app, &url, &[]).await;
    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;
    let before = receiver.wait_for(1).await;
    assert_verified(&first_secret, &before).await;

    // A rotation with an hour's overlap: the next message carries both signatures.
    let rotated = app
        .gql(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSecs: 3600) { secret webhook { previousSecretValidUntil } } }",
            json!({ "id": id }),
        )
        .await;
    let second_secret = rotated["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second_secret, first_secret);
    assert!(rotated["rotateWebhookSecret"]["webhook"]["previousSecretValidUntil"].is_string());
    set_status(&app, &event, "PROVISIONAL").await;
    let during = receiver.wait_for(2).await[1..].to_vec();
    let signatures = during[0].0["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert_verified(&first_secret, &during).await;
    assert_verified(&second_secret, &during).await;

    // Rotated again without overlap: only the newest secret signs.
    let rotated = app
        .gql(
            "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSecs: 0) { secret } }",
            json!({ "id": id }),
        )
        .await;
    let third_secret = rotated["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    set_status(&app, &event, "OFFICIAL").await;
    let after: Vec<_> = receiver
        .wait_for(4)
        .await
        .into_iter()
        .skip(2)
        .filter(|(_, body)| message(body)["type"] == "event.official")
        .collect();
    assert_eq!(after.len(), 1);
    assert_verified(&third_secret, &after).await;
    let refused = reference_verdicts(&second_secret, &after).await;
    assert_ne!(
        refused[0],
        json!(true),
        "the retired secret no longer signs"
    );
    // A week at most.
    let (status, body) = app
        .graphql_as(
            Some(&app.admin),
            "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSecs: 999999999) { secret } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("overlapSecs"),
        "{body}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_410_disables_the_endpoint_and_tells_its_owner() {
    let app = fast_app().await;
    // The schedule would retry after 10 ms; the endpoint asks for a second.
    let (patient, patient_url) =
        Receiver::scripted(vec![Answer::status(503).retry_after("1")]).await;
    let (gone, gone_url) = Receiver::scripted(vec![Answer::status(410).body("unsubscribed")]).await;
    let (owner, owner_url) = Receiver::start(&[]).await;
    let (_, patient_secret) = endpoint(&app, &patient_url, &["event.live"]).await;
    let (gone_id, _) = endpoint(&app, &gone_url, &["event.live", "event.provisional"]).await;
    let (_, owner_secret) = endpoint(&app, &owner_url, &["webhook.endpoint_disabled"]).await;

    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;
    patient.wait_for(2).await;
    let arrivals = patient.arrivals();
    let gap = arrivals[1].2 - arrivals[0].2;
    assert!(gap >= Duration::from_millis(1000), "retried after {gap:?}");
    assert_eq!(arrivals[0].0["webhook-id"], arrivals[1].0["webhook-id"]);
    assert_verified(&patient_secret, &patient.seen()).await;

    // 410: no retry, the endpoint disabled with its reason, the owner told.
    gone.wait_for(1).await;
    let notice = owner.wait_for(1).await;
    let told = message(&notice[0].1);
    assert_eq!(told["type"], "webhook.endpoint_disabled");
    assert_eq!(told["data"]["webhookId"], json!(gone_id));
    assert!(told["data"]["reason"].as_str().unwrap().contains("410"));
    assert_verified(&owner_secret, &notice).await;
    let listed = app
        .gql("{ webhooks { id status disabledReason } }", json!({}))
        .await;
    let gone_now = listed["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == json!(gone_id))
        .unwrap()
        .clone();
    assert_eq!(gone_now["status"], "DISABLED");
    assert!(gone_now["disabledReason"]
        .as_str()
        .unwrap()
        .contains("410 Gone"));
    let history = app
        .gql(DELIVERIES, json!({ "w": gone_id, "s": "FAILED" }))
        .await;
    let dead = &history["webhookDeliveries"][0];
    assert_eq!(dead["attempts"][0]["status"], 410);
    assert_eq!(dead["attempts"][0]["responseExcerpt"], "unsubscribed");

    // Disabled, it receives nothing; its deliveries wait and go out once it is enabled.
    set_status(&app, &event, "PROVISIONAL").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(gone.seen().len(), 1);
    let enabled = app
        .gql(
            UPDATE,
            json!({ "id": gone_id, "input": { "enabled": true } }),
        )
        .await;
    assert_eq!(enabled["updateWebhook"]["status"], "ENABLED");
    assert!(enabled["updateWebhook"]["disabledReason"].is_null());
    let requests = gone.wait_for(2).await;
    assert_eq!(message(&requests[1].1)["type"], "event.provisional");
    // Nobody is told twice.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(owner.seen().len(), 1);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_and_every_attempt_is_kept() {
    let app = TestApp::spawn_with(|s| {
        s.webhook_poll_ms = 50;
        s.webhook_retry_base_ms = 10;
        s.webhook_timeout_ms = 300;
    })
    .await;
    let (receiver, url) = Receiver::scripted(vec![
        Answer::status(200).slow(Duration::from_millis(1500)),
        Answer::status(500).body("busy"),
        Answer::status(200).body("ok"),
    ])
    .await;
    let (id, _) = endpoint(&app, &url, &["event.live"]).await;
    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;
    receiver.wait_for(3).await;
    let mut delivery = Value::Null;
    for _ in 0..100 {
        delivery = app.gql(DELIVERIES, json!({ "w": id })).await["webhookDeliveries"][0].clone();
        if delivery["status"] == "DELIVERED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivery["status"], "DELIVERED", "{delivery}");
    assert_eq!(delivery["attemptCount"], 3);
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{delivery}");
    assert!(attempts[0]["status"].is_null());
    assert_eq!(attempts[0]["error"], "timed out after 300 ms");
    assert!(attempts[0]["latencyMs"].as_i64().unwrap() >= 300);
    assert_eq!(attempts[1]["status"], 500);
    assert_eq!(attempts[1]["responseExcerpt"], "busy");
    assert_eq!(attempts[1]["error"], "HTTP 500");
    assert_eq!(attempts[2]["status"], 200);
    assert_eq!(attempts[2]["responseExcerpt"], "ok");
    assert!(attempts[2]["error"].is_null());
}

#[tokio::test]
async fn replay_and_redelivery_send_the_same_messages_again() {
    let app = fast_app().await;
    let (receiver, url) = Receiver::start(&[]).await;
    let (id, secret) = endpoint(&app, &url, &[]).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;
    set_status(&app, &event, "PROVISIONAL").await;
    let first = receiver.wait_for(2).await;
    let ids = |requests: &[(HeaderMap, String)]| {
        let mut ids: Vec<String> = requests
            .iter()
            .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };

    let replayed = app
        .gql(
            "mutation($w: ID!, $since: DateTime!) { replayWebhookDeliveries(webhookId: $w, since: $since) }",
            json!({ "w": id, "since": since.to_rfc3339() }),
        )
        .await;
    assert_eq!(replayed["replayWebhookDeliveries"], 2);
    let again = receiver.wait_for(4).await[2..].to_vec();
    assert_eq!(
        ids(&again),
        ids(&first),
        "a replayed message is the same message"
    );
    assert_verified(&secret, &again).await;
    // Only the topics asked for.
    let live_only = app
        .gql(
            "mutation($w: ID!, $since: DateTime!) { replayWebhookDeliveries(webhookId: $w, since: $since, topics: [\"event.live\"]) }",
            json!({ "w": id, "since": since.to_rfc3339() }),
        )
        .await;
    assert_eq!(live_only["replayWebhookDeliveries"], 1);
    receiver.wait_for(5).await;

    let delivery = app.gql(DELIVERIES, json!({ "w": id })).await["webhookDeliveries"][0].clone();
    let redelivered = app
        .gql(
            "mutation($d: ID!) { redeliver(deliveryId: $d) { messageId status attemptCount } }",
            json!({ "d": delivery["id"] }),
        )
        .await;
    assert_eq!(redelivered["redeliver"]["status"], "PENDING");
    assert_eq!(redelivered["redeliver"]["attemptCount"], 0);
    let last = receiver.wait_for(6).await[5].clone();
    assert_eq!(
        last.0["webhook-id"],
        delivery["messageId"].as_str().unwrap()
    );
    assert_verified(&secret, &[last]).await;
    // Until must follow since; someone else's delivery is not found.
    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            "mutation($w: ID!, $since: DateTime!, $until: DateTime!) { replayWebhookDeliveries(webhookId: $w, since: $since, until: $until) }",
            json!({ "w": id, "since": since.to_rfc3339(), "until": (since - chrono::Duration::hours(1)).to_rfc3339() }),
        )
        .await;
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("until"));
    let stranger = app.token(Role::VenueOperator, vec![uuid::Uuid::new_v4()]);
    let (_, body) = app
        .graphql_as(
            Some(&stranger),
            "mutation($d: ID!) { redeliver(deliveryId: $d) { id } }",
            json!({ "d": delivery["id"] }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{body}"
    );
}

#[tokio::test]
async fn an_endpoint_can_be_paused_moved_and_refiltered_without_losing_messages() {
    let app = fast_app().await;
    let (old, old_url) = Receiver::start(&[]).await;
    let (new, new_url) = Receiver::start(&[]).await;
    let (id, _) = endpoint(&app, &old_url, &[]).await;
    let paused = app
        .gql(UPDATE, json!({ "id": id, "input": { "enabled": false } }))
        .await;
    assert_eq!(paused["updateWebhook"]["status"], "DISABLED");
    assert!(paused["updateWebhook"]["disabledReason"]
        .as_str()
        .unwrap()
        .starts_with("disabled by"));
    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(old.seen().is_empty(), "nothing is sent while paused");
    // Moved and enabled: the held message goes to the new URL.
    app.gql(
        UPDATE,
        json!({ "id": id, "input": { "url": new_url, "enabled": true, "topics": ["event.live", "event.official"] } }),
    )
    .await;
    let moved = new.wait_for(1).await;
    assert_eq!(message(&moved[0].1)["type"], "event.live");
    set_status(&app, &event, "PROVISIONAL").await;
    set_status(&app, &event, "OFFICIAL").await;
    let later = new.wait_for(2).await;
    assert_eq!(message(&later[1].1)["type"], "event.official");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        new.seen().len(),
        2,
        "event.provisional is no longer subscribed"
    );
    assert!(old.seen().is_empty());
    // Checked like a new endpoint.
    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            UPDATE,
            json!({ "id": id, "input": { "topics": ["event.exploded"] } }),
        )
        .await;
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("event.exploded"));
}

#[tokio::test]
async fn given_up_deliveries_are_the_dead_letters_and_a_failing_endpoint_is_disabled() {
    let app = TestApp::spawn_with(|s| {
        s.webhook_poll_ms = 50;
        s.webhook_retry_base_ms = 10;
        s.webhook_max_attempts = 2;
    })
    .await;
    let (_down, down_url) = Receiver::start(&[500, 500, 500]).await;
    let (up, up_url) = Receiver::start(&[]).await;
    let (down_id, _) = endpoint(&app, &down_url, &["event.live"]).await;
    let (up_id, _) = endpoint(&app, &up_url, &["event.live"]).await;
    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;
    up.wait_for(1).await;
    let mut dead = Value::Null;
    for _ in 0..100 {
        dead = app.gql(DELIVERIES, json!({ "s": "FAILED" })).await["webhookDeliveries"].clone();
        if dead.as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["webhookId"], json!(down_id));
    assert_eq!(dead[0]["attempts"].as_array().unwrap().len(), 2);
    let delivered = app.gql(DELIVERIES, json!({ "s": "DELIVERED" })).await;
    assert_eq!(delivered["webhookDeliveries"][0]["webhookId"], json!(up_id));
    // It never succeeded: podium disables it and says why.
    let mut reason = Value::Null;
    for _ in 0..50 {
        let listed = app
            .gql("{ webhooks { id status disabledReason } }", json!({}))
            .await;
        let down = listed["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == json!(down_id))
            .unwrap()
            .clone();
        if down["status"] == "DISABLED" {
            reason = down["disabledReason"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reason = reason.as_str().expect("disabled").to_owned();
    assert!(reason.contains("no delivery succeeded"), "{reason}");
    assert!(reason.contains("HTTP 500"), "{reason}");
}

/// Deliveries are not ordered (a retried message arrives after later ones); every message
/// carries `data.seq`, and ordering by it gives the order of the changes.
#[tokio::test]
async fn a_retried_message_arrives_late_and_data_seq_puts_it_back_in_order() {
    let app = fast_app().await;
    let (receiver, url) = Receiver::scripted(vec![Answer::status(503).retry_after("1")]).await;
    let (_, secret) = endpoint(
        &app,
        &url,
        &["event.live", "event.provisional", "event.official"],
    )
    .await;
    let event = app.create_event(None).await;
    set_status(&app, &event, "LIVE").await;
    receiver.wait_for(1).await;
    set_status(&app, &event, "PROVISIONAL").await;
    set_status(&app, &event, "OFFICIAL").await;
    let requests = receiver.wait_for(4).await;
    assert_verified(&secret, &requests).await;
    let delivered: Vec<Value> = requests[1..].iter().map(|(_, b)| message(b)).collect();
    let arrived: Vec<&str> = delivered
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(arrived.last(), Some(&"event.live"), "{arrived:?}");
    let mut by_seq = delivered.clone();
    by_seq.sort_by_key(|m| {
        m["data"]["seq"]
            .as_i64()
            .expect("every message has data.seq")
    });
    let ordered: Vec<&str> = by_seq.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        ordered,
        ["event.live", "event.provisional", "event.official"]
    );
}

/// Two instances dispatching from one database: every message reaches the endpoint once.
#[tokio::test]
async fn two_dispatching_instances_deliver_each_message_once() {
    let a = fast_app().await;
    let shared = a.state.settings.database_url.clone();
    let key = a.state.settings.secrets_key.clone();
    let b = TestApp::spawn_with(|s| {
        s.database_url = shared;
        s.secrets_key = key;
        s.webhook_poll_ms = 20;
    })
    .await;
    let (receiver, url) = Receiver::start(&[]).await;
    let (_, secret) = endpoint(&a, &url, &[]).await;
    let mut expected = 0;
    for _ in 0..3 {
        let event = a.create_event(None).await;
        for status in ["LIVE", "PROVISIONAL", "OFFICIAL"] {
            set_status(&a, &event, status).await;
        }
        // live, provisional, official, analytics_ready.
        expected += 4;
    }
    let requests = receiver.wait_for(expected).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests_now = receiver.seen();
    assert_eq!(requests_now.len(), requests.len().max(expected));
    let mut ids: Vec<String> = requests_now
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), requests_now.len(), "a message went out twice");
    assert_verified(&secret, &requests_now).await;
    drop(b);
}
