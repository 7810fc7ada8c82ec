//! The use cases every transport shares, transport-free: they check permissions, turn input
//! into domain requests, call the ports and shape the answer. `AppState` holds the ports
//! (`Arc<dyn Port>`) and caches, built once by `build_state`.
//!
//! Nothing here names axum, async-graphql or tungstenite, nor imports `crate::transport`
//! (checked by `api/tests/api/layering.rs`).

pub mod access;
pub mod activity_files;
pub mod analytics;
pub mod athletes;
pub mod database;
pub mod exports;
pub mod fatigue;
pub mod import;
pub mod officiating;
pub mod prediction;
pub mod race;
pub mod records;
pub mod training;
pub mod webhooks;

pub use race::{ChangedRows, HistoryCache, StandingsCache};

use crate::auth::Authenticator;
use crate::config::Settings;
pub use crate::metrics::Metrics;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub repo: Arc<dyn podium_domain::ports::RaceRepository>,
    pub auth: Arc<Authenticator>,
    /// Signing keys and API clients (podium as an authorization server).
    pub access: Arc<dyn podium_domain::ports::AccessRepository>,
    /// Athletes across events: profiles, privacy, coach access.
    pub athletes: Arc<dyn podium_domain::ports::AthleteRepository>,
    /// Seals secrets stored in the database (`secrets_key`).
    pub sealer: crate::auth::sealing::Sealer,
    /// Webhook endpoints and deliveries.
    pub webhooks: Arc<dyn podium_domain::ports::WebhookRepository>,
    /// Failed `/oauth/token` attempts per client id and address.
    pub oauth_failures: Arc<crate::app::access::FailureGuard>,
    /// Cost budgets per caller, by tier.
    pub limits: crate::limits::RateLimits,
    /// Running WebSocket subscriptions per caller.
    pub subscription_caps: crate::limits::SubscriptionCaps,
    pub settings: Arc<Settings>,
    pub standings: StandingsCache,
    /// Change logs read for standings at past steps.
    pub history: HistoryCache,
    /// Evaluated fields per event step, segment statistics per step and division.
    pub analytics: analytics::AnalyticsCache,
    /// Cross-event analytics over the per-segment table.
    pub analytics_repo: Arc<dyn podium_domain::ports::AnalyticsRepository>,
    /// Cross-event answers per version of the official results.
    pub records: records::RecordsCache,
    /// Finish prediction models and their training data.
    pub predictions_repo: Arc<dyn podium_domain::ports::PredictionRepository>,
    /// Athletes' training and wellness samples.
    pub wellness: Arc<dyn podium_domain::ports::WellnessRepository>,
    /// Fitted fatigue models per athlete, and the population prior.
    pub fatigue: Arc<fatigue::FatigueCache>,
    /// The active prediction model and each event's latest predictions.
    pub predictor: Arc<prediction::Predictor>,
    pub metrics: Arc<Metrics>,
    /// Fan-out of "event X reached seq N" to live subscribers.
    pub live: crate::live::LiveHub,
    /// Whether the database was found unreachable (answer 503 at once until it is back).
    pub database: Arc<database::DatabaseGate>,
    /// The database connection pool, for `/metrics`.
    pub pool: podium_persistence::Pool,
    /// What podium uses of TimescaleDB, decided at start (for `/readyz`).
    pub timescale: Arc<podium_persistence::Timescale>,
}
