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

/// One hostile request and what it must get.
struct Attack {
    what: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// `extensions.code` (GraphQL) or `error.code` (REST) the answer must carry.
    code: &'static str,
}

fn b64url(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The shape of the outside battery: hostile requests in one table, run in process; each row
/// must keep its refusal as the API grows (socket-level cases — slow clients, missing Host,
/// oversized WebSocket frames, floods — are real-socket tests above and in websocket.rs).
/// Every new mutation, endpoint and subscription gets its rows here.
#[tokio::test]
async fn the_hostile_request_battery_stays_refused() {
    use axum::body::Body;
    use axum::http::Request;
    let app = TestApp::spawn().await;
    let venue = app.create_venue("Hall A").await;
    let event = app.create_event(Some(&venue)).await;
    app.add_entries(&event, &[("1", "OPEN", "MEN", 1990)]).await;
    let other_venue_operator = app.token(
        podium_api::auth::Role::VenueOperator,
        vec![uuid::Uuid::new_v4()],
    );
    let athlete = app.token(podium_api::auth::Role::Athlete, vec![]);
    let bearer = |t: &str| ("authorization", format!("Bearer {t}"));
    let json_type = ("content-type", "application/json".to_owned());
    let gql = |query: &str, variables: Value| {
        json!({ "query": query, "variables": variables })
            .to_string()
            .into_bytes()
    };
    let forged_none = format!(
        "{}.{}.",
        b64url(&json!({ "alg": "none", "typ": "at+jwt" })),
        b64url(
            &json!({ "sub": "x", "role": "admin", "aud": "podium", "iss": "podium", "exp": 4_102_444_800u64 })
        )
    );
    let forged_hs256 = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64url(&json!({ "alg": "HS256", "typ": "at+jwt" })),
        b64url(
            &json!({ "sub": "x", "role": "admin", "aud": "podium", "iss": "podium", "exp": 4_102_444_800u64 })
        )
    );
    let ingest = format!("/v1/events/{event}/detections");
    let detections = |rows: Value| rows.to_string().into_bytes();
    let attacks = vec![
        Attack { what: "token with alg none", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone(), bearer(&forged_none)], body: gql("{ apiClients { id } }", json!({})), status: 401, code: "UNAUTHENTICATED" },
        Attack { what: "token with alg HS256", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone(), bearer(&forged_hs256)], body: gql("{ apiClients { id } }", json!({})), status: 401, code: "UNAUTHENTICATED" },
        Attack { what: "garbage token", method: "POST", path: ingest.clone(), headers: vec![json_type.clone(), bearer("garbage")], body: detections(json!([])), status: 401, code: "UNAUTHENTICATED" },
        Attack { what: "two Authorization headers", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone(), bearer(&app.admin), bearer("garbage")], body: gql("{ apiClients { id } }", json!({})), status: 400, code: "INVALID_REQUEST" },
        Attack { what: "ingest without a token", method: "POST", path: ingest.clone(), headers: vec![json_type.clone()], body: detections(json!([read("1", "START", 5)])), status: 401, code: "UNAUTHENTICATED" },
        Attack { what: "ingest at another venue", method: "POST", path: ingest.clone(), headers: vec![json_type.clone(), bearer(&other_venue_operator)], body: detections(json!([read("1", "START", 5)])), status: 403, code: "FORBIDDEN" },
        Attack { what: "ingest as an athlete", method: "POST", path: ingest.clone(), headers: vec![json_type.clone(), bearer(&athlete)], body: detections(json!([read("1", "START", 5)])), status: 403, code: "FORBIDDEN" },
        Attack { what: "ingest into an unknown event", method: "POST", path: format!("/v1/events/{}/detections", uuid::Uuid::new_v4()), headers: vec![json_type.clone(), bearer(&app.admin)], body: detections(json!([])), status: 404, code: "NOT_FOUND" },
        Attack { what: "ingest into a malformed event id", method: "POST", path: "/v1/events/not-a-uuid/detections".into(), headers: vec![json_type.clone(), bearer(&app.admin)], body: detections(json!([])), status: 400, code: "BAD_USER_INPUT" },
        Attack { what: "ingest body that is not JSON", method: "POST", path: ingest.clone(), headers: vec![json_type.clone(), bearer(&app.admin)], body: b"[{".to_vec(), status: 400, code: "BAD_USER_INPUT" },
        Attack { what: "ingest as a form", method: "POST", path: ingest.clone(), headers: vec![("content-type", "application/x-www-form-urlencoded".into()), bearer(&app.admin)], body: b"a=b".to_vec(), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
        Attack { what: "an 9 MB body", method: "POST", path: ingest.clone(), headers: vec![json_type.clone(), bearer(&app.admin)], body: vec![b' '; 9 * 1024 * 1024], status: 413, code: "PAYLOAD_TOO_LARGE" },
        Attack { what: "GraphQL as a form (CSRF)", method: "POST", path: "/graphql".into(), headers: vec![("content-type", "application/x-www-form-urlencoded".into())], body: b"query=%7B__typename%7D".to_vec(), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
        Attack { what: "batched operations", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone()], body: json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string().into_bytes(), status: 400, code: "BAD_USER_INPUT" },
        Attack { what: "a body without query", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone()], body: json!({ "qeury": "{ __typename }" }).to_string().into_bytes(), status: 400, code: "BAD_USER_INPUT" },
        Attack { what: "a mutation over GET", method: "GET", path: "/graphql?query=mutation%20%7B%20__typename%20%7D".into(), headers: vec![], body: vec![], status: 405, code: "METHOD_NOT_ALLOWED" },
        Attack { what: "alias overloading", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone()], body: gql(&format!("{{ {} }}", (0..16).map(|i| format!("a{i}: __typename ")).collect::<String>()), json!({})), status: 200, code: "QUERY_TOO_LARGE" },
        Attack { what: "circular introspection", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone()], body: gql("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }", json!({})), status: 200, code: "INTROSPECTION_TOO_DEEP" },
        Attack { what: "nested lists under a large page", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone()], body: gql("{ events(first: 500) { waves { id startsAt entryCount } course { timingPoints segments { code fromPoint toPoint minMs maxMs } } } }", json!({})), status: 200, code: "GRAPHQL_VALIDATION_FAILED" },
        Attack { what: "NUL in a venue name", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone(), bearer(&app.admin)], body: gql("mutation($n: String!) { createVenue(name: $n) { id } }", json!({ "n": "Hall\u{0}" })), status: 200, code: "BAD_USER_INPUT" },
        Attack { what: "an admin mutation as an athlete", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone(), bearer(&athlete)], body: gql("mutation { rotateSigningKey { kid } }", json!({})), status: 200, code: "FORBIDDEN" },
        Attack { what: "another venue's event closed by an operator", method: "POST", path: "/graphql".into(), headers: vec![json_type.clone(), bearer(&other_venue_operator)], body: gql("mutation($e: ID!) { setEventStatus(eventId: $e, status: CANCELLED) { id } }", json!({ "e": event })), status: 200, code: "FORBIDDEN" },
        Attack { what: "an unknown route", method: "GET", path: "/v1/../../etc/passwd".into(), headers: vec![], body: vec![], status: 404, code: "" },
        Attack { what: "system metrics anonymously", method: "GET", path: "/metrics".into(), headers: vec![], body: vec![], status: 401, code: "UNAUTHENTICATED" },
    ];
    for attack in attacks {
        let mut request = Request::builder().method(attack.method).uri(&attack.path);
        for (name, value) in &attack.headers {
            request = request.header(*name, value);
        }
        let (status, _, body) = app
            .request(request.body(Body::from(attack.body)).unwrap())
            .await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status.as_u16(), attack.status, "{}: {text}", attack.what);
        assert!(
            !text.contains("INTERNAL_SERVER_ERROR"),
            "{}: {text}",
            attack.what
        );
        if !attack.code.is_empty() {
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let code = answer["errors"][0]["extensions"]["code"]
                .as_str()
                .or_else(|| answer["error"]["code"].as_str())
                .unwrap_or("");
            assert_eq!(code, attack.code, "{}: {text}", attack.what);
        }
    }
}
