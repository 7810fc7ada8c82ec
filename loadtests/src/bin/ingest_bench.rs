//! Ingest benchmark: a 3,000-entry race day (≈75,000 detections, shuffled, with duplicates and
//! missed mats) posted over HTTP in batches; reports detections/s, total time and per-request
//! latency, then re-ingests everything and checks that nothing changes.
//!
//! cargo run --release -p podium-loadtests --bin ingest_bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres

use anyhow::bail;
use clap::Parser;
use podium_api::cli::demo::detection_json;
use podium_loadtests::{on_fresh_database, quantile, serve_race_day, storage};
use serde_json::Value;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// PostgreSQL server (a fresh database is created on it) or a sqlite:// URL.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    #[arg(long, default_value_t = 3_000)]
    entries: usize,
    /// Detections per request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
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

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let (_, client, event_id, race) =
        serve_race_day(url, None, "ingest benchmark", args.seed, args.entries).await?;
    let batches: Vec<Vec<Value>> = race
        .reads
        .chunks(args.batch)
        .map(|c| c.iter().map(detection_json).collect())
        .collect();

    let mut latencies = Vec::with_capacity(batches.len());
    let (mut accepted, mut duplicates) = (0u64, 0u64);
    let started = Instant::now();
    for batch in &batches {
        let t = Instant::now();
        let report = client.ingest(&event_id, batch).await?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        accepted += report["accepted"].as_u64().unwrap_or(0);
        duplicates += report["duplicates"].as_u64().unwrap_or(0);
    }
    let total = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);

    let replay_started = Instant::now();
    let mut replay_accepted = 0;
    for batch in &batches {
        replay_accepted += client.ingest(&event_id, batch).await?["accepted"]
            .as_u64()
            .unwrap_or(0);
    }
    let replay = replay_started.elapsed().as_secs_f64();

    println!("backend            {}", storage(url).await?);
    println!("entries            {}", args.entries);
    println!(
        "detections sent    {} in {} requests of {}",
        race.reads.len(),
        batches.len(),
        args.batch
    );
    println!("accepted           {accepted} (duplicates {duplicates})");
    println!("total time         {total:.2} s");
    println!(
        "throughput         {:.0} detections/s",
        race.reads.len() as f64 / total
    );
    println!(
        "request latency    p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!("re-ingest          {replay:.2} s, accepted {replay_accepted}");
    if replay_accepted != 0 {
        bail!("re-ingesting changed {replay_accepted} detections");
    }
    Ok(())
}
