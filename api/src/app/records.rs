//! Analytics across events, over official results of the standard course: segment
//! leaderboards, an athlete's trend race by race, competition statistics by season and venue.
//!
//! Answers are kept per question and per *version* of the official results — a digest of
//! every official event's id and `seq` — so a new official event, an amendment, a merge of
//! athletes or a privacy change (each moves some event's `seq`) makes the next question
//! compute afresh, and nothing else does.

use crate::app::athletes::{may_read_analytics, shown_athlete, ShownAthlete};
use crate::app::AppState;
use crate::auth::{Principal, Role, Scope};
use crate::cache::Recent;
use crate::error::ApiError;
use podium_domain::course::{Course, HYROX_STANDARD};
use podium_domain::division::{AgeGroup, Category, Gender};
use podium_domain::model::{Event, EventStatus};
use podium_domain::ports::{CompetitionQuery, EffortQuery};
use podium_domain::records::{
    segment_board, trend, CompetitionFigures, RankedEffort, SeasonStart, TrendPoint, TrendRace,
};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use uuid::Uuid;

/// Answers kept per kind.
const KEPT: usize = 128;
/// Events read to find the official ones (far more than a series holds).
const EVENTS_READ: u64 = 100_000;

/// The official events of the standard course, with the version of their results.
#[derive(Clone)]
pub struct Official {
    pub events: Arc<HashMap<Uuid, Event>>,
    pub version: u64,
}

type BoardKey = (
    u64,
    String,
    Option<Category>,
    Option<Gender>,
    Option<AgeGroup>,
    Option<i32>,
    Option<Uuid>,
);
type CompetitionKey = (
    u64,
    Option<i32>,
    Option<Uuid>,
    Option<Category>,
    Option<Gender>,
);

/// Answers by question and version of the official results.
#[derive(Clone)]
pub struct RecordsCache {
    official: Recent<u64, Arc<HashMap<Uuid, Event>>>,
    boards: Recent<BoardKey, Arc<Vec<RankedEffort>>>,
    competitions: Recent<CompetitionKey, Arc<CompetitionFigures>>,
}

impl Default for RecordsCache {
    fn default() -> Self {
        Self {
            official: Recent::new(2),
            boards: Recent::new(KEPT),
            competitions: Recent::new(KEPT),
        }
    }
}

/// The official events of the standard course and their version: one read of their ids and
/// steps, and the events themselves only when those changed.
pub async fn official(state: &AppState) -> Result<Official, ApiError> {
    let steps = state.analytics_repo.official_steps(HYROX_STANDARD).await?;
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    steps.hash(&mut digest);
    let version = digest.finish();
    if let Some(events) = state.records.official.get(&version) {
        return Ok(Official { events, version });
    }
    let wanted: std::collections::HashSet<Uuid> = steps.iter().map(|(id, _)| *id).collect();
    let events: HashMap<Uuid, Event> = state
        .repo
        .events(EVENTS_READ)
        .await?
        .into_iter()
        .filter(|e| wanted.contains(&e.id) && e.status == EventStatus::Official)
        .map(|e| (e.id, e))
        .collect();
    let events = Arc::new(events);
    state.records.official.put(version, events.clone());
    Ok(Official { events, version })
}

fn season_start(state: &AppState) -> SeasonStart {
    SeasonStart::parse(&state.settings.season_start).unwrap_or(SeasonStart::CALENDAR)
}

/// The official events in `season` (by the configured season start) and at `venue`.
fn chosen(
    state: &AppState,
    official: &Official,
    season: Option<i32>,
    venue: Option<Uuid>,
) -> Vec<Uuid> {
    let start = season_start(state);
    let mut ids: Vec<Uuid> = official
        .events
        .values()
        .filter(|e| season.is_none_or(|s| start.season_of(e) == s))
        .filter(|e| venue.is_none_or(|v| e.venue_id == Some(v)))
        .map(|e| e.id)
        .collect();
    ids.sort();
    ids
}

/// What a segment leaderboard asks for.
#[derive(Debug, Clone)]
pub struct BoardQuery {
    pub segment: String,
    pub category: Option<Category>,
    pub gender: Option<Gender>,
    pub age_group: Option<AgeGroup>,
    pub season: Option<i32>,
    pub venue_id: Option<Uuid>,
}

/// A segment leaderboard with the events its efforts come from.
pub struct Board {
    pub ranked: Arc<Vec<RankedEffort>>,
    pub official: Official,
}

/// Each athlete's best measured time on a segment of the standard course across official
/// events (of a season, at a venue), ranked.
pub async fn segment_leaderboard(
    state: &AppState,
    viewer: &Principal,
    query: BoardQuery,
) -> Result<Board, ApiError> {
    let _timer = state.metrics.analytics_timer("segment_leaderboard");
    viewer.require(Scope::ResultsRead)?;
    let course = Course::hyrox_standard();
    if course.segments().iter().all(|s| s.code != query.segment) {
        let codes: Vec<&str> = course.segments().iter().map(|s| s.code.as_str()).collect();
        return Err(ApiError::BadRequest(format!(
            "segment: `{}` is not a segment of {HYROX_STANDARD} ({})",
            query.segment,
            codes.join(", ")
        )));
    }
    let official = official(state).await?;
    let key: BoardKey = (
        official.version,
        query.segment.clone(),
        query.category,
        query.gender,
        query.age_group,
        query.season,
        query.venue_id,
    );
    if let Some(ranked) = state.records.boards.get(&key) {
        return Ok(Board { ranked, official });
    }
    let efforts = state
        .analytics_repo
        .segment_efforts(&EffortQuery {
            segment: query.segment,
            course: HYROX_STANDARD.to_owned(),
            category: query.category,
            gender: query.gender,
            age_group: query.age_group,
            event_ids: chosen(state, &official, query.season, query.venue_id),
        })
        .await?;
    let ranked = Arc::new(segment_board(efforts));
    state.records.boards.put(key, ranked.clone());
    Ok(Board { ranked, official })
}

/// The athletes of `ids` as `viewer` may see them.
pub async fn shown_athletes(
    state: &AppState,
    viewer: &Principal,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ShownAthlete>, ApiError> {
    let profiles = state.athletes.athletes_by_ids(ids).await?;
    Ok(profiles
        .into_iter()
        .map(|p| {
            let name = format!("{} {}", p.first_name, p.last_name);
            (p.id, shown_athlete(viewer, p.id, name, p.private))
        })
        .collect())
}

/// The athlete's races in the order raced: net time, division percentile and each measured
/// segment's percentile, with the change against the finished race before.
pub async fn athlete_trend(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
) -> Result<Vec<TrendPoint>, ApiError> {
    let _timer = state.metrics.analytics_timer("athlete_trend");
    may_read_analytics(state, viewer, athlete_id).await?;
    let results = state.athletes.athlete_results(athlete_id).await?;
    let standings: HashMap<Uuid, _> = state
        .analytics_repo
        .race_standings(athlete_id)
        .await?
        .into_iter()
        .map(|s| (s.event_id, s))
        .collect();
    let course = Course::hyrox_standard();
    let order = |code: &str| course.segments().iter().position(|s| s.code == code);
    let races = results
        .into_iter()
        .filter(|r| r.course == HYROX_STANDARD)
        .map(|r| {
            let standing = standings.get(&r.event_id);
            let mut segments: Vec<(String, i64, Option<f64>)> = standing
                .map(|s| {
                    s.segments
                        .iter()
                        .map(|(code, st)| (code.clone(), st.value, st.percentile()))
                        .collect()
                })
                .unwrap_or_default();
            segments.sort_by_key(|(code, _, _)| order(code));
            TrendRace {
                event_id: r.event_id,
                event_name: r.event_name,
                starts_at: r.starts_at,
                bib: r.bib,
                status: r.status,
                net_time_ms: r.net_time_ms,
                division_percentile: standing.and_then(|s| s.net?.percentile()),
                segments,
            }
        })
        .collect();
    Ok(trend(races))
}

/// What competition statistics ask for.
#[derive(Debug, Clone, Copy)]
pub struct CompetitionAsk {
    pub season: Option<i32>,
    pub venue_id: Option<Uuid>,
    pub category: Option<Category>,
    pub gender: Option<Gender>,
}

/// The figures of a competition and of the season before (when a season was asked for).
pub struct Competition {
    pub figures: Arc<CompetitionFigures>,
    pub previous: Option<Arc<CompetitionFigures>>,
}

/// Competition-wide figures (`competitionStats`, `predictionModels`) are for admins and
/// integrations with `analytics:read`.
pub fn may_read_competition(viewer: &Principal) -> Result<(), ApiError> {
    viewer.require(Scope::AnalyticsRead)?;
    if !matches!(viewer.role(), Some(Role::Admin | Role::Integration)) {
        return Err(ApiError::Forbidden(
            "competition figures are for admins and integrations with analytics:read".into(),
        ));
    }
    Ok(())
}

/// Events, entries, finishers, DNF/DNS/DSQ rates, the finish-time distribution and
/// per-segment medians of official events (a season, a venue, a division), with the season
/// before for comparison. For admins and integrations with `analytics:read`.
pub async fn competition_stats(
    state: &AppState,
    viewer: &Principal,
    ask: CompetitionAsk,
) -> Result<Competition, ApiError> {
    let _timer = state.metrics.analytics_timer("competition_stats");
    may_read_competition(viewer)?;
    let official = official(state).await?;
    let before = ask.season.map(|season| CompetitionAsk {
        season: Some(season - 1),
        ..ask
    });
    // Both seasons at once: each is a few database reads of its own.
    let (figures, previous) = tokio::join!(competition_of(state, &official, ask), async {
        match before {
            Some(before) => competition_of(state, &official, before).await.map(Some),
            None => Ok(None),
        }
    });
    Ok(Competition {
        figures: figures?,
        previous: previous?,
    })
}

async fn competition_of(
    state: &AppState,
    official: &Official,
    ask: CompetitionAsk,
) -> Result<Arc<CompetitionFigures>, ApiError> {
    let key: CompetitionKey = (
        official.version,
        ask.season,
        ask.venue_id,
        ask.category,
        ask.gender,
    );
    if let Some(figures) = state.records.competitions.get(&key) {
        return Ok(figures);
    }
    let mut figures = state
        .analytics_repo
        .competition(&CompetitionQuery {
            event_ids: chosen(state, official, ask.season, ask.venue_id),
            category: ask.category,
            gender: ask.gender,
        })
        .await?;
    let course = Course::hyrox_standard();
    figures
        .segment_medians
        .sort_by_key(|(code, _, _)| course.segments().iter().position(|s| &s.code == code));
    let figures = Arc::new(figures);
    state.records.competitions.put(key, figures.clone());
    Ok(figures)
}
