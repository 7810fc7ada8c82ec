//! `/graphql/ws` over a real socket: the graphql-transport-ws protocol rules, each close code,
//! and the legacy graphql-ws protocol.

use crate::helpers::{read, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("ws://{addr}/graphql/ws")
}

pub(crate) async fn connect(url: &str, protocol: &str) -> Socket {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(protocol).unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        HeaderValue::from_str(protocol).unwrap()
    );
    socket
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next text frame as JSON, or the close code.
pub(crate) async fn receive(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s");
        match frame {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(Some(c)))) => return Err(u16::from(c.code)),
            Some(Ok(Message::Close(None))) | None => return Err(u16::from(CloseCode::Normal)),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error: {e}"),
        }
    }
}

pub(crate) async fn init(socket: &mut Socket, payload: Value) {
    send(
        socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    assert_eq!(receive(socket).await.unwrap()["type"], "connection_ack");
}

fn subscribe(id: &str, event_id: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { entryUpdates(eventId: $id, bib: \"1\") { seq kind entry { lastTimingPoint } } }",
        "variables": { "id": event_id }
    } })
}

/// An event with bib 1 registered.
pub(crate) async fn race(app: &TestApp) -> String {
    let event_id = app.create_event(None).await;
    app.add_entries(&event_id, &[("1", "OPEN", "MEN", 1990)])
        .await;
    event_id
}

#[tokio::test]
async fn subscribe_receive_ping_and_complete() {
    let app = TestApp::spawn().await;
    let event_id = race(&app).await;
    let url = serve(&app).await;
    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(
        &mut ws,
        json!({ "authorization": format!("Bearer {}", app.admin) }),
    )
    .await;

    send(&mut ws, json!({ "type": "ping", "payload": { "t": 1 } })).await;
    assert_eq!(
        receive(&mut ws).await.unwrap(),
        json!({ "type": "pong", "payload": { "t": 1 } })
    );

    send(&mut ws, subscribe("a", &event_id)).await;
    let snapshot = receive(&mut ws).await.unwrap();
    assert_eq!(snapshot["type"], "next");
    assert_eq!(snapshot["id"], "a");
    assert_eq!(
        snapshot["payload"]["data"]["entryUpdates"]["kind"],
        "SNAPSHOT"
    );

    app.ingest_json(
        &event_id,
        json!([read("1", "START", 5), read("1", "RUN1", 300)]),
    )
    .await;
    let update = receive(&mut ws).await.unwrap();
    assert_eq!(
        update["payload"]["data"]["entryUpdates"]["entry"]["lastTimingPoint"],
        "RUN1"
    );

    // After `complete`, the id is free again and nothing more arrives for the old one.
    send(&mut ws, json!({ "id": "a", "type": "complete" })).await;
    send(&mut ws, subscribe("a", &event_id)).await;
    let again = receive(&mut ws).await.unwrap();
    assert_eq!(again["payload"]["data"]["entryUpdates"]["kind"], "SNAPSHOT");

    // Bad arguments end the operation with `error`, the connection stays.
    send(&mut ws, json!({ "id": "b", "type": "subscribe", "payload": { "query": "subscription { entryUpdates(eventId: \"x\", bib: \"1\") { seq } }" } })).await;
    let error = receive(&mut ws).await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "b");
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(receive(&mut ws).await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn every_protocol_violation_closes_with_its_code() {
    let app = TestApp::spawn_with(|s| s.ws_init_timeout_secs = 1).await;
    let event_id = race(&app).await;
    let url = serve(&app).await;

    let mut ws = connect(&url, "graphql-transport-ws").await;
    ws.send(Message::Text("not json".into())).await.unwrap();
    assert_eq!(receive(&mut ws).await, Err(4400));

    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    send(&mut ws, json!({ "type": "subscribe_please" })).await;
    assert_eq!(receive(&mut ws).await, Err(4400));

    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "payload": { "query": "subscription { x }" } }),
    )
    .await;
    assert_eq!(receive(&mut ws).await, Err(4400), "subscribe without id");

    let mut ws = connect(&url, "graphql-transport-ws").await;
    send(&mut ws, subscribe("a", &event_id)).await;
    assert_eq!(receive(&mut ws).await, Err(4401));

    let mut ws = connect(&url, "graphql-transport-ws").await;
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "authorization": "Bearer forged" } }),
    )
    .await;
    assert_eq!(receive(&mut ws).await, Err(4403));

    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    send(&mut ws, subscribe("a", &event_id)).await;
    assert_eq!(receive(&mut ws).await.unwrap()["type"], "next");
    send(&mut ws, subscribe("a", &event_id)).await;
    assert_eq!(receive(&mut ws).await, Err(4409));

    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut ws).await, Err(4429));

    let mut ws = connect(&url, "graphql-transport-ws").await;
    assert_eq!(receive(&mut ws).await, Err(4408));
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_still_works() {
    let app = TestApp::spawn().await;
    let event_id = race(&app).await;
    let url = serve(&app).await;
    let mut ws = connect(&url, "graphql-ws").await;
    init(&mut ws, json!({})).await;
    assert_eq!(receive(&mut ws).await.unwrap()["type"], "ka");
    let mut start = subscribe("1", &event_id);
    start["type"] = json!("start");
    send(&mut ws, start).await;
    let data = receive(&mut ws).await.unwrap();
    assert_eq!(data["type"], "data");
    assert_eq!(data["payload"]["data"]["entryUpdates"]["kind"], "SNAPSHOT");
    send(&mut ws, json!({ "id": "1", "type": "stop" })).await;
    send(&mut ws, json!({ "type": "connection_terminate" })).await;
    assert!(receive(&mut ws).await.is_err());
}

/// The official `graphql-ws` npm client (api/tests/js) gets a snapshot, then resumes with
/// `afterSeq` and gets exactly the update it missed: our server agreeing with our own client
/// is not enough.
#[tokio::test]
async fn the_official_graphql_ws_client_subscribes_and_resumes() {
    let app = TestApp::spawn().await;
    let event_id = race(&app).await;
    let before = app
        .ingest_json(&event_id, json!([read("1", "START", 5)]))
        .await["seq"]
        .as_i64()
        .unwrap();
    let report = app
        .ingest_json(&event_id, json!([read("1", "RUN1", 300)]))
        .await;
    let url = serve(&app).await;
    let stdout = crate::helpers::run_js(
        "graphql-ws-client.mjs",
        &[url, event_id, "1".into(), before.to_string()],
    )
    .await;
    let messages: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages[0]["kind"], "SNAPSHOT");
    assert_eq!(messages[0]["seq"], report["seq"]);
    assert_eq!(messages[0]["entry"]["lastTimingPoint"], "RUN1");
    assert_eq!(messages[1]["kind"], "DETECTIONS");
    assert_eq!(messages[1]["seq"], before + 1);
    assert_eq!(messages[1]["entry"]["lastTimingPoint"], "RUN1");
}

#[tokio::test]
async fn shutting_down_closes_live_connections_with_1001() {
    let app = TestApp::spawn_with(|s| s.bind = "127.0.0.1:0".parse().unwrap()).await;
    let event_id = race(&app).await;
    let server = podium_api::Application::build(app.state.clone())
        .await
        .unwrap();
    let url = format!("ws://{}/graphql/ws", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    send(&mut ws, subscribe("a", &event_id)).await;
    assert_eq!(receive(&mut ws).await.unwrap()["type"], "next");

    stop.send(()).unwrap();
    assert_eq!(receive(&mut ws).await, Err(1001));
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// A 10 MB frame is refused from its header with close 1009, before its payload is read: the
/// server never buffers more than `ws_max_message_bytes`.
#[tokio::test]
async fn an_oversized_frame_is_closed_with_1009() {
    let app = TestApp::spawn().await;
    let url = serve(&app).await;
    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    let big = format!(
        "{{\"type\":\"ping\",\"payload\":{{\"x\":\"{}\"}}}}",
        "x".repeat(10 * 1024 * 1024)
    );
    // The send may fail midway once the server has closed; what matters is the close code.
    let _ = ws.send(Message::Text(big.into())).await;
    assert_eq!(receive(&mut ws).await, Err(1009));
    // A message under the limit is served as usual on a new connection.
    let mut ws = connect(&url, "graphql-transport-ws").await;
    init(&mut ws, json!({})).await;
    let ping = json!({ "type": "ping", "payload": { "x": "x".repeat(60_000) } });
    send(&mut ws, ping).await;
    assert_eq!(receive(&mut ws).await.unwrap()["type"], "pong");
}

/// A client flooding subscribe messages without pause still reads the 4429 close frame. Like
/// most clients, this one gives up on a connection whose send fails (a reset): the server must
/// keep reading after its close frame instead of dropping the socket with the flood unread,
/// which resets it and shows as 1006 (abnormal closure).
#[tokio::test]
async fn a_subscription_flood_sees_the_4429_close() {
    let app = TestApp::spawn().await;
    let event_id = race(&app).await;
    let url = serve(&app).await;
    let ws = connect(&url, "graphql-transport-ws").await;
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::Text(
        json!({ "type": "connection_init", "payload": {} })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    for n in 0..300 {
        let message = subscribe(&format!("s{n}"), &event_id);
        let sent = sink.send(Message::Text(message.to_string().into())).await;
        assert!(
            sent.is_ok(),
            "message {n}: the connection was reset: {sent:?} (1006)"
        );
        // Spread over a little time, as a real client's loop is.
        if n % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return Ok(u16::from(frame.code)),
                Some(Ok(Message::Close(None))) | None => {
                    return Err("closed without a code".to_owned())
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("socket error: {e}")),
            }
        }
    })
    .await
    .expect("closed within 10 s");
    assert_eq!(closed, Ok(4429));
}

/// Subscriptions of one operation with the same variables and visibility execute each step
/// once between them; a viewer who may see more (an admin, a private athlete's name) is in a
/// group of their own, whoever subscribed first.
#[tokio::test]
async fn subscribers_of_one_operation_share_each_step_but_not_their_visibility() {
    let app = TestApp::spawn().await;
    let event_id = app.create_event(None).await;
    app.add_entries(&event_id, &[("1", "OPEN", "MEN", 1990)])
        .await;
    let listed = app
        .gql(
            "query($id: ID!) { leaderboard(eventId: $id) { edges { node { athlete { id } } } } }",
            json!({ "id": event_id }),
        )
        .await;
    let athlete: uuid::Uuid = listed["leaderboard"]["edges"][0]["node"]["athlete"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let own = app
        .state
        .auth
        .mint_dev(
            podium_api::auth::dev_claims(
                podium_api::auth::Role::Athlete,
                None,
                vec![],
                Some(athlete),
            ),
            chrono::Duration::hours(1),
        )
        .unwrap();
    app.graphql_as(
        Some(&own),
        "mutation { setAthletePrivacy(private: true) { private } }",
        json!({}),
    )
    .await;
    let url = serve(&app).await;
    let board = |id: &str| {
        json!({ "id": id, "type": "subscribe", "payload": {
            "query": "subscription($id: ID!) { leaderboardUpdates(eventId: $id) { seq kind entries { bib lastTimingPoint athlete { name } } } }",
            "variables": { "id": event_id }
        } })
    };
    // Three anonymous spectators first, then an admin.
    let mut sockets = Vec::new();
    for (n, token) in [None, None, None, Some(app.admin.clone())]
        .into_iter()
        .enumerate()
    {
        let mut ws = connect(&url, "graphql-transport-ws").await;
        let payload = match token {
            Some(t) => json!({ "authorization": format!("Bearer {t}") }),
            None => json!({}),
        };
        init(&mut ws, payload).await;
        send(&mut ws, board(&format!("s{n}"))).await;
        let snapshot = receive(&mut ws).await.unwrap();
        assert_eq!(
            snapshot["payload"]["data"]["leaderboardUpdates"]["kind"],
            "SNAPSHOT"
        );
        sockets.push(ws);
    }
    let metrics = &app.state.metrics;
    let count = |name: &str| metrics.sample(name).unwrap_or(0.0);
    let executed = count("podium_subscription_steps_executed_total");
    let sent = count("podium_subscription_frames_sent_total");
    app.ingest_json(
        &event_id,
        json!([read("1", "START", 5), read("1", "RUN1", 300)]),
    )
    .await;
    let mut names = Vec::new();
    for (n, ws) in sockets.iter_mut().enumerate() {
        let update = receive(ws).await.unwrap();
        assert_eq!(update["id"], format!("s{n}"));
        let entries = &update["payload"]["data"]["leaderboardUpdates"]["entries"];
        assert_eq!(entries[0]["lastTimingPoint"], "RUN1", "{update}");
        names.push(entries[0]["athlete"]["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        names,
        [
            "Private athlete",
            "Private athlete",
            "Private athlete",
            "Athlete 1"
        ]
    );
    assert_eq!(
        count("podium_subscription_steps_executed_total") - executed,
        2.0,
        "one execution for the spectators, one for the admin"
    );
    assert_eq!(count("podium_subscription_frames_sent_total") - sent, 4.0);
}
