//! Race analytics: segment statistics of an event's field, live while it runs (kept per event
//! `seq`, so every caller at one step shares one computation) and final once it is official.

use crate::app::race::load_event;
use crate::app::AppState;
use crate::error::ApiError;
use podium_domain::engine::evaluate;
use podium_domain::standings::LeaderboardFilter;
use podium_domain::stats::{segment_distributions, Distribution};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Statistics kept (event, seq, division); beyond, the oldest computed are dropped.
const KEPT: usize = 256;

type Key = (Uuid, i64, LeaderboardFilter);
/// The statistics of one key, with the tick they were computed at.
type Kept = (Arc<Vec<Distribution>>, u64);

/// Segment statistics by event step and division.
#[derive(Default, Clone)]
pub struct StatsCache {
    kept: Arc<Mutex<HashMap<Key, Kept>>>,
    clock: Arc<std::sync::atomic::AtomicU64>,
}

impl StatsCache {
    fn get(&self, key: &Key) -> Option<Arc<Vec<Distribution>>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(key).map(|(stats, _)| stats.clone())
    }

    fn put(&self, key: Key, stats: Arc<Vec<Distribution>>) {
        let tick = self
            .clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(key, (stats, tick));
        while kept.len() > KEPT {
            let Some(oldest) = kept.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k) else {
                break;
            };
            kept.remove(&oldest);
        }
    }
}

/// The distribution of every segment of the event's course and of the totals (`RUNS`,
/// `STATIONS`, `ROXZONE`, `TOTAL`) over the division's finished entries, measured splits only
/// (see `podium_domain::stats`).
pub async fn segment_stats(
    state: &AppState,
    event_id: Uuid,
    filter: LeaderboardFilter,
) -> Result<Arc<Vec<Distribution>>, ApiError> {
    let event = load_event(state, event_id).await?;
    let key = (event.id, event.seq, filter);
    if let Some(stats) = state.stats.get(&key) {
        return Ok(stats);
    }
    let records = state.repo.entry_records(&event).await?;
    let field: Vec<_> = records
        .iter()
        .filter(|r| filter.admits(r.entry.category, r.entry.gender, r.entry.age_group))
        .map(|r| {
            evaluate(
                &event.course,
                &r.timeline,
                Some(r.entry.wave_start),
                &r.adjustments,
            )
        })
        .collect();
    let stats = Arc::new(segment_distributions(&event.course, &field));
    state.stats.put(key, stats.clone());
    Ok(stats)
}
