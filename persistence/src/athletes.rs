//! The athlete repository: profiles, results history, privacy and coach access.

use crate::changes::{advance, entry_change};
use crate::convert::{corrupt, status_from, unexpected};
use crate::entities::{athletes, coach_grants, entries, entry_states, events};
use crate::repository::lock_event;
use crate::SeaRepository;
use async_trait::async_trait;
use podium_domain::analytics::AthleteResult;
use podium_domain::live::{ChangeKind, EventChange};
use podium_domain::ports::{AthleteProfile, AthleteRepository, CoachGrant, RepoError, ERASED_NAME};
use podium_domain::timing::Timestamp;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use std::collections::HashMap;
use uuid::Uuid;

#[async_trait]
impl AthleteRepository for SeaRepository {
    async fn athlete(&self, id: Uuid) -> Result<Option<AthleteProfile>, RepoError> {
        let row = athletes::Entity::find_by_id(id)
            .one(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(row.map(|a| AthleteProfile {
            id: a.id,
            first_name: a.first_name,
            last_name: a.last_name,
            birth_year: a.birth_year,
            private: a.is_private,
        }))
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
        let mut results = entry_rows
            .into_iter()
            .filter_map(|e| Some((event_rows.get(&e.event_id)?, states.get(&e.id)?, e)))
            .map(|(event, state, entry)| {
                Ok(AthleteResult {
                    event_id: event.id,
                    event_name: event.name.clone(),
                    starts_at: Timestamp::from_chrono(event.starts_at),
                    bib: entry.bib,
                    category: entry.category.parse().map_err(|e| corrupt(e, "category"))?,
                    gender: entry.gender.parse().map_err(|e| corrupt(e, "gender"))?,
                    status: status_from(&state.status)?,
                    net_time_ms: state.net_time_ms,
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
        let changes = announce(&txn, id, private, None).await?;
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
        let changes = announce(&txn, id, true, Some(ERASED_NAME.to_owned())).await?;
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

/// Writes a `PRIVACY` step in every event the athlete entered, carrying their entries with the
/// new privacy (and name, when it changed), inside the caller's transaction.
async fn announce(
    txn: &DatabaseTransaction,
    id: Uuid,
    private: bool,
    name: Option<String>,
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

fn grant_from(m: coach_grants::Model) -> CoachGrant {
    CoachGrant {
        athlete_id: m.athlete_id,
        coach: m.coach_sub,
        granted_at: Timestamp::from_chrono(m.granted_at),
    }
}
