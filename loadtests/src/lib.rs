//! Shared pieces of podium's load generators: starting a server in process and timing helpers.

use podium_api::auth::{dev_claims, Authenticator, Role};
use podium_api::cli::demo::DemoClient;
use podium_api::config::{Settings, SettingsOverrides};
use podium_domain::simulation::{SimConfig, SimRace};
use podium_domain::timing::Timestamp;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Runs `bench` on a fresh database: created on the PostgreSQL server of `database_url` and
/// dropped afterwards (whatever the outcome; kept with `PODIUM_BENCH_KEEP_DATABASE` set), or the
/// `sqlite://` URL as given.
pub async fn on_fresh_database<F, Fut>(database_url: &str, bench: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    if !database_url.starts_with("postgres") {
        return bench(database_url.to_owned()).await;
    }
    let url = podium_persistence::testing::create_database(database_url, "podium_bench").await?;
    let outcome = bench(url.clone()).await;
    // To look at what a run wrote (`psql`), keep its database.
    if std::env::var_os("PODIUM_BENCH_KEEP_DATABASE").is_some() {
        eprintln!("database kept: {url}");
        return outcome;
    }
    podium_persistence::testing::drop_database(database_url, &url).await?;
    outcome
}

/// A client of the server at `addr` with an admin token signed by the key in `data_dir`.
pub fn admin_client(data_dir: &Path, addr: &str) -> anyhow::Result<DemoClient> {
    Ok(DemoClient::new(
        &format!("http://{addr}"),
        admin_token(data_dir)?,
    ))
}

/// An admin token signed with the development key of `data_dir`, valid for two hours.
pub fn admin_token(data_dir: &Path) -> anyhow::Result<String> {
    let settings = podium_api::config::Settings {
        data_dir: data_dir.to_owned(),
        ..Default::default()
    };
    Authenticator::new(&settings)?.mint_dev(
        dev_claims(Role::Admin, None, vec![], None),
        chrono::Duration::hours(2),
    )
}

/// The benchmarks' race day: waves of 60 every 5 minutes, 2 % missed mats, 1 % dropouts.
pub fn race_day(seed: u64, entries: usize, duplicate_rate: f64) -> SimConfig {
    SimConfig {
        seed,
        entries,
        starts_at: Timestamp(1_773_478_800_000),
        entries_per_wave: 60,
        wave_interval_s: 300,
        miss_rate: 0.02,
        duplicate_rate,
        dropout_rate: 0.01,
    }
}

/// Server settings for a benchmark: a random local port, `database_url`, and per-caller limits
/// lifted — a load generator is thousands of callers behind one address, and the benchmarks
/// measure the server, not its rate limiter.
pub fn bench_settings(database_url: &str, data_dir: PathBuf) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(None, [], &SettingsOverrides::default())?;
    settings.bind = "127.0.0.1:0".parse()?;
    settings.data_dir = data_dir;
    settings.database_url = Some(database_url.to_owned().into());
    settings.log_level = "warn".into();
    settings.rate_limit_anonymous = u32::MAX / 2;
    settings.rate_limit_enterprise = u32::MAX / 2;
    settings.ws_max_subscriptions_anonymous = u32::MAX;
    settings.ws_messages_per_sec_anonymous = 1_000_000;
    // A retraining after an import would compete with what is being measured.
    settings.prediction_retrain = false;
    // `PODIUM_TIMESCALEDB=off` measures plain PostgreSQL on a server that has TimescaleDB.
    if let Ok(mode) = std::env::var("PODIUM_TIMESCALEDB") {
        settings.timescaledb = clap::ValueEnum::from_str(&mode, true)
            .map_err(|e| anyhow::anyhow!("PODIUM_TIMESCALEDB: {e}"))?;
    }
    Ok(settings)
}

/// Starts podium on a random local port against `database_url` (sharing rate limits and
/// live updates through `redis_url` when given); returns its address.
pub async fn start_server(
    database_url: &str,
    redis_url: Option<&str>,
) -> anyhow::Result<SocketAddr> {
    let data_dir = std::env::temp_dir().join(format!("podium-bench-{}", std::process::id()));
    let mut settings = bench_settings(database_url, data_dir)?;
    settings.redis_url = redis_url.map(|u| u.to_owned().into());
    let state = podium_api::build_state(settings).await?;
    let app = podium_api::Application::build(state).await?;
    let addr = app.local_addr();
    tokio::spawn(app.run_until(std::future::pending()));
    Ok(addr)
}

/// A podium in this process on `database_url` with the benchmarks' race day registered (not
/// yet ingested): its address, an admin client, the event id and the simulated race.
pub async fn serve_race_day(
    database_url: &str,
    redis_url: Option<&str>,
    name: &str,
    seed: u64,
    entries: usize,
) -> anyhow::Result<(SocketAddr, DemoClient, String, SimRace)> {
    use anyhow::Context;
    let addr = start_server(database_url, redis_url)
        .await
        .context("starting podium")?;
    let data_dir = std::env::temp_dir().join(format!("podium-bench-{}", std::process::id()));
    let client = admin_client(&data_dir, &addr.to_string())?;
    let config = race_day(seed, entries, 0.02);
    let (event_id, race) =
        podium_api::cli::demo::create_simulated_event(&client, name, &config).await?;
    Ok((addr, client, event_id, race))
}

/// What stores raw detections in the database of `url`, for reports: SQLite, plain
/// PostgreSQL, or a TimescaleDB hypertable.
pub async fn storage(url: &str) -> anyhow::Result<&'static str> {
    if !url.starts_with("postgres") {
        return Ok("sqlite");
    }
    let db = podium_persistence::connect(url).await?;
    let hypertable = podium_persistence::timescale::detections_is_hypertable(&db).await?;
    db.close().await?;
    Ok(if hypertable {
        "postgresql + timescaledb (hypertable)"
    } else {
        "postgresql (plain tables)"
    })
}

/// The backend a database URL names, for reports.
pub fn backend(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgresql"
    } else {
        "sqlite"
    }
}

/// The `q`-quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

const PUBLIC_RESULTS: [&str; 4] = [
    "hyrox-2018-essen.jsonl",
    "hyrox-2018-wien.jsonl",
    "hyrox-2019-karlsruhe.jsonl",
    "hyrox-2019-nuernberg.jsonl",
];

/// `results` lines of the public results format: the four events of `testdata/hyrox-results/`
/// copied until there are that many; copy `k` of every event is named `<event> #k` and starts
/// `k` days later.
pub fn public_results_lines(results: usize) -> anyhow::Result<Vec<String>> {
    use serde_json::Value;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/hyrox-results");
    let mut rows = Vec::new();
    for file in PUBLIC_RESULTS {
        let text = std::fs::read_to_string(format!("{dir}/{file}"))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            rows.push(serde_json::from_str::<Value>(line)?);
        }
    }
    let mut out = Vec::with_capacity(results);
    for copy in 0.. {
        for row in &rows {
            if out.len() == results {
                return Ok(out);
            }
            let mut row = row.clone();
            let event = row["event_occurrence"]
                .as_str()
                .unwrap_or("event")
                .to_owned();
            row["event_occurrence"] = format!("{event} #{copy}").into();
            if let Some(start) = row["start_time"].as_str() {
                let at = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S")?
                    + chrono::Duration::days(copy);
                row["start_time"] = at.format("%Y-%m-%d %H:%M:%S").to_string().into();
            }
            out.push(row.to_string());
        }
    }
    Ok(out)
}

/// Imports `results` public results (see [`public_results_lines`]) as `podium import results`
/// does, as an admin, in Europe/Berlin time, on the standard course.
pub async fn import_public_results(
    state: &podium_api::app::AppState,
    results: usize,
) -> anyhow::Result<podium_api::app::import::ImportReport> {
    use podium_api::app::import::{import_results, ImportOptions, ImportReport, SourceLine};
    use podium_api::auth::{dev_claims, Principal, Role};
    let lines = public_results_lines(results)?;
    let admin = Principal::from_claims(dev_claims(Role::Admin, None, vec![], None));
    let options = ImportOptions {
        venue_id: None,
        timezone: chrono_tz::Europe::Berlin,
        course: podium_domain::course::HYROX_STANDARD.into(),
        words: podium_domain::public_results::DivisionWords::default(),
    };
    let mut report = ImportReport::default();
    let source_lines = lines
        .iter()
        .enumerate()
        .map(|(n, text)| SourceLine {
            line: n + 1,
            text: text.as_str().into(),
        })
        .collect();
    import_results(
        state,
        &admin,
        "bench",
        source_lines,
        &options,
        &mut report,
        &mut |_| {},
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(report)
}
