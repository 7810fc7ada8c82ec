//! Athletes across events: who may see an athlete's profile, personal data and analytics
//! (themself, coaches they granted access, admins), how athletes appear where they are private,
//! and the athlete's own data (my data, privacy, coach grants).

use crate::app::AppState;
use crate::auth::{Principal, Role, Scope};
use crate::error::ApiError;
use podium_domain::ports::{AthleteMerge, AthleteProfile, AthleteSearch};
use uuid::Uuid;

/// The name shown instead of a private athlete's.
pub const PRIVATE_NAME: &str = "Private athlete";

/// An athlete as one viewer may see them.
pub struct ShownAthlete {
    /// None where the athlete is hidden.
    pub id: Option<Uuid>,
    pub name: String,
    pub private: bool,
}

/// A private athlete is "Private athlete" without an id, except to themself and admins.
pub fn shown_athlete(
    viewer: &Principal,
    athlete_id: Uuid,
    name: String,
    private: bool,
) -> ShownAthlete {
    let own = viewer.claims.as_ref().and_then(|c| c.athlete_id) == Some(athlete_id);
    if private && !own && !viewer.is_admin() {
        ShownAthlete {
            id: None,
            name: PRIVATE_NAME.to_owned(),
            private,
        }
    } else {
        ShownAthlete {
            id: Some(athlete_id),
            name,
            private,
        }
    }
}

pub fn may_see_personal_data(viewer: &Principal, athlete_id: Uuid) -> Result<(), ApiError> {
    if viewer.is_admin() || viewer.athlete_id() == Some(athlete_id) {
        return Ok(());
    }
    match viewer.claims {
        None => Err(ApiError::Unauthenticated(
            "personal data needs the athlete's own token".into(),
        )),
        Some(_) => Err(ApiError::Forbidden(
            "personal data is visible to the athlete and admins only".into(),
        )),
    }
}

/// The athlete themself, a coach they granted access, or an admin.
pub async fn may_read_analytics(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
) -> Result<(), ApiError> {
    may_read_as_granted(state, viewer, athlete_id, Scope::AnalyticsRead).await
}

/// With `scope`: the athlete themself, a coach they granted access, or an admin.
pub async fn may_read_as_granted(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    scope: Scope,
) -> Result<(), ApiError> {
    viewer.require(scope)?;
    if viewer.is_admin() || viewer.athlete_id() == Some(athlete_id) {
        return Ok(());
    }
    if viewer.role() == Some(Role::Coach)
        && state
            .athletes
            .coach_may_read(athlete_id, viewer.subject())
            .await?
    {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "athlete {athlete_id} has not granted you access"
    )))
}

/// The athlete a token speaks for: role `athlete` with an `athlete_id` claim.
pub fn own_athlete(viewer: &Principal) -> Result<Uuid, ApiError> {
    match (viewer.role(), viewer.athlete_id()) {
        (None, _) => Err(ApiError::Unauthenticated(
            "this operation needs an athlete's token".into(),
        )),
        (Some(Role::Athlete), Some(id)) => Ok(id),
        (Some(Role::Athlete), None) => Err(ApiError::Forbidden(
            "the token has no athlete_id claim".into(),
        )),
        (Some(_), _) => Err(ApiError::Forbidden(
            "only athletes manage their own privacy and coaches".into(),
        )),
    }
}

/// A profile as `viewer` may see it; private athletes exist only for themselves, coaches
/// they granted access and admins (elsewhere they are "Private athlete" without an id).
pub async fn visible_profile(
    state: &AppState,
    viewer: &Principal,
    id: Uuid,
) -> Result<Option<AthleteProfile>, ApiError> {
    let Some(profile) = state.athletes.athlete(id).await? else {
        return Ok(None);
    };
    if profile.private && may_read_analytics(state, viewer, id).await.is_err() {
        return Ok(None);
    }
    Ok(Some(profile))
}

/// Everything podium holds about the athlete `viewer` speaks for, as one JSON document:
/// profile with personal data, every result, coach grants, training and wellness samples.
pub async fn my_data(state: &AppState, viewer: &Principal) -> Result<serde_json::Value, ApiError> {
    let athlete = own_athlete(viewer)?;
    let profile = state
        .athletes
        .athlete(athlete)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("athlete {athlete}")))?;
    let results = state.athletes.athlete_results(athlete).await?;
    let grants = state.athletes.coach_grants(athlete).await?;
    let samples = state
        .wellness
        // 1900 to 2200: all of it.
        .wellness(
            athlete,
            &[],
            podium_domain::timing::Timestamp(-2_208_988_800_000),
            podium_domain::timing::Timestamp(7_258_118_400_000),
        )
        .await?;
    Ok(serde_json::json!({
        "athlete": {
            "id": profile.id,
            "firstName": profile.first_name,
            "lastName": profile.last_name,
            "birthYear": profile.birth_year,
            "private": profile.private,
        },
        "results": results.iter().map(|r| serde_json::json!({
            "eventId": r.event_id,
            "eventName": r.event_name,
            "startsAt": r.starts_at.to_chrono(),
            "bib": r.bib,
            "category": r.category.as_str(),
            "gender": r.gender.as_str(),
            "status": r.status.as_str(),
            "netTimeMs": r.net_time_ms,
        })).collect::<Vec<_>>(),
        "coachGrants": grants.iter().map(|g| serde_json::json!({
            "coachId": g.coach,
            "grantedAt": g.granted_at.to_chrono(),
        })).collect::<Vec<_>>(),
        "wellness": samples.iter().map(|s| serde_json::json!({
            "kind": s.kind().as_str(),
            "at": s.at.to_chrono(),
            "sourceId": s.source_id,
            "measurement": s.measurement,
        })).collect::<Vec<_>>(),
    }))
}

/// Most athletes on one page of `athletes(search)`.
pub const SEARCH_PAGE_MAX: usize = 100;

/// One page of athletes whose name holds every word of `search` (accents and case folded,
/// any order), in name order after `after`. Private athletes are listed to admins only.
pub async fn search(
    state: &AppState,
    viewer: &Principal,
    search: &str,
    first: usize,
    after: Option<(String, Uuid)>,
) -> Result<Vec<AthleteProfile>, ApiError> {
    viewer.require(Scope::ResultsRead)?;
    if search.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "search: at most 200 characters".into(),
        ));
    }
    let search = AthleteSearch {
        words: podium_domain::matching::search_words(search),
        include_private: viewer.is_admin(),
        after,
        limit: first.min(SEARCH_PAGE_MAX),
    };
    Ok(state.athletes.search_athletes(&search).await?)
}

/// Merges athlete `merge` into `keep` (admins): see `AthleteRepository::merge_athletes`. Live
/// views of every event concerned follow at once.
pub async fn merge(
    state: &AppState,
    viewer: &Principal,
    keep: Uuid,
    merge: Uuid,
) -> Result<AthleteMerge, ApiError> {
    viewer.require_admin()?;
    let (record, changes) = state
        .athletes
        .merge_athletes(keep, merge, viewer.subject())
        .await?;
    for change in changes {
        state.live.notify(change.event_id, change.seq);
    }
    Ok(record)
}

/// Athletes that may be one person (admins): see `AthleteRepository::possible_duplicates`.
pub async fn possible_duplicates(
    state: &AppState,
    viewer: &Principal,
    first: usize,
) -> Result<Vec<Vec<AthleteProfile>>, ApiError> {
    viewer.require_admin()?;
    Ok(state.athletes.possible_duplicates(first).await?)
}
