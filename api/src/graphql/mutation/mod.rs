//! Root mutation, merged from one object per area.

mod detection;
mod entry;
mod event;

#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    event::EventMutation,
    entry::EntryMutation,
    detection::DetectionMutation,
);
