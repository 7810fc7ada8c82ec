//! The wellness repository: an athlete's samples, inserted with `ON CONFLICT DO NOTHING` on
//! their key (athlete, kind, source id, time), so a batch sent again only counts duplicates.

use crate::convert::unexpected;
use crate::entities::wellness_samples as samples;
use crate::SeaRepository;
use async_trait::async_trait;
use podium_domain::ports::{RepoError, WellnessOutcome, WellnessRepository, WellnessVersion};
use podium_domain::timing::Timestamp;
use podium_domain::wellness::{Measurement, SampleKind, WellnessSample};
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

/// Rows per INSERT (SQLite allows 32,766 bound values; six per row).
const CHUNK: usize = 500;

fn sample_from(row: samples::Model) -> Result<WellnessSample, RepoError> {
    let measurement: Measurement = serde_json::from_str(&row.data).map_err(|e| {
        RepoError::Unexpected(anyhow::anyhow!(
            "stored {} sample {}: {e}",
            row.kind,
            row.source_id
        ))
    })?;
    Ok(WellnessSample {
        at: Timestamp::from_chrono(row.at),
        source_id: row.source_id,
        measurement,
    })
}

#[async_trait]
impl WellnessRepository for SeaRepository {
    async fn record_wellness(
        &self,
        athlete_id: Uuid,
        batch: Vec<WellnessSample>,
    ) -> Result<WellnessOutcome, RepoError> {
        let now = chrono::Utc::now();
        let mut rows = Vec::with_capacity(batch.len());
        for sample in &batch {
            rows.push(samples::ActiveModel {
                athlete_id: Set(athlete_id),
                kind: Set(sample.kind().as_str().to_owned()),
                source_id: Set(sample.source_id.clone()),
                at: Set(sample.at.to_chrono()),
                data: Set(serde_json::to_string(&sample.measurement)
                    .map_err(|e| RepoError::Unexpected(e.into()))?),
                recorded_at: Set(now),
            });
        }
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let mut accepted = 0;
        for chunk in rows.chunks(CHUNK) {
            let inserted = samples::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([
                        samples::Column::AthleteId,
                        samples::Column::Kind,
                        samples::Column::SourceId,
                        samples::Column::At,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .do_nothing()
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
            if let sea_orm::TryInsertResult::Inserted(rows) = inserted {
                accepted += rows;
            }
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(WellnessOutcome {
            accepted,
            duplicates: batch.len() as u64 - accepted,
        })
    }

    async fn wellness(
        &self,
        athlete_id: Uuid,
        kinds: &[SampleKind],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<WellnessSample>, RepoError> {
        let mut select = samples::Entity::find()
            .filter(samples::Column::AthleteId.eq(athlete_id))
            .filter(samples::Column::At.gte(from.to_chrono()))
            .filter(samples::Column::At.lt(to.to_chrono()));
        if !kinds.is_empty() {
            select = select.filter(samples::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
        }
        select
            .order_by_asc(samples::Column::At)
            .order_by_asc(samples::Column::Kind)
            .order_by_asc(samples::Column::SourceId)
            .all(self.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(sample_from)
            .collect()
    }

    async fn erase_wellness(&self, athlete_id: Uuid) -> Result<u64, RepoError> {
        let deleted = samples::Entity::delete_many()
            .filter(samples::Column::AthleteId.eq(athlete_id))
            .exec(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(deleted.rows_affected)
    }

    async fn wellness_version(&self, athlete_id: Uuid) -> Result<WellnessVersion, RepoError> {
        #[derive(FromQueryResult)]
        struct Version {
            samples: i64,
            last_recorded: Option<chrono::DateTime<chrono::Utc>>,
        }
        let version = samples::Entity::find()
            .select_only()
            .column_as(Expr::col(samples::Column::AthleteId).count(), "samples")
            .column_as(
                Expr::col(samples::Column::RecordedAt).max(),
                "last_recorded",
            )
            .filter(samples::Column::AthleteId.eq(athlete_id))
            .into_model::<Version>()
            .one(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(
            version.map_or_else(WellnessVersion::default, |v| WellnessVersion {
                samples: v.samples.max(0) as u64,
                last_recorded: v.last_recorded.map(Timestamp::from_chrono),
            }),
        )
    }

    async fn athletes_with_wellness(
        &self,
        kind: SampleKind,
        limit: u64,
    ) -> Result<Vec<(Uuid, Timestamp)>, RepoError> {
        #[derive(FromQueryResult)]
        struct Athlete {
            athlete_id: Uuid,
            last_at: chrono::DateTime<chrono::Utc>,
        }
        Ok(samples::Entity::find()
            .select_only()
            .column(samples::Column::AthleteId)
            .column_as(Expr::col(samples::Column::At).max(), "last_at")
            .filter(samples::Column::Kind.eq(kind.as_str()))
            .group_by(samples::Column::AthleteId)
            .order_by_desc(Expr::col(samples::Column::At).max())
            .order_by_asc(samples::Column::AthleteId)
            .limit(limit)
            .into_model::<Athlete>()
            .all(self.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|a| (a.athlete_id, Timestamp::from_chrono(a.last_at)))
            .collect())
    }
}
