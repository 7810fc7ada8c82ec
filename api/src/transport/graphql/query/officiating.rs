//! Flags and the corrections audit trail.

use crate::app::race::load_event;
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::officiating::{
    CorrectionObject, FlagKindGql, FlagObject, FlagStatusGql,
};
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, Object, ID};
use podium_domain::ports::FlagFilter;
use podium_domain::timing::Bib;

#[derive(Default)]
pub struct OfficiatingQuery;

#[Object]
impl OfficiatingQuery {
    /// Plausibility flags of an event, optionally narrowed by status, kind or bib (the
    /// event's managers: `events:manage` at its venue).
    async fn flags(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        status: Option<FlagStatusGql>,
        kind: Option<FlagKindGql>,
        bib: Option<String>,
    ) -> GqlResult<Vec<FlagObject>> {
        let state = app(ctx);
        let event = load_event(state, parse_id("eventId", &event_id)?)
            .await
            .gql()?;
        principal(ctx).may_manage_event(&event).gql()?;
        let filter = FlagFilter {
            status: status.map(Into::into),
            kind: kind.map(Into::into),
            bib: bib.as_deref().map(Bib::parse).transpose().gql()?,
        };
        let flags = state.repo.flags(event.id, &filter).await.gql()?;
        Ok(flags.into_iter().map(Into::into).collect())
    }

    /// The corrections of an event (or of one bib), oldest first: the audit trail. Authors
    /// are shown to the event's managers only.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn corrections(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        bib: Option<String>,
    ) -> GqlResult<Vec<CorrectionObject>> {
        let state = app(ctx);
        let event = load_event(state, parse_id("eventId", &event_id)?)
            .await
            .gql()?;
        let bib = bib.as_deref().map(Bib::parse).transpose().gql()?;
        let list = state.repo.corrections(&event, bib.as_ref()).await.gql()?;
        Ok(CorrectionObject::list(&list, principal(ctx), &event))
    }
}
