//! `podium-testenv`: the services podium's suite needs, as containers (`testcontainers`).
//!
//! `scripts/test` runs it when neither `TEST_POSTGRES_URL` nor `TEST_DATABASE_URL` is set and
//! a Docker engine answers. It starts `timescale/timescaledb` (PostgreSQL with the TimescaleDB
//! extension, so the PostgreSQL pass of the suite runs on hypertables, with every unique key
//! holding the time column) and `redis`, prints where they listen as shell assignments
//!
//! ```text
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:49153/postgres
//! TEST_REDIS_URL=redis://127.0.0.1:49154
//! ```
//!
//! and keeps them until its standard input closes (the suite is over), then removes them.
//! Without a Docker engine it exits with status 3 and says so; the suite then runs on the
//! services it was given, or on SQLite.

use anyhow::Context;
use std::io::Write;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

/// The TimescaleDB image: PostgreSQL 15, as podium's production target.
const TIMESCALEDB: (&str, &str) = ("timescale/timescaledb", "2.17.2-pg15");
const REDIS: (&str, &str) = ("redis", "7.4-alpine");

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("podium-testenv: {e:#}");
        std::process::exit(3);
    }
}

async fn run() -> anyhow::Result<()> {
    // The image's entrypoint runs `initdb`, then restarts the server: the second "ready"
    // line is the one that accepts connections from outside.
    let postgres = GenericImage::new(TIMESCALEDB.0, TIMESCALEDB.1)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
        .with_env_var("TIMESCALEDB_TELEMETRY", "off")
        .start()
        .await
        .context("starting TimescaleDB (is a Docker engine running?)")?;
    let redis = GenericImage::new(REDIS.0, REDIS.1)
        .with_exposed_port(6379.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .start()
        .await
        .context("starting Redis")?;
    let host = postgres.get_host().await?;
    let postgres_port = postgres.get_host_port_ipv4(5432).await?;
    let redis_port = redis.get_host_port_ipv4(6379).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "TEST_POSTGRES_URL=postgres://postgres@{host}:{postgres_port}/postgres"
    )?;
    writeln!(out, "TEST_REDIS_URL=redis://{host}:{redis_port}")?;
    out.flush()?;
    drop(out);
    // Until the suite closes our standard input.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await;
    postgres.rm().await.ok();
    redis.rm().await.ok();
    Ok(())
}
