//! Root query, merged from one object per area.

mod event;
mod leaderboard;
mod officiating;
mod result;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    event::EventQuery,
    leaderboard::LeaderboardQuery,
    result::ResultQuery,
    officiating::OfficiatingQuery,
    crate::graphql::access::AccessQuery,
    crate::graphql::athlete::AthleteQuery,
    crate::graphql::webhooks::WebhookQuery,
);
