//! The authorization table: every operation × every role (and integration scopes), allowed or
//! denied, checked against what the server does — and the same table rendered in
//! `docs/security.md` (`UPDATE_DOCS=1` rewrites it there).

use crate::helpers::{TestApp, STARTS_AT};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use futures::StreamExt;
use podium_api::auth::{dev_claims, Principal, Role};
use serde_json::{json, Value};
use uuid::Uuid;

/// The callers, as columns.
const CALLERS: [&str; 8] = [
    "anonymous",
    "athlete",
    "coach",
    "venue_operator",
    "admin",
    "integration `results:read`",
    "integration `timing:write` (venue-bound)",
    "integration `events:manage live:subscribe`",
];

struct Fixture {
    app: TestApp,
    tokens: Vec<Option<String>>,
    venue_a: String,
    venue_b: String,
    event_a: String,
    event_b: String,
    athlete: Uuid,
    private_athlete: Uuid,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let venue = |name: &'static str| {
        let app = &app;
        async move {
            app.gql(
                "mutation($n: String!) { createVenue(name: $n) { id } }",
                json!({ "n": name }),
            )
            .await["createVenue"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let venue_a = venue("A").await;
    let venue_b = venue("B").await;
    let event_a = app.create_event(Some(&venue_a)).await;
    let event_b = app.create_event(Some(&venue_b)).await;
    app.add_entries(
        &event_a,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "WOMEN", 1991)],
    )
    .await;
    let entries = app
        .gql(
            "query($id: ID!) { leaderboard(eventId: $id) { edges { node { bib athlete { id } } } } }",
            json!({ "id": event_a }),
        )
        .await;
    let athlete_of = |bib: &str| -> Uuid {
        entries["leaderboard"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["bib"] == bib)
            .unwrap()["node"]["athlete"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (athlete, private_athlete) = (athlete_of("1"), athlete_of("2"));
    let mint = |claims: podium_api::auth::Claims| {
        app.state
            .auth
            .mint_dev(claims, chrono::Duration::hours(1))
            .unwrap()
    };
    let integration = |scope: &str, venues: Vec<Uuid>| {
        let mut claims = dev_claims(Role::Integration, Some("pc_test".into()), venues, None);
        claims.scope = Some(scope.to_owned());
        mint(claims)
    };
    let athlete_token = mint(dev_claims(Role::Athlete, None, vec![], Some(athlete)));
    let private_token = mint(dev_claims(
        Role::Athlete,
        None,
        vec![],
        Some(private_athlete),
    ));
    // The athlete grants the coach access; the private athlete does not.
    app.graphql_as(
        Some(&athlete_token),
        r#"mutation { grantCoachAccess(coachId: "coach-1") { coachId } }"#,
        json!({}),
    )
    .await;
    app.graphql_as(
        Some(&private_token),
        "mutation { setAthletePrivacy(private: true) { private } }",
        json!({}),
    )
    .await;
    let tokens = vec![
        None,
        Some(athlete_token),
        Some(mint(dev_claims(
            Role::Coach,
            Some("coach-1".into()),
            vec![],
            None,
        ))),
        Some(mint(dev_claims(
            Role::VenueOperator,
            None,
            vec![venue_a.parse().unwrap()],
            None,
        ))),
        Some(app.admin.clone()),
        Some(integration("results:read", vec![])),
        Some(integration("timing:write", vec![venue_a.parse().unwrap()])),
        Some(integration("events:manage live:subscribe", vec![])),
    ];
    Fixture {
        app,
        tokens,
        venue_a,
        venue_b,
        event_a,
        event_b,
        athlete,
        private_athlete,
    }
}

enum Call {
    Graphql(String, Value),
    Subscription(String, Value),
    Rest(&'static str, String, Option<Value>),
}

/// One row: what is called and who may.
struct Row {
    name: &'static str,
    call: Call,
    /// Allowed per caller, in `CALLERS` order.
    allowed: [bool; 8],
}

const READERS: [bool; 8] = [true, true, true, true, true, true, false, false];
const SUBSCRIBERS: [bool; 8] = [true, true, true, true, true, false, false, true];
const MANAGERS: [bool; 8] = [false, false, false, true, true, false, false, true];
const TIMING: [bool; 8] = [false, false, false, true, true, false, true, false];
const ADMIN: [bool; 8] = [false, false, false, false, true, false, false, false];
const WEBHOOKS: [bool; 8] = [false, false, false, true, true, false, false, false];
const ATHLETE: [bool; 8] = [false, true, false, false, false, false, false, false];
/// A two-point activity file.
const TCX: &str = r#"<TrainingCenterDatabase><Activities><Activity Sport="Running"><Lap><Track>
<Trackpoint><Time>2026-03-01T08:00:00Z</Time></Trackpoint>
<Trackpoint><Time>2026-03-01T08:30:00Z</Time></Trackpoint>
</Track></Lap></Activity></Activities></TrainingCenterDatabase>"#;

/// The athlete, the coach they granted, admins.
const TRAINING_READERS: [bool; 8] = [false, true, true, false, true, false, false, false];
/// The athlete, admins.
const TRAINING_WRITERS: [bool; 8] = [false, true, false, false, true, false, false, false];

fn rows(f: &Fixture) -> Vec<Row> {
    let gql = |q: &str, v: Value| Call::Graphql(q.to_owned(), v);
    let (ea, eb, a) = (&f.event_a, &f.event_b, f.athlete);
    let read = json!([{ "bib": "1", "timingPoint": "START", "timestamp": STARTS_AT }]);
    let event_input = |venue: &str| json!({ "input": { "name": "New", "startsAt": STARTS_AT, "timezone": "Europe/Berlin", "course": "HYROX_STANDARD", "venueId": venue } });
    vec![
        Row { name: "`event`", call: gql("query($e: ID!) { event(id: $e) { id } }", json!({ "e": ea })), allowed: READERS },
        Row { name: "`events`", call: gql("{ events { id } }", json!({})), allowed: READERS },
        Row { name: "`leaderboard`", call: gql("query($e: ID!) { leaderboard(eventId: $e) { edges { node { bib } } } }", json!({ "e": ea })), allowed: READERS },
        Row { name: "`result`", call: gql(r#"query($e: ID!) { result(eventId: $e, bib: "1") { bib } }"#, json!({ "e": ea })), allowed: READERS },
        Row { name: "`segmentStats`", call: gql("query($e: ID!) { segmentStats(eventId: $e) { segment } }", json!({ "e": ea })), allowed: READERS },
        Row { name: "`raceReport` (public athlete)", call: gql(r#"query($e: ID!) { raceReport(eventId: $e, bib: "1") { bib } }"#, json!({ "e": ea })), allowed: READERS },
        Row { name: "`raceReport` (private athlete who granted nobody)", call: gql(r#"query($e: ID!) { raceReport(eventId: $e, bib: "2") { bib } }"#, json!({ "e": ea })), allowed: ADMIN },
        Row { name: "`compareResults`", call: gql(r#"query($e: ID!) { compareResults(eventId: $e, bibs: ["1", "2"]) { entries { bib } } }"#, json!({ "e": ea })), allowed: READERS },
        Row { name: "`segmentLeaderboard`", call: gql(r#"{ segmentLeaderboard(segment: "SKIERG") { totalCount } }"#, json!({})), allowed: READERS },
        Row { name: "`athleteTrend` (athlete who granted the coach)", call: gql("query($a: ID!) { athleteTrend(athleteId: $a) { bib } }", json!({ "a": a })), allowed: [false, true, true, false, true, false, false, false] },
        Row { name: "`athleteTrend` (athlete who did not)", call: gql("query($a: ID!) { athleteTrend(athleteId: $a) { bib } }", json!({ "a": f.private_athlete })), allowed: ADMIN },
        Row { name: "`competitionStats` (admins, integrations with `analytics:read`)", call: gql("{ competitionStats { entries } }", json!({})), allowed: ADMIN },
        Row { name: "`predictionModels` (admins, integrations with `analytics:read`)", call: gql("{ predictionModels { version } }", json!({})), allowed: ADMIN },
        Row { name: "`trainPredictionModel`", call: gql("mutation { trainPredictionModel { activated } }", json!({})), allowed: ADMIN },
        Row { name: "`activatePredictionModel`", call: gql(r#"mutation { activatePredictionModel(version: 999, reason: "roll back") { version } }"#, json!({})), allowed: ADMIN },
        Row { name: "`GET /v1/events/{id}/results.csv` (and `.json`, `.ndjson`)", call: Call::Rest("GET", format!("/v1/events/{ea}/results.csv"), None), allowed: READERS },
        Row { name: "`GET /v1/events/{id}/stats.csv` (and `.json`)", call: Call::Rest("GET", format!("/v1/events/{ea}/stats.csv"), None), allowed: READERS },
        Row { name: "`GET /v1/events/{id}/charts/{segment}.svg`", call: Call::Rest("GET", format!("/v1/events/{ea}/charts/SKIERG.svg"), None), allowed: READERS },
        Row { name: "`GET /v1/events/{id}/results/{bib}/report.svg` (public athlete)", call: Call::Rest("GET", format!("/v1/events/{ea}/results/1/report.svg"), None), allowed: READERS },
        Row { name: "`GET /v1/events/{id}/results/{bib}/report.svg` (private athlete who granted nobody)", call: Call::Rest("GET", format!("/v1/events/{ea}/results/2/report.svg"), None), allowed: ADMIN },
        Row { name: "`corrections`", call: gql("query($e: ID!) { corrections(eventId: $e) { id } }", json!({ "e": ea })), allowed: READERS },
        Row { name: "`athlete`", call: gql("query($a: ID!) { athlete(id: $a) { name } }", json!({ "a": a })), allowed: READERS },
        Row { name: "`athlete { birthYear }` (personal data)", call: gql("query($a: ID!) { athlete(id: $a) { birthYear } }", json!({ "a": a })), allowed: [false, true, false, false, true, false, false, false] },
        Row { name: "`athleteAnalytics` (athlete who granted the coach)", call: gql("query($a: ID!) { athleteAnalytics(athleteId: $a) { races } }", json!({ "a": a })), allowed: [false, true, true, false, true, false, false, false] },
        Row { name: "`athleteAnalytics` (athlete who did not)", call: gql("query($a: ID!) { athleteAnalytics(athleteId: $a) { races } }", json!({ "a": f.private_athlete })), allowed: ADMIN },
        Row { name: "`coachGrants`", call: gql("{ coachGrants { coachId } }", json!({})), allowed: ATHLETE },
        Row { name: "`flags`", call: gql("query($e: ID!) { flags(eventId: $e) { id } }", json!({ "e": ea })), allowed: MANAGERS },
        Row { name: "`apiClients`", call: gql("{ apiClients { clientId } }", json!({})), allowed: ADMIN },
        Row { name: "`createVenue`", call: gql(r#"mutation { createVenue(name: "C") { id } }"#, json!({})), allowed: ADMIN },
        Row { name: "`createEvent` (own venue)", call: gql("mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }", event_input(&f.venue_a)), allowed: MANAGERS },
        Row { name: "`createEvent` (another venue)", call: gql("mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }", event_input(&f.venue_b)), allowed: [false, false, false, false, true, false, false, true] },
        Row { name: "`setEventStatus`", call: gql("mutation($e: ID!) { setEventStatus(eventId: $e, status: SCHEDULED) { id } }", json!({ "e": ea })), allowed: MANAGERS },
        Row { name: "`addEntries`", call: gql(r#"mutation($e: ID!) { addEntries(eventId: $e, entries: [{ bib: "1", firstName: "A", lastName: "B", category: OPEN, gender: MEN, waveStart: "2026-03-14T09:00:00Z" }]) { id } }"#, json!({ "e": ea })), allowed: MANAGERS },
        Row { name: "`ingestDetections` (own venue)", call: gql("mutation($e: ID!, $d: [DetectionInput!]!) { ingestDetections(eventId: $e, detections: $d) { accepted } }", json!({ "e": ea, "d": read })), allowed: TIMING },
        Row { name: "`ingestDetections` (another venue)", call: gql("mutation($e: ID!, $d: [DetectionInput!]!) { ingestDetections(eventId: $e, detections: $d) { accepted } }", json!({ "e": eb, "d": read })), allowed: ADMIN },
        Row { name: "`POST /v1/events/{id}/detections`", call: Call::Rest("POST", format!("/v1/events/{ea}/detections"), Some(read.clone())), allowed: TIMING },
        Row { name: "`applyCorrection`", call: gql(r#"mutation($e: ID!) { applyCorrection(input: { eventId: $e, bib: "1", kind: TIME_PENALTY, penaltyMs: 1000, reason: "test" }) { id } }"#, json!({ "e": ea })), allowed: MANAGERS },
        Row { name: "`reviewFlag`", call: gql(r#"mutation($e: ID!, $f: ID!) { reviewFlag(eventId: $e, flagId: $f, action: DISMISS, reason: "ok") { id } }"#, json!({ "e": ea, "f": Uuid::new_v4() })), allowed: MANAGERS },
        Row { name: "`createWebhook` (own venue)", call: gql("mutation($v: ID!) { createWebhook(input: { url: \"https://example.com/hook\", venueId: $v }) { secret } }", json!({ "v": f.venue_a })), allowed: WEBHOOKS },
        Row { name: "`createWebhook` (another venue)", call: gql("mutation($v: ID!) { createWebhook(input: { url: \"https://example.com/hook\", venueId: $v }) { secret } }", json!({ "v": f.venue_b })), allowed: ADMIN },
        Row { name: "`webhooks`", call: gql("{ webhooks { id } }", json!({})), allowed: WEBHOOKS },
        Row { name: "`webhookDeliveries`", call: gql("query($w: ID!) { webhookDeliveries(webhookId: $w) { id } }", json!({ "w": Uuid::new_v4() })), allowed: WEBHOOKS },
        Row { name: "`deleteWebhook`", call: gql("mutation($w: ID!) { deleteWebhook(id: $w) }", json!({ "w": Uuid::new_v4() })), allowed: WEBHOOKS },
        Row { name: "`webhookDeliveries(status: FAILED)`", call: gql("{ webhookDeliveries(status: FAILED) { id } }", json!({})), allowed: WEBHOOKS },
        Row { name: "`updateWebhook`", call: gql("mutation($w: ID!) { updateWebhook(id: $w, input: { enabled: false }) { id } }", json!({ "w": Uuid::new_v4() })), allowed: WEBHOOKS },
        Row { name: "`rotateWebhookSecret`", call: gql("mutation($w: ID!) { rotateWebhookSecret(id: $w) { secret } }", json!({ "w": Uuid::new_v4() })), allowed: WEBHOOKS },
        Row { name: "`replayWebhookDeliveries`", call: gql("mutation($w: ID!) { replayWebhookDeliveries(webhookId: $w, since: \"2026-03-14T09:00:00Z\") }", json!({ "w": Uuid::new_v4() })), allowed: WEBHOOKS },
        Row { name: "`redeliver`", call: gql("mutation($d: ID!) { redeliver(deliveryId: $d) { id } }", json!({ "d": Uuid::new_v4() })), allowed: WEBHOOKS },
        Row { name: "`setAthletePrivacy`", call: gql("mutation { setAthletePrivacy(private: false) { private } }", json!({})), allowed: ATHLETE },
        Row { name: "`grantCoachAccess`", call: gql(r#"mutation { grantCoachAccess(coachId: "coach-2") { coachId } }"#, json!({})), allowed: ATHLETE },
        Row { name: "`revokeCoachAccess`", call: gql(r#"mutation { revokeCoachAccess(coachId: "coach-9") }"#, json!({})), allowed: ATHLETE },
        Row { name: "`registerApiClient`", call: gql(r#"mutation { registerApiClient(input: { name: "x", scopes: ["results:read"] }) { clientSecret } }"#, json!({})), allowed: ADMIN },
        Row { name: "`revokeApiClient`", call: gql(r#"mutation { revokeApiClient(clientId: "pc_none") { clientId } }"#, json!({})), allowed: ADMIN },
        Row { name: "`rotateSigningKey`", call: gql("mutation { rotateSigningKey { kid } }", json!({})), allowed: ADMIN },
        Row { name: "`leaderboardUpdates`", call: Call::Subscription("subscription($e: ID!) { leaderboardUpdates(eventId: $e) { seq } }".into(), json!({ "e": ea })), allowed: SUBSCRIBERS },
        Row { name: "`entryUpdates`", call: Call::Subscription(r#"subscription($e: ID!) { entryUpdates(eventId: $e, bib: "1") { seq } }"#.into(), json!({ "e": ea })), allowed: SUBSCRIBERS },
        Row { name: "`GET /metrics`", call: Call::Rest("GET", "/metrics".into(), None), allowed: ADMIN },
        Row { name: "`trainingLoad` (an athlete who granted the coach)", call: gql("query($a: ID!) { trainingLoad(athleteId: $a, from: \"2026-01-01\", to: \"2026-01-02\") { date } }", json!({ "a": a })), allowed: TRAINING_READERS },
        Row { name: "`trainingLoad` (an athlete who granted no one)", call: gql("query($a: ID!) { trainingLoad(athleteId: $a, from: \"2026-01-01\", to: \"2026-01-02\") { date } }", json!({ "a": f.private_athlete })), allowed: ADMIN },
        Row { name: "`readiness`", call: gql("query($a: ID!) { readiness(athleteId: $a, date: \"2026-01-02\") { score } }", json!({ "a": a })), allowed: TRAINING_READERS },
        Row { name: "`loadFor`", call: gql("query($a: ID!) { loadFor(athleteId: $a, date: \"2026-01-02\", targetTsb: 0) { load } }", json!({ "a": a })), allowed: TRAINING_READERS },
        Row { name: "`fatigueForecast`", call: gql("query($a: ID!) { fatigueForecast(athleteId: $a, days: 1) { bmq } }", json!({ "a": a })), allowed: TRAINING_READERS },
        Row { name: "`GET /v1/athletes/{id}/charts/load.svg`", call: Call::Rest("GET", format!("/v1/athletes/{a}/charts/load.svg?from=2026-01-01&to=2026-01-02"), None), allowed: TRAINING_READERS },
        Row { name: "`recordWellness`", call: gql("mutation($a: ID!) { recordWellness(athleteId: $a, samples: []) { accepted } }", json!({ "a": a })), allowed: TRAINING_WRITERS },
        Row { name: "`POST /v1/athletes/{id}/wellness`", call: Call::Rest("POST", format!("/v1/athletes/{a}/wellness"), Some(json!([]))), allowed: TRAINING_WRITERS },
        Row { name: "`POST /v1/athletes/{id}/activities`", call: Call::Rest("POST", format!("/v1/athletes/{a}/activities"), Some(json!(TCX))), allowed: TRAINING_WRITERS },
        Row { name: "`myData`", call: gql("{ myData }", json!({})), allowed: ATHLETE },
        // Last: it erases the fixture athlete's data.
        Row { name: "`eraseMyData`", call: gql("mutation { eraseMyData { name } }", json!({})), allowed: ATHLETE },
    ]
}

const DENIED: [&str; 2] = ["UNAUTHENTICATED", "FORBIDDEN"];

/// Whether the server let `token` through: an answer, or an error that is not about access
/// (a conflict or a missing id means the caller was authorised and the data said no).
async fn allowed(f: &Fixture, token: Option<&str>, call: &Call) -> Result<bool, String> {
    match call {
        Call::Graphql(query, variables) => {
            let (status, body) = f.app.graphql_as(token, query, variables.clone()).await;
            let codes: Vec<&str> = body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect();
            if status != StatusCode::OK
                || codes.iter().any(|c| {
                    !DENIED.contains(c)
                        && *c != "CONFLICT"
                        && *c != "NOT_FOUND"
                        && *c != "BAD_USER_INPUT"
                })
            {
                return Err(format!("{status} {body}"));
            }
            Ok(!codes.iter().any(|c| DENIED.contains(c)))
        }
        Call::Subscription(query, variables) => {
            let principal = match token {
                None => Principal::anonymous(),
                Some(t) => f
                    .app
                    .state
                    .auth
                    .principal(Some(&format!("Bearer {t}")))
                    .await
                    .map_err(|e| e.to_string())?,
            };
            let schema = podium_api::transport::graphql::build_schema(Some(f.app.state.clone()));
            let request = async_graphql::Request::new(query.as_str())
                .variables(async_graphql::Variables::from_json(variables.clone()))
                .data(principal);
            let mut stream = schema.execute_stream(request);
            let first = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .map_err(|_| "no first message".to_owned())?
                .ok_or("stream ended")?;
            let codes: Vec<String> = first
                .errors
                .iter()
                .filter_map(|e| e.extensions.as_ref()?.get("code").map(|v| v.to_string()))
                .collect();
            Ok(!codes.iter().any(|c| DENIED.iter().any(|d| c.contains(d))))
        }
        Call::Rest(method, path, body) => {
            let mut request = Request::builder()
                .method(*method)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            // A JSON string is sent as it is (a file), anything else as JSON.
            let body = body.as_ref().map_or(Body::empty(), |b| match b {
                Value::String(raw) => Body::from(raw.clone()),
                json => Body::from(json.to_string()),
            });
            let (status, _, _) = f.app.request(request.body(body).unwrap()).await;
            match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(false),
                s if s.is_success() || s == StatusCode::CONFLICT => Ok(true),
                s => Err(format!("unexpected {s}")),
            }
        }
    }
}

fn render(rows: &[(&str, Vec<bool>)]) -> String {
    let mut out = format!("| operation | {} |\n|---|", CALLERS.join(" | "));
    out.push_str(&"---|".repeat(CALLERS.len()));
    out.push('\n');
    for (name, cells) in rows {
        let cells: Vec<&str> = cells.iter().map(|a| if *a { "✓" } else { "—" }).collect();
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    out
}

const BEGIN: &str = "<!-- authorization table: generated by api/tests/api/authorization.rs -->\n";
const END: &str = "<!-- end of authorization table -->";

#[tokio::test]
async fn every_operation_allows_exactly_the_roles_and_scopes_of_the_model() {
    let f = fixture().await;
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for row in rows(&f) {
        let mut cells = Vec::new();
        for (i, token) in f.tokens.iter().enumerate() {
            let got = allowed(&f, token.as_deref(), &row.call)
                .await
                .unwrap_or_else(|e| panic!("{} as {}: {e}", row.name, CALLERS[i]));
            if got != row.allowed[i] {
                wrong.push(format!("{} as {}: allowed = {got}", row.name, CALLERS[i]));
            }
            cells.push(got);
        }
        seen.push((row.name, cells));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let table = render(&seen);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md");
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    let (before, rest) = doc.split_once(BEGIN).unwrap_or((&doc, ""));
    let after = rest.split_once(END).map_or("", |(_, a)| a);
    let expected = format!("{before}{BEGIN}{table}{END}{after}");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &expected).unwrap();
    } else {
        assert!(
            doc == expected,
            "docs/security.md's authorization table is out of date; rerun with UPDATE_DOCS=1:\n{table}"
        );
    }
}

/// Row-level rules the table cannot show: private athletes are anonymised in every public
/// view and their profile is hidden, while the athlete still sees themself.
#[tokio::test]
async fn a_private_athlete_does_not_leak_through_public_views() {
    let f = fixture().await;
    let (app, ea) = (&f.app, &f.event_a);
    // Bib 2's athlete is private (the fixture's `setAthletePrivacy`).
    let (_, board) = app
        .graphql_as(
            None,
            "query($e: ID!) { leaderboard(eventId: $e) { edges { node { bib athlete { id name private } } } } }",
            json!({ "e": ea }),
        )
        .await;
    let text = board.to_string();
    assert!(!text.contains(&f.private_athlete.to_string()), "{text}");
    let node = board["data"]["leaderboard"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["bib"] == "2")
        .unwrap()["node"]
        .clone();
    assert_eq!(
        node["athlete"],
        json!({ "id": null, "name": "Private athlete", "private": true })
    );
    let (_, result) = app
        .graphql_as(
            None,
            r#"query($e: ID!) { result(eventId: $e, bib: "2") { athlete { id name } } }"#,
            json!({ "e": ea }),
        )
        .await;
    assert_eq!(
        result["data"]["result"]["athlete"]["name"],
        "Private athlete"
    );
    let (_, profile) = app
        .graphql_as(
            None,
            "query($a: ID!) { athlete(id: $a) { name } }",
            json!({ "a": f.private_athlete }),
        )
        .await;
    assert!(profile["data"]["athlete"].is_null(), "{profile}");
    let own = app
        .state
        .auth
        .mint_dev(
            dev_claims(Role::Athlete, None, vec![], Some(f.private_athlete)),
            chrono::Duration::hours(1),
        )
        .unwrap();
    let (_, mine) = app
        .graphql_as(
            Some(&own),
            "query($a: ID!) { athlete(id: $a) { name private birthYear } }",
            json!({ "a": f.private_athlete }),
        )
        .await;
    assert_eq!(mine["data"]["athlete"]["private"], true, "{mine}");
    assert_eq!(mine["data"]["athlete"]["birthYear"], 1991);
    let _ = (&f.venue_b, &f.event_b);
}

/// A live leaderboard follows a privacy change at once: the next frame anonymises the athlete.
#[tokio::test]
async fn a_live_leaderboard_anonymises_an_athlete_who_goes_private() {
    let f = fixture().await;
    let app = &f.app;
    let schema = podium_api::transport::graphql::build_schema(Some(app.state.clone()));
    let request = async_graphql::Request::new(
        "subscription($e: ID!) { leaderboardUpdates(eventId: $e) { kind entries { bib athlete { name } } } }",
    )
    .variables(async_graphql::Variables::from_json(json!({ "e": f.event_a })));
    let mut stream = schema.execute_stream(request);
    let snapshot = stream.next().await.unwrap().data.into_json().unwrap();
    let names: Vec<String> = snapshot["leaderboardUpdates"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["athlete"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"Athlete 1".to_owned()), "{names:?}");
    app.graphql_as(
        f.tokens[1].as_deref(),
        "mutation { setAthletePrivacy(private: true) { private } }",
        json!({}),
    )
    .await;
    let update = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .data
        .into_json()
        .unwrap();
    assert_eq!(update["leaderboardUpdates"]["kind"], "PRIVACY", "{update}");
    assert_eq!(
        update["leaderboardUpdates"]["entries"],
        json!([{ "bib": "1", "athlete": { "name": "Private athlete" } }])
    );
}

/// An athlete takes their data out, then erases it: results stay, anonymised everywhere (even
/// in views that may show names), and coaches lose access.
#[tokio::test]
async fn an_athlete_exports_then_erases_their_data() {
    let f = fixture().await;
    let (app, me) = (&f.app, f.tokens[1].as_deref());
    let (_, mine) = app.graphql_as(me, "{ myData }", json!({})).await;
    let data = &mine["data"]["myData"];
    assert_eq!(data["athlete"]["lastName"], "1", "{mine}");
    assert_eq!(data["athlete"]["birthYear"], 1990);
    assert_eq!(data["results"][0]["bib"], "1");
    assert_eq!(data["coachGrants"][0]["coachId"], "coach-1");

    let (_, erased) = app
        .graphql_as(
            me,
            "mutation { eraseMyData { name private birthYear } }",
            json!({}),
        )
        .await;
    assert_eq!(
        erased["data"]["eraseMyData"],
        json!({ "name": "Erased athlete", "private": true, "birthYear": null }),
        "{erased}"
    );
    let board = app
        .gql(
            "query($e: ID!) { leaderboard(eventId: $e) { edges { node { bib athlete { name } } } } }",
            json!({ "e": f.event_a }),
        )
        .await;
    let names: Vec<Value> = board["leaderboard"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["bib"] == "1")
        .map(|e| e["node"]["athlete"]["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("Erased athlete")],
        "even an admin sees no old name"
    );
    let (_, coach) = app
        .graphql_as(
            f.tokens[2].as_deref(),
            "query($a: ID!) { athleteAnalytics(athleteId: $a) { races } }",
            json!({ "a": f.athlete }),
        )
        .await;
    assert_eq!(coach["errors"][0]["extensions"]["code"], "FORBIDDEN");
}
