//! GraphQL output types. Each wraps a domain type; none is a storage model.

use crate::app::race::{EntryResult, IngestReport, Rejection};
use crate::auth::Principal;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::officiating::{CorrectionObject, FlagObject, LineageObject};
use async_graphql::{ComplexObject, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::course::Course;
use podium_domain::division::{Category, Gender};
use podium_domain::engine::EntryStatus;
use podium_domain::model::{Entry, Event, Venue, Wave};
use podium_domain::ports::FlagFilter;
use podium_domain::standings::{Ranks, StandingRow};
use podium_domain::timing::{Bib, Timestamp};
use uuid::Uuid;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "podium_domain::division::Category", name = "Category")]
pub enum CategoryGql {
    Open,
    Pro,
    Doubles,
    Relay,
    Adaptive,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "podium_domain::division::Gender", name = "Gender")]
pub enum GenderGql {
    Men,
    Women,
    Mixed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "podium_domain::engine::EntryStatus", name = "EntryStatus")]
pub enum EntryStatusGql {
    Registered,
    Racing,
    Finished,
    Dnf,
    Dns,
    Dsq,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "podium_domain::model::EventStatus", name = "EventStatus")]
pub enum EventStatusGql {
    Scheduled,
    Live,
    Provisional,
    Official,
    Cancelled,
}

pub(crate) fn time(t: Timestamp) -> DateTime<Utc> {
    t.to_chrono()
}

pub struct VenueObject(pub Venue);

#[Object(name = "Venue")]
impl VenueObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
}

pub struct EventObject(pub Event);

#[Object(name = "Event")]
impl EventObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn venue_id(&self) -> Option<ID> {
        self.0.venue_id.map(|v| ID(v.to_string()))
    }
    /// Start of the first wave.
    async fn starts_at(&self) -> DateTime<Utc> {
        time(self.0.starts_at)
    }
    /// IANA time zone of the venue.
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }
    async fn status(&self) -> EventStatusGql {
        self.0.status.into()
    }
    /// Version of the event's results; increases with every change.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn course(&self) -> CourseObject<'_> {
        CourseObject(&self.0.course)
    }
    async fn waves(&self, ctx: &async_graphql::Context<'_>) -> GqlResult<Vec<WaveObject>> {
        use crate::transport::graphql::error::IntoGql;
        let waves = super::app(ctx).repo.waves(self.0.id).await.gql()?;
        Ok(waves.into_iter().map(WaveObject).collect())
    }
}

pub struct WaveObject(pub Wave);

#[Object(name = "Wave")]
impl WaveObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        time(self.0.starts_at)
    }
    async fn entry_count(&self) -> u64 {
        self.0.entries
    }
}

pub struct CourseObject<'a>(pub &'a Course);

#[Object(name = "Course")]
impl CourseObject<'_> {
    /// `HYROX_STANDARD` or `CUSTOM`.
    async fn code(&self) -> &str {
        self.0.code()
    }
    async fn timing_points(&self) -> Vec<String> {
        self.0.points().iter().map(ToString::to_string).collect()
    }
    async fn segments(&self) -> Vec<SegmentObject> {
        self.0
            .segments()
            .iter()
            .map(|s| SegmentObject {
                code: s.code.clone(),
                from_point: self.0.points()[s.from].to_string(),
                to_point: self.0.points()[s.from + 1].to_string(),
                min_ms: s.limits.min.0,
                max_ms: s.limits.max.map(|m| m.0),
            })
            .collect()
    }
    /// When a measured split is flagged `SEGMENT_OUTLIER` against its field.
    async fn outlier_rule(&self) -> OutlierRuleObject {
        let rule = self.0.outlier_rule();
        OutlierRuleObject {
            low: rule.low,
            high: rule.high,
            min_field: rule.min_field,
        }
    }
}

/// A measured split is an outlier below `low` × or above `high` × the median of the same
/// segment among the event's entries of the same category and gender, once `minField` of them
/// have measured it.
#[derive(SimpleObject)]
#[graphql(name = "OutlierRule")]
pub struct OutlierRuleObject {
    pub low: f64,
    pub high: f64,
    pub min_field: u32,
}

#[derive(SimpleObject)]
#[graphql(name = "Segment")]
pub struct SegmentObject {
    pub code: String,
    pub from_point: String,
    pub to_point: String,
    /// Faster than this is impossible: the read is flagged and set aside.
    pub min_ms: i64,
    /// Slower than this is flagged (and kept); null = no maximum.
    pub max_ms: Option<i64>,
}

/// An athlete as others see them: private athletes show as "Private athlete", without id.
#[derive(SimpleObject)]
#[graphql(name = "AthleteRef")]
pub struct AthleteRef {
    pub id: Option<ID>,
    pub name: String,
    pub private: bool,
}

impl AthleteRef {
    /// The athlete as `viewer` may see them (see `athletes::shown_athlete`).
    pub fn new(viewer: &Principal, athlete_id: Uuid, name: String, private: bool) -> Self {
        let shown = crate::app::athletes::shown_athlete(viewer, athlete_id, name, private);
        AthleteRef {
            id: shown.id.map(|id| ID(id.to_string())),
            name: shown.name,
            private: shown.private,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Entry")]
pub struct EntryObject {
    pub id: ID,
    pub bib: String,
    pub athlete: AthleteRef,
    pub category: CategoryGql,
    pub gender: GenderGql,
    pub age_group: Option<String>,
    pub wave_start: DateTime<Utc>,
}

impl EntryObject {
    pub fn new(viewer: &Principal, e: Entry) -> Self {
        Self {
            id: ID(e.id.to_string()),
            athlete: AthleteRef::new(viewer, e.athlete_id, e.athlete_name(), e.athlete_private),
            bib: e.bib.to_string(),
            category: e.category.into(),
            gender: e.gender.into(),
            age_group: e.age_group.map(|a| a.label()),
            wave_start: time(e.wave_start),
        }
    }
}

/// A racing entry's predicted finish (or a registered one's, from their earlier results).
#[derive(SimpleObject, Clone)]
#[graphql(name = "Prediction")]
pub struct PredictionObject {
    /// The predicted net time.
    pub finish_ms: i64,
    /// The 80 % interval of the net time.
    pub low_ms: i64,
    pub high_ms: i64,
    /// When the entry would cross the finish mat.
    pub finish_at: DateTime<Utc>,
    /// Where the predicted time would place the entry in its division, among its finishers
    /// and the other predictions.
    pub projected_rank: Option<u32>,
    /// The number of comparable efforts behind the prediction (for a registered entry: the
    /// athlete's own earlier results), or `PRIOR` when the course has no history yet and
    /// the prediction comes from the simulator's distributions.
    pub basis: String,
    /// The model version (see `predictionModels`); 0 for the built-in prior.
    pub model_version: i64,
}

impl From<crate::app::prediction::Forecast> for PredictionObject {
    fn from(f: crate::app::prediction::Forecast) -> Self {
        Self {
            finish_ms: f.prediction.finish_ms,
            low_ms: f.prediction.low_ms,
            high_ms: f.prediction.high_ms,
            finish_at: time(f.finish_at),
            projected_rank: f.projected_rank,
            basis: crate::app::prediction::basis_label(f.prediction.basis),
            model_version: f.model_version,
        }
    }
}

/// Where a row's prediction is looked up: the entry in its event as of a step (none for
/// views of the past).
#[derive(Clone, Copy)]
pub struct PredictionSource {
    pub event_id: Uuid,
    pub seq: i64,
    pub entry_id: Uuid,
}

impl PredictionSource {
    pub async fn resolve(
        source: Option<Self>,
        ctx: &async_graphql::Context<'_>,
    ) -> GqlResult<Option<PredictionObject>> {
        let Some(s) = source else {
            return Ok(None);
        };
        let state = ctx.data_unchecked::<crate::app::AppState>();
        Ok(
            crate::app::prediction::forecast(state, s.event_id, s.seq, s.entry_id)
                .await
                .gql()?
                .map(PredictionObject::from),
        )
    }
}

/// One row of a leaderboard.
#[derive(SimpleObject)]
#[graphql(name = "LeaderboardEntry", complex)]
pub struct LeaderboardNode {
    /// Rank within this leaderboard's filter; null for unranked entries (not started, DNF, DNS, DSQ).
    pub rank: Option<u32>,
    pub bib: String,
    pub status: EntryStatusGql,
    pub net_time_ms: Option<i64>,
    /// Time from start to `lastTimingPoint`.
    pub elapsed_ms: Option<i64>,
    /// Furthest timing point reached.
    pub last_timing_point: Option<String>,
    pub category: CategoryGql,
    pub gender: GenderGql,
    pub age_group: Option<String>,
    pub athlete: AthleteRef,
    /// The start mat missed this entry; its clock started at its wave start.
    pub start_from_wave: bool,
    #[graphql(skip)]
    pub prediction_source: Option<PredictionSource>,
}

#[ComplexObject]
impl LeaderboardNode {
    /// The predicted finish of a racing entry (of a registered one, from the athlete's
    /// earlier results); null otherwise and in views of the past.
    async fn prediction(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> GqlResult<Option<PredictionObject>> {
        PredictionSource::resolve(self.prediction_source, ctx).await
    }
}

impl LeaderboardNode {
    /// A row; `at` is the event and step its prediction comes from (`None`: a view of the
    /// past, without predictions).
    pub fn new(
        viewer: &Principal,
        course: &Course,
        rank: Option<u32>,
        r: &StandingRow,
        at: Option<(Uuid, i64)>,
    ) -> Self {
        Self {
            prediction_source: at.map(|(event_id, seq)| PredictionSource {
                event_id,
                seq,
                entry_id: r.entry_id,
            }),
            rank,
            bib: r.bib.to_string(),
            status: r.status.into(),
            net_time_ms: r.net_time_ms,
            elapsed_ms: r.elapsed_ms,
            last_timing_point: r
                .last_point
                .and_then(|p| course.points().get(p))
                .map(ToString::to_string),
            category: r.category.into(),
            gender: r.gender.into(),
            age_group: r.age_group.map(|a| a.label()),
            athlete: AthleteRef::new(
                viewer,
                r.athlete_id,
                r.athlete_name.clone(),
                r.athlete_private,
            ),
            start_from_wave: r.start_from_wave,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "LeaderboardEdge")]
pub struct LeaderboardEdge {
    pub cursor: String,
    pub node: LeaderboardNode,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "LeaderboardConnection")]
pub struct LeaderboardConnection {
    pub edges: Vec<LeaderboardEdge>,
    pub page_info: PageInfo,
    /// Entries matching the filter.
    pub total_count: u64,
    /// The event `seq` these standings reflect.
    pub seq: i64,
}

#[derive(SimpleObject)]
#[graphql(name = "Ranks")]
pub struct RanksObject {
    /// Rank in the division (category × gender).
    pub overall: Option<u32>,
    /// Rank among all entries of the same gender, every category.
    pub gender: Option<u32>,
    /// Rank in the division's age group.
    pub age_group: Option<u32>,
}

impl From<Ranks> for RanksObject {
    fn from(r: Ranks) -> Self {
        Self {
            overall: r.overall,
            gender: r.gender,
            age_group: r.age_group,
        }
    }
}

/// A known duration between two timing points. `merged` splits span missed mats: the time
/// across them is known, how it divides between the segments is not.
#[derive(SimpleObject)]
#[graphql(name = "Split")]
pub struct SplitObject {
    /// The segment's code, or the covered codes joined by `+` for a merged split.
    pub segment: String,
    pub segments: Vec<String>,
    pub from_point: String,
    pub to_point: String,
    pub duration_ms: i64,
    pub merged: bool,
    /// The split ends at a read an import placed rather than read (its source gave only a
    /// sum): the duration is an estimate, left out of per-segment statistics.
    pub estimated: bool,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
#[graphql(name = "Result", complex)]
pub struct ResultObject {
    pub event_id: ID,
    pub bib: String,
    pub athlete: AthleteRef,
    pub category: CategoryGql,
    pub gender: GenderGql,
    pub age_group: Option<String>,
    pub status: EntryStatusGql,
    /// True until the event is OFFICIAL.
    pub provisional: bool,
    pub net_time_ms: Option<i64>,
    pub elapsed_ms: Option<i64>,
    pub penalty_ms: i64,
    pub last_timing_point: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub wave_start: DateTime<Utc>,
    pub start_from_wave: bool,
    pub ranks: RanksObject,
    pub splits: Vec<SplitObject>,
    /// PROVISIONAL until the event is OFFICIAL.
    pub result_status: ResultStatus,
    /// Reads not used for this result (see `flags` for why they deserve a look).
    pub set_aside: Vec<SetAsideObject>,
    #[graphql(skip)]
    pub roxzone_parts: Vec<Option<i64>>,
    #[graphql(skip)]
    pub source: Event,
    #[graphql(skip)]
    pub bib_value: Bib,
    #[graphql(skip)]
    pub wave_start_value: Timestamp,
    #[graphql(skip)]
    pub entry_id: Uuid,
}

/// Whether a result may still change.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ResultStatus {
    /// The event is scheduled, live or provisional: corrections may still change it.
    Provisional,
    /// The event is official: only an admin's amendment changes it.
    Official,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(
    remote = "podium_domain::engine::SetAsideReason",
    name = "SetAsideReason"
)]
pub enum SetAsideReasonGql {
    OutOfOrder,
    TooFast,
    StrayFinish,
}

/// A read the engine did not use.
#[derive(SimpleObject)]
#[graphql(name = "SetAsideRead")]
pub struct SetAsideObject {
    pub timing_point: String,
    pub at: DateTime<Utc>,
    pub reason: SetAsideReasonGql,
}

#[ComplexObject]
impl ResultObject {
    /// The predicted finish while racing (registered: from the athlete's earlier results).
    async fn prediction(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> GqlResult<Option<PredictionObject>> {
        let source = PredictionSource {
            event_id: self.source.id,
            seq: self.source.seq,
            entry_id: self.entry_id,
        };
        PredictionSource::resolve(Some(source), ctx).await
    }

    /// Whether this was the athlete's best finish on the course when it was raced: finished,
    /// and faster than every finish of theirs in an event that started before (the first
    /// finish is one; equalling the best is not). Null where the athlete is private to you.
    async fn personal_best(&self, ctx: &async_graphql::Context<'_>) -> GqlResult<Option<bool>> {
        let Some(id) = &self.athlete.id else {
            return Ok(None);
        };
        let id = crate::transport::graphql::parse_id("athlete", id)?;
        let results = crate::transport::graphql::app(ctx)
            .athletes
            .athlete_results(id)
            .await
            .gql()?;
        Ok(Some(podium_domain::analytics::is_personal_best(
            &results,
            self.source.id,
        )))
    }

    /// Sum of the ROXZONE segments; null when a missed mat hides one of them.
    async fn roxzone_time_ms(&self) -> Option<i64> {
        if self.roxzone_parts.is_empty() {
            return None;
        }
        self.roxzone_parts.iter().copied().sum()
    }

    /// The entry's plausibility flags, every status.
    async fn flags(&self, ctx: &async_graphql::Context<'_>) -> GqlResult<Vec<FlagObject>> {
        let filter = FlagFilter {
            bib: Some(self.bib_value.clone()),
            ..Default::default()
        };
        let flags = super::app(ctx)
            .repo
            .flags(self.source.id, &filter)
            .await
            .gql()?;
        Ok(flags.into_iter().map(Into::into).collect())
    }

    /// Whether an admin amended this result after the event became official.
    async fn amended(&self, ctx: &async_graphql::Context<'_>) -> GqlResult<bool> {
        let corrections = super::app(ctx)
            .repo
            .corrections(&self.source, Some(&self.bib_value))
            .await
            .gql()?;
        Ok(corrections.iter().any(|c| c.amendment))
    }

    /// The raw reads and corrections behind every split and the net time.
    async fn lineage(&self, ctx: &async_graphql::Context<'_>) -> GqlResult<LineageObject> {
        let (lineage, corrections) = crate::app::officiating::lineage(
            super::app(ctx),
            &self.source,
            &self.bib_value,
            self.wave_start_value,
        )
        .await
        .gql()?;
        let corrections = CorrectionObject::list(&corrections, super::principal(ctx), &self.source);
        Ok(LineageObject::new(
            &self.source.course,
            lineage,
            corrections,
        ))
    }
}

impl ResultObject {
    pub fn new(viewer: &Principal, r: EntryResult) -> Self {
        let course = &r.event.course;
        let p = &r.progress;
        let point = |i: usize| course.points()[i].to_string();
        let splits: Vec<SplitObject> = p
            .splits
            .iter()
            .map(|s| {
                let codes: Vec<String> = s
                    .segments()
                    .map(|k| course.segments()[k].code.clone())
                    .collect();
                let started = p
                    .passed
                    .iter()
                    .find(|(i, _)| *i == s.from_point)
                    .map(|(_, t)| *t)
                    .unwrap_or_default();
                let ended = p
                    .passed
                    .iter()
                    .find(|(i, _)| *i == s.to_point)
                    .map(|(_, t)| *t)
                    .unwrap_or_default();
                SplitObject {
                    segment: codes.join("+"),
                    segments: codes,
                    from_point: point(s.from_point),
                    to_point: point(s.to_point),
                    duration_ms: s.duration.0,
                    merged: s.is_merged(),
                    estimated: s.estimated,
                    started_at: time(started),
                    ended_at: time(ended),
                }
            })
            .collect();
        let roxzones: Vec<&str> = course
            .segments()
            .iter()
            .map(|s| s.code.as_str())
            .filter(|c| c.starts_with("ROXZONE_"))
            .collect();
        let roxzone_parts = roxzones
            .iter()
            .map(|code| {
                splits
                    .iter()
                    .find(|s| !s.merged && s.segment == *code)
                    .map(|s| s.duration_ms)
            })
            .collect();
        let finished_at = p
            .passed
            .last()
            .filter(|(i, _)| {
                *i == course.finish_index() && r.progress.status == EntryStatus::Finished
            })
            .map(|(_, t)| time(*t));
        Self {
            event_id: ID(r.event.id.to_string()),
            bib: r.entry.bib.to_string(),
            athlete: AthleteRef::new(
                viewer,
                r.entry.athlete_id,
                r.entry.athlete_name(),
                r.entry.athlete_private,
            ),
            category: r.entry.category.into(),
            gender: r.entry.gender.into(),
            age_group: r.entry.age_group.map(|a| a.label()),
            status: p.status.into(),
            provisional: !r.event.status.results_official(),
            result_status: if r.event.status.results_official() {
                ResultStatus::Official
            } else {
                ResultStatus::Provisional
            },
            net_time_ms: p.net_time.map(|d| d.0),
            elapsed_ms: p.elapsed.map(|d| d.0),
            penalty_ms: p.penalty.0,
            last_timing_point: p.last_point.map(point),
            started_at: p.start.map(time),
            finished_at,
            wave_start: time(r.entry.wave_start),
            start_from_wave: p.start_from_wave,
            ranks: r.ranks.into(),
            splits,
            set_aside: p
                .set_aside
                .iter()
                .map(|a| SetAsideObject {
                    timing_point: point(a.point),
                    at: time(a.at),
                    reason: a.reason.into(),
                })
                .collect(),
            roxzone_parts,
            bib_value: r.entry.bib.clone(),
            wave_start_value: r.entry.wave_start,
            entry_id: r.entry.id,
            source: r.event,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "RejectedDetection")]
pub struct RejectedObject {
    /// Position of the row in the request.
    pub index: u32,
    pub reason: String,
}

#[derive(SimpleObject)]
#[graphql(name = "IngestReport")]
pub struct IngestReportObject {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<RejectedObject>,
    /// The event's `seq` after this ingest.
    pub seq: i64,
}

impl From<IngestReport> for IngestReportObject {
    fn from(r: IngestReport) -> Self {
        Self {
            accepted: r.accepted,
            duplicates: r.duplicates,
            rejected: r
                .rejected
                .into_iter()
                .map(|Rejection { index, reason }| RejectedObject {
                    index: index as u32,
                    reason,
                })
                .collect(),
            seq: r.seq,
        }
    }
}

pub fn category(c: CategoryGql) -> Category {
    c.into()
}

pub fn gender(g: GenderGql) -> Gender {
    g.into()
}
