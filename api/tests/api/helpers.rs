//! `TestApp`: one application with its own database and data directory per test.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use podium_api::app::AppState;
use podium_api::auth::{dev_claims, Role};
use podium_api::config::{Settings, SettingsOverrides};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub admin: String,
    data_dir: std::path::PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub const STARTS_AT: &str = "2026-03-14T09:00:00Z";

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            podium_api::telemetry::init(Default::default(), "debug");
        }
        let data_dir =
            std::env::temp_dir().join(format!("podium-test-{}", Uuid::new_v4().simple()));
        let mut settings = Settings::load(None, [], &SettingsOverrides::default()).unwrap();
        settings.data_dir = data_dir.clone();
        settings.database_url = Some(
            podium_persistence::testing::fresh_database_url()
                .await
                .unwrap()
                .into(),
        );
        // Retraining the prediction model after an import or an official event runs in the
        // background; the tests that want it ask for it.
        settings.prediction_retrain = false;
        // One run of the suite on TimescaleDB, another on plain PostgreSQL (scripts/test).
        settings.timescaledb = match podium_persistence::testing::timescale_mode() {
            podium_persistence::timescale::Mode::Auto => podium_api::config::Timescaledb::Auto,
            podium_persistence::timescale::Mode::Off => podium_api::config::Timescaledb::Off,
        };
        configure(&mut settings);
        let state = podium_api::build_state(settings)
            .await
            .expect("application state");
        let admin = state
            .auth
            .mint_dev(
                dev_claims(Role::Admin, None, vec![], None),
                chrono::Duration::hours(1),
            )
            .unwrap();
        let router = podium_api::transport::router(state.clone());
        Self {
            state,
            router,
            admin,
            data_dir,
        }
    }

    pub fn token(&self, role: Role, venues: Vec<Uuid>) -> String {
        self.state
            .auth
            .mint_dev(
                dev_claims(role, None, venues, None),
                chrono::Duration::hours(1),
            )
            .unwrap()
    }

    /// A token of role `athlete` speaking for `athlete_id`.
    pub fn athlete_token(&self, athlete_id: &str) -> String {
        let id = Uuid::parse_str(athlete_id).expect("an athlete id");
        self.state
            .auth
            .mint_dev(
                dev_claims(Role::Athlete, None, vec![], Some(id)),
                chrono::Duration::hours(1),
            )
            .unwrap()
    }

    /// The athlete id of each bib of an event, as an admin sees it.
    pub async fn athlete_ids(&self, event_id: &str) -> std::collections::HashMap<String, String> {
        let board = self
            .gql(
                "query($id: ID!) { leaderboard(eventId: $id, first: 500) { edges { node { bib athlete { id } } } } }",
                json!({ "id": event_id }),
            )
            .await;
        board["leaderboard"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let node = &e["node"];
                (
                    node["bib"].as_str().unwrap().to_owned(),
                    node["athlete"]["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    pub async fn request(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    /// POST /graphql; returns the HTTP status and the JSON body.
    pub async fn graphql_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (StatusCode, Value) {
        let mut request =
            Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, _, body) = self.request(request.body(Body::from(body)).unwrap()).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A GraphQL call as admin that must succeed; returns `data`.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql_as(Some(&self.admin), query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    pub async fn post_detections(
        &self,
        token: Option<&str>,
        event_id: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(format!("/v1/events/{event_id}/detections"))
            .header(header::CONTENT_TYPE, content_type);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let (status, _, body) = self.request(request.body(Body::from(body)).unwrap()).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Registers a venue as admin; returns its id.
    pub async fn create_venue(&self, name: &str) -> String {
        self.gql(
            "mutation($n: String!) { createVenue(name: $n) { id } }",
            json!({ "n": name }),
        )
        .await["createVenue"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn create_event(&self, venue_id: Option<&str>) -> String {
        let data = self
            .gql(
                "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
                json!({ "input": { "name": "Hamburg", "startsAt": STARTS_AT, "timezone": "Europe/Berlin", "course": "HYROX_STANDARD", "venueId": venue_id } }),
            )
            .await;
        data["createEvent"]["id"].as_str().unwrap().to_owned()
    }

    /// Registers entries `(bib, category, gender, birth year)`, all in the 09:00 wave.
    pub async fn add_entries(&self, event_id: &str, entries: &[(&str, &str, &str, i32)]) {
        let entries: Vec<Value> = entries
            .iter()
            .map(|(bib, category, gender, year)| {
                json!({ "bib": bib, "firstName": "Athlete", "lastName": bib, "category": category, "gender": gender, "birthYear": year, "waveStart": STARTS_AT })
            })
            .collect();
        self.gql(
            "mutation($id: ID!, $entries: [EntryInput!]!) { addEntries(eventId: $id, entries: $entries) { id } }",
            json!({ "id": event_id, "entries": entries }),
        )
        .await;
    }

    pub async fn ingest_json(&self, event_id: &str, rows: Value) -> Value {
        let (status, body) = self
            .post_detections(
                Some(&self.admin),
                event_id,
                "application/json",
                rows.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

impl TestApp {
    /// The open flags of an event (`bib`, `kind`), and how many entries have one.
    pub async fn open_flags(&self, event_id: &str) -> (Vec<Value>, usize) {
        let open = self
            .gql(
                "query($id: ID!) { flags(eventId: $id, status: OPEN) { bib kind } }",
                json!({ "id": event_id }),
            )
            .await["flags"]
            .as_array()
            .unwrap()
            .clone();
        let entries = open
            .iter()
            .map(|f| f["bib"].as_str().unwrap().to_owned())
            .collect::<std::collections::HashSet<_>>()
            .len();
        (open, entries)
    }
}

/// `2026-03-14T09:00:00Z` plus `seconds`, as ISO-8601.
pub fn at(seconds: i64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339(STARTS_AT).unwrap();
    (base + chrono::Duration::milliseconds(seconds * 1000))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn read(bib: &str, point: &str, seconds: i64) -> Value {
    json!({ "bib": bib, "timingPoint": point, "timestamp": at(seconds) })
}

pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// Serves `app`'s router on a real socket (random port); returns `127.0.0.1:<port>`.
pub async fn serve(app: &TestApp) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    addr
}

/// Runs one of the Node.js oracles in `api/tests/js` (official clients and audits), installing
/// them with `npm ci` on first use; returns its standard output, failing the test when it
/// fails or takes over 60 s.
pub async fn run_js(script: &str, args: &[String]) -> String {
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    // One install at a time: tests run in parallel processes.
    let lock = std::fs::File::create(std::env::temp_dir().join("podium-npm-ci.lock")).unwrap();
    lock.lock().unwrap();
    let installed = [
        "graphql",
        "graphql-ws",
        "graphql-http",
        "ws",
        "@apollo/client",
        "standardwebhooks",
        "playwright-core",
    ]
    .iter()
    .all(|p| js.join("node_modules").join(p).exists());
    if !installed {
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&js)
            .stdin(std::process::Stdio::null())
            .status()
            .await
            .expect("npm is needed to install the test oracles (Node.js 18+)");
        assert!(status.success(), "npm ci failed in {}", js.display());
    }
    lock.unlock().unwrap();
    let run = tokio::process::Command::new("node")
        .arg(js.join(script))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("{script} finishes within 60 s"))
        .expect("node is needed to run the test oracles");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A file of the public results in `testdata/hyrox-results/`.
pub fn testdata(file: &str) -> String {
    let path = format!(
        "{}/../testdata/hyrox-results/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The four real events of `testdata/hyrox-results/`.
pub const REAL_EVENTS: [&str; 4] = [
    "hyrox-2018-essen.jsonl",
    "hyrox-2018-wien.jsonl",
    "hyrox-2019-karlsruhe.jsonl",
    "hyrox-2019-nuernberg.jsonl",
];

/// Imports the four real events over HTTP, as an admin (each becomes official).
pub async fn import_real_events(app: &TestApp) {
    for file in REAL_EVENTS {
        let request = Request::post(format!("/v1/import/results?source={file}"))
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
            .body(Body::from(testdata(file)))
            .unwrap();
        let (status, _, body) = app.request(request).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
}
