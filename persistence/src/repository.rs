//! `SeaRepository`: the SeaORM implementation of the race repository port.

use crate::changes::{advance, announce_status, change, entry_change, store_recomputed};
use crate::convert::{entry_from, on_unique, status_from, timeline_from, unexpected};
use crate::entities::flags as flags_table;
use crate::entities::{
    athletes, corrections, detections, entries, entry_states, event_changes, events, venues, waves,
};
use crate::officiating;
use crate::recompute::{adjustments_of, recompute, state_row, Fields, Pending};
use async_trait::async_trait;
use chrono::Utc;
use podium_domain::corrections::{check_undo, Correction, CorrectionAction, Ruling};
use podium_domain::course::TimingPointCode;
use podium_domain::engine::{evaluate, Adjustments, Timeline};
use podium_domain::flags::FlagStatus;
use podium_domain::lineage::RawRead;
use podium_domain::live::{ChangeKind, EventChange};
use podium_domain::model::{
    CorrectionPolicy, Entry, Event, EventStatus, NewEntry, NewEvent, NewVenue, Venue, Wave,
    TOPIC_RESULT_AMENDED,
};
use podium_domain::ports::{
    EntryRecord, FlagFilter, FlagReview, IndexedDetection, IngestOutcome, NewCorrection,
    OutboxMessage, RaceRepository, RepoError, StoredFlag,
};
use podium_domain::standings::StandingRow;
use podium_domain::timing::{Bib, Detection, ReadId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::{HashMap, HashSet};
use tracing::instrument;
use uuid::Uuid;

/// Rows per multi-row INSERT: stays far below SQLite's and PostgreSQL's bind-parameter limits.
pub(crate) const INSERT_CHUNK: usize = 500;

#[derive(Clone)]
pub struct SeaRepository {
    pub(crate) db: DatabaseConnection,
    /// `detections` has the hypertable shape: read ids are keyed in `detection_read_ids`.
    pub(crate) read_ids_keyed_apart: bool,
    /// The fields of measured splits of recently written events.
    pub(crate) fields: Fields,
}

impl SeaRepository {
    /// Wraps a migrated connection.
    pub async fn new(db: DatabaseConnection) -> Result<Self, RepoError> {
        let read_ids_keyed_apart = podium_migrations::read_ids_keyed_apart(&db)
            .await
            .map_err(unexpected)?;
        Ok(Self {
            db,
            read_ids_keyed_apart,
            fields: Fields::default(),
        })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Every entry of an event with its athlete and state (three queries, however many
    /// entries).
    async fn entry_rows(
        &self,
        event_id: Uuid,
    ) -> Result<Vec<(entries::Model, athletes::Model, entry_states::Model)>, RepoError> {
        let entry_rows = entries::Entity::find()
            .filter(entries::Column::EventId.eq(event_id))
            .all(&self.db)
            .await
            .map_err(unexpected)?;
        let athlete_rows: HashMap<Uuid, athletes::Model> = athletes::Entity::find()
            .filter(
                athletes::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(entries::Column::AthleteId)
                        .from(entries::Entity)
                        .and_where(entries::Column::EventId.eq(event_id))
                        .to_owned(),
                ),
            )
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        let mut state_rows: HashMap<Uuid, entry_states::Model> = entry_states::Entity::find()
            .filter(entry_states::Column::EventId.eq(event_id))
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|s| (s.entry_id, s))
            .collect();
        Ok(entry_rows
            .into_iter()
            .filter_map(|e| {
                // An athlete may hold several entries of one event (relay, doubles).
                let athlete = athlete_rows.get(&e.athlete_id).cloned()?;
                let state = state_rows.remove(&e.id)?;
                Some((e, athlete, state))
            })
            .collect())
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
        let id = Uuid::now_v7();
        venues::Entity::insert(venues::ActiveModel {
            id: Set(id),
            name: Set(venue.name.clone()),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(unexpected)?;
        Ok(Venue {
            id,
            name: venue.name,
        })
    }

    async fn venue(&self, id: Uuid) -> Result<Option<Venue>, RepoError> {
        let found = venues::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unexpected)?;
        Ok(found.map(|m| Venue {
            id: m.id,
            name: m.name,
        }))
    }

    async fn create_event(&self, event: NewEvent) -> Result<Event, RepoError> {
        if let Some(venue_id) = event.venue_id {
            if self.venue(venue_id).await?.is_none() {
                return Err(RepoError::NotFound(format!("venue {venue_id}")));
            }
        }
        let id = Uuid::now_v7();
        let points: Vec<&str> = event
            .course
            .points()
            .iter()
            .map(TimingPointCode::as_str)
            .collect();
        events::Entity::insert(events::ActiveModel {
            id: Set(id),
            venue_id: Set(event.venue_id),
            name: Set(event.name.clone()),
            starts_at: Set(event.starts_at.to_chrono()),
            timezone: Set(event.timezone.clone()),
            course_code: Set(event.course.code().to_owned()),
            course_points: Set(serde_json::to_string(&points).unwrap_or_else(|_| "[]".into())),
            segment_limits: Set(serde_json::to_string(&event.course.limits()).ok()),
            outlier_rule: Set(serde_json::to_string(event.course.outlier_rule()).ok()),
            status: Set(EventStatus::Scheduled.as_str().to_owned()),
            seq: Set(0),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(unexpected)?;
        Ok(Event {
            id,
            venue_id: event.venue_id,
            name: event.name,
            starts_at: event.starts_at,
            timezone: event.timezone,
            course: event.course,
            status: EventStatus::Scheduled,
            seq: 0,
        })
    }

    async fn event(&self, id: Uuid) -> Result<Option<Event>, RepoError> {
        let found = events::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(unexpected)?;
        found.map(Event::try_from).transpose()
    }

    async fn events(&self, limit: u64) -> Result<Vec<Event>, RepoError> {
        events::Entity::find()
            .order_by_desc(events::Column::StartsAt)
            .order_by_asc(events::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(Event::try_from)
            .collect()
    }

    async fn event_seq(&self, id: Uuid) -> Result<Option<i64>, RepoError> {
        events::Entity::find_by_id(id)
            .select_only()
            .column(events::Column::Seq)
            .into_tuple::<i64>()
            .one(&self.db)
            .await
            .map_err(unexpected)
    }

    async fn transition_event(&self, id: Uuid, to: EventStatus) -> Result<Event, RepoError> {
        let txn = self.db.begin().await.map_err(unexpected)?;
        let (seq, from) = lock_event(&txn, id).await?;
        from.transition(to)?;
        let seq = seq + 1;
        advance(&txn, change(id, seq, ChangeKind::Status, to, Vec::new())).await?;
        announce_status(&txn, id, from, to, seq).await?;
        txn.commit().await.map_err(unexpected)?;
        self.event(id)
            .await?
            .ok_or_else(|| RepoError::NotFound(format!("event {id}")))
    }

    async fn waves(&self, event_id: Uuid) -> Result<Vec<Wave>, RepoError> {
        let counts: HashMap<Uuid, i64> = entries::Entity::find()
            .select_only()
            .column(entries::Column::WaveId)
            .column_as(entries::Column::Id.count(), "n")
            .filter(entries::Column::EventId.eq(event_id))
            .group_by(entries::Column::WaveId)
            .into_tuple::<(Uuid, i64)>()
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .collect();
        let rows = waves::Entity::find()
            .filter(waves::Column::EventId.eq(event_id))
            .order_by_asc(waves::Column::StartsAt)
            .all(&self.db)
            .await
            .map_err(unexpected)?;
        Ok(rows
            .into_iter()
            .map(|w| Wave {
                id: w.id,
                starts_at: Timestamp::from_chrono(w.starts_at),
                entries: counts.get(&w.id).copied().unwrap_or(0) as u64,
            })
            .collect())
    }

    #[instrument(skip_all, fields(event_id = %event.id, entries = new_entries.len()))]
    async fn add_entries(
        &self,
        event: &Event,
        new_entries: Vec<NewEntry>,
    ) -> Result<Vec<Entry>, RepoError> {
        let mut seen = HashSet::new();
        for e in &new_entries {
            if !seen.insert(e.bib.clone()) {
                return Err(RepoError::Duplicate(format!(
                    "bib {} (twice in this request)",
                    e.bib
                )));
            }
        }
        let txn = self.db.begin().await.map_err(unexpected)?;
        let (seq, status) = lock_event(&txn, event.id).await?;
        let seq = seq + 1;

        let bibs: Vec<String> = new_entries.iter().map(|e| e.bib.to_string()).collect();
        for chunk in bibs.chunks(INSERT_CHUNK) {
            let taken = entries::Entity::find()
                .select_only()
                .column(entries::Column::Bib)
                .filter(entries::Column::EventId.eq(event.id))
                .filter(entries::Column::Bib.is_in(chunk.iter().cloned()))
                .into_tuple::<String>()
                .one(&txn)
                .await
                .map_err(unexpected)?;
            if let Some(bib) = taken {
                return Err(RepoError::Duplicate(format!(
                    "bib {bib} in event {}",
                    event.id
                )));
            }
        }

        let linked: Vec<Uuid> = new_entries.iter().filter_map(|e| e.athlete_id).collect();
        let mut known_athletes: HashMap<Uuid, athletes::Model> = HashMap::new();
        for chunk in linked.chunks(INSERT_CHUNK) {
            for a in athletes::Entity::find()
                .filter(athletes::Column::Id.is_in(chunk.iter().copied()))
                .all(&txn)
                .await
                .map_err(unexpected)?
            {
                known_athletes.insert(a.id, a);
            }
        }
        if let Some(missing) = linked.iter().find(|id| !known_athletes.contains_key(id)) {
            return Err(RepoError::NotFound(format!("athlete {missing}")));
        }

        let mut wave_ids: HashMap<Timestamp, Uuid> = waves::Entity::find()
            .filter(waves::Column::EventId.eq(event.id))
            .all(&txn)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|w| (Timestamp::from_chrono(w.starts_at), w.id))
            .collect();
        let mut new_waves = Vec::new();
        for e in &new_entries {
            wave_ids.entry(e.wave_start).or_insert_with(|| {
                let id = Uuid::now_v7();
                new_waves.push(waves::ActiveModel {
                    id: Set(id),
                    event_id: Set(event.id),
                    starts_at: Set(e.wave_start.to_chrono()),
                });
                id
            });
        }
        if !new_waves.is_empty() {
            waves::Entity::insert_many(new_waves)
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }

        let now = Utc::now();
        let mut athlete_rows = Vec::new();
        let mut entry_rows = Vec::new();
        let mut state_rows = Vec::new();
        let mut created = Vec::with_capacity(new_entries.len());
        for e in new_entries {
            let athlete = match e.athlete_id.and_then(|id| known_athletes.get(&id)) {
                Some(a) => a.clone(),
                None => {
                    let a = athletes::Model {
                        id: Uuid::now_v7(),
                        first_name: e.first_name.clone(),
                        last_name: e.last_name.clone(),
                        gender: e.gender.as_str().to_owned(),
                        birth_year: e.birth_year,
                        is_private: false,
                        created_at: now,
                    };
                    athlete_rows.push(athletes::ActiveModel::from(a.clone()));
                    a
                }
            };
            let entry = entries::Model {
                id: Uuid::now_v7(),
                event_id: event.id,
                athlete_id: athlete.id,
                wave_id: wave_ids[&e.wave_start],
                bib: e.bib.to_string(),
                category: e.category.as_str().to_owned(),
                gender: e.gender.as_str().to_owned(),
                age_group: e.age_group.map(|a| a.label()),
                created_at: now,
            };
            let pending = Pending {
                entry_id: entry.id,
                bib: entry.bib.clone(),
                wave_start: e.wave_start,
                timeline: Timeline::new(&event.course),
                adjustments: Adjustments::default(),
                had_open: false,
            };
            let progress = evaluate(
                &event.course,
                &pending.timeline,
                Some(e.wave_start),
                &pending.adjustments,
            );
            let state = state_row(event, &pending, &progress, seq);
            created.push(Entry {
                id: entry.id,
                event_id: event.id,
                athlete_id: athlete.id,
                bib: e.bib,
                first_name: athlete.first_name,
                last_name: athlete.last_name,
                category: e.category,
                gender: e.gender,
                age_group: e.age_group,
                birth_year: athlete.birth_year,
                wave_start: e.wave_start,
                athlete_private: athlete.is_private,
            });
            entry_rows.push(entries::ActiveModel::from(entry));
            state_rows.push(state);
        }
        for chunk in athlete_rows.chunks(INSERT_CHUNK) {
            athletes::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        for chunk in entry_rows.chunks(INSERT_CHUNK) {
            entries::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(|e| on_unique(e, || "a bib of this request".to_owned()))?;
        }
        for chunk in state_rows.chunks(INSERT_CHUNK) {
            entry_states::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        let added = state_rows
            .iter()
            .map(entry_change)
            .collect::<Result<Vec<_>, _>>()?;
        advance(
            &txn,
            change(event.id, seq, ChangeKind::EntriesAdded, status, added),
        )
        .await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(created)
    }

    #[instrument(skip_all, fields(event_id = %event.id, detections = batch.len()))]
    async fn ingest(
        &self,
        event: &Event,
        batch: Vec<IndexedDetection>,
    ) -> Result<IngestOutcome, RepoError> {
        crate::ingest::ingest(self, event, batch).await
    }

    async fn standings(&self, event_id: Uuid) -> Result<Vec<StandingRow>, RepoError> {
        let rows = self.entry_rows(event_id).await?;
        rows.iter()
            .map(|(e, a, s)| {
                let entry = entry_from(e, a, s)?;
                Ok(StandingRow {
                    entry_id: entry.id,
                    athlete_name: entry.athlete_name(),
                    bib: entry.bib,
                    athlete_id: entry.athlete_id,
                    athlete_private: entry.athlete_private,
                    category: entry.category,
                    gender: entry.gender,
                    age_group: entry.age_group,
                    status: status_from(&s.status)?,
                    last_point: s.last_point.map(|p| p as usize),
                    elapsed_ms: s.elapsed_ms,
                    net_time_ms: s.net_time_ms,
                    start_from_wave: s.start_from_wave,
                })
            })
            .collect()
    }

    async fn entry_record(
        &self,
        event: &Event,
        bib: &Bib,
    ) -> Result<Option<EntryRecord>, RepoError> {
        let event_id = event.id;
        let Some(entry) = entries::Entity::find()
            .filter(entries::Column::EventId.eq(event_id))
            .filter(entries::Column::Bib.eq(bib.as_str()))
            .one(&self.db)
            .await
            .map_err(unexpected)?
        else {
            return Ok(None);
        };
        let athlete = athletes::Entity::find_by_id(entry.athlete_id)
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .ok_or_else(|| {
                RepoError::Unexpected(anyhow::anyhow!("entry {} has no athlete", entry.id))
            })?;
        let state = entry_states::Entity::find_by_id(entry.id)
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .ok_or_else(|| {
                RepoError::Unexpected(anyhow::anyhow!("entry {} has no state", entry.id))
            })?;
        Ok(Some(EntryRecord {
            entry: entry_from(&entry, &athlete, &state)?,
            timeline: timeline_from(&event.course, &state)?,
            adjustments: adjustments_of(&state)?,
        }))
    }

    async fn entry_records(&self, event: &Event) -> Result<Vec<EntryRecord>, RepoError> {
        let rows = self.entry_rows(event.id).await?;
        rows.iter()
            .map(|(e, a, s)| {
                Ok(EntryRecord {
                    entry: entry_from(e, a, s)?,
                    timeline: timeline_from(&event.course, s)?,
                    adjustments: adjustments_of(s)?,
                })
            })
            .collect()
    }

    async fn raw_reads(&self, event: &Event, bib: &Bib) -> Result<Vec<RawRead>, RepoError> {
        officiating::raw_reads_of(&self.db, &event.course, event.id, bib).await
    }

    #[instrument(skip_all, fields(event_id = %event.id, bib = %correction.bib))]
    async fn apply_correction(
        &self,
        event: &Event,
        correction: NewCorrection,
    ) -> Result<Correction, RepoError> {
        let txn = self.db.begin().await.map_err(unexpected)?;
        let (seq, status) = lock_event(&txn, event.id).await?;
        let amendment = match status.correction_policy() {
            CorrectionPolicy::Open => false,
            CorrectionPolicy::AmendmentsOnly if correction.may_amend => true,
            CorrectionPolicy::AmendmentsOnly => {
                return Err(RepoError::Conflict(format!(
                    "results of event {} are OFFICIAL: only an admin can amend them",
                    event.id
                )))
            }
            CorrectionPolicy::Closed => {
                return Err(RepoError::Conflict(format!(
                    "event {} is {status}: its results no longer change",
                    event.id
                )))
            }
        };
        let state = entry_states::Entity::find()
            .filter(entry_states::Column::EventId.eq(event.id))
            .filter(entry_states::Column::Bib.eq(correction.bib.as_str()))
            .one(&txn)
            .await
            .map_err(unexpected)?
            .ok_or_else(|| {
                RepoError::NotFound(format!("bib {} in event {}", correction.bib, event.id))
            })?;
        let mut history =
            officiating::corrections_of(&txn, &event.course, event.id, Some(state.entry_id), None)
                .await?;
        let reads =
            officiating::raw_reads_of(&txn, &event.course, event.id, &correction.bib).await?;
        let ruling = Ruling::of(&event.course, &history);
        match &correction.action {
            CorrectionAction::Undo(target) => check_undo(&history, *target)?,
            CorrectionAction::IgnoreRead { point, at } => {
                let index = event.course.index_of(point.as_str());
                let known = reads.iter().any(|r| Some(r.point) == index && r.at == *at)
                    || ruling
                        .manual
                        .iter()
                        .any(|(p, t, _)| Some(*p) == index && t == at);
                if !known {
                    return Err(podium_domain::InvalidInput::new(
                        "at",
                        format!("bib {} has no read at {point} at {at}", correction.bib),
                    )
                    .into());
                }
                if index.is_some_and(|i| ruling.ignored.contains_key(&(i, *at))) {
                    return Err(podium_domain::InvalidInput::new(
                        "at",
                        format!("the read at {point} at {at} is already ignored"),
                    )
                    .into());
                }
            }
            _ => {}
        }

        let seq = seq + 1;
        let recorded = Correction {
            id: Uuid::now_v7(),
            event_id: event.id,
            entry_id: state.entry_id,
            bib: correction.bib.clone(),
            action: correction.action,
            reason: correction.reason,
            author: correction.author,
            created_at: Timestamp::from_chrono(Utc::now()),
            seq,
            amendment,
        };
        corrections::Entity::insert(officiating::correction_row(&recorded))
            .exec_without_returning(&txn)
            .await
            .map_err(unexpected)?;
        history.push(recorded.clone());

        let ruling = Ruling::of(&event.course, &history);
        let raw: Vec<(usize, Timestamp)> = reads.iter().map(|r| (r.point, r.at)).collect();
        let timeline = ruling.timeline(&event.course, &raw);
        let mut field = self.fields.take(&txn, event, seq - 1).await?;
        let pending = Pending {
            adjustments: ruling.adjustments.clone(),
            ..Pending::with_timeline(&state, timeline)?
        };
        let recomputed = recompute(&txn, event, &mut field, vec![pending], seq).await?;
        let changed = store_recomputed(&txn, event, recomputed, seq).await?;
        advance(
            &txn,
            change(event.id, seq, ChangeKind::Correction, status, changed),
        )
        .await?;
        if amendment {
            officiating::write_outbox(
                &txn,
                event.id,
                TOPIC_RESULT_AMENDED,
                serde_json::json!({
                    "eventId": event.id,
                    "entryId": recorded.entry_id,
                    "bib": recorded.bib.as_str(),
                    "correctionId": recorded.id,
                    "kind": recorded.action.kind().as_str(),
                    "reason": recorded.reason,
                    "seq": seq,
                }),
                seq,
            )
            .await?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(recorded)
    }

    async fn corrections(
        &self,
        event: &Event,
        bib: Option<&Bib>,
    ) -> Result<Vec<Correction>, RepoError> {
        officiating::corrections_of(&self.db, &event.course, event.id, None, bib).await
    }

    async fn flags(
        &self,
        event_id: Uuid,
        filter: &FlagFilter,
    ) -> Result<Vec<StoredFlag>, RepoError> {
        let mut query =
            flags_table::Entity::find().filter(flags_table::Column::EventId.eq(event_id));
        if let Some(status) = filter.status {
            query = query.filter(flags_table::Column::Status.eq(status.as_str()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(flags_table::Column::Kind.eq(kind.as_str()));
        }
        if let Some(bib) = &filter.bib {
            query = query.filter(flags_table::Column::Bib.eq(bib.as_str()));
        }
        query
            .order_by_asc(flags_table::Column::Bib)
            .order_by_asc(flags_table::Column::Id)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(officiating::stored_flag)
            .collect()
    }

    async fn review_flag(
        &self,
        event_id: Uuid,
        flag_id: Uuid,
        review: FlagReview,
        by: &str,
        note: &str,
    ) -> Result<StoredFlag, RepoError> {
        let txn = self.db.begin().await.map_err(unexpected)?;
        let (seq, status) = lock_event(&txn, event_id).await?;
        let current = flags_table::Entity::find_by_id(flag_id)
            .filter(flags_table::Column::EventId.eq(event_id))
            .one(&txn)
            .await
            .map_err(unexpected)?
            .ok_or_else(|| RepoError::NotFound(format!("flag {flag_id} in event {event_id}")))?;
        let from: FlagStatus = current
            .status
            .parse()
            .map_err(|e| RepoError::Unexpected(anyhow::anyhow!("stored flag status: {e}")))?;
        let to = match (review, from) {
            (FlagReview::Dismiss, FlagStatus::Open) => FlagStatus::Dismissed,
            (FlagReview::Reopen, FlagStatus::Dismissed) => FlagStatus::Open,
            (FlagReview::Dismiss, _) => {
                return Err(podium_domain::InvalidInput::new(
                    "action",
                    format!("flag {flag_id} is {from}; only an OPEN flag can be dismissed"),
                )
                .into())
            }
            (FlagReview::Reopen, _) => {
                return Err(podium_domain::InvalidInput::new(
                    "action",
                    format!("flag {flag_id} is {from}; only a DISMISSED flag can be reopened"),
                )
                .into())
            }
        };
        let seq = seq + 1;
        let flag = officiating::review_flag(&txn, current, to, seq, by, note).await?;
        advance(
            &txn,
            change(event_id, seq, ChangeKind::FlagReview, status, Vec::new()),
        )
        .await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(flag)
    }

    async fn changes(
        &self,
        event_id: Uuid,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<EventChange>, RepoError> {
        event_changes::Entity::find()
            .filter(event_changes::Column::EventId.eq(event_id))
            .filter(event_changes::Column::Seq.gt(after_seq))
            .order_by_asc(event_changes::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|row| {
                serde_json::from_str(&row.payload).map_err(|e| {
                    RepoError::Unexpected(anyhow::anyhow!("stored change {}: {e}", row.seq))
                })
            })
            .collect()
    }

    async fn pending_outbox(&self, event_id: Uuid) -> Result<Vec<OutboxMessage>, RepoError> {
        officiating::pending_outbox(&self.db, event_id).await
    }

    async fn detections(&self, event_id: Uuid, bib: &Bib) -> Result<Vec<Detection>, RepoError> {
        detections::Entity::find()
            .filter(detections::Column::EventId.eq(event_id))
            .filter(detections::Column::Bib.eq(bib.as_str()))
            .order_by_asc(detections::Column::Ts)
            .order_by_asc(detections::Column::TimingPoint)
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|d| {
                Ok(Detection {
                    bib: bib.clone(),
                    point: TimingPointCode::parse(&d.timing_point).map_err(|e| {
                        RepoError::Unexpected(anyhow::anyhow!("stored timing point: {e}"))
                    })?,
                    at: Timestamp::from_chrono(d.ts),
                    read_id: d
                        .read_id
                        .as_deref()
                        .map(ReadId::parse)
                        .transpose()
                        .ok()
                        .flatten(),
                    device_id: d.device_id,
                })
            })
            .collect()
    }
}
