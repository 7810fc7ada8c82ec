//! Leaderboards and results read back what ingest produced.

use crate::helpers::{read, TestApp};
use serde_json::{json, Value};

const LB: &str =
    "query($id: ID!, $c: Category, $g: Gender, $a: String, $first: Int, $after: String) {
  leaderboard(eventId: $id, category: $c, gender: $g, ageGroup: $a, first: $first, after: $after) {
    totalCount seq pageInfo { hasNextPage endCursor }
    edges { cursor node { rank bib status netTimeMs elapsedMs lastTimingPoint athlete { name } } }
  } }";

fn finish(bib: &str, start: i64, total: i64) -> Vec<Value> {
    vec![
        read(bib, "START", start),
        read(bib, "FINISH", start + total),
    ]
}

fn bibs(lb: &Value) -> Vec<(String, Value)> {
    lb["leaderboard"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["bib"].as_str().unwrap().to_owned(),
                e["node"]["rank"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn standings_rank_finished_then_racing_with_shared_ranks_for_ties() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[
            ("1", "OPEN", "MEN", 1990),
            ("2", "OPEN", "MEN", 1990),
            ("3", "OPEN", "MEN", 1990),
            ("4", "OPEN", "MEN", 1960),
            ("5", "OPEN", "MEN", 1990),
            ("6", "OPEN", "WOMEN", 1990),
            ("7", "OPEN", "MEN", 1990),
        ],
    )
    .await;
    let mut rows = Vec::new();
    rows.extend(finish("1", 0, 5000));
    rows.extend(finish("2", 0, 4000));
    rows.extend(finish("3", 10, 4000)); // ties with 2
    rows.extend([read("4", "START", 0), read("4", "RUN5", 2500)]);
    rows.extend([
        read("5", "START", 0),
        read("5", "RUN5", 2400),
        read("5", "RUN1", 300),
    ]);
    rows.extend(finish("6", 0, 3000));
    // 7 never starts.
    app.ingest_json(&event, Value::Array(rows)).await;

    let all = app.gql(LB, json!({ "id": event })).await;
    assert_eq!(
        bibs(&all),
        [
            ("6", json!(1)),
            ("2", json!(2)),
            ("3", json!(2)),
            ("1", json!(4)),
            ("5", json!(5)),
            ("4", json!(6)),
            ("7", Value::Null)
        ]
        .map(|(b, r)| (b.to_owned(), r))
    );
    let node = &all["leaderboard"]["edges"][4]["node"];
    assert_eq!(node["status"], "RACING");
    assert_eq!(node["lastTimingPoint"], "RUN5");
    assert_eq!(node["elapsedMs"], 2_400_000);
    assert_eq!(
        all["leaderboard"]["edges"][0]["node"]["netTimeMs"],
        3_000_000
    );

    let men = app
        .gql(LB, json!({ "id": event, "c": "OPEN", "g": "MEN" }))
        .await;
    assert_eq!(men["leaderboard"]["totalCount"], 6);
    assert_eq!(bibs(&men)[0], ("2".to_owned(), json!(1)));
    let masters = app
        .gql(LB, json!({ "id": event, "g": "MEN", "a": "65-69" }))
        .await;
    assert_eq!(bibs(&masters), [("4".to_owned(), json!(1))]);

    // Paging: two at a time, ranks stay global to the filter.
    let page1 = app.gql(LB, json!({ "id": event, "first": 2 })).await;
    assert_eq!(page1["leaderboard"]["pageInfo"]["hasNextPage"], true);
    let cursor = page1["leaderboard"]["pageInfo"]["endCursor"].clone();
    let page2 = app
        .gql(LB, json!({ "id": event, "first": 2, "after": cursor }))
        .await;
    assert_eq!(
        bibs(&page2),
        [("3".to_owned(), json!(2)), ("1".to_owned(), json!(4))]
    );

    let (_, bad) = app
        .graphql_as(None, LB, json!({ "id": event, "a": "18-20" }))
        .await;
    assert_eq!(crate::helpers::error_code(&bad), "BAD_USER_INPUT");
    let (_, bad) = app
        .graphql_as(None, LB, json!({ "id": event, "after": "xyz" }))
        .await;
    assert_eq!(crate::helpers::error_code(&bad), "BAD_USER_INPUT");
}

const RESULT: &str = "query($id: ID!, $bib: String!) { result(eventId: $id, bib: $bib) {
  bib status provisional netTimeMs startFromWave lastTimingPoint roxzoneTimeMs
  ranks { overall gender ageGroup }
  splits { segment segments fromPoint toPoint durationMs merged }
} }";

#[tokio::test]
async fn a_result_lists_every_split_and_merges_around_missed_mats() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[("8", "PRO", "WOMEN", 1985), ("9", "PRO", "WOMEN", 1985)],
    )
    .await;
    let course = podium_domain::course::Course::hyrox_standard();
    // Bib 8: every mat but SKIERG_IN, and no START (falls back to the wave start at 09:00).
    let rows: Vec<Value> = course
        .points()
        .iter()
        .enumerate()
        .filter(|(_, p)| !["START", "SKIERG_IN"].contains(&p.as_str()))
        .map(|(i, p)| read("8", p.as_str(), i as i64 * 200))
        .collect();
    app.ingest_json(&event, Value::Array(rows)).await;
    app.ingest_json(
        &event,
        json!([read("9", "START", 0), read("9", "FINISH", 9000)]),
    )
    .await;

    let data = app.gql(RESULT, json!({ "id": event, "bib": "8" })).await;
    let r = &data["result"];
    assert_eq!(r["status"], "FINISHED");
    assert_eq!(r["provisional"], true);
    assert_eq!(r["startFromWave"], true);
    assert_eq!(r["netTimeMs"], 24 * 200_000);
    assert_eq!(
        r["ranks"],
        json!({ "overall": 1, "gender": 1, "ageGroup": 1 })
    );
    let splits = r["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 23);
    assert_eq!(splits[0]["segment"], "RUN_1");
    assert_eq!(splits[1]["segment"], "ROXZONE_1+SKIERG");
    assert_eq!(splits[1]["merged"], true);
    assert_eq!(splits[1]["fromPoint"], "RUN1");
    assert_eq!(splits[1]["toPoint"], "SKIERG_OUT");
    assert_eq!(splits[1]["durationMs"], 400_000);
    assert_eq!(r["roxzoneTimeMs"], Value::Null, "ROXZONE_1 is unknown");

    let data = app.gql(RESULT, json!({ "id": event, "bib": "9" })).await;
    assert_eq!(data["result"]["ranks"]["overall"], 2);
    assert_eq!(data["result"]["splits"].as_array().unwrap().len(), 1);

    let none = app.gql(RESULT, json!({ "id": event, "bib": "404" })).await;
    assert_eq!(none["result"], Value::Null);
}
