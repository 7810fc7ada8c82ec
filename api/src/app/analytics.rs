//! Race analytics: segment statistics of an event's field, race reports and comparisons. Each
//! is computed from the event's field as of its `seq` (every entry evaluated once per step and
//! shared by every caller at that step), so it is live while the event runs and final once
//! it is official.

use crate::app::athletes::may_read_analytics;
use crate::app::race::load_event;
use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::cache::Recent;
use crate::error::ApiError;
use podium_domain::course::Course;
use podium_domain::engine::{evaluate, EntryStatus, Progress};
use podium_domain::model::{Entry, Event};
use podium_domain::report::{compare, race_report, ComparedSegment, Member, RaceReport};
use podium_domain::standings::LeaderboardFilter;
use podium_domain::stats::{segment_distributions, Distribution};
use podium_domain::timing::Bib;
use std::sync::Arc;
use uuid::Uuid;

/// Statistics kept (event, seq, division); beyond, the least recently used are dropped.
const KEPT_STATS: usize = 256;
/// Evaluated fields kept (event, seq): a report over an athlete's history touches several.
const KEPT_FIELDS: usize = 32;

/// One entry of an event with its race evaluated.
pub struct FieldEntry {
    pub entry: Entry,
    pub progress: Progress,
}

/// Every entry of an event evaluated as of one `seq`.
pub struct EventField {
    pub event: Event,
    pub entries: Vec<FieldEntry>,
}

impl EventField {
    pub fn entry(&self, bib: &Bib) -> Option<&FieldEntry> {
        self.entries.iter().find(|e| &e.entry.bib == bib)
    }

    /// The members of `entry`'s division (category × gender) to compare it with.
    fn division_of(&self, entry: &Entry) -> Vec<Member<'_>> {
        self.entries
            .iter()
            .filter(|e| e.entry.category == entry.category && e.entry.gender == entry.gender)
            .map(member)
            .collect()
    }
}

fn member(e: &FieldEntry) -> Member<'_> {
    Member {
        bib: e.entry.bib.as_str(),
        age_group: e.entry.age_group,
        progress: &e.progress,
    }
}

/// Evaluated fields by (event, seq) and segment statistics by (event, seq, division).
#[derive(Clone)]
pub struct AnalyticsCache {
    fields: Recent<(Uuid, i64), Arc<EventField>>,
    stats: Recent<(Uuid, i64, LeaderboardFilter), Arc<Vec<Distribution>>>,
}

impl Default for AnalyticsCache {
    fn default() -> Self {
        Self {
            fields: Recent::new(KEPT_FIELDS),
            stats: Recent::new(KEPT_STATS),
        }
    }
}

/// The event's field as of its current `seq`.
pub async fn event_field(state: &AppState, event: Event) -> Result<Arc<EventField>, ApiError> {
    let key = (event.id, event.seq);
    if let Some(field) = state.analytics.fields.get(&key) {
        return Ok(field);
    }
    let records = state.repo.entry_records(&event).await?;
    let course = event.course.clone();
    let entries = tokio::task::spawn_blocking(move || {
        records
            .into_iter()
            .map(|r| FieldEntry {
                progress: evaluate(
                    &course,
                    &r.timeline,
                    Some(r.entry.wave_start),
                    &r.adjustments,
                ),
                entry: r.entry,
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("evaluating a field: {e}")))?;
    let field = Arc::new(EventField { event, entries });
    state.analytics.fields.put(key, field.clone());
    Ok(field)
}

/// The distribution of every segment of the event's course and of the totals (`RUNS`,
/// `STATIONS`, `ROXZONE`, `TOTAL`) over the division's finished entries, measured splits only
/// (see `podium_domain::stats`).
pub async fn segment_stats(
    state: &AppState,
    event_id: Uuid,
    filter: LeaderboardFilter,
) -> Result<Arc<Vec<Distribution>>, ApiError> {
    let _timer = state.metrics.analytics_timer("segment_stats");
    let event = load_event(state, event_id).await?;
    let key = (event.id, event.seq, filter);
    if let Some(stats) = state.analytics.stats.get(&key) {
        return Ok(stats);
    }
    let field = event_field(state, event).await?;
    Ok(stats_in(state, &field, filter))
}

/// The statistics of `filter`'s entries of `field`, kept per (event, seq, filter).
fn stats_in(
    state: &AppState,
    field: &EventField,
    filter: LeaderboardFilter,
) -> Arc<Vec<Distribution>> {
    let key = (field.event.id, field.event.seq, filter);
    if let Some(stats) = state.analytics.stats.get(&key) {
        return stats;
    }
    let admitted = field
        .entries
        .iter()
        .filter(|e| filter.admits(e.entry.category, e.entry.gender, e.entry.age_group))
        .map(|e| &e.progress);
    let stats = Arc::new(segment_distributions(&field.event.course, admitted));
    state.analytics.stats.put(key, stats.clone());
    stats
}

/// The segment statistics of every division (category × gender) of the event that has
/// entries and that `narrow` admits, in division order, each narrowed by `narrow`'s age group;
/// all from the event as of one step.
pub async fn stats_by_division(
    state: &AppState,
    event_id: Uuid,
    narrow: LeaderboardFilter,
) -> Result<(Event, Vec<(LeaderboardFilter, Arc<Vec<Distribution>>)>), ApiError> {
    let event = load_event(state, event_id).await?;
    let field = event_field(state, event.clone()).await?;
    let mut divisions: Vec<_> = field
        .entries
        .iter()
        .map(|e| (e.entry.category, e.entry.gender))
        .filter(|(c, g)| {
            narrow.category.is_none_or(|n| n == *c) && narrow.gender.is_none_or(|n| n == *g)
        })
        .collect();
    divisions.sort();
    divisions.dedup();
    let mut out = Vec::with_capacity(divisions.len());
    for (category, gender) in divisions {
        let filter = LeaderboardFilter {
            category: Some(category),
            gender: Some(gender),
            age_group: narrow.age_group,
        };
        out.push((filter, stats_in(state, &field, filter)));
    }
    Ok((event, out))
}

/// A race report with what it is about.
pub struct ReportView {
    pub event: Event,
    pub entry: Entry,
    pub status: EntryStatus,
    pub report: RaceReport,
}

/// Whether `viewer` may see the per-athlete analytics of `entry`: anyone who may read results
/// when the athlete is public; the athlete, coaches they granted and admins when private.
async fn may_see_report(
    state: &AppState,
    viewer: &Principal,
    entry: &Entry,
) -> Result<(), ApiError> {
    viewer.require(Scope::ResultsRead)?;
    if entry.athlete_private {
        may_read_analytics(state, viewer, entry.athlete_id).await?;
    }
    Ok(())
}

/// The race report of bib `bib` in the event; `None` when the bib is not registered.
pub async fn race_report_of(
    state: &AppState,
    viewer: &Principal,
    event_id: Uuid,
    bib: &str,
) -> Result<Option<ReportView>, ApiError> {
    let _timer = state.metrics.analytics_timer("race_report");
    let bib = Bib::parse(bib)?;
    let event = load_event(state, event_id).await?;
    let field = event_field(state, event).await?;
    let Some(own) = field.entry(&bib) else {
        return Ok(None);
    };
    may_see_report(state, viewer, &own.entry).await?;
    Ok(Some(report_in(&field, own)))
}

/// The reports of the athlete's races on the same course before `this` one, most recent first
/// (`this` was shown to the viewer, so they may see these too).
pub async fn earlier_reports(
    state: &AppState,
    this: &ReportView,
) -> Result<Vec<ReportView>, ApiError> {
    let history = state
        .athletes
        .athlete_results(this.entry.athlete_id)
        .await?;
    let mut earlier: Vec<_> = history
        .iter()
        .filter(|r| r.course == this.event.course.code() && r.starts_at < this.event.starts_at)
        .collect();
    earlier.sort_by_key(|r| std::cmp::Reverse(r.starts_at));
    let mut previous = Vec::with_capacity(earlier.len());
    for result in earlier {
        let event = load_event(state, result.event_id).await?;
        let field = event_field(state, event).await?;
        let bib = Bib::parse(&result.bib)?;
        if let Some(own) = field.entry(&bib) {
            previous.push(report_in(&field, own));
        }
    }
    Ok(previous)
}

fn report_in(field: &EventField, own: &FieldEntry) -> ReportView {
    let division = field.division_of(&own.entry);
    ReportView {
        event: field.event.clone(),
        entry: own.entry.clone(),
        status: own.progress.status,
        report: race_report(&field.event.course, member(own), &division),
    }
}

/// Entries compared: each with its event, and the segments side by side.
pub struct Comparison {
    pub entries: Vec<(Event, Entry, Progress)>,
    pub segments: Vec<ComparedSegment>,
}

/// 2 to 4 entries (of one event or several on the same course) segment by segment.
pub async fn compare_results(
    state: &AppState,
    viewer: &Principal,
    wanted: &[(Uuid, String)],
) -> Result<Comparison, ApiError> {
    let _timer = state.metrics.analytics_timer("compare_results");
    viewer.require(Scope::ResultsRead)?;
    if !(2..=4).contains(&wanted.len()) {
        return Err(ApiError::BadRequest(format!(
            "compare 2 to 4 entries, not {}",
            wanted.len()
        )));
    }
    let mut entries = Vec::with_capacity(wanted.len());
    let mut course: Option<Course> = None;
    for (event_id, bib) in wanted {
        let parsed = Bib::parse(bib)?;
        let event = load_event(state, *event_id).await?;
        let field = event_field(state, event).await?;
        let Some(found) = field.entry(&parsed) else {
            return Err(ApiError::NotFound(format!(
                "bib {bib} is not registered in event {event_id}"
            )));
        };
        match &course {
            Some(c)
                if c.code() != field.event.course.code()
                    || c.points() != field.event.course.points() =>
            {
                return Err(ApiError::BadRequest(format!(
                    "event {event_id} is raced on another course ({}): only results of one course compare",
                    field.event.course.code()
                )));
            }
            Some(_) => {}
            None => course = Some(field.event.course.clone()),
        }
        entries.push((
            field.event.clone(),
            found.entry.clone(),
            found.progress.clone(),
        ));
    }
    let course = course.expect("at least two entries were checked");
    let progresses: Vec<&Progress> = entries.iter().map(|(_, _, p)| p).collect();
    let segments = compare(&course, &progresses);
    Ok(Comparison { entries, segments })
}
