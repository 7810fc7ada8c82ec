//! Root query, merged from one object per area.

mod event;
mod leaderboard;
mod result;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    event::EventQuery,
    leaderboard::LeaderboardQuery,
    result::ResultQuery,
);
