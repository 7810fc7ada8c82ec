//! Root query, merged from one object per area.

pub(crate) mod analytics;
mod event;
pub(crate) mod leaderboard;
mod officiating;
mod records;
mod result;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    event::EventQuery,
    leaderboard::LeaderboardQuery,
    result::ResultQuery,
    analytics::AnalyticsQuery,
    records::RecordsQuery,
    officiating::OfficiatingQuery,
    crate::transport::graphql::access::AccessQuery,
    crate::transport::graphql::athlete::AthleteQuery,
    crate::transport::graphql::webhooks::WebhookQuery,
    crate::transport::graphql::prediction::PredictionQuery,
    crate::transport::graphql::training::TrainingQuery,
);
