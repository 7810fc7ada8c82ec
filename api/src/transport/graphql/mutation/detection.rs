//! Raw timing detections.

use crate::app::race::{self, RawDetection};
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::IngestReportObject;
use crate::transport::graphql::{app, parse_id, principal};
use async_graphql::{Context, InputObject, Object, ID};

#[derive(InputObject)]
pub struct DetectionInput {
    pub bib: String,
    /// A timing point of the event's course, e.g. `RUN3`.
    pub timing_point: String,
    /// ISO-8601 instant with offset, millisecond precision, e.g. `2026-03-14T09:00:00.250Z`.
    pub timestamp: String,
    /// The timing system's id of this read; a read id seen before is a duplicate.
    pub read_id: Option<String>,
    pub device_id: Option<String>,
}

impl From<DetectionInput> for RawDetection {
    fn from(d: DetectionInput) -> Self {
        RawDetection {
            bib: Some(serde_json::Value::String(d.bib)),
            timing_point: Some(d.timing_point),
            timestamp: Some(d.timestamp),
            read_id: d.read_id,
            device_id: d.device_id,
        }
    }
}

#[derive(Default)]
pub struct DetectionMutation;

#[Object]
impl DetectionMutation {
    /// Ingests raw detections. Good rows are stored even when others are rejected; duplicates
    /// are counted and change nothing (admins, or operators of the event's venue).
    async fn ingest_detections(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        detections: Vec<DetectionInput>,
    ) -> GqlResult<IngestReportObject> {
        let event_id = parse_id("eventId", &event_id)?;
        let rows = detections
            .into_iter()
            .map(|d| Ok(RawDetection::from(d)))
            .collect();
        let report = race::ingest(app(ctx), principal(ctx), event_id, rows)
            .await
            .gql()?;
        Ok(report.into())
    }
}
