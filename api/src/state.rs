//! Shared application state: the adapters every handler needs, injected as `Arc<dyn Port>`.

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::service::IngestReport;
use podium_domain::ports::RaceRepository;
use podium_domain::standings::{EventStandings, LeaderboardFilter, StandingRow};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use uuid::Uuid;

#[derive(Clone)]
pub struct AppState {
    pub repo: Arc<dyn RaceRepository>,
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
    pub oauth_failures: Arc<crate::oauth::FailureGuard>,
    /// Cost budgets per caller, by tier.
    pub limits: crate::limits::RateLimits,
    /// Running WebSocket subscriptions per caller.
    pub subscription_caps: crate::limits::SubscriptionCaps,
    pub settings: Arc<Settings>,
    pub standings: StandingsCache,
    pub metrics: Arc<Metrics>,
    /// Fan-out of "event X reached seq N" to live subscribers.
    pub live: crate::live::LiveHub,
    /// Whether the database was found unreachable (answer 503 at once until it is back).
    pub database: Arc<crate::database::DatabaseGate>,
}

/// Standings and the event `seq` they were built at.
type Versioned = (i64, Arc<EventStandings>);

/// The rows of one filtered leaderboard that one step changed, with their ranks after it.
pub type ChangedRows = Arc<Vec<(Option<u32>, StandingRow)>>;
type DeltaKey = (Uuid, i64, LeaderboardFilter);
type DeltaCell = tokio::sync::OnceCell<ChangedRows>;

/// Steps per event whose deltas are kept (subscribers more than this behind recompute).
const DELTA_STEPS: i64 = 16;
/// Most deltas kept over all events.
const DELTA_ENTRIES: usize = 1024;

/// Events whose standings are kept; beyond, the one built longest ago is dropped (it is
/// rebuilt from the database when asked for again).
const CACHED_EVENTS: usize = 64;

/// Built standings per event, keyed by the event `seq` they were built at.
#[derive(Clone, Default)]
pub struct StandingsCache {
    inner: Arc<RwLock<HashMap<Uuid, Versioned>>>,
    /// When each event's standings were last stored, for eviction.
    built: Arc<Mutex<HashMap<Uuid, std::time::Instant>>>,
    /// A step's changed rows per leaderboard filter, shared by its live subscriptions.
    deltas: Arc<Mutex<HashMap<DeltaKey, Arc<DeltaCell>>>>,
    /// One build at a time per event: a change seen by thousands of live subscribers at once
    /// builds the standings once.
    building: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

impl StandingsCache {
    /// The newest standings, when built at `seq` or later.
    pub fn at_least(&self, event_id: Uuid, seq: i64) -> Option<Versioned> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.get(&event_id).filter(|(s, _)| *s >= seq).cloned()
    }

    /// The lock a builder of `event_id`'s standings holds.
    pub fn build_lock(&self, event_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.building.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(event_id).or_default().clone()
    }

    /// Keeps the newest standings per event; an older build never replaces a newer one.
    pub fn put(&self, event_id: Uuid, seq: i64, standings: Arc<EventStandings>) {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match map.get(&event_id) {
            Some((current, _)) if *current > seq => {}
            _ => {
                map.insert(event_id, (seq, standings));
            }
        }
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        built.insert(event_id, std::time::Instant::now());
        while built.len() > CACHED_EVENTS {
            let Some(oldest) = built.iter().min_by_key(|(_, at)| **at).map(|(id, _)| *id) else {
                break;
            };
            built.remove(&oldest);
            map.remove(&oldest);
        }
    }

    /// The shared slot of a step's changed rows for `filter`: the first live subscription to
    /// get there computes them, the others wait for that and reuse it.
    pub fn delta_cell(
        &self,
        event_id: Uuid,
        seq: i64,
        filter: LeaderboardFilter,
    ) -> Arc<DeltaCell> {
        let mut deltas = self.deltas.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = deltas.get(&(event_id, seq, filter)) {
            return cell.clone();
        }
        if deltas.len() >= DELTA_ENTRIES {
            deltas.clear();
        }
        deltas.retain(|(event, step, _), _| *event != event_id || *step + DELTA_STEPS > seq);
        let cell = Arc::new(DeltaCell::new());
        deltas.insert((event_id, seq, filter), cell.clone());
        cell
    }

    /// Events whose standings are held.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counters exported on `/metrics` in the Prometheus text format.
#[derive(Default)]
pub struct Metrics {
    pub detections_accepted: AtomicU64,
    pub detections_duplicate: AtomicU64,
    pub detections_rejected: AtomicU64,
    pub ingest_requests: AtomicU64,
}

impl Metrics {
    pub fn record_ingest(&self, report: &IngestReport) {
        self.ingest_requests.fetch_add(1, Ordering::Relaxed);
        self.detections_accepted
            .fetch_add(report.accepted, Ordering::Relaxed);
        self.detections_duplicate
            .fetch_add(report.duplicates, Ordering::Relaxed);
        self.detections_rejected
            .fetch_add(report.rejected.len() as u64, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let counters = [
            (
                "podium_ingest_requests_total",
                "Ingest requests handled.",
                &self.ingest_requests,
            ),
            (
                "podium_detections_accepted_total",
                "New raw detections stored.",
                &self.detections_accepted,
            ),
            (
                "podium_detections_duplicate_total",
                "Detections recognised as duplicates.",
                &self.detections_duplicate,
            ),
            (
                "podium_detections_rejected_total",
                "Detections rejected as invalid.",
                &self.detections_rejected,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standings_of_at_most_64_events_are_kept_the_oldest_build_goes_first() {
        let cache = StandingsCache::default();
        let first = Uuid::new_v4();
        cache.put(first, 1, Arc::default());
        for _ in 0..CACHED_EVENTS {
            cache.put(Uuid::new_v4(), 1, Arc::default());
        }
        assert_eq!(cache.len(), CACHED_EVENTS);
        assert!(
            cache.at_least(first, 0).is_none(),
            "the oldest build was dropped"
        );
    }

    #[test]
    fn subscriptions_of_one_step_and_filter_share_one_delta_slot() {
        let cache = StandingsCache::default();
        let (event, filter) = (Uuid::new_v4(), LeaderboardFilter::default());
        let a = cache.delta_cell(event, 5, filter);
        assert!(Arc::ptr_eq(&a, &cache.delta_cell(event, 5, filter)));
        let women = LeaderboardFilter {
            gender: Some(podium_domain::division::Gender::Women),
            ..filter
        };
        assert!(!Arc::ptr_eq(&a, &cache.delta_cell(event, 5, women)));
        cache.delta_cell(event, 5 + DELTA_STEPS, filter);
        assert!(
            !Arc::ptr_eq(&a, &cache.delta_cell(event, 5, filter)),
            "steps far behind are dropped (and recomputed if asked again)"
        );
    }
}
