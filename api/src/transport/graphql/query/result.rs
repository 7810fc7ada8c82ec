//! One entry's result with every split.

use crate::app::race;
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::ResultObject;
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, Object, ID};

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
    ) -> GqlResult<Option<ResultObject>> {
        let event_id = parse_id("eventId", &event_id)?;
        let found = race::entry_result(app(ctx), event_id, &bib).await.gql()?;
        Ok(found.map(|r| ResultObject::new(principal(ctx), r)))
    }
}
