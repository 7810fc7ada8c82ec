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
use podium_domain::training_simulation::{training_block, TrainingBlock};
use podium_domain::wellness::{BmqMoment, Measurement, SampleKind};
use podium_loadtests::{
    admin_client, backend, on_fresh_database, quantile, race_day, start_server,
};
use rand::{Rng, SeedableRng};
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
        backend(url),
        athletes.len()
    );
    println!(
        "ingest: {ingest_s:.1} s, {:.0} samples/s ({} clients, batches of 1,000)",
        total as f64 / ingest_s,
        args.concurrency
    );
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
