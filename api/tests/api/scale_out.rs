//! Several podium instances behind one database: live updates ingested on one reach the
//! subscribers of another, through Redis when it is there and from the change log when it is
//! not, without a gap or a repeat.

use crate::helpers::{read, TestApp, STARTS_AT};
use crate::live::{next, subscribe};
use crate::websocket::{connect, init, receive, send, Socket};
use podium_api::auth::{dev_claims, Authenticator, Role};
use podium_api::cli::demo::DemoClient;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const LEADERBOARD: &str =
    "subscription($id: ID!) { leaderboardUpdates(eventId: $id) { seq kind entries { bib } } }";

/// Two instances on one database and no Redis: a change ingested on A reaches B's subscriber
/// through B's feed polling the change log.
#[tokio::test]
async fn without_redis_another_instance_s_change_arrives_by_polling_the_log() {
    let a = TestApp::spawn().await;
    let shared = a.state.settings.database_url.clone();
    let b = TestApp::spawn_with(|s| {
        s.database_url = shared;
        s.live_poll_ms = 50;
    })
    .await;
    let event_id = a.create_event(None).await;
    a.add_entries(&event_id, &[("1", "OPEN", "MEN", 1990)])
        .await;
    let mut stream = subscribe(&b, LEADERBOARD, json!({ "id": event_id }));
    let snapshot = next(&mut stream).await["leaderboardUpdates"].clone();
    assert_eq!(snapshot["kind"], "SNAPSHOT");
    let base = snapshot["seq"].as_i64().unwrap();
    for (i, point) in ["START", "RUN1", "SKIERG_IN"].iter().enumerate() {
        a.ingest_json(&event_id, json!([read("1", point, 5 + 300 * i as i64)]))
            .await;
    }
    for i in 1..=3 {
        let update = next(&mut stream).await["leaderboardUpdates"].clone();
        assert_eq!(update["seq"], base + i);
        assert_eq!(update["entries"][0]["bib"], "1");
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throwaway `redis-server` on `port`, killed when dropped.
pub(crate) fn start_redis(port: u16) -> Child {
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is needed for the scale-out tests")
}

/// A `podium serve` process, killed when dropped.
pub(crate) struct Instance {
    process: Child,
    pub(crate) base: String,
}

impl Instance {
    fn start(database_url: &str, redis_url: &str, data_dir: &Path) -> Self {
        Self::start_with(database_url, redis_url, data_dir, &[])
    }

    /// An instance with more environment variables.
    pub(crate) fn start_with(
        database_url: &str,
        redis_url: &str,
        data_dir: &Path,
        env: &[(&str, String)],
    ) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_podium"));
        command.arg("serve").env_clear();
        if !redis_url.is_empty() {
            command.env("PODIUM_REDIS_URL", redis_url);
        }
        let process = command
            .env("PODIUM_BIND", format!("127.0.0.1:{port}"))
            .env("PODIUM_DATABASE_URL", database_url)
            .env("PODIUM_DATA_DIR", data_dir)
            // Polling would deliver too, only later: make it too slow to matter here, so
            // only Redis (and the resync after it returns) can pass the test.
            .env("PODIUM_LIVE_POLL_MS", "600000")
            .env("PODIUM_LOG_LEVEL", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the podium binary");
        Self {
            process,
            base: format!("127.0.0.1:{port}"),
        }
    }

    async fn readyz(&self) -> Option<Value> {
        let response = reqwest::get(format!("http://{}/readyz", self.base))
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Asks the server to stop (SIGTERM) and waits (up to 30 s) until it has.
    pub(crate) async fn terminate(&mut self) {
        let pid = self.process.id().expect("the server runs");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.process.wait())
            .await
            .expect("the server stops within 30 s")
            .unwrap();
        assert!(exit.success(), "podium exited with {exit}");
    }

    /// Waits (up to 30 s) until `/readyz` says `status`.
    pub(crate) async fn wait_for(&mut self, status: &str) -> Value {
        for _ in 0..300 {
            if let Ok(Some(exit)) = self.process.try_wait() {
                panic!("podium exited with {exit}");
            }
            if let Some(ready) = self.readyz().await {
                if ready["status"] == status {
                    return ready;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} never became {status}: {:?}",
            self.base,
            self.readyz().await
        );
    }

    /// A client of this instance (the same one `podium demo` uses).
    pub(crate) fn client(&self, token: &str) -> DemoClient {
        DemoClient::new(&format!("http://{}", self.base), token.to_owned())
    }
}

/// An admin token the instances sharing `data_dir` accept (its development key).
pub(crate) fn admin_token(data_dir: &Path) -> String {
    let settings = podium_api::config::Settings {
        data_dir: data_dir.to_owned(),
        ..Default::default()
    };
    Authenticator::new(&settings)
        .unwrap()
        .mint_dev(
            dev_claims(Role::Admin, None, vec![], None),
            chrono::Duration::hours(1),
        )
        .unwrap()
}

/// The next leaderboard update's seq on `ws`.
pub(crate) async fn next_seq(ws: &mut Socket) -> i64 {
    let frame = receive(ws).await.expect("the subscription goes on");
    assert_eq!(frame["type"], "next", "{frame}");
    frame["payload"]["data"]["leaderboardUpdates"]["seq"]
        .as_i64()
        .unwrap()
}

/// Two `podium serve` processes, one database, one Redis: detections ingested on A reach a
/// subscriber on B through Redis; Redis is killed mid-stream (B reports `degraded`, A keeps
/// ingesting) and restarted; B's subscriber ends up with every seq exactly once, in order.
#[tokio::test]
async fn two_instances_share_live_updates_through_redis_and_lose_nothing_when_it_restarts() {
    let database_url = podium_persistence::testing::fresh_database_url()
        .await
        .unwrap();
    let redis_port = free_port();
    let mut redis = start_redis(redis_port);
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let data_dir: PathBuf =
        std::env::temp_dir().join(format!("podium-scale-{}", uuid::Uuid::new_v4().simple()));
    // A first: it migrates the database and creates the token key B shares.
    let mut a = Instance::start(&database_url, &redis_url, &data_dir);
    a.wait_for("ready").await;
    let mut b = Instance::start(&database_url, &redis_url, &data_dir);
    assert_eq!(b.wait_for("ready").await["redis"], "ok");

    let on_a = a.client(&admin_token(&data_dir));
    let created = on_a
        .graphql(
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
            json!({ "input": { "name": "Scale-out", "startsAt": STARTS_AT, "timezone": "Europe/Berlin", "course": "HYROX_STANDARD" } }),
        )
        .await
        .unwrap();
    let event_id = created["createEvent"]["id"].as_str().unwrap().to_owned();
    let bibs: Vec<Value> = (1..=15)
        .map(|bib| json!({ "bib": bib.to_string(), "firstName": "A", "lastName": "B", "category": "OPEN", "gender": "MEN", "birthYear": 1990, "waveStart": STARTS_AT }))
        .collect();
    on_a.graphql(
        "mutation($id: ID!, $entries: [EntryInput!]!) { addEntries(eventId: $id, entries: $entries) { id } }",
        json!({ "id": event_id, "entries": bibs }),
    )
    .await
    .unwrap();
    // Each START read of a new bib is one step; returns the seq it reached.
    let ingest_start = |bib: u32| {
        let (on_a, event_id) = (&on_a, &event_id);
        async move {
            let report = on_a
                .ingest(event_id, &[read(&bib.to_string(), "START", 5)])
                .await
                .unwrap();
            assert_eq!(report["accepted"], 1, "{report}");
            report["seq"].as_i64().unwrap()
        }
    };

    let mut ws = connect(
        &format!("ws://{}/graphql/ws", b.base),
        "graphql-transport-ws",
    )
    .await;
    init(&mut ws, json!({})).await;
    send(
        &mut ws,
        json!({ "id": "lb", "type": "subscribe", "payload": { "query": LEADERBOARD, "variables": { "id": event_id } } }),
    )
    .await;
    let first = next_seq(&mut ws).await;
    let mut received = Vec::new();
    let mut ingested = Vec::new();

    // Redis up: each change on A reaches B.
    for bib in 1..=5 {
        ingested.push(ingest_start(bib).await);
        received.push(next_seq(&mut ws).await);
    }

    // Redis down: A keeps ingesting, B keeps its subscribers and says it is degraded.
    redis.kill().await.unwrap();
    let degraded = b.wait_for("degraded").await;
    assert_eq!(degraded["redis"]["status"], "unreachable", "{degraded}");
    for bib in 6..=10 {
        ingested.push(ingest_start(bib).await);
    }

    // Redis back: what B missed arrives with no further change to announce it...
    let _redis = start_redis(redis_port);
    b.wait_for("ready").await;
    a.wait_for("ready").await;
    while received.len() < ingested.len() {
        received.push(next_seq(&mut ws).await);
    }
    // ...then live again.
    for bib in 11..=15 {
        ingested.push(ingest_start(bib).await);
    }
    while received.last() != ingested.last() {
        received.push(next_seq(&mut ws).await);
    }
    let expected: Vec<i64> = (first + 1..=first + 15).collect();
    assert_eq!(ingested, expected);
    assert_eq!(received, expected);
    let _ = std::fs::remove_dir_all(&data_dir);
}
