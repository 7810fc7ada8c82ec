//! Corrections and flag reviews.

use crate::app::officiating::{self, CorrectionRequest};
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::officiating::{
    CorrectionKindGql, CorrectionObject, FlagAction, FlagObject,
};
use crate::transport::graphql::{app, parse_id, principal};
use async_graphql::{Context, InputObject, Object, ID};
use chrono::{DateTime, Utc};
use podium_domain::ports::FlagReview;
use podium_domain::timing::Timestamp;

/// A correction. Each kind takes its own fields: `penaltyMs` for TIME_PENALTY,
/// `timingPoint` and `at` for MANUAL_READ and IGNORE_READ, `targetId` for UNDO.
#[derive(InputObject)]
pub struct CorrectionInput {
    pub event_id: ID,
    pub bib: String,
    pub kind: CorrectionKindGql,
    pub penalty_ms: Option<i64>,
    pub timing_point: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub target_id: Option<ID>,
    /// Why: required, shown in the audit trail and the result's lineage.
    pub reason: String,
}

#[derive(Default)]
pub struct OfficiatingMutation;

#[Object]
impl OfficiatingMutation {
    /// Records a correction and recomputes the entry's result and ranks (operators of the
    /// event's venue and admins; after OFFICIAL, admins only, as an amendment).
    async fn apply_correction(
        &self,
        ctx: &Context<'_>,
        input: CorrectionInput,
    ) -> GqlResult<CorrectionObject> {
        let request = CorrectionRequest {
            event_id: parse_id("eventId", &input.event_id)?,
            bib: input.bib,
            kind: input.kind.into(),
            penalty_ms: input.penalty_ms,
            timing_point: input.timing_point,
            at: input.at.map(Timestamp::from_chrono),
            target_id: input
                .target_id
                .as_ref()
                .map(|t| parse_id("targetId", t))
                .transpose()?,
            reason: input.reason,
        };
        let correction = officiating::apply_correction(app(ctx), principal(ctx), request)
            .await
            .gql()?;
        Ok(CorrectionObject::new(&correction, None, true))
    }

    /// Dismisses an open flag (the data is fine as it is) or reopens a dismissed one.
    async fn review_flag(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        flag_id: ID,
        action: FlagAction,
        reason: String,
    ) -> GqlResult<FlagObject> {
        let review = match action {
            FlagAction::Dismiss => FlagReview::Dismiss,
            FlagAction::Reopen => FlagReview::Reopen,
        };
        let flag = officiating::review_flag(
            app(ctx),
            principal(ctx),
            parse_id("eventId", &event_id)?,
            parse_id("flagId", &flag_id)?,
            review,
            &reason,
        )
        .await
        .gql()?;
        Ok(flag.into())
    }
}
