//! Officiating storage: corrections (applied, undone, listed), lineage (the raw reads behind
//! a time) and lifecycle transitions. Every write here runs inside the event's lock (see
//! `repository::lock_event`) and in the same transaction as the change it belongs to.

use crate::changes::{advance, announce_status, change, store_recomputed};
use crate::convert::{corrupt, unexpected};
use crate::entities::{corrections, detections, entry_states};
use crate::officiating;
use crate::recompute::{recompute, Pending};
use crate::repository::{lock_event, SeaRepository};
use chrono::Utc;
use podium_domain::corrections::{
    check_undo, Correction, CorrectionAction, CorrectionKind, Ruling,
};
use podium_domain::course::Course;
use podium_domain::lineage::RawRead;
use podium_domain::live::ChangeKind;
use podium_domain::model::{CorrectionPolicy, Event, EventStatus, TOPIC_RESULT_AMENDED};
use podium_domain::ports::{NewCorrection, RaceRepository, RepoError};
use podium_domain::timing::{Bib, Timestamp};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tracing::instrument;
use uuid::Uuid;

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
    let kind: CorrectionKind = m.kind.parse().map_err(|e| corrupt(e, "correction kind"))?;
    let action = CorrectionAction::parse(
        course,
        kind,
        m.penalty_ms,
        m.timing_point.as_deref(),
        m.at_ms.map(Timestamp),
        m.target_id,
    )
    .map_err(|e| corrupt(e, "correction"))?;
    Ok(Correction {
        id: m.id,
        event_id: m.event_id,
        entry_id: m.entry_id,
        bib: Bib::parse(&m.bib).map_err(|e| corrupt(e, "bib"))?,
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
                estimated: d.estimated,
            })
        })
        .collect())
}

pub(crate) async fn transition_event(
    repo: &SeaRepository,
    id: Uuid,
    to: EventStatus,
) -> Result<Event, RepoError> {
    let txn = repo.db.begin().await.map_err(unexpected)?;
    let (seq, from) = lock_event(&txn, id).await?;
    from.transition(to)?;
    let seq = seq + 1;
    advance(&txn, change(id, seq, ChangeKind::Status, to, Vec::new())).await?;
    announce_status(&txn, id, from, to, seq).await?;
    if to == EventStatus::Official {
        crate::athletes::announce_personal_bests(&txn, id, seq).await?;
        crate::segments::fill(
            &txn,
            &repo
                .event(id)
                .await?
                .ok_or_else(|| RepoError::NotFound(format!("event {id}")))?,
        )
        .await?;
        crate::changes::announce_analytics_ready(&txn, id, seq).await?;
    }
    txn.commit().await.map_err(unexpected)?;
    repo.event(id)
        .await?
        .ok_or_else(|| RepoError::NotFound(format!("event {id}")))
}

#[instrument(skip_all, fields(event_id = %event.id, bib = %correction.bib))]
pub(crate) async fn apply_correction(
    repo: &SeaRepository,
    event: &Event,
    correction: NewCorrection,
) -> Result<Correction, RepoError> {
    let txn = repo.db.begin().await.map_err(unexpected)?;
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
    let reads = officiating::raw_reads_of(&txn, &event.course, event.id, &correction.bib).await?;
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
    let timeline = ruling.timeline_of_reads(&event.course, &reads);
    let official = status == EventStatus::Official;
    let mut field = repo.fields.take(&txn, event, seq - 1).await?;
    let pending = Pending {
        adjustments: ruling.adjustments.clone(),
        ..Pending::stored(&state, timeline)?
    };
    let recomputed = recompute(&txn, event, &mut field, vec![pending], seq, official).await?;
    let changed = store_recomputed(&txn, event, recomputed, seq).await?;
    advance(
        &txn,
        change(event.id, seq, ChangeKind::Correction, status, changed),
    )
    .await?;
    if amendment {
        crate::changes::write_outbox(
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

pub(crate) async fn corrections(
    repo: &SeaRepository,
    event: &Event,
    bib: Option<&Bib>,
) -> Result<Vec<Correction>, RepoError> {
    officiating::corrections_of(&repo.db, &event.course, event.id, None, bib).await
}
