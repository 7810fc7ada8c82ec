//! Import benchmark: the four public events of `testdata/hyrox-results/` replicated (each copy
//! its own source event, dates shifted by a day per copy) up to `--results` results, imported
//! in process through `app::import` into a fresh database, as `podium import results` does.

use clap::Parser;
use podium_api::app::import::{import_results, ImportOptions, ImportReport, SourceLine};
use podium_api::auth::{dev_claims, Principal, Role};
use podium_domain::public_results::DivisionWords;
use podium_loadtests::{backend, bench_settings, on_fresh_database};
use serde_json::Value;
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

const FILES: [&str; 4] = [
    "hyrox-2018-essen.jsonl",
    "hyrox-2018-wien.jsonl",
    "hyrox-2019-karlsruhe.jsonl",
    "hyrox-2019-nuernberg.jsonl",
];

/// `results` lines: copy `k` of every event is named `<event> #k` and starts `k` days later.
fn source(results: usize) -> anyhow::Result<Vec<String>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/hyrox-results");
    let mut rows = Vec::new();
    for file in FILES {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let args = &args;
    on_fresh_database(&args.database_url, |url| async move {
        let lines = source(args.results)?;
        let data_dir =
            std::env::temp_dir().join(format!("podium-import-bench-{}", std::process::id()));
        let state = podium_api::build_state(bench_settings(&url, data_dir)?).await?;
        let admin = Principal::from_claims(dev_claims(Role::Admin, None, vec![], None));
        let options = ImportOptions {
            venue_id: None,
            timezone: chrono_tz::Europe::Berlin,
            course: podium_domain::course::HYROX_STANDARD.into(),
            words: DivisionWords::default(),
        };
        let started = Instant::now();
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
            &state,
            &admin,
            "bench",
            source_lines,
            &options,
            &mut report,
            &mut |_| {},
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
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
