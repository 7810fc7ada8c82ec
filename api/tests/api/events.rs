//! Creating events and registering entries, with their permissions.

use crate::helpers::{error_code, TestApp, STARTS_AT};
use axum::http::StatusCode;
use podium_api::auth::Role;
use serde_json::json;

const CREATE: &str = "mutation($input: CreateEventInput!) { createEvent(input: $input) { id status course { code timingPoints segments { code } } } }";

fn input(course: serde_json::Value) -> serde_json::Value {
    json!({ "input": { "name": "Berlin", "startsAt": STARTS_AT, "timezone": "Europe/Berlin", "course": course } })
}

#[tokio::test]
async fn writes_need_a_valid_token() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .graphql_as(None, CREATE, input(json!("HYROX_STANDARD")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let (status, _) = app
        .graphql_as(Some("not-a-token"), CREATE, input(json!("HYROX_STANDARD")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let athlete = app.token(Role::Athlete, vec![]);
    let (_, body) = app
        .graphql_as(Some(&athlete), CREATE, input(json!("HYROX_STANDARD")))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

#[tokio::test]
async fn events_use_the_standard_course_or_a_custom_point_list() {
    let app = TestApp::spawn().await;
    let data = app.gql(CREATE, input(json!("HYROX_STANDARD"))).await;
    assert_eq!(data["createEvent"]["status"], "SCHEDULED");
    assert_eq!(
        data["createEvent"]["course"]["timingPoints"]
            .as_array()
            .unwrap()
            .len(),
        25
    );
    assert_eq!(
        data["createEvent"]["course"]["segments"]
            .as_array()
            .unwrap()
            .len(),
        24
    );

    let data = app
        .gql(CREATE, input(json!(["START", "KM5", "FINISH"])))
        .await;
    assert_eq!(data["createEvent"]["course"]["code"], "CUSTOM");
    assert_eq!(
        data["createEvent"]["course"]["segments"][0]["code"],
        "START__KM5"
    );

    let (_, body) = app
        .graphql_as(Some(&app.admin), CREATE, input(json!(["KM5", "FINISH"])))
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("START"),
        "{body}"
    );
    let mut bad_tz = input(json!("HYROX_STANDARD"));
    bad_tz["input"]["timezone"] = json!("Mars/Olympus");
    let (_, body) = app.graphql_as(Some(&app.admin), CREATE, bad_tz).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Mars/Olympus"));

    let events = app.gql("{ events { id name } }", json!({})).await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn venue_operators_manage_only_their_own_venues() {
    let app = TestApp::spawn().await;
    let venue = app.create_venue("Messe").await;
    let other = app.create_venue("Arena").await;
    let operator = app.token(Role::VenueOperator, vec![venue.parse().unwrap()]);
    let mut mine = input(json!("HYROX_STANDARD"));
    mine["input"]["venueId"] = json!(venue);
    let (_, body) = app.graphql_as(Some(&operator), CREATE, mine).await;
    assert!(body.get("errors").is_none(), "{body}");
    let mut theirs = input(json!("HYROX_STANDARD"));
    theirs["input"]["venueId"] = json!(other);
    let (_, body) = app.graphql_as(Some(&operator), CREATE, theirs).await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    // Cross-venue ingest is refused too.
    let foreign_event = app.create_event(Some(&other)).await;
    let (status, body) = app
        .post_detections(
            Some(&operator),
            &foreign_event,
            "application/json",
            b"[]".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

const ADD: &str = "mutation($id: ID!, $entries: [EntryInput!]!) { addEntries(eventId: $id, entries: $entries) { bib ageGroup athlete { name } } }";

#[tokio::test]
async fn entries_get_their_age_group_from_the_birth_year() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    let data = app
        .gql(
            ADD,
            json!({ "id": event, "entries": [
                { "bib": "101", "firstName": "Ana", "lastName": "Lind", "gender": "WOMEN", "category": "OPEN", "birthYear": 1990, "waveStart": STARTS_AT },
                { "bib": "102", "firstName": "Ben", "lastName": "Ott", "gender": "MEN", "category": "PRO", "ageGroup": "45-49", "waveStart": STARTS_AT },
                { "bib": "103", "firstName": "Cy", "lastName": "Ng", "gender": "MEN", "category": "OPEN", "waveStart": STARTS_AT }
            ]}),
        )
        .await;
    let entries = data["addEntries"].as_array().unwrap();
    assert_eq!(entries[0]["ageGroup"], "35-39");
    assert_eq!(entries[0]["athlete"]["name"], "Ana Lind");
    assert_eq!(entries[1]["ageGroup"], "45-49");
    assert_eq!(entries[2]["ageGroup"], serde_json::Value::Null);
}

#[tokio::test]
async fn bad_or_duplicate_entries_are_refused_whole() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    app.add_entries(&event, &[("1", "OPEN", "MEN", 1990)]).await;
    let entry = |bib: &str, age: &str| json!({ "bib": bib, "firstName": "A", "lastName": "B", "gender": "MEN", "category": "OPEN", "ageGroup": age, "waveStart": STARTS_AT });

    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            ADD,
            json!({ "id": event, "entries": [entry("2", "30-34"), entry("1", "30-34")] }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("bib 1"));

    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            ADD,
            json!({ "id": event, "entries": [entry("3", "18-20")] }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("entries[0].ageGroup"),
        "{body}"
    );

    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            ADD,
            json!({ "id": event, "entries": [entry("bad bib", "30-34")] }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            ADD,
            json!({ "id": "nope", "entries": [] }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            ADD,
            json!({ "id": uuid::Uuid::new_v4().to_string(), "entries": [] }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");

    let lb = app
        .gql(
            "query($id: ID!) { leaderboard(eventId: $id) { totalCount } }",
            json!({ "id": event }),
        )
        .await;
    assert_eq!(
        lb["leaderboard"]["totalCount"], 1,
        "nothing of the refused batches was written"
    );
}
