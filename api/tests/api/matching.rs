//! One athlete across events, on the four real events of `testdata/hyrox-results/`: the
//! matching rule (recomputed here on its own) decides who each imported result belongs to,
//! `athletes(search)` pages through them, `possibleDuplicates` lists the people it kept apart,
//! and `mergeAthletes` joins two with the most private settings winning.

use crate::helpers::{error_code, testdata, TestApp};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use podium_api::auth::Role;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};

const FILES: [&str; 4] = [
    "hyrox-2018-essen.jsonl",
    "hyrox-2018-wien.jsonl",
    "hyrox-2019-karlsruhe.jsonl",
    "hyrox-2019-nuernberg.jsonl",
];

/// The name key, computed here independently: the few marked letters of these files folded
/// by hand, lower case, words sorted.
fn key(words: &str) -> String {
    let folded: String = words
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'š' => 's',
            c => c,
        })
        .collect();
    let mut words: Vec<&str> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.sort_unstable();
    words.join(" ")
}

/// `(key, gender, nationality)` of a source row.
fn identity(row: &Value) -> (String, String, Option<String>) {
    let name = row["name"].as_str().unwrap();
    let (name, nationality) = match name.trim_end().strip_suffix(')') {
        Some(rest) => {
            let (name, nat) = rest.rsplit_once('(').unwrap();
            (name, Some(nat.trim().to_uppercase()))
        }
        None => (name, None),
    };
    let gender = row["category"].as_str().unwrap().to_uppercase();
    (key(name), gender, nationality)
}

async fn import(app: &TestApp, token: &str, file: &str) -> Value {
    let request = Request::post(format!("/v1/import/results?source={file}"))
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(testdata(file)))
        .unwrap();
    let (status, _, body) = app.request(request).await;
    let report: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

const SEARCH: &str = "query($s: String!, $first: Int, $after: String) {
  athletes(search: $s, first: $first, after: $after) {
    edges { cursor node { id name nationality } } pageInfo { hasNextPage endCursor } } }";

#[tokio::test]
async fn imported_results_join_their_athletes_across_events_by_the_rule() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, vec![]);
    // Athletes known so far, as the rule sees them: (key, gender, nationality) per athlete.
    let mut known: Vec<(String, String, Option<String>)> = Vec::new();
    for file in FILES {
        let report = import(&app, &admin, file).await;
        let athletes = &report["events"][0]["athletes"];
        let (mut created, mut matched) = (0, 0);
        let mut ambiguous = BTreeSet::new();
        let mut seen = HashSet::new();
        let before = known.len();
        for line in testdata(file).lines().filter(|l| !l.trim().is_empty()) {
            let row: Value = serde_json::from_str(line).unwrap();
            if !seen.insert(row["start_number"].as_str().unwrap().to_owned()) {
                continue;
            }
            let (k, gender, nationality) = identity(&row);
            let fits = known[..before]
                .iter()
                .filter(|(key, g, nat)| {
                    *key == k
                        && *g == gender
                        && !matches!((nat, &nationality), (Some(a), Some(b)) if a != b)
                })
                .count();
            match fits {
                0 => created += 1,
                1 => matched += 1,
                _ => {
                    created += 1;
                    ambiguous.insert(row["start_number"].as_str().unwrap().to_owned());
                }
            }
            if fits != 1 {
                known.push((k, gender, nationality));
            }
        }
        assert_eq!(athletes["created"], created, "{file}: {athletes}");
        assert_eq!(athletes["matched"], matched, "{file}");
        let listed: BTreeSet<String> = athletes["ambiguous"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["bib"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, ambiguous, "{file}");
    }
    assert!(known.len() < 4000, "people raced more than once");

    // One person, four events, found by name in any order and case.
    let found =
        app.gql(SEARCH, json!({ "s": "RASCHKE fabian" })).await["athletes"]["edges"].clone();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["node"]["nationality"], "GER");
    let fabian = found[0]["node"]["id"].as_str().unwrap().to_owned();
    let history = app
        .gql(
            "query($id: ID!) { athlete(id: $id) { results { eventName netTimeMs } } }",
            json!({ "id": fabian }),
        )
        .await;
    assert_eq!(
        history["athlete"]["results"].as_array().unwrap().len(),
        4,
        "{history}"
    );

    // His bests, against his published splits: every run and station at its fastest of the
    // four, no roxzone (estimated), and which of his finishes were bests when raced.
    let rows: Vec<Value> = FILES
        .iter()
        .flat_map(|f| testdata(f).lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.contains("\"Raschke, Fabian (GER)\""))
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    let bests = app
        .gql(
            "query($id: ID!) { athlete(id: $id) { bestNetTimeMs personalBests { segment durationMs bib } } }",
            json!({ "id": fabian }),
        )
        .await["athlete"]
        .clone();
    let ms = |v: &Value| (v.as_f64().unwrap() * 1000.0).round() as i64;
    let best_total = rows.iter().map(|r| ms(&r["total_time"])).min().unwrap();
    assert_eq!(bests["bestNetTimeMs"], best_total);
    let pbs = bests["personalBests"].as_array().unwrap();
    assert_eq!(pbs.len(), 16, "{bests}");
    for (n, pb) in pbs.iter().enumerate() {
        let code = pb["segment"].as_str().unwrap();
        assert!(!code.starts_with("ROXZONE"), "{pb}");
        // Runs and stations alternate in course order: run n, station n.
        let key = if n % 2 == 0 {
            format!("{:02}_", n / 2 + 1)
        } else {
            format!("{:02}_", 9 + n / 2)
        };
        let published = |r: &Value| {
            r["splits"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.starts_with(&key))
                .map(|(_, v)| ms(v))
                .unwrap()
        };
        let fastest = rows.iter().map(published).min().unwrap();
        assert_eq!(pb["durationMs"], fastest, "{code}");
        let holder = rows
            .iter()
            .find(|r| r["start_number"] == pb["bib"])
            .unwrap();
        assert_eq!(published(holder), fastest, "{code}");
    }
    let mut by_date = rows.clone();
    by_date.sort_by_key(|r| r["start_time"].as_str().unwrap().to_owned());
    let mut best_so_far = i64::MAX;
    let events = app
        .gql("{ events(first: 50) { id name } }", json!({}))
        .await;
    for row in &by_date {
        let total = ms(&row["total_time"]);
        let expected = total < best_so_far;
        best_so_far = best_so_far.min(total);
        let event = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == row["event_occurrence"])
            .unwrap()["id"]
            .clone();
        let result = app
            .gql(
                "query($id: ID!, $bib: String!) { result(eventId: $id, bib: $bib) { personalBest } }",
                json!({ "id": event, "bib": row["start_number"] }),
            )
            .await;
        assert_eq!(result["result"]["personalBest"], expected, "{row}");
    }

    // Pages follow one another without gaps or repeats.
    let whole =
        app.gql(SEARCH, json!({ "s": "an", "first": 100 })).await["athletes"]["edges"].clone();
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .gql(SEARCH, json!({ "s": "an", "first": 7, "after": after }))
            .await["athletes"]
            .clone();
        paged.extend(page["edges"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] != true || paged.len() >= 100 {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        Value::Array(paged[..whole.as_array().unwrap().len().min(paged.len())].to_vec()),
        whole
    );

    // Possible duplicates: people with one name and gender the rule kept apart.
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (k, g, _) in &known {
        *expected.entry((k.clone(), g.clone())).or_default() += 1;
    }
    expected.retain(|_, n| *n > 1);
    assert!(
        !expected.is_empty() && expected.len() < 400,
        "{}",
        expected.len()
    );
    let (_, body) = app
        .graphql_as(
            Some(&admin),
            "{ possibleDuplicates(first: 400) { nameKey athletes { id name } } }",
            json!({}),
        )
        .await;
    let groups = body["data"]["possibleDuplicates"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .clone();
    let sizes: Vec<usize> = groups
        .iter()
        .map(|g| g["athletes"].as_array().unwrap().len())
        .collect();
    let mut expected_sizes: Vec<usize> = expected.values().copied().collect();
    let mut got_sizes = sizes.clone();
    expected_sizes.sort_unstable();
    got_sizes.sort_unstable();
    assert_eq!(got_sizes, expected_sizes, "{body}");
    let (_, refused) = app
        .graphql_as(None, "{ possibleDuplicates { nameKey } }", json!({}))
        .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
}

#[tokio::test]
async fn a_merge_moves_results_keeps_the_most_private_settings_and_leaves_a_record() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, vec![]);
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1990)],
    )
    .await;
    let ids = app.athlete_ids(&event).await;
    let (keep, merge) = (ids["1"].clone(), ids["2"].clone());
    // Coach c1 was granted by both, c2 by the merged athlete only; the merged one is private.
    for (athlete, coaches) in [(&keep, vec!["c1"]), (&merge, vec!["c1", "c2"])] {
        let token = app.athlete_token(athlete);
        for coach in coaches {
            let (_, body) = app
                .graphql_as(
                    Some(&token),
                    "mutation($c: String!) { grantCoachAccess(coachId: $c) { coachId } }",
                    json!({ "c": coach }),
                )
                .await;
            assert!(body["errors"].is_null(), "{body}");
        }
    }
    let (_, body) = app
        .graphql_as(
            Some(&app.athlete_token(&merge)),
            "mutation { setAthletePrivacy(private: true) { private } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");

    const MERGE: &str = "mutation($k: ID!, $m: ID!) { mergeAthletes(keepId: $k, mergeId: $m) {
        keptId mergedId mergedName entriesMoved mergedBy athlete { id private } } }";
    let (_, forbidden) = app
        .graphql_as(
            Some(&app.token(Role::VenueOperator, vec![])),
            MERGE,
            json!({ "k": keep, "m": merge }),
        )
        .await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN", "{forbidden}");
    let (_, itself) = app
        .graphql_as(Some(&admin), MERGE, json!({ "k": keep, "m": keep }))
        .await;
    assert_eq!(error_code(&itself), "BAD_USER_INPUT", "{itself}");

    let (_, merged) = app
        .graphql_as(Some(&admin), MERGE, json!({ "k": keep, "m": merge }))
        .await;
    let record = &merged["data"]["mergeAthletes"];
    assert_eq!(record["entriesMoved"], 1, "{merged}");
    assert_eq!(record["mergedName"], "Athlete 2");
    assert_eq!(record["athlete"]["private"], true, "the most private wins");
    assert!(record["mergedBy"].as_str().is_some_and(|s| !s.is_empty()));

    // The merged athlete is gone; both results are the kept athlete's, on the live board too.
    let (_, gone) = app
        .graphql_as(
            Some(&admin),
            "query($id: ID!) { athlete(id: $id) { id } }",
            json!({ "id": merge }),
        )
        .await;
    assert_eq!(gone["data"]["athlete"], Value::Null, "{gone}");
    let (_, kept) = app
        .graphql_as(
            Some(&admin),
            "query($id: ID!) { athlete(id: $id) { results { bib } } }",
            json!({ "id": keep }),
        )
        .await;
    assert_eq!(
        kept["data"]["athlete"]["results"].as_array().unwrap().len(),
        2
    );
    let (_, board) = app
        .graphql_as(
            Some(&admin),
            "query($id: ID!) { leaderboard(eventId: $id) { edges { node { bib athlete { id name } } } } }",
            json!({ "id": event }),
        )
        .await;
    for edge in board["data"]["leaderboard"]["edges"].as_array().unwrap() {
        assert_eq!(edge["node"]["athlete"]["id"], keep.as_str(), "{board}");
        assert_eq!(edge["node"]["athlete"]["name"], "Athlete 1");
    }
    // Private now: the public neither sees nor finds them.
    let (_, public) = app
        .graphql_as(
            None,
            "query($id: ID!) { athlete(id: $id) { id } }",
            json!({ "id": keep }),
        )
        .await;
    assert_eq!(public["data"]["athlete"], Value::Null, "{public}");
    let (_, public) = app
        .graphql_as(None, SEARCH, json!({ "s": "athlete" }))
        .await;
    assert_eq!(public["data"]["athletes"]["edges"], json!([]), "{public}");
    let listed = app.gql(SEARCH, json!({ "s": "athlete" })).await;
    assert_eq!(
        listed["athletes"]["edges"].as_array().unwrap().len(),
        1,
        "admins see them"
    );
    // Only the coach both granted keeps access.
    let (_, grants) = app
        .graphql_as(
            Some(&app.athlete_token(&keep)),
            "{ coachGrants { coachId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        grants["data"]["coachGrants"],
        json!([{ "coachId": "c1" }]),
        "{grants}"
    );
}
