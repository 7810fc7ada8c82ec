//! Prediction models and their training data (the `PredictionRepository` port): finished
//! efforts read from `result_splits`, model versions in `prediction_models`.

use crate::convert::unexpected;
use crate::entities::{
    entries, entry_states, events, prediction_model_activations, prediction_models, result_splits,
};
use crate::repository::SeaRepository;
use crate::segments::SplitCell;
use async_trait::async_trait;
use podium_domain::division::{Category, Division, Gender};
use podium_domain::ports::{
    ModelActivation, PredictionRepository, RepoError, StoredModel, TrainingEffort,
};
use podium_domain::prediction::Reference;
use podium_domain::timing::Timestamp;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::BTreeMap;
use uuid::Uuid;

fn json_err(e: serde_json::Error) -> RepoError {
    RepoError::Unexpected(e.into())
}

fn division_of(category: &str, gender: &str) -> Result<Division, RepoError> {
    Ok(Division {
        category: category
            .parse::<Category>()
            .map_err(|e| RepoError::Unexpected(anyhow::anyhow!("category: {e}")))?,
        gender: gender
            .parse::<Gender>()
            .map_err(|e| RepoError::Unexpected(anyhow::anyhow!("gender: {e}")))?,
    })
}

/// The elapsed time at each point from an entry's splits: a split starting at `index` and
/// spanning `span` segments ends at point `index + span`.
fn elapsed_of(cells: &BTreeMap<String, SplitCell>) -> Vec<Option<i64>> {
    let points = cells.values().map(|c| c.index + c.span).max().unwrap_or(0) + 1;
    let mut elapsed = vec![None; points];
    elapsed[0] = Some(0);
    for cell in cells.values() {
        elapsed[cell.index + cell.span] = Some(cell.elapsed_ms);
    }
    elapsed
}

/// A reference as stored: `[event index, "CATEGORY/GENDER", elapsed…]`.
type StoredReference = (u32, String, Vec<Option<i64>>);

fn stored(r: &Reference) -> StoredReference {
    (
        r.event,
        format!("{}/{}", r.division.category, r.division.gender),
        r.elapsed.clone(),
    )
}

fn reference((event, division, elapsed): StoredReference) -> Result<Reference, RepoError> {
    let (category, gender) = division
        .split_once('/')
        .ok_or_else(|| RepoError::Unexpected(anyhow::anyhow!("division {division}")))?;
    Ok(Reference {
        event,
        division: division_of(category, gender)?,
        elapsed,
        started_ms: None,
    })
}

fn model_of(
    row: prediction_models::Model,
    with_references: bool,
) -> Result<StoredModel, RepoError> {
    let references = match (&row.references, with_references) {
        (Some(json), true) => Some(
            serde_json::from_str::<Vec<StoredReference>>(json)
                .map_err(json_err)?
                .into_iter()
                .map(reference)
                .collect::<Result<_, _>>()?,
        ),
        _ => None,
    };
    Ok(StoredModel {
        version: row.version,
        course: row.course,
        trained_at: Timestamp::from_chrono(row.trained_at),
        events: serde_json::from_str(&row.events).map_err(json_err)?,
        results: row.results as usize,
        metrics: serde_json::from_str(&row.metrics).map_err(json_err)?,
        calibration: serde_json::from_str(&row.calibration).map_err(json_err)?,
        repeat_changes: serde_json::from_str(&row.repeat_changes).map_err(json_err)?,
        active: row.active,
        references,
    })
}

/// No version of `course` is active any more (inside the caller's transaction).
async fn deactivate_all(txn: &DatabaseTransaction, course: &str) -> Result<(), RepoError> {
    prediction_models::Entity::update_many()
        .col_expr(
            prediction_models::Column::Active,
            sea_orm::sea_query::Expr::value(false),
        )
        .filter(prediction_models::Column::Course.eq(course))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    Ok(())
}

async fn record_activation(
    txn: &DatabaseTransaction,
    course: &str,
    version: i64,
    activation: &ModelActivation,
) -> Result<(), RepoError> {
    prediction_model_activations::ActiveModel {
        id: Set(Uuid::new_v4()),
        course: Set(course.to_owned()),
        version: Set(version),
        activated_at: Set(activation.at.to_chrono()),
        actor: Set(activation.actor.clone()),
        reason: Set(activation.reason.clone()),
    }
    .insert(txn)
    .await
    .map_err(unexpected)?;
    Ok(())
}

#[async_trait]
impl PredictionRepository for SeaRepository {
    async fn training_efforts(&self, course: &str) -> Result<Vec<TrainingEffort>, RepoError> {
        let rows: Vec<(Uuid, Uuid, String, String, i64, serde_json::Value)> =
            result_splits::Entity::find()
                .select_only()
                .column(result_splits::Column::EventId)
                .column(result_splits::Column::AthleteId)
                .column(result_splits::Column::Category)
                .column(result_splits::Column::Gender)
                .column(result_splits::Column::StartedMs)
                .column(result_splits::Column::Splits)
                .filter(result_splits::Column::Course.eq(course))
                .order_by_asc(result_splits::Column::StartedMs)
                .order_by_asc(result_splits::Column::EntryId)
                .into_tuple()
                .all(self.connection())
                .await
                .map_err(unexpected)?;
        rows.into_iter()
            .map(
                |(event_id, athlete_id, category, gender, started_ms, splits)| {
                    let cells: BTreeMap<String, SplitCell> =
                        serde_json::from_value(splits).map_err(json_err)?;
                    Ok(TrainingEffort {
                        event_id,
                        athlete_id,
                        division: division_of(&category, &gender)?,
                        started_ms,
                        elapsed: elapsed_of(&cells),
                    })
                },
            )
            .collect()
    }

    async fn prediction_models(&self, course: &str) -> Result<Vec<StoredModel>, RepoError> {
        prediction_models::Entity::find()
            .select_only()
            .columns([
                prediction_models::Column::Version,
                prediction_models::Column::Course,
                prediction_models::Column::TrainedAt,
                prediction_models::Column::Events,
                prediction_models::Column::Results,
                prediction_models::Column::Metrics,
                prediction_models::Column::Calibration,
                prediction_models::Column::RepeatChanges,
                prediction_models::Column::Active,
            ])
            .column_as(sea_orm::sea_query::Expr::cust("NULL"), "references")
            .filter(prediction_models::Column::Course.eq(course))
            .order_by_desc(prediction_models::Column::Version)
            .all(self.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|row| model_of(row, false))
            .collect()
    }

    async fn active_prediction_model(
        &self,
        course: &str,
    ) -> Result<Option<StoredModel>, RepoError> {
        prediction_models::Entity::find()
            .filter(prediction_models::Column::Course.eq(course))
            .filter(prediction_models::Column::Active.eq(true))
            .one(self.connection())
            .await
            .map_err(unexpected)?
            .map(|row| model_of(row, true))
            .transpose()
    }

    async fn save_prediction_model(
        &self,
        model: &StoredModel,
        activation: Option<&ModelActivation>,
    ) -> Result<i64, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let references = match &model.references {
            Some(references) => Some(
                serde_json::to_string(&references.iter().map(stored).collect::<Vec<_>>())
                    .map_err(json_err)?,
            ),
            None => None,
        };
        if activation.is_some() {
            deactivate_all(&txn, &model.course).await?;
        }
        let row = prediction_models::ActiveModel {
            version: sea_orm::ActiveValue::NotSet,
            course: Set(model.course.clone()),
            trained_at: Set(model.trained_at.to_chrono()),
            events: Set(serde_json::to_string(&model.events).map_err(json_err)?),
            results: Set(model.results as i64),
            metrics: Set(serde_json::to_string(&model.metrics).map_err(json_err)?),
            calibration: Set(serde_json::to_string(&model.calibration).map_err(json_err)?),
            repeat_changes: Set(serde_json::to_string(&model.repeat_changes).map_err(json_err)?),
            active: Set(activation.is_some()),
            references: Set(references),
        }
        .insert(&txn)
        .await
        .map_err(unexpected)?;
        if let Some(activation) = activation {
            record_activation(&txn, &model.course, row.version, activation).await?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(row.version)
    }

    async fn activate_prediction_model(
        &self,
        course: &str,
        activation: &ModelActivation,
    ) -> Result<StoredModel, RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let row = prediction_models::Entity::find_by_id(activation.version)
            .filter(prediction_models::Column::Course.eq(course))
            .one(&txn)
            .await
            .map_err(unexpected)?
            .ok_or_else(|| {
                RepoError::NotFound(format!("prediction model version {}", activation.version))
            })?;
        if row.references.is_none() {
            return Err(RepoError::Conflict(format!(
                "prediction model version {} was stored without its references (by a release \
                 before every version kept them) and cannot predict again; train a new version",
                activation.version
            )));
        }
        deactivate_all(&txn, course).await?;
        let mut active: prediction_models::ActiveModel = row.into();
        active.active = Set(true);
        let row = active.update(&txn).await.map_err(unexpected)?;
        record_activation(&txn, course, row.version, activation).await?;
        txn.commit().await.map_err(unexpected)?;
        model_of(row, true)
    }

    async fn prediction_model_activations(
        &self,
        course: &str,
    ) -> Result<Vec<ModelActivation>, RepoError> {
        Ok(prediction_model_activations::Entity::find()
            .filter(prediction_model_activations::Column::Course.eq(course))
            .order_by_desc(prediction_model_activations::Column::ActivatedAt)
            .all(self.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|row| ModelActivation {
                version: row.version,
                at: Timestamp::from_chrono(row.activated_at),
                actor: row.actor,
                reason: row.reason,
            })
            .collect())
    }

    async fn athlete_finishes(
        &self,
        athlete_ids: &[Uuid],
        course: &str,
    ) -> Result<Vec<(Uuid, Timestamp, i64)>, RepoError> {
        if athlete_ids.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.connection();
        let official: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> = events::Entity::find()
            .select_only()
            .column(events::Column::Id)
            .column(events::Column::StartsAt)
            .filter(events::Column::Status.eq("OFFICIAL"))
            .filter(events::Column::CourseCode.eq(course))
            .into_tuple()
            .all(db)
            .await
            .map_err(unexpected)?;
        let starts: std::collections::HashMap<Uuid, Timestamp> = official
            .into_iter()
            .map(|(id, at)| (id, Timestamp::from_chrono(at)))
            .collect();
        let mut out = Vec::new();
        for chunk in athlete_ids.chunks(crate::repository::INSERT_CHUNK) {
            let rows: Vec<(Uuid, Uuid, Option<i64>)> = entries::Entity::find()
                .select_only()
                .column(entries::Column::AthleteId)
                .column(entries::Column::EventId)
                .column_as(entry_states::Column::NetTimeMs, "net")
                .join(
                    sea_orm::JoinType::InnerJoin,
                    entries::Entity::belongs_to(entry_states::Entity)
                        .from(entries::Column::Id)
                        .to(entry_states::Column::EntryId)
                        .into(),
                )
                .filter(entries::Column::AthleteId.is_in(chunk.iter().copied()))
                .filter(entry_states::Column::Status.eq("FINISHED"))
                .into_tuple()
                .all(db)
                .await
                .map_err(unexpected)?;
            out.extend(
                rows.into_iter().filter_map(|(athlete, event, net)| {
                    Some((athlete, *starts.get(&event)?, net?))
                }),
            );
        }
        out.sort_by_key(|(athlete, at, _)| (*athlete, *at));
        Ok(out)
    }
}
