//! Entries: registering athletes for an event.

use crate::app::race::load_event;
use crate::error::ApiError;
use crate::transport::graphql::error::{GqlResult, IntoGql, ToGraphql};
use crate::transport::graphql::types::{category, gender, CategoryGql, EntryObject, GenderGql};
use crate::transport::graphql::{app, parse_id, principal};
use async_graphql::{Context, InputObject, Object, ID};
use chrono::{DateTime, Datelike, Utc};
use podium_domain::division::AgeGroup;
use podium_domain::model::{parse_name, Event, NewEntry};
use podium_domain::timing::{Bib, Timestamp};

/// Most entries one `addEntries` call registers.
const MAX_ENTRIES_PER_CALL: usize = 5_000;

#[derive(InputObject)]
pub struct EntryInput {
    pub bib: String,
    pub first_name: String,
    pub last_name: String,
    pub gender: GenderGql,
    pub category: CategoryGql,
    /// Age group label (`16-24` … `70+`); derived from `birthYear` when omitted.
    pub age_group: Option<String>,
    pub birth_year: Option<i32>,
    /// Start time of the entry's wave.
    pub wave_start: DateTime<Utc>,
    /// Links the entry to a known athlete; otherwise a new athlete is created.
    pub athlete_id: Option<ID>,
}

fn to_new_entry(event: &Event, index: usize, input: EntryInput) -> Result<NewEntry, ApiError> {
    let at = |e: podium_domain::InvalidInput| ApiError::BadRequest(format!("entries[{index}].{e}"));
    let event_year = event.starts_at.to_chrono().year();
    let age_group = match (&input.age_group, input.birth_year) {
        (Some(label), _) => Some(label.parse::<AgeGroup>().map_err(at)?),
        (None, Some(year)) => Some(AgeGroup::for_birth_year(year, event_year).map_err(at)?),
        (None, None) => None,
    };
    let athlete_id = input
        .athlete_id
        .map(|id| {
            uuid::Uuid::parse_str(&id).map_err(|_| {
                ApiError::BadRequest(format!("entries[{index}].athleteId: not a valid id"))
            })
        })
        .transpose()?;
    Ok(NewEntry {
        nationality: None,
        bib: Bib::parse(&input.bib).map_err(at)?,
        athlete_id,
        first_name: parse_name("firstName", &input.first_name).map_err(at)?,
        last_name: parse_name("lastName", &input.last_name).map_err(at)?,
        category: category(input.category),
        gender: gender(input.gender),
        age_group,
        birth_year: input.birth_year,
        wave_start: Timestamp::from_chrono(input.wave_start),
    })
}

#[derive(Default)]
pub struct EntryMutation;

#[Object]
impl EntryMutation {
    /// Registers entries, all or none (admins, or operators of the event's venue).
    async fn add_entries(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        entries: Vec<EntryInput>,
    ) -> GqlResult<Vec<EntryObject>> {
        let state = app(ctx);
        let viewer = principal(ctx);
        let event = load_event(state, parse_id("eventId", &event_id)?)
            .await
            .gql()?;
        viewer.may_manage_event(&event).gql()?;
        if entries.len() > MAX_ENTRIES_PER_CALL {
            return Err(ApiError::BadRequest(format!(
                "entries: at most {MAX_ENTRIES_PER_CALL} per call"
            ))
            .into_graphql());
        }
        let new_entries = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| to_new_entry(&event, i, e))
            .collect::<Result<Vec<_>, _>>()
            .gql()?;
        let created = state.repo.add_entries(&event, new_entries).await.gql()?;
        if let Some(seq) = state.repo.event_seq(event.id).await.gql()? {
            state.live.notify(event.id, seq);
        }
        Ok(created
            .into_iter()
            .map(|e| EntryObject::new(viewer, e))
            .collect())
    }
}
