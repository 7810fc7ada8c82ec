//! Result exports as rows: every entry of a filtered leaderboard in standings order, with its
//! ranks and every known split (cached per event `seq`). Rendering them as CSV, JSON or NDJSON
//! is the HTTP transport's (`transport::http::exports`).

use crate::app::athletes::shown_athlete;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use podium_domain::course::Course;
use podium_domain::engine::evaluate;
use podium_domain::model::{Event, EventStatus};
use podium_domain::standings::{EventStandings, LeaderboardFilter};
use podium_domain::timing::Bib;
use serde::Serialize;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// One known split: the course segments it covers, its duration, and whether it ends at a
/// placed (estimated) read.
pub type SplitCell = (Range<usize>, i64, bool);
type EventSplits = Arc<HashMap<Bib, Vec<SplitCell>>>;
/// Splits as of a `seq`, and when they were last used.
type CachedSplits = (i64, EventSplits, std::time::Instant);

/// Events whose splits are kept; the least recently exported one is dropped beyond.
const CACHED_EVENTS: usize = 16;

/// Every entry's splits per event, as of the event's `seq` (an export of an unchanged event
/// re-renders, it does not re-evaluate); at most `CACHED_EVENTS` events.
#[derive(Clone, Default)]
pub struct SplitsCache {
    inner: Arc<Mutex<HashMap<Uuid, CachedSplits>>>,
}

impl SplitsCache {
    pub async fn get(&self, state: &AppState, event: &Event) -> Result<EventSplits, ApiError> {
        let cached = {
            let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            map.get_mut(&event.id)
                .filter(|(seq, _, _)| *seq == event.seq)
                .map(|(_, splits, used)| {
                    *used = std::time::Instant::now();
                    splits.clone()
                })
        };
        if let Some(splits) = cached {
            return Ok(splits);
        }
        let records = state.repo.entry_records(event).await?;
        let splits: HashMap<Bib, Vec<SplitCell>> = records
            .into_iter()
            .map(|r| {
                let progress = evaluate(
                    &event.course,
                    &r.timeline,
                    Some(r.entry.wave_start),
                    &r.adjustments,
                );
                let cells = progress
                    .splits
                    .iter()
                    .map(|s| (s.segments(), s.duration.0, s.estimated))
                    .collect();
                (r.entry.bib, cells)
            })
            .collect();
        let splits = Arc::new(splits);
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&event.id) {
            Some((seq, _, _)) if *seq > event.seq => {}
            _ => {
                map.insert(
                    event.id,
                    (event.seq, splits.clone(), std::time::Instant::now()),
                );
            }
        }
        keep_recent(&mut map, CACHED_EVENTS);
        Ok(splits)
    }
}

/// Drops the least recently used entries beyond `limit`.
fn keep_recent<K: Copy + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, (i64, V, std::time::Instant)>,
    limit: usize,
) {
    while map.len() > limit {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, (_, _, used))| *used)
            .map(|(key, _)| *key)
        else {
            break;
        };
        map.remove(&oldest);
    }
}

/// A split as JSON exports show it.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SplitJson {
    /// The segment code, or `A+B` over missed mats.
    pub segment: String,
    pub duration_ms: i64,
    pub merged: bool,
    /// It ends at a read placed by an import (a roxzone given only as a total): not measured.
    pub estimated: bool,
}

/// One exported row (CSV columns and JSON fields alike).
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    /// Rank within the export's filter.
    pub rank: Option<u32>,
    pub rank_overall: Option<u32>,
    pub rank_gender: Option<u32>,
    pub rank_age_group: Option<u32>,
    pub bib: String,
    pub athlete_id: Option<String>,
    pub athlete: String,
    pub category: &'static str,
    pub gender: &'static str,
    pub age_group: Option<String>,
    pub status: &'static str,
    pub net_time_ms: Option<i64>,
    /// `H:MM:SS.mmm`.
    pub net_time: Option<String>,
    pub last_timing_point: Option<String>,
    pub start_from_wave: bool,
    /// PROVISIONAL until the event is OFFICIAL.
    pub result_status: &'static str,
    pub splits: Vec<SplitJson>,
    #[serde(skip)]
    pub cells: Vec<SplitCell>,
}

/// `H:MM:SS.mmm` of a duration in milliseconds.
pub fn clock(ms: i64) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    format!("{h}:{m:02}:{:02}.{:03}", rest / 1000, rest % 1000)
}

/// The rows of `filter`'s export in standings order, athletes as `viewer` may see them;
/// `split_names` adds the named splits (JSON) besides the raw cells (CSV lays those out itself).
pub fn rows(
    viewer: &Principal,
    event: &Event,
    course: &Course,
    standings: &EventStandings,
    splits: &HashMap<Bib, Vec<SplitCell>>,
    filter: LeaderboardFilter,
    split_names: bool,
) -> Vec<ExportRow> {
    let result_status = if event.status == EventStatus::Official {
        "OFFICIAL"
    } else {
        "PROVISIONAL"
    };
    standings
        .ranked_rows(filter, |_| true)
        .into_iter()
        .map(|(rank, row)| {
            let ranks = standings
                .entry(&row.bib)
                .map(|(_, ranks)| ranks)
                .unwrap_or_default();
            let cells = splits.get(&row.bib).cloned().unwrap_or_default();
            let athlete = shown_athlete(
                viewer,
                row.athlete_id,
                row.athlete_name.clone(),
                row.athlete_private,
            );
            ExportRow {
                rank,
                rank_overall: ranks.overall,
                rank_gender: ranks.gender,
                rank_age_group: ranks.age_group,
                bib: row.bib.to_string(),
                athlete_id: athlete.id.map(|id| id.to_string()),
                athlete: athlete.name,
                category: row.category.as_str(),
                gender: row.gender.as_str(),
                age_group: row.age_group.map(|a| a.label()),
                status: row.status.as_str(),
                net_time_ms: row.net_time_ms,
                net_time: row.net_time_ms.map(clock),
                last_timing_point: row
                    .last_point
                    .and_then(|p| course.points().get(p))
                    .map(ToString::to_string),
                start_from_wave: row.start_from_wave,
                result_status,
                splits: if !split_names {
                    Vec::new()
                } else {
                    cells
                        .iter()
                        .map(|(segments, ms, estimated)| SplitJson {
                            segment: segment_name(course, segments),
                            duration_ms: *ms,
                            merged: segments.len() > 1,
                            estimated: *estimated,
                        })
                        .collect()
                },
                cells,
            }
        })
        .collect()
}

pub fn segment_name(course: &Course, segments: &Range<usize>) -> String {
    segments
        .clone()
        .map(|k| course.segments()[k].code.clone())
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_the_most_recently_used_events() {
        let start = std::time::Instant::now();
        let mut map: HashMap<u32, (i64, (), std::time::Instant)> = (0..5)
            .map(|i| {
                (
                    i,
                    (0, (), start + std::time::Duration::from_secs(u64::from(i))),
                )
            })
            .collect();
        map.get_mut(&0).unwrap().2 = start + std::time::Duration::from_secs(10);
        keep_recent(&mut map, 3);
        let mut kept: Vec<u32> = map.keys().copied().collect();
        kept.sort();
        assert_eq!(kept, [0, 3, 4]);
    }
}
