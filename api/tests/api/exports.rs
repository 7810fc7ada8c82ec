//! Result exports: CSV, JSON and NDJSON in standings order with the leaderboard's ranks,
//! filters, private athletes anonymised, spreadsheet formulas defused, `ETag` / 304.

use crate::helpers::{read, TestApp};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use podium_api::auth::{dev_claims, Role};
use serde_json::{json, Value};

/// An event where bib 2 (OPEN WOMEN) wins, bib 1 (OPEN MEN) is second, bib 3 (PRO MEN) is
/// still racing and bib 4's athlete (named like a formula) goes private.
async fn race(app: &TestApp) -> String {
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[
            ("1", "OPEN", "MEN", 1990),
            ("2", "OPEN", "WOMEN", 1991),
            ("3", "PRO", "MEN", 1985),
        ],
    )
    .await;
    app.gql(
        r#"mutation($e: ID!) { addEntries(eventId: $e, entries: [{ bib: "4", firstName: "=HYPERLINK(1)", lastName: "X", category: OPEN, gender: MEN, waveStart: "2026-03-14T09:00:00Z" }]) { id } }"#,
        json!({ "e": event }),
    )
    .await;
    app.ingest_json(
        &event,
        json!([
            read("1", "START", 0),
            read("1", "FINISH", 5_025),
            read("2", "START", 0),
            read("2", "FINISH", 4_800),
            read("3", "START", 0),
            read("3", "RUN1", 300),
            read("4", "START", 0),
            read("4", "FINISH", 6_000),
        ]),
    )
    .await;
    event
}

async fn export(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    etag: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let (status, headers, body) = app.request(request.body(Body::empty()).unwrap()).await;
    (status, headers, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn the_three_formats_carry_the_standings_with_their_ranks() {
    let app = TestApp::spawn().await;
    let event = race(&app).await;
    let (status, headers, csv) =
        export(&app, None, &format!("/v1/events/{event}/results.csv"), None).await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with(
            "rank,rankOverall,rankGender,rankAgeGroup,bib,athleteId,athlete,category,gender,ageGroup,status,netTimeMs,netTime,lastTimingPoint,startFromWave,resultStatus,RUN_1,ROXZONE_1,SKIERG,"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(",WALL_BALLS,mergedSplits"),
        "{}",
        lines[0]
    );
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |line: &str, name: &str| -> String {
        let at = header.iter().position(|h| *h == name).unwrap();
        line.split(',').nth(at).unwrap().to_owned()
    };
    // Bib 3 crossed START and RUN1: its first run is known on its own.
    assert_eq!(column(lines[4], "RUN_1"), "300000");
    assert_eq!(column(lines[4], "mergedSplits"), "");
    // Bib 2 has only START and FINISH: one split over every segment, listed as merged, never
    // divided among the segment columns.
    assert_eq!(column(lines[1], "RUN_1"), "");
    assert!(
        column(lines[1], "mergedSplits").starts_with("RUN_1+ROXZONE_1+SKIERG+")
            && column(lines[1], "mergedSplits").ends_with("+WALL_BALLS=4800000"),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with("1,1,1,1,2,"), "{}", lines[1]);
    assert!(
        lines[1].contains(",FINISHED,4800000,1:20:00.000,FINISH,false,PROVISIONAL"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("2,1,1,1,1,"), "{}", lines[2]);
    assert!(
        lines[3].contains(",'=HYPERLINK(1) X,"),
        "formulas are defused: {}",
        lines[3]
    );
    assert!(lines[4].contains(",RACING,,,RUN1,"), "{}", lines[4]);

    let (_, _, json) = export(
        &app,
        None,
        &format!("/v1/events/{event}/results.json"),
        None,
    )
    .await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["event"]["status"], "LIVE");
    assert_eq!(json["results"][0]["bib"], "2");
    assert_eq!(json["results"][0]["netTime"], "1:20:00.000");
    assert_eq!(json["results"][0]["splits"][0]["merged"], true);
    assert_eq!(json["results"][0]["splits"][0]["durationMs"], 4_800_000);
    assert_eq!(
        json["results"][3]["splits"],
        json!([{ "segment": "RUN_1", "durationMs": 300_000, "merged": false, "estimated": false }])
    );
    assert_eq!(json["results"].as_array().unwrap().len(), 4);

    let (_, headers, ndjson) = export(
        &app,
        None,
        &format!("/v1/events/{event}/results.ndjson?category=OPEN&gender=MEN"),
        None,
    )
    .await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-ndjson");
    let rows: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows.iter()
            .map(|r| (r["bib"].clone(), r["rank"].clone()))
            .collect::<Vec<_>>(),
        [(json!("1"), json!(1)), (json!("4"), json!(2))],
        "ranks within the filter"
    );
}

#[tokio::test]
async fn private_athletes_are_anonymised_in_exports_except_for_themselves_and_admins() {
    let app = TestApp::spawn().await;
    let event = race(&app).await;
    let (_, _, json) = export(
        &app,
        Some(&app.admin),
        &format!("/v1/events/{event}/results.json"),
        None,
    )
    .await;
    let json: Value = serde_json::from_str(&json).unwrap();
    let athlete: uuid::Uuid = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["bib"] == "1")
        .unwrap()["athleteId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let own = app
        .state
        .auth
        .mint_dev(
            dev_claims(Role::Athlete, None, vec![], Some(athlete)),
            chrono::Duration::hours(1),
        )
        .unwrap();
    app.graphql_as(
        Some(&own),
        "mutation { setAthletePrivacy(private: true) { private } }",
        json!({}),
    )
    .await;
    for file in ["results.csv", "results.json", "results.ndjson"] {
        let (_, _, public) = export(&app, None, &format!("/v1/events/{event}/{file}"), None).await;
        assert!(!public.contains("Athlete 1"), "{file}: {public}");
        assert!(!public.contains(&athlete.to_string()), "{file}: {public}");
        assert!(public.contains("Private athlete"), "{file}: {public}");
        let (_, _, mine) = export(
            &app,
            Some(&own),
            &format!("/v1/events/{event}/{file}"),
            None,
        )
        .await;
        assert!(mine.contains("Athlete 1"), "{file}: {mine}");
    }
}

#[tokio::test]
async fn an_unchanged_event_answers_304_and_a_change_a_new_tag() {
    let app = TestApp::spawn().await;
    let event = race(&app).await;
    let path = format!("/v1/events/{event}/results.csv");
    let (_, headers, _) = export(&app, None, &path, None).await;
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let (status, headers, body) = export(&app, None, &path, Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[header::ETAG], etag.as_str());
    app.ingest_json(&event, json!([read("3", "SKIERG_IN", 400)]))
        .await;
    let (status, headers, _) = export(&app, None, &path, Some(&etag)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(headers[header::ETAG], etag.as_str());
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong() {
    let app = TestApp::spawn().await;
    let event = race(&app).await;
    let cases = [
        (
            format!("/v1/events/{event}/results.xlsx"),
            StatusCode::NOT_FOUND,
            "results.csv",
        ),
        (
            format!("/v1/events/{event}/results.csv?category=ELITE"),
            StatusCode::BAD_REQUEST,
            "category",
        ),
        (
            format!("/v1/events/{event}/results.csv?ageGroup=12-15"),
            StatusCode::BAD_REQUEST,
            "12-15",
        ),
        (
            format!("/v1/events/{event}/results.csv?colour=red"),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            "/v1/events/nope/results.csv".to_owned(),
            StatusCode::BAD_REQUEST,
            "eventId",
        ),
        (
            format!("/v1/events/{}/results.csv", uuid::Uuid::new_v4()),
            StatusCode::NOT_FOUND,
            "event",
        ),
    ];
    for (path, status, names) in cases {
        let (got, _, body) = export(&app, None, &path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(names), "{path}: {body}");
    }
    let mut claims = dev_claims(Role::Integration, Some("pc_timing".into()), vec![], None);
    claims.scope = Some("timing:write".into());
    let timing_only = app
        .state
        .auth
        .mint_dev(claims, chrono::Duration::hours(1))
        .unwrap();
    let (status, headers, _) = export(
        &app,
        Some(&timing_only),
        &format!("/v1/events/{event}/results.csv"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .contains("scope=\"results:read\""));
}
