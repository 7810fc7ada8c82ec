//! Events: one by id, or the list.

use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::EventObject;
use crate::transport::graphql::{app, parse_id, RequireScope};
use async_graphql::{Context, Object, ID};

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// An event by id; null when there is none.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn event(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<EventObject>> {
        let id = parse_id("id", &id)?;
        Ok(app(ctx).repo.event(id).await.gql()?.map(EventObject))
    }

    /// Events, most recent start first.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many, 1 to 500; 50 when omitted.",
            default_with = "Some(50)",
            validator(minimum = 1, maximum = 500)
        )]
        first: Option<u64>,
    ) -> GqlResult<Vec<EventObject>> {
        Ok(app(ctx)
            .repo
            .events(first.unwrap_or(50))
            .await
            .gql()?
            .into_iter()
            .map(EventObject)
            .collect())
    }
}
