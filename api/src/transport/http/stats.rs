//! Statistics exports: `GET /v1/events/{eventId}/stats.{csv,json}` — `segmentStats` of every
//! division (category × gender) of the event, optionally narrowed by `category`, `gender` and
//! `ageGroup`. Public like the results (`results:read`), charged by lines; `ETag` is the
//! event's `seq` (statistics are the same for every viewer).

use crate::app::analytics::stats_by_division;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::transport::http::exports::{export_response, not_modified, ExportQuery};
use crate::transport::http::HttpState;
use crate::transport::PeerIp;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use podium_domain::stats::Distribution;
use serde::Serialize;

/// One line of the export: a division's statistics of one segment or total.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsLine<'a> {
    category: &'static str,
    gender: &'static str,
    age_group: Option<String>,
    segment: &'a str,
    count: usize,
    mean_ms: Option<f64>,
    stddev_ms: Option<f64>,
    min_ms: Option<i64>,
    p10_ms: Option<f64>,
    p25_ms: Option<f64>,
    median_ms: Option<f64>,
    p75_ms: Option<f64>,
    p90_ms: Option<f64>,
    max_ms: Option<i64>,
}

const COLUMNS: [&str; 14] = [
    "category", "gender", "ageGroup", "segment", "count", "meanMs", "stddevMs", "minMs", "p10Ms",
    "p25Ms", "medianMs", "p75Ms", "p90Ms", "maxMs",
];

fn line<'a>(
    filter: &podium_domain::standings::LeaderboardFilter,
    d: &'a Distribution,
) -> StatsLine<'a> {
    StatsLine {
        category: filter.category.map_or("", |c| c.as_str()),
        gender: filter.gender.map_or("", |g| g.as_str()),
        age_group: filter.age_group.map(|a| a.label()),
        segment: &d.segment,
        count: d.count(),
        mean_ms: d.mean(),
        stddev_ms: d.stddev(),
        min_ms: d.min(),
        p10_ms: d.percentile(10.0),
        p25_ms: d.percentile(25.0),
        median_ms: d.percentile(50.0),
        p75_ms: d.percentile(75.0),
        p90_ms: d.percentile(90.0),
        max_ms: d.max(),
    }
}

fn csv_record(l: &StatsLine<'_>) -> Vec<String> {
    let n = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    let i = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    vec![
        l.category.to_owned(),
        l.gender.to_owned(),
        l.age_group.clone().unwrap_or_default(),
        l.segment.to_owned(),
        l.count.to_string(),
        n(l.mean_ms),
        n(l.stddev_ms),
        i(l.min_ms),
        n(l.p10_ms),
        n(l.p25_ms),
        n(l.median_ms),
        n(l.p75_ms),
        n(l.p90_ms),
        i(l.max_ms),
    ]
}

/// `GET /v1/events/{eventId}/stats.csv` and `stats.json`.
pub async fn stats(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path((event_id, file)): Path<(String, String)>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let csv = match file.as_str() {
        "stats.csv" => true,
        "stats.json" => false,
        _ => unreachable!("routed for stats.csv and stats.json only"),
    };
    let principal = crate::transport::principal(&s.app, &headers).await?;
    principal.require(Scope::ResultsRead)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let narrow = query.filter()?;
    let event_id = super::event_id(&event_id)?;
    let (event, divisions) = stats_by_division(&s.app, event_id, narrow).await?;
    let lines: usize = divisions.iter().map(|(_, d)| d.len()).sum();
    let decision = s
        .app
        .limits
        .charge_caller(&principal, peer, crate::limits::rows_cost(lines))
        .await;
    if !decision.allowed() {
        return Ok(super::error::rate_limited(&decision));
    }
    let etag = format!("\"{}-{}-stats\"", event.id.simple(), event.seq);
    if let Some(unchanged) = not_modified(&etag, &headers, &decision) {
        return Ok(unchanged);
    }
    let internal = |e: &dyn std::fmt::Display| ApiError::Internal(anyhow::anyhow!("stats: {e}"));
    let all = divisions
        .iter()
        .flat_map(|(filter, stats)| stats.iter().map(move |d| line(filter, d)));
    let (media_type, body) = if csv {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(COLUMNS).map_err(|e| internal(&e))?;
        for l in all {
            writer
                .write_record(csv_record(&l))
                .map_err(|e| internal(&e))?;
        }
        let body = writer.into_inner().map_err(|e| internal(&e))?;
        ("text/csv; charset=utf-8", body)
    } else {
        let body = serde_json::json!({
            "event": {
                "id": event.id,
                "name": event.name,
                "status": event.status.as_str(),
                "seq": event.seq,
                "final": event.status.results_official(),
            },
            "stats": all.collect::<Vec<_>>(),
        });
        let body = serde_json::to_vec(&body).map_err(|e| internal(&e))?;
        ("application/json", body)
    };
    Ok(export_response(
        media_type,
        &etag,
        "public, no-cache",
        body,
        &decision,
    ))
}
