//! Import benchmark: the four public events of `testdata/hyrox-results/` replicated (each copy
//! its own source event, dates shifted by a day per copy) up to `--results` results, imported
//! in process through `app::import` into a fresh database, as `podium import results` does.

use clap::Parser;
use podium_loadtests::{backend, bench_settings, import_public_results, on_fresh_database};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// PostgreSQL server (a fresh database is created on it) or a sqlite:// URL
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Results to import (the four events are copied until there are this many).
    #[arg(long, default_value_t = 100_000)]
    results: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let args = &args;
    on_fresh_database(&args.database_url, |url| async move {
        let data_dir =
            std::env::temp_dir().join(format!("podium-import-bench-{}", std::process::id()));
        let state = podium_api::build_state(bench_settings(&url, data_dir)?).await?;
        let started = Instant::now();
        let report = import_public_results(&state, args.results).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let entries: usize = report.events.iter().map(|e| e.entries).sum();
        println!("backend            {}", backend(&url));
        println!(
            "results            {} in {} events ({} rejected)",
            entries,
            report.events.len(),
            report.rejected.len()
        );
        println!("import time        {elapsed:.1} s");
        println!(
            "throughput         {:.0} results/s",
            entries as f64 / elapsed
        );
        Ok(())
    })
    .await
}
