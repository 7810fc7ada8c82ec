//! Read benchmark: a finished 3,000-entry race day, then `--concurrency` clients asking for the
//! top-20 OPEN/MEN leaderboard (or, with `--target export`, the whole CSV export) over HTTP
//! (keep-alive) for `--duration` seconds.
//! Every request goes the full way: body parsing, token-less principal, GraphQL validation,
//! rate-limit charge of its cost (budgets lifted: one generator plays many callers), cached
//! standings, serialisation. Reports requests/s and latency quantiles; any non-200 answer or
//! GraphQL error fails the run.
//!
//! cargo run --release -p podium-loadtests --bin query_bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres

use anyhow::bail;
use clap::Parser;
use podium_api::cli::demo::detection_json;
use podium_loadtests::{backend, on_fresh_database, quantile, serve_race_day};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// PostgreSQL server (a fresh database is created on it) or a sqlite:// URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    #[arg(long, default_value_t = 3_000)]
    entries: usize,
    /// Clients asking at the same time, each waiting for its answer before the next request.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of measurement (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share rate limits through this Redis (every request's charge is then a round trip).
    #[arg(long)]
    redis_url: Option<String>,
    /// What to ask for.
    #[arg(long, value_enum, default_value_t = Target::Leaderboard)]
    target: Target,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// `leaderboard(first: 20)` over POST /graphql.
    Leaderboard,
    /// GET /v1/events/{id}/results.csv (every entry).
    Export,
    /// `leaderboard(asOfSeq: s, first: 20)`: standings as they stood at a past step, each
    /// request a different step of the race day, rebuilt from the change log.
    AsOf,
}

const TOP_20: &str = "query($e: ID!, $s: Int) { leaderboard(eventId: $e, category: OPEN, gender: MEN, first: 20, asOfSeq: $s) { totalCount edges { node { rank bib status netTimeMs athlete { name } } } } }";

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

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let (addr, admin, event_id, race) = serve_race_day(
        url,
        args.redis_url.as_deref(),
        "query benchmark",
        args.seed,
        args.entries,
    )
    .await?;
    for batch in race.reads.chunks(1_000) {
        let rows: Vec<Value> = batch.iter().map(detection_json).collect();
        admin.ingest(&event_id, &rows).await?;
    }

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let (target, entries) = (args.target, args.entries);
    let endpoint = match target {
        Target::Leaderboard | Target::AsOf => format!("http://{addr}/graphql"),
        Target::Export => format!("http://{addr}/v1/events/{event_id}/results.csv"),
    };
    // The race day's last step: past steps are asked for from the middle of the race on, when
    // the top 20 of OPEN/MEN are on course.
    let last_seq = client
        .post(format!("http://{addr}/graphql"))
        .json(&json!({ "query": "query($e: ID!) { event(id: $e) { seq } }", "variables": { "e": event_id } }))
        .send()
        .await?
        .json::<Value>()
        .await?["data"]["event"]["seq"]
        .as_i64()
        .unwrap_or(1);
    let body_at = move |n: u64| -> String {
        let seq = match target {
            Target::AsOf => Some(last_seq / 2 + (n as i64 % (last_seq - last_seq / 2).max(1))),
            _ => None,
        };
        json!({ "query": TOP_20, "variables": { "e": event_id, "s": seq } }).to_string()
    };
    let warm_until = Instant::now() + Duration::from_secs(1);
    let stop_at = warm_until + Duration::from_secs(args.duration);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, endpoint, body_at) = (client.clone(), endpoint.clone(), body_at.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                let mut n = 0u64;
                loop {
                    n += 1;
                    let body = body_at(n);
                    let started = Instant::now();
                    if started >= stop_at {
                        break;
                    }
                    let ok = match target {
                        Target::Leaderboard | Target::AsOf => {
                            let answer = client
                                .post(&endpoint)
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .send()
                                .await;
                            match answer {
                                Ok(response) if response.status().is_success() => {
                                    response.json::<Value>().await.is_ok_and(|v| {
                                        v.get("errors").is_none()
                                            && v["data"]["leaderboard"]["edges"]
                                                .as_array()
                                                .is_some_and(|e| e.len() == 20)
                                    })
                                }
                                _ => false,
                            }
                        }
                        Target::Export => match client.get(&endpoint).send().await {
                            Ok(response) if response.status().is_success() => response
                                .text()
                                .await
                                .is_ok_and(|csv| csv.lines().count() == entries + 1),
                            _ => false,
                        },
                    };
                    if started >= warm_until {
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                        failures += u64::from(!ok);
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (l, f) = worker.await?;
        latencies.extend(l);
        failures += f;
    }
    latencies.sort_by(f64::total_cmp);

    println!("backend            {}", backend(url));
    let what = match args.target {
        Target::Leaderboard => "leaderboard OPEN/MEN, first 20",
        Target::Export => "results.csv, every entry",
        Target::AsOf => "leaderboard OPEN/MEN at a past step, first 20",
    };
    println!("entries            {} ({what})", args.entries);
    println!("clients            {}", args.concurrency);
    println!(
        "rate limits        {}",
        if args.redis_url.is_some() {
            "shared through Redis"
        } else {
            "in process"
        }
    );
    println!(
        "requests           {} in {} s: {:.0} requests/s",
        latencies.len(),
        args.duration,
        latencies.len() as f64 / args.duration as f64
    );
    println!(
        "latency            p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        quantile(&latencies, 0.999),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!("failures           {failures}");
    if failures > 0 {
        bail!("{failures} requests failed");
    }
    Ok(())
}
