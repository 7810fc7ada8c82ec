//! Analytics across events on the four real events of `testdata/hyrox-results/` (imported,
//! official): segment leaderboards, competition statistics and athlete trends, each checked
//! against a computation made here from the results exports (the engine's own splits, not the
//! per-segment table the queries read).

use crate::helpers::{error_code, import_real_events, TestApp};
use axum::body::Body;
use axum::http::{header, Request};
use podium_api::auth::Role;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// One exported result: event, season, athlete, division, status, net time, splits.
#[derive(Debug, Clone)]
struct Row {
    event: String,
    season: i32,
    bib: String,
    athlete: String,
    category: String,
    gender: String,
    status: String,
    net: Option<i64>,
    /// Segment → measured duration (neither merged nor an estimated roxzone).
    splits: HashMap<String, i64>,
}

/// Imports the four events and reads every result back through `results.json`.
async fn imported(app: &TestApp) -> Vec<Row> {
    import_real_events(app).await;
    let events = app
        .gql("{ events { id startsAt status } }", json!({}))
        .await;
    let mut rows = Vec::new();
    for event in events["events"].as_array().unwrap() {
        assert_eq!(event["status"], "OFFICIAL");
        let id = event["id"].as_str().unwrap();
        let season: i32 = event["startsAt"].as_str().unwrap()[..4].parse().unwrap();
        let request = Request::get(format!("/v1/events/{id}/results.json"))
            .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
            .body(Body::empty())
            .unwrap();
        let (_, _, body) = app.request(request).await;
        let export: Value = serde_json::from_slice(&body).unwrap();
        for r in export["results"].as_array().unwrap() {
            let splits = r["splits"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["merged"] == false && s["estimated"] == false)
                .map(|s| {
                    (
                        s["segment"].as_str().unwrap().to_owned(),
                        s["durationMs"].as_i64().unwrap(),
                    )
                })
                .collect();
            rows.push(Row {
                event: id.to_owned(),
                season,
                bib: r["bib"].as_str().unwrap().to_owned(),
                athlete: r["athleteId"].as_str().unwrap().to_owned(),
                category: r["category"].as_str().unwrap().to_owned(),
                gender: r["gender"].as_str().unwrap().to_owned(),
                status: r["status"].as_str().unwrap().to_owned(),
                net: r["netTimeMs"].as_i64(),
                splits,
            });
        }
    }
    rows
}

fn median(mut v: Vec<i64>) -> Option<f64> {
    v.sort_unstable();
    if v.is_empty() {
        return None;
    }
    let rank = (v.len() - 1) as f64 / 2.0;
    let (low, high) = (
        v[rank.floor() as usize] as f64,
        v[rank.ceil() as usize] as f64,
    );
    Some(low + (high - low) * (rank - rank.floor()))
}

const BOARD: &str = "query($s: String!, $c: Category, $g: Gender, $season: Int, $first: Int, $after: String) {
    segmentLeaderboard(segment: $s, category: $c, gender: $g, season: $season, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { node { rank durationMs eventId bib athlete { id name } } } } }";

#[tokio::test]
async fn segment_leaderboards_rank_each_athletes_best_measured_time() {
    let app = TestApp::spawn().await;
    let rows = imported(&app).await;
    for (segment, gender, season) in [
        ("SKIERG", "MEN", None),
        ("RUN_8", "WOMEN", Some(2019)),
        ("WALL_BALLS", "MEN", Some(2018)),
    ] {
        // Each athlete's best over the finished OPEN results of the season.
        let mut best: HashMap<&str, i64> = HashMap::new();
        for r in rows.iter().filter(|r| {
            r.status == "FINISHED"
                && r.category == "OPEN"
                && r.gender == gender
                && season.is_none_or(|s| r.season == s)
        }) {
            if let Some(d) = r.splits.get(segment) {
                let kept = best.entry(&r.athlete).or_insert(*d);
                *kept = (*kept).min(*d);
            }
        }
        let mut expected: Vec<(i64, &str)> = best.iter().map(|(a, d)| (*d, *a)).collect();
        expected.sort();
        // Read it all, 100 a page.
        let mut got: Vec<(u32, i64, String)> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = app
                .gql(
                    BOARD,
                    json!({ "s": segment, "c": "OPEN", "g": gender, "season": season, "first": 100, "after": after }),
                )
                .await["segmentLeaderboard"]
                .clone();
            assert_eq!(page["totalCount"], expected.len(), "{segment}");
            for edge in page["edges"].as_array().unwrap() {
                let n = &edge["node"];
                got.push((
                    n["rank"].as_u64().unwrap() as u32,
                    n["durationMs"].as_i64().unwrap(),
                    n["athlete"]["id"].as_str().unwrap().to_owned(),
                ));
            }
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(String::from);
        }
        assert_eq!(got.len(), expected.len(), "{segment}");
        for (n, (rank, duration, _)) in got.iter().enumerate() {
            // Competition ranks over the sorted times.
            let faster = expected.iter().filter(|(d, _)| d < duration).count();
            assert_eq!(*rank as usize, faster + 1, "{segment} #{n}");
            assert_eq!(*duration, expected[n].0, "{segment} #{n}");
        }
        let mut got_pairs: Vec<(i64, &str)> =
            got.iter().map(|(_, d, a)| (*d, a.as_str())).collect();
        got_pairs.sort();
        assert_eq!(got_pairs, expected, "{segment}");
    }
    // Imported roxzones are estimated: no measured time to rank.
    let roxzone = app
        .gql(BOARD, json!({ "s": "ROXZONE_3", "first": 5 }))
        .await;
    assert_eq!(roxzone["segmentLeaderboard"]["totalCount"], 0);
    let (_, bad) = app.graphql_as(None, BOARD, json!({ "s": "SKI" })).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    assert!(
        bad.to_string().contains("SKIERG"),
        "names the choices: {bad}"
    );
}

#[tokio::test]
async fn an_amendment_moves_the_segment_leaderboard_at_once() {
    let app = TestApp::spawn().await;
    let rows = imported(&app).await;
    let top = json!({ "s": "SKIERG", "c": "OPEN", "g": "MEN", "first": 1 });
    let leader =
        app.gql(BOARD, top.clone()).await["segmentLeaderboard"]["edges"][0]["node"].clone();
    let event = leader["eventId"].as_str().unwrap().to_owned();
    let bib = leader["bib"].as_str().unwrap().to_owned();
    // Ignoring the leader's SKIERG_OUT read merges their SkiErg with the next segment.
    let lineage = app
        .gql(
            "query($e: ID!, $b: String!) { result(eventId: $e, bib: $b) { lineage { reads { timingPoint at } } } }",
            json!({ "e": event, "b": bib }),
        )
        .await;
    let at = lineage["result"]["lineage"]["reads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["timingPoint"] == "SKIERG_OUT")
        .unwrap()["at"]
        .clone();
    app.gql(
        "mutation($e: ID!, $b: String!, $at: DateTime!) { applyCorrection(input: { eventId: $e, bib: $b, kind: IGNORE_READ, timingPoint: \"SKIERG_OUT\", at: $at, reason: \"chip read of the neighbour lane\" }) { id } }",
        json!({ "e": event, "b": bib, "at": at }),
    )
    .await;
    let after = app.gql(BOARD, top).await["segmentLeaderboard"]["edges"][0]["node"].clone();
    assert_ne!(after["athlete"]["id"], leader["athlete"]["id"], "{after}");
    let second_best = rows
        .iter()
        .filter(|r| r.status == "FINISHED" && r.category == "OPEN" && r.gender == "MEN")
        .filter(|r| !(r.event == event && r.bib == bib))
        .filter_map(|r| r.splits.get("SKIERG"))
        .min()
        .copied();
    assert_eq!(after["durationMs"].as_i64(), second_best);
}

#[tokio::test]
async fn competition_stats_add_up_a_season_against_the_one_before() {
    let app = TestApp::spawn().await;
    let rows = imported(&app).await;
    let data = app
        .gql(
            "{ competitionStats(season: 2019, category: OPEN, gender: WOMEN) {
                season events entries finishers finishRate dnfRate
                finishTime { count medianMs minMs maxMs }
                segmentMedians { segment count medianMs changeMs }
                entriesChange medianFinishChangeMs
                previousSeason { season events entries finishers finishTime { medianMs } } } }",
            json!({}),
        )
        .await["competitionStats"]
        .clone();
    let figures = |season: i32| {
        let chosen: Vec<&Row> = rows
            .iter()
            .filter(|r| r.season == season && r.category == "OPEN" && r.gender == "WOMEN")
            .collect();
        let events: std::collections::BTreeSet<&str> = rows
            .iter()
            .filter(|r| r.season == season)
            .map(|r| r.event.as_str())
            .collect();
        let finished: Vec<&&Row> = chosen.iter().filter(|r| r.status == "FINISHED").collect();
        let mut segments: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for r in &finished {
            for (s, d) in &r.splits {
                segments.entry(s.as_str()).or_default().push(*d);
            }
        }
        (
            events.len(),
            chosen.len(),
            finished.len(),
            median(finished.iter().filter_map(|r| r.net).collect()),
            segments,
        )
    };
    let (events, entries, finishers, median_net, segments) = figures(2019);
    let (events_18, entries_18, finishers_18, median_net_18, segments_18) = figures(2018);
    assert_eq!(data["season"], 2019);
    assert_eq!(data["events"], events);
    assert_eq!(data["entries"], entries);
    assert_eq!(data["finishers"], finishers);
    assert_eq!(data["finishTime"]["count"], finishers);
    assert_eq!(data["finishTime"]["medianMs"].as_f64(), median_net);
    assert!(
        (data["finishRate"].as_f64().unwrap() - finishers as f64 / entries as f64).abs() < 1e-9
    );
    let previous = &data["previousSeason"];
    assert_eq!(
        (
            previous["season"].clone(),
            previous["events"].clone(),
            previous["entries"].clone(),
            previous["finishers"].clone()
        ),
        (
            json!(2018),
            json!(events_18),
            json!(entries_18),
            json!(finishers_18)
        )
    );
    assert_eq!(data["entriesChange"], entries as i64 - entries_18 as i64);
    let change = median_net.unwrap() - median_net_18.unwrap();
    assert!((data["medianFinishChangeMs"].as_f64().unwrap() - change).abs() < 1e-6);
    let medians = data["segmentMedians"].as_array().unwrap();
    assert_eq!(
        medians.len(),
        segments.len(),
        "every measured segment, no roxzone"
    );
    assert_eq!(medians[0]["segment"], "RUN_1", "course order");
    for m in medians {
        let code = m["segment"].as_str().unwrap();
        let values = &segments[code];
        assert_eq!(m["count"], values.len(), "{code}");
        let expected = median(values.clone()).unwrap();
        assert!(
            (m["medianMs"].as_f64().unwrap() - expected).abs() < 1e-6,
            "{code}: {m}"
        );
        let before = median(segments_18[code].clone()).unwrap();
        assert!(
            (m["changeMs"].as_f64().unwrap() - (expected - before)).abs() < 1e-6,
            "{code}"
        );
    }

    // Admins and integrations with analytics:read only.
    let coach = app.token(Role::Coach, vec![]);
    let (_, refused) = app
        .graphql_as(Some(&coach), "{ competitionStats { entries } }", json!({}))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let integration = |scope: &str| {
        let mut claims =
            podium_api::auth::dev_claims(Role::Integration, Some("pc_stats".into()), vec![], None);
        claims.scope = Some(scope.to_owned());
        app.state
            .auth
            .mint_dev(claims, chrono::Duration::hours(1))
            .unwrap()
    };
    let query = "{ competitionStats(season: 2019) { entries } }";
    let (_, allowed) = app
        .graphql_as(Some(&integration("analytics:read")), query, json!({}))
        .await;
    assert!(
        allowed["data"]["competitionStats"]["entries"]
            .as_u64()
            .unwrap()
            > 0,
        "{allowed}"
    );
    let (_, refused) = app
        .graphql_as(Some(&integration("results:read")), query, json!({}))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
}

#[tokio::test]
async fn an_athletes_trend_follows_their_percentiles_race_by_race() {
    let app = TestApp::spawn().await;
    let rows = imported(&app).await;
    // An athlete who finished at least two of the events.
    let mut races: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == "FINISHED") {
        races.entry(&r.athlete).or_default().push(r);
    }
    let (athlete, theirs) = races
        .iter()
        .find(|(_, v)| v.len() >= 2)
        .expect("someone raced twice");
    let trend = app
        .gql(
            "query($a: ID!) { athleteTrend(athleteId: $a) { eventId bib status netTimeMs divisionPercentile
                netChangeMs percentileChange segments { segment durationMs percentile percentileChange } } }",
            json!({ "a": athlete }),
        )
        .await["athleteTrend"]
        .clone();
    let trend = trend.as_array().unwrap();
    assert_eq!(trend.len(), theirs.len());
    let percentile = |value: i64, others: &[i64]| {
        let slower = others.iter().filter(|o| **o > value).count() as f64;
        let ties = others.iter().filter(|o| **o == value).count() as f64;
        100.0 * (slower + ties / 2.0) / others.len() as f64
    };
    let mut previous: Option<(i64, f64)> = None;
    for point in trend {
        let mine = theirs
            .iter()
            .find(|r| r.event == point["eventId"].as_str().unwrap())
            .unwrap();
        let division: Vec<&Row> = rows
            .iter()
            .filter(|r| {
                r.event == mine.event && r.category == mine.category && r.gender == mine.gender
            })
            .filter(|r| r.status == "FINISHED" && r.bib != mine.bib)
            .collect();
        let nets: Vec<i64> = division.iter().filter_map(|r| r.net).collect();
        let expected = percentile(mine.net.unwrap(), &nets);
        let got = point["divisionPercentile"].as_f64().unwrap();
        assert!((got - expected).abs() < 1e-9, "{point}");
        for s in point["segments"].as_array().unwrap() {
            let code = s["segment"].as_str().unwrap();
            let others: Vec<i64> = division
                .iter()
                .filter_map(|r| r.splits.get(code).copied())
                .collect();
            let want = percentile(mine.splits[code], &others);
            assert!(
                (s["percentile"].as_f64().unwrap() - want).abs() < 1e-9,
                "{code}: {s}"
            );
        }
        assert_eq!(
            point["segments"].as_array().unwrap().len(),
            mine.splits.len()
        );
        if let Some((net, pct)) = previous {
            assert_eq!(point["netChangeMs"], mine.net.unwrap() - net);
            assert!((point["percentileChange"].as_f64().unwrap() - (got - pct)).abs() < 1e-9);
        } else {
            assert_eq!(point["netChangeMs"], Value::Null);
        }
        previous = Some((mine.net.unwrap(), got));
    }
    // Per-athlete analytics: not for a coach they did not grant.
    let coach = app.token(Role::Coach, vec![]);
    let (_, refused) = app
        .graphql_as(
            Some(&coach),
            "query($a: ID!) { athleteTrend(athleteId: $a) { bib } }",
            json!({ "a": athlete }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
}

#[tokio::test]
async fn a_race_report_carries_the_athletes_earlier_races_most_recent_first() {
    let app = TestApp::spawn().await;
    let rows = imported(&app).await;
    let events = app.gql("{ events { id startsAt } }", json!({})).await;
    let starts: HashMap<String, String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["startsAt"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut races: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        races.entry(&r.athlete).or_default().push(r);
    }
    let (_, mut theirs) = races
        .into_iter()
        .find(|(_, v)| v.len() >= 2)
        .expect("someone raced twice");
    theirs.sort_by_key(|r| std::cmp::Reverse(starts[&r.event].clone()));
    let last = theirs[0];
    let report = app
        .gql(
            "query($e: ID!, $b: String!) { raceReport(eventId: $e, bib: $b) {
                eventId netTimeMs previous { eventId bib netTimeMs segments { segment } previous { eventId } } } }",
            json!({ "e": last.event, "b": last.bib }),
        )
        .await["raceReport"]
        .clone();
    assert_eq!(report["eventId"], json!(last.event));
    let previous = report["previous"].as_array().unwrap();
    assert_eq!(previous.len(), theirs.len() - 1, "{report}");
    for (got, earlier) in previous.iter().zip(&theirs[1..]) {
        assert_eq!(got["eventId"], json!(earlier.event));
        assert_eq!(got["bib"], json!(earlier.bib));
        assert_eq!(got["netTimeMs"], json!(earlier.net));
        assert_eq!(got["segments"].as_array().unwrap().len(), 28);
        assert_eq!(got["previous"], json!([]));
    }
}
