//! SeaORM entities: the storage shape of podium's data. They never leave this crate.

pub mod api_clients;
pub mod athlete_merges;
pub mod athletes;
pub mod coach_grants;
pub mod corrections;
pub mod detections;
pub mod entries;
pub mod entry_states;
pub mod event_changes;
pub mod events;
pub mod flags;
pub mod outbox;
pub mod prediction_model_activations;
pub mod prediction_models;
pub mod result_splits;
pub mod segment_times;
pub mod signing_keys;
pub mod venues;
pub mod waves;
pub mod webhook_attempts;
pub mod webhook_deliveries;
pub mod webhooks;
pub mod wellness_samples;
