//! Live results in process: subscriptions start with a snapshot (or replay after `afterSeq`
//! from the durable change log), then follow every change, each message with its `seq`.

use crate::helpers::{read, TestApp};
use async_graphql::{Request, Response, Variables};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;

const ENTRY: &str = "subscription($id: ID!, $bib: String!, $after: Int) {
    entryUpdates(eventId: $id, bib: $bib, afterSeq: $after) {
        seq kind eventStatus entry { bib status lastTimingPoint penaltyMs }
    }
}";

pub(crate) fn subscribe(
    app: &TestApp,
    query: &str,
    variables: Value,
) -> impl Stream<Item = Response> + Unpin {
    let schema = podium_api::transport::graphql::build_schema(Some(app.state.clone()));
    let request = Request::new(query).variables(Variables::from_json(variables));
    Box::pin(schema.execute_stream(request))
}

pub(crate) async fn next(stream: &mut (impl Stream<Item = Response> + Unpin)) -> Value {
    let response = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a message within 10 s")
        .expect("the stream goes on");
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    response.data.into_json().unwrap()
}

async fn nothing_within(stream: &mut (impl Stream<Item = Response> + Unpin), ms: u64) {
    let got = tokio::time::timeout(Duration::from_millis(ms), stream.next()).await;
    assert!(got.is_err(), "unexpected message: {got:?}");
}

#[tokio::test]
async fn entry_updates_start_with_a_snapshot_then_follow_each_change() {
    let app = TestApp::spawn().await;
    let event_id = app.create_event(None).await;
    app.add_entries(
        &event_id,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1991)],
    )
    .await;
    let mut stream = subscribe(&app, ENTRY, json!({ "id": event_id, "bib": "1" }));
    let snapshot = next(&mut stream).await["entryUpdates"].clone();
    assert_eq!(snapshot["kind"], "SNAPSHOT");
    assert_eq!(snapshot["entry"]["status"], "REGISTERED");
    let base = snapshot["seq"].as_i64().unwrap();

    app.ingest_json(
        &event_id,
        json!([read("1", "START", 5), read("1", "RUN1", 300)]),
    )
    .await;
    let update = next(&mut stream).await["entryUpdates"].clone();
    assert_eq!(update["kind"], "DETECTIONS");
    assert_eq!(update["seq"], base + 1);
    assert_eq!(update["eventStatus"], "LIVE");
    assert_eq!(update["entry"]["lastTimingPoint"], "RUN1");

    // A change of another bib is not this subscriber's business.
    app.ingest_json(&event_id, json!([read("2", "START", 5)]))
        .await;
    nothing_within(&mut stream, 300).await;

    app.gql(
        "mutation($input: CorrectionInput!) { applyCorrection(input: $input) { seq } }",
        json!({ "input": { "eventId": event_id, "bib": "1", "kind": "TIME_PENALTY", "penaltyMs": 5000, "reason": "cut" } }),
    )
    .await;
    let update = next(&mut stream).await["entryUpdates"].clone();
    assert_eq!(update["kind"], "CORRECTION");
    assert_eq!(update["seq"], base + 3);
    assert_eq!(update["entry"]["penaltyMs"], 5000);
}

#[tokio::test]
async fn resuming_after_a_seq_replays_exactly_what_was_missed_then_goes_live() {
    let app = TestApp::spawn().await;
    let event_id = app.create_event(None).await;
    app.add_entries(&event_id, &[("1", "OPEN", "MEN", 1990)])
        .await;
    let points = ["START", "RUN1", "SKIERG_IN", "SKIERG_OUT", "RUN2"];
    let mut seqs = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let report = app
            .ingest_json(&event_id, json!([read("1", p, 5 + i as i64 * 300)]))
            .await;
        seqs.push(report["seq"].as_i64().unwrap());
    }
    // The client saw the first two updates, then dropped.
    let mut stream = subscribe(
        &app,
        ENTRY,
        json!({ "id": event_id, "bib": "1", "after": seqs[1] }),
    );
    let mut replayed = Vec::new();
    for _ in 2..points.len() {
        let u = next(&mut stream).await["entryUpdates"].clone();
        replayed.push((
            u["seq"].as_i64().unwrap(),
            u["entry"]["lastTimingPoint"].clone(),
        ));
    }
    assert_eq!(
        replayed,
        vec![
            (seqs[2], json!("SKIERG_IN")),
            (seqs[3], json!("SKIERG_OUT")),
            (seqs[4], json!("RUN2")),
        ]
    );
    nothing_within(&mut stream, 200).await;
    let live = app
        .ingest_json(&event_id, json!([read("1", "SLED_PUSH_IN", 1_600)]))
        .await;
    let u = next(&mut stream).await["entryUpdates"].clone();
    assert_eq!(u["seq"], live["seq"]);

    let schema = podium_api::transport::graphql::build_schema(Some(app.state.clone()));
    let mut bad = schema.execute_stream(Request::new(ENTRY).variables(Variables::from_json(
        json!({ "id": event_id, "bib": "1", "after": 999 }),
    )));
    let response = bad.next().await.unwrap();
    assert!(
        response.errors[0].message.contains("afterSeq"),
        "{:?}",
        response.errors
    );
}

#[tokio::test]
async fn leaderboard_updates_carry_the_changed_rows_with_their_ranks() {
    let app = TestApp::spawn().await;
    let event_id = app.create_event(None).await;
    app.add_entries(
        &event_id,
        &[
            ("1", "OPEN", "MEN", 1990),
            ("2", "OPEN", "MEN", 1991),
            ("3", "PRO", "WOMEN", 1992),
        ],
    )
    .await;
    let query = "subscription($id: ID!) {
        leaderboardUpdates(eventId: $id, category: OPEN, gender: MEN) {
            seq kind entries { bib rank lastTimingPoint }
        }
    }";
    let mut stream = subscribe(&app, query, json!({ "id": event_id }));
    let snapshot = next(&mut stream).await["leaderboardUpdates"].clone();
    assert_eq!(snapshot["kind"], "SNAPSHOT");
    assert_eq!(snapshot["entries"].as_array().unwrap().len(), 2);

    app.ingest_json(
        &event_id,
        json!([
            read("1", "START", 5),
            read("2", "START", 5),
            read("2", "RUN1", 300),
            read("3", "START", 5)
        ]),
    )
    .await;
    let update = next(&mut stream).await["leaderboardUpdates"].clone();
    assert_eq!(update["kind"], "DETECTIONS");
    let rows = update["entries"].as_array().unwrap();
    let bibs: Vec<&str> = rows.iter().map(|r| r["bib"].as_str().unwrap()).collect();
    assert_eq!(bibs, ["2", "1"]);
    assert_eq!(rows[0]["rank"], 1);
    assert_eq!(rows[1]["rank"], 2);
}

#[tokio::test]
async fn an_entry_snapshot_includes_penalties_and_open_flags_and_unknown_bibs_are_refused() {
    let app = TestApp::spawn().await;
    let event_id = app.create_event(None).await;
    app.add_entries(&event_id, &[("1", "OPEN", "MEN", 1990)])
        .await;
    // RUN1 11 s after START: too fast, flagged.
    app.ingest_json(
        &event_id,
        json!([read("1", "START", 5), read("1", "RUN1", 16)]),
    )
    .await;
    app.gql(
        "mutation($input: CorrectionInput!) { applyCorrection(input: $input) { seq } }",
        json!({ "input": { "eventId": event_id, "bib": "1", "kind": "TIME_PENALTY", "penaltyMs": 5000, "reason": "cut" } }),
    )
    .await;
    let query = "subscription($id: ID!, $bib: String!, $after: Int) {
        entryUpdates(eventId: $id, bib: $bib, afterSeq: $after) { kind entry { penaltyMs openFlags } }
    }";
    let mut stream = subscribe(&app, query, json!({ "id": event_id, "bib": "1" }));
    let snapshot = next(&mut stream).await["entryUpdates"].clone();
    assert_eq!(snapshot["kind"], "SNAPSHOT");
    assert_eq!(snapshot["entry"]["penaltyMs"], 5000);
    assert_eq!(snapshot["entry"]["openFlags"], 1);

    for after in [json!(null), json!(1)] {
        let mut unknown = subscribe(
            &app,
            query,
            json!({ "id": event_id, "bib": "404", "after": after }),
        );
        let response = unknown.next().await.unwrap();
        assert!(
            response.errors[0].message.contains("404"),
            "{:?}",
            response.errors
        );
    }
}

const BOARD: &str = "subscription($id: ID!) {
    leaderboardUpdates(eventId: $id) { seq kind entries { bib } }
}";

/// With a feed that keeps only 3 steps, a subscriber that stops reading while 8 changes happen
/// (or whose bib stays quiet through them) falls off the feed and catches up from the change
/// log: nothing lost, nothing repeated, in order.
#[tokio::test]
async fn subscribers_that_fall_behind_the_feed_catch_up_from_the_log() {
    let app = TestApp::spawn_with(|s| s.live_recent_steps = 3).await;
    let event_id = app.create_event(None).await;
    app.add_entries(
        &event_id,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1991)],
    )
    .await;
    let mut stalled = subscribe(&app, BOARD, json!({ "id": event_id }));
    let mut quiet = subscribe(&app, ENTRY, json!({ "id": event_id, "bib": "1" }));
    let mut watching = subscribe(&app, BOARD, json!({ "id": event_id }));
    let base = next(&mut stalled).await["leaderboardUpdates"]["seq"]
        .as_i64()
        .unwrap();
    assert_eq!(next(&mut quiet).await["entryUpdates"]["seq"], base);
    assert_eq!(next(&mut watching).await["leaderboardUpdates"]["seq"], base);

    let points = [
        "START",
        "RUN1",
        "SKIERG_IN",
        "SKIERG_OUT",
        "RUN2",
        "SLED_PUSH_IN",
        "SLED_PUSH_OUT",
        "RUN3",
    ];
    for (i, point) in points.iter().enumerate() {
        app.ingest_json(&event_id, json!([read("2", point, 5 + 300 * i as i64)]))
            .await;
        // One subscriber keeps up all along.
        let update = next(&mut watching).await["leaderboardUpdates"].clone();
        assert_eq!(update["seq"], base + 1 + i as i64);
    }
    let mut seqs = Vec::new();
    for _ in 0..points.len() {
        let update = next(&mut stalled).await["leaderboardUpdates"].clone();
        assert_eq!(update["entries"][0]["bib"], "2");
        seqs.push(update["seq"].as_i64().unwrap());
    }
    assert_eq!(
        seqs,
        (base + 1..=base + points.len() as i64).collect::<Vec<_>>()
    );
    nothing_within(&mut stalled, 200).await;

    // Bib 1 was quiet through all of it; its first change arrives alone, with its seq.
    let report = app
        .ingest_json(&event_id, json!([read("1", "START", 5)]))
        .await;
    let update = next(&mut quiet).await["entryUpdates"].clone();
    assert_eq!(update["seq"], report["seq"]);
    assert_eq!(update["entry"]["bib"], "1");
    nothing_within(&mut quiet, 200).await;
    assert_eq!(
        next(&mut stalled).await["leaderboardUpdates"]["seq"],
        report["seq"]
    );
}
