//! Flags: kept in step with what the engine derives on every recomputation, listed, and
//! reviewed by officials. Writes run inside the event's lock, in the change's transaction.

use crate::changes::advance;
use crate::convert::{corrupt, unexpected};
use crate::entities::{entry_states, flags, flags as flags_table};
use crate::repository::{lock_event, SeaRepository};
use chrono::Utc;
use podium_domain::course::{Course, TimingPointCode};
use podium_domain::flags::{Flag, FlagStatus};
use podium_domain::live::ChangeKind;
use podium_domain::ports::{FlagChange, FlagFilter, FlagReview, RepoError, StoredFlag};
use podium_domain::timing::{Bib, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Rows per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// Who changes flags when no official does.
pub(crate) const ENGINE: &str = "engine";

/// The flags one recomputation derived for an entry.
pub(crate) struct DerivedFlags {
    pub entry_id: Uuid,
    pub bib: String,
    pub flags: Vec<Flag>,
}

fn history_of(m: &flags::Model) -> Result<Vec<FlagChange>, RepoError> {
    serde_json::from_str(&m.history).map_err(|e| corrupt(e, "flag history"))
}

fn flag_change(status: FlagStatus, seq: i64, by: &str, note: &str) -> FlagChange {
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
    active.history = Set(serde_json::to_string(&history).map_err(|e| corrupt(e, "flag"))?);
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
                    let history = vec![flag_change(FlagStatus::Open, seq, ENGINE, "raised")];
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
                            serde_json::to_string(&history).map_err(|e| corrupt(e, "flag"))?
                        ),
                    });
                }
                Some(m) if m.status == FlagStatus::Resolved.as_str() => {
                    open += 1;
                    let reopened = flag_change(FlagStatus::Open, seq, ENGINE, "raised again");
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
                let resolved =
                    flag_change(FlagStatus::Resolved, seq, ENGINE, "cause no longer present");
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
    let code = |raw: &str| TimingPointCode::parse(raw).map_err(|e| corrupt(e, "timing point"));
    Ok(StoredFlag {
        id: m.id,
        event_id: m.event_id,
        entry_id: m.entry_id,
        bib: Bib::parse(&m.bib).map_err(|e| corrupt(e, "bib"))?,
        kind: m.kind.parse().map_err(|e| corrupt(e, "flag kind"))?,
        point: code(&m.timing_point)?,
        at: m.at_ms.map(Timestamp),
        related: match (&m.related_point, m.related_at_ms) {
            (Some(p), Some(t)) => Some((code(p)?, Timestamp(t))),
            _ => None,
        },
        detail: m.detail.clone(),
        status: m.status.parse().map_err(|e| corrupt(e, "flag status"))?,
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
    let updated = with_change(m, flag_change(to, seq, by, note))?
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

pub(crate) async fn flags(
    repo: &SeaRepository,
    event_id: Uuid,
    filter: &FlagFilter,
) -> Result<Vec<StoredFlag>, RepoError> {
    let mut query = flags_table::Entity::find().filter(flags_table::Column::EventId.eq(event_id));
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
        .all(&repo.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(stored_flag)
        .collect()
}

pub(crate) async fn review(
    repo: &SeaRepository,
    event_id: Uuid,
    flag_id: Uuid,
    review: FlagReview,
    by: &str,
    note: &str,
) -> Result<StoredFlag, RepoError> {
    let txn = repo.db.begin().await.map_err(unexpected)?;
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
    let flag = review_flag(&txn, current, to, seq, by, note).await?;
    advance(
        &txn,
        crate::changes::change(event_id, seq, ChangeKind::FlagReview, status, Vec::new()),
    )
    .await?;
    txn.commit().await.map_err(unexpected)?;
    Ok(flag)
}
