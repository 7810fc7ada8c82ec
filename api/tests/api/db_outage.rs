//! PostgreSQL going away in the middle of a race day, on a throwaway cluster of this test's own
//! (`initdb` / `pg_ctl` on a free port): timing software gets a fast 503 with `Retry-After`,
//! never a hang or a 500, and once the database is back everything is accepted — nothing lost.

use crate::helpers::{read, TestApp};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A PostgreSQL cluster in a temporary directory, stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    /// Runs a PostgreSQL program as the `postgres` user when we are root (initdb refuses root).
    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let binary = self.bin.join(program);
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let mut command = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        command
            .args(args)
            .output()
            .expect("PostgreSQL programs run")
    }

    fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server programs under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .expect("initdb");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("podium-pg-{}", uuid::Uuid::new_v4().simple()));
        let cluster = Self { dir, bin, port };
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                cluster.path(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start();
        cluster
    }

    fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.path()
        );
        let log = self.dir.join("log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                self.path(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", self.path(), "-m", "fast", "-w", "stop"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", self.path(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn ingest(app: &TestApp, event: &str, rows: &Value) -> (StatusCode, Option<String>, Value) {
    let request = Request::post(format!("/v1/events/{event}/detections"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .body(Body::from(rows.to_string()))
        .unwrap();
    let (status, headers, body) = app.request(request).await;
    let retry = headers
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn postgresql_away_mid_ingest_answers_503_fast_and_loses_nothing() {
    if std::env::var_os("TEST_DATABASE_URL").is_none() {
        // A PostgreSQL behaviour: run in the PostgreSQL pass of scripts/test.
        return;
    }
    let cluster = Cluster::create();
    let url = cluster.url();
    let app = TestApp::spawn_with(|s| {
        s.database_url = Some(url.into());
        s.database_acquire_timeout_ms = 1_500;
    })
    .await;
    let event = app.create_event(None).await;
    app.add_entries(
        &event,
        &[("1", "OPEN", "MEN", 1990), ("2", "OPEN", "MEN", 1991)],
    )
    .await;
    let (status, _, _) = ingest(
        &app,
        &event,
        &json!([read("1", "START", 5), read("2", "START", 6)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    cluster.stop();
    let batch = json!([read("1", "RUN1", 300), read("2", "RUN1", 310)]);
    // The first request finds the database gone within the acquire timeout…
    let started = Instant::now();
    let (status, retry, body) = ingest(&app, &event, &batch).await;
    let first = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "DATABASE_UNAVAILABLE", "{body}");
    assert!(retry.is_some(), "Retry-After");
    assert!(
        first < Duration::from_secs(5),
        "first answer after {first:?}"
    );
    // …and the next ones are answered at once, on every transport.
    let started = Instant::now();
    let (status, retry, _) = ingest(&app, &event, &batch).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let (status, body) = app
        .graphql_as(
            Some(&app.admin),
            "query($id: ID!) { leaderboard(eventId: $id, first: 5) { totalCount } }",
            json!({ "id": event }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE",
        "{body}"
    );
    let (status, _, _) = app
        .request(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // Back: the retried batch is accepted without a restart, and nothing was lost.
    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let (status, _, body) = ingest(&app, &event, &batch).await;
        if status == StatusCode::OK {
            break body;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            Instant::now() < deadline,
            "the database is back but podium is not"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report["accepted"], 2, "{report}");
    let data = app
        .gql(
            "query($id: ID!) { leaderboard(eventId: $id, first: 5) { edges { node { bib lastTimingPoint } } } }",
            json!({ "id": event }),
        )
        .await;
    let points: Vec<&Value> = data["leaderboard"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["lastTimingPoint"])
        .collect();
    assert_eq!(points, [&json!("RUN1"), &json!("RUN1")]);
}
