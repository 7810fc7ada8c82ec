//! Writing an event's changes: the `seq` step with its change-log row (`event_changes`),
//! recomputed entry states with their flags, and the lifecycle's outbox messages. Every
//! function runs inside the caller's transaction, under the event's lock.

use crate::convert::{status_from, unexpected};
use crate::entities::{entry_states, event_changes, events, outbox};
use crate::flagging::DerivedFlags;
use crate::recompute::Recomputed;
use crate::repository::{SeaRepository, INSERT_CHUNK};
use chrono::Utc;
use podium_domain::live::{ChangeKind, EntryChange, EventChange};
use podium_domain::model::{Event, EventStatus};
use podium_domain::ports::{OutboxMessage, RepoError};
use podium_domain::timing::{Bib, Timestamp};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Moves the event to `change.seq` (and `change.status`) and appends `change` to its change
/// log, inside the caller's transaction: no `seq` without its log row, so replays never miss a
/// step.
#[tracing::instrument(name = "change_log.append", skip_all, fields(seq = change.seq))]
pub(crate) async fn advance(
    txn: &DatabaseTransaction,
    change: EventChange,
) -> Result<(), RepoError> {
    events::Entity::update_many()
        .col_expr(events::Column::Seq, Expr::value(change.seq))
        .col_expr(events::Column::Status, Expr::value(change.status.as_str()))
        .filter(events::Column::Id.eq(change.event_id))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    event_changes::Entity::insert(event_changes::ActiveModel {
        event_id: Set(change.event_id),
        seq: Set(change.seq),
        kind: Set(change.kind.as_str().to_owned()),
        payload: Set(serde_json::to_string(&change)
            .map_err(|e| RepoError::Unexpected(anyhow::anyhow!("change log: {e}")))?),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(txn)
    .await
    .map_err(unexpected)?;
    Ok(())
}

/// An entry's live state, read back from the row about to be stored.
pub(crate) fn entry_change(model: &entry_states::ActiveModel) -> Result<EntryChange, RepoError> {
    Ok(EntryChange {
        athlete_id: None,
        entry_id: *model.entry_id.as_ref(),
        bib: Bib::parse(model.bib.as_ref())
            .map_err(|e| RepoError::Unexpected(anyhow::anyhow!("bib: {e}")))?,
        status: status_from(model.status.as_ref())?,
        last_point: model.last_point.as_ref().map(|p| p as usize),
        elapsed_ms: *model.elapsed_ms.as_ref(),
        net_time_ms: *model.net_time_ms.as_ref(),
        penalty_ms: *model.penalty_ms.as_ref(),
        open_flags: *model.open_flags.as_ref(),
        start_from_wave: *model.start_from_wave.as_ref(),
        athlete_private: None,
        athlete_name: None,
        profile: None,
    })
}

pub(crate) fn change(
    event_id: Uuid,
    seq: i64,
    kind: ChangeKind,
    status: EventStatus,
    entries: Vec<EntryChange>,
) -> EventChange {
    EventChange {
        event_id,
        seq,
        kind,
        status,
        entries,
    }
}

/// Columns an entry's recomputation rewrites.
const RECOMPUTED_COLUMNS: [entry_states::Column; 10] = [
    entry_states::Column::PointTimes,
    entry_states::Column::Status,
    entry_states::Column::StatusOverride,
    entry_states::Column::PenaltyMs,
    entry_states::Column::LastPoint,
    entry_states::Column::ElapsedMs,
    entry_states::Column::NetTimeMs,
    entry_states::Column::StartFromWave,
    entry_states::Column::UpdatedSeq,
    entry_states::Column::OpenFlags,
];

/// Stores recomputed entry states: their flags first (which gives the open-flag counts), then
/// the states. Entries that neither raise nor had flags skip the flag lookup.
#[tracing::instrument(name = "db.store_states", skip_all, fields(entries = recomputed.len()))]
pub(crate) async fn store_recomputed(
    txn: &DatabaseTransaction,
    event: &Event,
    recomputed: Vec<Recomputed>,
    seq: i64,
) -> Result<Vec<EntryChange>, RepoError> {
    let derived: Vec<DerivedFlags> = recomputed
        .iter()
        .filter(|r| !r.flags.is_empty() || r.had_open)
        .map(|r| DerivedFlags {
            entry_id: *r.state.entry_id.as_ref(),
            bib: r.state.bib.as_ref().clone(),
            flags: r.flags.clone(),
        })
        .collect();
    let open = if derived.is_empty() {
        HashMap::new()
    } else {
        crate::flagging::sync_flags(txn, &event.course, event.id, derived, seq).await?
    };
    let mut resplit = Vec::new();
    let mut profiles = Vec::with_capacity(recomputed.len());
    let states: Vec<entry_states::ActiveModel> = recomputed
        .into_iter()
        .map(|r| {
            let mut model = r.state;
            let count = open.get(model.entry_id.as_ref()).copied().unwrap_or(0);
            model.open_flags = Set(count);
            resplit.extend(r.resplit);
            profiles.push(r.profile);
            model
        })
        .collect();
    for chunk in states.chunks(INSERT_CHUNK) {
        entry_states::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(entry_states::Column::EntryId)
                    .update_columns(RECOMPUTED_COLUMNS)
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await
            .map_err(unexpected)?;
    }
    crate::segments::sync(txn, event, resplit).await?;
    states
        .iter()
        .zip(profiles)
        .map(|(state, profile)| {
            let mut change = entry_change(state)?;
            change.profile = Some(profile);
            Ok(change)
        })
        .collect()
}

/// Writes the `event.*` domain event announcing that an event went from `from` to `to` at
/// `seq`, whether an official moved it or the first detection did.
pub(crate) async fn announce_status(
    txn: &DatabaseTransaction,
    id: Uuid,
    from: EventStatus,
    to: EventStatus,
    seq: i64,
) -> Result<(), RepoError> {
    let Some(topic) = to.topic() else {
        return Ok(());
    };
    let payload = serde_json::json!({
        "eventId": id,
        "status": to.as_str(),
        "previousStatus": from.as_str(),
        "seq": seq,
    });
    write_outbox(txn, id, topic, payload, seq).await
}

/// Writes `event.analytics_ready` for an event that became official at `seq`: its statistics
/// are final. The payload names each division (category × gender) with its entries and
/// finishers, and the paths of the statistics and results exports.
pub(crate) async fn announce_analytics_ready(
    txn: &DatabaseTransaction,
    id: Uuid,
    seq: i64,
) -> Result<(), RepoError> {
    use crate::entities::entries;
    let divisions: HashMap<Uuid, (String, String)> = entries::Entity::find()
        .select_only()
        .column(entries::Column::Id)
        .column(entries::Column::Category)
        .column(entries::Column::Gender)
        .filter(entries::Column::EventId.eq(id))
        .into_tuple::<(Uuid, String, String)>()
        .all(txn)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(|(entry, c, g)| (entry, (c, g)))
        .collect();
    let finished: std::collections::HashSet<Uuid> = entry_states::Entity::find()
        .select_only()
        .column(entry_states::Column::EntryId)
        .filter(entry_states::Column::EventId.eq(id))
        .filter(entry_states::Column::Status.eq("FINISHED"))
        .into_tuple::<Uuid>()
        .all(txn)
        .await
        .map_err(unexpected)?
        .into_iter()
        .collect();
    let mut counts: std::collections::BTreeMap<(String, String), (u64, u64)> = Default::default();
    for (entry, division) in divisions {
        let count = counts.entry(division).or_default();
        count.0 += 1;
        count.1 += u64::from(finished.contains(&entry));
    }
    let divisions: Vec<serde_json::Value> = counts
        .into_iter()
        .map(|((category, gender), (entries, finishers))| {
            serde_json::json!({
                "category": category,
                "gender": gender,
                "entries": entries,
                "finishers": finishers,
            })
        })
        .collect();
    let payload = serde_json::json!({
        "eventId": id,
        "seq": seq,
        "divisions": divisions,
        "links": {
            "statsCsv": format!("/v1/events/{id}/stats.csv"),
            "statsJson": format!("/v1/events/{id}/stats.json"),
            "resultsCsv": format!("/v1/events/{id}/results.csv"),
            "resultsJson": format!("/v1/events/{id}/results.json"),
        },
    });
    write_outbox(
        txn,
        id,
        podium_domain::model::TOPIC_EVENT_ANALYTICS_READY,
        payload,
        seq,
    )
    .await
}

/// Appends a domain event to the outbox.
pub(crate) async fn write_outbox(
    txn: &DatabaseTransaction,
    event_id: Uuid,
    topic: &str,
    payload: serde_json::Value,
    seq: i64,
) -> Result<(), RepoError> {
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(event_id),
        topic: Set(topic.to_owned()),
        payload: Set(payload.to_string()),
        seq: Set(seq),
        created_at: Set(Utc::now()),
        delivered_at: Set(None),
    })
    .exec_without_returning(txn)
    .await
    .map_err(unexpected)?;
    Ok(())
}

pub(crate) async fn pending_outbox<C: ConnectionTrait>(
    db: &C,
    event_id: Uuid,
) -> Result<Vec<OutboxMessage>, RepoError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::EventId.eq(event_id))
        .filter(outbox::Column::DeliveredAt.is_null())
        .order_by_asc(outbox::Column::Seq)
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(|m| OutboxMessage {
            id: m.id,
            event_id: m.event_id,
            topic: m.topic,
            payload: m.payload,
            seq: m.seq,
            created_at: Timestamp::from_chrono(m.created_at),
        })
        .collect())
}

pub(crate) async fn changes(
    repo: &SeaRepository,
    event_id: Uuid,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<EventChange>, RepoError> {
    event_changes::Entity::find()
        .filter(event_changes::Column::EventId.eq(event_id))
        .filter(event_changes::Column::Seq.gt(after_seq))
        .order_by_asc(event_changes::Column::Seq)
        .limit(limit)
        .all(&repo.db)
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

pub(crate) async fn seq_at(
    repo: &SeaRepository,
    event_id: Uuid,
    at: podium_domain::timing::Timestamp,
) -> Result<i64, RepoError> {
    let last = event_changes::Entity::find()
        .filter(event_changes::Column::EventId.eq(event_id))
        .filter(event_changes::Column::CreatedAt.lte(at.to_chrono()))
        .order_by_desc(event_changes::Column::Seq)
        .one(&repo.db)
        .await
        .map_err(unexpected)?;
    Ok(last.map_or(0, |c| c.seq))
}

pub(crate) async fn seq_time(
    repo: &SeaRepository,
    event_id: Uuid,
    seq: i64,
) -> Result<Option<podium_domain::timing::Timestamp>, RepoError> {
    let step = event_changes::Entity::find_by_id((event_id, seq))
        .one(&repo.db)
        .await
        .map_err(unexpected)?;
    Ok(step.map(|c| podium_domain::timing::Timestamp::from_chrono(c.created_at)))
}
