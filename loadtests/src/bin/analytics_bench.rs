//! Analytics benchmark. Imports `--results` public results (the four events of
//! `testdata/hyrox-results/` copied, as `import_bench` does: every event official) and
//! registers and ingests the simulated 3,000-entry race day (live), then asks over HTTP:
//!
//! - `segmentStats` of the race day (OPEN/MEN): **cold** (the first question after a new read
//!   moved the event's `seq`), then **warm** for `--duration` seconds;
//! - `raceReport` of random bibs of the race day, warm;
//! - `segmentLeaderboard` top 20 across every official event: cold (the first question of each
//!   segment × gender), then warm with random segments and genders;
//! - `competitionStats` of each season: cold, then warm.
//!
//! Every answer is checked (200, no GraphQL error, the expected shape); a failure fails the run.
//!
//! cargo run --release -p podium-loadtests --bin analytics_bench -- --results 100000

use anyhow::{bail, Context};
use clap::Parser;
use podium_api::cli::demo::detection_json;
use podium_loadtests::{
    admin_client, admin_token, backend, bench_settings, import_public_results, on_fresh_database,
    quantile, race_day,
};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// PostgreSQL server (a fresh database is created on it) or a sqlite:// URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Past results to import (the four public events copied until there are this many).
    #[arg(long, default_value_t = 100_000)]
    results: usize,
    /// Entries of the live race day.
    #[arg(long, default_value_t = 3_000)]
    entries: usize,
    /// Clients asking at the same time in the warm phases.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds of each warm phase.
    #[arg(long, default_value_t = 5)]
    duration: u64,
}

const STATS: &str = "query($e: ID!) { segmentStats(eventId: $e, category: OPEN, gender: MEN) { segment count medianMs p90Ms histogram { count } } }";
const REPORT: &str = "query($e: ID!, $b: String!) { raceReport(eventId: $e, bib: $b) { bib segments { segment percentile cohortMedianMs } cohort { size } potentialGains { segment gainMs } } }";
const BOARD: &str = "query($s: String!, $g: Gender) { segmentLeaderboard(segment: $s, category: OPEN, gender: $g, first: 20) { totalCount edges { node { rank durationMs athlete { name } eventName } } } }";
const COMPETITION: &str = "query($season: Int) { competitionStats(season: $season) { events entries finishers finishTime { medianMs } segmentMedians { segment medianMs } previousSeason { entries } } }";

/// Segments of the standard course whose times imports measure (runs and stations).
const SEGMENTS: [&str; 16] = [
    "RUN_1",
    "RUN_2",
    "RUN_3",
    "RUN_4",
    "RUN_5",
    "RUN_6",
    "RUN_7",
    "RUN_8",
    "SKIERG",
    "SLED_PUSH",
    "SLED_PULL",
    "BURPEE_BROAD_JUMP",
    "ROW",
    "FARMERS_CARRY",
    "SANDBAG_LUNGES",
    "WALL_BALLS",
];

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    /// One GraphQL request; the answer's `data`, or an error naming what came back.
    async fn ask(&self, query: &str, variables: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() || body.get("errors").is_some() {
            bail!("{status}: {body}");
        }
        Ok(body["data"].clone())
    }
}

/// p50 / p99 / max of sorted milliseconds.
fn summary(name: &str, latencies: &mut [f64], seconds: Option<u64>) {
    latencies.sort_by(f64::total_cmp);
    let rate = seconds.map_or(String::new(), |s| {
        format!(", {:.0} requests/s", latencies.len() as f64 / s as f64)
    });
    println!(
        "{name:<28} n {:>6}{rate}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        quantile(latencies, 0.5),
        quantile(latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}

/// `concurrency` clients asking `next(n)` for `duration` seconds after a second of warm-up;
/// `check` must hold for every answer.
async fn warm(
    client: &std::sync::Arc<Client>,
    args: &Args,
    query: &'static str,
    next: impl Fn(u64) -> Value + Clone + Send + 'static,
    check: impl Fn(&Value) -> bool + Clone + Send + 'static,
) -> anyhow::Result<Vec<f64>> {
    let warm_until = Instant::now() + Duration::from_secs(1);
    let stop_at = warm_until + Duration::from_secs(args.duration);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let (client, next, check) = (client.clone(), next.clone(), check.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = w as u64 * 1_000_003;
                loop {
                    n += 1;
                    let started = Instant::now();
                    if started >= stop_at {
                        break;
                    }
                    let data = client.ask(query, &next(n)).await?;
                    if !check(&data) {
                        bail!("unexpected answer: {data}");
                    }
                    if started >= warm_until {
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await??);
    }
    Ok(all)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let args = &args;
    on_fresh_database(&args.database_url, |url| async move {
        let data_dir =
            std::env::temp_dir().join(format!("podium-analytics-bench-{}", std::process::id()));
        let state = podium_api::build_state(bench_settings(&url, data_dir.clone())?).await?;
        let started = Instant::now();
        let report = import_public_results(&state, args.results).await?;
        let imported: usize = report.events.iter().map(|e| e.entries).sum();
        println!("backend            {}", backend(&url));
        println!(
            "imported           {imported} results in {} official events, {:.1} s",
            report.events.len(),
            started.elapsed().as_secs_f64()
        );

        let app = podium_api::Application::build(state).await?;
        let addr = app.local_addr();
        tokio::spawn(app.run_until(std::future::pending()));
        let admin = admin_client(&data_dir, &addr.to_string())?;
        let config = race_day(1, args.entries, 0.02);
        let (event_id, race) =
            podium_api::cli::demo::create_simulated_event(&admin, "analytics benchmark", &config)
                .await?;
        for batch in race.reads.chunks(1_000) {
            let rows: Vec<Value> = batch.iter().map(detection_json).collect();
            admin.ingest(&event_id, &rows).await?;
        }
        println!("race day           {} entries, live", args.entries);
        let token = admin_token(&data_dir).context("minting an admin token")?;
        let client = std::sync::Arc::new(Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(args.concurrency)
                .build()?,
            url: format!("http://{addr}/graphql"),
            token,
        });
        let bibs: Vec<String> = race.entries.iter().map(|e| e.bib.clone()).collect();

        // segmentStats cold: a new read moves the event's seq before each question.
        let mut cold = Vec::new();
        for n in 0..20 {
            let entry = &race.entries[n * 7 % race.entries.len()];
            let late = json!([{ "bib": entry.bib, "timingPoint": "START",
                "timestamp": (entry.wave_start.to_chrono() - chrono::Duration::seconds(n as i64 + 1)).to_rfc3339() }]);
            admin.ingest(&event_id, late.as_array().unwrap()).await?;
            let at = Instant::now();
            let data = client.ask(STATS, &json!({ "e": event_id })).await?;
            cold.push(at.elapsed().as_secs_f64() * 1000.0);
            if data["segmentStats"].as_array().map_or(0, Vec::len) != 28 {
                bail!("segmentStats: {data}");
            }
        }
        summary("segmentStats cold", &mut cold, None);
        let e = event_id.clone();
        let mut stats = warm(
            &client,
            args,
            STATS,
            move |_| json!({ "e": e }),
            |d| d["segmentStats"].as_array().is_some_and(|r| r.len() == 28),
        )
        .await?;
        summary("segmentStats warm", &mut stats, Some(args.duration));

        let e = event_id.clone();
        let mut reports = warm(
            &client,
            args,
            REPORT,
            move |n| {
                let bib = &bibs[(n as usize * 7919) % bibs.len()];
                json!({ "e": e, "b": bib })
            },
            |d| d["raceReport"]["segments"].as_array().is_some_and(|r| r.len() == 28),
        )
        .await?;
        summary("raceReport warm", &mut reports, Some(args.duration));

        // segmentLeaderboard cold: the first question of each segment and gender.
        let mut cold = Vec::new();
        for segment in SEGMENTS {
            for gender in ["MEN", "WOMEN"] {
                let at = Instant::now();
                let data = client
                    .ask(BOARD, &json!({ "s": segment, "g": gender }))
                    .await?;
                cold.push(at.elapsed().as_secs_f64() * 1000.0);
                if data["segmentLeaderboard"]["edges"].as_array().map_or(0, Vec::len) != 20 {
                    bail!("segmentLeaderboard: {data}");
                }
            }
        }
        summary("segmentLeaderboard cold", &mut cold, None);
        let mut boards = warm(
            &client,
            args,
            BOARD,
            |n| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(n);
                let segment = SEGMENTS[rng.gen_range(0..SEGMENTS.len())];
                let gender = if rng.gen_bool(0.5) { "MEN" } else { "WOMEN" };
                json!({ "s": segment, "g": gender })
            },
            |d| d["segmentLeaderboard"]["edges"].as_array().is_some_and(|e| e.len() == 20),
        )
        .await?;
        summary("segmentLeaderboard warm", &mut boards, Some(args.duration));

        // competitionStats: each season once cold (with the season before), then warm.
        let mut cold = Vec::new();
        for season in [2018, 2019] {
            let at = Instant::now();
            let data = client.ask(COMPETITION, &json!({ "season": season })).await?;
            cold.push(at.elapsed().as_secs_f64() * 1000.0);
            if data["competitionStats"]["entries"].as_u64().unwrap_or(0) == 0 {
                bail!("competitionStats {season}: {data}");
            }
        }
        summary("competitionStats cold", &mut cold, None);
        let mut seasons = warm(
            &client,
            args,
            COMPETITION,
            |n| json!({ "season": 2018 + (n % 2) as i32 }),
            |d| d["competitionStats"]["entries"].as_u64().is_some_and(|n| n > 0),
        )
        .await?;
        summary("competitionStats warm", &mut seasons, Some(args.duration));
        Ok(())
    })
    .await
}
