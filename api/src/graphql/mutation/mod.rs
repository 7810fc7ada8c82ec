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
    crate::graphql::access::AccessMutation,
    crate::graphql::athlete::AthleteMutation,
    crate::graphql::webhooks::WebhookMutation,
);
