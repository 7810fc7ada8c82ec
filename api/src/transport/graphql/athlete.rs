//! Athletes across events: public profiles (private athletes are not shown to the public),
//! personal data for the athlete and admins, analytics for the athlete, coaches they granted
//! access and admins, and the athlete's own privacy and coach grants.

use crate::app::athletes;
use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::transport::graphql::error::{GqlResult, IntoGql, ToGraphql};
use crate::transport::graphql::types::{time, CategoryGql, EntryStatusGql, GenderGql, PageInfo};
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{ComplexObject, Context, Object, SimpleObject, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use podium_domain::analytics::{best_net_time, personal_bests, summarise, AthleteResult};
use podium_domain::course::HYROX_STANDARD;
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
    /// As the results the athlete was matched on give it (IOC code), when known.
    pub nationality: Option<String>,
    #[graphql(skip)]
    profile: AthleteProfile,
}

impl From<AthleteProfile> for AthleteObject {
    fn from(profile: AthleteProfile) -> Self {
        Self {
            id: ID(profile.id.to_string()),
            name: format!("{} {}", profile.first_name, profile.last_name),
            private: profile.private,
            nationality: profile.nationality.clone(),
            profile,
        }
    }
}

/// Athletes by name, as a Relay connection.
#[derive(SimpleObject)]
pub struct AthleteConnection {
    pub edges: Vec<AthleteEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct AthleteEdge {
    pub cursor: String,
    pub node: AthleteObject,
}

/// Athletes with the same name and gender that the matching rule kept apart (a missing or
/// differing nationality or birth year, or a result several of them fit).
#[derive(SimpleObject)]
pub struct DuplicateGroup {
    /// The normalised name they share (`matching::name_key`).
    pub name_key: String,
    /// Oldest first.
    pub athletes: Vec<AthleteObject>,
}

/// The audit record of a merge.
#[derive(SimpleObject)]
#[graphql(name = "AthleteMerge")]
pub struct AthleteMergeObject {
    pub id: ID,
    pub kept_id: ID,
    pub merged_id: ID,
    /// The merged athlete's name as it was.
    pub merged_name: String,
    pub entries_moved: i32,
    /// The admin's token subject.
    pub merged_by: String,
    pub merged_at: DateTime<Utc>,
    /// The kept athlete after the merge.
    pub athlete: AthleteObject,
}

const ATHLETE_CURSOR: &str = "athlete:";

fn athlete_cursor(profile: &AthleteProfile) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{ATHLETE_CURSOR}{}\n{}",
        profile.id, profile.name_key
    ))
}

fn decode_athlete_cursor(cursor: &str) -> Result<(String, Uuid), ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, key) = s.strip_prefix(ATHLETE_CURSOR)?.split_once('\n')?;
            Some((key.to_owned(), id.parse().ok()?))
        })
        .ok_or_else(|| ApiError::BadRequest(format!("after: `{cursor}` is not an athlete cursor")))
}

#[ComplexObject]
impl AthleteObject {
    /// Personal data: the athlete and admins only.
    async fn birth_year(&self, ctx: &Context<'_>) -> GqlResult<Option<i32>> {
        athletes::may_see_personal_data(principal(ctx), self.profile.id).gql()?;
        Ok(self.profile.birth_year)
    }

    /// The best measured time per segment of `course` (neither merged over a missed mat nor
    /// estimated) over the athlete's finished races, in course order.
    async fn personal_bests(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "HYROX_STANDARD.to_owned()")] course: String,
    ) -> GqlResult<Vec<PersonalBestObject>> {
        let results = app(ctx)
            .athletes
            .athlete_results(self.profile.id)
            .await
            .gql()?;
        Ok(personal_bests(&results, &course)
            .into_iter()
            .map(|b| PersonalBestObject {
                segment: b.segment,
                duration_ms: b.duration_ms,
                event_id: ID(b.event_id.to_string()),
                bib: b.bib,
                achieved_at: time(b.achieved_at),
            })
            .collect())
    }

    /// The athlete's best net time on `course`.
    async fn best_net_time_ms(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "HYROX_STANDARD.to_owned()")] course: String,
    ) -> GqlResult<Option<i64>> {
        let results = app(ctx)
            .athletes
            .athlete_results(self.profile.id)
            .await
            .gql()?;
        Ok(best_net_time(&results, &course))
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

/// An athlete's best time on one segment.
#[derive(SimpleObject)]
#[graphql(name = "PersonalBest")]
pub struct PersonalBestObject {
    /// The segment's code (`RUN_1`, `SKIERG`, …).
    pub segment: String,
    pub duration_ms: i64,
    pub event_id: ID,
    pub bib: String,
    /// When the segment was done.
    pub achieved_at: DateTime<Utc>,
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
        .map(Into::into))
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

    /// Athletes whose name holds every word of `search` (accents, case and word order do not
    /// matter), in name order. Private athletes are listed to admins only.
    #[graphql(guard = "RequireScope(Scope::ResultsRead)")]
    async fn athletes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] search: String,
        #[graphql(
            desc = "Page size, 0 to 100; 20 when omitted.",
            default_with = "Some(20)",
            validator(minimum = 0, maximum = 100)
        )]
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<AthleteConnection> {
        let first = first.unwrap_or(20);
        let after = after
            .as_deref()
            .map(decode_athlete_cursor)
            .transpose()
            .gql()?;
        let has_previous_page = after.is_some();
        let first = first as usize;
        // One more than asked says whether there is a next page.
        let mut found = athletes::search(app(ctx), principal(ctx), &search, first + 1, after)
            .await
            .gql()?;
        let has_next_page = found.len() > first;
        found.truncate(first);
        let edges: Vec<AthleteEdge> = found
            .into_iter()
            .map(|profile| AthleteEdge {
                cursor: athlete_cursor(&profile),
                node: profile.into(),
            })
            .collect();
        Ok(AthleteConnection {
            page_info: PageInfo {
                has_next_page,
                has_previous_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }

    /// Athletes that may be one person, for an admin to merge: the same normalised name and
    /// gender, kept apart by the matching rule.
    async fn possible_duplicates(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Most groups, 1 to 500.",
            default_with = "Some(100)",
            validator(minimum = 1, maximum = 500)
        )]
        first: Option<i32>,
    ) -> GqlResult<Vec<DuplicateGroup>> {
        let first = first.unwrap_or(100);
        let groups = athletes::possible_duplicates(app(ctx), principal(ctx), first as usize)
            .await
            .gql()?;
        Ok(groups
            .into_iter()
            .filter_map(|group| {
                Some(DuplicateGroup {
                    name_key: group.first()?.name_key.clone(),
                    athletes: group.into_iter().map(Into::into).collect(),
                })
            })
            .collect())
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
    /// birth year goes, you turn private, every coach loses access and your training and
    /// wellness data is deleted. Your results stay in the events' records, anonymised; live
    /// leaderboards follow at once. Irreversible.
    async fn erase_my_data(&self, ctx: &Context<'_>) -> GqlResult<AthleteObject> {
        let viewer = principal(ctx);
        let athlete = athletes::own_athlete(viewer).gql()?;
        let state = app(ctx);
        state.wellness.erase_wellness(athlete).await.gql()?;
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

    /// Merges two athletes that are one person (admins): every result of `mergeId` moves to
    /// `keepId`, which becomes private if either was and keeps only the coach grants both
    /// gave; `mergeId` is removed and an audit record remains. Live views follow at once.
    async fn merge_athletes(
        &self,
        ctx: &Context<'_>,
        keep_id: ID,
        merge_id: ID,
    ) -> GqlResult<AthleteMergeObject> {
        let keep = parse_id("keepId", &keep_id)?;
        let merge = parse_id("mergeId", &merge_id)?;
        let state = app(ctx);
        let viewer = principal(ctx);
        let record = athletes::merge(state, viewer, keep, merge).await.gql()?;
        let athlete = state
            .athletes
            .athlete(keep)
            .await
            .gql()?
            .ok_or_else(|| ApiError::NotFound(format!("athlete {keep}")).into_graphql())?;
        Ok(AthleteMergeObject {
            id: ID(record.id.to_string()),
            kept_id: keep_id,
            merged_id: merge_id,
            merged_name: record.merged_name,
            entries_moved: record.entries_moved as i32,
            merged_by: record.merged_by,
            merged_at: time(record.merged_at),
            athlete: athlete.into(),
        })
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
