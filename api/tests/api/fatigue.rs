//! The perceived-fatigue forecast, the fatigue alert webhook, the athlete's load chart and the
//! fatigue backtest through the API, on simulated training blocks recorded over REST.

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::NaiveDate;
use podium_api::auth::{dev_claims, Role};
use podium_api::cli::demo::wellness_json;
use podium_domain::training_simulation::{training_block, TrainingBlock};
use serde_json::{json, Value};

const FORECAST: &str = "query($a: ID!, $days: Int!, $plan: [Float!], $from: NaiveDate) { fatigueForecast(athleteId: $a, days: $days, plannedLoad: $plan, from: $from) { date moment bmq low high plannedLoad model ratedDays } }";

fn race_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 20).unwrap()
}

/// `n` athletes of a fresh event.
async fn athletes(app: &TestApp, n: usize) -> Vec<String> {
    let event = app.create_event(None).await;
    let bibs: Vec<String> = (1..=n).map(|b| b.to_string()).collect();
    let entries: Vec<(&str, &str, &str, i32)> = bibs
        .iter()
        .map(|b| (b.as_str(), "OPEN", "MEN", 1990))
        .collect();
    app.add_entries(&event, &entries).await;
    let ids = app.athlete_ids(&event).await;
    bibs.iter().map(|b| ids[b].clone()).collect()
}

async fn post_wellness(app: &TestApp, token: &str, athlete: &str, rows: &[Value]) -> Value {
    let request = Request::post(format!("/v1/athletes/{athlete}/wellness"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(Value::Array(rows.to_vec()).to_string()))
        .unwrap();
    let (status, _, body) = app.request(request).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rejected"], json!([]), "{body}");
    body
}

/// Records a 16-week simulated block before `race_day()` for the athlete.
async fn record_block(app: &TestApp, athlete: &str, seed: u64) {
    let samples = training_block(&TrainingBlock {
        seed,
        race_day: race_day(),
        weeks: 16,
        volume: 0.8 + 0.1 * (seed % 4) as f64,
        bmq: true,
    });
    let rows: Vec<Value> = samples.iter().map(wellness_json).collect();
    for chunk in rows.chunks(500) {
        post_wellness(app, &app.admin, athlete, chunk).await;
    }
}

async fn forecast(app: &TestApp, token: Option<&str>, vars: Value) -> (Value, Option<String>) {
    let (_, body) = app.graphql_as(token, FORECAST, vars).await;
    let error = body["errors"][0]["message"].as_str().map(str::to_owned);
    (body["data"]["fatigueForecast"].clone(), error)
}

#[tokio::test]
async fn forecasts_come_from_the_population_then_the_athletes_own_model() {
    let app = TestApp::spawn().await;
    let ids = athletes(&app, 4).await;
    for (i, id) in ids.iter().enumerate() {
        record_block(&app, id, i as u64 + 1).await;
    }
    let athlete = &ids[0];
    // Ten days into the block: too few ratings of their own, the population's model.
    let early = race_day() - chrono::Duration::days(102);
    let (points, error) = forecast(
        &app,
        Some(&app.admin),
        json!({ "a": athlete, "days": 3, "from": early.to_string() }),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 12, "four moments a day");
    assert!(points.iter().all(|p| p["model"] == "POPULATION"));
    assert!(points[0]["ratedDays"].as_u64().unwrap() <= 10);

    // On race day: their own model, a week of four moments from that day.
    let vars = json!({ "a": athlete, "days": 7, "from": race_day().to_string() });
    let (points, error) = forecast(&app, Some(&app.admin), vars.clone()).await;
    assert!(error.is_none(), "{error:?}");
    let points = points.as_array().unwrap().clone();
    assert_eq!(points.len(), 28);
    assert_eq!(points[0]["date"], race_day().to_string());
    assert_eq!(
        points[27]["date"],
        (race_day() + chrono::Duration::days(6)).to_string()
    );
    let moments: Vec<&str> = points[..4]
        .iter()
        .map(|p| p["moment"].as_str().unwrap())
        .collect();
    assert_eq!(
        moments,
        ["MORNING", "PRE_WORKOUT", "POST_WORKOUT", "EVENING"]
    );
    for p in &points {
        assert_eq!(p["model"], "PERSONAL");
        let (low, bmq, high) = (
            p["low"].as_f64().unwrap(),
            p["bmq"].as_f64().unwrap(),
            p["high"].as_f64().unwrap(),
        );
        assert!(
            (1.0..=10.0).contains(&bmq) && low <= bmq && bmq <= high && high <= 10.0,
            "{p}"
        );
    }
    // No plan given: every day takes the mean daily load of the last four weeks.
    let usual = points[0]["plannedLoad"].as_f64().unwrap();
    assert!(
        usual > 0.0
            && points
                .iter()
                .all(|p| p["plannedLoad"] == points[0]["plannedLoad"])
    );

    // A hard day planned weighs on the ratings after it, a rest day lightens them.
    let post_workout = |points: &Value| points[2]["bmq"].as_f64().unwrap();
    let (hard, _) = forecast(
        &app,
        Some(&app.admin),
        json!({ "a": athlete, "days": 2, "plan": [900.0, 0.0], "from": race_day().to_string() }),
    )
    .await;
    let (rest, _) = forecast(
        &app,
        Some(&app.admin),
        json!({ "a": athlete, "days": 2, "plan": [0.0, 0.0], "from": race_day().to_string() }),
    )
    .await;
    assert!(
        post_workout(&hard) > post_workout(&rest) + 0.5,
        "{hard} {rest}"
    );
    assert_eq!(hard[0]["plannedLoad"], 900.0);

    // Unchanged data answers the same (the cached model); a new rating changes the answer.
    let (again, _) = forecast(&app, Some(&app.admin), vars.clone()).await;
    assert_eq!(again, Value::Array(points.clone()));
    let the_day_before = race_day() - chrono::Duration::days(1);
    post_wellness(
        &app,
        &app.admin,
        athlete,
        &[json!({ "kind": "BMQ", "at": format!("{the_day_before}T23:30:00Z"), "sourceId": "late-evening", "value": 10, "moment": "EVENING" })],
    )
    .await;
    let (changed, _) = forecast(&app, Some(&app.admin), vars).await;
    assert_ne!(
        changed,
        Value::Array(points),
        "a new rating is a new data version"
    );
}

#[tokio::test]
async fn a_forecast_is_refused_with_the_reason_named() {
    let app = TestApp::spawn().await;
    let ids = athletes(&app, 2).await;
    record_block(&app, &ids[0], 3).await;
    let from = race_day().to_string();
    let refused = |vars: Value| {
        let app = &app;
        async move {
            let (data, error) = forecast(app, Some(&app.admin), vars).await;
            assert!(data.is_null(), "{data}");
            error.expect("an error")
        }
    };
    let a = &ids[0];
    assert!(refused(json!({ "a": a, "days": 0, "from": from }))
        .await
        .contains("days"));
    assert!(refused(json!({ "a": a, "days": 29, "from": from }))
        .await
        .contains("days"));
    assert!(
        refused(json!({ "a": a, "days": 1, "plan": [100.0, 100.0], "from": from }))
            .await
            .contains("plannedLoad")
    );
    assert!(
        refused(json!({ "a": a, "days": 2, "plan": [100.0, -5.0], "from": from }))
            .await
            .contains("plannedLoad[1]")
    );
    assert!(refused(json!({ "a": ids[1], "days": 7, "from": from }))
        .await
        .contains("no BMQ ratings"));

    // Never public; a coach only when granted; the athlete themself.
    let (_, anonymous) = forecast(&app, None, json!({ "a": a, "days": 7, "from": from })).await;
    assert!(anonymous.is_some());
    let coach = app.token(Role::Coach, vec![]);
    let (_, stranger) = forecast(
        &app,
        Some(&coach),
        json!({ "a": a, "days": 7, "from": from }),
    )
    .await;
    assert!(stranger.is_some(), "a coach without a grant");
    let own = app.athlete_token(a);
    let (points, error) =
        forecast(&app, Some(&own), json!({ "a": a, "days": 1, "from": from })).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(points.as_array().unwrap().len(), 4);
}

const CREATE: &str =
    "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }";

async fn endpoint(app: &TestApp, token: &str, topics: &[&str]) -> uuid::Uuid {
    let (_, body) = app
        .graphql_as(
            Some(token),
            CREATE,
            json!({ "input": { "url": "http://127.0.0.1:9/hook", "topics": topics } }),
        )
        .await;
    body["data"]["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .parse()
        .unwrap()
}

async fn alerts(app: &TestApp, webhook: uuid::Uuid) -> Vec<Value> {
    app.state
        .webhooks
        .deliveries(podium_domain::ports::DeliveryQuery {
            webhook_ids: vec![webhook],
            state: None,
            limit: 100,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.topic == "athlete.fatigue_alert")
        .map(|d| serde_json::from_str(&d.payload).unwrap())
        .collect()
}

fn session(day: NaiveDate, minutes: f64, id: &str) -> Value {
    json!({ "kind": "ACTIVITY", "at": format!("{day}T18:00:00Z"), "sourceId": id, "sport": "run", "durationS": minutes * 60.0, "rpe": 5 })
}

#[tokio::test]
async fn a_spike_in_load_alerts_the_athletes_and_their_coaches_endpoints_only() {
    let app = TestApp::spawn().await;
    let ids = athletes(&app, 1).await;
    let athlete = &ids[0];
    let token = |role, sub: &str, acting_for: Option<&str>| {
        let mut claims = dev_claims(
            role,
            Some(sub.into()),
            vec![],
            acting_for.map(|a| a.parse().unwrap()),
        );
        claims.scope = Some("webhooks:manage".into());
        app.state
            .auth
            .mint_dev(claims, chrono::Duration::hours(1))
            .unwrap()
    };
    let athletes_app = token(Role::Integration, "training-app", Some(athlete));
    let coach_app = token(Role::Integration, "dev-coach", None);
    let stranger_app = token(Role::Integration, "someone-else", None);
    let own = endpoint(&app, &athletes_app, &["athlete.fatigue_alert"]).await;
    let coach = endpoint(&app, &coach_app, &["athlete.fatigue_alert"]).await;
    let organiser = endpoint(&app, &app.admin, &[]).await;
    let stranger = endpoint(&app, &stranger_app, &[]).await;
    let athlete_token = app.athlete_token(athlete);
    let (_, granted) = app
        .graphql_as(
            Some(&athlete_token),
            r#"mutation { grantCoachAccess(coachId: "dev-coach") { coachId } }"#,
            json!({}),
        )
        .await;
    assert!(granted["errors"].is_null(), "{granted}");

    // Six weeks of a steady hour a day: inside the band, nothing sent.
    let first = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let steady: Vec<Value> = (0..42)
        .map(|n| session(first + chrono::Duration::days(n), 60.0, &format!("s{n}")))
        .collect();
    post_wellness(&app, &athlete_token, athlete, &steady).await;
    assert!(alerts(&app, own).await.is_empty());

    // Then a day of five hours: the acute load jumps out of the band.
    let spike_day = first + chrono::Duration::days(42);
    let spike = [session(spike_day, 300.0, "spike")];
    post_wellness(&app, &athlete_token, athlete, &spike).await;
    let sent = alerts(&app, own).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let data = &sent[0]["data"];
    assert_eq!(data["athleteId"], athlete.as_str());
    assert_eq!(data["date"], spike_day.to_string());
    assert_eq!(data["reasons"], json!(["ACWR_HIGH"]));
    // The ratio by its definition: acute EWMA (λ = 2/8) of 43 days over the chronic EWMA
    // (λ = 2/29) of the days before the last week, all 300 until the spike of 1500.
    let acwr = data["acwr"].as_f64().unwrap();
    let before = 300.0 * (1.0 - (1.0 - 2.0 / 8.0_f64).powi(42));
    let acute = before + (2.0 / 8.0) * (1500.0 - before);
    let chronic = 300.0 * (1.0 - (1.0 - 2.0 / 29.0_f64).powi(36));
    assert!(
        (acwr - acute / chronic).abs() < 1e-6,
        "{acwr} vs {}",
        acute / chronic
    );
    assert_eq!(
        alerts(&app, coach).await.len(),
        1,
        "the granted coach's endpoint"
    );
    assert!(
        alerts(&app, organiser).await.is_empty(),
        "never to an organiser's endpoint"
    );
    assert!(alerts(&app, stranger).await.is_empty());

    // The same day sent again: a duplicate, and no second alert.
    post_wellness(&app, &athlete_token, athlete, &spike).await;
    assert_eq!(alerts(&app, own).await.len(), 1);
}

#[tokio::test]
async fn an_athletes_load_chart_draws_their_days_under_the_same_access_rules() {
    let app = TestApp::spawn().await;
    let ids = athletes(&app, 2).await;
    record_block(&app, &ids[0], 5).await;
    let from = race_day() - chrono::Duration::days(28);
    let to = race_day() - chrono::Duration::days(1);
    let url = format!(
        "/v1/athletes/{}/charts/load.svg?from={from}&to={to}",
        ids[0]
    );
    let get = |token: Option<String>, url: String, etag: Option<String>| {
        let app = &app;
        async move {
            let mut request = Request::get(url);
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            app.request(request.body(Body::empty()).unwrap()).await
        }
    };
    let own = app.athlete_token(&ids[0]);
    let (status, headers, body) = get(Some(own.clone()), url.clone(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(body.to_vec()).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Training load"));
    // One BMQ dot per day rated in the range, three lines.
    let rated_days = {
        let samples = training_block(&TrainingBlock {
            seed: 5,
            race_day: race_day(),
            weeks: 16,
            volume: 0.8 + 0.1,
            bmq: true,
        });
        let mut days: Vec<NaiveDate> = samples
            .iter()
            .filter(|s| s.kind() == podium_domain::wellness::SampleKind::Bmq)
            .map(|s| s.at.to_chrono().date_naive())
            .filter(|d| (from..=to).contains(d))
            .collect();
        days.dedup();
        days.len()
    };
    assert_eq!(svg.matches("class=\"bmq\"").count(), rated_days);
    assert_eq!(svg.matches("<path").count(), 3);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = get(Some(own), url.clone(), Some(etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    let other = app.athlete_token(&ids[1]);
    let (status, _, _) = get(Some(other), url.clone(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(None, url.clone(), None).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    let (status, _, _) = get(
        Some(app.admin.clone()),
        format!("/v1/athletes/{}/charts/load.svg?from=yesterday", ids[0]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_fatigue_backtest_reads_every_rated_athlete_and_says_whether_it_beats_the_baselines() {
    let app = TestApp::spawn().await;
    let ids = athletes(&app, 5).await;
    for (i, id) in ids.iter().enumerate() {
        record_block(&app, id, 10 + i as u64).await;
    }
    let result = podium_api::app::fatigue::backtest(&app.state)
        .await
        .unwrap();
    assert_eq!(result.athletes, 5);
    assert_eq!(
        result.origins,
        5 * 15,
        "origins every 7 days from the 8th of 112"
    );
    let table = podium_api::app::fatigue::backtest_table(&result);
    let verdict = if result.overall.beats_baselines() {
        "the forecast beats both baselines"
    } else {
        "the forecast does NOT beat both baselines"
    };
    assert!(table.contains(verdict), "{table}");
    assert!(result.overall.beats_baselines(), "{table}");
}
