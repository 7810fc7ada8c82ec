//! Result exports: `GET /v1/events/{eventId}/results.{csv,json,ndjson}`, optionally narrowed by
//! `category`, `gender` and `ageGroup`, in standings order with the ranks the leaderboard and
//! `result` show and every known split (a split over missed mats is listed as merged, never
//! divided). Same visibility as every public view (private athletes anonymised), same
//! scope (`results:read`), charged by rows; `ETag` is the event's `seq`, so a cache or a
//! client asking again with `If-None-Match` gets 304 until something changes.

use crate::app::exports::{rows, segment_name, ExportRow};
use crate::app::race;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::transport::http::HttpState;
use crate::transport::PeerIp;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use podium_domain::course::Course;
use podium_domain::division::{AgeGroup, Category, Gender};
use podium_domain::model::Event;
use podium_domain::standings::LeaderboardFilter;
use serde::Deserialize;

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
    pub fn filter(&self) -> Result<LeaderboardFilter, ApiError> {
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

/// Spreadsheet formula injection (OWASP "CSV injection"): a cell that starts like a formula
/// is quoted with a leading apostrophe.
fn inert(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
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
    for (segments, ms, _) in &row.cells {
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
    if matches!(file.as_str(), "stats.csv" | "stats.json") {
        let path = Path((event_id, file));
        return super::stats::stats(State(s), PeerIp(peer), path, query, headers).await;
    }
    let Some(format) = Format::parse(&file) else {
        return Err(ApiError::NotFound(format!(
            "/v1/events/{event_id}/{file} (exports are results.csv, results.json, results.ndjson, stats.csv, stats.json)"
        )));
    };
    let principal = crate::transport::principal(&s.app, &headers).await?;
    principal.require(Scope::ResultsRead)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let filter = query.filter()?;
    let event_id = super::event_id(&event_id)?;
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
    if let Some(unchanged) = not_modified(&etag, &headers, &decision) {
        return Ok(unchanged);
    }
    let course = s.app.live.course(&event);
    let splits = s.splits.get(&s.app, &event).await?;
    let rows = rows(
        &principal,
        &event,
        &course,
        &standings,
        &splits,
        filter,
        format != Format::Csv,
    );
    let body = render(format, &event, &course, rows)?;
    Ok(export_response(
        format.media_type(),
        &etag,
        "private, no-cache",
        body,
        &decision,
    ))
}

/// 304 with the tag when the client's `If-None-Match` holds `etag`.
pub(super) fn not_modified(
    etag: &str,
    headers: &HeaderMap,
    decision: &crate::limits::Decision,
) -> Option<Response> {
    let etag = HeaderValue::from_str(etag).ok()?;
    if headers.get(header::IF_NONE_MATCH) != Some(&etag) {
        return None;
    }
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response.headers_mut().insert(header::ETAG, etag);
    decision.write_headers(response.headers_mut());
    Some(response)
}

/// An export's answer: its body with type, tag, cache rule and rate-limit headers.
pub(super) fn export_response(
    media_type: &'static str,
    etag: &str,
    cache_control: &'static str,
    body: Vec<u8>,
    decision: &crate::limits::Decision,
) -> Response {
    let etag = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""));
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
            (header::ETAG, etag),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            ),
        ],
        body,
    )
        .into_response();
    decision.write_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::exports::clock;

    #[test]
    fn net_times_read_as_a_race_clock_and_formulas_are_defused() {
        assert_eq!(clock(0), "0:00:00.000");
        assert_eq!(clock(5_025_123), "1:23:45.123");
        assert_eq!(inert("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("-1".into()), "'-1");
        assert_eq!(inert("Ana Lind".into()), "Ana Lind");
        assert_eq!(Format::parse("results.xlsx"), None);
    }
}
