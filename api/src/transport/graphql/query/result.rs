//! One entry's result with every split.

use crate::app::race;
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::ResultObject;
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, Object, ID};
use podium_domain::timing::Timestamp;

#[derive(Default)]
pub struct ResultQuery;

#[Object]
impl ResultQuery {
    /// The result of bib `bib` in an event; null when the bib is not registered.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn result(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        bib: String,
        #[graphql(
            desc = "The result as it stood after this step of the event's change log: the reads received and the corrections made by then."
        )]
        as_of_seq: Option<i64>,
        #[graphql(desc = "The result as it stood at this instant.")] as_of: Option<
            chrono::DateTime<chrono::Utc>,
        >,
    ) -> GqlResult<Option<ResultObject>> {
        let state = app(ctx);
        let event_id = parse_id("eventId", &event_id)?;
        let found = if as_of_seq.is_none() && as_of.is_none() {
            race::entry_result(state, event_id, &bib).await.gql()?
        } else {
            let event = race::load_event(state, event_id).await.gql()?;
            let seq = race::past_seq(state, &event, as_of_seq, as_of.map(Timestamp::from_chrono))
                .await
                .gql()?;
            race::entry_result_as_of(state, event_id, &bib, seq)
                .await
                .gql()?
        };
        Ok(found.map(|r| ResultObject::new(principal(ctx), r)))
    }
}
