//! The race's storage: venues, events, waves and entries; the standings rows and entry
//! records every view is built from; an entry's stored detections. Ingest is `ingest.rs`.

use crate::changes::{advance, change, entry_change};
use crate::convert::{entry_from, on_unique, status_from, timeline_from, unexpected};
use crate::entities::{athletes, detections, entries, entry_states, events, venues, waves};
use crate::recompute::{adjustments_of, state_row, Pending};
use crate::repository::{lock_event, SeaRepository, INSERT_CHUNK};
use chrono::Utc;
use podium_domain::course::TimingPointCode;
use podium_domain::engine::{evaluate, Adjustments, Timeline};
use podium_domain::live::ChangeKind;
use podium_domain::model::{Entry, Event, EventStatus, NewEntry, NewEvent, NewVenue, Venue, Wave};
use podium_domain::ports::{EntryRecord, RaceRepository, RepoError};
use podium_domain::standings::StandingRow;
use podium_domain::timing::{Bib, Detection, ReadId, Timestamp};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use std::collections::{HashMap, HashSet};
use tracing::instrument;
use uuid::Uuid;

impl SeaRepository {
    /// Every entry of an event with its athlete and state (three queries, however many
    /// entries).
    pub(crate) async fn entry_rows(
        &self,
        event_id: Uuid,
    ) -> Result<Vec<(entries::Model, athletes::Model, entry_states::Model)>, RepoError> {
        let entry_rows = entries::Entity::find()
            .filter(entries::Column::EventId.eq(event_id))
            .all(&self.db)
            .await
            .map_err(unexpected)?;
        let athlete_rows: HashMap<Uuid, athletes::Model> = athletes::Entity::find()
            .filter(
                athletes::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(entries::Column::AthleteId)
                        .from(entries::Entity)
                        .and_where(entries::Column::EventId.eq(event_id))
                        .to_owned(),
                ),
            )
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        let mut state_rows: HashMap<Uuid, entry_states::Model> = entry_states::Entity::find()
            .filter(entry_states::Column::EventId.eq(event_id))
            .all(&self.db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|s| (s.entry_id, s))
            .collect();
        Ok(entry_rows
            .into_iter()
            .filter_map(|e| {
                // An athlete may hold several entries of one event (relay, doubles).
                let athlete = athlete_rows.get(&e.athlete_id).cloned()?;
                let state = state_rows.remove(&e.id)?;
                Some((e, athlete, state))
            })
            .collect())
    }
}

pub(crate) async fn create_venue(
    repo: &SeaRepository,
    venue: NewVenue,
) -> Result<Venue, RepoError> {
    let id = Uuid::now_v7();
    venues::Entity::insert(venues::ActiveModel {
        id: Set(id),
        name: Set(venue.name.clone()),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(&repo.db)
    .await
    .map_err(unexpected)?;
    Ok(Venue {
        id,
        name: venue.name,
    })
}

pub(crate) async fn venue(repo: &SeaRepository, id: Uuid) -> Result<Option<Venue>, RepoError> {
    let found = venues::Entity::find_by_id(id)
        .one(&repo.db)
        .await
        .map_err(unexpected)?;
    Ok(found.map(|m| Venue {
        id: m.id,
        name: m.name,
    }))
}

pub(crate) async fn create_event(
    repo: &SeaRepository,
    event: NewEvent,
) -> Result<Event, RepoError> {
    create_event_from(repo, event, None).await
}

/// Creates an event; `source` names where an imported one came from (unique).
pub(crate) async fn create_event_from(
    repo: &SeaRepository,
    event: NewEvent,
    source: Option<&str>,
) -> Result<Event, RepoError> {
    if let Some(venue_id) = event.venue_id {
        if repo.venue(venue_id).await?.is_none() {
            return Err(RepoError::NotFound(format!("venue {venue_id}")));
        }
    }
    let id = Uuid::now_v7();
    let points: Vec<&str> = event
        .course
        .points()
        .iter()
        .map(TimingPointCode::as_str)
        .collect();
    events::Entity::insert(events::ActiveModel {
        id: Set(id),
        venue_id: Set(event.venue_id),
        name: Set(event.name.clone()),
        starts_at: Set(event.starts_at.to_chrono()),
        timezone: Set(event.timezone.clone()),
        course_code: Set(event.course.code().to_owned()),
        course_points: Set(serde_json::to_string(&points).unwrap_or_else(|_| "[]".into())),
        segment_limits: Set(serde_json::to_string(&event.course.limits()).ok()),
        outlier_rule: Set(serde_json::to_string(event.course.outlier_rule()).ok()),
        source: Set(source.map(str::to_owned)),
        status: Set(EventStatus::Scheduled.as_str().to_owned()),
        seq: Set(0),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(&repo.db)
    .await
    .map_err(|e| on_unique(e, || format!("an event imported from {source:?}")))?;
    Ok(Event {
        id,
        venue_id: event.venue_id,
        name: event.name,
        starts_at: event.starts_at,
        timezone: event.timezone,
        course: event.course,
        status: EventStatus::Scheduled,
        seq: 0,
    })
}

pub(crate) async fn event(repo: &SeaRepository, id: Uuid) -> Result<Option<Event>, RepoError> {
    let found = events::Entity::find_by_id(id)
        .one(&repo.db)
        .await
        .map_err(unexpected)?;
    found.map(Event::try_from).transpose()
}

pub(crate) async fn events(repo: &SeaRepository, limit: u64) -> Result<Vec<Event>, RepoError> {
    events::Entity::find()
        .order_by_desc(events::Column::StartsAt)
        .order_by_asc(events::Column::Id)
        .limit(limit)
        .all(&repo.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(Event::try_from)
        .collect()
}

pub(crate) async fn event_seq(repo: &SeaRepository, id: Uuid) -> Result<Option<i64>, RepoError> {
    events::Entity::find_by_id(id)
        .select_only()
        .column(events::Column::Seq)
        .into_tuple::<i64>()
        .one(&repo.db)
        .await
        .map_err(unexpected)
}

pub(crate) async fn waves(repo: &SeaRepository, event_id: Uuid) -> Result<Vec<Wave>, RepoError> {
    let counts: HashMap<Uuid, i64> = entries::Entity::find()
        .select_only()
        .column(entries::Column::WaveId)
        .column_as(entries::Column::Id.count(), "n")
        .filter(entries::Column::EventId.eq(event_id))
        .group_by(entries::Column::WaveId)
        .into_tuple::<(Uuid, i64)>()
        .all(&repo.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .collect();
    let rows = waves::Entity::find()
        .filter(waves::Column::EventId.eq(event_id))
        .order_by_asc(waves::Column::StartsAt)
        .all(&repo.db)
        .await
        .map_err(unexpected)?;
    Ok(rows
        .into_iter()
        .map(|w| Wave {
            id: w.id,
            starts_at: Timestamp::from_chrono(w.starts_at),
            entries: counts.get(&w.id).copied().unwrap_or(0) as u64,
        })
        .collect())
}

#[instrument(skip_all, fields(event_id = %event.id, entries = new_entries.len()))]
pub(crate) async fn add_entries(
    repo: &SeaRepository,
    event: &Event,
    new_entries: Vec<NewEntry>,
) -> Result<Vec<Entry>, RepoError> {
    let mut seen = HashSet::new();
    for e in &new_entries {
        if !seen.insert(e.bib.clone()) {
            return Err(RepoError::Duplicate(format!(
                "bib {} (twice in this request)",
                e.bib
            )));
        }
    }
    let txn = repo.db.begin().await.map_err(unexpected)?;
    let (seq, status) = lock_event(&txn, event.id).await?;
    let seq = seq + 1;

    let bibs: Vec<String> = new_entries.iter().map(|e| e.bib.to_string()).collect();
    for chunk in bibs.chunks(INSERT_CHUNK) {
        let taken = entries::Entity::find()
            .select_only()
            .column(entries::Column::Bib)
            .filter(entries::Column::EventId.eq(event.id))
            .filter(entries::Column::Bib.is_in(chunk.iter().cloned()))
            .into_tuple::<String>()
            .one(&txn)
            .await
            .map_err(unexpected)?;
        if let Some(bib) = taken {
            return Err(RepoError::Duplicate(format!(
                "bib {bib} in event {}",
                event.id
            )));
        }
    }

    let linked: Vec<Uuid> = new_entries.iter().filter_map(|e| e.athlete_id).collect();
    let mut known_athletes: HashMap<Uuid, athletes::Model> = HashMap::new();
    for chunk in linked.chunks(INSERT_CHUNK) {
        for a in athletes::Entity::find()
            .filter(athletes::Column::Id.is_in(chunk.iter().copied()))
            .all(&txn)
            .await
            .map_err(unexpected)?
        {
            known_athletes.insert(a.id, a);
        }
    }
    if let Some(missing) = linked.iter().find(|id| !known_athletes.contains_key(id)) {
        return Err(RepoError::NotFound(format!("athlete {missing}")));
    }

    let mut wave_ids: HashMap<Timestamp, Uuid> = waves::Entity::find()
        .filter(waves::Column::EventId.eq(event.id))
        .all(&txn)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(|w| (Timestamp::from_chrono(w.starts_at), w.id))
        .collect();
    let mut new_waves = Vec::new();
    for e in &new_entries {
        wave_ids.entry(e.wave_start).or_insert_with(|| {
            let id = Uuid::now_v7();
            new_waves.push(waves::ActiveModel {
                id: Set(id),
                event_id: Set(event.id),
                starts_at: Set(e.wave_start.to_chrono()),
            });
            id
        });
    }
    if !new_waves.is_empty() {
        waves::Entity::insert_many(new_waves)
            .exec_without_returning(&txn)
            .await
            .map_err(unexpected)?;
    }

    let now = Utc::now();
    let mut athlete_rows = Vec::new();
    let mut entry_rows = Vec::new();
    let mut state_rows = Vec::new();
    let mut created = Vec::with_capacity(new_entries.len());
    for e in new_entries {
        let athlete = match e.athlete_id.and_then(|id| known_athletes.get(&id)) {
            Some(a) => a.clone(),
            None => {
                let a = athletes::Model {
                    id: Uuid::now_v7(),
                    first_name: e.first_name.clone(),
                    last_name: e.last_name.clone(),
                    gender: e.gender.as_str().to_owned(),
                    birth_year: e.birth_year,
                    is_private: false,
                    created_at: now,
                    name_key: podium_domain::matching::name_key(&e.first_name, &e.last_name),
                    nationality: e.nationality.clone(),
                };
                athlete_rows.push(athletes::ActiveModel::from(a.clone()));
                a
            }
        };
        let entry = entries::Model {
            id: Uuid::now_v7(),
            event_id: event.id,
            athlete_id: athlete.id,
            wave_id: wave_ids[&e.wave_start],
            bib: e.bib.to_string(),
            category: e.category.as_str().to_owned(),
            gender: e.gender.as_str().to_owned(),
            age_group: e.age_group.map(|a| a.label()),
            created_at: now,
        };
        let pending = Pending {
            entry_id: entry.id,
            bib: entry.bib.clone(),
            wave_start: e.wave_start,
            timeline: Timeline::new(&event.course),
            adjustments: Adjustments::default(),
            had_open: false,
        };
        let progress = evaluate(
            &event.course,
            &pending.timeline,
            Some(e.wave_start),
            &pending.adjustments,
        );
        let state = state_row(event, &pending, &progress, seq);
        created.push(Entry {
            id: entry.id,
            event_id: event.id,
            athlete_id: athlete.id,
            bib: e.bib,
            first_name: athlete.first_name,
            last_name: athlete.last_name,
            category: e.category,
            gender: e.gender,
            age_group: e.age_group,
            birth_year: athlete.birth_year,
            wave_start: e.wave_start,
            athlete_private: athlete.is_private,
        });
        entry_rows.push(entries::ActiveModel::from(entry));
        state_rows.push(state);
    }
    for chunk in athlete_rows.chunks(INSERT_CHUNK) {
        athletes::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .map_err(unexpected)?;
    }
    for chunk in entry_rows.chunks(INSERT_CHUNK) {
        entries::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .map_err(|e| on_unique(e, || "a bib of this request".to_owned()))?;
    }
    for chunk in state_rows.chunks(INSERT_CHUNK) {
        entry_states::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await
            .map_err(unexpected)?;
    }
    let added = state_rows
        .iter()
        .map(entry_change)
        .collect::<Result<Vec<_>, _>>()?;
    advance(
        &txn,
        change(event.id, seq, ChangeKind::EntriesAdded, status, added),
    )
    .await?;
    txn.commit().await.map_err(unexpected)?;
    Ok(created)
}

pub(crate) async fn standings(
    repo: &SeaRepository,
    event_id: Uuid,
) -> Result<Vec<StandingRow>, RepoError> {
    let rows = repo.entry_rows(event_id).await?;
    let course = match repo.event(event_id).await? {
        Some(event) => event.course,
        None => return Ok(Vec::new()),
    };
    rows.iter()
        .map(|(e, a, s)| {
            let entry = entry_from(e, a, s)?;
            // Where a racing entry was timed so far (what a prediction reads).
            let profile = if s.status == "RACING" {
                let progress = crate::recompute::Pending::of(&course, s)?.evaluate(&course);
                podium_domain::live::Profile::of(&progress)
            } else {
                Default::default()
            };
            Ok(StandingRow {
                profile,
                wave_start: entry.wave_start,
                entry_id: entry.id,
                athlete_name: entry.athlete_name(),
                bib: entry.bib,
                athlete_id: entry.athlete_id,
                athlete_private: entry.athlete_private,
                category: entry.category,
                gender: entry.gender,
                age_group: entry.age_group,
                status: status_from(&s.status)?,
                last_point: s.last_point.map(|p| p as usize),
                elapsed_ms: s.elapsed_ms,
                net_time_ms: s.net_time_ms,
                start_from_wave: s.start_from_wave,
            })
        })
        .collect()
}

pub(crate) async fn entry_record(
    repo: &SeaRepository,
    event: &Event,
    bib: &Bib,
) -> Result<Option<EntryRecord>, RepoError> {
    let event_id = event.id;
    let Some(entry) = entries::Entity::find()
        .filter(entries::Column::EventId.eq(event_id))
        .filter(entries::Column::Bib.eq(bib.as_str()))
        .one(&repo.db)
        .await
        .map_err(unexpected)?
    else {
        return Ok(None);
    };
    let athlete = athletes::Entity::find_by_id(entry.athlete_id)
        .one(&repo.db)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| {
            RepoError::Unexpected(anyhow::anyhow!("entry {} has no athlete", entry.id))
        })?;
    let state = entry_states::Entity::find_by_id(entry.id)
        .one(&repo.db)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| RepoError::Unexpected(anyhow::anyhow!("entry {} has no state", entry.id)))?;
    Ok(Some(EntryRecord {
        entry: entry_from(&entry, &athlete, &state)?,
        timeline: timeline_from(&event.course, &state)?,
        adjustments: adjustments_of(&state)?,
    }))
}

pub(crate) async fn entry_records(
    repo: &SeaRepository,
    event: &Event,
) -> Result<Vec<EntryRecord>, RepoError> {
    let rows = repo.entry_rows(event.id).await?;
    rows.iter()
        .map(|(e, a, s)| {
            Ok(EntryRecord {
                entry: entry_from(e, a, s)?,
                timeline: timeline_from(&event.course, s)?,
                adjustments: adjustments_of(s)?,
            })
        })
        .collect()
}

pub(crate) async fn detections(
    repo: &SeaRepository,
    event_id: Uuid,
    bib: &Bib,
) -> Result<Vec<Detection>, RepoError> {
    detections::Entity::find()
        .filter(detections::Column::EventId.eq(event_id))
        .filter(detections::Column::Bib.eq(bib.as_str()))
        .order_by_asc(detections::Column::Ts)
        .order_by_asc(detections::Column::TimingPoint)
        .all(&repo.db)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(|d| {
            Ok(Detection {
                bib: bib.clone(),
                point: TimingPointCode::parse(&d.timing_point).map_err(|e| {
                    RepoError::Unexpected(anyhow::anyhow!("stored timing point: {e}"))
                })?,
                at: Timestamp::from_chrono(d.ts),
                read_id: d
                    .read_id
                    .as_deref()
                    .map(ReadId::parse)
                    .transpose()
                    .ok()
                    .flatten(),
                device_id: d.device_id,
                estimated: d.estimated,
            })
        })
        .collect()
}

pub(crate) async fn event_by_source(
    repo: &SeaRepository,
    source: &str,
) -> Result<Option<Event>, RepoError> {
    events::Entity::find()
        .filter(events::Column::Source.eq(source))
        .one(&repo.db)
        .await
        .map_err(unexpected)?
        .map(Event::try_from)
        .transpose()
}
