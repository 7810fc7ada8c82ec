//! The GraphQL schema, assembled from one module per area. The router only mounts it.

pub mod access;
pub mod athlete;
pub mod cost;
pub mod error;
pub mod limits;
pub mod mutation;
pub mod officiating;
pub mod persisted;
pub mod prediction;
pub mod query;
pub mod report;
pub mod scalars;
pub mod subscription;
pub mod training;
pub mod types;
pub mod webhooks;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::transport::graphql::error::{GqlResult, ToGraphql};
use async_graphql::{Context, Schema, ID};
use uuid::Uuid;

pub type PodiumSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// The schema with the limits of `state`'s settings (the defaults without a state), so no
/// single query can monopolise the server.
pub fn build_schema(state: Option<AppState>) -> PodiumSchema {
    build_schema_with(state, persisted::PersistedQueries::default())
}

/// The schema, keeping persisted queries in `persisted` (which the HTTP carrier reads too, to
/// refuse a persisted mutation over GET).
pub fn build_schema_with(
    state: Option<AppState>,
    persisted: persisted::PersistedQueries,
) -> PodiumSchema {
    let defaults = crate::config::Settings::default();
    let settings = state.as_ref().map_or(&defaults, |s| &*s.settings);
    let mut builder = Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .limit_directives(settings.graphql_max_directives)
    // First: a persisted query's text is in place before anything looks at it.
    .extension(persisted)
    .extension(limits::ShapeLimits {
        max_query_bytes: settings.graphql_max_query_bytes,
        max_aliases: settings.graphql_max_aliases,
        max_fields: settings.graphql_max_fields,
        max_depth: settings.graphql_max_depth,
    })
    .extension(limits::CostCharge {
        max_cost: settings.graphql_max_complexity,
    })
    // Last: it stands in for the parser alone.
    .extension(persisted::ParsedDocuments::default());
    if !settings.introspection() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The SDL printed by `podium schema` and checked in as `schema.graphql`.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

pub(crate) fn app<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub(crate) fn principal<'a>(ctx: &Context<'a>) -> &'a Principal {
    static ANONYMOUS: std::sync::OnceLock<Principal> = std::sync::OnceLock::new();
    ctx.data_opt::<Principal>()
        .unwrap_or_else(|| ANONYMOUS.get_or_init(Principal::anonymous))
}

/// A field guard: the caller's token (or anonymity) must carry `scope`. Row-level rules (own
/// venue, own athlete, coach grants) are checked by the use cases in `app` on top.
pub(crate) struct RequireScope(pub crate::auth::Scope);

impl async_graphql::Guard for RequireScope {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        principal(ctx)
            .require(self.0)
            .map_err(ApiError::into_graphql)
    }
}

pub(crate) fn parse_id(field: &str, id: &ID) -> GqlResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| {
        ApiError::BadRequest(format!("{field}: `{}` is not a valid id", id.as_str())).into_graphql()
    })
}
