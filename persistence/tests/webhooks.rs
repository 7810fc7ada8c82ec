//! The outbox → delivery pipeline on SQLite and PostgreSQL: each message fanned out once per
//! matching endpoint (even with dispatchers racing), claims leased, attempts recorded and kept,
//! disabled endpoints held (and their owner told once), redeliveries and replays of the same
//! messages.

use podium_domain::course::Course;
use podium_domain::model::{EventStatus, NewEvent, NewVenue};
use podium_domain::ports::{
    AttemptOutcome, DeliveryQuery, DeliveryState, RaceRepository, WebhookAttempt, WebhookDelivery,
    WebhookRecord, WebhookRepository,
};
use podium_domain::timing::Timestamp;
use podium_persistence::{testing, SeaRepository};
use std::sync::Arc;
use uuid::Uuid;

async fn repo() -> Arc<SeaRepository> {
    Arc::new(
        SeaRepository::new(testing::fresh_database().await.expect("test database"))
            .await
            .unwrap(),
    )
}

fn now() -> Timestamp {
    Timestamp::from_chrono(chrono::Utc::now())
}

/// An event at `venue` that went LIVE (one `event.live` outbox message).
async fn live_event(repo: &SeaRepository, venue: Option<Uuid>) -> Uuid {
    let event = repo
        .create_event(NewEvent {
            venue_id: venue,
            name: "Race".into(),
            starts_at: Timestamp(1_773_478_800_000),
            timezone: "UTC".into(),
            course: Course::hyrox_standard(),
        })
        .await
        .unwrap();
    repo.transition_event(event.id, EventStatus::Live)
        .await
        .unwrap();
    event.id
}

fn endpoint(venue: Option<Uuid>, topics: &[&str]) -> WebhookRecord {
    WebhookRecord {
        id: Uuid::now_v7(),
        venue_id: venue,
        url: "https://example.com/hook".into(),
        secret: "whsec_c2VjcmV0".into(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        created_by: "test".into(),
        created_at: Timestamp(0),
        enabled: true,
        disabled_reason: None,
        disabled_at: None,
        previous_secret: None,
        previous_secret_until: None,
        athlete_id: None,
    }
}

/// An endpoint for every event, then `events` events gone live, their messages dispatched.
async fn endpoint_with_messages(
    repo: &SeaRepository,
    topics: &[&str],
    events: usize,
) -> WebhookRecord {
    let hook = endpoint(None, topics);
    repo.create_webhook(hook.clone()).await.unwrap();
    for _ in 0..events {
        live_event(repo, None).await;
    }
    repo.dispatch_outbox(100, now()).await.unwrap();
    hook
}

/// The latest deliveries of one endpoint.
fn of(webhook: Uuid, limit: u64) -> DeliveryQuery {
    DeliveryQuery {
        webhook_ids: vec![webhook],
        state: None,
        limit,
    }
}

/// An attempt of `delivery` to `webhook` at `at` that got `status`.
fn attempt(delivery: &WebhookDelivery, at: Timestamp, status: u16) -> WebhookAttempt {
    WebhookAttempt {
        delivery_id: delivery.id,
        webhook_id: delivery.webhook_id,
        run_started_at: delivery.run_started_at,
        at,
        status: Some(status),
        latency_ms: 12,
        response_excerpt: Some(format!("answered {status}")),
        error: (status >= 300).then(|| format!("HTTP {status}")),
    }
}

#[tokio::test]
async fn messages_go_once_to_each_matching_endpoint() {
    let repo = repo().await;
    let venue = repo
        .create_venue(NewVenue { name: "A".into() })
        .await
        .unwrap()
        .id;
    let other = repo
        .create_venue(NewVenue { name: "B".into() })
        .await
        .unwrap()
        .id;
    let event = live_event(&repo, Some(venue)).await;
    assert_eq!(
        repo.dispatch_outbox(100, now()).await.unwrap(),
        0,
        "no endpoints: messages wait"
    );
    assert_eq!(repo.pending_outbox(event).await.unwrap().len(), 1);

    let all = endpoint(None, &[]);
    let mine = endpoint(Some(venue), &["event.live"]);
    let theirs = endpoint(Some(other), &[]);
    let wrong_topic = endpoint(Some(venue), &["event.official"]);
    let late = WebhookRecord {
        created_at: Timestamp(now().0 + 86_400_000),
        ..endpoint(None, &[])
    };
    for w in [&all, &mine, &theirs, &wrong_topic, &late] {
        repo.create_webhook(w.clone()).await.unwrap();
    }
    assert_eq!(repo.dispatch_outbox(100, now()).await.unwrap(), 1);
    assert_eq!(repo.dispatch_outbox(100, now()).await.unwrap(), 0);
    assert!(repo.pending_outbox(event).await.unwrap().is_empty());
    for (w, expected) in [
        (&all, 1),
        (&mine, 1),
        (&theirs, 0),
        (&wrong_topic, 0),
        (&late, 0),
    ] {
        let got = repo.deliveries(of(w.id, 10)).await.unwrap();
        assert_eq!(got.len(), expected, "{:?}", w.topics);
        if let Some(d) = got.first() {
            let body: serde_json::Value = serde_json::from_str(&d.payload).unwrap();
            assert_eq!(body["type"], "event.live");
            assert_eq!(body["data"]["eventId"], serde_json::json!(event));
        }
    }
}

#[tokio::test]
async fn racing_dispatchers_fan_each_message_out_once() {
    let repo = repo().await;
    let hook = endpoint(None, &[]);
    repo.create_webhook(hook.clone()).await.unwrap();
    for _ in 0..40 {
        live_event(&repo, None).await;
    }
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut total = 0;
                loop {
                    match repo.dispatch_outbox(7, now()).await {
                        Ok(0) => return total,
                        Ok(n) => total += n,
                        // SQLite may report the database busy to a racer; it simply retries.
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();
    let mut dispatched = 0;
    for racer in racers {
        dispatched += racer.await.unwrap();
    }
    assert_eq!(dispatched, 40);
    assert_eq!(repo.deliveries(of(hook.id, 100)).await.unwrap().len(), 40);
}

#[tokio::test]
async fn claims_are_leased_and_attempts_recorded() {
    let repo = repo().await;
    let hook = endpoint_with_messages(&repo, &[], 2).await;
    let t = now();
    let lease = Timestamp(t.0 + 60_000);
    let claimed = repo.claim_deliveries(t, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].1.url, "https://example.com/hook");
    assert!(
        repo.claim_deliveries(t, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );

    let (first_claim, second_claim) = (&claimed[0].0, &claimed[1].0);
    let second = second_claim.id;
    repo.record_attempt(attempt(first_claim, t, 204), AttemptOutcome::Delivered)
        .await
        .unwrap();
    repo.record_attempt(
        attempt(second_claim, t, 500),
        AttemptOutcome::Failed {
            error: "HTTP 500".into(),
            retry_at: Some(Timestamp(t.0 - 1)),
        },
    )
    .await
    .unwrap();
    let again = repo.claim_deliveries(t, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1, "the failed one is due again");
    assert_eq!(again[0].0.id, second);
    assert_eq!(again[0].0.attempts, 1);
    repo.record_attempt(
        attempt(second_claim, t, 500),
        AttemptOutcome::Failed {
            error: "HTTP 500".into(),
            retry_at: None,
        },
    )
    .await
    .unwrap();
    let later = Timestamp(t.0 + 3_600_000);
    assert!(
        repo.claim_deliveries(later, later, 10)
            .await
            .unwrap()
            .is_empty(),
        "delivered and given up"
    );
    let stored = repo.deliveries(of(hook.id, 10)).await.unwrap();
    let given_up = stored.iter().find(|d| d.id == second).unwrap();
    assert_eq!((given_up.attempts, given_up.failed_at.is_some()), (2, true));
    assert!(repo.delete_webhook(hook.id).await.unwrap());
    assert!(repo.deliveries(of(hook.id, 10)).await.unwrap().is_empty());
}

#[tokio::test]
async fn every_attempt_is_kept_and_deliveries_are_listed_by_state() {
    let repo = repo().await;
    let hook = endpoint_with_messages(&repo, &[], 2).await;
    let t = now();
    let claimed = repo.claim_deliveries(t, t, 10).await.unwrap();
    let (done_claim, dead_claim) = (&claimed[0].0, &claimed[1].0);
    let (done, dead) = (done_claim.id, dead_claim.id);
    repo.record_attempt(
        attempt(done_claim, t, 503),
        AttemptOutcome::Failed {
            error: "HTTP 503".into(),
            retry_at: Some(t),
        },
    )
    .await
    .unwrap();
    repo.record_attempt(attempt(done_claim, t, 200), AttemptOutcome::Delivered)
        .await
        .unwrap();
    repo.record_attempt(
        attempt(dead_claim, t, 500),
        AttemptOutcome::Failed {
            error: "HTTP 500".into(),
            retry_at: None,
        },
    )
    .await
    .unwrap();
    let history = repo.attempts(&[done, dead]).await.unwrap();
    let statuses: Vec<(Uuid, Option<u16>)> =
        history.iter().map(|a| (a.delivery_id, a.status)).collect();
    assert_eq!(statuses.len(), 3);
    assert_eq!(
        statuses
            .iter()
            .filter(|(d, _)| *d == done)
            .map(|(_, s)| *s)
            .collect::<Vec<_>>(),
        [Some(503), Some(200)],
        "oldest first"
    );
    assert_eq!(history[0].response_excerpt.as_deref(), Some("answered 503"));
    let listed = |state| {
        let repo = repo.clone();
        async move {
            repo.deliveries(DeliveryQuery {
                webhook_ids: vec![hook.id],
                state: Some(state),
                limit: 10,
            })
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(DeliveryState::Failed).await, [dead]);
    assert_eq!(listed(DeliveryState::Delivered).await, [done]);
    assert!(listed(DeliveryState::Pending).await.is_empty());
    assert_eq!(repo.last_delivered(hook.id).await.unwrap(), Some(t));
}

#[tokio::test]
async fn a_disabled_endpoint_is_held_and_its_owner_told_once() {
    let repo = repo().await;
    let gone = endpoint(None, &[]);
    let mut sibling = endpoint(None, &["webhook.endpoint_disabled"]);
    sibling.id = Uuid::now_v7();
    let mut elsewhere = endpoint(None, &[]);
    elsewhere.id = Uuid::now_v7();
    elsewhere.created_by = "someone else".into();
    for w in [&gone, &sibling, &elsewhere] {
        repo.create_webhook(w.clone()).await.unwrap();
    }
    let t = now();
    let data = serde_json::json!({ "webhookId": gone.id, "reason": "410" });
    assert!(repo
        .disable_webhook(gone.id, "410", t, data.clone())
        .await
        .unwrap());
    assert!(
        !repo.disable_webhook(gone.id, "410", t, data).await.unwrap(),
        "already disabled: nobody is told twice"
    );
    let stored = repo.webhook(gone.id).await.unwrap().unwrap();
    assert!(!stored.enabled);
    assert_eq!(stored.disabled_reason.as_deref(), Some("410"));
    let notices = repo.deliveries(of(sibling.id, 10)).await.unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].topic, "webhook.endpoint_disabled");
    let body: serde_json::Value = serde_json::from_str(&notices[0].payload).unwrap();
    assert_eq!(body["data"]["webhookId"], serde_json::json!(gone.id));
    assert!(repo
        .deliveries(of(elsewhere.id, 10))
        .await
        .unwrap()
        .is_empty());

    // Its messages still fan out, but wait while it is disabled.
    live_event(&repo, None).await;
    repo.dispatch_outbox(100, now()).await.unwrap();
    let due = repo.claim_deliveries(now(), now(), 10).await.unwrap();
    assert!(due.iter().all(|(_, w)| w.id != gone.id), "held");
    assert_eq!(repo.deliveries(of(gone.id, 10)).await.unwrap().len(), 1);
    let mut enabled = stored.clone();
    enabled.enabled = true;
    enabled.disabled_reason = None;
    enabled.disabled_at = None;
    assert!(repo.update_webhook(enabled).await.unwrap());
    let due = repo.claim_deliveries(now(), now(), 10).await.unwrap();
    assert!(
        due.iter().any(|(_, w)| w.id == gone.id),
        "sent once enabled"
    );
}

#[tokio::test]
async fn redeliveries_and_replays_send_the_same_messages_again() {
    let repo = repo().await;
    let since = now();
    let hook = endpoint_with_messages(&repo, &["event.live"], 2).await;
    let t = now();
    let claimed = repo.claim_deliveries(t, t, 10).await.unwrap();
    for (d, _) in &claimed {
        repo.record_attempt(attempt(d, t, 204), AttemptOutcome::Delivered)
            .await
            .unwrap();
    }
    let first = &claimed[0].0;
    let later = Timestamp(t.0 + 1_000);
    // An attempt of a run that a redelivery replaced meanwhile does not undo it.
    let in_flight = repo.claim_deliveries(t, t, 10).await.unwrap();
    assert!(in_flight.is_empty(), "all delivered");
    let again = repo.redeliver(first.id, later).await.unwrap().unwrap();
    assert_eq!(
        (again.message_id, again.attempts, again.state()),
        (first.message_id, 0, DeliveryState::Pending)
    );
    assert_eq!(again.run_started_at, later);
    assert!(repo
        .redeliver(Uuid::now_v7(), later)
        .await
        .unwrap()
        .is_none());

    // A replay of the window: both messages, no new delivery rows, the same message ids.
    let replayed = repo
        .replay(hook.id, since, Timestamp(later.0 + 1), &[], later)
        .await
        .unwrap();
    assert_eq!(replayed, 2);
    let rows = repo.deliveries(of(hook.id, 10)).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|d| d.state() == DeliveryState::Pending));
    let mut ids: Vec<Uuid> = rows.iter().map(|d| d.message_id).collect();
    let mut sent: Vec<Uuid> = claimed.iter().map(|(d, _)| d.message_id).collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent);
    // Topics it does not receive are not replayed; nor is a window before the messages.
    let none = repo
        .replay(hook.id, Timestamp(0), since, &[], later)
        .await
        .unwrap();
    assert_eq!(none, 0);
    let other = repo
        .replay(hook.id, since, later, &["event.official".into()], later)
        .await
        .unwrap();
    assert_eq!(other, 0);
}

#[tokio::test]
async fn an_attempt_in_flight_does_not_undo_a_redelivery() {
    let repo = repo().await;
    endpoint_with_messages(&repo, &[], 1).await;
    let t = now();
    let claimed = repo.claim_deliveries(t, t, 10).await.unwrap();
    let delivery = &claimed[0].0;
    // Redelivered while the first attempt is still on its way; then that attempt succeeds.
    let later = Timestamp(t.0 + 1_000);
    repo.redeliver(delivery.id, later).await.unwrap().unwrap();
    repo.record_attempt(attempt(delivery, t, 200), AttemptOutcome::Delivered)
        .await
        .unwrap();
    let now_stored = repo.delivery(delivery.id).await.unwrap().unwrap();
    assert_eq!(
        now_stored.state(),
        DeliveryState::Pending,
        "the new run stays due"
    );
    assert_eq!(now_stored.run_started_at, later);
    assert_eq!(
        repo.attempts(&[delivery.id]).await.unwrap().len(),
        1,
        "kept in the history"
    );
    let due = repo.claim_deliveries(later, later, 10).await.unwrap();
    assert_eq!(due.len(), 1);
}
