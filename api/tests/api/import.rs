//! Import of past results (`POST /v1/import/results`) on the real public results of
//! `testdata/hyrox-results/`: events created OFFICIAL with every result, net times equal the
//! official totals, rank differences from the source listed, bad and repeated rows named by
//! line, and a second import changing nothing.

use crate::helpers::{testdata, TestApp};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use podium_api::auth::Role;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

async fn import(app: &TestApp, token: &str, query: &str, body: String) -> (StatusCode, Value) {
    let request = Request::post(format!("/v1/import/results?{query}"))
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap();
    let (status, _, body) = app.request(request).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn event(app: &TestApp, id: &str) -> Value {
    app.gql(
        "query($id: ID!) { event(id: $id) { status seq } }",
        json!({ "id": id }),
    )
    .await["event"]
        .clone()
}

/// Rank by bib in one category × gender leaderboard.
async fn leaderboard(
    app: &TestApp,
    id: &str,
    category: &str,
    gender: &str,
) -> HashMap<String, Option<u64>> {
    let data = app
        .gql(
            "query($id: ID!, $c: Category, $g: Gender) {
               leaderboard(eventId: $id, category: $c, gender: $g, first: 500) {
                 totalCount edges { node { rank bib } } } }",
            json!({ "id": id, "c": category, "g": gender }),
        )
        .await;
    let board = &data["leaderboard"];
    assert!(board["totalCount"].as_u64().unwrap() <= 500);
    board["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["bib"].as_str().unwrap().to_owned(),
                e["node"]["rank"].as_u64(),
            )
        })
        .collect()
}

/// The standard course's stations, in order.
const STATIONS: [&str; 8] = [
    "SKIERG",
    "SLED_PUSH",
    "SLED_PULL",
    "BURPEE_BROAD_JUMP",
    "ROW",
    "FARMERS_CARRY",
    "SANDBAG_LUNGES",
    "WALL_BALLS",
];

/// Checks each imported result's splits against its source row, and counts what the import
/// report must say about parts and totals: runs and stations exactly as published, the
/// roxzone estimated and taking what the total leaves.
#[derive(Default)]
struct PartsCheck {
    exact: usize,
    adjusted: usize,
    largest: i64,
    overshooting: Vec<(usize, String)>,
    /// Run and station splits seen equal to the source.
    exact_parts: usize,
}

impl PartsCheck {
    fn check(&mut self, bib: &str, line: usize, row: &Value, total_s: f64, result: &Value) {
        let ms = |v: &Value| {
            v.as_f64()
                .filter(|s| *s > 0.0)
                .map(|s| (s * 1000.0).round() as i64)
        };
        let splits = row["splits"].as_object().unwrap();
        let mut published: HashMap<String, i64> = HashMap::new();
        let mut roxzone = None;
        for (key, value) in splits {
            let number: usize = key[..2].parse().unwrap();
            let code = match number {
                1..=8 => format!("RUN_{number}"),
                9..=16 => STATIONS[number - 9].to_owned(),
                _ => {
                    roxzone = ms(value);
                    continue;
                }
            };
            if let Some(ms) = ms(value) {
                published.insert(code, ms);
            }
        }
        let total = (total_s * 1000.0).round() as i64;
        let all_known = published.len() == 16;
        let left = total - published.values().sum::<i64>();
        let overshoot = all_known && left < 8 * 5_000;
        if overshoot {
            self.overshooting.push((line, bib.to_owned()));
        } else if let (true, Some(roxzone)) = (all_known, roxzone) {
            if left == roxzone {
                self.exact += 1;
            } else {
                self.adjusted += 1;
                self.largest = self.largest.max((left - roxzone).abs());
            }
        }
        let reads = result["lineage"]["reads"].as_array().unwrap();
        assert!(
            reads.iter().any(|r| r["estimated"] == true) || !all_known,
            "{bib}: roxzone reads are marked estimated"
        );
        for split in result["splits"].as_array().unwrap() {
            let segments = split["segments"].as_array().unwrap();
            let code = segments[0].as_str().unwrap();
            if split["merged"] == true {
                continue;
            }
            if code.starts_with("ROXZONE_") {
                assert_eq!(split["estimated"], true, "{bib}: {split}");
                continue;
            }
            if split["estimated"] == true {
                continue;
            }
            // A measured run or station split is the published one, to the millisecond.
            assert_eq!(
                published.get(code).copied(),
                split["durationMs"].as_i64(),
                "{bib} {code}"
            );
            self.exact_parts += 1;
        }
        if all_known && !overshoot {
            let measured = result["splits"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["merged"] == false && s["estimated"] == false)
                .count();
            // Unless the engine set a read aside (a published split faster than possible).
            let set_aside = result["setAside"].as_array().unwrap();
            assert!(
                measured == 16 || !set_aside.is_empty(),
                "{bib}: every run and station is measured"
            );
        }
    }
}

#[tokio::test]
async fn a_real_event_imports_official_with_its_times_and_a_second_import_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, vec![]);
    let file = "hyrox-2019-karlsruhe.jsonl";
    let text = testdata(file);
    let query = "timezone=Europe/Berlin&source=hyrox-2019-karlsruhe.jsonl";
    let (status, report) = import(&app, &admin, query, text.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");

    // What the file holds, read here on its own.
    let rows: Vec<(usize, Value)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| (n + 1, serde_json::from_str(l).unwrap()))
        .collect();
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut repeated = Vec::new();
    for (line, row) in &rows {
        let bib = row["start_number"].as_str().unwrap().to_owned();
        match first.get(&bib) {
            Some(kept) => repeated.push((*line, *kept)),
            None => {
                first.insert(bib, *line);
            }
        }
    }
    let events = report["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{report}");
    let imported = &events[0];
    assert_eq!(imported["sourceEvent"], "2019 Karlsruhe");
    assert_eq!(imported["created"], true);
    assert_eq!(imported["entries"], first.len());
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), repeated.len(), "{report}");
    for ((line, kept), r) in repeated.iter().zip(rejected) {
        assert_eq!(r["line"], *line);
        assert_eq!(r["source"], file);
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains(&format!("the row of line {kept} is kept")),
            "{r}"
        );
    }

    let id = imported["eventId"].as_str().unwrap().to_owned();
    let before = event(&app, &id).await;
    assert_eq!(before["status"], "OFFICIAL");

    // Every finisher's net time is the official total; ranks that differ from the source's
    // place are exactly the ones the report lists.
    let kept: HashSet<usize> = first.values().copied().collect();
    let mut differing = HashSet::new();
    let mut boards: HashMap<(String, String), HashMap<String, Option<u64>>> = HashMap::new();
    let mut finishers = 0;
    let mut parts_check = PartsCheck::default();
    for (line, row) in rows.iter().filter(|(line, _)| kept.contains(line)) {
        let bib = row["start_number"].as_str().unwrap();
        let result = app
            .gql(
                "query($id: ID!, $bib: String!) { result(eventId: $id, bib: $bib) {
                   status netTimeMs splits { segments durationMs merged estimated } setAside { timingPoint }
                   lineage { reads { deviceId estimated } } } }",
                json!({ "id": id, "bib": bib }),
            )
            .await["result"]
            .clone();
        let Some(total) = row["total_time"].as_f64().filter(|t| *t > 0.0) else {
            continue;
        };
        finishers += 1;
        parts_check.check(bib, *line, row, total, &result);
        assert_eq!(result["status"], "FINISHED", "{bib}: {result}");
        assert_eq!(
            result["netTimeMs"].as_i64().unwrap(),
            (total * 1000.0).round() as i64,
            "{bib}"
        );
        let device = format!("import:{file}:{line}");
        assert!(
            result["lineage"]["reads"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["deviceId"] == device.as_str()),
            "{bib}: every read names line {line}"
        );
        let place = match &row["place"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        let category = if row["division"] == "pro" {
            "PRO"
        } else {
            "OPEN"
        };
        let gender = row["category"].as_str().unwrap().to_uppercase();
        let key = (category.to_owned(), gender);
        if !boards.contains_key(&key) {
            let board = leaderboard(&app, &id, &key.0, &key.1).await;
            boards.insert(key.clone(), board);
        }
        if place.is_some() && boards[&key].get(bib).copied().flatten() != place {
            differing.insert(bib.to_owned());
        }
    }
    assert_eq!(imported["finishers"], finishers);
    let listed: HashSet<String> = imported["rankDifferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["bib"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, differing, "{}", imported["rankDifferences"]);
    let told = &imported["partsVsTotal"];
    assert_eq!(told["exact"], parts_check.exact, "{told}");
    assert_eq!(told["roxzoneAdjusted"], parts_check.adjusted, "{told}");
    assert_eq!(told["largestAdjustmentMs"], parts_check.largest, "{told}");
    let overshooting: Vec<(u64, &str)> = told["overshooting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["line"].as_u64().unwrap(), o["bib"].as_str().unwrap()))
        .collect();
    let expected: Vec<(u64, &str)> = parts_check
        .overshooting
        .iter()
        .map(|(line, bib)| (*line as u64, bib.as_str()))
        .collect();
    assert_eq!(overshooting, expected);
    assert!(parts_check.exact_parts > 1000, "runs and stations checked");

    // Again: found, nothing written.
    let (status, again) = import(&app, &admin, query, text).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["events"][0]["created"], false);
    assert_eq!(again["events"][0]["eventId"], id.as_str());
    assert_eq!(
        again["events"][0]["rankDifferences"],
        imported["rankDifferences"]
    );
    assert_eq!(event(&app, &id).await, before, "no seq moved");
}

#[tokio::test]
async fn bad_rows_are_named_by_line_and_the_good_ones_still_import() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, vec![]);
    let essen = testdata("hyrox-2018-essen.jsonl");
    let good: Vec<&str> = essen.lines().take(3).collect();
    let elite = good[2].replace("\"division\": \"regular\"", "\"division\": \"elite\"");
    let body = [good[0], "not json", good[1], elite.as_str()].join("\n");
    let (status, report) = import(&app, &admin, "timezone=Europe/Berlin", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["events"][0]["entries"], 2, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected[0]["line"], 2);
    assert!(rejected[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a result object"));
    assert_eq!(rejected[1]["line"], 4);
    assert!(
        rejected[1]["reason"].as_str().unwrap().contains("`elite`"),
        "{report}"
    );

    // With the word mapped, a separate source event takes the row in as PRO.
    let renamed = elite.replace("2018 Essen", "2018 Essen (elite)");
    let (status, report) = import(
        &app,
        &admin,
        "timezone=Europe/Berlin&map=elite=PRO",
        renamed,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rejected"], json!([]));
    let id = report["events"][0]["eventId"].as_str().unwrap();
    let board = app
        .gql(
            "query($id: ID!) { leaderboard(eventId: $id, category: PRO) { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(board["leaderboard"]["totalCount"], 1);
}

#[tokio::test]
async fn splits_that_cannot_fit_the_race_are_kept_and_ignored_and_the_result_counts() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, vec![]);
    let karlsruhe = testdata("hyrox-2019-karlsruhe.jsonl");
    let line = karlsruhe.lines().next().unwrap();
    let row: Value = serde_json::from_str(line).unwrap();
    let total = row["total_time"].as_f64().unwrap();
    // Run 2 published as 4,000 s, more than the whole race: the mats after it land past the
    // finish.
    let mut wrong = row.clone();
    wrong["splits"]["02_Running 2"] = json!(4000.0);
    let (status, report) = import(&app, &admin, "timezone=Europe/Berlin", wrong.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let imported = &report["events"][0];
    let overshooting = imported["partsVsTotal"]["overshooting"].as_array().unwrap();
    assert_eq!(overshooting.len(), 1, "{report}");
    let outside: Vec<&str> = overshooting[0]["outsideRace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(!outside.is_empty(), "{report}");
    let bib = row["start_number"].as_str().unwrap();
    let result = app
        .gql(
            "query($id: ID!, $bib: String!) { result(eventId: $id, bib: $bib) {
               status netTimeMs lineage { reads { timingPoint usage } corrections { kind reason } } } }",
            json!({ "id": imported["eventId"], "bib": bib }),
        )
        .await["result"]
        .clone();
    // The result still counts, at the official total.
    assert_eq!(result["status"], "FINISHED", "{result}");
    assert_eq!(result["netTimeMs"], (total * 1000.0) as i64);
    // Every read outside the race is in the lineage, ignored by a correction saying why.
    let reads = result["lineage"]["reads"].as_array().unwrap();
    for point in &outside {
        assert!(
            reads
                .iter()
                .any(|r| r["timingPoint"] == *point && r["usage"] == "IGNORED"),
            "{point}: {result}"
        );
    }
    let corrections = result["lineage"]["corrections"].as_array().unwrap();
    assert_eq!(corrections.len(), outside.len(), "{result}");
    assert!(corrections.iter().all(
        |c| c["kind"] == "IGNORE_READ" && c["reason"].as_str().unwrap().starts_with("import:")
    ));
}

#[tokio::test]
async fn importing_needs_events_manage_at_the_venue_and_a_known_course() {
    let app = TestApp::spawn().await;
    let venue = app.create_venue("Messe Essen").await;
    let other = app.create_venue("Elsewhere").await;
    let line = testdata("hyrox-2018-essen.jsonl")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let operator = app.token(
        Role::VenueOperator,
        vec![uuid::Uuid::parse_str(&other).unwrap()],
    );
    let (status, _) = import(&app, &operator, &format!("venueId={venue}"), line.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let athlete = app.token(Role::Athlete, vec![]);
    let (status, _) = import(&app, &athlete, "", line.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = import(
        &app,
        &operator,
        &format!("venueId={other}&course=CUSTOM"),
        line.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("HYROX_STANDARD"));
    let (status, body) = import(
        &app,
        &operator,
        &format!("venueId={other}&timezone=Mars/Olympus"),
        line.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = import(&app, &operator, &format!("venueId={other}"), line).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_command_imports_files_and_standard_input_and_prints_the_report() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile_dir();
    let file = format!(
        "{}/../testdata/hyrox-results/hyrox-2018-wien.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let podium = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_podium"));
        command
            .args(["import", "results"])
            .args(args)
            .env_clear()
            .env("PODIUM_DATA_DIR", &dir)
            .env("PODIUM_LOG_LEVEL", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let output = podium(&[&file, "--timezone", "Europe/Vienna"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["events"][0]["sourceEvent"], "2018 Wien");
    assert_eq!(report["events"][0]["created"], true);
    let entries = report["events"][0]["entries"].as_u64().unwrap();
    assert!(entries > 200, "{report}");

    // The same rows again, from standard input: found, nothing created.
    let mut child = podium(&["-", "--timezone", "Europe/Vienna"])
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(testdata("hyrox-2018-wien.jsonl").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let again: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(again["events"][0]["created"], false);
    assert_eq!(again["events"][0]["entries"], entries);
    assert_eq!(
        again["events"][0]["eventId"],
        report["events"][0]["eventId"]
    );

    let output = podium(&[&file, "--timezone", "Nowhere/Else"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Nowhere/Else"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for one test's data.
fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("podium-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

/// The JSON lines of `file` as CSV: the fields as columns, one column per split.
fn as_csv(text: &str) -> String {
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut splits: Vec<String> = rows[0]["splits"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    splits.sort();
    let fields = [
        "event_occurrence",
        "start_number",
        "name",
        "division",
        "category",
        "age_group",
        "start_time",
        "total_time",
        "place",
    ];
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = fields
        .iter()
        .copied()
        .chain(splits.iter().map(String::as_str))
        .collect();
    writer.write_record(&header).unwrap();
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for row in &rows {
        let record: Vec<String> = fields
            .iter()
            .map(|f| cell(&row[*f]))
            .chain(splits.iter().map(|s| cell(&row["splits"][s])))
            .collect();
        writer.write_record(&record).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

#[tokio::test]
async fn csv_with_a_column_per_split_imports_like_json_lines() {
    let text = testdata("hyrox-2019-nuernberg.jsonl");
    let json_app = TestApp::spawn().await;
    let admin = json_app.token(Role::Admin, vec![]);
    let (status, from_json) =
        import(&json_app, &admin, "timezone=Europe/Berlin", text.clone()).await;
    assert_eq!(status, StatusCode::OK, "{from_json}");

    let csv_app = TestApp::spawn().await;
    let admin = csv_app.token(Role::Admin, vec![]);
    let request = Request::post("/v1/import/results?timezone=Europe/Berlin")
        .header(header::CONTENT_TYPE, "text/csv")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .body(Body::from(as_csv(&text)))
        .unwrap();
    let (status, _, body) = csv_app.request(request).await;
    let from_csv: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{from_csv}");

    for field in ["sourceEvent", "entries", "finishers", "rankDifferences"] {
        assert_eq!(
            from_csv["events"][0][field], from_json["events"][0][field],
            "{field}"
        );
    }
    // The header is line 1 of the CSV, so rows sit one line lower than in the JSON lines.
    let lines = |report: &Value, shift: u64| -> Vec<u64> {
        report["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["line"].as_u64().unwrap() - shift)
            .collect()
    };
    assert_eq!(lines(&from_csv, 1), lines(&from_json, 0));
    let json_id = from_json["events"][0]["eventId"].as_str().unwrap();
    let csv_id = from_csv["events"][0]["eventId"].as_str().unwrap();
    assert_eq!(
        leaderboard(&csv_app, csv_id, "OPEN", "MEN").await,
        leaderboard(&json_app, json_id, "OPEN", "MEN").await
    );
}

#[tokio::test]
async fn an_import_that_stopped_half_way_is_finished_by_the_next() {
    use podium_domain::model::NewEvent;
    use podium_domain::public_results::PublicResult;
    let app = TestApp::spawn().await;
    let admin = app.token(Role::Admin, vec![]);
    let text = testdata("hyrox-2018-wien.jsonl");
    // What a first import had written when the database went away: the event and ten entries.
    let repo = &app.state.repo;
    let event = repo
        .create_imported_event(
            NewEvent {
                venue_id: None,
                name: "2018 Wien".into(),
                starts_at: podium_domain::timing::Timestamp::from_chrono(chrono::Utc::now()),
                timezone: "Europe/Vienna".into(),
                course: podium_domain::course::Course::hyrox_standard(),
            },
            "import:2018 Wien",
        )
        .await
        .unwrap();
    let first: Vec<podium_domain::model::NewEntry> = text
        .lines()
        .take(10)
        .map(|l| {
            let r = PublicResult::parse_line(l).unwrap();
            podium_domain::model::NewEntry {
                nationality: None,
                bib: r.bib,
                athlete_id: None,
                first_name: r.first_name,
                last_name: r.last_name,
                category: r.category,
                gender: r.gender,
                age_group: None,
                birth_year: None,
                wave_start: event.starts_at,
            }
        })
        .collect();
    repo.add_entries(&event, first).await.unwrap();

    let (status, report) = import(&app, &admin, "timezone=Europe/Vienna", text.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["events"][0]["eventId"], event.id.to_string());
    let published = PublicResult::parse_file(&text).unwrap();
    assert_eq!(report["events"][0]["entries"], published.len());
    let now = app
        .gql(
            "query($id: ID!) { event(id: $id) { status } leaderboard(eventId: $id, first: 0) { totalCount } }",
            json!({ "id": event.id.to_string() }),
        )
        .await;
    assert_eq!(now["event"]["status"], "OFFICIAL");
    assert_eq!(now["leaderboard"]["totalCount"], published.len());
    let (_, again) = import(&app, &admin, "timezone=Europe/Vienna", text).await;
    assert_eq!(again["events"][0]["created"], false);
}
