//! REST ingest, a JSON array or NDJSON read row by row: `POST /v1/events/{eventId}/detections`
//! and `POST /v1/athletes/{athleteId}/wellness`.

use super::HttpState;
use crate::app::race::{self, RawDetection};
use crate::app::training;
use crate::error::ApiError;
use crate::transport::{principal, PeerIp};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

fn parse_detections(
    media: &str,
    body: &[u8],
) -> Result<Vec<Result<RawDetection, String>>, ApiError> {
    parse_rows(media, body, "detections")
}

/// Parses a body of `what` of media type `media` (see `media_type`): a JSON array, or NDJSON
/// (one object per non-blank line); each row on its own, so one bad row is named, not fatal.
fn parse_rows<T: serde::de::DeserializeOwned>(
    media: &str,
    body: &[u8],
    what: &str,
) -> Result<Vec<Result<T, String>>, ApiError> {
    // Each row is read from its own text, not from a parsed `Value`: a `Value` keeps only the
    // last of two equal keys, which would silently book `{"bib":"301", …, "bib":"311"}` on 311.
    let row = |text: &str| -> Result<T, String> {
        if !text.trim_start().starts_with('{') {
            return Err(format!("expected an object, got {}", text.trim()));
        }
        serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or_default();
            if message.starts_with("duplicate field") {
                format!("{message}: a row names each field once")
            } else {
                message.to_owned()
            }
        })
    };
    match media {
        "application/json" | "" => {
            let values: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(body)
                .map_err(|e| {
                    ApiError::BadRequest(format!("body is not a JSON array of {what}: {e}"))
                })?;
            Ok(values.iter().map(|v| row(v.get())).collect())
        }
        "application/x-ndjson" | "application/jsonl" | "application/ndjson" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::BadRequest("body is not UTF-8".into()))?;
            Ok(text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|line| {
                    serde_json::from_str::<&serde_json::value::RawValue>(line)
                        .map_err(|e| format!("not JSON: {e}"))
                        .and_then(|v| row(v.get()))
                })
                .collect())
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type `{other}` is not supported; send application/json or application/x-ndjson"
        ))),
    }
}

pub(super) async fn detections(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = principal(&s.app, &headers).await?;
    let event_id = super::event_id(&event_id)?;
    let bytes = super::read_body(&s.app, body).await?;
    let rows = parse_detections(&super::media_type(&headers), &bytes)?;
    let cost = crate::limits::rows_cost(rows.len());
    let decision = s.app.limits.charge_caller(&principal, peer, cost).await;
    if !decision.allowed() {
        return Ok(super::error::rate_limited(&decision));
    }
    let report = race::ingest(&s.app, &principal, event_id, rows).await?;
    Ok(super::charged_json(&decision, report))
}

/// `POST /v1/athletes/{athleteId}/wellness`: an athlete's samples (`training:write`).
pub(super) async fn wellness(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path(athlete_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = principal(&s.app, &headers).await?;
    let athlete_id = super::athlete_id(&athlete_id)?;
    let bytes = super::read_body(&s.app, body).await?;
    let rows: Vec<Result<training::RawSample, String>> =
        parse_rows(&super::media_type(&headers), &bytes, "wellness samples")?;
    let cost = crate::limits::rows_cost(rows.len());
    let decision = s.app.limits.charge_caller(&principal, peer, cost).await;
    if !decision.allowed() {
        return Ok(super::error::rate_limited(&decision));
    }
    let rows = rows
        .into_iter()
        .map(|row| row.and_then(training::RawSample::into_sample))
        .collect();
    let report = training::record(&s.app, &principal, athlete_id, rows).await?;
    Ok(super::charged_json(&decision, report))
}

/// `POST /v1/athletes/{athleteId}/activities[?sport=…]`: a GPX, TCX or FIT file, recorded as
/// one `ACTIVITY` sample (`training:write`).
pub(super) async fn activity_file(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path(athlete_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<SportQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let principal = principal(&s.app, &headers).await?;
    let athlete_id = super::athlete_id(&athlete_id)?;
    let bytes = super::read_body(&s.app, body).await?;
    let decision = s.app.limits.charge_caller(&principal, peer, 1).await;
    if !decision.allowed() {
        return Ok(super::error::rate_limited(&decision));
    }
    let report =
        training::record_activity_file(&s.app, &principal, athlete_id, &bytes, query.sport).await?;
    Ok(super::charged_json(&decision, report))
}

#[derive(serde::Deserialize)]
pub(super) struct SportQuery {
    sport: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::parse_detections;

    #[test]
    fn ndjson_and_arrays_parse_row_by_row() {
        let rows = parse_detections(
            "application/x-ndjson",
            b"{\"bib\":\"1\"}\n\nnot json\n[1]\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].is_ok());
        assert!(rows[1].as_ref().unwrap_err().contains("not JSON"));
        assert!(rows[2].as_ref().unwrap_err().contains("expected an object"));
        assert!(parse_detections("application/json", b"{").is_err());
        assert!(parse_detections("text/plain", b"[]").is_err());
    }

    #[test]
    fn a_row_naming_a_field_twice_is_rejected() {
        let body = br#"[{"bib":"301","timingPoint":"START","timestamp":"2026-03-14T09:00:00Z","bib":"311"},
                        {"bib":"302","timingPoint":"START","timestamp":"2026-03-14T09:00:00Z"}]"#;
        let rows = parse_detections("application/json", body).unwrap();
        assert_eq!(
            rows[0].as_ref().unwrap_err(),
            "duplicate field `bib`: a row names each field once"
        );
        assert!(rows[1].is_ok());
        let ndjson = br#"{"bib":"301","timingPoint":"START","timingPoint":"RUN1","timestamp":"2026-03-14T09:00:00Z"}"#;
        let rows = parse_detections("application/x-ndjson", ndjson).unwrap();
        assert!(rows[0]
            .as_ref()
            .unwrap_err()
            .contains("duplicate field `timingPoint`"));
    }
}
