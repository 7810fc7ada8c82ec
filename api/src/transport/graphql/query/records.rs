//! Analytics across events: segment leaderboards, an athlete's trend, competition statistics.

use crate::app::records::{self, BoardQuery, CompetitionAsk};
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::query::analytics::SegmentStatsObject;
use crate::transport::graphql::query::leaderboard::{decode_cursor, encode_cursor};
use crate::transport::graphql::types::{
    category, gender, time, AthleteRef, CategoryGql, EntryStatusGql, GenderGql, PageInfo,
};
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::division::AgeGroup;
use podium_domain::records::CompetitionFigures;

#[derive(Default)]
pub struct RecordsQuery;

/// An athlete's best measured time on a segment, with the race it came from.
#[derive(SimpleObject)]
pub struct SegmentLeaderboardNode {
    /// Equal times share a rank; the earlier result is listed first.
    pub rank: u32,
    pub athlete: AthleteRef,
    pub duration_ms: i64,
    pub event_id: ID,
    pub event_name: String,
    pub bib: String,
    /// When the segment was done (its end read).
    pub achieved_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct SegmentLeaderboardEdge {
    pub cursor: String,
    pub node: SegmentLeaderboardNode,
}

#[derive(SimpleObject)]
pub struct SegmentLeaderboardConnection {
    pub edges: Vec<SegmentLeaderboardEdge>,
    pub page_info: PageInfo,
    /// Athletes ranked.
    pub total_count: u64,
}

/// One measured segment of a race in an athlete's trend.
#[derive(SimpleObject)]
pub struct TrendSegment {
    pub segment: String,
    pub duration_ms: i64,
    /// Percentile in the division of that event (higher is better).
    pub percentile: Option<f64>,
    /// Percentile minus that of the previous finished race on this segment.
    pub percentile_change: Option<f64>,
}

/// One race of an athlete's trend.
#[derive(SimpleObject)]
pub struct TrendRaceObject {
    pub event_id: ID,
    pub event_name: String,
    pub starts_at: DateTime<Utc>,
    pub bib: String,
    pub status: EntryStatusGql,
    pub net_time_ms: Option<i64>,
    /// The net time's percentile in the division of that event.
    pub division_percentile: Option<f64>,
    /// Net time minus that of the previous finished race (negative: faster).
    pub net_change_ms: Option<i64>,
    pub percentile_change: Option<f64>,
    pub segments: Vec<TrendSegment>,
}

/// A segment's median over a competition.
#[derive(SimpleObject)]
pub struct SegmentMedian {
    pub segment: String,
    pub count: u64,
    pub median_ms: Option<f64>,
    /// This median minus the previous season's (when a season was asked for).
    pub change_ms: Option<f64>,
}

/// What official events (a season, a venue, a division) add up to.
#[derive(SimpleObject)]
pub struct CompetitionStats {
    pub season: Option<i32>,
    pub events: u64,
    pub entries: u64,
    pub finishers: u64,
    pub finish_rate: Option<f64>,
    pub dnf_rate: Option<f64>,
    pub dns_rate: Option<f64>,
    pub dsq_rate: Option<f64>,
    /// The finishers' net times.
    pub finish_time: SegmentStatsObject,
    pub segment_medians: Vec<SegmentMedian>,
    /// The same figures for the season before (when a season was asked for).
    pub previous_season: Option<Box<CompetitionStats>>,
    /// Entries minus the previous season's.
    pub entries_change: Option<i64>,
    /// Median finish time minus the previous season's.
    pub median_finish_change_ms: Option<f64>,
}

impl CompetitionStats {
    fn new(
        season: Option<i32>,
        f: &CompetitionFigures,
        previous: Option<&CompetitionFigures>,
    ) -> Self {
        let median = |f: &CompetitionFigures| f.finish_times.percentile(50.0);
        let earlier = |code: &str| {
            previous.and_then(|p| p.segment_medians.iter().find(|(c, _, _)| c == code)?.2)
        };
        Self {
            season,
            events: f.events as u64,
            entries: f.entries,
            finishers: f.finishers,
            finish_rate: f.rate(f.finishers),
            dnf_rate: f.rate(f.dnf),
            dns_rate: f.rate(f.dns),
            dsq_rate: f.rate(f.dsq),
            finish_time: (&f.finish_times).into(),
            segment_medians: f
                .segment_medians
                .iter()
                .map(|(segment, count, median)| SegmentMedian {
                    segment: segment.clone(),
                    count: *count,
                    median_ms: *median,
                    change_ms: median.zip(earlier(segment)).map(|(m, e)| m - e),
                })
                .collect(),
            previous_season: previous
                .map(|p| Box::new(CompetitionStats::new(season.map(|s| s - 1), p, None))),
            entries_change: previous.map(|p| f.entries as i64 - p.entries as i64),
            median_finish_change_ms: previous.and_then(|p| Some(median(f)? - median(p)?)),
        }
    }
}

#[Object]
impl RecordsQuery {
    /// Strava-style: each athlete's best measured time on a segment of the standard course
    /// across official events, ranked (equal times share a rank, the earlier result first).
    /// Without `season` it is all-time; a season is a calendar year unless `season_start`
    /// says otherwise. Private athletes show as "Private athlete" with their time.
    #[allow(clippy::too_many_arguments)]
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn segment_leaderboard(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A segment code of HYROX_STANDARD: RUN_1, SKIERG, ROXZONE_1, …")]
        segment: String,
        category: Option<CategoryGql>,
        gender: Option<GenderGql>,
        #[graphql(desc = "An age group label: 16-24, 25-29, … 65-69, 70+.")] age_group: Option<
            String,
        >,
        season: Option<i32>,
        venue_id: Option<ID>,
        #[graphql(
            desc = "Page size, 0 to 500; 20 when omitted.",
            default_with = "Some(20)",
            validator(minimum = 0, maximum = 500)
        )]
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<SegmentLeaderboardConnection> {
        let state = app(ctx);
        let viewer = principal(ctx);
        let age_group = age_group
            .as_deref()
            .map(str::parse::<AgeGroup>)
            .transpose()
            .gql()?;
        let venue_id = venue_id
            .as_ref()
            .map(|v| parse_id("venueId", v))
            .transpose()?;
        let offset = after
            .as_deref()
            .map(decode_cursor)
            .transpose()
            .gql()?
            .map_or(0, |p| p + 1);
        let board = records::segment_leaderboard(
            state,
            viewer,
            BoardQuery {
                segment,
                category: category.map(self::category),
                gender: gender.map(self::gender),
                age_group,
                season,
                venue_id,
            },
        )
        .await
        .gql()?;
        let first = first.unwrap_or(20).max(0) as usize;
        let page: Vec<_> = board
            .ranked
            .iter()
            .enumerate()
            .skip(offset)
            .take(first)
            .collect();
        let ids: Vec<_> = page.iter().map(|(_, r)| r.effort.athlete_id).collect();
        let mut shown = records::shown_athletes(state, viewer, &ids).await.gql()?;
        let edges: Vec<SegmentLeaderboardEdge> = page
            .iter()
            .map(|(position, r)| {
                let e = &r.effort;
                let athlete = shown.remove(&e.athlete_id).map_or(
                    AthleteRef {
                        id: None,
                        name: crate::app::athletes::PRIVATE_NAME.to_owned(),
                        private: true,
                    },
                    |a| AthleteRef {
                        id: a.id.map(|id| ID(id.to_string())),
                        name: a.name,
                        private: a.private,
                    },
                );
                SegmentLeaderboardEdge {
                    cursor: encode_cursor(*position),
                    node: SegmentLeaderboardNode {
                        rank: r.rank,
                        athlete,
                        duration_ms: e.duration_ms,
                        event_id: ID(e.event_id.to_string()),
                        event_name: board
                            .official
                            .events
                            .get(&e.event_id)
                            .map(|ev| ev.name.clone())
                            .unwrap_or_default(),
                        bib: e.bib.clone(),
                        achieved_at: time(e.ended_at),
                    },
                }
            })
            .collect();
        let total = board.ranked.len();
        Ok(SegmentLeaderboardConnection {
            page_info: PageInfo {
                has_next_page: offset + edges.len() < total,
                has_previous_page: offset > 0,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: total as u64,
        })
    }

    /// The athlete's races on the standard course in the order raced: net time, percentile in
    /// the division, each measured segment's percentile, and the change against the previous
    /// finished race. For the athlete, coaches they granted and admins.
    #[graphql(guard = "RequireScope(Scope::AnalyticsRead)")]
    async fn athlete_trend(
        &self,
        ctx: &Context<'_>,
        athlete_id: ID,
    ) -> GqlResult<Vec<TrendRaceObject>> {
        let athlete_id = parse_id("athleteId", &athlete_id)?;
        let points = records::athlete_trend(app(ctx), principal(ctx), athlete_id)
            .await
            .gql()?;
        Ok(points
            .into_iter()
            .map(|p| TrendRaceObject {
                event_id: ID(p.race.event_id.to_string()),
                event_name: p.race.event_name,
                starts_at: time(p.race.starts_at),
                bib: p.race.bib,
                status: p.race.status.into(),
                net_time_ms: p.race.net_time_ms,
                division_percentile: p.race.division_percentile,
                net_change_ms: p.net_change_ms,
                percentile_change: p.percentile_change,
                segments: p
                    .race
                    .segments
                    .into_iter()
                    .zip(p.segment_changes)
                    .map(
                        |((segment, duration_ms, percentile), (_, change))| TrendSegment {
                            segment,
                            duration_ms,
                            percentile,
                            percentile_change: change,
                        },
                    )
                    .collect(),
            })
            .collect())
    }

    /// Official events of the standard course (of a season, at a venue, in a division):
    /// events, entries, finishers, DNF/DNS/DSQ rates, the finish-time distribution and each
    /// segment's median, with the change against the season before. For admins and
    /// integrations with `analytics:read`.
    #[graphql(guard = "RequireScope(Scope::AnalyticsRead)")]
    async fn competition_stats(
        &self,
        ctx: &Context<'_>,
        season: Option<i32>,
        venue_id: Option<ID>,
        category: Option<CategoryGql>,
        gender: Option<GenderGql>,
    ) -> GqlResult<CompetitionStats> {
        let venue_id = venue_id
            .as_ref()
            .map(|v| parse_id("venueId", v))
            .transpose()?;
        let competition = records::competition_stats(
            app(ctx),
            principal(ctx),
            CompetitionAsk {
                season,
                venue_id,
                category: category.map(self::category),
                gender: gender.map(self::gender),
            },
        )
        .await
        .gql()?;
        Ok(CompetitionStats::new(
            season,
            &competition.figures,
            competition.previous.as_deref(),
        ))
    }
}
