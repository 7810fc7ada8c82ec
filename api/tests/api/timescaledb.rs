//! TimescaleDB for real: the server's own answers decide, not the SQL text. Each test needs
//! TimescaleDB installed on this machine's PostgreSQL (scripts/test installs it where it can);
//! without it a test prints that it skipped, and fails where the run requires TimescaleDB
//! (`TEST_TIMESCALEDB=required`, set by scripts/test when the server has it preloaded).

use crate::cluster::Cluster;
use crate::helpers::TestApp;
use crate::real_results::{ingest, EVENTS};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use podium_persistence::testing::{on_timescale, timescale_required};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};

async fn readyz(app: &TestApp) -> Value {
    let (status, _, body) = app
        .request(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).unwrap()
}

async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// Whether TimescaleDB's files are installed for this machine's PostgreSQL (the extension can
/// be created where the library is preloaded). Says so when they are not.
fn installed_on_this_machine(what: &str) -> bool {
    let found = std::fs::read_dir("/usr/share/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .any(|major| major.path().join("extension/timescaledb.control").exists());
    if !found {
        assert!(
            !timescale_required(),
            "{what}: this run requires TimescaleDB but it is not installed"
        );
        eprintln!("SKIPPED (TimescaleDB is not installed on this machine): {what}");
    }
    found
}

/// The most common first install: the package is there, `shared_preload_libraries` does not
/// name it. TimescaleDB answers `CREATE EXTENSION` there with a FATAL that closes the
/// connection; podium asks first, starts on plain tables and says in one line how to enable
/// it. Preloaded later, the next start converts the tables into hypertables with their rows.
#[tokio::test]
async fn installed_but_not_preloaded_starts_on_plain_tables_then_converts_when_preloaded() {
    let what = "TimescaleDB installed but not preloaded";
    if !in_the_timescale_pass(what) || !installed_on_this_machine(what) {
        return;
    }
    let mut cluster = Cluster::create();
    let url = cluster.url();
    let app = TestApp::spawn_with(|s| s.database_url = Some(url.clone().into())).await;
    let ready = readyz(&app).await;
    assert_eq!(ready["timescaledb"]["status"], "not_preloaded", "{ready}");
    assert_eq!(ready["timescaledb"]["hypertables"], false);
    let note = ready["timescaledb"]["note"].as_str().unwrap();
    assert!(
        note.contains("shared_preload_libraries = 'timescaledb'"),
        "{note}"
    );
    let (event, results) = ingest(&app, EVENTS[0].0, EVENTS[0].1, 7).await;
    let csv_before = csv(&app, &event).await;
    drop(app);

    // Preloaded and restarted: the next start converts, keeping every row.
    cluster.stop();
    cluster.set_settings(&["shared_preload_libraries=timescaledb"]);
    cluster.start();
    let app = TestApp::spawn_with(|s| s.database_url = Some(url.clone().into())).await;
    let ready = readyz(&app).await;
    assert_eq!(ready["timescaledb"]["status"], "community", "{ready}");
    assert_eq!(ready["timescaledb"]["hypertables"], true);
    assert!(ready["timescaledb"]["note"]
        .as_str()
        .unwrap()
        .contains("converted from plain tables now"));
    let db = podium_persistence::connect(&url).await.unwrap();
    assert!(podium_persistence::timescale::detections_is_hypertable(&db)
        .await
        .unwrap());
    assert!(number(&db, "SELECT count(*) AS n FROM detections").await > 0);
    assert_eq!(
        number(&db, "SELECT count(*) AS n FROM ONLY detections").await,
        0,
        "the rows moved into chunks"
    );
    assert_eq!(csv(&app, &event).await, csv_before);
    // And it takes new reads on the hypertable path (read ids keyed apart).
    let (again, _) = ingest(&app, EVENTS[1].0, EVENTS[1].1, 8).await;
    assert!(csv(&app, &again).await.lines().count() > 1);
    assert!(results.len() > 100);
}

async fn csv(app: &TestApp, event: &str) -> String {
    let (status, _, body) = app
        .request(
            Request::get(format!("/v1/events/{event}/results.csv"))
                .header("authorization", format!("Bearer {}", app.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    String::from_utf8(body).unwrap()
}

/// A fresh database on the suite's PostgreSQL server, when it is one; `None` on SQLite.
async fn fresh_postgres_database() -> Option<String> {
    let url = podium_persistence::testing::fresh_database_url()
        .await
        .unwrap();
    url.starts_with("postgres").then_some(url)
}

/// In the TimescaleDB pass only (tests that start a cluster of their own run once).
fn in_the_timescale_pass(what: &str) -> bool {
    let pass = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
        && podium_persistence::testing::timescale_mode()
            == podium_persistence::timescale::Mode::Auto;
    if !pass {
        eprintln!("not in this pass (runs in the TimescaleDB pass): {what}");
    }
    pass
}

/// The Apache-2 edition (what some distributions and TimescaleDB's `-oss` packages ship):
/// hypertables, no compression, no continuous aggregates. podium starts, migrates and
/// serves, and says what it left out, once in its log and on `/readyz`. The licence cannot
/// change in a session once the extension is loaded (TimescaleDB refuses it per database), so
/// the cluster is started with `timescaledb.license = 'apache'` on its command line.
#[tokio::test]
async fn the_apache_edition_starts_and_serves_with_hypertables_only() {
    let what = "the Apache-2 edition";
    if !in_the_timescale_pass(what) || !installed_on_this_machine(what) {
        return;
    }
    let cluster = Cluster::create_with(&[
        "shared_preload_libraries=timescaledb",
        "timescaledb.license=apache",
    ]);
    let url = cluster.url();
    let app = TestApp::spawn_with(|s| s.database_url = Some(url.clone().into())).await;
    let ready = readyz(&app).await;
    let t = &ready["timescaledb"];
    assert_eq!(t["status"], "apache", "{ready}");
    assert_eq!(t["hypertables"], true);
    assert_eq!(t["compression"], false);
    assert_eq!(t["continuous_aggregates"], false);
    assert!(t["note"].as_str().unwrap().contains("Apache-2 edition"));
    let db = podium_persistence::connect(&url).await.unwrap();
    assert!(on_timescale(&db, what).await);
    assert_eq!(
        number(&db, "SELECT count(*) AS n FROM timescaledb_information.hypertables WHERE compression_enabled").await,
        0
    );
    // It serves: a real event ingested and ranked, a wellness sample stored and read back.
    let (event, results) = ingest(&app, EVENTS[0].0, EVENTS[0].1, 3).await;
    assert_eq!(csv(&app, &event).await.lines().count(), results.len() + 1);
    let athletes = app.athlete_ids(&event).await;
    let athlete = athletes.values().next().unwrap();
    let recorded = app
        .gql(
            "mutation($a: ID!, $s: [WellnessSampleInput!]!) { recordWellness(athleteId: $a, samples: $s) { accepted } }",
            json!({ "a": athlete, "s": [{ "kind": "ACTIVITY", "at": "2026-01-03T07:00:00Z", "sourceId": "a1", "activity": { "sport": "run", "durationS": 3600, "rpe": 6 } }] }),
        )
        .await;
    assert_eq!(recorded["recordWellness"]["accepted"], 1);
    let load = training_load(&app, athlete).await;
    assert!(load.to_string().contains("\"load\""));
    // A second start on the same database is as quiet (nothing to convert, nothing refused).
    drop(app);
    let again = TestApp::spawn_with(|s| s.database_url = Some(url.clone().into())).await;
    assert_eq!(readyz(&again).await["timescaledb"]["status"], "apache");
}

async fn training_load(app: &TestApp, athlete: &str) -> Value {
    app.gql(
        "query($a: ID!) { trainingLoad(athleteId: $a, from: \"2025-03-01\", to: \"2025-05-31\") { date load ctl atl } }",
        json!({ "a": athlete }),
    )
    .await
}

/// A podium on a fresh database of the suite's server where that runs TimescaleDB's community
/// edition: the application, a connection of the test's own, and the URL; `None` elsewhere
/// (saying what was skipped, or failing where the run requires TimescaleDB).
async fn on_community_edition(what: &str) -> Option<(TestApp, DatabaseConnection, String)> {
    let url = fresh_postgres_database().await?;
    let app = TestApp::spawn_with(|s| s.database_url = Some(url.clone().into())).await;
    let db = podium_persistence::connect(&url).await.unwrap();
    if !on_timescale(&db, what).await {
        return None;
    }
    if readyz(&app).await["timescaledb"]["status"] != "community" {
        eprintln!("SKIPPED (not the community edition): {what}");
        return None;
    }
    Some((app, db, url))
}

/// Two training-load charts agree: the same days, every number within 1e-9 (a sum's order may
/// differ between the raw samples and the rollup).
fn same_chart(a: &Value, b: &Value) {
    let (a, b) = (
        a["trainingLoad"].as_array().unwrap(),
        b["trainingLoad"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["date"], y["date"]);
        for key in ["load", "ctl", "atl"] {
            let (p, q) = (x[key].as_f64().unwrap(), y[key].as_f64().unwrap());
            assert!(
                (p - q).abs() <= 1e-9 * p.abs().max(1.0),
                "{key} {p} against {q} on {}",
                x["date"]
            );
        }
    }
}

/// `trainingLoad` reads TimescaleDB's daily rollup where every session of the stretch was
/// rated, and answers exactly what the raw samples answer: a session without RPE or heart
/// rate (load 0) sends the same question down the raw path, and the chart does not move.
#[tokio::test]
async fn the_training_chart_from_the_rollup_equals_the_one_from_the_raw_samples() {
    let Some((app, db, _)) =
        on_community_edition("trainingLoad from the wellness_daily rollup").await
    else {
        return;
    };
    let (event, _) = ingest(&app, EVENTS[0].0, EVENTS[0].1, 5).await;
    let athlete = app.athlete_ids(&event).await.into_values().next().unwrap();
    let samples: Vec<Value> = (0..80)
        .map(|d| {
            json!({ "kind": "ACTIVITY", "at": format!("2025-0{}-{:02}T{:02}:30:00Z", 3 + d / 28, 1 + d % 28, 6 + d % 15),
                    "sourceId": format!("r{d}"), "activity": { "sport": "run", "durationS": 1800 + 60 * (d % 50), "rpe": 2.5 + (d % 7) as f64 } })
        })
        .collect();
    app.gql(
        "mutation($a: ID!, $s: [WellnessSampleInput!]!) { recordWellness(athleteId: $a, samples: $s) { accepted } }",
        json!({ "a": athlete, "s": samples }),
    )
    .await;
    // Half materialised, half real time: the hourly policy ran up to mid-April.
    db.execute_unprepared(
        "CALL refresh_continuous_aggregate('wellness_daily', NULL, '2025-04-15')",
    )
    .await
    .unwrap();
    let athlete_id: uuid::Uuid = athlete.parse().unwrap();
    let days = app
        .state
        .wellness
        .activity_days(
            athlete_id,
            podium_domain::timing::Timestamp::parse("2025-01-01T00:00:00Z").unwrap(),
            podium_domain::timing::Timestamp::parse("2025-06-01T00:00:00Z").unwrap(),
        )
        .await
        .unwrap()
        .expect("the rollup answers");
    assert_eq!(days.len(), 80);
    let from_rollup = training_load(&app, &athlete).await;
    let unrated = json!([{ "kind": "ACTIVITY", "at": "2025-03-10T20:00:00Z", "sourceId": "walk", "activity": { "sport": "walk", "durationS": 1200 } }]);
    app.gql(
        "mutation($a: ID!, $s: [WellnessSampleInput!]!) { recordWellness(athleteId: $a, samples: $s) { accepted } }",
        json!({ "a": athlete, "s": unrated }),
    )
    .await;
    let from_raw = training_load(&app, &athlete).await;
    same_chart(&from_rollup, &from_raw);
    assert!(from_raw["trainingLoad"].as_array().unwrap().len() > 60);
}

/// What a newcomer reads of one result, from a podium that has never seen it (no cache).
async fn result_view(app: &TestApp, event: &str, bib: &str) -> Value {
    app.gql(
        "query($e: ID!, $b: String!) { result(eventId: $e, bib: $b) { status netTimeMs
           splits { segment durationMs } lineage { reads { detectionId timingPoint at usage } } } }",
        json!({ "e": event, "b": bib }),
    )
    .await["result"]
        .clone()
}

/// Compression on the community edition: the detection chunks of OFFICIAL events (by the
/// job the migrations schedule) and wellness chunks older than `wellness_compress_after_days`
/// (by TimescaleDB's policy). Every answer is the same on compressed chunks, read by a
/// podium with cold caches; an amendment to the OFFICIAL event still recomputes from its
/// compressed reads; a late wellness sample for a compressed day is stored, and sent again
/// is a duplicate.
#[tokio::test]
async fn official_detections_and_old_wellness_compress_and_answer_the_same() {
    let Some((app, db, url)) =
        on_community_edition("compression of official detections and old wellness").await
    else {
        return;
    };
    let (event, results) = ingest(&app, EVENTS[3].0, EVENTS[3].1, 11).await;
    let (live, _) = ingest(&app, EVENTS[1].0, EVENTS[1].1, 12).await;
    for status in ["PROVISIONAL", "OFFICIAL"] {
        app.gql(
            "mutation($e: ID!, $s: EventStatus!) { setEventStatus(eventId: $e, status: $s) { status } }",
            json!({ "e": event, "s": status }),
        )
        .await;
    }
    let athletes = app.athlete_ids(&event).await;
    let athlete = athletes.values().next().unwrap().clone();
    let samples: Vec<Value> = (0..60)
        .map(|d| {
            json!({ "kind": "ACTIVITY", "at": format!("2025-0{}-{:02}T07:00:00Z", 3 + d / 28, 1 + d % 28),
                    "sourceId": format!("s{d}"), "activity": { "sport": "run", "durationS": 3600, "rpe": 5 + d % 4 } })
        })
        .collect();
    let recorded = app
        .gql(
            "mutation($a: ID!, $s: [WellnessSampleInput!]!) { recordWellness(athleteId: $a, samples: $s) { accepted rejected { reason } } }",
            json!({ "a": athlete, "s": samples }),
        )
        .await;
    assert_eq!(recorded["recordWellness"]["accepted"], 60, "{recorded}");
    let bibs: Vec<&str> = results.iter().take(25).map(|r| r.bib.as_str()).collect();
    let cold = || TestApp::spawn_with(|s| s.database_url = Some(url.clone().into()));
    let before_app = cold().await;
    let mut before = Vec::new();
    for bib in &bibs {
        before.push(result_view(&before_app, &event, bib).await);
    }
    let csv_before = csv(&before_app, &event).await;
    let load_before = training_load(&before_app, &athlete).await;
    drop(before_app);

    // Compress: the official event's chunk (not the live one's), the old wellness chunks.
    db.execute_unprepared("CALL podium_compress_official_detections(0, NULL)")
        .await
        .unwrap();
    let compressed_days = number(&db, "SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'detections' AND is_compressed").await;
    assert!(compressed_days >= 1, "the official event's chunk");
    let live_compressed = number(&db, &format!(
        "SELECT count(*) AS n FROM timescaledb_information.chunks c WHERE c.hypertable_name = 'detections' AND c.is_compressed \
         AND EXISTS (SELECT 1 FROM detections d WHERE d.event_id = '{live}' AND d.ts >= c.range_start AND d.ts < c.range_end)"
    )).await;
    assert_eq!(live_compressed, 0, "a LIVE event's reads stay uncompressed");
    let job = number(&db, "SELECT job_id::bigint AS n FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' AND hypertable_name = 'wellness_samples'").await;
    db.execute_unprepared(&format!("CALL run_job({job})"))
        .await
        .unwrap();
    assert!(number(&db, "SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'wellness_samples' AND is_compressed").await >= 1);
    let sizes = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT sum(before_compression_total_bytes)::bigint AS b, sum(after_compression_total_bytes)::bigint AS a FROM chunk_compression_stats('detections') WHERE compression_status = 'Compressed'",
        ))
        .await
        .unwrap()
        .unwrap();
    let (b, a): (i64, i64) = (
        sizes.try_get("", "b").unwrap(),
        sizes.try_get("", "a").unwrap(),
    );
    println!("official detections: {b} bytes before compression, {a} after");

    // The same answers from compressed chunks, read by a podium with cold caches.
    let after_app = cold().await;
    for (bib, expected) in bibs.iter().zip(&before) {
        assert_eq!(
            &result_view(&after_app, &event, bib).await,
            expected,
            "bib {bib}"
        );
    }
    assert_eq!(csv(&after_app, &event).await, csv_before);
    same_chart(&training_load(&after_app, &athlete).await, &load_before);

    // An amendment to the official event recomputes from its compressed reads.
    let bib = bibs[0];
    let first_read = before[0]["lineage"]["reads"][1].clone();
    let amended = after_app
        .gql(
            "mutation($input: CorrectionInput!) { applyCorrection(input: $input) { id } }",
            json!({ "input": { "eventId": event, "bib": bib, "kind": "IGNORE_READ",
                    "timingPoint": first_read["timingPoint"], "at": first_read["at"], "reason": "mat double-read" } }),
        )
        .await;
    assert!(amended["applyCorrection"]["id"].is_string());
    let view = result_view(&after_app, &event, bib).await;
    let ignored = view["lineage"]["reads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["detectionId"] == first_read["detectionId"])
        .unwrap()
        .clone();
    assert_eq!(ignored["usage"], "IGNORED");
    // A late sample for a compressed day is stored; the same again is a duplicate.
    let late = json!([{ "kind": "ACTIVITY", "at": "2025-03-05T18:00:00Z", "sourceId": "late", "activity": { "sport": "run", "durationS": 1800, "rpe": 3 } }]);
    for (accepted, duplicates) in [(1, 0), (0, 1)] {
        let report = after_app
            .gql(
                "mutation($a: ID!, $s: [WellnessSampleInput!]!) { recordWellness(athleteId: $a, samples: $s) { accepted duplicates } }",
                json!({ "a": athlete, "s": late }),
            )
            .await;
        assert_eq!(report["recordWellness"]["accepted"], accepted);
        assert_eq!(report["recordWellness"]["duplicates"], duplicates);
    }
    assert_ne!(
        training_load(&after_app, &athlete).await,
        load_before,
        "the late session counts"
    );
}
