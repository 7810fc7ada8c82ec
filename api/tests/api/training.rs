//! Training and wellness through the API: samples in over REST (NDJSON) and GraphQL, each bad
//! row named and a batch sent again counted as duplicates; who may read and write (the
//! athlete, coaches they granted, admins — never the public); the training-load chart checked
//! against its closed form; readiness and the load for a target form; my data and erasure.

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

/// An athlete (from a one-entry race) and their token.
async fn athlete(app: &TestApp) -> (String, String) {
    let event = crate::websocket::race(app).await;
    let ids = app.athlete_ids(&event).await;
    let id = ids["1"].clone();
    let token = app.athlete_token(&id);
    (id, token)
}

async fn post_wellness(
    app: &TestApp,
    token: Option<&str>,
    athlete: &str,
    media: &str,
    body: String,
) -> (StatusCode, Value) {
    let mut request =
        Request::post(format!("/v1/athletes/{athlete}/wellness")).header("content-type", media);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let (status, _, body) = app.request(request.body(Body::from(body)).unwrap()).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

const START: &str = "2026-01-01";

fn day(n: i64) -> NaiveDate {
    NaiveDate::parse_from_str(START, "%Y-%m-%d").unwrap() + Duration::days(n)
}

/// `days` days of one rated hour a day (RPE 5: a load of 300), as NDJSON.
fn sessions(days: i64) -> String {
    (0..days)
        .map(|n| {
            json!({
                "kind": "ACTIVITY", "at": format!("{}T18:00:00Z", day(n)), "sourceId": format!("run-{n}"),
                "sport": "run", "durationS": 3600, "distanceM": 12000, "averageHr": 150, "rpe": 5
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const LOAD: &str = "query($a: ID!, $from: NaiveDate!, $to: NaiveDate!) { trainingLoad(athleteId: $a, from: $from, to: $to) { date load ctl atl tsb acwr } }";

#[tokio::test]
async fn samples_go_in_once_with_each_bad_row_named() {
    let app = TestApp::spawn().await;
    let (id, token) = athlete(&app).await;
    let mut body = sessions(3);
    body.push_str("\nnot json\n");
    body.push_str(&json!({ "kind": "BMQ", "at": "2026-01-02T07:00:00Z", "sourceId": "bmq-1", "value": 11, "moment": "MORNING" }).to_string());
    body.push('\n');
    body.push_str(&json!({ "kind": "SLEEP", "at": "2026-01-02T06:30:00Z", "sourceId": "oura-1", "totalMinutes": 455, "remPct": 21 }).to_string());
    let (status, report) = post_wellness(
        &app,
        Some(&token),
        &id,
        "application/x-ndjson",
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["accepted"], 4);
    assert_eq!(report["duplicates"], 0);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{report}");
    assert_eq!(rejected[0]["index"], 3);
    assert!(rejected[0]["reason"].as_str().unwrap().contains("not JSON"));
    assert_eq!(rejected[1]["index"], 4);
    assert!(rejected[1]["reason"]
        .as_str()
        .unwrap()
        .starts_with("value: 11"));
    // The same batch again: nothing new.
    let (_, again) = post_wellness(&app, Some(&token), &id, "application/x-ndjson", body).await;
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(4))
    );

    // GraphQL: typed inputs, the kind's object and no other.
    let (_, recorded) = app
        .graphql_as(
            Some(&token),
            "mutation($a: ID!, $s: [WellnessSampleInput!]!) { recordWellness(athleteId: $a, samples: $s) { accepted duplicates rejected { index reason } } }",
            json!({ "a": id, "s": [
                { "kind": "BMQ", "at": "2026-01-03T07:00:00Z", "sourceId": "bmq-3", "bmq": { "value": 6, "moment": "MORNING" } },
                { "kind": "HEALTH", "at": "2026-01-03T07:00:00Z", "sourceId": "watch-3", "health": { "restingHr": 48, "hrvRmssdMs": 72 } },
                { "kind": "SLEEP", "at": "2026-01-03T06:00:00Z", "sourceId": "oura-3", "bmq": { "value": 6, "moment": "MORNING" } },
            ] }),
        )
        .await;
    let report = &recorded["data"]["recordWellness"];
    assert_eq!(report["accepted"], 2, "{recorded}");
    assert_eq!(report["rejected"][0]["index"], 2);
    assert!(report["rejected"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("gives its fields in `sleep`"));
    // Not JSON at all, or for nobody.
    let (status, _) = post_wellness(&app, Some(&token), &id, "application/json", "{".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = post_wellness(
        &app,
        Some(&app.admin),
        &uuid::Uuid::now_v7().to_string(),
        "application/json",
        "[]".into(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn only_the_athlete_their_coaches_and_admins_see_it_and_only_the_athlete_writes() {
    let app = TestApp::spawn().await;
    let (id, token) = athlete(&app).await;
    let vars = json!({ "a": id, "from": day(0), "to": day(1) });
    let coach = app.token(podium_api::auth::Role::Coach, vec![]);
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].clone();
    let (_, anonymous) = app.graphql_as(None, LOAD, vars.clone()).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
    let (_, stranger) = app.graphql_as(Some(&coach), LOAD, vars.clone()).await;
    assert_eq!(code(&stranger), "FORBIDDEN", "{stranger}");
    let (_, other) = app
        .graphql_as(
            Some(&app.athlete_token(&uuid::Uuid::now_v7().to_string())),
            LOAD,
            vars.clone(),
        )
        .await;
    assert_eq!(code(&other), "FORBIDDEN", "{other}");
    // Granted, the coach reads; writing stays the athlete's.
    app.graphql_as(
        Some(&token),
        r#"mutation { grantCoachAccess(coachId: "dev-coach") { coachId } }"#,
        json!({}),
    )
    .await;
    let (_, granted) = app.graphql_as(Some(&coach), LOAD, vars.clone()).await;
    assert_eq!(
        granted["data"]["trainingLoad"].as_array().unwrap().len(),
        2,
        "{granted}"
    );
    let (status, body) =
        post_wellness(&app, Some(&coach), &id, "application/x-ndjson", sessions(1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = post_wellness(&app, None, &id, "application/x-ndjson", sessions(1)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post_wellness(
        &app,
        Some(&app.admin),
        &id,
        "application/x-ndjson",
        sessions(1),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.gql(LOAD, vars).await["trainingLoad"].is_array());
}

/// A steady 300 a day from day 0: CTL is 300·(1 − (1 − k42)^(t+1)), ATL the same with k7, TSB
/// the day before's difference, and the ACWR appears on day 34.
#[tokio::test]
async fn the_chart_of_a_steady_load_follows_its_closed_form() {
    let app = TestApp::spawn().await;
    let (id, token) = athlete(&app).await;
    post_wellness(
        &app,
        Some(&token),
        &id,
        "application/x-ndjson",
        sessions(60),
    )
    .await;
    let chart = app
        .gql(LOAD, json!({ "a": id, "from": day(0), "to": day(59) }))
        .await["trainingLoad"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(chart.len(), 60);
    let (k42, k7) = (1.0 - (-1.0f64 / 42.0).exp(), 1.0 - (-1.0f64 / 7.0).exp());
    let settled = |k: f64, t: i32| 300.0 * (1.0 - (1.0 - k).powi(t + 1));
    for (t, row) in chart.iter().enumerate() {
        let t = t as i32;
        assert_eq!(row["date"], json!(day(t as i64)));
        assert_eq!(row["load"], 300.0);
        let close = |field: &str, want: f64| {
            let got = row[field].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-6,
                "day {t} {field}: {got} vs {want}"
            );
        };
        close("ctl", settled(k42, t));
        close("atl", settled(k7, t));
        let before = if t == 0 {
            0.0
        } else {
            settled(k42, t - 1) - settled(k7, t - 1)
        };
        close("tsb", before);
        assert_eq!(row["acwr"].is_null(), t < 34, "day {t}");
    }
    // The load for tomorrow's form (below a rest day's, -37): doing it gives the target, by
    // the chart's own recursion.
    let answer = app
        .gql(
            "query($a: ID!, $d: NaiveDate!) { loadFor(athleteId: $a, date: $d, targetTsb: -60) { load reachable tsbAfterRest } }",
            json!({ "a": id, "d": day(60) }),
        )
        .await["loadFor"]
        .clone();
    let (ctl, atl) = (settled(k42, 59), settled(k7, 59));
    let load = answer["load"].as_f64().unwrap();
    let tomorrow = (ctl + k42 * (load - ctl)) - (atl + k7 * (load - atl));
    assert!((tomorrow - -60.0).abs() < 1e-6, "{answer}");
    assert_eq!(answer["reachable"], true);
    // A year and a day is too long.
    let (_, too_long) = app
        .graphql_as(
            Some(&token),
            LOAD,
            json!({ "a": id, "from": day(0), "to": day(366) }),
        )
        .await;
    assert!(too_long["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("from, to"));
}

#[tokio::test]
async fn readiness_uses_the_athletes_own_baselines_and_says_what_is_missing() {
    let app = TestApp::spawn().await;
    let (id, token) = athlete(&app).await;
    let q = "query($a: ID!, $d: NaiveDate!) { readiness(athleteId: $a, date: $d) { score components { hrv restingHr sleep load } tooShort } }";
    let empty = app.gql(q, json!({ "a": id, "d": day(0) })).await["readiness"].clone();
    assert!(empty["score"].is_null());
    assert_eq!(
        empty["tooShort"],
        json!(["hrv", "restingHr", "sleep", "load"])
    );
    // 60 steady mornings and nights, then a bad one: resting HR 3 beats up, 90 minutes short.
    let mut rows = Vec::new();
    for n in 0..60 {
        let bad = n == 59;
        rows.push(json!({ "kind": "HEALTH", "at": format!("{}T07:00:00Z", day(n)), "sourceId": format!("w{n}"),
            "restingHr": if bad { 53 } else { 50 }, "hrvRmssdMs": 60 }).to_string());
        rows.push(json!({ "kind": "SLEEP", "at": format!("{}T06:30:00Z", day(n)), "sourceId": format!("s{n}"),
            "totalMinutes": if bad { 390 } else { 480 } }).to_string());
    }
    let (_, report) = post_wellness(
        &app,
        Some(&token),
        &id,
        "application/x-ndjson",
        rows.join("\n"),
    )
    .await;
    assert_eq!(report["accepted"], 120, "{report}");
    let got = app.gql(q, json!({ "a": id, "d": day(59) })).await["readiness"].clone();
    let parts = &got["components"];
    // Resting HR: 75 − 12.5 × 3; sleep: 75 − 25 × 1.5; HRV flat at its baseline: 75.
    assert_eq!(parts["restingHr"], 37.5, "{got}");
    assert_eq!(parts["sleep"], 37.5);
    let hrv = parts["hrv"].as_f64().unwrap();
    assert!((hrv - 75.0).abs() < 1e-6, "{hrv}");
    assert!(parts["load"].is_null());
    assert_eq!(got["tooShort"], json!(["load"]));
    let score = got["score"].as_f64().unwrap();
    assert!((score - (37.5 + 37.5 + hrv) / 3.0).abs() < 1e-9);
}

#[tokio::test]
async fn my_data_holds_the_samples_and_erasure_deletes_them() {
    let app = TestApp::spawn().await;
    let (id, token) = athlete(&app).await;
    post_wellness(&app, Some(&token), &id, "application/x-ndjson", sessions(2)).await;
    let (_, mine) = app.graphql_as(Some(&token), "{ myData }", json!({})).await;
    let samples = mine["data"]["myData"]["wellness"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(samples.len(), 2, "{mine}");
    assert_eq!(samples[0]["kind"], "ACTIVITY");
    assert_eq!(samples[0]["sourceId"], "run-0");
    app.graphql_as(Some(&token), "mutation { eraseMyData { id } }", json!({}))
        .await;
    let (_, after) = app.graphql_as(Some(&token), "{ myData }", json!({})).await;
    assert_eq!(after["data"]["myData"]["wellness"], json!([]), "{after}");
}

/// The race report says how the athlete came into the race — to them, not to the public.
#[tokio::test]
async fn a_race_report_tells_the_athlete_how_they_came_into_the_race() {
    let app = TestApp::spawn().await;
    let event = crate::websocket::race(&app).await;
    let ids = app.athlete_ids(&event).await;
    let (id, token) = (ids["1"].clone(), app.athlete_token(&ids["1"]));
    // The race is on 2026-03-14 at 09:00: 60 days of sessions before it, a BMQ that morning.
    let race_day = NaiveDate::from_ymd_opt(2026, 3, 14).unwrap();
    let rows: Vec<String> = (1..=60)
        .map(|n| {
            json!({ "kind": "ACTIVITY", "at": format!("{}T18:00:00Z", race_day - Duration::days(n)),
                "sourceId": format!("r{n}"), "sport": "run", "durationS": 3600, "rpe": 5 })
            .to_string()
        })
        .chain([
            json!({ "kind": "BMQ", "at": "2026-03-14T07:00:00Z", "sourceId": "bmq-race",
            "value": 3, "moment": "MORNING" })
            .to_string(),
        ])
        .collect();
    let (_, report) = post_wellness(
        &app,
        Some(&token),
        &id,
        "application/x-ndjson",
        rows.join("\n"),
    )
    .await;
    assert_eq!(report["accepted"], 61, "{report}");
    let q = "query($e: ID!) { raceReport(eventId: $e, bib: \"1\") { preRace { ctl atl tsb readiness bmq } } }";
    let (_, mine) = app.graphql_as(Some(&token), q, json!({ "e": event })).await;
    let pre = mine["data"]["raceReport"]["preRace"].clone();
    // The same numbers as the chart: the day before's CTL and ATL, race day's TSB.
    let chart = app
        .gql(
            LOAD,
            json!({ "a": id, "from": race_day - Duration::days(1), "to": race_day }),
        )
        .await["trainingLoad"]
        .clone();
    assert_eq!(pre["ctl"], chart[0]["ctl"], "{mine}");
    assert_eq!(pre["atl"], chart[0]["atl"]);
    assert_eq!(pre["tsb"], chart[1]["tsb"]);
    assert_eq!(pre["bmq"], 3.0);
    assert!(
        pre["readiness"].is_number(),
        "the ACWR alone gives a score: {pre}"
    );
    // The report of a public athlete is public; how they trained is not.
    let (_, public) = app.graphql_as(None, q, json!({ "e": event })).await;
    assert!(public["data"]["raceReport"].is_object(), "{public}");
    assert!(public["data"]["raceReport"]["preRace"].is_null());
}

async fn post_file(
    app: &TestApp,
    token: &str,
    athlete: &str,
    query: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let request = Request::post(format!("/v1/athletes/{athlete}/activities{query}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/octet-stream");
    let (status, _, body) = app.request(request.body(Body::from(body)).unwrap()).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A FIT file becomes one activity whose summary matches the totals the device itself wrote
/// into the file's session message.
#[tokio::test]
async fn a_fit_file_is_summarised_as_its_device_did() {
    let app = TestApp::spawn().await;
    let (id, token) = athlete(&app).await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/activity-files/garmin-fenix-5-bike.fit"
    );
    let bytes = std::fs::read(path).unwrap();
    let (status, report) = post_file(&app, &token, &id, "", bytes.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["accepted"], 1);
    assert_eq!(report["format"], "FIT");
    // The device's own totals.
    let records = fitparser::from_bytes(&bytes).unwrap();
    let session = records
        .iter()
        .find(|r| r.kind() == fitparser::profile::MesgNum::Session)
        .unwrap();
    let total = |name: &str| -> f64 {
        session
            .fields()
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.value().clone().try_into().unwrap())
            .unwrap()
    };
    let activity = &report["activity"];
    assert_eq!(activity["sport"], "cycling");
    let close = |field: &str, want: f64, tolerance: f64| {
        let got = activity[field].as_f64().unwrap_or(f64::NAN);
        assert!(
            (got - want).abs() <= tolerance,
            "{field}: {got} vs the device's {want}"
        );
    };
    close("distanceM", total("total_distance"), 1.0);
    close("durationS", total("total_elapsed_time"), 2.0);
    close("averageHr", total("avg_heart_rate"), 2.0);
    // The same file again is the same sample.
    let (_, again) = post_file(&app, &token, &id, "", bytes).await;
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(1))
    );
}

#[tokio::test]
async fn tcx_and_gpx_files_are_summarised_from_their_points() {
    let app = TestApp::spawn().await;
    let (id, token) = athlete(&app).await;
    let tcx = r#"<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
 <Activities><Activity Sport="Running"><Id>2026-03-01T08:00:00Z</Id><Lap StartTime="2026-03-01T08:00:00Z"><Track>
  <Trackpoint><Time>2026-03-01T08:00:00Z</Time><AltitudeMeters>20</AltitudeMeters><DistanceMeters>0</DistanceMeters><HeartRateBpm><Value>120</Value></HeartRateBpm></Trackpoint>
  <Trackpoint><Time>2026-03-01T08:10:00Z</Time><AltitudeMeters>35</AltitudeMeters><DistanceMeters>2000</DistanceMeters><HeartRateBpm><Value>150</Value></HeartRateBpm></Trackpoint>
  <Trackpoint><Time>2026-03-01T08:30:00Z</Time><AltitudeMeters>25</AltitudeMeters><DistanceMeters>6000</DistanceMeters><HeartRateBpm><Value>170</Value></HeartRateBpm></Trackpoint>
 </Track></Lap></Activity></Activities>
</TrainingCenterDatabase>"#;
    let (status, report) = post_file(&app, &token, &id, "", tcx.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let a = &report["activity"];
    assert_eq!(
        (a["sport"].clone(), report["format"].clone()),
        (json!("running"), json!("TCX"))
    );
    assert_eq!(a["durationS"], 1800.0);
    assert_eq!(a["distanceM"], 6000.0);
    assert_eq!(a["elevationGainM"], 15.0);
    // 120 bpm for 10 min, 150 for 20: 140.
    assert_eq!(a["averageHr"], 140.0);
    assert_eq!(a["averagePaceSPerKm"], 300.0);

    let gpx = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"
     xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"><trk><type>hiking</type><trkseg>
 <trkpt lat="47.00" lon="11.00"><ele>1000</ele><time>2026-03-02T08:00:00Z</time><extensions><gpxtpx:TrackPointExtension><gpxtpx:hr>100</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions></trkpt>
 <trkpt lat="47.01" lon="11.00"><ele>1100</ele><time>2026-03-02T08:30:00Z</time><extensions><gpxtpx:TrackPointExtension><gpxtpx:hr>140</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions></trkpt>
 <trkpt lat="47.02" lon="11.00"><ele>1050</ele><time>2026-03-02T09:00:00Z</time><extensions><gpxtpx:TrackPointExtension><gpxtpx:hr>130</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions></trkpt>
</trkseg></trk></gpx>"#;
    let (status, report) =
        post_file(&app, &token, &id, "?sport=Walk", gpx.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let a = &report["activity"];
    assert_eq!(a["sport"], "walk", "the query's sport wins");
    assert_eq!(a["durationS"], 3600.0);
    // Along a meridian: 0.02° of the mean Earth's circumference.
    let metres = 6_371_008.8 * std::f64::consts::PI / 180.0 * 0.02;
    assert!(
        (a["distanceM"].as_f64().unwrap() - metres).abs() < 1e-6,
        "{a}"
    );
    assert_eq!(a["elevationGainM"], 100.0);
    // Garmin's heart-rate extension: 100 for 30 min, 140 for 30 min.
    assert_eq!(a["averageHr"], 120.0);
    // Two days of load on the chart.
    let chart = app
        .gql(
            LOAD,
            json!({ "a": id, "from": "2026-03-01", "to": "2026-03-02" }),
        )
        .await["trainingLoad"]
        .clone();
    assert!(
        chart[0]["load"].as_f64().unwrap() > 0.0,
        "TRIMP from the TCX's heart rate"
    );

    let (status, body) = post_file(&app, &token, &id, "", b"hello".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not GPX, TCX or FIT")
            || body.to_string().contains("not GPX, TCX or FIT"),
        "{body}"
    );
}
