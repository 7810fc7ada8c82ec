//! Recomputing entries: evaluation, the event's field of measured splits and every flag.
//!
//! Field-relative flags (`SEGMENT_OUTLIER`) depend on the other entries of a division, so an
//! entry's flags can change without its reads changing. Each repository keeps every recently
//! written event's [`Field`] in memory, tagged with the `seq` it reflects; a writer holding the
//! event lock uses it when the tag equals the event's current `seq` and rebuilds it from
//! `entry_states` otherwise (another instance wrote, or a write that does not touch splits
//! moved `seq`). Recomputing a batch then costs the batch's own entries plus the few other
//! entries whose outlier status a moved median changes — never a scan of the event.

use crate::convert::{corrupt, timeline_from, timeline_json, unexpected};
use crate::entities::{entries, entry_states};
use podium_domain::course::Course;
use podium_domain::engine::{evaluate, Adjustments, Progress, Timeline};
use podium_domain::field::{measured, Division, Field};
use podium_domain::flags::{self, Flag};
use podium_domain::model::Event;
use podium_domain::ports::RepoError;
use podium_domain::timing::{DurationMs, Timestamp};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Events whose field is kept; the least recently written goes first.
const KEPT_FIELDS: usize = 64;

/// Rows per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// A kept field: the event `seq` it reflects, when it was last kept (for eviction), the field.
type Kept = (i64, u64, Field);

/// The fields of recently written events, each with the `seq` it reflects.
#[derive(Clone, Default)]
pub(crate) struct Fields {
    cached: Arc<Mutex<HashMap<Uuid, Kept>>>,
    clock: Arc<std::sync::atomic::AtomicU64>,
}

impl Fields {
    /// The event's field as of `seq` (the event's current `seq`, read under its lock): the
    /// cached one when it is that recent, else rebuilt from the stored entry states. The
    /// caller owns it until [`Fields::put`] after commit; a failed write simply drops it.
    pub(crate) async fn take(
        &self,
        txn: &DatabaseTransaction,
        event: &Event,
        seq: i64,
    ) -> Result<Field, RepoError> {
        let cached = self
            .cached
            .lock()
            .map_err(|_| RepoError::Unexpected(anyhow::anyhow!("field cache poisoned")))?
            .remove(&event.id);
        match cached {
            Some((at, _, field)) if at == seq => Ok(field),
            _ => build(txn, event).await,
        }
    }

    /// Keeps `field` as the event's field at `seq` (after the write that made it committed).
    pub(crate) fn put(&self, event_id: Uuid, seq: i64, field: Field) {
        let tick = self
            .clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(mut cached) = self.cached.lock() else {
            return;
        };
        cached.insert(event_id, (seq, tick, field));
        if cached.len() > KEPT_FIELDS {
            if let Some(oldest) = cached
                .iter()
                .min_by_key(|(_, (_, t, _))| *t)
                .map(|(id, _)| *id)
            {
                cached.remove(&oldest);
            }
        }
    }
}

fn division_of(category: &str, gender: &str) -> Result<Division, RepoError> {
    Ok((
        category.parse().map_err(|e| corrupt(e, "category"))?,
        gender.parse().map_err(|e| corrupt(e, "gender"))?,
    ))
}

/// The event's field from its stored entry states: every entry with its division, and the
/// measured splits of those that have any.
async fn build(txn: &DatabaseTransaction, event: &Event) -> Result<Field, RepoError> {
    let divisions: HashMap<Uuid, (String, String)> = entries::Entity::find()
        .select_only()
        .column(entries::Column::Id)
        .column(entries::Column::Category)
        .column(entries::Column::Gender)
        .filter(entries::Column::EventId.eq(event.id))
        .into_tuple::<(Uuid, String, String)>()
        .all(txn)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(|(id, c, g)| (id, (c, g)))
        .collect();
    let states = entry_states::Entity::find()
        .filter(entry_states::Column::EventId.eq(event.id))
        .all(txn)
        .await
        .map_err(unexpected)?;
    let segments = event.course.segments().len();
    let mut updates = Vec::with_capacity(states.len());
    for state in &states {
        let Some((category, gender)) = divisions.get(&state.entry_id) else {
            continue;
        };
        let split_times = if state.status == "REGISTERED" {
            vec![None; segments]
        } else {
            let pending = Pending::of(&event.course, state)?;
            measured(&pending.evaluate(&event.course), segments)
        };
        updates.push((state.entry_id, division_of(category, gender)?, split_times));
    }
    let mut field = Field::new(&event.course);
    field.apply(updates);
    Ok(field)
}

/// An entry to recompute, with what its state and flags follow from.
pub(crate) struct Pending {
    pub entry_id: Uuid,
    pub bib: String,
    pub wave_start: Timestamp,
    pub timeline: Timeline,
    pub adjustments: Adjustments,
    /// It had open flags before (so they must be re-synced even if none remain).
    pub had_open: bool,
}

impl Pending {
    /// An entry as stored, with its effective timeline.
    pub(crate) fn of(course: &Course, state: &entry_states::Model) -> Result<Self, RepoError> {
        Self::stored(state, timeline_from(course, state)?)
    }

    /// An entry as stored, with another timeline (the stored one with new reads merged, or
    /// one rebuilt by a correction).
    pub(crate) fn stored(
        state: &entry_states::Model,
        timeline: Timeline,
    ) -> Result<Self, RepoError> {
        Ok(Self {
            entry_id: state.entry_id,
            bib: state.bib.clone(),
            wave_start: Timestamp(state.wave_start_ms),
            timeline,
            adjustments: adjustments_of(state)?,
            had_open: state.open_flags > 0,
        })
    }

    pub(crate) fn evaluate(&self, course: &Course) -> Progress {
        evaluate(
            course,
            &self.timeline,
            Some(self.wave_start),
            &self.adjustments,
        )
    }
}

/// The officials' decisions stored with an entry's state.
pub(crate) fn adjustments_of(state: &entry_states::Model) -> Result<Adjustments, RepoError> {
    Ok(Adjustments {
        status: state
            .status_override
            .as_deref()
            .map(crate::convert::status_from)
            .transpose()?,
        penalty: DurationMs(state.penalty_ms),
    })
}

/// An entry recomputed.
pub(crate) struct Recomputed {
    /// Its state row (with `open_flags` left at 0 for the flag sync to set).
    pub state: entry_states::ActiveModel,
    pub flags: Vec<Flag>,
    /// It had open flags before.
    pub had_open: bool,
    /// When its splits may have changed in an official event (it was recomputed from new
    /// reads or a correction, not only re-flagged): its evaluation for `result_splits`.
    pub resplit: Option<crate::segments::Resplit>,
    /// Where it was timed so far, for live views.
    pub profile: podium_domain::live::Profile,
}

/// Evaluates `pending`, records their measured splits in `field`, and returns the state and
/// flags of each — and of every other entry whose outlier status the moved medians changed.
/// With `official` (the event's results are official, so its splits are in `result_splits`)
/// each pending entry also carries what `segments::sync` needs.
#[tracing::instrument(name = "db.recompute", skip_all, fields(entries = pending.len()))]
pub(crate) async fn recompute(
    txn: &DatabaseTransaction,
    event: &Event,
    field: &mut Field,
    pending: Vec<Pending>,
    seq: i64,
    official: bool,
) -> Result<Vec<Recomputed>, RepoError> {
    let course = &event.course;
    let segments = course.segments().len();
    let evaluated: Vec<(Pending, Progress)> = pending
        .into_iter()
        .map(|p| {
            let progress = p.evaluate(course);
            (p, progress)
        })
        .collect();
    let updates = evaluated
        .iter()
        .filter_map(|(p, progress)| {
            let division = field.division(p.entry_id)?;
            Some((p.entry_id, division, measured(progress, segments)))
        })
        .collect();
    let others: Vec<Uuid> = field.apply(updates).into_iter().collect();

    let mut all: Vec<(Pending, Progress, bool)> = evaluated
        .into_iter()
        .map(|(p, g)| (p, g, official))
        .collect();
    for chunk in others.chunks(LOOKUP_CHUNK) {
        for state in entry_states::Entity::find()
            .filter(entry_states::Column::EntryId.is_in(chunk.iter().copied()))
            .all(txn)
            .await
            .map_err(unexpected)?
        {
            let p = Pending::of(course, &state)?;
            let progress = p.evaluate(course);
            all.push((p, progress, false));
        }
    }
    Ok(all
        .into_iter()
        .map(|(p, progress, resplit)| {
            let mut flags = flags::derive(course, &p.timeline, Some(p.wave_start), &progress);
            flags.extend(field.flags(course, p.entry_id, &progress));
            let state = state_row(event, &p, &progress, seq);
            let profile = podium_domain::live::Profile::of(&progress);
            let resplit = resplit.then_some(crate::segments::Resplit {
                entry_id: p.entry_id,
                progress,
            });
            Recomputed {
                state,
                flags,
                had_open: p.had_open,
                resplit,
                profile,
            }
        })
        .collect())
}

/// The stored state of an evaluated entry.
pub(crate) fn state_row(
    event: &Event,
    p: &Pending,
    progress: &Progress,
    seq: i64,
) -> entry_states::ActiveModel {
    entry_states::ActiveModel {
        entry_id: Set(p.entry_id),
        event_id: Set(event.id),
        bib: Set(p.bib.clone()),
        wave_start_ms: Set(p.wave_start.0),
        point_times: Set(timeline_json(&p.timeline)),
        status: Set(progress.status.as_str().to_owned()),
        status_override: Set(p.adjustments.status.map(|s| s.as_str().to_owned())),
        penalty_ms: Set(p.adjustments.penalty.0),
        last_point: Set(progress.last_point.map(|pt| pt as i32)),
        elapsed_ms: Set(progress.elapsed.map(|d| d.0)),
        net_time_ms: Set(progress.net_time.map(|d| d.0)),
        start_from_wave: Set(progress.start_from_wave),
        updated_seq: Set(seq),
        open_flags: Set(0),
    }
}
