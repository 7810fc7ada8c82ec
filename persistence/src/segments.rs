//! The per-segment table (`segment_times`): every split of every finished entry of an official
//! event — what every cross-event query reads. The rows are written in the transaction that
//! makes the results official, and kept in step in the transaction of every recompute after
//! it (an amendment): only the splits that changed are written, the gone ones deleted, and an
//! entry no longer finished (a DSQ decision) loses them.
//!
//! Why only official events: nothing reads a live event's rows (its analytics come from its
//! evaluated entries in memory), and keeping them during the race cost every ingest batch a
//! second write per split — measured on the shuffled 3,000-entry race day, 5–6 s became
//! 10 s. Written at the transition, they cost it once, off the live path.

use crate::convert::unexpected;
use crate::entities::{entries, entry_states, segment_times};
use crate::recompute::Pending;
use crate::repository::{SeaRepository, INSERT_CHUNK};
use podium_domain::engine::{EntryStatus, Progress, Split};
use podium_domain::model::Event;
use podium_domain::ports::RaceRepository;
use podium_domain::ports::RepoError;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Writes the rows of the events that were already official when `segment_times` was created
/// (the migration lists them in `segment_times_pending`); returns how many it filled. Each is
/// taken off the list in the transaction that fills it, under the event's lock, so instances
/// starting together fill each once; afterwards a start reads one empty table.
pub(crate) async fn backfill(repo: &SeaRepository) -> Result<usize, RepoError> {
    use sea_orm::sea_query::{Alias, Query};
    let db = repo.connection();
    let (table, column) = (Alias::new("segment_times_pending"), Alias::new("event_id"));
    let listed = Query::select()
        .column(column.clone())
        .from(table.clone())
        .to_owned();
    let pending: Vec<Uuid> = db
        .query_all(db.get_database_backend().build(&listed))
        .await
        .map_err(unexpected)?
        .iter()
        .map(|row| row.try_get("", "event_id"))
        .collect::<Result<_, _>>()
        .map_err(unexpected)?;
    let mut filled = 0;
    for event_id in pending {
        let txn = db.begin().await.map_err(unexpected)?;
        crate::repository::lock_event(&txn, event_id).await?;
        let taken = Query::delete()
            .from_table(table.clone())
            .and_where(sea_orm::sea_query::Expr::col(column.clone()).eq(event_id))
            .to_owned();
        let taken = txn
            .execute(txn.get_database_backend().build(&taken))
            .await
            .map_err(unexpected)?
            .rows_affected();
        // Another instance starting at the same time took it first.
        if taken == 1 {
            if let Some(event) = repo.event(event_id).await? {
                if fill(&txn, &event).await? > 0 {
                    filled += 1;
                }
            }
        }
        txn.commit().await.map_err(unexpected)?;
    }
    Ok(filled)
}

/// Writes the rows of every finished entry of `event` (which has none yet): when its results
/// become official, in the transaction that makes them so. Returns the entries written.
pub(crate) async fn fill(txn: &DatabaseTransaction, event: &Event) -> Result<usize, RepoError> {
    let states = entry_states::Entity::find()
        .filter(entry_states::Column::EventId.eq(event.id))
        .filter(entry_states::Column::Status.eq("FINISHED"))
        .all(txn)
        .await
        .map_err(unexpected)?;
    let mut changed = Vec::with_capacity(states.len());
    for state in &states {
        let pending = Pending::of(&event.course, state)?;
        changed.push(Resplit {
            entry_id: state.entry_id,
            before: None,
            progress: pending.evaluate(&event.course),
        });
    }
    let written = changed.len();
    sync(txn, event, changed).await?;
    Ok(written)
}

/// An entry whose splits may have changed, evaluated, with its evaluation before when it was
/// finished (what its rows were written from).
pub(crate) struct Resplit {
    pub entry_id: Uuid,
    pub before: Option<Progress>,
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

/// What a row says of a split: its start, span, kind, duration and end instant.
type SplitRow = (
    usize,
    usize,
    &'static str,
    i64,
    chrono::DateTime<chrono::Utc>,
);

/// The rows a finished entry's evaluation gives (none when it is not finished).
fn split_rows(progress: &Progress) -> Vec<SplitRow> {
    if progress.status != EntryStatus::Finished {
        return Vec::new();
    }
    progress
        .splits
        .iter()
        .filter_map(|split| {
            let ended_at = progress
                .passed
                .iter()
                .find(|(point, _)| *point == split.to_point)?
                .1
                .to_chrono();
            Some((
                split.from_point,
                split.to_point - split.from_point,
                kind_of(split),
                split.duration.0,
                ended_at,
            ))
        })
        .collect()
}

/// Brings the rows of `changed` entries in line with their new evaluation: only the splits
/// that changed are written (a late read usually splits one merged split in two), those that
/// are gone deleted, and everything of an entry that is no longer finished.
pub(crate) async fn sync(
    txn: &DatabaseTransaction,
    event: &Event,
    changed: Vec<Resplit>,
) -> Result<(), RepoError> {
    let mut gone: Vec<(Uuid, Vec<i32>)> = Vec::new();
    let mut written: Vec<(Uuid, Vec<SplitRow>)> = Vec::new();
    for r in &changed {
        let before = r.before.as_ref().map(split_rows).unwrap_or_default();
        let after = split_rows(&r.progress);
        let removed: Vec<i32> = before
            .iter()
            .filter(|b| !after.iter().any(|a| a.0 == b.0))
            .map(|b| b.0 as i32)
            .collect();
        let new: Vec<SplitRow> = after.into_iter().filter(|a| !before.contains(a)).collect();
        if !removed.is_empty() {
            gone.push((r.entry_id, removed));
        }
        if !new.is_empty() {
            written.push((r.entry_id, new));
        }
    }
    for chunk in gone.chunks(INSERT_CHUNK / 4) {
        let mut any = sea_orm::Condition::any();
        for (entry_id, starts) in chunk {
            any = any.add(
                sea_orm::Condition::all()
                    .add(segment_times::Column::EntryId.eq(*entry_id))
                    .add(segment_times::Column::SegIndex.is_in(starts.iter().copied())),
            );
        }
        segment_times::Entity::delete_many()
            .filter(any)
            .exec(txn)
            .await
            .map_err(unexpected)?;
    }
    if written.is_empty() {
        return Ok(());
    }
    let mut who: HashMap<Uuid, Attributes> = HashMap::with_capacity(written.len());
    let ids: Vec<Uuid> = written.iter().map(|(id, _)| *id).collect();
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
    let mut rows = Vec::with_capacity(written.iter().map(|(_, w)| w.len()).sum());
    for (entry_id, splits) in written {
        let Some((_, athlete_id, bib, category, gender, age_group)) = who.get(&entry_id) else {
            continue;
        };
        for (start, span, kind, duration_ms, ended_at) in splits {
            let Some(segment) = event.course.segments().get(start) else {
                continue;
            };
            rows.push(segment_times::Model {
                entry_id,
                seg_index: start as i32,
                event_id: event.id,
                athlete_id: *athlete_id,
                bib: bib.clone(),
                segment: segment.code.clone(),
                span: span as i32,
                kind: kind.to_owned(),
                duration_ms,
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
    upsert(txn, rows).await
}

/// An entry's id, athlete, bib, category, gender and age group.
type Attributes = (Uuid, Uuid, String, String, String, Option<String>);

/// Rows per JSON-parameter insert on PostgreSQL.
const JSON_CHUNK: usize = 20_000;

/// Writes `rows`, replacing the split of the same entry and start where there is one.
async fn upsert(
    txn: &DatabaseTransaction,
    rows: Vec<segment_times::Model>,
) -> Result<(), RepoError> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // One JSON parameter per many rows: far fewer bind parameters to parse than a
        // multi-row VALUES (the same path as detections).
        for chunk in rows.chunks(JSON_CHUNK) {
            let json = serde_json::to_string(chunk).map_err(|e| RepoError::Unexpected(e.into()))?;
            txn.execute(sea_orm::Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "INSERT INTO segment_times (entry_id, seg_index, event_id, athlete_id, bib, segment, \
                 span, kind, duration_ms, ended_at, course, category, gender, age_group, season, \
                 venue_id) SELECT * FROM json_to_recordset($1::json) AS t(entry_id uuid, \
                 seg_index integer, event_id uuid, athlete_id uuid, bib text, segment text, span integer, \
                 kind text, duration_ms bigint, ended_at timestamptz, course text, category text, \
                 gender text, age_group text, season integer, venue_id uuid) \
                 ON CONFLICT (entry_id, seg_index) DO UPDATE SET segment = excluded.segment, \
                 span = excluded.span, kind = excluded.kind, duration_ms = excluded.duration_ms, \
                 ended_at = excluded.ended_at",
                [json.into()],
            ))
            .await
            .map_err(unexpected)?;
        }
        return Ok(());
    }
    for chunk in rows.chunks(INSERT_CHUNK / 4) {
        segment_times::Entity::insert_many(chunk.iter().cloned().map(active))
            .on_conflict(
                OnConflict::columns([
                    segment_times::Column::EntryId,
                    segment_times::Column::SegIndex,
                ])
                .update_columns([
                    segment_times::Column::Segment,
                    segment_times::Column::Span,
                    segment_times::Column::Kind,
                    segment_times::Column::DurationMs,
                    segment_times::Column::EndedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await
            .map_err(unexpected)?;
    }
    Ok(())
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
