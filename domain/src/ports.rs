//! Ports: what the race engine needs from storage. Adapters (in `persistence`) implement them;
//! the API holds them as `Arc<dyn RaceRepository>`.

use crate::engine::{Adjustments, Timeline};
use crate::model::{Entry, Event, EventStatus, NewEntry, NewEvent, NewVenue, Venue, Wave};
use crate::standings::StandingRow;
use crate::timing::{Bib, Detection};
use async_trait::async_trait;
use uuid::Uuid;

/// Failures of a repository, by business outcome. Database errors never leave the adapter
/// except as `Unexpected`.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A checked detection with its position in the caller's batch.
#[derive(Debug, Clone)]
pub struct IndexedDetection {
    pub index: usize,
    pub point_index: usize,
    pub detection: Detection,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// New reads stored.
    pub accepted: u64,
    /// Reads already known (same read id, or same bib, point and instant).
    pub duplicates: u64,
    /// Batch positions whose bib is not registered for the event.
    pub unknown_bibs: Vec<usize>,
    /// The event's `seq` after the ingest.
    pub seq: i64,
    /// Entries whose results changed.
    pub changed_entries: Vec<Uuid>,
}

/// Everything known about one entry, as needed to explain its result.
#[derive(Debug, Clone)]
pub struct EntryRecord {
    pub entry: Entry,
    pub timeline: Timeline,
    pub adjustments: Adjustments,
}

#[async_trait]
pub trait RaceRepository: Send + Sync + 'static {
    /// Succeeds when the store answers.
    async fn ping(&self) -> Result<(), RepoError>;

    async fn create_venue(&self, venue: NewVenue) -> Result<Venue, RepoError>;
    async fn venue(&self, id: Uuid) -> Result<Option<Venue>, RepoError>;

    async fn create_event(&self, event: NewEvent) -> Result<Event, RepoError>;
    /// The event, or `None` when no event has that id.
    async fn event(&self, id: Uuid) -> Result<Option<Event>, RepoError>;
    /// Events ordered by start, most recent first, at most `limit`.
    async fn events(&self, limit: u64) -> Result<Vec<Event>, RepoError>;
    /// The current `seq` of an event: a cheap check whether cached standings are still fresh.
    async fn event_seq(&self, id: Uuid) -> Result<Option<i64>, RepoError>;
    async fn set_event_status(&self, id: Uuid, status: EventStatus) -> Result<Event, RepoError>;
    async fn waves(&self, event_id: Uuid) -> Result<Vec<Wave>, RepoError>;

    /// Registers entries, all or none. A bib already used in the event, or twice in the
    /// batch, fails with `Duplicate` naming it; an unknown `athlete_id` with `NotFound`.
    async fn add_entries(
        &self,
        event: &Event,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<Entry>, RepoError>;

    /// Stores new raw detections and recomputes the affected entries in one transaction.
    /// Duplicates (same read id, or same bib + point + instant, in the store or in the batch)
    /// are counted and change nothing; unknown bibs are reported, not stored. The event's
    /// `seq` increases when anything changed. Concurrent ingests into one event serialise.
    async fn ingest(
        &self,
        event: &Event,
        detections: Vec<IndexedDetection>,
    ) -> Result<IngestOutcome, RepoError>;

    /// Every entry of the event in a form ready for ranking.
    async fn standings(&self, event_id: Uuid) -> Result<Vec<StandingRow>, RepoError>;
    /// One entry of `event` with its timeline, or `None` when the bib is not registered.
    async fn entry_record(
        &self,
        event: &Event,
        bib: &Bib,
    ) -> Result<Option<EntryRecord>, RepoError>;
    /// Every raw detection of one entry, oldest first.
    async fn detections(&self, event_id: Uuid, bib: &Bib) -> Result<Vec<Detection>, RepoError>;
}
