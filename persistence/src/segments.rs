//! The per-segment table (`segment_times`): every split of every finished entry, written in the
//! transaction that recomputes the entry (ingest, corrections), so cross-event analytics read
//! rows that always agree with the results. An entry that finishes gets its rows; one that is
//! recomputed while finished has them replaced; one that stops being finished (a DNF or DSQ
//! decision) loses them. Entries that never finished never cost a write here.

use crate::convert::unexpected;
use crate::entities::{entries, entry_states, segment_times};
use crate::recompute::Pending;
use crate::repository::{SeaRepository, INSERT_CHUNK};
use podium_domain::engine::{EntryStatus, Progress, Split};
use podium_domain::model::Event;
use podium_domain::ports::RaceRepository;
use podium_domain::ports::RepoError;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Writes the rows of every event whose entries finished before `segment_times` existed (a
/// database migrated from an earlier version); returns how many events it filled. Events
/// that already have rows are left alone, so it costs one probe per such event afterwards.
pub(crate) async fn backfill(repo: &SeaRepository) -> Result<usize, RepoError> {
    let db = repo.connection();
    let finished: Vec<Uuid> = entry_states::Entity::find()
        .select_only()
        .column(entry_states::Column::EventId)
        .filter(entry_states::Column::Status.eq("FINISHED"))
        .distinct()
        .into_tuple()
        .all(db)
        .await
        .map_err(unexpected)?;
    let mut filled = 0;
    for event_id in finished {
        if has_rows(db, event_id).await? {
            continue;
        }
        let Some(event) = repo.event(event_id).await? else {
            continue;
        };
        // Under the event's lock, checked again: another instance starting at the same time
        // may have filled it.
        let txn = db.begin().await.map_err(unexpected)?;
        crate::repository::lock_event(&txn, event_id).await?;
        if has_rows(&txn, event_id).await? {
            continue;
        }
        let states = entry_states::Entity::find()
            .filter(entry_states::Column::EventId.eq(event_id))
            .filter(entry_states::Column::Status.eq("FINISHED"))
            .all(&txn)
            .await
            .map_err(unexpected)?;
        let mut changed = Vec::with_capacity(states.len());
        for state in &states {
            let pending = Pending::of(&event.course, state)?;
            changed.push(Resplit {
                entry_id: state.entry_id,
                was_finished: false,
                progress: pending.evaluate(&event.course),
            });
        }
        sync(&txn, &event, changed).await?;
        txn.commit().await.map_err(unexpected)?;
        filled += 1;
    }
    Ok(filled)
}

async fn has_rows<C: ConnectionTrait>(db: &C, event_id: Uuid) -> Result<bool, RepoError> {
    Ok(segment_times::Entity::find()
        .filter(segment_times::Column::EventId.eq(event_id))
        .one(db)
        .await
        .map_err(unexpected)?
        .is_some())
}

/// An entry whose splits may have changed, evaluated.
pub(crate) struct Resplit {
    pub entry_id: Uuid,
    /// It was finished before (so it may have rows to replace).
    pub was_finished: bool,
    pub progress: Progress,
}

/// How a split counts in statistics.
pub fn kind_of(split: &Split) -> &'static str {
    if split.is_merged() {
        "MERGED"
    } else if split.estimated {
        "ESTIMATED"
    } else {
        "MEASURED"
    }
}

/// Brings the rows of `changed` entries in line with their new evaluation.
pub(crate) async fn sync(
    txn: &DatabaseTransaction,
    event: &Event,
    changed: Vec<Resplit>,
) -> Result<(), RepoError> {
    let finished = |r: &Resplit| r.progress.status == EntryStatus::Finished;
    let stale: Vec<Uuid> = changed
        .iter()
        .filter(|r| r.was_finished)
        .map(|r| r.entry_id)
        .collect();
    for chunk in stale.chunks(INSERT_CHUNK) {
        segment_times::Entity::delete_many()
            .filter(segment_times::Column::EntryId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await
            .map_err(unexpected)?;
    }
    let now: Vec<&Resplit> = changed.iter().filter(|r| finished(r)).collect();
    if now.is_empty() {
        return Ok(());
    }
    let mut who: HashMap<Uuid, Attributes> = HashMap::with_capacity(now.len());
    let ids: Vec<Uuid> = now.iter().map(|r| r.entry_id).collect();
    for chunk in ids.chunks(INSERT_CHUNK) {
        let found = entries::Entity::find()
            .select_only()
            .column(entries::Column::Id)
            .column(entries::Column::AthleteId)
            .column(entries::Column::Bib)
            .column(entries::Column::Category)
            .column(entries::Column::Gender)
            .column(entries::Column::AgeGroup)
            .filter(entries::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple::<Attributes>()
            .all(txn)
            .await
            .map_err(unexpected)?;
        who.extend(found.into_iter().map(|a| (a.0, a)));
    }
    let (course, season) = (event.course.code().to_owned(), event.season());
    let mut rows = Vec::with_capacity(now.len() * event.course.segments().len());
    for r in now {
        let Some((_, athlete_id, bib, category, gender, age_group)) = who.get(&r.entry_id) else {
            continue;
        };
        for split in &r.progress.splits {
            let Some(ended_at) = r
                .progress
                .passed
                .iter()
                .find(|(point, _)| *point == split.to_point)
                .map(|(_, t)| t.to_chrono())
            else {
                continue;
            };
            let Some(segment) = event.course.segments().get(split.from_point) else {
                continue;
            };
            rows.push(segment_times::Model {
                entry_id: r.entry_id,
                seg_index: split.from_point as i32,
                event_id: event.id,
                athlete_id: *athlete_id,
                bib: bib.clone(),
                segment: segment.code.clone(),
                span: (split.to_point - split.from_point) as i32,
                kind: kind_of(split).to_owned(),
                duration_ms: split.duration.0,
                ended_at,
                course: course.clone(),
                category: category.clone(),
                gender: gender.clone(),
                age_group: age_group.clone(),
                season,
                venue_id: event.venue_id,
            });
        }
    }
    insert(txn, rows).await
}

/// An entry's id, athlete, bib, category, gender and age group.
type Attributes = (Uuid, Uuid, String, String, String, Option<String>);

/// Rows per JSON-parameter insert on PostgreSQL.
const JSON_CHUNK: usize = 20_000;

async fn insert(
    txn: &DatabaseTransaction,
    rows: Vec<segment_times::Model>,
) -> Result<(), RepoError> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // One JSON parameter per many rows: far fewer bind parameters to parse than a
        // multi-row VALUES (the same path as detections).
        for chunk in rows.chunks(JSON_CHUNK) {
            let json = serde_json::to_string(&chunk.iter().map(json_row).collect::<Vec<_>>())
                .map_err(|e| RepoError::Unexpected(e.into()))?;
            txn.execute(sea_orm::Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "INSERT INTO segment_times (entry_id, seg_index, event_id, athlete_id, bib, segment, \
                 span, kind, duration_ms, ended_at, course, category, gender, age_group, season, \
                 venue_id) SELECT * FROM json_to_recordset($1::json) AS t(entry_id uuid, \
                 seg_index integer, event_id uuid, athlete_id uuid, bib text, segment text, span integer, \
                 kind text, duration_ms bigint, ended_at timestamptz, course text, category text, \
                 gender text, age_group text, season integer, venue_id uuid)",
                [json.into()],
            ))
            .await
            .map_err(unexpected)?;
        }
        return Ok(());
    }
    for chunk in rows.chunks(INSERT_CHUNK / 4) {
        segment_times::Entity::insert_many(chunk.iter().cloned().map(active))
            .exec_without_returning(txn)
            .await
            .map_err(unexpected)?;
    }
    Ok(())
}

fn json_row(m: &segment_times::Model) -> serde_json::Value {
    serde_json::json!({
        "entry_id": m.entry_id,
        "seg_index": m.seg_index,
        "event_id": m.event_id,
        "athlete_id": m.athlete_id,
        "bib": m.bib,
        "segment": m.segment,
        "span": m.span,
        "kind": m.kind,
        "duration_ms": m.duration_ms,
        "ended_at": m.ended_at,
        "course": m.course,
        "category": m.category,
        "gender": m.gender,
        "age_group": m.age_group,
        "season": m.season,
        "venue_id": m.venue_id,
    })
}

fn active(m: segment_times::Model) -> segment_times::ActiveModel {
    segment_times::ActiveModel {
        entry_id: Set(m.entry_id),
        seg_index: Set(m.seg_index),
        event_id: Set(m.event_id),
        athlete_id: Set(m.athlete_id),
        bib: Set(m.bib),
        segment: Set(m.segment),
        span: Set(m.span),
        kind: Set(m.kind),
        duration_ms: Set(m.duration_ms),
        ended_at: Set(m.ended_at),
        course: Set(m.course),
        category: Set(m.category),
        gender: Set(m.gender),
        age_group: Set(m.age_group),
        season: Set(m.season),
        venue_id: Set(m.venue_id),
    }
}
