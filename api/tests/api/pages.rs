//! podium's pages: in process (headers, escaping, privacy, errors) and in a real browser
//! (Debian's Chromium driven by playwright-core, `api/tests/js/pages.mjs`): the live board
//! moves within a second of an ingest and resumes after its WebSocket is killed, the tracker,
//! the report, the index and GraphiQL open without a CSP violation or a request outside
//! podium. (The screenshots in `docs/pages/` come from `api/tests/js/screenshots.mjs` on a
//! `podium demo` race.)

use crate::helpers::{read, run_js, serve, TestApp};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

async fn race(app: &TestApp) -> String {
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[
            ("1", "OPEN", "MEN", 1990),
            ("2", "OPEN", "MEN", 1988),
            ("3", "OPEN", "MEN", 1995),
        ],
    )
    .await;
    app.ingest_json(
        &event,
        json!([
            read("1", "START", 0),
            read("2", "START", 0),
            read("3", "START", 0),
            read("1", "RUN1", 300),
            read("2", "RUN1", 320),
            read("3", "RUN1", 330),
        ]),
    )
    .await;
    event
}

async fn get(app: &TestApp, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let (status, headers, body) = app
        .request(Request::get(uri).body(Body::empty()).unwrap())
        .await;
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn pages_are_server_rendered_snapshots_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let event = race(&app).await;
    let (status, headers, html) = get(&app, &format!("/events/{event}/live")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(!html.contains("<script>"), "no inline script");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );
    // The snapshot: the three racers in rank order, each linking to their tracker.
    let rows: Vec<&str> = html
        .match_indices("<tr data-bib=\"")
        .map(|(i, _)| &html[i + 14..i + 15])
        .collect();
    assert_eq!(rows, ["1", "2", "3"]);
    assert!(html.contains(&format!("/events/{event}/athletes/2")));
    assert!(html.contains("<th scope=\"col\""), "semantic table headers");

    let (status, _, tracker) = get(&app, &format!("/events/{event}/athletes/1")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(tracker.contains("<td>RUN_1</td>"), "{tracker}");
    assert!(
        tracker.contains("2 of 25 timing points"),
        "START and RUN1 passed: {tracker}"
    );
    let (status, _, report) = get(&app, &format!("/events/{event}/report")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(report.contains(&format!("/v1/events/{event}/charts/")));
    let (status, _, index) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(index.contains(&format!("/events/{event}/live")));

    let (status, _, _) = get(&app, &format!("/events/{event}/athletes/999")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&app, "/events/not-an-id/live").await;
    assert!(status.is_client_error(), "{status}");
    let (status, _, _) = get(&app, &format!("/events/{event}/live?colour=red")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn names_are_escaped_and_private_athletes_stay_private() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    let (_, added) = app
        .graphql_as(
            Some(&app.admin),
            "mutation($e: ID!) { addEntries(eventId: $e, entries: [{ bib: \"7\", firstName: \"<script>alert(1)</script>\", lastName: \"O'Neil & Co\", gender: MEN, category: OPEN, birthYear: 1990, waveStart: \"2026-03-14T09:00:00Z\" }, { bib: \"8\", firstName: \"Hidden\", lastName: \"Person\", gender: MEN, category: OPEN, birthYear: 1991, waveStart: \"2026-03-14T09:00:00Z\" }]) { athlete { id } } }",
            json!({ "e": event }),
        )
        .await;
    assert!(added["errors"].is_null(), "{added}");
    let hidden = added["data"]["addEntries"][1]["athlete"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.athlete_token(&hidden);
    let (_, private) = app
        .graphql_as(
            Some(&token),
            "mutation { setAthletePrivacy(private: true) { private } }",
            json!({}),
        )
        .await;
    assert!(private["errors"].is_null(), "{private}");
    app.ingest_json(
        &event,
        json!([read("7", "START", 0), read("8", "START", 0)]),
    )
    .await;
    let (_, _, html) = get(&app, &format!("/events/{event}/live")).await;
    assert!(!html.contains("<script>alert"), "escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("O&#39;Neil &amp; Co"));
    assert!(
        !html.contains("Hidden"),
        "a private athlete's name is not shown"
    );
}

#[tokio::test]
async fn assets_and_graphiql_come_from_podium_itself() {
    let app = TestApp::spawn().await;
    let (status, headers, _) = get(&app, "/assets/graphql-ws.min.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    let (status, headers, css) = get(&app, "/assets/site.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("content-encoding").is_none() && css.contains(":root"));
    let (status, _, _) = get(&app, "/assets/..%2FCargo.toml").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, html) = app
        .request(
            Request::get("/graphql")
                .header("accept", "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let html = String::from_utf8_lossy(&html).into_owned();
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("/assets/graphiql.min.js")
            && !html.contains("cdn")
            && !html.contains("https://"),
        "{html}"
    );
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
}

#[tokio::test]
async fn in_a_real_browser_the_board_moves_and_resumes_and_every_page_opens() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        eprintln!("SKIPPED: no Chromium at {chromium} (apt-get install chromium): the browser tests of the pages did not run");
        return;
    }
    let app = TestApp::spawn().await;
    let event = race(&app).await;
    let addr = serve(&app).await;
    let shots =
        std::env::temp_dir().join(format!("podium-pages-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&shots).unwrap();
    let moves = json!({
        // Bib 3 reaches the SkiErg first: rank 1.
        "measured": { "bib": "3", "rank": 1, "rows": [read("3", "SKIERG_IN", 600)] },
        // While the page is cut off, bib 2 gets there earlier still.
        "whileDown": { "bib": "2", "rank": 1, "rows": [read("2", "SKIERG_IN", 590)] },
        "tracked": "1",
    });
    let out = run_js(
        "pages.mjs",
        &[
            format!("http://{addr}"),
            event.clone(),
            app.admin.clone(),
            shots.display().to_string(),
            moves.to_string(),
        ],
    )
    .await;
    let result: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(result["problems"], json!([]), "{result}");
    assert_eq!(result["before"], "3", "{result}");
    assert!(
        result["moveMs"].as_u64().is_some(),
        "the row moved within a second: {result}"
    );
    assert_eq!(result["reconnectingShown"], true);
    assert!(
        result["resumeMs"].as_u64().is_some(),
        "the update made while cut off arrived: {result}"
    );
    assert_eq!(result["keyboard"], true);
    assert_eq!(
        result["snapshotRows"], 3,
        "without JavaScript: the snapshot"
    );
    assert!(
        result["phoneOverflow"].as_i64().unwrap() <= 0,
        "fits a phone: {result}"
    );
    assert!(result["trackerSplits"].as_u64().unwrap() >= 1);
    assert!(result["reportCharts"].as_u64().unwrap() >= 1);
    assert!(result["indexLinks"].as_u64().unwrap() >= 1);
    assert_eq!(result["graphiql"], true);
    for shot in [
        "live-board.png",
        "live-phone.png",
        "athlete-tracker.png",
        "event-report.png",
        "graphiql.png",
    ] {
        assert!(shots.join(shot).exists(), "{shot}");
    }
    let _ = std::fs::remove_dir_all(&shots);
}
