//! The outbox → delivery pipeline on SQLite and PostgreSQL: each message fanned out once per
//! matching endpoint (even with dispatchers racing), claims leased, attempts recorded.

use podium_domain::course::Course;
use podium_domain::model::{EventStatus, NewEvent, NewVenue};
use podium_domain::ports::{AttemptOutcome, RaceRepository, WebhookRecord, WebhookRepository};
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
        let got = repo.deliveries(w.id, 10).await.unwrap();
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
    assert_eq!(repo.deliveries(hook.id, 100).await.unwrap().len(), 40);
}

#[tokio::test]
async fn claims_are_leased_and_attempts_recorded() {
    let repo = repo().await;
    let hook = endpoint(None, &[]);
    repo.create_webhook(hook.clone()).await.unwrap();
    live_event(&repo, None).await;
    live_event(&repo, None).await;
    repo.dispatch_outbox(100, now()).await.unwrap();
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

    let (first, second) = (claimed[0].0.id, claimed[1].0.id);
    repo.record_attempt(first, t, AttemptOutcome::Delivered)
        .await
        .unwrap();
    repo.record_attempt(
        second,
        t,
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
        second,
        t,
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
    let stored = repo.deliveries(hook.id, 10).await.unwrap();
    let given_up = stored.iter().find(|d| d.id == second).unwrap();
    assert_eq!((given_up.attempts, given_up.failed_at.is_some()), (2, true));
    assert!(repo.delete_webhook(hook.id).await.unwrap());
    assert!(repo.deliveries(hook.id, 10).await.unwrap().is_empty());
}
