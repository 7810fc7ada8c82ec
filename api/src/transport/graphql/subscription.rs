//! Live results: `entryUpdates` and `leaderboardUpdates`. Each starts with a snapshot (or, with
//! `afterSeq`, the steps after it, replayed from the durable change log), then follows the log
//! live. Every message carries the event `seq`; seqs only grow.

use crate::app::race;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::live::ChangeFollower;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::{
    category, gender, CategoryGql, EntryStatusGql, EventStatusGql, GenderGql, LeaderboardNode,
    PredictionObject, PredictionSource,
};
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{ComplexObject, Context, Enum, SimpleObject, Subscription, ID};
use futures::stream::{BoxStream, StreamExt};
use podium_domain::course::Course;
use podium_domain::engine::evaluate;
use podium_domain::flags::FlagStatus;
use podium_domain::live::{ChangeKind, EntryChange, EventChange};
use podium_domain::model::Event;
use podium_domain::ports::FlagFilter;
use podium_domain::standings::LeaderboardFilter;
use podium_domain::timing::Bib;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How a subscription resolver runs when its transport shares the execution of its steps
/// between subscribers (`transport::ws`): absent, the resolver follows the change log itself.
#[derive(Clone)]
pub enum LiveMode {
    /// Yield only the opening message (the snapshot, none with `afterSeq`) and hand the
    /// follower, started where that message stands, to the transport.
    Opening(Arc<Opening>),
    /// Yield only the message of this step (nothing when the step ends the subscription).
    Step {
        change: Arc<EventChange>,
        course: Arc<Course>,
    },
}

/// Where an opening execution leaves its follower and the event's course.
#[derive(Default)]
pub struct Opening(Mutex<Option<(ChangeFollower, Arc<Course>)>>);

impl Opening {
    fn hand_over(&self, follower: ChangeFollower, course: Arc<Course>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((follower, course));
    }

    /// The follower and course, once the opening execution succeeded.
    pub fn take(&self) -> Option<(ChangeFollower, Arc<Course>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Why a live message was sent.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum UpdateKind {
    /// The current state, first message of a subscription without `afterSeq`.
    Snapshot,
    EntriesAdded,
    Detections,
    Correction,
    Status,
    FlagReview,
    /// An athlete made their results private or public again.
    Privacy,
}

impl From<ChangeKind> for UpdateKind {
    fn from(k: ChangeKind) -> Self {
        match k {
            ChangeKind::EntriesAdded => UpdateKind::EntriesAdded,
            ChangeKind::Detections => UpdateKind::Detections,
            ChangeKind::Correction => UpdateKind::Correction,
            ChangeKind::Status => UpdateKind::Status,
            ChangeKind::FlagReview => UpdateKind::FlagReview,
            ChangeKind::Privacy => UpdateKind::Privacy,
        }
    }
}

/// An entry's live state.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct LiveEntry {
    pub bib: String,
    pub status: EntryStatusGql,
    pub last_timing_point: Option<String>,
    pub elapsed_ms: Option<i64>,
    pub net_time_ms: Option<i64>,
    pub penalty_ms: i64,
    pub open_flags: i32,
    #[graphql(skip)]
    pub prediction_source: PredictionSource,
}

#[ComplexObject]
impl LiveEntry {
    /// The predicted finish while racing (registered: from the athlete's earlier results).
    async fn prediction(&self, ctx: &Context<'_>) -> GqlResult<Option<PredictionObject>> {
        PredictionSource::resolve(Some(self.prediction_source), ctx).await
    }
}

impl LiveEntry {
    fn new(course: &Course, event_id: Uuid, seq: i64, e: &EntryChange) -> Self {
        Self {
            prediction_source: PredictionSource {
                event_id,
                seq,
                entry_id: e.entry_id,
            },
            bib: e.bib.to_string(),
            status: e.status.into(),
            last_timing_point: e
                .last_point
                .and_then(|p| course.points().get(p))
                .map(ToString::to_string),
            elapsed_ms: e.elapsed_ms,
            net_time_ms: e.net_time_ms,
            penalty_ms: e.penalty_ms,
            open_flags: e.open_flags,
        }
    }
}

#[derive(SimpleObject)]
pub struct EntryUpdate {
    /// The event `seq` this message reflects.
    pub seq: i64,
    pub kind: UpdateKind,
    pub event_status: EventStatusGql,
    pub entry: LiveEntry,
}

#[derive(SimpleObject)]
pub struct LeaderboardUpdate {
    /// The event `seq` this message reflects.
    pub seq: i64,
    pub kind: UpdateKind,
    pub event_status: EventStatusGql,
    /// Snapshot: the top `first` rows. Otherwise: the entries of the filter that changed at
    /// `seq`, with their rank within the filter as of the latest standings.
    pub entries: Vec<LeaderboardNode>,
}

/// Checks `afterSeq` against the event: 0 up to its current `seq`.
fn check_after(event: &Event, after: Option<i64>) -> Result<Option<i64>, ApiError> {
    match after {
        Some(s) if s < 0 || s > event.seq => Err(ApiError::BadRequest(format!(
            "afterSeq: {s} is outside 0..={} (the event's current seq)",
            event.seq
        ))),
        other => Ok(other),
    }
}

/// Follows the event *before* reading it, so no change falls between the snapshot (or
/// `afterSeq`) and the live stream; checks `afterSeq`. The follower starts at the snapshot's
/// `seq` or at `afterSeq`.
async fn open(
    state: &AppState,
    event_id: &ID,
    after_seq: Option<i64>,
    bib: Option<Bib>,
) -> async_graphql::Result<(Event, Option<i64>, ChangeFollower)> {
    let event_id = parse_id("eventId", event_id)?;
    let mut follower = state.live.follow(event_id, 0, bib);
    let event = race::load_event(state, event_id).await.gql()?;
    let after = check_after(&event, after_seq).gql()?;
    follower.start_at(after.unwrap_or(event.seq));
    Ok((event, after, follower))
}

/// An entry's current state, penalties and open flags included.
async fn entry_snapshot(
    state: &AppState,
    event: &Event,
    bib: &Bib,
) -> Result<EntryUpdate, ApiError> {
    let record = state
        .repo
        .entry_record(event, bib)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("bib {bib} in event {}", event.id)))?;
    let progress = evaluate(
        &event.course,
        &record.timeline,
        Some(record.entry.wave_start),
        &record.adjustments,
    );
    let open = FlagFilter {
        status: Some(FlagStatus::Open),
        bib: Some(bib.clone()),
        ..Default::default()
    };
    let open_flags = state.repo.flags(event.id, &open).await?.len() as i32;
    let change = EntryChange {
        athlete_id: None,
        entry_id: record.entry.id,
        bib: bib.clone(),
        status: progress.status,
        last_point: progress.last_point,
        elapsed_ms: progress.elapsed.map(|d| d.0),
        net_time_ms: progress.net_time.map(|d| d.0),
        penalty_ms: progress.penalty.0,
        open_flags,
        start_from_wave: progress.start_from_wave,
        athlete_private: None,
        athlete_name: None,
        profile: None,
    };
    Ok(EntryUpdate {
        seq: event.seq,
        kind: UpdateKind::Snapshot,
        event_status: event.status.into(),
        entry: LiveEntry::new(&event.course, event.id, event.seq, &change),
    })
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// One entry's live state. Without `afterSeq`: a SNAPSHOT, then every change of the entry.
    /// With `afterSeq`: every change of the entry after that seq, in order, then live.
    #[graphql(guard = "RequireScope(Scope::LiveSubscribe)")]
    async fn entry_updates(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        bib: String,
        after_seq: Option<i64>,
    ) -> async_graphql::Result<BoxStream<'static, EntryUpdate>> {
        let state: AppState = app(ctx).clone();
        let bib = Bib::parse(&bib).gql()?;
        // A prediction is read from the event's standings at the step: bring them up to it
        // from the step before (shared by every subscriber) rather than from the database.
        let predicts = ctx.look_ahead().field("entry").field("prediction").exists();
        let mode = ctx.data_opt::<LiveMode>();
        if let Some(LiveMode::Step { change, course }) = mode {
            let update = entry_step(&state, change, &bib, course, predicts).await;
            return Ok(futures::stream::iter(update).boxed());
        }
        let (event, after, follower) =
            open(&state, &event_id, after_seq, Some(bib.clone())).await?;
        // Also checks the bib is registered, resumed or not.
        let current = entry_snapshot(&state, &event, &bib).await.gql()?;
        let snapshot = after.is_none().then_some(current);
        let course = state.live.course(&event);
        let first = futures::stream::iter(snapshot);
        if let Some(LiveMode::Opening(opening)) = mode {
            opening.hand_over(follower, course);
            return Ok(first.boxed());
        }
        let rest = futures::stream::unfold(follower, move |mut follower| {
            let (bib, course, state) = (bib.clone(), course.clone(), state.clone());
            async move {
                // The follower yields only the steps that change the bib.
                let change = follower.next().await?;
                let update = entry_step(&state, &change, &bib, &course, predicts).await?;
                Some((update, follower))
            }
        });
        Ok(first.chain(rest).boxed())
    }

    /// A division's live leaderboard. Without `afterSeq`: a SNAPSHOT of the top `first` (20)
    /// rows, then, per change, the entries of the division that changed. With `afterSeq`: the
    /// changes after that seq, in order, then live.
    #[graphql(guard = "RequireScope(Scope::LiveSubscribe)")]
    async fn leaderboard_updates(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        category: Option<CategoryGql>,
        gender: Option<GenderGql>,
        after_seq: Option<i64>,
        #[graphql(default_with = "Some(20)", validator(minimum = 1, maximum = 500))] first: Option<
            i32,
        >,
    ) -> async_graphql::Result<BoxStream<'static, LeaderboardUpdate>> {
        let state: AppState = app(ctx).clone();
        let viewer = principal(ctx).clone();
        let filter = LeaderboardFilter {
            category: category.map(self::category),
            gender: gender.map(self::gender),
            age_group: None,
        };
        let mode = ctx.data_opt::<LiveMode>();
        if let Some(LiveMode::Step { change, course }) = mode {
            let update = leaderboard_step(&state, &viewer, change, filter, course).await;
            return Ok(futures::stream::iter(update).boxed());
        }
        let (event, after, follower) = open(&state, &event_id, after_seq, None).await?;
        let snapshot = match after {
            Some(_) => None,
            None => {
                let standings = race::standings(&state, &event).await.gql()?;
                let page = standings.leaderboard(filter, 0, first.unwrap_or(20) as usize);
                Some(LeaderboardUpdate {
                    seq: event.seq,
                    kind: UpdateKind::Snapshot,
                    event_status: event.status.into(),
                    entries: page
                        .rows
                        .iter()
                        .map(|(_, rank, row)| {
                            let at = Some((event.id, event.seq));
                            LeaderboardNode::new(&viewer, &event.course, *rank, row, at)
                        })
                        .collect(),
                })
            }
        };
        let first = futures::stream::iter(snapshot);
        let course = state.live.course(&event);
        if let Some(LiveMode::Opening(opening)) = mode {
            opening.hand_over(follower, course);
            return Ok(first.boxed());
        }
        let rest = futures::stream::unfold(follower, move |mut follower| {
            let (state, viewer, course) = (state.clone(), viewer.clone(), course.clone());
            async move {
                let change = follower.next().await?;
                let update = leaderboard_step(&state, &viewer, &change, filter, &course).await?;
                Some((update, follower))
            }
        });
        Ok(first.chain(rest).boxed())
    }
}

/// The `entryUpdates` message of one step (none when the step does not concern the bib, or
/// the standings for its prediction cannot be read: the subscription ends).
async fn entry_step(
    state: &AppState,
    change: &EventChange,
    bib: &Bib,
    course: &Course,
    predicts: bool,
) -> Option<EntryUpdate> {
    let e = change.entries.iter().find(|e| &e.bib == bib)?;
    if predicts {
        race::standings_after(state, change).await.ok()?;
    }
    Some(EntryUpdate {
        seq: change.seq,
        kind: change.kind.into(),
        event_status: change.status.into(),
        entry: LiveEntry::new(course, change.event_id, change.seq, e),
    })
}

/// The `leaderboardUpdates` message of one step: the division's entries it changed, ranked
/// as of the standings (none when those cannot be read: the subscription ends).
async fn leaderboard_step(
    state: &AppState,
    viewer: &crate::auth::Principal,
    change: &EventChange,
    filter: LeaderboardFilter,
    course: &Course,
) -> Option<LeaderboardUpdate> {
    let rows = race::changed_rows(state, change, filter).await.ok()?;
    let entries = rows
        .iter()
        .map(|(rank, row)| {
            let at = Some((change.event_id, change.seq));
            LeaderboardNode::new(viewer, course, *rank, row, at)
        })
        .collect();
    Some(LeaderboardUpdate {
        seq: change.seq,
        kind: change.kind.into(),
        event_status: change.status.into(),
        entries,
    })
}
