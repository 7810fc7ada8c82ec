//! Hostile input: text with control characters, on every string input of the schema and on
//! ingest, on SQLite and PostgreSQL (where NUL cannot be stored and used to lose data).

use crate::helpers::{read, TestApp};
use serde_json::{json, Value};

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// A type reference from introspection, as GraphQL type syntax (`[EntryInput!]!`).
fn type_syntax(t: &Value) -> String {
    match t["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_syntax(&t["ofType"])),
        "LIST" => format!("[{}]", type_syntax(&t["ofType"])),
        _ => t["name"].as_str().unwrap().to_owned(),
    }
}

fn named(t: &Value) -> (&str, bool) {
    match t["kind"].as_str().unwrap() {
        "NON_NULL" => named(&t["ofType"]),
        "LIST" => (named(&t["ofType"]).0, true),
        _ => (t["name"].as_str().unwrap(), false),
    }
}

/// Every way to put a string into `t`: the value with `bad` in one string position, and the
/// path the error must name.
fn poisoned(t: &Value, inputs: &Value, bad: &str, path: &str) -> Vec<(Value, String)> {
    let (name, list) = named(t);
    let wrap = |v: Value| if list { json!([v]) } else { v };
    let at = |p: String| {
        if list {
            format!("{path}[0]{p}")
        } else {
            format!("{path}{p}")
        }
    };
    if matches!(name, "String" | "ID") {
        return vec![(wrap(json!(bad)), at(String::new()))];
    }
    let Some(input) = inputs
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for field in input["inputFields"].as_array().unwrap() {
        let field_name = field["name"].as_str().unwrap();
        for (value, p) in poisoned(&field["type"], inputs, bad, "") {
            out.push((
                wrap(json!({ field_name: value })),
                at(format!(".{field_name}{p}")),
            ));
        }
    }
    out
}

#[tokio::test]
async fn every_string_input_refuses_control_characters_naming_the_field() {
    let app = TestApp::spawn().await;
    let type_ref = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";
    let schema = app
        .gql(
            &format!(
                "{{ __schema {{
                    queryType {{ fields {{ name args {{ name type {{ {type_ref} }} }} }} }}
                    mutationType {{ fields {{ name args {{ name type {{ {type_ref} }} }} }} }}
                    types {{ name kind inputFields {{ name type {{ {type_ref} }} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let inputs: Value = schema["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "INPUT_OBJECT")
        .cloned()
        .collect();
    let mut checked = 0;
    for (operation, root) in [("query", "queryType"), ("mutation", "mutationType")] {
        for field in schema["__schema"][root]["fields"].as_array().unwrap() {
            let name = field["name"].as_str().unwrap();
            for arg in field["args"].as_array().unwrap() {
                let arg_name = arg["name"].as_str().unwrap();
                let syntax = type_syntax(&arg["type"]);
                for bad in ["a\u{0}b", "a\u{1b}[31mb"] {
                    for (value, path) in poisoned(&arg["type"], &inputs, bad, "$v") {
                        let query =
                            format!("{operation}($v: {syntax}) {{ {name}({arg_name}: $v) }}");
                        let (_, body) = app
                            .graphql_as(Some(&app.admin), &query, json!({ "v": value }))
                            .await;
                        assert_eq!(code(&body), "BAD_USER_INPUT", "{query} {value}: {body}");
                        let message = body["errors"][0]["message"].as_str().unwrap();
                        assert!(
                            message.starts_with(&format!("{path}:")),
                            "{path}: {message}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 60, "{checked} string inputs checked");
    // Literal arguments too.
    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            "mutation { createVenue(name: \"Hall\\u0000A\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("createVenue(name):"));
}

#[tokio::test]
async fn names_take_no_control_character_and_reasons_keep_line_breaks() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    let add = |last: &str| json!({ "id": event, "entries": [{ "bib": "1", "firstName": "Ana", "lastName": last, "gender": "WOMEN", "category": "OPEN", "waveStart": crate::helpers::STARTS_AT }] });
    let mutation = "mutation($id: ID!, $entries: [EntryInput!]!) { addEntries(eventId: $id, entries: $entries) { bib } }";
    let (_, body) = app
        .graphql_as(Some(&app.admin), mutation, add("Lind\tX"))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("lastName"),
        "{body}"
    );
    let (_, body) = app
        .graphql_as(Some(&app.admin), mutation, add("Lind"))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    app.ingest_json(&event, json!([read("1", "START", 5)]))
        .await;
    let (_, body) = app
        .graphql_as(
            Some(&app.admin),
            "mutation($id: ID!) { applyCorrection(input: {eventId: $id, bib: \"1\", kind: TIME_PENALTY, penaltyMs: 1000, reason: \"line one\\nline two\"}) { id } }",
            json!({ "id": event }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn an_ingest_row_with_a_control_character_is_rejected_and_the_good_rows_stay() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1990)],
    )
    .await;
    let mut bad_read = read("1", "START", 5);
    bad_read["readId"] = json!("r\u{0}1");
    let mut bad_device = read("2", "START", 6);
    bad_device["deviceId"] = json!("mat\u{0}");
    let good = read("2", "RUN1", 300);
    let report = app
        .ingest_json(&event, json!([bad_read, good, bad_device]))
        .await;
    assert_eq!(report["accepted"], 1, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{report}");
    assert_eq!(rejected[0]["index"], 0);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("readId:"),
        "{report}"
    );
    assert_eq!(rejected[1]["index"], 2);
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("deviceId:"),
        "{report}"
    );
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    let app = TestApp::spawn().await;
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .header(header::AUTHORIZATION, "Bearer garbage")
        .body(Body::from(
            json!({ "query": "{ apiClients { id } }" }).to_string(),
        ))
        .unwrap();
    let (status, headers, body) = app.request(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "INVALID_REQUEST", "{body}");
}

/// A real server for the connection-level checks, with short timeouts.
async fn real_server(
    configure: impl FnOnce(&mut podium_api::config::Settings),
) -> (TestApp, std::net::SocketAddr) {
    let app = TestApp::spawn_with(|s| {
        s.bind = "127.0.0.1:0".parse().unwrap();
        s.http_header_timeout_ms = 500;
        s.http_body_timeout_ms = 500;
        configure(s);
    })
    .await;
    let server = podium_api::Application::build(app.state.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    (app, addr)
}

/// Everything the server sends until it closes the connection (or 5 s pass).
async fn read_to_close(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut out),
    )
    .await
    .expect("the server closes the connection within 5 s");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_one_address_cannot_hold_every_connection() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let (_app, addr) = real_server(|s| {
        s.max_connections_per_address = 3;
        s.http_header_timeout_ms = 1_500;
        s.http_body_timeout_ms = 1_500;
    })
    .await;
    // Half a body, then nothing: 408 and the connection closed.
    let mut slow_body = TcpStream::connect(addr).await.unwrap();
    slow_body
        .write_all(b"POST /graphql HTTP/1.1\r\nhost: podium\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\":")
        .await
        .unwrap();
    // Half the headers, then nothing: the connection is closed.
    let mut slow_headers = TcpStream::connect(addr).await.unwrap();
    slow_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: podium\r\n")
        .await
        .unwrap();
    // Two are open: a third from the same address is served, a fourth refused.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: podium\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut third).await.starts_with("HTTP/1.1 200"));
    // (Its slot is given back when the server's side of it ends.)
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let held = TcpStream::connect(addr).await.unwrap();
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let refused = read_to_close(&mut fourth).await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");

    let answer = read_to_close(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    let answer = read_to_close(&mut slow_headers).await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Slots free up as connections close.
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(addr).await.unwrap();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: podium\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut again).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_http_1_1_request_without_host_is_refused() {
    use tokio::io::AsyncWriteExt;
    let (_app, addr) = real_server(|_| {}).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Host header"), "{answer}");
}
