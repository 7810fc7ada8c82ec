//! Results as they stood: `leaderboard(asOfSeq | asOf)` rebuilt from the change log equals what
//! the leaderboard showed at that step, for every step of a race ingested in shuffled batches.

use crate::helpers::{error_code, read, TestApp};
use podium_api::auth::Role;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const LB: &str = "query($id: ID!, $c: Category, $seq: Int, $at: DateTime) {
  leaderboard(eventId: $id, category: $c, first: 500, asOfSeq: $seq, asOf: $at) {
    totalCount seq edges { node { rank bib status netTimeMs elapsedMs lastTimingPoint athlete { name } } }
  } }";

const POINTS: [&str; 9] = [
    "START",
    "RUN1",
    "SKIERG_IN",
    "RUN2",
    "SLED_PUSH_IN",
    "RUN4",
    "RUN6",
    "RUN8",
    "FINISH",
];

async fn board(app: &TestApp, event: &str, seq: Option<i64>, at: Option<&str>) -> Value {
    app.gql(LB, json!({ "id": event, "seq": seq, "at": at }))
        .await["leaderboard"]
        .clone()
}

#[tokio::test]
async fn every_past_step_reads_back_as_the_leaderboard_showed_it() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    let bibs: Vec<String> = (1..=60).map(|n| n.to_string()).collect();
    let entries: Vec<(&str, &str, &str, i32)> = bibs
        .iter()
        .enumerate()
        .map(|(n, bib)| {
            let category = if n % 4 == 0 { "PRO" } else { "OPEN" };
            let gender = if n % 2 == 0 { "MEN" } else { "WOMEN" };
            (bib.as_str(), category, gender, 1980 + (n % 30) as i32)
        })
        .collect();
    app.add_entries(&event, &entries[..30]).await;
    app.add_entries(&event, &entries[30..]).await;
    let mut rng = StdRng::seed_from_u64(7);
    let mut reads = Vec::new();
    for bib in &bibs {
        let pace = rng.gen_range(500..900);
        // Some never finish: the race is seen with athletes at every stage.
        let last = if rng.gen_bool(0.15) { 5 } else { POINTS.len() };
        for (k, point) in POINTS.iter().enumerate().take(last) {
            reads.push(read(bib, point, pace * k as i64));
        }
    }
    reads.shuffle(&mut rng);

    let mut seen = Vec::new();
    seen.push(board(&app, &event, None, None).await);
    for batch in reads.chunks(37) {
        let report = app.ingest_json(&event, Value::Array(batch.to_vec())).await;
        assert_eq!(report["rejected"], json!([]), "{report}");
        seen.push(board(&app, &event, None, None).await);
        // An instant after this step, before the next batch.
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        seen.last_mut().unwrap()["at"] = json!(now);
    }
    assert!(seen.len() > 10);
    for then in &seen {
        let seq = then["seq"].as_i64().unwrap();
        let mut rebuilt = board(&app, &event, Some(seq), None).await;
        assert_eq!(rebuilt["seq"], seq);
        assert_eq!(rebuilt["edges"], then["edges"], "at seq {seq}");
        assert_eq!(rebuilt["totalCount"], then["totalCount"]);
        if let Some(at) = then["at"].as_str() {
            rebuilt = board(&app, &event, None, Some(at)).await;
            // A step written after the board and before the instant (the server may write one
            // on its own, after the batch's answer) is part of that past too.
            let found = rebuilt["seq"].as_i64().unwrap();
            assert!(found >= seq, "asOf {at}: {found} < {seq}");
            if found == seq {
                assert_eq!(rebuilt["edges"], then["edges"], "asOf {at}");
            } else {
                let by_seq = board(&app, &event, Some(found), None).await;
                assert_eq!(rebuilt["edges"], by_seq["edges"], "asOf {at}");
            }
        }
    }
    // Before the entries were registered there was nobody; filters apply to the past too.
    let empty = board(&app, &event, Some(0), None).await;
    assert_eq!(empty["totalCount"], 0);
    let pro = app
        .gql(
            LB,
            json!({ "id": event, "c": "PRO", "seq": seen[3]["seq"] }),
        )
        .await;
    let all_pro: Vec<&Value> = seen[3]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            bibs.iter()
                .position(|b| b == e["node"]["bib"].as_str().unwrap())
                .unwrap()
                % 4
                == 0
        })
        .collect();
    assert_eq!(
        pro["leaderboard"]["totalCount"].as_u64().unwrap() as usize,
        all_pro.len()
    );
}

#[tokio::test]
async fn the_past_keeps_todays_privacy_and_bad_arguments_are_named() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    app.add_entries(&event, &[("1", "OPEN", "MEN", 1990)]).await;
    app.ingest_json(
        &event,
        json!([read("1", "START", 0), read("1", "FINISH", 4000)]),
    )
    .await;
    let athlete = board(&app, &event, None, None).await["edges"][0]["node"]["athlete"].clone();
    assert_eq!(athlete["name"], "Athlete 1");
    let athlete_id = app
        .gql(
            "query($id: ID!, $bib: String!) { result(eventId: $id, bib: $bib) { athlete { id } } }",
            json!({ "id": event, "bib": "1" }),
        )
        .await["result"]["athlete"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.athlete_token(&athlete_id);
    let (_, body) = app
        .graphql_as(
            Some(&token),
            "mutation { setAthletePrivacy(private: true) { private } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["setAthletePrivacy"]["private"], true, "{body}");
    let anonymous = app.state.auth.mint_dev(
        podium_api::auth::dev_claims(Role::Coach, None, vec![], None),
        chrono::Duration::hours(1),
    );
    let (_, past) = app
        .graphql_as(
            Some(&anonymous.unwrap()),
            LB,
            json!({ "id": event, "seq": 2 }),
        )
        .await;
    assert_eq!(
        past["data"]["leaderboard"]["edges"][0]["node"]["athlete"]["name"], "Private athlete",
        "{past}"
    );

    let (_, both) = app
        .graphql_as(
            None,
            LB,
            json!({ "id": event, "seq": 1, "at": "2026-03-14T09:00:00Z" }),
        )
        .await;
    assert_eq!(error_code(&both), "BAD_USER_INPUT", "{both}");
    let (_, negative) = app
        .graphql_as(None, LB, json!({ "id": event, "seq": -1 }))
        .await;
    assert_eq!(error_code(&negative), "BAD_USER_INPUT", "{negative}");
}

const RESULT: &str = "query($id: ID!, $bib: String!, $seq: Int, $at: DateTime) {
  result(eventId: $id, bib: $bib, asOfSeq: $seq, asOf: $at) {
    status resultStatus netTimeMs elapsedMs penaltyMs lastTimingPoint ranks { overall gender ageGroup }
    splits { fromPoint toPoint durationMs } setAside { timingPoint }
  } }";

async fn result(app: &TestApp, event: &str, bib: &str, seq: Option<i64>) -> Value {
    app.gql(RESULT, json!({ "id": event, "bib": bib, "seq": seq }))
        .await["result"]
        .clone()
}

#[tokio::test]
async fn a_result_reads_back_as_it_stood_at_every_step_with_reads_and_corrections_of_then() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1991)],
    )
    .await;
    let mut seen = vec![(1, result(&app, &event, "1", None).await)];
    let steps = [
        json!([read("1", "START", 0), read("2", "START", 0)]),
        json!([read("1", "RUN1", 300), read("2", "RUN1", 290)]),
        // An impossible read: set aside now, and then.
        json!([read("1", "RUN4", 330)]),
        json!([read("1", "SKIERG_IN", 320), read("2", "FINISH", 3900)]),
        json!([read("1", "FINISH", 3800)]),
    ];
    let mut seq = 1;
    for step in steps {
        app.ingest_json(&event, step).await;
        seq += 1;
        seen.push((seq, result(&app, &event, "1", None).await));
    }
    let penalty = app
        .gql(
            "mutation($e: ID!) { applyCorrection(input: { eventId: $e, bib: \"1\", kind: TIME_PENALTY, penaltyMs: 120000, reason: \"cut\" }) { id } }",
            json!({ "e": event }),
        )
        .await;
    assert!(penalty["applyCorrection"]["id"].is_string(), "{penalty}");
    seq += 1;
    seen.push((seq, result(&app, &event, "1", None).await));
    let finished = &seen[seen.len() - 2].1;
    let penalised = &seen[seen.len() - 1].1;
    assert_eq!(finished["ranks"]["overall"], 1, "{finished}");
    assert_eq!(penalised["ranks"]["overall"], 2);
    assert_eq!(
        penalised["netTimeMs"].as_i64().unwrap() - finished["netTimeMs"].as_i64().unwrap(),
        120_000
    );
    assert_ne!(seen[3].1["splits"], seen[5].1["splits"]);
    for (seq, then) in &seen {
        let rebuilt = result(&app, &event, "1", Some(*seq)).await;
        assert_eq!(&rebuilt, then, "at seq {seq}");
    }
    // Before its registration, the bib had no result.
    assert_eq!(result(&app, &event, "1", Some(0)).await, Value::Null);
}
