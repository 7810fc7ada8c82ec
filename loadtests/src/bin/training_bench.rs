//! Training benchmark: `--athletes` athletes × a simulated year (an activity six days a week,
//! the night's sleep and the morning BMQ: about 1,040,000 samples for 1,000 athletes) posted
//! to `POST /v1/athletes/{id}/wellness` in batches of 1,000 by `--concurrency` clients; then
//! `trainingLoad` over 365 days and `fatigueForecast` (7 days) of random athletes, one request
//! at a time, each over HTTP the full way. The forecast is measured cold (the first of each
//! athlete: reading their year and fitting their model; the very first also fits the
//! population prior) and warm (data unchanged: the cached model). Any refused sample, non-200
//! answer or GraphQL error fails the run.
//!
//! cargo run --release -p podium-loadtests --bin training_bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres

use anyhow::bail;
use clap::Parser;
use podium_api::cli::demo::{create_simulated_event_with_athletes, wellness_json};
use podium_domain::ports::WellnessRepository;
use podium_domain::timing::Timestamp;
use podium_domain::training_simulation::{training_block, TrainingBlock};
use podium_domain::wellness::{BmqMoment, Measurement, SampleKind};
use podium_loadtests::{
    admin_client, on_fresh_database, quantile, race_day, start_server, storage,
};
use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// PostgreSQL server (a fresh database is created on it) or a sqlite:// URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    #[arg(long, default_value_t = 1_000)]
    athletes: usize,
    /// Clients posting batches at the same time.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Requests of each query measured.
    #[arg(long, default_value_t = 500)]
    queries: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let args = &args;
    on_fresh_database(
        &args.database_url,
        |url| async move { run(args, &url).await },
    )
    .await
}

/// The year of one athlete as the bodies of `POST …/wellness`, 1,000 samples each.
fn year_of(seed: u64, index: usize, race: chrono::NaiveDate) -> Vec<String> {
    let samples = training_block(&TrainingBlock {
        seed: seed * 100_000 + index as u64,
        race_day: race,
        weeks: 52,
        volume: 0.7 + 0.1 * (index % 7) as f64,
        bmq: true,
    });
    let kept: Vec<Value> = samples
        .iter()
        .filter(|s| match &s.measurement {
            Measurement::Bmq(b) => b.moment == BmqMoment::Morning,
            _ => matches!(s.kind(), SampleKind::Activity | SampleKind::Sleep),
        })
        .map(wellness_json)
        .collect();
    kept.chunks(1_000)
        .map(|c| Value::Array(c.to_vec()).to_string())
        .collect()
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let addr = start_server(url, None).await?;
    let data_dir = std::env::temp_dir().join(format!("podium-bench-{}", std::process::id()));
    let admin = admin_client(&data_dir, &addr.to_string())?;
    let token = podium_loadtests::admin_token(&data_dir)?;
    let config = race_day(args.seed, args.athletes, 0.0);
    let (_, _, athletes) =
        create_simulated_event_with_athletes(&admin, "training benchmark", &config).await?;
    let race = chrono::NaiveDate::from_ymd_opt(2026, 6, 20).unwrap_or_default();

    // Bodies are built before the clock starts.
    let seed = args.seed;
    let bodies: Vec<(String, Vec<String>)> = tokio::task::spawn_blocking({
        let athletes = athletes.clone();
        move || {
            athletes
                .iter()
                .enumerate()
                .map(|(i, a)| (a.clone(), year_of(seed, i, race)))
                .collect()
        }
    })
    .await?;
    let total: usize = bodies
        .iter()
        .flat_map(|(_, b)| b)
        .map(|b| b.matches("\"sourceId\"").count())
        .sum();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let queue = std::sync::Arc::new(std::sync::Mutex::new(
        bodies
            .into_iter()
            .flat_map(|(a, bodies)| bodies.into_iter().map(move |b| (a.clone(), b)))
            .collect::<Vec<_>>(),
    ));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, queue, token) = (client.clone(), queue.clone(), token.clone());
            tokio::spawn(async move {
                let mut accepted = 0u64;
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some((athlete, body)) = next else {
                        break;
                    };
                    let response = client
                        .post(format!("http://{addr}/v1/athletes/{athlete}/wellness"))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    let status = response.status();
                    let report: Value = response.json().await?;
                    if !status.is_success() || report["rejected"] != json!([]) {
                        bail!("wellness answered {status}: {report}");
                    }
                    accepted += report["accepted"].as_u64().unwrap_or(0);
                }
                Ok(accepted)
            })
        })
        .collect();
    let mut accepted = 0;
    for worker in workers {
        accepted += worker.await??;
    }
    let ingest_s = started.elapsed().as_secs_f64();
    if accepted as usize != total {
        bail!("{accepted} of {total} samples accepted");
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let from = race - chrono::Duration::days(365);
    let to = race - chrono::Duration::days(1);
    let ask = |query: &'static str, variables: Value| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let started = Instant::now();
            let answer: Value = client
                .post(format!("http://{addr}/graphql"))
                .bearer_auth(&token)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await?
                .json()
                .await?;
            if answer.get("errors").is_some() {
                bail!("{answer}");
            }
            Ok::<_, anyhow::Error>(started.elapsed().as_secs_f64() * 1000.0)
        }
    };
    const LOAD: &str = "query($a: ID!, $from: NaiveDate!, $to: NaiveDate!) { trainingLoad(athleteId: $a, from: $from, to: $to) { date load ctl atl tsb acwr } }";
    const FORECAST: &str = "query($a: ID!, $from: NaiveDate!) { fatigueForecast(athleteId: $a, days: 7, from: $from) { date moment bmq low high } }";
    let mut load = Vec::new();
    for _ in 0..args.queries {
        let a = &athletes[rng.gen_range(0..athletes.len())];
        load.push(ask(LOAD, json!({ "a": a, "from": from, "to": to })).await?);
    }
    let rollup = if storage(url).await?.contains("timescaledb") {
        Some(rollup_figures(args, url, &athletes, from, to, &load, &ask).await?)
    } else {
        None
    };
    let first = ask(FORECAST, json!({ "a": athletes[0], "from": race })).await?;
    let mut cold = Vec::new();
    for a in athletes.iter().skip(1).take(args.queries) {
        cold.push(ask(FORECAST, json!({ "a": a, "from": race })).await?);
    }
    let mut warm = Vec::new();
    for _ in 0..args.queries {
        let a = &athletes[rng.gen_range(0..args.queries.min(athletes.len()))];
        warm.push(ask(FORECAST, json!({ "a": a, "from": race })).await?);
    }
    println!(
        "training_bench on {} — {} athletes × a year, {total} samples",
        storage(url).await?,
        athletes.len()
    );
    println!(
        "ingest: {ingest_s:.1} s, {:.0} samples/s ({} clients, batches of 1,000)",
        total as f64 / ingest_s,
        args.concurrency
    );
    if let Some(lines) = &rollup {
        for line in lines {
            println!("{line}");
        }
    }
    for (name, samples) in [
        ("trainingLoad 365 days", &mut load),
        ("fatigueForecast cold (model fitted)", &mut cold),
        ("fatigueForecast warm (model cached)", &mut warm),
    ] {
        samples.sort_by(f64::total_cmp);
        println!(
            "{name}: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            samples.len(),
            quantile(samples, 0.5),
            quantile(samples, 0.99),
            samples.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!("first fatigueForecast (population prior fitted too): {first:.1} ms");
    Ok(())
}

fn summary(name: &str, samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    format!(
        "{name}: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        quantile(samples, 0.5),
        quantile(samples, 0.99),
        samples.last().copied().unwrap_or(f64::NAN)
    )
}

/// `queries` `trainingLoad` charts of random athletes from `from` to `to`, one at a time: their
/// times in ms.
async fn charts<F, Fut>(
    queries: usize,
    athletes: &[String],
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    mut rng: rand::rngs::StdRng,
    ask: &F,
) -> anyhow::Result<Vec<f64>>
where
    F: Fn(&'static str, Value) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    const LOAD: &str = "query($a: ID!, $from: NaiveDate!, $to: NaiveDate!) { trainingLoad(athleteId: $a, from: $from, to: $to) { date load ctl atl tsb acwr } }";
    let mut times = Vec::with_capacity(queries);
    for _ in 0..queries {
        let a = &athletes[rng.gen_range(0..athletes.len())];
        times.push(ask(LOAD, json!({ "a": a, "from": from, "to": to })).await?);
    }
    Ok(times)
}

async fn bytes(db: &sea_orm::DatabaseConnection, table: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("SELECT total_bytes::bigint AS n FROM hypertable_detailed_size('{table}')"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no size of {table}"))?;
    Ok(row.try_get("", "n")?)
}

/// On TimescaleDB: what the `wellness_daily` rollup and compression change, measured back to
/// back on the same data. `load` holds the `trainingLoad` figures of the run so far (the
/// rollup not yet materialised: every read aggregates the raw samples in real time); then the
/// hourly policy's refresh is run, `trainingLoad` measured again, the reads of one chart
/// (545 days: the year and its warm-up) compared at the repository — the raw samples against
/// the rollup —, and the samples' chunks compressed as the policy would (bytes before and
/// after), with `trainingLoad` once more on compressed chunks.
async fn rollup_figures<F, Fut>(
    args: &Args,
    url: &str,
    athletes: &[String],
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    load: &[f64],
    ask: &F,
) -> anyhow::Result<Vec<String>>
where
    F: Fn(&'static str, Value) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    let mut lines = vec![summary(
        "trainingLoad 365 days, rollup not yet materialised (real-time aggregation)",
        &mut load.to_vec(),
    )];
    let db = podium_persistence::connect(url).await?;
    let started = Instant::now();
    db.execute_unprepared("CALL refresh_continuous_aggregate('wellness_daily', NULL, NULL)")
        .await?;
    lines.push(format!(
        "wellness_daily materialised (the hourly policy's first run) in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed + 1);
    let charts = |rng: rand::rngs::StdRng| charts(args.queries, athletes, from, to, rng, ask);
    let mut measured = charts(rng.clone()).await?;
    lines.push(summary(
        "trainingLoad 365 days, rollup materialised",
        &mut measured,
    ));
    // The reads of one chart, raw against rollup, alternating on the same athletes.
    let repo = podium_persistence::SeaRepository::new(db.clone()).await?;
    let start = Timestamp::from_chrono(
        (from - chrono::Duration::days(180))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    );
    let end = Timestamp::from_chrono(
        (to + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    );
    let (mut raw, mut rolled) = (Vec::new(), Vec::new());
    for _ in 0..args.queries {
        let a: uuid::Uuid = athletes[rng.gen_range(0..athletes.len())].parse()?;
        let t = Instant::now();
        let samples = repo
            .wellness(a, &[SampleKind::Activity, SampleKind::Health], start, end)
            .await?;
        raw.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let days = repo.activity_days(a, start, end).await?.unwrap_or_default();
        rolled.push(t.elapsed().as_secs_f64() * 1000.0);
        if samples.is_empty() || days.is_empty() {
            bail!("athlete {a} has no samples to read");
        }
    }
    lines.push(summary(
        "one chart's reads (545 days), raw samples",
        &mut raw,
    ));
    lines.push(summary(
        "one chart's reads (545 days), wellness_daily",
        &mut rolled,
    ));
    let before = bytes(&db, "wellness_samples").await?;
    let started = Instant::now();
    db.execute_unprepared(
        "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('wellness_samples', older_than => INTERVAL '30 days') c",
    )
    .await?;
    let compress_s = started.elapsed().as_secs_f64();
    let after = bytes(&db, "wellness_samples").await?;
    lines.push(format!(
        "wellness_samples compressed (chunks older than 30 days) in {compress_s:.1} s: {:.1} MB before, {:.1} MB after ({:.1}×)",
        before as f64 / 1e6,
        after as f64 / 1e6,
        before as f64 / after.max(1) as f64
    ));
    let mut measured = charts(rng.clone()).await?;
    lines.push(summary(
        "trainingLoad 365 days, rollup materialised, samples compressed",
        &mut measured,
    ));
    Ok(lines)
}
