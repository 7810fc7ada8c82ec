//! The GraphQL schema, assembled from one module per area. The router only mounts it.

pub mod mutation;
pub mod officiating;
pub mod query;
pub mod scalars;
pub mod subscription;
pub mod types;

use crate::auth::Principal;
use crate::error::{ApiError, GqlResult};
use crate::state::AppState;
use async_graphql::{Context, Schema, ID};
use uuid::Uuid;

pub type PodiumSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Limits that keep a single query from monopolising the server.
const MAX_DEPTH: usize = 12;
const MAX_COMPLEXITY: usize = 5_000;

pub fn build_schema(state: Option<AppState>) -> PodiumSchema {
    let mut builder = Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY);
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

pub(crate) fn parse_id(field: &str, id: &ID) -> GqlResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| {
        ApiError::BadRequest(format!("{field}: `{}` is not a valid id", id.as_str())).into_graphql()
    })
}
