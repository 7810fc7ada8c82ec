//! Officiating through GraphQL: flags, corrections and their undo, the lifecycle, amendments,
//! lineage, and the errors officials get when a request is wrong.

use crate::helpers::{at, error_code, read, TestApp, STARTS_AT};
use podium_api::auth::Role;
use podium_api::cli::demo::detection_json;
use podium_domain::simulation::{simulate, SimConfig, SimRead};
use podium_domain::timing::Timestamp;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

const CORRECT: &str = "mutation($input: CorrectionInput!) {
    applyCorrection(input: $input) { id kind seq amendment author undoneBy }
}";

const RESULT: &str = "query($id: ID!, $bib: String!) {
    result(eventId: $id, bib: $bib) {
        status netTimeMs penaltyMs resultStatus provisional amended
        splits { segment merged durationMs }
        setAside { timingPoint at reason }
        flags { id kind status timingPoint at detail history { status by note } }
        lineage {
            splits { segment durationMs from { timingPoint source detectionId correctionId } to { timingPoint source detectionId correctionId } }
            netTime { grossMs penaltyMs netTimeMs penaltyCorrectionIds start { source } finish { source } }
            statusDecidedBy
            reads { detectionId timingPoint at usage ignoredBy }
            corrections { id kind reason author undoneBy amendment }
        }
    }
}";

struct Venue {
    event_id: String,
    operator: String,
}

async fn venue_event(app: &TestApp) -> Venue {
    let venue = app.create_venue("Olympiahalle").await;
    let event_id = app.create_event(Some(&venue)).await;
    let operator = app.token(Role::VenueOperator, vec![Uuid::parse_str(&venue).unwrap()]);
    Venue { event_id, operator }
}

async fn as_ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let (status, body) = app.graphql_as(Some(token), query, variables).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

async fn post(app: &TestApp, token: &str, event_id: &str, rows: &[Value]) -> Value {
    let (status, body) = app
        .post_detections(
            Some(token),
            event_id,
            "application/json",
            Value::Array(rows.to_vec()).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn result(app: &TestApp, token: &str, event_id: &str, bib: &str) -> Value {
    as_ok(app, token, RESULT, json!({ "id": event_id, "bib": bib })).await["result"].clone()
}

fn correction(event_id: &str, bib: &str, kind: &str, extra: Value) -> Value {
    let mut input =
        json!({ "eventId": event_id, "bib": bib, "kind": kind, "reason": "chief timer review" });
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({ "input": input })
}

/// A simulated race with injected impossible reads and missed mats, corrected by an operator,
/// finalised, then amended by an admin; every step visible in results, flags and lineage.
#[tokio::test]
async fn a_race_is_flagged_corrected_finalised_and_amended() {
    let app = TestApp::spawn().await;
    let Venue { event_id, operator } = venue_event(&app).await;
    let config = SimConfig {
        seed: 11,
        entries: 40,
        starts_at: Timestamp::parse(STARTS_AT).unwrap(),
        miss_rate: 0.04,
        dropout_rate: 0.0,
        ..SimConfig::default()
    };
    let race = simulate(&config);
    let entries: Vec<Value> = race
        .entries
        .iter()
        .map(|e| json!({ "bib": e.bib, "firstName": e.first_name, "lastName": e.last_name, "gender": e.gender.as_str(), "category": e.category.as_str(), "birthYear": e.birth_year, "waveStart": e.wave_start.to_string() }))
        .collect();
    as_ok(
        &app,
        &operator,
        "mutation($id: ID!, $e: [EntryInput!]!) { addEntries(eventId: $id, entries: $e) { id } }",
        json!({ "id": event_id, "e": entries }),
    )
    .await;

    // Per bib, the earliest read at each point (what the engine will use).
    let mut earliest: HashMap<&str, HashMap<&str, Timestamp>> = HashMap::new();
    for r in &race.reads {
        let slot = earliest
            .entry(r.bib.as_str())
            .or_default()
            .entry(r.point.as_str())
            .or_insert(r.at);
        *slot = (*slot).min(r.at);
    }
    let complete = |bib: &str| earliest[bib].len() == 25;
    let bibs: Vec<&str> = race.entries.iter().map(|e| e.bib.as_str()).collect();
    let clean: Vec<&str> = bibs.iter().copied().filter(|b| complete(b)).collect();
    let missed = *bibs
        .iter()
        .find(|b| {
            let mine = &earliest[**b];
            mine.len() < 25 && mine.contains_key("START") && mine.contains_key("FINISH")
        })
        .expect("a bib with a missed mat");
    let missing_point = race
        .course
        .points()
        .iter()
        .map(|p| p.as_str())
        .find(|p| !earliest[missed].contains_key(p))
        .unwrap()
        .to_owned();
    let missing_at = race.truth[bibs.iter().position(|b| *b == missed).unwrap()]
        [race.course.index_of(&missing_point).unwrap()];
    let (bogus_a, bogus_b, penalised, disqualified, amended) =
        (clean[0], clean[1], clean[2], clean[3], clean[4]);

    // Impossible reads: 100 m of sandbag lunges in 11 s, a 1,000 m row in 42 s.
    let bogus = [
        (
            bogus_a,
            "SANDBAG_LUNGES_OUT",
            earliest[bogus_a]["SANDBAG_LUNGES_IN"].0 + 11_000,
        ),
        (bogus_b, "ROW_OUT", earliest[bogus_b]["ROW_IN"].0 + 42_000),
    ];
    let mut reads: Vec<Value> = race.reads.iter().map(detection_json).collect();
    for (bib, point, ms) in bogus {
        reads.push(
            json!({ "bib": bib, "timingPoint": point, "timestamp": Timestamp(ms).to_string() }),
        );
    }
    // The SKIERG_IN device is offline: its reads arrive after the event went provisional.
    let (offline, online): (Vec<Value>, Vec<Value>) = reads
        .into_iter()
        .partition(|r| r["timingPoint"] == "SKIERG_IN");
    for chunk in online.chunks(400) {
        post(&app, &operator, &event_id, chunk).await;
    }

    // Flags: each impossible read is flagged, not used, and the result merges around it.
    let open = as_ok(
        &app,
        &operator,
        "query($id: ID!) { flags(eventId: $id, status: OPEN, kind: SEGMENT_TOO_FAST) { bib timingPoint detail } }",
        json!({ "id": event_id }),
    )
    .await["flags"]
        .as_array()
        .unwrap()
        .clone();
    let flagged: HashSet<&str> = open.iter().map(|f| f["bib"].as_str().unwrap()).collect();
    assert_eq!(flagged, HashSet::from([bogus_a, bogus_b]), "{open:?}");
    for (bib, point, ms) in bogus {
        let r = result(&app, &operator, &event_id, bib).await;
        assert_eq!(r["status"], "FINISHED");
        let aside = r["setAside"].as_array().unwrap();
        assert_eq!(aside.len(), 1, "{r}");
        assert_eq!(aside[0]["reason"], "TOO_FAST");
        assert!(r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "SEGMENT_TOO_FAST"));
        // The operator ignores the bogus read; the flag resolves and the result is clean.
        as_ok(
            &app,
            &operator,
            CORRECT,
            correction(
                &event_id,
                bib,
                "IGNORE_READ",
                json!({ "timingPoint": point, "at": Timestamp(ms).to_string() }),
            ),
        )
        .await;
        let r = result(&app, &operator, &event_id, bib).await;
        assert!(r["setAside"].as_array().unwrap().is_empty(), "{r}");
        assert!(r["flags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] == "RESOLVED"));
        let ignored: Vec<&Value> = r["lineage"]["reads"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["usage"] == "IGNORED")
            .collect();
        assert_eq!(ignored.len(), 1);
        assert_eq!(ignored[0]["timingPoint"], point);
        assert!(ignored[0]["ignoredBy"].is_string());
    }

    // A missed mat merges two splits; a manual read splits them again.
    let before = result(&app, &operator, &event_id, missed).await;
    assert!(before["splits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["merged"] == true));
    as_ok(
        &app,
        &operator,
        CORRECT,
        correction(
            &event_id,
            missed,
            "MANUAL_READ",
            json!({ "timingPoint": missing_point, "at": missing_at.to_string() }),
        ),
    )
    .await;
    let after = result(&app, &operator, &event_id, missed).await;
    let merged_after = after["splits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["merged"] == true)
        .count();
    let merged_before = before["splits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["merged"] == true)
        .count();
    assert!(merged_after < merged_before || missing_point == "SKIERG_IN");
    assert!(after["lineage"]["splits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["to"]["source"] == "MANUAL_READ" || s["from"]["source"] == "MANUAL_READ"));

    // A penalty and a disqualification.
    let net = result(&app, &operator, &event_id, penalised).await["netTimeMs"]
        .as_i64()
        .unwrap();
    let penalty = as_ok(
        &app,
        &operator,
        CORRECT,
        correction(
            &event_id,
            penalised,
            "TIME_PENALTY",
            json!({ "penaltyMs": 60_000 }),
        ),
    )
    .await["applyCorrection"]["id"]
        .clone();
    as_ok(
        &app,
        &operator,
        CORRECT,
        correction(&event_id, disqualified, "DSQ", json!({})),
    )
    .await;
    let r = result(&app, &operator, &event_id, penalised).await;
    assert_eq!(r["netTimeMs"], net + 60_000);
    let lineage = &r["lineage"];
    assert_eq!(lineage["netTime"]["grossMs"], net);
    assert_eq!(lineage["netTime"]["penaltyMs"], 60_000);
    assert_eq!(lineage["netTime"]["netTimeMs"], net + 60_000);
    assert_eq!(lineage["netTime"]["penaltyCorrectionIds"], json!([penalty]));
    // Lineage is complete: every split names the sources of both ends, and every stored
    // read of the bib is accounted for.
    for s in lineage["splits"].as_array().unwrap() {
        for end in ["from", "to"] {
            assert!(s[end]["detectionId"].is_string() || s[end]["source"] != "DETECTION");
        }
    }
    let stored: HashSet<(String, String)> = race
        .reads
        .iter()
        .filter(|x| x.bib == penalised && x.point != "SKIERG_IN")
        .map(|x: &SimRead| (x.point.clone(), x.at.to_string()))
        .collect();
    assert_eq!(lineage["reads"].as_array().unwrap().len(), stored.len());
    let dsq = result(&app, &operator, &event_id, disqualified).await;
    assert_eq!(dsq["status"], "DSQ");
    assert!(dsq["lineage"]["statusDecidedBy"].is_string());

    // Provisional: late uploads from the offline device are accepted.
    let provisional = as_ok(
        &app,
        &operator,
        "mutation($id: ID!) { setEventStatus(eventId: $id, status: PROVISIONAL) { status } }",
        json!({ "id": event_id }),
    )
    .await;
    assert_eq!(provisional["setEventStatus"]["status"], "PROVISIONAL");
    let late = post(&app, &operator, &event_id, &offline).await;
    assert!(late["accepted"].as_u64().unwrap() > 0, "{late}");
    assert_eq!(
        result(&app, &operator, &event_id, penalised).await["netTimeMs"],
        net + 60_000
    );

    // Official: operators can no longer change results; an admin amends, visibly.
    as_ok(
        &app,
        &operator,
        "mutation($id: ID!) { setEventStatus(eventId: $id, status: OFFICIAL) { status } }",
        json!({ "id": event_id }),
    )
    .await;
    let (_, refused) = app
        .graphql_as(
            Some(&operator),
            CORRECT,
            correction(
                &event_id,
                amended,
                "TIME_PENALTY",
                json!({ "penaltyMs": 1_000 }),
            ),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let (status, body) = app
        .post_detections(
            Some(&operator),
            &event_id,
            "application/json",
            b"[]".to_vec(),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let before = result(&app, &operator, &event_id, amended).await;
    assert_eq!(before["resultStatus"], "OFFICIAL");
    assert_eq!(before["amended"], false);
    let amendment = app
        .gql(
            CORRECT,
            correction(
                &event_id,
                amended,
                "TIME_PENALTY",
                json!({ "penaltyMs": 5_000 }),
            ),
        )
        .await;
    assert_eq!(amendment["applyCorrection"]["amendment"], true);
    let after = result(&app, &operator, &event_id, amended).await;
    assert_eq!(after["amended"], true);
    assert_eq!(
        after["netTimeMs"].as_i64().unwrap(),
        before["netTimeMs"].as_i64().unwrap() + 5_000
    );

    let topics: Vec<String> = app
        .state
        .repo
        .pending_outbox(Uuid::parse_str(&event_id).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.topic)
        .collect();
    // Every finisher raced for the first time: one personal best each.
    let board = app
        .gql(
            "query($id: ID!) { leaderboard(eventId: $id, first: 500) { edges { node { status } } } }",
            json!({ "id": event_id }),
        )
        .await;
    let finishers = board["leaderboard"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["status"] == "FINISHED")
        .count();
    let bests = topics
        .iter()
        .filter(|t| *t == "athlete.personal_best")
        .count();
    assert_eq!(bests, finishers);
    let lifecycle: Vec<&String> = topics
        .iter()
        .filter(|t| *t != "athlete.personal_best")
        .collect();
    assert_eq!(
        lifecycle,
        [
            "event.live",
            "event.provisional",
            "event.official",
            "event.analytics_ready",
            "result.amended"
        ]
    );

    // The audit trail: authors for managers, not for the public.
    let trail = "query($id: ID!) { corrections(eventId: $id) { kind author amendment } }";
    let public = app
        .graphql_as(None, trail, json!({ "id": event_id }))
        .await
        .1;
    let list = public["data"]["corrections"].as_array().unwrap();
    assert_eq!(list.len(), 6);
    assert!(list.iter().all(|c| c["author"].is_null()));
    let managed = as_ok(&app, &operator, trail, json!({ "id": event_id })).await;
    assert!(managed["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["author"].is_string()));
}

#[tokio::test]
async fn undo_reverts_a_correction_and_flags_can_be_dismissed() {
    let app = TestApp::spawn().await;
    let Venue { event_id, operator } = venue_event(&app).await;
    app.add_entries(&event_id, &[("9", "OPEN", "MEN", 1990)])
        .await;
    // A whole race without a START read: MISSING_START.
    let reads: Vec<Value> = podium_domain::course::Course::hyrox_standard().points()[1..]
        .iter()
        .enumerate()
        .map(|(i, p)| read("9", p.as_str(), 300 + i as i64 * 300))
        .collect();
    post(&app, &operator, &event_id, &reads).await;

    let dnf = as_ok(
        &app,
        &operator,
        CORRECT,
        correction(&event_id, "9", "DNF", json!({})),
    )
    .await["applyCorrection"]["id"]
        .clone();
    assert_eq!(
        result(&app, &operator, &event_id, "9").await["status"],
        "DNF"
    );
    let undo = as_ok(
        &app,
        &operator,
        CORRECT,
        correction(&event_id, "9", "UNDO", json!({ "targetId": dnf })),
    )
    .await;
    assert_eq!(undo["applyCorrection"]["kind"], "UNDO");
    let r = result(&app, &operator, &event_id, "9").await;
    assert_eq!(r["status"], "FINISHED");
    let trail = r["lineage"]["corrections"].as_array().unwrap();
    assert_eq!(trail[0]["undoneBy"], undo["applyCorrection"]["id"]);

    let flag = &r["flags"][0];
    assert_eq!(flag["kind"], "MISSING_START");
    let review = "mutation($e: ID!, $f: ID!, $a: FlagAction!) {
        reviewFlag(eventId: $e, flagId: $f, action: $a, reason: \"wave start confirmed\") { status history { status by note } }
    }";
    let vars = json!({ "e": event_id, "f": flag["id"], "a": "DISMISS" });
    let (_, anonymous) = app.graphql_as(None, review, vars.clone()).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let dismissed = as_ok(&app, &operator, review, vars.clone()).await;
    assert_eq!(dismissed["reviewFlag"]["status"], "DISMISSED");
    assert_eq!(
        dismissed["reviewFlag"]["history"][1]["note"],
        "wave start confirmed"
    );
    let (_, again) = app.graphql_as(Some(&operator), review, vars).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "{again}");
    let open = as_ok(
        &app,
        &operator,
        "query($id: ID!) { flags(eventId: $id, status: OPEN) { id } }",
        json!({ "id": event_id }),
    )
    .await;
    assert_eq!(open["flags"], json!([]));
}

#[tokio::test]
async fn bad_corrections_and_transitions_get_clear_errors() {
    let app = TestApp::spawn().await;
    let Venue { event_id, operator } = venue_event(&app).await;
    app.add_entries(&event_id, &[("1", "OPEN", "WOMEN", 1990)])
        .await;
    let other_venue = app.token(Role::VenueOperator, vec![Uuid::now_v7()]);

    let cases = [
        (
            Some(operator.as_str()),
            correction(&event_id, "1", "TIME_PENALTY", json!({})),
            "BAD_USER_INPUT",
            "penaltyMs",
        ),
        (
            Some(operator.as_str()),
            correction(&event_id, "1", "TIME_PENALTY", json!({ "penaltyMs": -5 })),
            "BAD_USER_INPUT",
            "penaltyMs",
        ),
        (
            Some(operator.as_str()),
            correction(&event_id, "1", "DSQ", json!({ "penaltyMs": 5 })),
            "BAD_USER_INPUT",
            "does not apply",
        ),
        (
            Some(operator.as_str()),
            correction(&event_id, "1", "DSQ", json!({ "reason": "  " })),
            "BAD_USER_INPUT",
            "reason",
        ),
        (
            Some(operator.as_str()),
            correction(
                &event_id,
                "1",
                "MANUAL_READ",
                json!({ "timingPoint": "RUN9", "at": at(60) }),
            ),
            "BAD_USER_INPUT",
            "RUN9",
        ),
        (
            Some(operator.as_str()),
            correction(
                &event_id,
                "1",
                "MANUAL_READ",
                json!({ "timingPoint": "RUN1", "at": "2020-01-01T00:00:00Z" }),
            ),
            "BAD_USER_INPUT",
            "out of range",
        ),
        (
            Some(operator.as_str()),
            correction(
                &event_id,
                "1",
                "IGNORE_READ",
                json!({ "timingPoint": "RUN1", "at": at(60) }),
            ),
            "BAD_USER_INPUT",
            "no read",
        ),
        (
            Some(operator.as_str()),
            correction(
                &event_id,
                "1",
                "UNDO",
                json!({ "targetId": Uuid::now_v7().to_string() }),
            ),
            "BAD_USER_INPUT",
            "no correction",
        ),
        (
            Some(operator.as_str()),
            correction(&event_id, "404", "DNS", json!({})),
            "NOT_FOUND",
            "404",
        ),
        (
            Some(other_venue.as_str()),
            correction(&event_id, "1", "DNS", json!({})),
            "FORBIDDEN",
            "",
        ),
        (
            None,
            correction(&event_id, "1", "DNS", json!({})),
            "UNAUTHENTICATED",
            "",
        ),
    ];
    for (token, vars, code, needle) in cases {
        let (_, body) = app.graphql_as(token, CORRECT, vars.clone()).await;
        assert_eq!(error_code(&body), code, "{vars} -> {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message}");
    }

    let transition = "mutation($id: ID!, $s: EventStatus!) { setEventStatus(eventId: $id, status: $s) { status } }";
    let (_, body) = app
        .graphql_as(
            Some(&operator),
            transition,
            json!({ "id": event_id, "s": "OFFICIAL" }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("SCHEDULED cannot become OFFICIAL"));

    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
            json!({ "input": { "name": "X", "startsAt": STARTS_AT, "timezone": "UTC", "course": "HYROX_STANDARD", "segmentLimits": [{ "segment": "SWIM", "minMs": 1 }] } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("SWIM"));
}

#[tokio::test]
async fn events_publish_their_segment_limits() {
    let app = TestApp::spawn().await;
    let data = app
        .gql(
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { course { segments { code minMs maxMs } } } }",
            json!({ "input": { "name": "X", "startsAt": STARTS_AT, "timezone": "UTC", "course": "HYROX_STANDARD", "segmentLimits": [{ "segment": "ROW", "minMs": 170000 }] } }),
        )
        .await;
    let segments = data["createEvent"]["course"]["segments"]
        .as_array()
        .unwrap();
    let row = segments.iter().find(|s| s["code"] == "ROW").unwrap();
    assert_eq!(row["minMs"], 170_000);
    assert!(row["maxMs"].is_null());
    let run = segments.iter().find(|s| s["code"] == "RUN_1").unwrap();
    assert_eq!(run["minMs"], 120_000);
    assert_eq!(run["maxMs"], 2_700_000);
}
