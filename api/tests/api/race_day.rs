//! A whole race day through the HTTP ingest endpoint: 3,000 entries × 25 timing points,
//! shuffled, with duplicates and ~2 % missed mats, checked against an independent computation.

use crate::helpers::TestApp;
use podium_api::cli::demo::detection_json;
use podium_domain::simulation::{simulate, SimConfig, SimRace};
use podium_domain::timing::Timestamp;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
struct Expected {
    status: &'static str,
    net_ms: Option<i64>,
    sort: (u8, i64, i64),
    division: (String, String),
    gender: String,
    age_group: String,
}

/// Straightforward reference: the earliest read per point; start = START read or wave start;
/// finished when FINISH was read; racing entries by furthest point then elapsed time.
fn expected(race: &SimRace, event_year: i32) -> HashMap<String, Expected> {
    let mut reads: HashMap<&str, HashMap<usize, i64>> = HashMap::new();
    for r in &race.reads {
        let idx = race.course.index_of(&r.point).unwrap();
        let slot = reads
            .entry(r.bib.as_str())
            .or_default()
            .entry(idx)
            .or_insert(r.at.0);
        *slot = (*slot).min(r.at.0);
    }
    race.entries
        .iter()
        .map(|e| {
            let mine = reads.get(e.bib.as_str()).cloned().unwrap_or_default();
            let start = mine.get(&0).copied().unwrap_or(e.wave_start.0);
            let age = event_year - e.birth_year;
            let age_group = match age {
                ..=24 => "16-24".to_owned(),
                70.. => "70+".to_owned(),
                a => format!("{}-{}", a - a % 5, a - a % 5 + 4),
            };
            let (status, net_ms, sort) = if let Some(finish) = mine.get(&24) {
                ("FINISHED", Some(finish - start), (0, finish - start, 0))
            } else if let Some((&point, &t)) = mine
                .iter()
                .filter(|(p, _)| **p > 0)
                .max_by_key(|(p, _)| **p)
            {
                ("RACING", None, (1, -(point as i64), t - start))
            } else if mine.contains_key(&0) {
                ("RACING", None, (1, 0, 0))
            } else {
                ("REGISTERED", None, (2, 0, 0))
            };
            let exp = Expected {
                status,
                net_ms,
                sort,
                division: (e.category.as_str().to_owned(), e.gender.as_str().to_owned()),
                gender: e.gender.as_str().to_owned(),
                age_group,
            };
            (e.bib.clone(), exp)
        })
        .collect()
}

/// Competition ranks of `members` by their sort key.
fn ranks(members: &[(&String, &Expected)]) -> HashMap<String, Option<u64>> {
    let mut sorted = members.to_vec();
    sorted.sort_by_key(|(_, e)| e.sort);
    let mut out = HashMap::new();
    for (i, (bib, e)) in sorted.iter().enumerate() {
        let rank = if e.sort.0 == 2 {
            None
        } else {
            let better = sorted.iter().filter(|(_, o)| o.sort < e.sort).count();
            let _ = i;
            Some(better as u64 + 1)
        };
        out.insert((*bib).clone(), rank);
    }
    out
}

async fn leaderboard(app: &TestApp, event: &str, filter: Value) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    loop {
        let mut vars = filter.clone();
        vars["id"] = json!(event);
        vars["after"] = after.clone();
        let data = app
            .gql(
                "query($id: ID!, $c: Category, $g: Gender, $a: String, $after: String) {
                   leaderboard(eventId: $id, category: $c, gender: $g, ageGroup: $a, first: 500, after: $after) {
                     pageInfo { hasNextPage endCursor } edges { node { rank bib status netTimeMs } } } }",
                vars,
            )
            .await;
        let lb = &data["leaderboard"];
        nodes.extend(
            lb["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if lb["pageInfo"]["hasNextPage"] != true {
            return nodes;
        }
        after = lb["pageInfo"]["endCursor"].clone();
    }
}

fn check(
    nodes: &[Value],
    expected: &HashMap<String, Expected>,
    want: &HashMap<String, Option<u64>>,
    what: &str,
) {
    assert_eq!(nodes.len(), want.len(), "{what}: every entry listed once");
    for n in nodes {
        let bib = n["bib"].as_str().unwrap();
        let e = &expected[bib];
        assert_eq!(n["status"], e.status, "{what}: status of bib {bib}");
        assert_eq!(
            n["netTimeMs"].as_i64(),
            e.net_ms,
            "{what}: net time of bib {bib}"
        );
        assert_eq!(n["rank"].as_u64(), want[bib], "{what}: rank of bib {bib}");
    }
}

#[tokio::test]
async fn a_simulated_race_day_ranks_every_entry_correctly() {
    let app = TestApp::spawn().await;
    let config = SimConfig {
        seed: 7,
        entries: 3_000,
        starts_at: Timestamp(1_773_478_800_000),
        entries_per_wave: 60,
        wave_interval_s: 300,
        miss_rate: 0.02,
        duplicate_rate: 0.03,
        dropout_rate: 0.01,
    };
    let client_race = simulate(&config);
    let event = app.create_event(None).await;
    for chunk in client_race.entries.chunks(1000) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|e| json!({ "bib": e.bib, "firstName": e.first_name, "lastName": e.last_name, "gender": e.gender.as_str(), "category": e.category.as_str(), "birthYear": e.birth_year, "waveStart": e.wave_start.to_string() }))
            .collect();
        app.gql(
            "mutation($id: ID!, $entries: [EntryInput!]!) { addEntries(eventId: $id, entries: $entries) { id } }",
            json!({ "id": event, "entries": entries }),
        )
        .await;
    }

    let total = client_race.reads.len();
    assert!(total > 70_000, "{total} reads");
    let (mut accepted, mut duplicates) = (0, 0);
    for chunk in client_race.reads.chunks(1_000) {
        let rows: Vec<Value> = chunk.iter().map(detection_json).collect();
        let report = app.ingest_json(&event, Value::Array(rows)).await;
        assert_eq!(report["rejected"], json!([]));
        accepted += report["accepted"].as_u64().unwrap();
        duplicates += report["duplicates"].as_u64().unwrap();
    }
    let distinct = client_race
        .reads
        .iter()
        .map(|r| &r.read_id)
        .collect::<std::collections::HashSet<_>>()
        .len() as u64;
    assert_eq!(accepted, distinct);
    assert_eq!(accepted + duplicates, total as u64);

    let expected = expected(&client_race, 2026);
    let everyone: Vec<(&String, &Expected)> = expected.iter().collect();
    let by = |f: &dyn Fn(&Expected) -> bool| -> Vec<(&String, &Expected)> {
        everyone.iter().copied().filter(|(_, e)| f(e)).collect()
    };

    for (category, gender) in expected
        .values()
        .map(|e| e.division.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let members = by(&|e| e.division == (category.clone(), gender.clone()));
        let nodes = leaderboard(&app, &event, json!({ "c": category, "g": gender })).await;
        check(
            &nodes,
            &expected,
            &ranks(&members),
            &format!("{category} {gender}"),
        );
        for age in members
            .iter()
            .map(|(_, e)| e.age_group.clone())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let group =
                by(&|e| e.division == (category.clone(), gender.clone()) && e.age_group == age);
            let nodes = leaderboard(
                &app,
                &event,
                json!({ "c": category, "g": gender, "a": age }),
            )
            .await;
            check(
                &nodes,
                &expected,
                &ranks(&group),
                &format!("{category} {gender} {age}"),
            );
        }
    }
    for gender in ["MEN", "WOMEN", "MIXED"] {
        let members = by(&|e| e.gender == gender);
        let nodes = leaderboard(&app, &event, json!({ "g": gender })).await;
        check(&nodes, &expected, &ranks(&members), gender);
    }

    // Flags stay rare on a realistic day: at most one entry in ten ends with an open flag.
    let (_, flagged) = app.open_flags(&event).await;
    println!(
        "simulated race day: {flagged} of {} entries with an open flag ({:.1} %)",
        expected.len(),
        flagged as f64 * 100.0 / expected.len() as f64
    );
    assert!(flagged * 10 <= expected.len(), "{flagged} flagged");

    // Re-ingesting the whole day changes nothing.
    let seq = app
        .gql(
            "query($id: ID!) { event(id: $id) { seq } }",
            json!({ "id": event }),
        )
        .await["event"]["seq"]
        .clone();
    for chunk in client_race.reads.chunks(5_000) {
        let rows: Vec<Value> = chunk.iter().map(detection_json).collect();
        let report = app.ingest_json(&event, Value::Array(rows)).await;
        assert_eq!(report["accepted"], 0);
    }
    let after = app
        .gql(
            "query($id: ID!) { event(id: $id) { seq } }",
            json!({ "id": event }),
        )
        .await["event"]["seq"]
        .clone();
    assert_eq!(seq, after);
}
