//! Root mutation, merged from one object per area.

mod detection;
mod entry;
mod event;
mod officiating;

#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    event::EventMutation,
    entry::EntryMutation,
    detection::DetectionMutation,
    officiating::OfficiatingMutation,
    crate::transport::graphql::access::AccessMutation,
    crate::transport::graphql::athlete::AthleteMutation,
    crate::transport::graphql::webhooks::WebhookMutation,
    crate::transport::graphql::prediction::PredictionMutation,
    crate::transport::graphql::training::TrainingMutation,
);
