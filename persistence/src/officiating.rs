//! Officiating storage: flags kept in step with the engine, corrections, lifecycle
//! transitions and the outbox. Every write here runs inside the event's lock (see
//! `repository::lock_event`) and in the same transaction as the change it belongs to.

use crate::convert::unexpected;
use crate::entities::{corrections, detections, entry_states, flags, outbox};
use anyhow::anyhow;
use chrono::Utc;
use podium_domain::corrections::{Correction, CorrectionAction, CorrectionKind};
use podium_domain::course::{Course, TimingPointCode};
use podium_domain::flags::{Flag, FlagStatus};
use podium_domain::lineage::RawRead;
use podium_domain::ports::{FlagChange, OutboxMessage, RepoError, StoredFlag};
use podium_domain::timing::{Bib, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Rows per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// Who changes flags when no official does.
pub(crate) const ENGINE: &str = "engine";

fn corrupt(what: &str, e: impl std::fmt::Display) -> RepoError {
    RepoError::Unexpected(anyhow!("stored {what} is invalid: {e}"))
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

/// The flags one recomputation derived for an entry.
pub(crate) struct DerivedFlags {
    pub entry_id: Uuid,
    pub bib: String,
    pub flags: Vec<Flag>,
}

fn history_of(m: &flags::Model) -> Result<Vec<FlagChange>, RepoError> {
    serde_json::from_str(&m.history).map_err(|e| corrupt("flag history", e))
}

fn change(status: FlagStatus, seq: i64, by: &str, note: &str) -> FlagChange {
    FlagChange {
        status,
        seq,
        at: Timestamp::from_chrono(Utc::now()),
        by: by.to_owned(),
        note: note.to_owned(),
    }
}

fn with_change(m: flags::Model, change: FlagChange) -> Result<flags::ActiveModel, RepoError> {
    let mut history = history_of(&m)?;
    let status = change.status;
    let seq = change.seq;
    history.push(change);
    let mut active = m.into_active_model().reset_all();
    active.status = Set(status.as_str().to_owned());
    active.updated_seq = Set(seq);
    active.history = Set(serde_json::to_string(&history).map_err(|e| corrupt("flag", e))?);
    Ok(active)
}

/// Brings the stored flags of some entries in line with what the engine now derives: new
/// causes open a flag, vanished causes resolve it, a cause that returns reopens it; dismissed
/// flags stay dismissed. Returns each entry's number of open flags.
pub(crate) async fn sync_flags(
    txn: &DatabaseTransaction,
    course: &Course,
    event_id: Uuid,
    derived: Vec<DerivedFlags>,
    seq: i64,
) -> Result<HashMap<Uuid, i32>, RepoError> {
    let mut existing: HashMap<Uuid, HashMap<String, flags::Model>> = HashMap::new();
    let ids: Vec<Uuid> = derived.iter().map(|d| d.entry_id).collect();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        // By entry id alone (unique across events): the `flags_identity` index answers it.
        for f in flags::Entity::find()
            .filter(flags::Column::EntryId.is_in(chunk.iter().copied()))
            .all(txn)
            .await
            .map_err(unexpected)?
        {
            existing
                .entry(f.entry_id)
                .or_default()
                .insert(f.flag_key.clone(), f);
        }
    }

    let point = |i: usize| course.points()[i].to_string();
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    let mut open_counts = HashMap::with_capacity(derived.len());
    for d in derived {
        let mut stored = existing.remove(&d.entry_id).unwrap_or_default();
        let mut open = 0;
        for flag in &d.flags {
            match stored.remove(&flag.key()) {
                None => {
                    open += 1;
                    let history = vec![change(FlagStatus::Open, seq, ENGINE, "raised")];
                    inserts.push(flags::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        event_id: Set(event_id),
                        entry_id: Set(d.entry_id),
                        bib: Set(d.bib.clone()),
                        flag_key: Set(flag.key()),
                        kind: Set(flag.kind.as_str().to_owned()),
                        timing_point: Set(point(flag.point)),
                        at_ms: Set(flag.at.map(|t| t.0)),
                        related_point: Set(flag.related.map(|(p, _)| point(p))),
                        related_at_ms: Set(flag.related.map(|(_, t)| t.0)),
                        detail: Set(flag.detail.clone()),
                        status: Set(FlagStatus::Open.as_str().to_owned()),
                        raised_seq: Set(seq),
                        updated_seq: Set(seq),
                        history: Set(
                            serde_json::to_string(&history).map_err(|e| corrupt("flag", e))?
                        ),
                    });
                }
                Some(m) if m.status == FlagStatus::Resolved.as_str() => {
                    open += 1;
                    let reopened = change(FlagStatus::Open, seq, ENGINE, "raised again");
                    updates.push(with_change(m, reopened)?);
                }
                Some(m) => {
                    if m.status == FlagStatus::Open.as_str() {
                        open += 1;
                    }
                }
            }
        }
        for (_, m) in stored {
            if m.status == FlagStatus::Open.as_str() {
                let resolved = change(FlagStatus::Resolved, seq, ENGINE, "cause no longer present");
                updates.push(with_change(m, resolved)?);
            }
        }
        open_counts.insert(d.entry_id, open);
    }
    for chunk in inserts.chunks(LOOKUP_CHUNK) {
        flags::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await
            .map_err(unexpected)?;
    }
    // Status changes as one upsert per chunk rather than a round trip per flag: a shuffled
    // upload raises and resolves many transient flags (e.g. MISSING_START until START arrives).
    for chunk in updates.chunks(LOOKUP_CHUNK) {
        flags::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(flags::Column::Id)
                    .update_columns([
                        flags::Column::Status,
                        flags::Column::UpdatedSeq,
                        flags::Column::History,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await
            .map_err(unexpected)?;
    }
    Ok(open_counts)
}

pub(crate) fn stored_flag(m: flags::Model) -> Result<StoredFlag, RepoError> {
    let code = |raw: &str| TimingPointCode::parse(raw).map_err(|e| corrupt("timing point", e));
    Ok(StoredFlag {
        id: m.id,
        event_id: m.event_id,
        entry_id: m.entry_id,
        bib: Bib::parse(&m.bib).map_err(|e| corrupt("bib", e))?,
        kind: m.kind.parse().map_err(|e| corrupt("flag kind", e))?,
        point: code(&m.timing_point)?,
        at: m.at_ms.map(Timestamp),
        related: match (&m.related_point, m.related_at_ms) {
            (Some(p), Some(t)) => Some((code(p)?, Timestamp(t))),
            _ => None,
        },
        detail: m.detail.clone(),
        status: m.status.parse().map_err(|e| corrupt("flag status", e))?,
        raised_seq: m.raised_seq,
        updated_seq: m.updated_seq,
        history: history_of(&m)?,
    })
}

/// Applies an official's review to a flag already read under the event's lock, and refreshes
/// its entry's open-flag count.
pub(crate) async fn review_flag(
    txn: &DatabaseTransaction,
    m: flags::Model,
    to: FlagStatus,
    seq: i64,
    by: &str,
    note: &str,
) -> Result<StoredFlag, RepoError> {
    let entry_id = m.entry_id;
    let updated = with_change(m, change(to, seq, by, note))?
        .update(txn)
        .await
        .map_err(unexpected)?;
    let open = flags::Entity::find()
        .filter(flags::Column::EntryId.eq(entry_id))
        .filter(flags::Column::Status.eq(FlagStatus::Open.as_str()))
        .count(txn)
        .await
        .map_err(unexpected)? as i32;
    entry_states::Entity::update_many()
        .col_expr(
            entry_states::Column::OpenFlags,
            sea_orm::sea_query::Expr::value(open),
        )
        .filter(entry_states::Column::EntryId.eq(entry_id))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    stored_flag(updated)
}

pub(crate) fn correction_row(c: &Correction) -> corrections::ActiveModel {
    let (penalty_ms, point, at_ms, target) = match &c.action {
        CorrectionAction::TimePenalty(ms) => (Some(ms.0), None, None, None),
        CorrectionAction::Decide(_) => (None, None, None, None),
        CorrectionAction::ManualRead { point, at } | CorrectionAction::IgnoreRead { point, at } => {
            (None, Some(point.to_string()), Some(at.0), None)
        }
        CorrectionAction::Undo(target) => (None, None, None, Some(*target)),
    };
    corrections::ActiveModel {
        id: Set(c.id),
        event_id: Set(c.event_id),
        entry_id: Set(c.entry_id),
        bib: Set(c.bib.to_string()),
        kind: Set(c.action.kind().as_str().to_owned()),
        penalty_ms: Set(penalty_ms),
        timing_point: Set(point),
        at_ms: Set(at_ms),
        target_id: Set(target),
        reason: Set(c.reason.clone()),
        author: Set(c.author.clone()),
        created_at: Set(c.created_at.to_chrono()),
        seq: Set(c.seq),
        amendment: Set(c.amendment),
    }
}

pub(crate) fn correction_from(
    course: &Course,
    m: corrections::Model,
) -> Result<Correction, RepoError> {
    let kind: CorrectionKind = m.kind.parse().map_err(|e| corrupt("correction kind", e))?;
    let action = CorrectionAction::parse(
        course,
        kind,
        m.penalty_ms,
        m.timing_point.as_deref(),
        m.at_ms.map(Timestamp),
        m.target_id,
    )
    .map_err(|e| corrupt("correction", e))?;
    Ok(Correction {
        id: m.id,
        event_id: m.event_id,
        entry_id: m.entry_id,
        bib: Bib::parse(&m.bib).map_err(|e| corrupt("bib", e))?,
        action,
        reason: m.reason,
        author: m.author,
        created_at: Timestamp::from_chrono(m.created_at),
        seq: m.seq,
        amendment: m.amendment,
    })
}

/// The corrections of an event, or of one entry, oldest first.
pub(crate) async fn corrections_of<C: ConnectionTrait>(
    db: &C,
    course: &Course,
    event_id: Uuid,
    entry_id: Option<Uuid>,
    bib: Option<&Bib>,
) -> Result<Vec<Correction>, RepoError> {
    let mut query = corrections::Entity::find().filter(corrections::Column::EventId.eq(event_id));
    if let Some(entry_id) = entry_id {
        query = query.filter(corrections::Column::EntryId.eq(entry_id));
    }
    if let Some(bib) = bib {
        query = query.filter(corrections::Column::Bib.eq(bib.as_str()));
    }
    query
        .order_by_asc(corrections::Column::Seq)
        .order_by_asc(corrections::Column::Id)
        .all(db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(|m| correction_from(course, m))
        .collect()
}

/// Every raw read of one entry with its id, oldest first. Reads at points the course does not
/// have (impossible through ingest) are skipped.
pub(crate) async fn raw_reads_of<C: ConnectionTrait>(
    db: &C,
    course: &Course,
    event_id: Uuid,
    bib: &Bib,
) -> Result<Vec<RawRead>, RepoError> {
    Ok(detections::Entity::find()
        .filter(detections::Column::EventId.eq(event_id))
        .filter(detections::Column::Bib.eq(bib.as_str()))
        .order_by_asc(detections::Column::Ts)
        .order_by_asc(detections::Column::Id)
        .all(db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .filter_map(|d| {
            Some(RawRead {
                id: d.id,
                point: course.index_of(&d.timing_point)?,
                at: Timestamp::from_chrono(d.ts),
                read_id: d.read_id,
                device_id: d.device_id,
                received_at: Timestamp::from_chrono(d.received_at),
            })
        })
        .collect())
}
