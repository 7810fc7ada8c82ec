//! Result exports: `GET /v1/events/{eventId}/results.{csv,json,ndjson}`, optionally narrowed by
//! `category`, `gender` and `ageGroup`, in standings order with the ranks the leaderboard and
//! `result` show and every known split (a split over missed mats is listed as merged, never
//! divided). Same visibility as every public view (private athletes anonymised), same
//! scope (`results:read`), charged by rows; `ETag` is the event's `seq`, so a cache or a
//! client asking again with `If-None-Match` gets 304 until something changes.

use crate::app::race;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::transport::graphql::types::AthleteRef;
use crate::transport::http::{HttpState, PeerIp};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use podium_domain::course::Course;
use podium_domain::division::{AgeGroup, Category, Gender};
use podium_domain::engine::evaluate;
use podium_domain::model::{Event, EventStatus};
use podium_domain::standings::{EventStandings, LeaderboardFilter};
use podium_domain::timing::Bib;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// One known split: the course segments it covers and its duration.
type SplitCell = (Range<usize>, i64);
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
    async fn get(
        &self,
        state: &crate::app::AppState,
        event: &Event,
    ) -> Result<EventSplits, ApiError> {
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
                    .map(|s| (s.segments(), s.duration.0))
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
    segment: String,
    duration_ms: i64,
    merged: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Csv,
    Json,
    Ndjson,
}

impl Format {
    fn parse(file: &str) -> Option<Format> {
        match file {
            "results.csv" => Some(Format::Csv),
            "results.json" => Some(Format::Json),
            "results.ndjson" => Some(Format::Ndjson),
            _ => None,
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportQuery {
    category: Option<String>,
    gender: Option<String>,
    age_group: Option<String>,
}

impl ExportQuery {
    fn filter(&self) -> Result<LeaderboardFilter, ApiError> {
        Ok(LeaderboardFilter {
            category: self
                .category
                .as_deref()
                .map(str::parse::<Category>)
                .transpose()?,
            gender: self
                .gender
                .as_deref()
                .map(str::parse::<Gender>)
                .transpose()?,
            age_group: self
                .age_group
                .as_deref()
                .map(str::parse::<AgeGroup>)
                .transpose()?,
        })
    }
}

/// One exported row (CSV columns and JSON fields alike).
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    /// Rank within the export's filter.
    rank: Option<u32>,
    rank_overall: Option<u32>,
    rank_gender: Option<u32>,
    rank_age_group: Option<u32>,
    bib: String,
    athlete_id: Option<String>,
    athlete: String,
    category: &'static str,
    gender: &'static str,
    age_group: Option<String>,
    status: &'static str,
    net_time_ms: Option<i64>,
    /// `H:MM:SS.mmm`.
    net_time: Option<String>,
    last_timing_point: Option<String>,
    start_from_wave: bool,
    /// PROVISIONAL until the event is OFFICIAL.
    result_status: &'static str,
    splits: Vec<SplitJson>,
    #[serde(skip)]
    cells: Vec<SplitCell>,
}

/// `H:MM:SS.mmm` of a duration in milliseconds.
pub fn clock(ms: i64) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    format!("{h}:{m:02}:{:02}.{:03}", rest / 1000, rest % 1000)
}

/// Spreadsheet formula injection (OWASP "CSV injection"): a cell that starts like a formula
/// is quoted with a leading apostrophe.
fn inert(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn rows(
    viewer: &Principal,
    event: &Event,
    course: &Course,
    standings: &EventStandings,
    splits: &HashMap<Bib, Vec<SplitCell>>,
    filter: LeaderboardFilter,
    format: Format,
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
            let athlete = AthleteRef::new(
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
                // CSV lays the cells out in columns itself.
                splits: if format == Format::Csv {
                    Vec::new()
                } else {
                    cells
                        .iter()
                        .map(|(segments, ms)| SplitJson {
                            segment: segment_name(course, segments),
                            duration_ms: *ms,
                            merged: segments.len() > 1,
                        })
                        .collect()
                },
                cells,
            }
        })
        .collect()
}

fn segment_name(course: &Course, segments: &Range<usize>) -> String {
    segments
        .clone()
        .map(|k| course.segments()[k].code.clone())
        .collect::<Vec<_>>()
        .join("+")
}

const CSV_COLUMNS: [&str; 16] = [
    "rank",
    "rankOverall",
    "rankGender",
    "rankAgeGroup",
    "bib",
    "athleteId",
    "athlete",
    "category",
    "gender",
    "ageGroup",
    "status",
    "netTimeMs",
    "netTime",
    "lastTimingPoint",
    "startFromWave",
    "resultStatus",
];

/// A CSV line: the fixed columns, one column per course segment (milliseconds, when that
/// segment's split is known on its own), then `mergedSplits` (`A+B=ms;…` over missed mats).
fn csv_record(course: &Course, row: ExportRow) -> Vec<String> {
    let text = |v: Option<String>| v.unwrap_or_default();
    let number = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    let mut record = vec![
        number(row.rank),
        number(row.rank_overall),
        number(row.rank_gender),
        number(row.rank_age_group),
        row.bib,
        text(row.athlete_id),
        inert(row.athlete),
        row.category.to_owned(),
        row.gender.to_owned(),
        text(row.age_group),
        row.status.to_owned(),
        text(row.net_time_ms.map(|n| n.to_string())),
        text(row.net_time),
        text(row.last_timing_point),
        row.start_from_wave.to_string(),
        row.result_status.to_owned(),
    ];
    let mut by_segment = vec![String::new(); course.segments().len()];
    let mut merged = Vec::new();
    for (segments, ms) in &row.cells {
        if segments.len() == 1 {
            by_segment[segments.start] = ms.to_string();
        } else {
            merged.push(format!("{}={ms}", segment_name(course, segments)));
        }
    }
    record.extend(by_segment);
    record.push(merged.join(";"));
    record
}

fn render(
    format: Format,
    event: &Event,
    course: &Course,
    rows: Vec<ExportRow>,
) -> Result<Vec<u8>, ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::Internal(anyhow::anyhow!("export: {e}"));
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let header = CSV_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .chain(course.segments().iter().map(|s| s.code.clone()))
                .chain(std::iter::once("mergedSplits".to_owned()));
            writer.write_record(header).map_err(|e| internal(&e))?;
            for row in rows {
                writer
                    .write_record(csv_record(course, row))
                    .map_err(|e| internal(&e))?;
            }
            writer.into_inner().map_err(|e| internal(&e))
        }
        Format::Json => {
            let body = serde_json::json!({
                "event": { "id": event.id, "name": event.name, "status": event.status.as_str(), "seq": event.seq },
                "results": rows,
            });
            serde_json::to_vec(&body).map_err(|e| internal(&e))
        }
        Format::Ndjson => {
            let mut out = Vec::new();
            for row in rows {
                serde_json::to_writer(&mut out, &row).map_err(|e| internal(&e))?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}

/// `GET /v1/events/{eventId}/results.{csv,json,ndjson}`.
pub async fn results(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path((event_id, file)): Path<(String, String)>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(format) = Format::parse(&file) else {
        return Err(ApiError::NotFound(format!(
            "/v1/events/{event_id}/{file} (exports are results.csv, results.json, results.ndjson)"
        )));
    };
    let principal = crate::transport::principal(&s.app, &headers).await?;
    principal.require(Scope::ResultsRead)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let filter = query.filter()?;
    let event_id = Uuid::parse_str(&event_id)
        .map_err(|_| ApiError::BadRequest(format!("eventId: `{event_id}` is not a valid id")))?;
    let event = race::load_event(&s.app, event_id).await?;
    let standings = race::standings(&s.app, &event).await?;
    let cost = crate::limits::rows_cost(standings.len());
    let decision = s.app.limits.charge_caller(&principal, peer, cost).await;
    if !decision.allowed() {
        return Ok(super::error::rate_limited(&decision));
    }
    // Visibility depends on the viewer, so the tag does too.
    let etag = format!(
        "\"{}-{}-{}\"",
        event.id.simple(),
        event.seq,
        principal.subject()
    );
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag);
        decision.write_headers(response.headers_mut());
        return Ok(response);
    }
    let course = s.app.live.course(&event);
    let splits = s.splits.get(&s.app, &event).await?;
    let rows = rows(
        &principal, &event, &course, &standings, &splits, filter, format,
    );
    let body = render(format, &event, &course, rows)?;
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.media_type()),
            ),
            (header::ETAG, etag),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ),
        ],
        body,
    )
        .into_response();
    decision.write_headers(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_times_read_as_a_race_clock_and_formulas_are_defused() {
        assert_eq!(clock(0), "0:00:00.000");
        assert_eq!(clock(5_025_123), "1:23:45.123");
        assert_eq!(inert("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("-1".into()), "'-1");
        assert_eq!(inert("Ana Lind".into()), "Ana Lind");
        assert_eq!(Format::parse("results.xlsx"), None);
    }

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
