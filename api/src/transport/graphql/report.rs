//! GraphQL shapes of race reports and comparisons (`raceReport`, `compareResults`), wrapping
//! `podium_domain::report`.

use crate::app::analytics::{earlier_reports, Comparison, ReportView};
use crate::auth::Principal;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::{time, AthleteRef, CategoryGql, EntryStatusGql, GenderGql};
use crate::transport::graphql::{app, principal};
use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::report::{Gain, SegmentReport, Standout};
use std::sync::Arc;

/// One row of a race report: a segment of the course, or a total (`RUNS`, `STATIONS`,
/// `ROXZONE`, `TOTAL`), against the athlete's division (category × gender).
#[derive(SimpleObject)]
#[graphql(name = "SegmentReport")]
pub struct SegmentReportObject {
    pub segment: String,
    /// The athlete's measured time; null where it was not measured (merged over a missed
    /// mat, estimated, or not raced).
    pub duration_ms: Option<i64>,
    /// Finishers of the division who measured this row, the athlete included.
    pub field_count: i32,
    pub field_median_ms: Option<f64>,
    /// `durationMs − fieldMedianMs`: negative is faster than the median.
    pub delta_ms: Option<f64>,
    /// Share of the others beaten on this row, ties counting half (0–100, higher is better).
    pub percentile: Option<f64>,
    /// Place on this row within the division.
    pub rank: Option<i32>,
    pub cohort_median_ms: Option<f64>,
}

impl From<&SegmentReport> for SegmentReportObject {
    fn from(r: &SegmentReport) -> Self {
        Self {
            segment: r.segment.clone(),
            duration_ms: r.duration_ms,
            field_count: r.field_count as i32,
            field_median_ms: r.field_median_ms,
            delta_ms: r.delta_ms,
            percentile: r.percentile,
            rank: r.rank.map(|r| r as i32),
            cohort_median_ms: r.cohort_median_ms,
        }
    }
}

/// The athlete's peers: the division's other finishers within ±10 % of their net time
/// (±15 % when that holds fewer than 30).
#[derive(SimpleObject)]
pub struct Cohort {
    pub size: i32,
    pub low_ms: Option<i64>,
    pub high_ms: Option<i64>,
    /// 10, or 15 when the window was widened.
    pub window_percent: i32,
}

/// Last run ÷ first run − 1 (0.19: the last run took 19 % longer).
#[derive(SimpleObject)]
pub struct RunDegradation {
    pub ratio: Option<f64>,
    pub field_median: Option<f64>,
    pub cohort_median: Option<f64>,
}

/// The roxzone (transitions) in total.
#[derive(SimpleObject)]
pub struct RoxzoneReport {
    pub total_ms: Option<i64>,
    pub percentile: Option<f64>,
}

/// A segment where the athlete stands apart from their overall percentile.
#[derive(SimpleObject)]
pub struct SegmentStandout {
    pub segment: String,
    pub percentile: f64,
    /// Segment percentile − overall percentile.
    pub versus_overall: f64,
}

impl From<&Standout> for SegmentStandout {
    fn from(s: &Standout) -> Self {
        Self {
            segment: s.segment.clone(),
            percentile: s.percentile,
            versus_overall: s.versus_overall,
        }
    }
}

/// Time to the cohort median on a segment where the athlete was slower.
#[derive(SimpleObject)]
pub struct PotentialGain {
    pub segment: String,
    pub gain_ms: i64,
}

impl From<&Gain> for PotentialGain {
    fn from(g: &Gain) -> Self {
        Self {
            segment: g.segment.clone(),
            gain_ms: g.gain_ms,
        }
    }
}

/// A segment and a time.
#[derive(SimpleObject)]
pub struct SegmentTime {
    pub segment: String,
    pub duration_ms: i64,
}

/// How even the running was.
#[derive(SimpleObject)]
pub struct Pacing {
    /// Coefficient of variation of the runs (standard deviation ÷ mean), when every run was
    /// measured.
    pub run_cv: Option<f64>,
    pub best_run: Option<SegmentTime>,
}

/// One race of an athlete against their division and cohort.
#[derive(SimpleObject)]
#[graphql(name = "RaceReport", complex)]
pub struct RaceReportObject {
    pub event_id: ID,
    pub event_name: String,
    pub starts_at: DateTime<Utc>,
    pub bib: String,
    pub athlete: AthleteRef,
    pub category: CategoryGql,
    pub gender: GenderGql,
    pub age_group: Option<String>,
    pub status: EntryStatusGql,
    pub net_time_ms: Option<i64>,
    /// Percentile of the net time in the division, and within the age group of it.
    pub overall_percentile: Option<f64>,
    pub age_group_percentile: Option<f64>,
    pub segments: Vec<SegmentReportObject>,
    pub cohort: Cohort,
    pub run_degradation: RunDegradation,
    pub roxzone: RoxzoneReport,
    /// Course segments above the overall percentile, furthest first.
    pub strengths: Vec<SegmentStandout>,
    /// Course segments below the overall percentile, furthest first.
    pub weaknesses: Vec<SegmentStandout>,
    /// Course segments slower than the cohort median, largest gain first.
    pub potential_gains: Vec<PotentialGain>,
    pub pacing: Pacing,
    /// The report itself when its earlier races are still to be listed (the top-level
    /// report; the earlier ones list none).
    #[graphql(skip)]
    pub earlier_of: Option<Arc<ReportView>>,
    #[graphql(skip)]
    pub athlete_id: uuid::Uuid,
    #[graphql(skip)]
    pub start: podium_domain::timing::Timestamp,
}

/// How the athlete came into the race, from their training data.
#[derive(SimpleObject)]
pub struct PreRaceObject {
    /// Fitness (CTL) and fatigue (ATL) at the end of the day before.
    pub ctl: f64,
    pub atl: f64,
    /// Form (TSB) going into race day.
    pub tsb: f64,
    /// Race day's readiness score (null when its baselines are too short).
    pub readiness: Option<f64>,
    /// The last perceived fatigue (BMQ, 1–10) rated on race day before the start.
    pub bmq: Option<f64>,
}

#[ComplexObject]
impl RaceReportObject {
    /// How the athlete came into the race (fitness, fatigue, form, readiness, BMQ), for the
    /// athlete, coaches they granted and admins (`training:read`); null for anyone else or
    /// when the athlete recorded no training data in the 60 days before.
    async fn pre_race(&self, ctx: &Context<'_>) -> GqlResult<Option<PreRaceObject>> {
        let found =
            crate::app::training::pre_race(app(ctx), principal(ctx), self.athlete_id, self.start)
                .await;
        match found {
            Ok(pre) => Ok(pre.map(|p| PreRaceObject {
                ctl: p.ctl,
                atl: p.atl,
                tsb: p.tsb,
                readiness: p.readiness,
                bmq: p.bmq,
            })),
            // The report may be public; the training data never is.
            Err(
                crate::error::ApiError::Forbidden(_)
                | crate::error::ApiError::Unauthenticated(_)
                | crate::error::ApiError::InsufficientScope(_),
            ) => Ok(None),
            Err(e) => Err(e).gql(),
        }
    }

    /// The same report for the athlete's earlier races on this course, most recent first
    /// (empty inside those).
    // Resolved only when selected: it reads the athlete's history and other events.
    async fn previous(&self, ctx: &Context<'_>) -> GqlResult<Vec<RaceReportObject>> {
        let Some(this) = &self.earlier_of else {
            return Ok(Vec::new());
        };
        let viewer = principal(ctx);
        let earlier = earlier_reports(app(ctx), this).await.gql()?;
        Ok(earlier
            .iter()
            .map(|v| RaceReportObject::new(viewer, v, None))
            .collect())
    }
}

impl RaceReportObject {
    pub fn new(viewer: &Principal, view: &ReportView, earlier_of: Option<Arc<ReportView>>) -> Self {
        let (e, r) = (&view.entry, &view.report);
        Self {
            event_id: ID(view.event.id.to_string()),
            event_name: view.event.name.clone(),
            starts_at: time(view.event.starts_at),
            bib: e.bib.to_string(),
            athlete: AthleteRef::new(viewer, e.athlete_id, e.athlete_name(), e.athlete_private),
            category: e.category.into(),
            gender: e.gender.into(),
            age_group: e.age_group.map(|a| a.label()),
            status: view.status.into(),
            net_time_ms: r.net_time_ms,
            overall_percentile: r.overall_percentile,
            age_group_percentile: r.age_group_percentile,
            segments: r.segments.iter().map(Into::into).collect(),
            cohort: Cohort {
                size: r.cohort.size as i32,
                low_ms: r.cohort.low_ms,
                high_ms: r.cohort.high_ms,
                window_percent: r.cohort.window_percent as i32,
            },
            run_degradation: RunDegradation {
                ratio: r.run_degradation.ratio,
                field_median: r.run_degradation.field_median,
                cohort_median: r.run_degradation.cohort_median,
            },
            roxzone: RoxzoneReport {
                total_ms: r.roxzone_ms,
                percentile: r.roxzone_percentile,
            },
            strengths: r.strengths.iter().map(Into::into).collect(),
            weaknesses: r.weaknesses.iter().map(Into::into).collect(),
            potential_gains: r.potential_gains.iter().map(Into::into).collect(),
            pacing: Pacing {
                run_cv: r.run_cv,
                best_run: r
                    .best_run
                    .clone()
                    .map(|(segment, duration_ms)| SegmentTime {
                        segment,
                        duration_ms,
                    }),
            },
            earlier_of,
            athlete_id: e.athlete_id,
            start: view.event.starts_at,
        }
    }
}

/// One of the entries compared.
#[derive(SimpleObject)]
pub struct ComparedEntry {
    pub event_id: ID,
    pub event_name: String,
    pub bib: String,
    pub athlete: AthleteRef,
    pub status: EntryStatusGql,
    pub net_time_ms: Option<i64>,
}

/// One segment of a comparison; each list is in the order the entries were asked for.
#[derive(SimpleObject)]
pub struct ComparedSegment {
    pub segment: String,
    /// Each entry's measured time on the segment (null: merged over a missed mat, estimated
    /// or not raced).
    pub durations_ms: Vec<Option<i64>>,
    /// Each entry's elapsed time at the segment's end mat, when it was read there.
    pub cumulative_ms: Vec<Option<i64>>,
    /// Each entry's cumulative time minus the fastest one at that mat (0 for the leader).
    pub gaps_ms: Vec<Option<i64>>,
}

/// Entries side by side, segment by segment.
#[derive(SimpleObject)]
pub struct ResultComparison {
    pub entries: Vec<ComparedEntry>,
    pub segments: Vec<ComparedSegment>,
}

impl ResultComparison {
    pub fn new(viewer: &Principal, c: Comparison) -> Self {
        Self {
            entries: c
                .entries
                .iter()
                .map(|(event, e, p)| ComparedEntry {
                    event_id: ID(event.id.to_string()),
                    event_name: event.name.clone(),
                    bib: e.bib.to_string(),
                    athlete: AthleteRef::new(
                        viewer,
                        e.athlete_id,
                        e.athlete_name(),
                        e.athlete_private,
                    ),
                    status: p.status.into(),
                    net_time_ms: p.net_time.map(|d| d.0),
                })
                .collect(),
            segments: c
                .segments
                .into_iter()
                .map(|s| ComparedSegment {
                    segment: s.segment,
                    durations_ms: s.durations_ms,
                    cumulative_ms: s.cumulative_ms,
                    gaps_ms: s.gaps_ms,
                })
                .collect(),
        }
    }
}
