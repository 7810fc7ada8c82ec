//! Athletes across events: public profiles (private athletes are not shown to the public),
//! personal data for the athlete and admins, analytics for the athlete, coaches they granted
//! access and admins, and the athlete's own privacy and coach grants.

use crate::app::athletes;
use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::transport::graphql::error::{GqlResult, IntoGql, ToGraphql};
use crate::transport::graphql::types::{time, CategoryGql, EntryStatusGql, GenderGql};
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{ComplexObject, Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::analytics::{summarise, AthleteResult};
use podium_domain::ports::{AthleteProfile, CoachGrant};
use podium_domain::timing::Timestamp;
use uuid::Uuid;

/// An athlete's profile.
#[derive(SimpleObject)]
#[graphql(name = "Athlete", complex)]
pub struct AthleteObject {
    pub id: ID,
    pub name: String,
    pub private: bool,
    #[graphql(skip)]
    profile: AthleteProfile,
}

#[ComplexObject]
impl AthleteObject {
    /// Personal data: the athlete and admins only.
    async fn birth_year(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> {
        athletes::may_see_personal_data(principal(ctx), self.profile.id).gql()?;
        Ok(self.profile.birth_year)
    }

    /// Every race, oldest first.
    async fn results(&self, ctx: &Context<'_>) -> GqlResult<Vec<AthleteResultObject>> {
        let results = app(ctx)
            .athletes
            .athlete_results(self.profile.id)
            .await
            .gql()?;
        Ok(results.into_iter().map(Into::into).collect())
    }
}

/// One race of an athlete.
#[derive(SimpleObject)]
#[graphql(name = "AthleteResult")]
pub struct AthleteResultObject {
    pub event_id: ID,
    pub event_name: String,
    pub starts_at: DateTime<Utc>,
    pub bib: String,
    pub category: CategoryGql,
    pub gender: GenderGql,
    pub status: EntryStatusGql,
    pub net_time_ms: Option<i64>,
}

impl From<AthleteResult> for AthleteResultObject {
    fn from(r: AthleteResult) -> Self {
        Self {
            event_id: ID(r.event_id.to_string()),
            event_name: r.event_name,
            starts_at: time(r.starts_at),
            bib: r.bib,
            category: r.category.into(),
            gender: r.gender.into(),
            status: r.status.into(),
            net_time_ms: r.net_time_ms,
        }
    }
}

/// What an athlete's races add up to.
#[derive(SimpleObject)]
pub struct AthleteAnalytics {
    pub athlete_id: ID,
    pub races: i32,
    pub finishes: i32,
    pub best_net_time_ms: Option<i64>,
    pub average_net_time_ms: Option<i64>,
    /// Latest finished race's net time minus the one before (negative: faster).
    pub last_change_ms: Option<i64>,
    pub results: Vec<AthleteResultObject>,
}

/// A coach the athlete gave access to their analytics.
#[derive(SimpleObject)]
#[graphql(name = "CoachGrant")]
pub struct CoachGrantObject {
    /// The coach's token subject.
    pub coach_id: String,
    pub granted_at: DateTime<Utc>,
}

impl From<CoachGrant> for CoachGrantObject {
    fn from(g: CoachGrant) -> Self {
        Self {
            coach_id: g.coach,
            granted_at: time(g.granted_at),
        }
    }
}

/// A profile as `viewer` may see it (see `athletes::visible_profile`).
async fn visible_profile(
    state: &AppState,
    viewer: &Principal,
    id: Uuid,
) -> Result<Option<AthleteObject>, ApiError> {
    Ok(athletes::visible_profile(state, viewer, id)
        .await?
        .map(|profile| AthleteObject {
            id: ID(profile.id.to_string()),
            name: format!("{} {}", profile.first_name, profile.last_name),
            private: profile.private,
            profile,
        }))
}

#[derive(Default)]
pub struct AthleteQuery;

#[Object]
impl AthleteQuery {
    /// An athlete's profile; null when there is none or the athlete is private (unless you
    /// are that athlete, a coach they granted access, or an admin).
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn athlete(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<AthleteObject>> {
        let id = parse_id("id", &id)?;
        visible_profile(app(ctx), principal(ctx), id).await.gql()
    }

    /// An athlete's analytics: the athlete, coaches they granted access, and admins
    /// (`analytics:read`).
    #[graphql(guard = "RequireScope(Scope::AnalyticsRead)")]
    async fn athlete_analytics(
        &self,
        ctx: &Context<'_>,
        athlete_id: ID,
    ) -> GqlResult<AthleteAnalytics> {
        let id = parse_id("athleteId", &athlete_id)?;
        let state = app(ctx);
        athletes::may_read_analytics(state, principal(ctx), id)
            .await
            .gql()?;
        if state.athletes.athlete(id).await.gql()?.is_none() {
            return Err(ApiError::NotFound(format!("athlete {id}")).into_graphql());
        }
        let results = state.athletes.athlete_results(id).await.gql()?;
        let summary = summarise(&results);
        Ok(AthleteAnalytics {
            athlete_id,
            races: summary.races as i32,
            finishes: summary.finishes as i32,
            best_net_time_ms: summary.best_net_time_ms,
            average_net_time_ms: summary.average_net_time_ms,
            last_change_ms: summary.last_change_ms,
            results: results.into_iter().map(Into::into).collect(),
        })
    }

    /// Everything podium holds about you (an athlete), as one JSON document: profile with
    /// personal data, every result, coach grants.
    async fn my_data(
        &self,
        ctx: &Context<'_>,
    ) -> GqlResult<async_graphql::Json<serde_json::Value>> {
        let document = athletes::my_data(app(ctx), principal(ctx)).await.gql()?;
        Ok(async_graphql::Json(document))
    }

    /// Coaches you (an athlete) gave access to your analytics.
    async fn coach_grants(&self, ctx: &Context<'_>) -> GqlResult<Vec<CoachGrantObject>> {
        let athlete = athletes::own_athlete(principal(ctx)).gql()?;
        let grants = app(ctx).athletes.coach_grants(athlete).await.gql()?;
        Ok(grants.into_iter().map(Into::into).collect())
    }
}

/// Tells live views about the athlete's `PRIVACY` steps; answers the athlete's profile.
async fn announced(
    state: &AppState,
    viewer: &Principal,
    athlete: Uuid,
    changes: Vec<podium_domain::live::EventChange>,
) -> GqlResult<AthleteObject> {
    for change in changes {
        state.live.notify(change.event_id, change.seq);
    }
    visible_profile(state, viewer, athlete)
        .await
        .gql()?
        .ok_or_else(|| ApiError::NotFound(format!("athlete {athlete}")).into_graphql())
}

#[derive(Default)]
pub struct AthleteMutation;

#[Object]
impl AthleteMutation {
    /// Makes your results private (public views show "Private athlete" with bib and times but
    /// no name, and no analytics) or public again. Live leaderboards follow at once.
    async fn set_athlete_privacy(
        &self,
        ctx: &Context<'_>,
        private: bool,
    ) -> GqlResult<AthleteObject> {
        let viewer = principal(ctx);
        let athlete = athletes::own_athlete(viewer).gql()?;
        let state = app(ctx);
        let changes = state
            .athletes
            .set_athlete_privacy(athlete, private)
            .await
            .gql()?;
        announced(state, viewer, athlete, changes).await
    }

    /// Erases your personal data (you, an athlete): your name becomes "Erased athlete", your
    /// birth year goes, you turn private and every coach loses access. Your results stay in
    /// the events' records, anonymised; live leaderboards follow at once. Irreversible.
    async fn erase_my_data(&self, ctx: &Context<'_>) -> GqlResult<AthleteObject> {
        let viewer = principal(ctx);
        let athlete = athletes::own_athlete(viewer).gql()?;
        let state = app(ctx);
        let changes = state.athletes.erase_athlete(athlete).await.gql()?;
        announced(state, viewer, athlete, changes).await
    }

    /// Gives a coach (by their token subject) access to your analytics.
    async fn grant_coach_access(
        &self,
        ctx: &Context<'_>,
        coach_id: String,
    ) -> GqlResult<CoachGrantObject> {
        let athlete = athletes::own_athlete(principal(ctx)).gql()?;
        let coach = coach_id.trim();
        if coach.is_empty() || coach.len() > 200 {
            return Err(ApiError::BadRequest("coachId: 1 to 200 characters".into()).into_graphql());
        }
        let grant = app(ctx)
            .athletes
            .grant_coach(CoachGrant {
                athlete_id: athlete,
                coach: coach.to_owned(),
                granted_at: Timestamp::from_chrono(Utc::now()),
            })
            .await
            .gql()?;
        Ok(grant.into())
    }

    /// Withdraws a coach's access; false when they had none.
    async fn revoke_coach_access(&self, ctx: &Context<'_>, coach_id: String) -> GqlResult<bool> {
        let athlete = athletes::own_athlete(principal(ctx)).gql()?;
        app(ctx)
            .athletes
            .revoke_coach(athlete, coach_id.trim())
            .await
            .gql()
    }
}
