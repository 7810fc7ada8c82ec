//! Race analytics: segment statistics of a division, race reports, comparisons.

use crate::app::analytics;
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::report::{RaceReportObject, ResultComparison};
use crate::transport::graphql::types::{category, gender, CategoryGql, GenderGql};
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, ID};
use podium_domain::division::AgeGroup;
use podium_domain::standings::LeaderboardFilter;
use podium_domain::stats::Distribution;

#[derive(Default)]
pub struct AnalyticsQuery;

/// The distribution of one segment (or total) over a division's finished entries: measured
/// splits only (neither merged over a missed mat nor estimated). Percentiles interpolate
/// between the closest ranks (PostgreSQL's `percentile_cont`); the standard deviation is the
/// sample one.
#[derive(SimpleObject)]
#[graphql(name = "SegmentStats", complex)]
pub struct SegmentStatsObject {
    /// A segment code of the course, or `RUNS`, `STATIONS`, `ROXZONE` (entries with each of
    /// their parts measured) or `TOTAL` (net times).
    pub segment: String,
    pub count: i32,
    pub mean_ms: Option<f64>,
    pub stddev_ms: Option<f64>,
    pub min_ms: Option<i64>,
    pub p10_ms: Option<f64>,
    pub p25_ms: Option<f64>,
    pub median_ms: Option<f64>,
    pub p75_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub max_ms: Option<i64>,
    #[graphql(skip)]
    distribution: Distribution,
}

/// A histogram bucket: `[fromMs, toMs)`, the last one closed.
#[derive(SimpleObject)]
pub struct HistogramBucket {
    pub from_ms: i64,
    pub to_ms: i64,
    pub count: i32,
}

#[ComplexObject]
impl SegmentStatsObject {
    /// Equal-width buckets from the fastest to the slowest time.
    async fn histogram(
        &self,
        #[graphql(default = 20, validator(minimum = 1, maximum = 200))] buckets: i32,
    ) -> Vec<HistogramBucket> {
        self.distribution
            .histogram(buckets as usize)
            .into_iter()
            .map(|b| HistogramBucket {
                from_ms: b.from_ms,
                to_ms: b.to_ms,
                count: b.count as i32,
            })
            .collect()
    }
}

impl From<&Distribution> for SegmentStatsObject {
    fn from(d: &Distribution) -> Self {
        Self {
            segment: d.segment.clone(),
            count: d.count() as i32,
            mean_ms: d.mean(),
            stddev_ms: d.stddev(),
            min_ms: d.min(),
            p10_ms: d.percentile(10.0),
            p25_ms: d.percentile(25.0),
            median_ms: d.percentile(50.0),
            p75_ms: d.percentile(75.0),
            p90_ms: d.percentile(90.0),
            max_ms: d.max(),
            distribution: d.clone(),
        }
    }
}

#[Object]
impl AnalyticsQuery {
    /// Statistics of every segment of the event's course, then the totals `RUNS`, `STATIONS`,
    /// `ROXZONE` and `TOTAL`, over the division's finished entries (narrowed by age group when
    /// given). Live while the event runs, final once it is official.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn segment_stats(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        category: Option<CategoryGql>,
        gender: Option<GenderGql>,
        #[graphql(desc = "An age group label: 16-24, 25-29, … 65-69, 70+.")] age_group: Option<
            String,
        >,
    ) -> GqlResult<Vec<SegmentStatsObject>> {
        let event_id = parse_id("eventId", &event_id)?;
        let age_group = age_group
            .as_deref()
            .map(str::parse::<AgeGroup>)
            .transpose()
            .gql()?;
        let filter = LeaderboardFilter {
            category: category.map(self::category),
            gender: gender.map(self::gender),
            age_group,
        };
        let stats = analytics::segment_stats(app(ctx), event_id, filter)
            .await
            .gql()?;
        Ok(stats.iter().map(Into::into).collect())
    }

    /// One entry's race against its division (category × gender) and its cohort of peers:
    /// every segment's time, field median, percentile and rank, the run degradation, the
    /// roxzone, strengths, weaknesses and potential gains — and the same for the athlete's
    /// earlier races on this course. Live while the event runs. Public for public athletes
    /// like their result; for private athletes only the athlete, coaches they granted and
    /// admins may see it. Null when the bib is not registered.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn race_report(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        bib: String,
    ) -> GqlResult<Option<RaceReportObject>> {
        let event_id = parse_id("eventId", &event_id)?;
        let viewer = principal(ctx);
        let Some(this) = analytics::race_report_of(app(ctx), viewer, event_id, &bib)
            .await
            .gql()?
        else {
            return Ok(None);
        };
        let this = std::sync::Arc::new(this);
        Ok(Some(RaceReportObject::new(
            viewer,
            &this,
            Some(this.clone()),
        )))
    }

    /// Two to four entries segment by segment, with each one's cumulative time and gap to the
    /// fastest at every mat: `bibs` of the event `eventId`, and/or `entries` of any events on
    /// the same course.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn compare_results(
        &self,
        ctx: &Context<'_>,
        event_id: Option<ID>,
        #[graphql(default, validator(max_items = 4))] bibs: Vec<String>,
        #[graphql(default, validator(max_items = 4))] entries: Vec<EntryRefInput>,
    ) -> GqlResult<ResultComparison> {
        let mut wanted = Vec::with_capacity(bibs.len() + entries.len());
        if !bibs.is_empty() {
            let Some(event_id) = event_id.as_ref() else {
                return Err(crate::error::ApiError::BadRequest(
                    "`bibs` needs `eventId`".into(),
                ))
                .gql();
            };
            let event_id = parse_id("eventId", event_id)?;
            wanted.extend(bibs.into_iter().map(|b| (event_id, b)));
        }
        for e in entries {
            wanted.push((parse_id("entries.eventId", &e.event_id)?, e.bib));
        }
        let comparison = analytics::compare_results(app(ctx), principal(ctx), &wanted)
            .await
            .gql()?;
        Ok(ResultComparison::new(principal(ctx), comparison))
    }
}

/// An entry of some event.
#[derive(InputObject)]
pub struct EntryRefInput {
    pub event_id: ID,
    pub bib: String,
}
