//! The wellness repository: an athlete's samples, inserted with `ON CONFLICT DO NOTHING` on
//! their key (athlete, kind, source id, time), so a batch sent again only counts duplicates.

use crate::convert::unexpected;
use crate::entities::wellness_samples as samples;
use crate::SeaRepository;
use async_trait::async_trait;
use podium_domain::ports::{RepoError, WellnessOutcome, WellnessRepository, WellnessVersion};
use podium_domain::timing::Timestamp;
use podium_domain::wellness::{ActivityDay, Measurement, SampleKind, WellnessSample};
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

impl SeaRepository {
    /// Keeps TimescaleDB's `wellness_daily` exact after samples between `from_s` and `to_s`
    /// (seconds) were written or deleted (see `timescale::refresh_wellness_rollup`).
    async fn refresh_rollup(&self, from_s: i64, to_s: i64) -> Result<(), RepoError> {
        if !self.wellness_rollup {
            return Ok(());
        }
        podium_migrations::timescale::refresh_wellness_rollup(self.connection(), from_s, to_s)
            .await
            .map_err(unexpected)
    }

    /// The first and last instant (seconds) of the athlete's samples, if any.
    async fn wellness_span(&self, athlete_id: Uuid) -> Result<Option<(i64, i64)>, RepoError> {
        #[derive(FromQueryResult)]
        struct Span {
            first: Option<chrono::DateTime<chrono::Utc>>,
            last: Option<chrono::DateTime<chrono::Utc>>,
        }
        let span = samples::Entity::find()
            .select_only()
            .column_as(Expr::col(samples::Column::At).min(), "first")
            .column_as(Expr::col(samples::Column::At).max(), "last")
            .filter(samples::Column::AthleteId.eq(athlete_id))
            .into_model::<Span>()
            .one(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(match span {
            Some(Span {
                first: Some(first),
                last: Some(last),
            }) => Some((first.timestamp(), last.timestamp())),
            _ => None,
        })
    }
}

#[derive(FromQueryResult)]
struct ActivityDayRow {
    date: chrono::NaiveDate,
    rpe_load: Option<f64>,
    unrated: i64,
}

#[async_trait]
impl WellnessRepository for SeaRepository {
    async fn activity_days(
        &self,
        athlete_id: Uuid,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<Vec<ActivityDay>>, RepoError> {
        if !self.wellness_rollup {
            return Ok(None);
        }
        let rows = ActivityDayRow::find_by_statement(sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT (day AT TIME ZONE 'UTC')::date AS date, rpe_load, \
                    unrated_activities AS unrated \
             FROM wellness_daily \
             WHERE athlete_id = $1 AND kind = 'ACTIVITY' AND day >= $2 AND day < $3 \
             ORDER BY day",
            [
                athlete_id.into(),
                from.to_chrono().into(),
                to.to_chrono().into(),
            ],
        ))
        .all(self.connection())
        .await
        .map_err(unexpected)?;
        Ok(Some(
            rows.into_iter()
                .map(|r| ActivityDay {
                    date: r.date,
                    rpe_load: r.rpe_load.unwrap_or(0.0),
                    unrated: r.unrated.max(0) as u64,
                })
                .collect(),
        ))
    }

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
        if accepted > 0 {
            let ats = batch.iter().map(|s| s.at.to_chrono().timestamp());
            let (from, to) = (ats.clone().min(), ats.max());
            if let (Some(from), Some(to)) = (from, to) {
                self.refresh_rollup(from, to).await?;
            }
        }
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
        // Where a rollup keeps daily sums, the erased stretch is refreshed after: it leaves no
        // sums behind.
        let span = if self.wellness_rollup {
            self.wellness_span(athlete_id).await?
        } else {
            None
        };
        let deleted = samples::Entity::delete_many()
            .filter(samples::Column::AthleteId.eq(athlete_id))
            .exec(self.connection())
            .await
            .map_err(unexpected)?;
        if let Some((first, last)) = span {
            self.refresh_rollup(first, last).await?;
        }
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
