//! `POST /v1/import/results`: past results in the public results format, as NDJSON (one result
//! object per line) or CSV (`text/csv`, see `app::import::source_lines`), imported by
//! `app::import`. Query: `venueId`, `timezone` (of the local start
//! times, default `UTC`), `course` (default `HYROX_STANDARD`), `map` (`word=NAME,…`: the source's
//! division and category words as podium's), `source` (the name lineage shows, default `upload`).

use super::HttpState;
use crate::app::import::{import_results, source_lines, ImportOptions, ImportReport};
use crate::error::ApiError;
use crate::transport::{principal, PeerIp};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use podium_domain::course::HYROX_STANDARD;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ImportQuery {
    venue_id: Option<String>,
    timezone: Option<String>,
    course: Option<String>,
    map: Option<String>,
    source: Option<String>,
}

impl ImportQuery {
    fn options(&self) -> Result<ImportOptions, ApiError> {
        let venue_id = self
            .venue_id
            .as_deref()
            .map(|v| {
                uuid::Uuid::parse_str(v)
                    .map_err(|_| ApiError::BadRequest(format!("venueId: `{v}` is not a valid id")))
            })
            .transpose()?;
        let map: Vec<&str> = self.map.as_deref().unwrap_or("").split(',').collect();
        ImportOptions::new(
            venue_id,
            self.timezone.as_deref().unwrap_or("UTC"),
            self.course.as_deref().unwrap_or(HYROX_STANDARD),
            &map,
        )
    }
}

pub(super) async fn results(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = principal(&s.app, &headers).await?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let options = query.options()?;
    let csv = match super::media_type(&headers).as_str() {
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" | "" => false,
        "text/csv" => true,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type `{other}` is not supported; send application/x-ndjson or text/csv"
            )))
        }
    };
    let bytes = super::read_body(&s.app, body).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::BadRequest("body is not UTF-8".into()))?;
    let lines = source_lines(text, csv)?;
    let cost = crate::limits::rows_cost(lines.len());
    let decision = s.app.limits.charge_caller(&principal, peer, cost).await;
    if !decision.allowed() {
        return Ok(super::error::rate_limited(&decision));
    }
    let source = query.source.as_deref().unwrap_or("upload");
    podium_domain::check_text("source", source, false)?;
    let mut report = ImportReport::default();
    import_results(
        &s.app,
        &principal,
        source,
        lines,
        &options,
        &mut report,
        &mut |_| {},
    )
    .await?;
    Ok(super::charged_json(&decision, report))
}
