//! `SeaRepository`: the SeaORM implementation of the race repository port. Each method hands
//! over to the module of its area: `race` (venues, events, entries, standings rows), `ingest`,
//! `officiating` (corrections, lineage, lifecycle), `flagging`, `changes` (change log, outbox).
//! The athlete, access and webhook ports are implemented in `athletes`, `access`, `webhooks`.

use crate::convert::unexpected;
use crate::entities::{detections, events};
use crate::officiating;
use crate::recompute::Fields;
use async_trait::async_trait;
use podium_domain::corrections::Correction;
use podium_domain::lineage::RawRead;
use podium_domain::live::EventChange;
use podium_domain::model::{Entry, Event, EventStatus, NewEntry, NewEvent, NewVenue, Venue, Wave};
use podium_domain::ports::{
    EntryRecord, FlagFilter, FlagReview, IndexedDetection, IngestOutcome, NewCorrection,
    OutboxMessage, RaceRepository, RepoError, StoredFlag,
};
use podium_domain::standings::StandingRow;
use podium_domain::timing::{Bib, Detection};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

use uuid::Uuid;

/// Rows per multi-row INSERT: stays far below SQLite's and PostgreSQL's bind-parameter limits.
pub(crate) const INSERT_CHUNK: usize = 500;

#[derive(Clone)]
pub struct SeaRepository {
    pub(crate) db: DatabaseConnection,
    /// `detections` has the hypertable shape: read ids are keyed in `detection_read_ids`.
    pub(crate) read_ids_keyed_apart: bool,
    /// TimescaleDB's `wellness_daily` rollup exists: daily questions read it.
    pub(crate) wellness_rollup: bool,
    /// The fields of measured splits of recently written events.
    pub(crate) fields: Fields,
}

/// How busy a database connection pool is.
#[derive(Clone)]
pub struct Pool(DatabaseConnection);

impl Pool {
    /// `(open connections, idle ones)`.
    pub fn state(&self) -> (u32, u32) {
        match sea_orm::ConnectionTrait::get_database_backend(&self.0) {
            sea_orm::DbBackend::Postgres => {
                let pool = self.0.get_postgres_connection_pool();
                (pool.size(), pool.num_idle() as u32)
            }
            sea_orm::DbBackend::Sqlite => {
                let pool = self.0.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle() as u32)
            }
            _ => (0, 0),
        }
    }
}

impl SeaRepository {
    /// A handle on the connection pool's state (for `/metrics`).
    pub fn pool(&self) -> Pool {
        Pool(self.db.clone())
    }

    /// Wraps a migrated connection.
    pub async fn new(db: DatabaseConnection) -> Result<Self, RepoError> {
        let read_ids_keyed_apart = podium_migrations::read_ids_keyed_apart(&db)
            .await
            .map_err(unexpected)?;
        let wellness_rollup = podium_migrations::timescale::has_wellness_rollup(&db)
            .await
            .map_err(unexpected)?;
        Ok(Self {
            db,
            read_ids_keyed_apart,
            wellness_rollup,
            fields: Fields::default(),
        })
    }

    /// Fills `result_splits` for the events that were official before it existed (see
    /// `segments::backfill`); returns how many events it filled.
    pub async fn backfill_segment_times(&self) -> Result<usize, RepoError> {
        crate::segments::backfill(self).await
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// How many raw detections an event has stored.
    pub async fn detection_count(&self, event_id: Uuid) -> Result<u64, RepoError> {
        detections::Entity::find()
            .filter(detections::Column::EventId.eq(event_id))
            .count(&self.db)
            .await
            .map_err(unexpected)
    }
}

/// Takes the event's write lock for the rest of the transaction (a row lock on PostgreSQL, the
/// database write lock on SQLite) and returns its current `seq` and status. Every write path
/// starts here so concurrent writers to one event serialise instead of losing updates, and
/// decisions that depend on the status are taken on the status under the lock.
#[tracing::instrument(name = "db.lock_event", skip_all)]
pub(crate) async fn lock_event(
    txn: &DatabaseTransaction,
    event_id: Uuid,
) -> Result<(i64, EventStatus), RepoError> {
    let updated = events::Entity::update_many()
        .col_expr(events::Column::Seq, Expr::col(events::Column::Seq).into())
        .filter(events::Column::Id.eq(event_id))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    if updated.rows_affected == 0 {
        return Err(RepoError::NotFound(format!("event {event_id}")));
    }
    let (seq, status) = events::Entity::find_by_id(event_id)
        .select_only()
        .column(events::Column::Seq)
        .column(events::Column::Status)
        .into_tuple::<(i64, String)>()
        .one(txn)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| RepoError::NotFound(format!("event {event_id}")))?;
    let status = status
        .parse()
        .map_err(|e| RepoError::Unexpected(anyhow::anyhow!("stored event status: {e}")))?;
    Ok((seq, status))
}

#[async_trait]
impl RaceRepository for SeaRepository {
    async fn ping(&self) -> Result<(), RepoError> {
        self.db.ping().await.map_err(unexpected)
    }

    async fn create_venue(&self, venue: NewVenue) -> Result<Venue, RepoError> {
        crate::race::create_venue(self, venue).await
    }

    async fn venue(&self, id: Uuid) -> Result<Option<Venue>, RepoError> {
        crate::race::venue(self, id).await
    }

    async fn create_event(&self, event: NewEvent) -> Result<Event, RepoError> {
        crate::race::create_event(self, event).await
    }

    async fn create_imported_event(
        &self,
        event: NewEvent,
        source: &str,
    ) -> Result<Event, RepoError> {
        crate::race::create_event_from(self, event, Some(source)).await
    }

    async fn event_by_source(&self, source: &str) -> Result<Option<Event>, RepoError> {
        crate::race::event_by_source(self, source).await
    }

    async fn event(&self, id: Uuid) -> Result<Option<Event>, RepoError> {
        crate::race::event(self, id).await
    }

    async fn events(&self, limit: u64) -> Result<Vec<Event>, RepoError> {
        crate::race::events(self, limit).await
    }

    async fn event_seq(&self, id: Uuid) -> Result<Option<i64>, RepoError> {
        crate::race::event_seq(self, id).await
    }

    async fn transition_event(&self, id: Uuid, to: EventStatus) -> Result<Event, RepoError> {
        crate::officiating::transition_event(self, id, to).await
    }

    async fn waves(&self, event_id: Uuid) -> Result<Vec<Wave>, RepoError> {
        crate::race::waves(self, event_id).await
    }

    async fn add_entries(
        &self,
        event: &Event,
        new_entries: Vec<NewEntry>,
    ) -> Result<Vec<Entry>, RepoError> {
        crate::race::add_entries(self, event, new_entries).await
    }

    async fn ingest(
        &self,
        event: &Event,
        batch: Vec<IndexedDetection>,
    ) -> Result<IngestOutcome, RepoError> {
        crate::convert::retry_on_conflict("ingest", || {
            crate::ingest::ingest(self, event, batch.clone())
        })
        .await
    }

    async fn standings(&self, event_id: Uuid) -> Result<Vec<StandingRow>, RepoError> {
        crate::race::standings(self, event_id).await
    }

    async fn entry_record(
        &self,
        event: &Event,
        bib: &Bib,
    ) -> Result<Option<EntryRecord>, RepoError> {
        crate::race::entry_record(self, event, bib).await
    }

    async fn entry_records(&self, event: &Event) -> Result<Vec<EntryRecord>, RepoError> {
        crate::race::entry_records(self, event).await
    }

    async fn raw_reads(&self, event: &Event, bib: &Bib) -> Result<Vec<RawRead>, RepoError> {
        officiating::raw_reads_of(&self.db, &event.course, event.id, bib).await
    }

    async fn apply_correction(
        &self,
        event: &Event,
        correction: NewCorrection,
    ) -> Result<Correction, RepoError> {
        crate::officiating::apply_correction(self, event, correction).await
    }

    async fn corrections(
        &self,
        event: &Event,
        bib: Option<&Bib>,
    ) -> Result<Vec<Correction>, RepoError> {
        crate::officiating::corrections(self, event, bib).await
    }

    async fn flags(
        &self,
        event_id: Uuid,
        filter: &FlagFilter,
    ) -> Result<Vec<StoredFlag>, RepoError> {
        crate::flagging::flags(self, event_id, filter).await
    }

    async fn review_flag(
        &self,
        event_id: Uuid,
        flag_id: Uuid,
        review: FlagReview,
        by: &str,
        note: &str,
    ) -> Result<StoredFlag, RepoError> {
        crate::flagging::review(self, event_id, flag_id, review, by, note).await
    }

    async fn changes(
        &self,
        event_id: Uuid,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<EventChange>, RepoError> {
        crate::changes::changes(self, event_id, after_seq, limit).await
    }

    async fn seq_at(
        &self,
        event_id: Uuid,
        at: podium_domain::timing::Timestamp,
    ) -> Result<i64, RepoError> {
        crate::changes::seq_at(self, event_id, at).await
    }

    async fn seq_time(
        &self,
        event_id: Uuid,
        seq: i64,
    ) -> Result<Option<podium_domain::timing::Timestamp>, RepoError> {
        crate::changes::seq_time(self, event_id, seq).await
    }

    async fn pending_outbox(&self, event_id: Uuid) -> Result<Vec<OutboxMessage>, RepoError> {
        crate::changes::pending_outbox(&self.db, event_id).await
    }

    async fn detections(&self, event_id: Uuid, bib: &Bib) -> Result<Vec<Detection>, RepoError> {
        crate::race::detections(self, event_id, bib).await
    }
}
