//! The athlete repository: profiles, results history, privacy and coach access.

use crate::changes::{advance, entry_change};
use crate::convert::timeline_from;
use crate::convert::{corrupt, status_from, unexpected};
use crate::entities::{athlete_merges, athletes, coach_grants, entries, entry_states, events};
use crate::recompute::adjustments_of;
use crate::repository::lock_event;
use crate::repository::INSERT_CHUNK;
use crate::SeaRepository;
use async_trait::async_trait;
use chrono::Utc;
use podium_domain::analytics::{AthleteResult, SegmentTime};
use podium_domain::course::Course;
use podium_domain::engine::evaluate;
use podium_domain::engine::EntryStatus;
use podium_domain::error::InvalidInput;
use podium_domain::live::{ChangeKind, EventChange};
use podium_domain::matching::{Identity, Known};
use podium_domain::model::{Event, TOPIC_ATHLETE_PERSONAL_BEST};
use podium_domain::ports::{AthleteMerge, AthleteSearch};
use podium_domain::ports::{AthleteProfile, AthleteRepository, CoachGrant, RepoError, ERASED_NAME};
use podium_domain::timing::Timestamp;
use sea_orm::sea_query::{Alias, Expr, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use sea_orm::{Condition, ConnectionTrait, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

#[async_trait]
impl AthleteRepository for SeaRepository {
    async fn athlete(&self, id: Uuid) -> Result<Option<AthleteProfile>, RepoError> {
        let row = athletes::Entity::find_by_id(id)
            .one(self.connection())
            .await
            .map_err(unexpected)?;
        row.map(profile_from).transpose()
    }

    async fn athletes_by_ids(&self, ids: &[Uuid]) -> Result<Vec<AthleteProfile>, RepoError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(INSERT_CHUNK) {
            for row in athletes::Entity::find()
                .filter(athletes::Column::Id.is_in(chunk.iter().copied()))
                .all(self.connection())
                .await
                .map_err(unexpected)?
            {
                out.push(profile_from(row)?);
            }
        }
        Ok(out)
    }

    async fn known_athletes(&self, name_keys: &[String]) -> Result<Vec<Known>, RepoError> {
        let mut out = Vec::new();
        for chunk in name_keys.chunks(INSERT_CHUNK) {
            for a in athletes::Entity::find()
                .filter(athletes::Column::NameKey.is_in(chunk.iter().cloned()))
                .all(self.connection())
                .await
                .map_err(unexpected)?
            {
                out.push(Known {
                    id: a.id,
                    identity: Identity {
                        gender: a.gender.parse().map_err(|e| corrupt(e, "gender"))?,
                        name_key: a.name_key,
                        nationality: a.nationality,
                        birth_year: a.birth_year,
                    },
                });
            }
        }
        Ok(out)
    }

    async fn search_athletes(
        &self,
        search: &AthleteSearch,
    ) -> Result<Vec<AthleteProfile>, RepoError> {
        let mut query = athletes::Entity::find();
        for word in &search.words {
            query = query.filter(athletes::Column::NameKey.contains(word.as_str()));
        }
        if !search.include_private {
            query = query.filter(athletes::Column::IsPrivate.eq(false));
        }
        if let Some((key, id)) = &search.after {
            query = query.filter(
                Condition::any()
                    .add(athletes::Column::NameKey.gt(key.as_str()))
                    .add(
                        Condition::all()
                            .add(athletes::Column::NameKey.eq(key.as_str()))
                            .add(athletes::Column::Id.gt(*id)),
                    ),
            );
        }
        query
            .order_by_asc(athletes::Column::NameKey)
            .order_by_asc(athletes::Column::Id)
            .limit(search.limit as u64)
            .all(self.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(profile_from)
            .collect()
    }

    async fn merge_athletes(
        &self,
        keep: Uuid,
        merge: Uuid,
        by: &str,
    ) -> Result<(AthleteMerge, Vec<EventChange>), RepoError> {
        if keep == merge {
            return Err(RepoError::Invalid(InvalidInput::new(
                "mergeId",
                "is the athlete to keep: an athlete cannot be merged into themself",
            )));
        }
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let find = |id: Uuid| {
            let txn = &txn;
            async move {
                athletes::Entity::find_by_id(id)
                    .one(txn)
                    .await
                    .map_err(unexpected)?
                    .ok_or_else(|| RepoError::NotFound(format!("athlete {id}")))
            }
        };
        let kept = find(keep).await?;
        let merged = find(merge).await?;
        let moved = entries::Entity::update_many()
            .col_expr(entries::Column::AthleteId, Expr::value(keep))
            .filter(entries::Column::AthleteId.eq(merge))
            .exec(&txn)
            .await
            .map_err(unexpected)?
            .rows_affected;
        crate::entities::result_splits::Entity::update_many()
            .col_expr(
                crate::entities::result_splits::Column::AthleteId,
                Expr::value(keep),
            )
            .filter(crate::entities::result_splits::Column::AthleteId.eq(merge))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let private = kept.is_private || merged.is_private;
        athletes::Entity::update_many()
            .col_expr(athletes::Column::IsPrivate, Expr::value(private))
            .col_expr(
                athletes::Column::BirthYear,
                Expr::value(kept.birth_year.or(merged.birth_year)),
            )
            .col_expr(
                athletes::Column::Nationality,
                Expr::value(kept.nationality.clone().or(merged.nationality.clone())),
            )
            .filter(athletes::Column::Id.eq(keep))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        // The most private wins: a coach keeps access only when both athletes granted it.
        let merged_grants: Vec<String> = coach_grants::Entity::find()
            .filter(coach_grants::Column::AthleteId.eq(merge))
            .all(&txn)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|g| g.coach_sub)
            .collect();
        coach_grants::Entity::delete_many()
            .filter(coach_grants::Column::AthleteId.eq(keep))
            .filter(coach_grants::Column::CoachSub.is_not_in(merged_grants))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        coach_grants::Entity::delete_many()
            .filter(coach_grants::Column::AthleteId.eq(merge))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        athletes::Entity::delete_by_id(merge)
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let record = AthleteMerge {
            id: Uuid::now_v7(),
            kept_id: keep,
            merged_id: merge,
            merged_name: format!("{} {}", merged.first_name, merged.last_name),
            entries_moved: moved as u32,
            merged_by: by.to_owned(),
            merged_at: Timestamp::from_chrono(Utc::now()),
        };
        athlete_merges::Entity::insert(athlete_merges::ActiveModel {
            id: Set(record.id),
            kept_id: Set(keep),
            merged_id: Set(merge),
            merged_name: Set(record.merged_name.clone()),
            entries_moved: Set(moved as i32),
            merged_by: Set(record.merged_by.clone()),
            merged_at: Set(record.merged_at.to_chrono()),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(unexpected)?;
        let name = format!("{} {}", kept.first_name, kept.last_name);
        let changes = announce_identity(&txn, keep, private, Some(name)).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok((record, changes))
    }

    async fn possible_duplicates(
        &self,
        limit: usize,
    ) -> Result<Vec<Vec<AthleteProfile>>, RepoError> {
        let groups: Vec<(String, String)> = athletes::Entity::find()
            .select_only()
            .column(athletes::Column::NameKey)
            .column(athletes::Column::Gender)
            .filter(athletes::Column::NameKey.ne(""))
            .group_by(athletes::Column::NameKey)
            .group_by(athletes::Column::Gender)
            .having(Expr::expr(Expr::col(athletes::Column::Id).count()).gt(1))
            .order_by_asc(athletes::Column::NameKey)
            .order_by_asc(athletes::Column::Gender)
            .limit(limit as u64)
            .into_tuple()
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        let keys: Vec<String> = groups.iter().map(|(k, _)| k.clone()).collect();
        let mut by_group: HashMap<(String, String), Vec<AthleteProfile>> = HashMap::new();
        for a in athletes::Entity::find()
            .filter(athletes::Column::NameKey.is_in(keys))
            .order_by_asc(athletes::Column::CreatedAt)
            .order_by_asc(athletes::Column::Id)
            .all(self.connection())
            .await
            .map_err(unexpected)?
        {
            let key = (a.name_key.clone(), a.gender.clone());
            by_group.entry(key).or_default().push(profile_from(a)?);
        }
        Ok(groups
            .into_iter()
            .filter_map(|g| by_group.remove(&g))
            .collect())
    }

    async fn athlete_results(&self, id: Uuid) -> Result<Vec<AthleteResult>, RepoError> {
        let db = self.connection();
        let entry_rows = entries::Entity::find()
            .filter(entries::Column::AthleteId.eq(id))
            .all(db)
            .await
            .map_err(unexpected)?;
        let event_ids: Vec<Uuid> = entry_rows.iter().map(|e| e.event_id).collect();
        let entry_ids: Vec<Uuid> = entry_rows.iter().map(|e| e.id).collect();
        let event_rows: HashMap<Uuid, events::Model> = events::Entity::find()
            .filter(events::Column::Id.is_in(event_ids))
            .all(db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let states: HashMap<Uuid, entry_states::Model> = entry_states::Entity::find()
            .filter(entry_states::Column::EntryId.is_in(entry_ids))
            .all(db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|s| (s.entry_id, s))
            .collect();
        let courses: HashMap<Uuid, Course> = event_rows
            .values()
            .map(|e| Ok((e.id, Event::try_from(e.clone())?.course)))
            .collect::<Result<_, RepoError>>()?;
        let mut results = entry_rows
            .into_iter()
            .filter_map(|e| Some((event_rows.get(&e.event_id)?, states.get(&e.id)?, e)))
            .map(|(event, state, entry)| {
                let course = &courses[&event.id];
                Ok(AthleteResult {
                    event_id: event.id,
                    event_name: event.name.clone(),
                    starts_at: Timestamp::from_chrono(event.starts_at),
                    bib: entry.bib,
                    category: entry.category.parse().map_err(|e| corrupt(e, "category"))?,
                    gender: entry.gender.parse().map_err(|e| corrupt(e, "gender"))?,
                    status: status_from(&state.status)?,
                    net_time_ms: state.net_time_ms,
                    course: event.course_code.clone(),
                    segments: measured_segments(course, state)?,
                })
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        results.sort_by_key(|r| (r.starts_at, r.event_id));
        Ok(results)
    }

    async fn set_athlete_privacy(
        &self,
        id: Uuid,
        private: bool,
    ) -> Result<Vec<EventChange>, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let athlete = athletes::Entity::find_by_id(id)
            .one(&txn)
            .await
            .map_err(unexpected)?
            .ok_or_else(|| RepoError::NotFound(format!("athlete {id}")))?;
        if athlete.is_private == private {
            return Ok(Vec::new());
        }
        athletes::Entity::update_many()
            .col_expr(athletes::Column::IsPrivate, Expr::value(private))
            .filter(athletes::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let changes = announce(&txn, id, private, None, false).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(changes)
    }

    async fn erase_athlete(&self, id: Uuid) -> Result<Vec<EventChange>, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let (first, last) = ERASED_NAME.split_once(' ').unwrap_or((ERASED_NAME, ""));
        let updated = athletes::Entity::update_many()
            .col_expr(athletes::Column::FirstName, Expr::value(first))
            .col_expr(athletes::Column::LastName, Expr::value(last))
            .col_expr(
                athletes::Column::BirthYear,
                Expr::value(Option::<i32>::None),
            )
            .col_expr(athletes::Column::IsPrivate, Expr::value(true))
            .filter(athletes::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        if updated.rows_affected == 0 {
            return Err(RepoError::NotFound(format!("athlete {id}")));
        }
        coach_grants::Entity::delete_many()
            .filter(coach_grants::Column::AthleteId.eq(id))
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        let changes = announce(&txn, id, true, Some(ERASED_NAME.to_owned()), false).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(changes)
    }

    async fn grant_coach(&self, grant: CoachGrant) -> Result<CoachGrant, RepoError> {
        if athletes::Entity::find_by_id(grant.athlete_id)
            .one(self.connection())
            .await
            .map_err(unexpected)?
            .is_none()
        {
            return Err(RepoError::NotFound(format!("athlete {}", grant.athlete_id)));
        }
        coach_grants::Entity::insert(coach_grants::ActiveModel {
            athlete_id: Set(grant.athlete_id),
            coach_sub: Set(grant.coach.clone()),
            granted_at: Set(grant.granted_at.to_chrono()),
        })
        .on_conflict(
            OnConflict::columns([
                coach_grants::Column::AthleteId,
                coach_grants::Column::CoachSub,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(self.connection())
        .await
        .map_err(unexpected)?;
        let stored = coach_grants::Entity::find_by_id((grant.athlete_id, grant.coach.clone()))
            .one(self.connection())
            .await
            .map_err(unexpected)?
            .ok_or_else(|| RepoError::NotFound(format!("grant to {}", grant.coach)))?;
        Ok(grant_from(stored))
    }

    async fn revoke_coach(&self, athlete_id: Uuid, coach: &str) -> Result<bool, RepoError> {
        let deleted = coach_grants::Entity::delete_many()
            .filter(coach_grants::Column::AthleteId.eq(athlete_id))
            .filter(coach_grants::Column::CoachSub.eq(coach))
            .exec(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn coach_grants(&self, athlete_id: Uuid) -> Result<Vec<CoachGrant>, RepoError> {
        let rows = coach_grants::Entity::find()
            .filter(coach_grants::Column::AthleteId.eq(athlete_id))
            .order_by_asc(coach_grants::Column::GrantedAt)
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(rows.into_iter().map(grant_from).collect())
    }

    async fn coach_may_read(&self, athlete_id: Uuid, coach: &str) -> Result<bool, RepoError> {
        let found = coach_grants::Entity::find_by_id((athlete_id, coach.to_owned()))
            .one(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(found.is_some())
    }
}

/// `announce` for entries that may have just moved to athlete `id`: the steps carry the
/// athlete too.
async fn announce_identity(
    txn: &DatabaseTransaction,
    id: Uuid,
    private: bool,
    name: Option<String>,
) -> Result<Vec<EventChange>, RepoError> {
    announce(txn, id, private, name, true).await
}

/// Writes a `PRIVACY` step in every event the athlete entered, carrying their entries with the
/// new privacy (and name, when it changed; and the athlete, with `with_athlete`), inside the
/// caller's transaction.
async fn announce(
    txn: &DatabaseTransaction,
    id: Uuid,
    private: bool,
    name: Option<String>,
    with_athlete: bool,
) -> Result<Vec<EventChange>, RepoError> {
    let entry_ids: Vec<Uuid> = entries::Entity::find()
        .filter(entries::Column::AthleteId.eq(id))
        .order_by_asc(entries::Column::EventId)
        .all(txn)
        .await
        .map_err(unexpected)?
        .into_iter()
        .map(|e| e.id)
        .collect();
    let states = entry_states::Entity::find()
        .filter(entry_states::Column::EntryId.is_in(entry_ids))
        .order_by_asc(entry_states::Column::EventId)
        .all(txn)
        .await
        .map_err(unexpected)?;
    let mut by_event: Vec<(Uuid, Vec<entry_states::Model>)> = Vec::new();
    for state in states {
        match by_event.last_mut() {
            Some((event, rows)) if *event == state.event_id => rows.push(state),
            _ => by_event.push((state.event_id, vec![state])),
        }
    }
    let mut changes = Vec::new();
    // Events in id order: concurrent writers take event locks in the same order.
    for (event_id, rows) in by_event {
        let (seq, status) = lock_event(txn, event_id).await?;
        let entries = rows
            .into_iter()
            .map(|row| {
                let mut change = entry_change(&row.into())?;
                change.athlete_private = Some(private);
                change.athlete_name.clone_from(&name);
                change.athlete_id = with_athlete.then_some(id);
                Ok(change)
            })
            .collect::<Result<Vec<_>, RepoError>>()?;
        let change = EventChange {
            event_id,
            seq: seq + 1,
            kind: ChangeKind::Privacy,
            status,
            entries,
        };
        advance(txn, change.clone()).await?;
        changes.push(change);
    }
    Ok(changes)
}

/// Writes an `athlete.personal_best` message for each finished result of event `event_id`
/// that beats every finish of its (public) athlete in an earlier event on the same course,
/// inside the caller's transaction (the event becoming official).
pub(crate) async fn announce_personal_bests(
    txn: &DatabaseTransaction,
    event_id: Uuid,
    seq: i64,
) -> Result<(), RepoError> {
    let event = events::Entity::find_by_id(event_id)
        .one(txn)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| RepoError::NotFound(format!("event {event_id}")))?;
    let finished: HashMap<Uuid, i64> = entry_states::Entity::find()
        .filter(entry_states::Column::EventId.eq(event_id))
        .filter(entry_states::Column::Status.eq(EntryStatus::Finished.as_str()))
        .all(txn)
        .await
        .map_err(unexpected)?
        .into_iter()
        .filter_map(|s| Some((s.entry_id, s.net_time_ms?)))
        .collect();
    let here: Vec<entries::Model> = entries::Entity::find()
        .filter(entries::Column::EventId.eq(event_id))
        .all(txn)
        .await
        .map_err(unexpected)?
        .into_iter()
        .filter(|e| finished.contains_key(&e.id))
        .collect();
    let athlete_ids: Vec<Uuid> = here.iter().map(|e| e.athlete_id).collect();
    let mut public = std::collections::HashSet::new();
    let mut best_before: HashMap<Uuid, i64> = HashMap::new();
    for chunk in athlete_ids.chunks(INSERT_CHUNK) {
        public.extend(
            athletes::Entity::find()
                .filter(athletes::Column::Id.is_in(chunk.iter().copied()))
                .filter(athletes::Column::IsPrivate.eq(false))
                .all(txn)
                .await
                .map_err(unexpected)?
                .into_iter()
                .map(|a| a.id),
        );
        // Each athlete's best finish in an earlier event on the same course.
        let best = Query::select()
            .column((entries::Entity, entries::Column::AthleteId))
            .expr_as(
                Func::min(Expr::col((
                    entry_states::Entity,
                    entry_states::Column::NetTimeMs,
                ))),
                Alias::new("best"),
            )
            .from(entries::Entity)
            .inner_join(
                entry_states::Entity,
                Expr::col((entry_states::Entity, entry_states::Column::EntryId))
                    .equals((entries::Entity, entries::Column::Id)),
            )
            .inner_join(
                events::Entity,
                Expr::col((events::Entity, events::Column::Id))
                    .equals((entries::Entity, entries::Column::EventId)),
            )
            .and_where(
                Expr::col((entries::Entity, entries::Column::AthleteId))
                    .is_in(chunk.iter().copied()),
            )
            .and_where(Expr::col((events::Entity, events::Column::StartsAt)).lt(event.starts_at))
            .and_where(
                Expr::col((events::Entity, events::Column::CourseCode))
                    .eq(event.course_code.as_str()),
            )
            .and_where(
                Expr::col((entry_states::Entity, entry_states::Column::Status))
                    .eq(EntryStatus::Finished.as_str()),
            )
            .and_where(
                Expr::col((entry_states::Entity, entry_states::Column::NetTimeMs)).is_not_null(),
            )
            .group_by_col((entries::Entity, entries::Column::AthleteId))
            .to_owned();
        let backend = txn.get_database_backend();
        for row in txn
            .query_all(backend.build(&best))
            .await
            .map_err(unexpected)?
        {
            let athlete: Uuid = row.try_get("", "athlete_id").map_err(unexpected)?;
            let best: i64 = row.try_get("", "best").map_err(unexpected)?;
            best_before.insert(athlete, best);
        }
    }
    let mut here = here;
    here.sort_by(|a, b| a.bib.cmp(&b.bib));
    for entry in here.iter().filter(|e| public.contains(&e.athlete_id)) {
        let net = finished[&entry.id];
        let previous = best_before.get(&entry.athlete_id).copied();
        if previous.is_some_and(|best| net >= best) {
            continue;
        }
        let payload = serde_json::json!({
            "athleteId": entry.athlete_id,
            "eventId": event_id,
            "bib": entry.bib,
            "netTimeMs": net,
            "previousBestMs": previous,
            "seq": seq,
        });
        crate::changes::write_outbox(txn, event_id, TOPIC_ATHLETE_PERSONAL_BEST, payload, seq)
            .await?;
    }
    Ok(())
}

/// The entry's measured segments (see `Split::is_measured`), from its stored state.
fn measured_segments(
    course: &Course,
    state: &entry_states::Model,
) -> Result<Vec<SegmentTime>, RepoError> {
    let timeline = timeline_from(course, state)?;
    let progress = evaluate(
        course,
        &timeline,
        Some(Timestamp(state.wave_start_ms)),
        &adjustments_of(state)?,
    );
    Ok(progress
        .splits
        .iter()
        .filter(|s| s.is_measured())
        .filter_map(|s| {
            let ended_at = progress
                .passed
                .iter()
                .find(|(p, _)| *p == s.to_point)
                .map(|(_, t)| *t)?;
            Some(SegmentTime {
                segment: course.segments().get(s.from_point)?.code.clone(),
                duration_ms: s.duration.0,
                ended_at,
            })
        })
        .collect())
}

fn profile_from(a: athletes::Model) -> Result<AthleteProfile, RepoError> {
    Ok(AthleteProfile {
        id: a.id,
        gender: a.gender.parse().map_err(|e| corrupt(e, "gender"))?,
        first_name: a.first_name,
        last_name: a.last_name,
        birth_year: a.birth_year,
        private: a.is_private,
        nationality: a.nationality,
        name_key: a.name_key,
    })
}

fn grant_from(m: coach_grants::Model) -> CoachGrant {
    CoachGrant {
        athlete_id: m.athlete_id,
        coach: m.coach_sub,
        granted_at: Timestamp::from_chrono(m.granted_at),
    }
}
