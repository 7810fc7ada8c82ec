//! The ingest transaction, in the steps of `docs/architecture.md` ("The path of a
//! detection"): lock the event, drop the batch's own repeats, find the entries, insert the new
//! reads (the database decides what is new), merge them into timelines, evaluate and flag,
//! store, and advance the event's `seq`.

use crate::changes::{advance, announce_status, change, store_recomputed};
use crate::convert::{timeline_from, unexpected};
use crate::entities::{detections, entry_states};
use crate::recompute::{recompute, Pending};
use crate::repository::{lock_event, SeaRepository, INSERT_CHUNK};
use chrono::Utc;
use podium_domain::course::Course;
use podium_domain::engine::Timeline;
use podium_domain::live::ChangeKind;
use podium_domain::model::{Event, EventStatus};
use podium_domain::ports::{IndexedDetection, IngestOutcome, RepoError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryTrait, TransactionTrait,
};
use std::collections::{HashMap, HashSet};
use tracing::Instrument;
use uuid::Uuid;

/// Stores a batch of checked detections and recomputes the entries they change, in one
/// transaction under the event's lock (see `RaceRepository::ingest`).
#[tracing::instrument(name = "db.ingest", skip_all, fields(event = %event.id, rows = batch.len(), seq = tracing::field::Empty))]
pub(crate) async fn ingest(
    repo: &SeaRepository,
    event: &Event,
    batch: Vec<IndexedDetection>,
) -> Result<IngestOutcome, RepoError> {
    let mut outcome = IngestOutcome::default();
    let txn = repo.db.begin().await.map_err(unexpected)?;
    let (current_seq, status) = lock_event(&txn, event.id).await?;
    if !status.accepts_detections() {
        return Err(RepoError::Conflict(format!(
            "event {} is {status} and accepts no detections",
            event.id
        )));
    }
    outcome.seq = current_seq;
    if batch.is_empty() {
        txn.commit().await.map_err(unexpected)?;
        return Ok(outcome);
    }

    let unique = drop_repeats(batch, &mut outcome);
    let (unique, states) = find_entries(&txn, event, unique, &mut outcome).await?;
    let new_reads =
        insert_new_reads(&txn, event, unique, repo.read_ids_keyed_apart, &mut outcome).await?;
    if new_reads.is_empty() {
        txn.commit().await.map_err(unexpected)?;
        return Ok(outcome);
    }

    let seq = current_seq + 1;
    let pending = merge(&event.course, &new_reads, &states)?;
    let mut field = repo.fields.take(&txn, event, current_seq).await?;
    // Ingest never reaches an official event: no `segment_times` rows to keep in step.
    let recomputed = recompute(&txn, event, &mut field, pending, seq, false).await?;
    outcome
        .changed_entries
        .extend(recomputed.iter().map(|r| *r.state.entry_id.as_ref()));
    let changed = store_recomputed(&txn, event, recomputed, seq).await?;

    let went_live = status == EventStatus::Scheduled;
    let new_status = if went_live { EventStatus::Live } else { status };
    advance(
        &txn,
        change(event.id, seq, ChangeKind::Detections, new_status, changed),
    )
    .await?;
    if went_live {
        announce_status(&txn, event.id, status, EventStatus::Live, seq).await?;
    }
    txn.commit()
        .instrument(tracing::info_span!("db.commit"))
        .await
        .map_err(unexpected)?;
    repo.fields.put(event.id, seq, field);
    tracing::Span::current().record("seq", seq);
    outcome.seq = seq;
    outcome.changed_entries.sort();
    Ok(outcome)
}

/// The batch without its own repeats (the same read id, or the same bib, point and instant),
/// counted as duplicates.
fn drop_repeats(
    batch: Vec<IndexedDetection>,
    outcome: &mut IngestOutcome,
) -> Vec<IndexedDetection> {
    let mut read_ids = HashSet::new();
    let mut contents = HashSet::new();
    let mut unique = Vec::with_capacity(batch.len());
    for d in batch {
        let by_read = d
            .detection
            .read_id
            .as_ref()
            .is_some_and(|r| !read_ids.insert(r.clone()));
        let key = (d.detection.bib.clone(), d.point_index, d.detection.at);
        if by_read || !contents.insert(key) {
            outcome.duplicates += 1;
        } else {
            unique.push(d);
        }
    }
    unique
}

/// The stored states of the batch's entries, by bib; reads of unknown bibs are rejected.
#[tracing::instrument(name = "db.find_entries", skip_all)]
async fn find_entries(
    txn: &DatabaseTransaction,
    event: &Event,
    mut unique: Vec<IndexedDetection>,
    outcome: &mut IngestOutcome,
) -> Result<(Vec<IndexedDetection>, HashMap<String, entry_states::Model>), RepoError> {
    let bibs: Vec<String> = unique
        .iter()
        .map(|d| d.detection.bib.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut states: HashMap<String, entry_states::Model> = HashMap::with_capacity(bibs.len());
    for chunk in bibs.chunks(INSERT_CHUNK * 2) {
        for s in entry_states::Entity::find()
            .filter(entry_states::Column::EventId.eq(event.id))
            .filter(entry_states::Column::Bib.is_in(chunk.iter().cloned()))
            .all(txn)
            .await
            .map_err(unexpected)?
        {
            states.insert(s.bib.clone(), s);
        }
    }
    unique.retain(|d| {
        let known = states.contains_key(d.detection.bib.as_str());
        if !known {
            outcome.unknown_bibs.push(d.index);
        }
        known
    });
    Ok((unique, states))
}

/// Inserts the reads and returns those the database did not have. The unique keys
/// (event, bib, point, instant) and (event, read id) — on a hypertable, the read ids keyed
/// apart — drop any read it already has, so idempotence holds even across instances.
#[tracing::instrument(name = "db.insert_reads", skip_all, fields(rows = unique.len()))]
async fn insert_new_reads(
    txn: &DatabaseTransaction,
    event: &Event,
    unique: Vec<IndexedDetection>,
    read_ids_keyed_apart: bool,
    outcome: &mut IngestOutcome,
) -> Result<Vec<IndexedDetection>, RepoError> {
    let received_at = Utc::now();
    let ids: Vec<Uuid> = unique.iter().map(|_| Uuid::now_v7()).collect();
    let rows: Vec<detections::ActiveModel> = unique
        .iter()
        .zip(&ids)
        .map(|(d, id)| detections::ActiveModel {
            id: Set(*id),
            event_id: Set(event.id),
            bib: Set(d.detection.bib.to_string()),
            timing_point: Set(d.detection.point.to_string()),
            ts: Set(d.detection.at.to_chrono()),
            read_id: Set(d.detection.read_id.as_ref().map(|r| r.as_str().to_owned())),
            device_id: Set(d.detection.device_id.clone()),
            received_at: Set(received_at),
            estimated: Set(d.detection.estimated),
        })
        .collect();
    let backend = txn.get_database_backend();
    let mut inserted_ids: HashSet<Uuid> = HashSet::with_capacity(rows.len());
    let chunk_size = if backend == sea_orm::DatabaseBackend::Postgres {
        JSON_CHUNK
    } else {
        INSERT_CHUNK
    };
    for chunk in rows.chunks(chunk_size) {
        let statement = if backend == sea_orm::DatabaseBackend::Postgres {
            json_insert(chunk, read_ids_keyed_apart)?
        } else {
            let mut insert = detections::Entity::insert_many(chunk.to_vec())
                .on_conflict(OnConflict::new().do_nothing().to_owned())
                .into_query();
            insert.returning_col(detections::Column::Id);
            backend.build(&insert)
        };
        for row in txn.query_all(statement).await.map_err(unexpected)? {
            inserted_ids.insert(row.try_get::<Uuid>("", "id").map_err(unexpected)?);
        }
    }
    let stored = unique.len();
    let new_reads: Vec<IndexedDetection> = unique
        .into_iter()
        .zip(&ids)
        .filter(|(_, id)| inserted_ids.contains(id))
        .map(|(d, _)| d)
        .collect();
    outcome.accepted = new_reads.len() as u64;
    outcome.duplicates += (stored - new_reads.len()) as u64;
    Ok(new_reads)
}

/// Merges the new reads into their entries' timelines; the entries whose timeline changed are
/// to be recomputed.
fn merge(
    course: &Course,
    new_reads: &[IndexedDetection],
    states: &HashMap<String, entry_states::Model>,
) -> Result<Vec<Pending>, RepoError> {
    let mut timelines: HashMap<&str, (Timeline, bool)> = HashMap::new();
    for d in new_reads {
        let bib = d.detection.bib.as_str();
        let (timeline, changed) = match timelines.entry(bib) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((timeline_from(course, &states[bib])?, false))
            }
        };
        *changed |= timeline.record_read(d.point_index, d.detection.at, d.detection.estimated);
    }
    timelines
        .into_iter()
        .filter(|(_, (_, changed))| *changed)
        .map(|(bib, (timeline, _))| Pending::stored(&states[bib], timeline))
        .collect()
}

/// Reads per insert statement on PostgreSQL.
const JSON_CHUNK: usize = 10_000;

/// The insert on PostgreSQL, one statement per chunk with the rows as one JSON parameter
/// (`json_to_recordset`): a multi-row `VALUES` list costs PostgreSQL more to parse and plan
/// than to insert, and caps a statement at 65,535 parameters. On the hypertable path
/// (`read_ids_keyed_apart`) a hypertable's unique indexes must include `ts`, so `detections`
/// cannot refuse a read id seen at another instant; the read ids are keyed in the small plain
/// table `detection_read_ids` in the same statement, and only rows without a read id or with
/// one it did not know are inserted, with the content key `(event, bib, point, instant)`
/// dropping the rest. On the plain path the unique indexes drop both. Returns the inserted
/// rows' ids.
fn json_insert(
    chunk: &[detections::ActiveModel],
    read_ids_keyed_apart: bool,
) -> Result<sea_orm::Statement, RepoError> {
    #[derive(serde::Serialize)]
    struct Row<'a> {
        id: Uuid,
        event_id: Uuid,
        bib: &'a str,
        timing_point: &'a str,
        ts: chrono::DateTime<Utc>,
        read_id: Option<&'a str>,
        device_id: Option<&'a str>,
        /// To the microsecond, truncated like every other stored instant.
        received_at: &'a str,
        estimated: bool,
    }
    let received_at: Vec<String> = chunk
        .iter()
        .map(|row| {
            row.received_at
                .as_ref()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
        .collect();
    let rows: Vec<Row<'_>> = chunk
        .iter()
        .zip(&received_at)
        .map(|(row, received_at)| Row {
            id: *row.id.as_ref(),
            event_id: *row.event_id.as_ref(),
            bib: row.bib.as_ref(),
            timing_point: row.timing_point.as_ref(),
            ts: *row.ts.as_ref(),
            read_id: row.read_id.as_ref().as_deref(),
            device_id: row.device_id.as_ref().as_deref(),
            received_at,
            estimated: *row.estimated.as_ref(),
        })
        .collect();
    let batch = "WITH batch AS (SELECT * FROM json_to_recordset($1::json) AS t(id uuid, \
         event_id uuid, bib text, timing_point text, ts timestamptz, read_id text, \
         device_id text, received_at timestamptz, estimated boolean))";
    let insert =
        "INSERT INTO detections (id, event_id, bib, timing_point, ts, read_id, device_id, \
         received_at, estimated) SELECT id, event_id, bib, timing_point, ts, read_id, device_id, \
         received_at, estimated FROM batch";
    let sql = if read_ids_keyed_apart {
        format!(
            "{batch}, keys AS (INSERT INTO detection_read_ids (event_id, read_id) \
               SELECT event_id, read_id FROM batch WHERE read_id IS NOT NULL \
               ON CONFLICT DO NOTHING RETURNING read_id) \
             {insert} WHERE read_id IS NULL OR read_id IN (SELECT read_id FROM keys) \
             ON CONFLICT DO NOTHING RETURNING id"
        )
    } else {
        format!("{batch} {insert} ON CONFLICT DO NOTHING RETURNING id")
    };
    let rows = serde_json::to_string(&rows).map_err(|e| RepoError::Unexpected(e.into()))?;
    Ok(sea_orm::Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        sql,
        [rows.into()],
    ))
}
