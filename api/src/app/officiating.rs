//! Officiating services shared by every transport: corrections, flag reviews, lineage and
//! lifecycle transitions. Permissions are checked here, once.

use crate::app::race::load_event;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use podium_domain::corrections::{
    parse_reason, Correction, CorrectionAction, CorrectionKind, Ruling,
};
use podium_domain::engine::evaluate;
use podium_domain::lineage::{trace, Lineage};
use podium_domain::model::{CorrectionPolicy, Event, EventStatus};
use podium_domain::ports::{FlagReview, NewCorrection, StoredFlag};
use podium_domain::timing::{Bib, Detection, Timestamp};
use uuid::Uuid;

/// A correction as a caller sends it.
#[derive(Debug, Clone)]
pub struct CorrectionRequest {
    pub event_id: Uuid,
    pub bib: String,
    pub kind: CorrectionKind,
    pub penalty_ms: Option<i64>,
    pub timing_point: Option<String>,
    pub at: Option<Timestamp>,
    pub target_id: Option<Uuid>,
    pub reason: String,
}

/// Records a correction: venue operators of the event's venue and admins; once results are
/// official, admins only (an amendment).
pub async fn apply_correction(
    state: &AppState,
    principal: &Principal,
    request: CorrectionRequest,
) -> Result<Correction, ApiError> {
    let event = load_event(state, request.event_id).await?;
    principal.may_manage_event(&event)?;
    if event.status.correction_policy() == CorrectionPolicy::AmendmentsOnly && !principal.is_admin()
    {
        return Err(ApiError::Forbidden(format!(
            "results of event {} are OFFICIAL: only an admin can amend them",
            event.id
        )));
    }
    let bib = Bib::parse(&request.bib)?;
    let action = CorrectionAction::parse(
        &event.course,
        request.kind,
        request.penalty_ms,
        request.timing_point.as_deref(),
        request.at,
        request.target_id,
    )?;
    if let CorrectionAction::ManualRead { point, at } = &action {
        event.check_detection(&Detection {
            bib: bib.clone(),
            point: point.clone(),
            at: *at,
            read_id: None,
            device_id: None,
            estimated: false,
        })?;
    }
    let reason = parse_reason(&request.reason)?;
    let correction = NewCorrection {
        bib,
        action,
        reason,
        author: principal.subject().to_owned(),
        may_amend: principal.is_admin(),
    };
    let recorded = state.repo.apply_correction(&event, correction).await?;
    state.live.notify(event.id, recorded.seq);
    Ok(recorded)
}

/// Dismisses or reopens a flag (the event's managers).
pub async fn review_flag(
    state: &AppState,
    principal: &Principal,
    event_id: Uuid,
    flag_id: Uuid,
    review: FlagReview,
    reason: &str,
) -> Result<StoredFlag, ApiError> {
    let event = load_event(state, event_id).await?;
    principal.may_manage_event(&event)?;
    let note = parse_reason(reason)?;
    let flag = state
        .repo
        .review_flag(event.id, flag_id, review, principal.subject(), &note)
        .await?;
    state.live.notify(event.id, flag.updated_seq);
    Ok(flag)
}

/// Moves an event along its lifecycle (the event's managers).
pub async fn transition(
    state: &AppState,
    principal: &Principal,
    event_id: Uuid,
    to: EventStatus,
) -> Result<Event, ApiError> {
    let event = load_event(state, event_id).await?;
    principal.may_manage_event(&event)?;
    event.status.transition(to)?;
    let moved = state.repo.transition_event(event.id, to).await?;
    state.live.notify(moved.id, moved.seq);
    if to == EventStatus::Official && state.settings.prediction_retrain {
        crate::app::prediction::retrain_later(state.clone());
    }
    Ok(moved)
}

/// One entry's lineage and every correction it has, rebuilt from the raw record.
pub async fn lineage(
    state: &AppState,
    event: &Event,
    bib: &Bib,
    wave_start: Timestamp,
) -> Result<(Lineage, Vec<Correction>), ApiError> {
    let reads = state.repo.raw_reads(event, bib).await?;
    let corrections = state.repo.corrections(event, Some(bib)).await?;
    let ruling = Ruling::of(&event.course, &corrections);
    let timeline = ruling.timeline_of_reads(&event.course, &reads);
    let progress = evaluate(
        &event.course,
        &timeline,
        Some(wave_start),
        &ruling.adjustments,
    );
    Ok((trace(&reads, &ruling, &progress), corrections))
}
