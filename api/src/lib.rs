//! podium's server: configuration, telemetry, auth, GraphQL and HTTP, and the `podium`
//! command's sub-commands. `main.rs` only parses the command line and calls in here.

pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod scope;
pub mod telemetry;
pub mod transport;

use crate::metrics::Metrics;
use anyhow::Context;
use app::{AppState, StandingsCache};
use config::Settings;
use podium_persistence::SeaRepository;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Connects to the configured database (creating the data directory for SQLite), migrates it
/// and builds the application state.
pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let url = settings.effective_database_url();
    if settings.http_header_timeout_ms == 0 || settings.http_body_timeout_ms == 0 {
        anyhow::bail!("http_header_timeout_ms and http_body_timeout_ms must be at least 1");
    }
    if settings.database_acquire_timeout_ms == 0 {
        anyhow::bail!("database_acquire_timeout_ms must be at least 1");
    }
    let acquire = std::time::Duration::from_millis(settings.database_acquire_timeout_ms);
    let db = podium_persistence::connect_with(&url, acquire)
        .await
        .context("connecting to the database")?;
    if settings.wellness_compress_after_days == 0 {
        anyhow::bail!("wellness_compress_after_days must be at least 1");
    }
    let timescale = podium_persistence::prepare_and_migrate(
        &db,
        settings.timescaledb.into(),
        settings.timescale_policies(),
    )
    .await
    .context("migrating the database")?;
    if (settings.detections_retention_days > 0 || settings.wellness_retention_days > 0)
        && !timescale.features.retention
    {
        anyhow::bail!(
            "detections_retention_days and wellness_retention_days need TimescaleDB's community edition ({}); set them to 0 to keep everything",
            timescale.support.code()
        );
    }
    if let Some(line) = timescale.summary() {
        match timescale.support {
            podium_persistence::timescale::Support::Unusable(_) => tracing::warn!("{line}"),
            _ => tracing::info!("{line}"),
        }
    }
    let auth = Arc::new(auth::Authenticator::new(&settings)?);
    if !(settings.fatigue_alert_acwr_low.is_finite()
        && settings.fatigue_alert_acwr_high.is_finite()
        && settings.fatigue_alert_tsb_floor.is_finite()
        && settings.fatigue_alert_acwr_low < settings.fatigue_alert_acwr_high)
    {
        anyhow::bail!(
            "fatigue_alert_acwr_low must be below fatigue_alert_acwr_high, and both and fatigue_alert_tsb_floor numbers"
        );
    }
    if settings.webhook_poll_ms == 0 || settings.webhook_timeout_ms == 0 {
        anyhow::bail!("webhook_poll_ms and webhook_timeout_ms must be at least 1");
    }
    if settings.graphql_timeout_ms == 0 {
        anyhow::bail!("graphql_timeout_ms must be at least 1");
    }
    if settings.live_poll_ms == 0 {
        anyhow::bail!("live_poll_ms must be at least 1");
    }
    podium_domain::records::SeasonStart::parse(&settings.season_start)
        .map_err(|e| anyhow::anyhow!("setting `season_start`: {}", e.message))?;
    if settings.live_recent_steps == 0 {
        anyhow::bail!("live_recent_steps must be at least 1");
    }
    let store = Arc::new(SeaRepository::new(db).await?);
    let pool = store.pool();
    let filled = store.backfill_segment_times().await?;
    if filled > 0 {
        tracing::info!(
            events = filled,
            "result_splits filled for events official before it"
        );
    }
    let repo: Arc<dyn podium_domain::ports::RaceRepository> = store.clone();
    let athletes: Arc<dyn podium_domain::ports::AthleteRepository> = store.clone();
    let webhook_store: Arc<dyn podium_domain::ports::WebhookRepository> = store.clone();
    let analytics_repo: Arc<dyn podium_domain::ports::AnalyticsRepository> = store.clone();
    let predictions_repo: Arc<dyn podium_domain::ports::PredictionRepository> = store.clone();
    let wellness: Arc<dyn podium_domain::ports::WellnessRepository> = store.clone();
    let access: Arc<dyn podium_domain::ports::AccessRepository> = store;
    let sealer = auth::sealing::Sealer::new(
        settings
            .secrets_key
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret),
    )?;
    if settings.mode == config::Mode::Production && !sealer.seals() {
        tracing::warn!("no secrets_key: signing keys and webhook secrets are stored in clear");
    }
    auth.attach_store(
        access.clone(),
        app::access::retirement_window(settings.token_ttl_secs),
        sealer.clone(),
    );
    let metrics = Arc::new(Metrics::default());
    let live = live::LiveHub::new(
        repo.clone(),
        std::time::Duration::from_millis(settings.live_poll_ms),
        settings.live_recent_steps,
    )
    .with_metrics(metrics.clone());
    if let Some(url) = &settings.redis_url {
        live::fanout::start(live.clone(), secrecy::ExposeSecret::expose_secret(url))?;
    }
    let oauth_failures = Arc::new(app::access::FailureGuard::new(
        settings.oauth_failures_per_min,
    ));
    let limits = limits::RateLimits::new(&settings)?.with_metrics(metrics.clone());
    limits.start_housekeeping(std::time::Duration::from_secs(60));
    let state = AppState {
        limits,
        subscription_caps: Default::default(),
        repo,
        athletes,
        sealer,
        webhooks: webhook_store,
        access,
        oauth_failures,
        auth,
        settings: Arc::new(settings),
        standings: StandingsCache::default(),
        history: Default::default(),
        analytics: Default::default(),
        analytics_repo,
        records: Default::default(),
        predictions_repo,
        wellness,
        fatigue: Default::default(),
        predictor: Default::default(),
        metrics,
        live,
        database: Default::default(),
        pool,
        timescale: Arc::new(timescale),
    };
    app::access::load_keys(&state)
        .await
        .context("loading the token signing keys")?;
    app::webhooks::start(state.clone())?;
    app::prediction::load_active(&state)
        .await
        .context("loading the active prediction model")?;
    app::prediction::train_if_missing(&state).await?;
    app::prediction::start_refresh(state.clone(), std::time::Duration::from_secs(30));
    state
        .auth
        .set_revoked(state.access.revoked_clients().await?);
    app::access::start_revocation_refresh(state.clone(), std::time::Duration::from_secs(10));
    Ok(state)
}

/// A bound, ready-to-serve podium.
pub struct Application {
    listener: tokio::net::TcpListener,
    /// `metrics_bind`'s listener and what it serves.
    internal: Option<(tokio::net::TcpListener, axum::Router)>,
    router: axum::Router,
    live: live::LiveHub,
    settings: Arc<Settings>,
}

impl Application {
    pub async fn build(state: AppState) -> anyhow::Result<Self> {
        let bind = state.settings.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        let internal = match state.settings.metrics_bind {
            None => None,
            Some(at) => Some((
                tokio::net::TcpListener::bind(at)
                    .await
                    .with_context(|| format!("binding metrics_bind {at}"))?,
                transport::http::health::internal_router(state.clone()),
            )),
        };
        Ok(Self {
            listener,
            internal,
            live: state.live.clone(),
            settings: state.settings.clone(),
            router: transport::router(state),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Where `/metrics` is served without a token (`metrics_bind`), if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.internal
            .as_ref()
            .map(|(l, _)| l.local_addr().expect("bound listener has an address"))
    }

    /// Serves until `shutdown` completes: then stops accepting, closes WebSocket connections
    /// with 1001 (clients reconnect elsewhere and resume with `afterSeq`), finishes in-flight
    /// requests (an ingest in progress commits or rolls back whole) and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        if let Some((listener, router)) = self.internal {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::warn!(error = %e, "metrics listener");
                }
            });
        }
        let live = self.live.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: closing live connections");
            live.shut_down(std::time::Duration::from_secs(5)).await;
        };
        transport::http::server::serve(self.listener, self.router, &self.settings, signal).await
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
