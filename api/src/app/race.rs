//! The race: events and entries as the transports see them, ingest of detections, and the
//! standings cache every leaderboard, result and live update reads from.

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use podium_domain::course::TimingPointCode;
use podium_domain::engine::{evaluate, Progress};
use podium_domain::live::{EntryChange, EventChange};
use podium_domain::model::{Entry, Event};
use podium_domain::ports::IndexedDetection;
use podium_domain::standings::{EventStandings, Ranks};
use podium_domain::standings::{LeaderboardFilter, StandingRow};
use podium_domain::timing::{Bib, Detection, ReadId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::{Mutex, RwLock};
use uuid::Uuid;

/// One detection as a client sends it; every field optional so a bad row can be named, not
/// fail the batch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawDetection {
    pub bib: Option<serde_json::Value>,
    pub timing_point: Option<String>,
    pub timestamp: Option<String>,
    pub read_id: Option<String>,
    pub device_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
}

/// What an ingest request did, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejection>,
    pub seq: i64,
}

fn parse_row(event: &Event, raw: RawDetection) -> Result<IndexedDetection, String> {
    let bib = match raw.bib {
        None | Some(serde_json::Value::Null) => return Err("missing field `bib`".into()),
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("bib: expected a string, got {other}")),
    };
    let bib = Bib::parse(&bib).map_err(|e| e.to_string())?;
    let point = raw.timing_point.ok_or("missing field `timingPoint`")?;
    let point = TimingPointCode::parse(&point).map_err(|e| e.to_string())?;
    let timestamp = raw.timestamp.ok_or("missing field `timestamp`")?;
    let at = Timestamp::parse(&timestamp).map_err(|e| e.to_string())?;
    let read_id = raw
        .read_id
        .as_deref()
        .map(ReadId::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    if let Some(device) = &raw.device_id {
        if device.len() > 128 {
            return Err("deviceId: must be at most 128 characters".into());
        }
        podium_domain::check_text("deviceId", device, false).map_err(|e| e.to_string())?;
    }
    let detection = Detection {
        bib,
        point,
        at,
        read_id,
        device_id: raw.device_id,
        estimated: false,
    };
    let point_index = event
        .check_detection(&detection)
        .map_err(|e| e.to_string())?;
    Ok(IndexedDetection {
        index: 0,
        point_index,
        detection,
    })
}

/// Ingests a batch for `event_id`. Rows that cannot be parsed arrive as `Err(reason)`.
#[tracing::instrument(name = "ingest", skip_all, fields(event = %event_id, rows = rows.len()))]
pub async fn ingest(
    state: &AppState,
    principal: &Principal,
    event_id: Uuid,
    rows: Vec<Result<RawDetection, String>>,
) -> Result<IngestReport, ApiError> {
    let event = load_event(state, event_id).await?;
    principal.may_write_timing(&event)?;
    if !event.status.accepts_detections() {
        return Err(ApiError::Conflict(format!(
            "event {} is {} and accepts no detections",
            event.id, event.status
        )));
    }
    if rows.len() > state.settings.max_batch {
        return Err(ApiError::BadRequest(format!(
            "a batch holds at most {} detections, this one {}",
            state.settings.max_batch,
            rows.len()
        )));
    }
    let mut report = IngestReport::default();
    let mut valid = Vec::with_capacity(rows.len());
    for (index, row) in rows.into_iter().enumerate() {
        match row.and_then(|raw| parse_row(&event, raw)) {
            Ok(mut d) => {
                d.index = index;
                valid.push(d);
            }
            Err(reason) => report.rejected.push(Rejection { index, reason }),
        }
    }
    let outcome = state.repo.ingest(&event, valid).await?;
    if outcome.seq > event.seq {
        state.metrics.step_accepted(event.id, outcome.seq);
        state.live.notify(event.id, outcome.seq);
    }
    report.accepted = outcome.accepted;
    report.duplicates = outcome.duplicates;
    report.seq = outcome.seq;
    for index in outcome.unknown_bibs {
        report.rejected.push(Rejection {
            index,
            reason: format!("bib: not registered for event {}", event.id),
        });
    }
    report.rejected.sort_by_key(|r| r.index);
    state.metrics.record_ingest(
        report.accepted,
        report.duplicates,
        report.rejected.len() as u64,
    );
    Ok(report)
}

pub async fn load_event(state: &AppState, event_id: Uuid) -> Result<Event, ApiError> {
    state
        .repo
        .event(event_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {event_id}")))
}

/// The event's standings at its `seq` (or newer), rebuilt only when the `seq` moved.
pub async fn standings(state: &AppState, event: &Event) -> Result<Arc<EventStandings>, ApiError> {
    standings_at(state, event.id, event.seq, None).await
}

/// Change-log steps read per query when rebuilding past standings.
const HISTORY_PAGE: u64 = 1_000;
/// Events whose change log is kept in memory for past standings.
const HISTORY_EVENTS: usize = 8;

/// Each event's change log as read so far (it only ever grows at the end, so what was read
/// stays true), for standings at past steps; at most `HISTORY_EVENTS` events, the least
/// recently asked dropped first.
#[derive(Clone, Default)]
pub struct HistoryCache {
    inner: Arc<Mutex<HashMap<Uuid, HeldLog>>>,
}

/// An event's change log as read so far, and when it was last asked for.
type HeldLog = (Arc<Vec<EventChange>>, std::time::Instant);

impl HistoryCache {
    /// The event's change log through at least step `seq` (when the event has reached it).
    async fn through(
        &self,
        state: &AppState,
        event_id: Uuid,
        seq: i64,
    ) -> Result<Arc<Vec<EventChange>>, ApiError> {
        let cached = {
            let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            map.get_mut(&event_id).map(|(log, used)| {
                *used = std::time::Instant::now();
                log.clone()
            })
        };
        let mut log = cached.unwrap_or_default();
        let mut after = log.last().map_or(0, |c| c.seq);
        if after >= seq {
            return Ok(log);
        }
        let mut longer = log.as_ref().clone();
        while after < seq {
            let page = state.repo.changes(event_id, after, HISTORY_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            longer.extend(page);
        }
        log = Arc::new(longer);
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let keep = map
            .get(&event_id)
            .is_none_or(|(held, _)| held.last().map(|c| c.seq) < log.last().map(|c| c.seq));
        if keep {
            map.insert(event_id, (log.clone(), std::time::Instant::now()));
        }
        while map.len() > HISTORY_EVENTS {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            map.remove(&oldest);
        }
        Ok(log)
    }
}

/// The event's standings as they stood after step `seq` (the current ones from the event's
/// `seq` on), rebuilt from the change log over today's entries.
pub async fn standings_as_of(
    state: &AppState,
    event: &Event,
    seq: i64,
) -> Result<Arc<EventStandings>, ApiError> {
    let current = standings(state, event).await?;
    if seq >= event.seq {
        return Ok(current);
    }
    let log = state.history.through(state, event.id, seq).await?;
    Ok(Arc::new(EventStandings::as_of(
        current.rows().to_vec(),
        log.iter(),
        seq,
    )))
}

/// The step a past view asks for: `as_of_seq` (no later than the event's current step), the
/// step the event had reached at `as_of`, or the current one when neither is given.
pub async fn past_seq(
    state: &AppState,
    event: &Event,
    as_of_seq: Option<i64>,
    as_of: Option<Timestamp>,
) -> Result<i64, ApiError> {
    match (as_of_seq, as_of) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "asOfSeq and asOf: give one of them, not both".into(),
        )),
        (Some(seq), None) if seq < 0 => {
            Err(ApiError::BadRequest("asOfSeq: must be 0 or more".into()))
        }
        (Some(seq), None) => Ok(seq.min(event.seq)),
        (None, Some(at)) => Ok(state.repo.seq_at(event.id, at).await?),
        (None, None) => Ok(event.seq),
    }
}

/// Bib `bib`'s result as it stood after step `seq`: rebuilt from the reads received and the
/// corrections made by then (each step divides them by the instant it was written), ranked in
/// the standings of that step, with the event's status then. `None` when the bib was not
/// registered yet.
pub async fn entry_result_as_of(
    state: &AppState,
    event_id: Uuid,
    bib: &str,
    seq: i64,
) -> Result<Option<EntryResult>, ApiError> {
    let event = load_event(state, event_id).await?;
    if seq >= event.seq {
        return entry_result(state, event_id, bib).await;
    }
    let bib = Bib::parse(bib)?;
    let Some(record) = state.repo.entry_record(&event, &bib).await? else {
        return Ok(None);
    };
    let standings = standings_as_of(state, &event, seq).await?;
    let Some((_, ranks)) = standings.entry(&bib) else {
        return Ok(None);
    };
    let then = match state.repo.seq_time(event.id, seq).await? {
        Some(then) => then,
        None => return Ok(None),
    };
    let reads = state.repo.raw_reads(&event, &bib).await?;
    let received = reads.iter().filter(|r| r.received_at <= then);
    let corrections: Vec<_> = state
        .repo
        .corrections(&event, Some(&bib))
        .await?
        .into_iter()
        .filter(|c| c.created_at <= then)
        .collect();
    let ruling = podium_domain::corrections::Ruling::of(&event.course, &corrections);
    let timeline = ruling.timeline_of_reads(&event.course, received);
    let progress = evaluate(
        &event.course,
        &timeline,
        Some(record.entry.wave_start),
        &ruling.adjustments,
    );
    let log = state.history.through(state, event.id, seq).await?;
    let status = log
        .iter()
        .take_while(|c| c.seq <= seq)
        .last()
        .map_or(podium_domain::model::EventStatus::Scheduled, |c| c.status);
    Ok(Some(EntryResult {
        event: Event {
            status,
            seq,
            ..event
        },
        entry: record.entry,
        progress,
        ranks,
    }))
}

/// The rows of `filter`'s leaderboard that `change` touched, with their ranks after it:
/// computed once per step and filter, shared by every live subscription that shows them.
pub async fn changed_rows(
    state: &AppState,
    change: &EventChange,
    filter: podium_domain::standings::LeaderboardFilter,
) -> Result<ChangedRows, ApiError> {
    let cell = state
        .standings
        .delta_cell(change.event_id, change.seq, filter);
    let rows = cell
        .get_or_try_init(|| async {
            let standings = standings_after(state, change).await?;
            let changed: std::collections::HashSet<&Bib> =
                change.entries.iter().map(|e| &e.bib).collect();
            let rows = standings
                .ranked_rows(filter, |row| changed.contains(&row.bib))
                .into_iter()
                .map(|(rank, row)| (rank, row.clone()))
                .collect();
            Ok::<_, ApiError>(Arc::new(rows))
        })
        .await?;
    Ok(rows.clone())
}

/// Standings that include at least `change`, for live updates, where many subscribers ask for
/// the same step at once; built from the previous step's standings with the change applied
/// when those are cached (no database round trip).
pub async fn standings_after(
    state: &AppState,
    change: &EventChange,
) -> Result<Arc<EventStandings>, ApiError> {
    standings_at(state, change.event_id, change.seq, Some(&change.entries)).await
}

/// The cached standings when built at `seq` or later; else built once per event at a time
/// (callers that waited take the result): from the predecessor plus `changes` when given and
/// cached, otherwise from the store.
async fn standings_at(
    state: &AppState,
    event_id: Uuid,
    seq: i64,
    changes: Option<&[EntryChange]>,
) -> Result<Arc<EventStandings>, ApiError> {
    if let Some((_, cached)) = state.standings.at_least(event_id, seq) {
        return Ok(cached);
    }
    let lock = state.standings.build_lock(event_id);
    let _building = lock.lock().await;
    if let Some((_, cached)) = state.standings.at_least(event_id, seq) {
        return Ok(cached);
    }
    let applied = changes.and_then(|changes| {
        let (_, previous) = state.standings.at_least(event_id, seq - 1)?;
        previous.apply(changes)
    });
    let built = match applied {
        Some(standings) => Arc::new(standings),
        None => Arc::new(EventStandings::build(state.repo.standings(event_id).await?)),
    };
    state.standings.put(event_id, seq, built.clone());
    Ok(built)
}

/// One entry's full result.
pub struct EntryResult {
    pub event: Event,
    pub entry: Entry,
    pub progress: Progress,
    pub ranks: Ranks,
}

pub async fn entry_result(
    state: &AppState,
    event_id: Uuid,
    bib: &str,
) -> Result<Option<EntryResult>, ApiError> {
    let bib = Bib::parse(bib)?;
    let event = load_event(state, event_id).await?;
    let Some(record) = state.repo.entry_record(&event, &bib).await? else {
        return Ok(None);
    };
    let standings = standings(state, &event).await?;
    let ranks = standings.entry(&bib).map(|(_, r)| r).unwrap_or_default();
    let progress = evaluate(
        &event.course,
        &record.timeline,
        Some(record.entry.wave_start),
        &record.adjustments,
    );
    Ok(Some(EntryResult {
        event,
        entry: record.entry,
        progress,
        ranks,
    }))
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
