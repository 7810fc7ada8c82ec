//! The API test binary: in-process requests against the full router, on SQLite, or on a fresh
//! PostgreSQL database per test when `TEST_DATABASE_URL` is set. `TEST_LOG=1` prints tracing.

mod cluster;
mod helpers;
mod idp;

mod analytics;
mod authorization;
mod backup;
mod caching;
mod db_outage;
mod events;
mod exports;
mod fatigue;
mod hardening;
mod history;
mod hostile;
mod import;
mod ingest;
mod layering;
mod leaderboard;
mod limits;
mod live;
mod matching;
mod metrics;
mod oauth;
mod officiating;
mod pages;
mod prediction;
mod race_day;
mod real_results;
mod records;
mod scale_out;
mod schema;
mod timescaledb;
mod tokens;
mod traces;
mod training;
mod webhook_consumer;
mod webhooks;
mod websocket;
