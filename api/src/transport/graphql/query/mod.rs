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
    crate::transport::graphql::access::AccessQuery,
    crate::transport::graphql::athlete::AthleteQuery,
    crate::transport::graphql::webhooks::WebhookQuery,
);
