//! Venues and events.

use crate::auth::Scope;
use crate::error::ApiError;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::scalars::CourseSpec;
use crate::transport::graphql::types::{EventObject, VenueObject};
use crate::transport::graphql::{app, parse_id, principal};
use async_graphql::{Context, InputObject, Object, ID};
use chrono::{DateTime, Utc};
use podium_domain::course::LimitOverride;
use podium_domain::field::OutlierRule;
use podium_domain::model::{parse_name, NewEvent, NewVenue};
use podium_domain::timing::Timestamp;

#[derive(InputObject)]
pub struct CreateEventInput {
    pub name: String,
    /// Start of the first wave (ISO-8601 with offset).
    pub starts_at: DateTime<Utc>,
    /// IANA time zone of the venue, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// `HYROX_STANDARD`, or the timing points of a custom course from START to FINISH.
    pub course: CourseSpec,
    /// The hosting venue; required for venue operators.
    pub venue_id: Option<ID>,
    /// Plausibility limits replacing the course's defaults, by segment code.
    pub segment_limits: Option<Vec<SegmentLimitInput>>,
    /// The field-relative outlier rule replacing the defaults (0.4×, 2.5×, 20 entries).
    pub outlier_rule: Option<OutlierRuleInput>,
}

/// When a measured split is flagged `SEGMENT_OUTLIER`: below `low` × or above `high` × the
/// median of the same segment among the event's entries of the same category and gender, once
/// `minField` of them have measured it. Omitted fields keep their defaults.
#[derive(InputObject)]
pub struct OutlierRuleInput {
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub min_field: Option<u32>,
}

/// The plausibility limits of one segment: faster than `minMs` is flagged and the read set
/// aside; slower than `maxMs` (if set) is flagged and kept.
#[derive(InputObject)]
pub struct SegmentLimitInput {
    pub segment: String,
    pub min_ms: i64,
    pub max_ms: Option<i64>,
}

impl TryFrom<CreateEventInput> for NewEvent {
    type Error = ApiError;
    fn try_from(input: CreateEventInput) -> Result<Self, ApiError> {
        input.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            ApiError::BadRequest(format!(
                "timezone: `{}` is not an IANA time zone",
                input.timezone
            ))
        })?;
        let venue_id = input
            .venue_id
            .map(|id| {
                uuid::Uuid::parse_str(&id).map_err(|_| {
                    ApiError::BadRequest(format!("venueId: `{}` is not a valid id", id.as_str()))
                })
            })
            .transpose()?;
        let defaults = OutlierRule::default();
        let outliers = match input.outlier_rule {
            Some(r) => OutlierRule::new(
                r.low.unwrap_or(defaults.low),
                r.high.unwrap_or(defaults.high),
                r.min_field.unwrap_or(defaults.min_field),
            )?,
            None => defaults,
        };
        Ok(NewEvent {
            venue_id,
            name: parse_name("name", &input.name)?,
            starts_at: Timestamp::from_chrono(input.starts_at),
            timezone: input.timezone,
            course: input
                .course
                .0
                .with_limits(
                    &input
                        .segment_limits
                        .unwrap_or_default()
                        .into_iter()
                        .map(|l| LimitOverride {
                            segment: l.segment,
                            min_ms: l.min_ms,
                            max_ms: l.max_ms,
                        })
                        .collect::<Vec<_>>(),
                )?
                .with_outlier_rule(outliers),
        })
    }
}

#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Registers a venue (admins).
    async fn create_venue(&self, ctx: &Context<'_>, name: String) -> GqlResult<VenueObject> {
        principal(ctx).require_admin().gql()?;
        let name = parse_name("name", &name).gql()?;
        Ok(VenueObject(
            app(ctx).repo.create_venue(NewVenue { name }).await.gql()?,
        ))
    }

    /// Creates an event (admins, or operators of its venue).
    async fn create_event(
        &self,
        ctx: &Context<'_>,
        input: CreateEventInput,
    ) -> GqlResult<EventObject> {
        let new_event = NewEvent::try_from(input).gql()?;
        principal(ctx)
            .require_at_venue(Scope::EventsManage, new_event.venue_id)
            .gql()?;
        Ok(EventObject(
            app(ctx).repo.create_event(new_event).await.gql()?,
        ))
    }

    /// Moves an event along its lifecycle (admins, or operators of its venue):
    /// `SCHEDULED → LIVE → PROVISIONAL → OFFICIAL`, or `CANCELLED` before official. The first
    /// accepted detection makes a scheduled event `LIVE` by itself.
    async fn set_event_status(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        status: crate::transport::graphql::types::EventStatusGql,
    ) -> GqlResult<EventObject> {
        let event = crate::app::officiating::transition(
            app(ctx),
            principal(ctx),
            parse_id("eventId", &event_id)?,
            status.into(),
        )
        .await
        .gql()?;
        Ok(EventObject(event))
    }
}
