//! Root query, merged from one object per area.

mod analytics;
mod event;
mod leaderboard;
mod officiating;
mod result;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    event::EventQuery,
    leaderboard::LeaderboardQuery,
    result::ResultQuery,
    analytics::AnalyticsQuery,
    officiating::OfficiatingQuery,
    crate::transport::graphql::access::AccessQuery,
    crate::transport::graphql::athlete::AthleteQuery,
    crate::transport::graphql::webhooks::WebhookQuery,
);
