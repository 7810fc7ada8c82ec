//! The per-segment data of official results (`result_splits`, read per segment through the
//! `segment_times` view): one row per finished entry of an official event, its splits keyed by
//! segment code — what every cross-event query reads. The rows are written in the transaction
//! that makes the results official, and kept in step in the transaction of every recompute
//! after it (an amendment): a recomputed entry's row is rewritten, and an entry no longer
//! finished (a DSQ decision) loses it.
//!
//! Why only official events: nothing reads a live event's rows (its analytics come from its
//! evaluated entries in memory), and keeping them during the race cost every ingest batch a
//! second write — measured on the shuffled 3,000-entry race day, 5–6 s became 10 s.
//!
//! Why one row per entry and not per split: an import of 100,000 results wrote 2.4 million
//! split rows at ~25 µs each and took twice as long; the same splits as 100,000 rows cost a
//! few seconds, and every cross-event query reads whole efforts or one key of each.

use crate::convert::unexpected;
use crate::entities::{entries, entry_states, result_splits};
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
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Writes the rows of the events official before `result_splits` existed or changed shape
/// (the migrations list them in `segment_times_pending`); returns how many it filled. Each is
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
            progress: pending.evaluate(&event.course),
        });
    }
    let written = changed.len();
    sync(txn, event, changed).await?;
    Ok(written)
}

/// A recomputed entry of an official event, evaluated.
pub(crate) struct Resplit {
    pub entry_id: Uuid,
    pub progress: Progress,
}

/// One split as stored under its (first) segment's code in `result_splits.splits`: the JSON
/// array `[index, span, kind, ms, elapsed_ms]` (compact: a row holds 24 of them, and its size
/// is what PostgreSQL pays to parse into `jsonb`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CellArray", into = "CellArray")]
pub struct SplitCell {
    /// The course segment the split starts at.
    pub index: usize,
    /// Segments it covers: 1 unless merged over missed mats.
    pub span: usize,
    pub kind: Kind,
    pub ms: i64,
    /// The elapsed time from the start when it ended.
    pub elapsed_ms: i64,
}

type CellArray = (usize, usize, Kind, i64, i64);

impl From<CellArray> for SplitCell {
    fn from((index, span, kind, ms, elapsed_ms): CellArray) -> Self {
        Self {
            index,
            span,
            kind,
            ms,
            elapsed_ms,
        }
    }
}

impl From<SplitCell> for CellArray {
    fn from(c: SplitCell) -> Self {
        (c.index, c.span, c.kind, c.ms, c.elapsed_ms)
    }
}

/// How a split counts in statistics; stored as one letter (the `segment_times` view spells it
/// out: `MEASURED`, `MERGED`, `ESTIMATED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Between two accepted reads.
    #[serde(rename = "M")]
    Measured,
    /// Over one or more missed mats.
    #[serde(rename = "G")]
    Merged,
    /// Ends or starts at an estimated time (an import's roxzone).
    #[serde(rename = "E")]
    Estimated,
}

impl Kind {
    pub fn of(split: &Split) -> Self {
        if split.is_merged() {
            Self::Merged
        } else if split.estimated {
            Self::Estimated
        } else {
            Self::Measured
        }
    }
}

/// The start instant (Unix ms) and the splits by segment code of a finished entry's
/// evaluation (`None` when not finished).
pub fn cells(event: &Event, progress: &Progress) -> Option<(i64, BTreeMap<String, SplitCell>)> {
    if progress.status != EntryStatus::Finished {
        return None;
    }
    let start = progress.start?.0;
    let cells = progress
        .splits
        .iter()
        .filter_map(|split| {
            let ended = progress
                .passed
                .iter()
                .find(|(point, _)| *point == split.to_point)?
                .1;
            let segment = event.course.segments().get(split.from_point)?;
            Some((
                segment.code.clone(),
                SplitCell {
                    index: split.from_point,
                    span: split.to_point - split.from_point,
                    kind: Kind::of(split),
                    ms: split.duration.0,
                    elapsed_ms: ended.0 - start,
                },
            ))
        })
        .collect();
    Some((start, cells))
}

/// The measured durations of a row by segment index, packed as little-endian `i32` ms (`-1`:
/// no measured split there) in `result_splits.measured`, for statistics over every row of a
/// season (see the migration `m20261203_000004_result_splits_measured`).
pub struct Measured;

impl Measured {
    const NONE: i32 = -1;

    /// `segments` slots, each a measured split's duration or nothing.
    pub fn pack(segments: usize, cells: &BTreeMap<String, SplitCell>) -> Vec<u8> {
        let mut slots = vec![Self::NONE; segments];
        for cell in cells.values() {
            if cell.kind == Kind::Measured && cell.span == 1 {
                if let (Some(slot), Ok(ms)) = (slots.get_mut(cell.index), i32::try_from(cell.ms)) {
                    *slot = ms;
                }
            }
        }
        slots.iter().flat_map(|ms| ms.to_le_bytes()).collect()
    }

    /// The measured durations as (segment index, ms).
    pub fn unpack(bytes: &[u8]) -> impl Iterator<Item = (usize, i64)> + '_ {
        bytes.chunks_exact(4).enumerate().filter_map(|(index, b)| {
            let ms = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (ms != Self::NONE).then_some((index, i64::from(ms)))
        })
    }
}

/// Brings the rows of `changed` entries in line with their new evaluation: a finished entry's
/// row is (re)written, the row of one no longer finished deleted.
pub(crate) async fn sync(
    txn: &DatabaseTransaction,
    event: &Event,
    changed: Vec<Resplit>,
) -> Result<(), RepoError> {
    let (finished, gone): (Vec<Resplit>, Vec<Resplit>) = changed
        .into_iter()
        .partition(|r| r.progress.status == EntryStatus::Finished);
    for chunk in gone.chunks(INSERT_CHUNK) {
        result_splits::Entity::delete_many()
            .filter(result_splits::Column::EntryId.is_in(chunk.iter().map(|r| r.entry_id)))
            .exec(txn)
            .await
            .map_err(unexpected)?;
    }
    if finished.is_empty() {
        return Ok(());
    }
    let mut who: HashMap<Uuid, Attributes> = HashMap::with_capacity(finished.len());
    for chunk in finished.chunks(INSERT_CHUNK) {
        let found = entries::Entity::find()
            .select_only()
            .column(entries::Column::Id)
            .column(entries::Column::AthleteId)
            .column(entries::Column::Bib)
            .column(entries::Column::Category)
            .column(entries::Column::Gender)
            .column(entries::Column::AgeGroup)
            .filter(entries::Column::Id.is_in(chunk.iter().map(|r| r.entry_id)))
            .into_tuple::<Attributes>()
            .all(txn)
            .await
            .map_err(unexpected)?;
        who.extend(found.into_iter().map(|a| (a.0, a)));
    }
    let (course, season) = (event.course.code().to_owned(), event.season());
    let mut rows = Vec::with_capacity(finished.len());
    for r in finished {
        let Some((_, athlete_id, bib, category, gender, age_group)) = who.remove(&r.entry_id)
        else {
            continue;
        };
        let Some((started_ms, cells)) = cells(event, &r.progress) else {
            continue;
        };
        let measured = Measured::pack(event.course.segments().len(), &cells);
        let splits = serde_json::to_value(cells).map_err(|e| RepoError::Unexpected(e.into()))?;
        rows.push(result_splits::Model {
            entry_id: r.entry_id,
            event_id: event.id,
            athlete_id,
            bib,
            course: course.clone(),
            category,
            gender,
            age_group,
            season,
            venue_id: event.venue_id,
            started_ms,
            splits,
            measured: Some(measured),
        });
    }
    upsert(txn, rows).await
}

/// An entry's id, athlete, bib, category, gender and age group.
type Attributes = (Uuid, Uuid, String, String, String, Option<String>);

/// Rows per JSON-parameter insert on PostgreSQL.
const JSON_CHUNK: usize = 5_000;

/// Writes `rows`, replacing the entry's row where there is one.
async fn upsert(
    txn: &DatabaseTransaction,
    rows: Vec<result_splits::Model>,
) -> Result<(), RepoError> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // One JSON parameter per many rows: far fewer bind parameters to parse than a
        // multi-row VALUES (the same path as detections). The splits go as a JSON string cast
        // to `jsonb`: a nested object would be parsed twice (measured: 91 µs a row against
        // 35 µs).
        for chunk in rows.chunks(JSON_CHUNK) {
            let chunk: Vec<WireRow> = chunk.iter().map(WireRow::of).collect();
            let json =
                serde_json::to_string(&chunk).map_err(|e| RepoError::Unexpected(e.into()))?;
            txn.execute(sea_orm::Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "INSERT INTO result_splits (entry_id, event_id, athlete_id, bib, course, \
                 category, gender, age_group, season, venue_id, started_ms, splits, measured) \
                 SELECT entry_id, event_id, athlete_id, bib, course, category, gender, \
                 age_group, season, venue_id, started_ms, splits::jsonb, decode(measured, 'hex') \
                 FROM json_to_recordset($1::json) AS t(entry_id uuid, event_id uuid, \
                 athlete_id uuid, bib text, course text, category text, gender text, \
                 age_group text, season integer, venue_id uuid, started_ms bigint, splits text, \
                 measured text) \
                 ON CONFLICT (entry_id) DO UPDATE SET started_ms = excluded.started_ms, \
                 splits = excluded.splits, measured = excluded.measured",
                [json.into()],
            ))
            .await
            .map_err(unexpected)?;
        }
        return Ok(());
    }
    for chunk in rows.chunks(INSERT_CHUNK / 4) {
        result_splits::Entity::insert_many(chunk.iter().cloned().map(active))
            .on_conflict(
                OnConflict::column(result_splits::Column::EntryId)
                    .update_columns([
                        result_splits::Column::StartedMs,
                        result_splits::Column::Splits,
                        result_splits::Column::Measured,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await
            .map_err(unexpected)?;
    }
    Ok(())
}

fn active(m: result_splits::Model) -> result_splits::ActiveModel {
    result_splits::ActiveModel {
        entry_id: Set(m.entry_id),
        event_id: Set(m.event_id),
        athlete_id: Set(m.athlete_id),
        bib: Set(m.bib),
        course: Set(m.course),
        category: Set(m.category),
        gender: Set(m.gender),
        age_group: Set(m.age_group),
        season: Set(m.season),
        venue_id: Set(m.venue_id),
        started_ms: Set(m.started_ms),
        splits: Set(m.splits),
        measured: Set(m.measured),
    }
}

/// A row as the PostgreSQL insert reads it (the splits as a JSON string).
#[derive(Serialize)]
struct WireRow<'a> {
    entry_id: Uuid,
    event_id: Uuid,
    athlete_id: Uuid,
    bib: &'a str,
    course: &'a str,
    category: &'a str,
    gender: &'a str,
    age_group: Option<&'a str>,
    season: i32,
    venue_id: Option<Uuid>,
    started_ms: i64,
    splits: String,
    /// Hex (decoded by the insert).
    measured: Option<String>,
}

impl<'a> WireRow<'a> {
    fn of(m: &'a result_splits::Model) -> Self {
        Self {
            entry_id: m.entry_id,
            event_id: m.event_id,
            athlete_id: m.athlete_id,
            bib: &m.bib,
            course: &m.course,
            category: &m.category,
            gender: &m.gender,
            age_group: m.age_group.as_deref(),
            season: m.season,
            venue_id: m.venue_id,
            started_ms: m.started_ms,
            splits: m.splits.to_string(),
            measured: m.measured.as_deref().map(hex::encode),
        }
    }
}
