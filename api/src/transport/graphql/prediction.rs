//! Finish prediction models: `predictionModels` (admins and integrations with
//! `analytics:read`), `trainPredictionModel` and `activatePredictionModel` (admins).

use crate::app::prediction;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::time;
use crate::transport::graphql::{app, principal};
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::course::Course;
use podium_domain::ports::{ModelActivation, StoredModel};
use podium_domain::prediction::PointMetrics;

/// The leave-one-event-out backtest of a model at one timing point.
#[derive(SimpleObject)]
#[graphql(name = "PredictionMetrics")]
pub struct MetricsObject {
    /// The timing point the predictions were made at.
    pub point: String,
    pub predictions: u64,
    /// Mean absolute error of the predicted net time, in % of the finish time.
    pub mae_pct: f64,
    /// Share of held-out finishes inside the 80 % interval (0–1).
    pub coverage80: f64,
    /// The same error for "twice the elapsed time".
    pub baseline_naive_pct: f64,
    /// The same error for "the elapsed time divided by the division's median elapsed
    /// fraction at the point on the other events".
    pub baseline_median_fraction_pct: f64,
}

/// One version of the standard course's finish prediction model.
#[derive(SimpleObject)]
#[graphql(name = "PredictionModel")]
pub struct ModelObject {
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    /// Official events it learnt from.
    pub events: u64,
    /// Finished results it learnt from.
    pub results: u64,
    pub metrics: Vec<MetricsObject>,
    /// Whether predictions come from it.
    pub active: bool,
    pub event_ids: Vec<ID>,
    /// Every time it was made the active version, newest first: by a training that beat the
    /// active one (`by` is the admin who trained, or `podium` for a background retraining),
    /// or by `activatePredictionModel`.
    pub activations: Vec<ActivationObject>,
}

/// One activation of a model version.
#[derive(SimpleObject)]
#[graphql(name = "PredictionModelActivation")]
pub struct ActivationObject {
    pub at: DateTime<Utc>,
    /// The admin's subject, or `podium`.
    pub by: String,
    pub reason: String,
}

impl ModelObject {
    fn with_activations(m: StoredModel, activations: &[ModelActivation]) -> Self {
        let version = m.version;
        let mut object = Self::new(m);
        object.activations = activations
            .iter()
            .filter(|a| a.version == version)
            .map(|a| ActivationObject {
                at: time(a.at),
                by: a.actor.clone(),
                reason: a.reason.clone(),
            })
            .collect();
        object
    }

    fn new(m: StoredModel) -> Self {
        let course = Course::hyrox_standard();
        let metric = |p: PointMetrics| MetricsObject {
            point: course
                .points()
                .get(p.point)
                .map_or_else(|| p.point.to_string(), ToString::to_string),
            predictions: p.predictions as u64,
            mae_pct: p.mae_pct,
            coverage80: p.coverage80,
            baseline_naive_pct: p.baseline_naive_pct,
            baseline_median_fraction_pct: p.baseline_median_fraction_pct,
        };
        Self {
            version: m.version,
            trained_at: time(m.trained_at),
            events: m.events.len() as u64,
            results: m.results as u64,
            metrics: m.metrics.into_iter().map(metric).collect(),
            active: m.active,
            event_ids: m.events.iter().map(|e| ID(e.to_string())).collect(),
            activations: Vec::new(),
        }
    }
}

/// A training's outcome.
#[derive(SimpleObject)]
pub struct TrainedModel {
    pub model: ModelObject,
    /// Whether it became the active version: it predicted the results the active version
    /// never saw (all of them, against the prior) at least as well.
    pub activated: bool,
    /// Its mean absolute error on those results, in % of the finish time (its own event left
    /// out of its references for each).
    pub new_mae_pct: Option<f64>,
    /// The active version's on the same results.
    pub active_mae_pct: Option<f64>,
}

#[derive(Default)]
pub struct PredictionQuery;

#[Object]
impl PredictionQuery {
    /// Every version of the finish prediction model, newest first.
    async fn prediction_models(&self, ctx: &Context<'_>) -> GqlResult<Vec<ModelObject>> {
        let models = prediction::models(app(ctx), principal(ctx)).await.gql()?;
        let activations = prediction::activations(app(ctx), principal(ctx))
            .await
            .gql()?;
        Ok(models
            .into_iter()
            .map(|m| ModelObject::with_activations(m, &activations))
            .collect())
    }
}

#[derive(Default)]
pub struct PredictionMutation;

#[Object]
impl PredictionMutation {
    /// Trains a new version on every official result of the course, backtests it (leave one
    /// event out) and activates it only if it beats the active one. Admins.
    async fn train_prediction_model(&self, ctx: &Context<'_>) -> GqlResult<TrainedModel> {
        let trained = prediction::train_as(app(ctx), principal(ctx)).await.gql()?;
        let activations = prediction::activations(app(ctx), principal(ctx))
            .await
            .gql()?;
        Ok(TrainedModel {
            model: ModelObject::with_activations(trained.model, &activations),
            activated: trained.activated,
            new_mae_pct: trained.new_error,
            active_mae_pct: trained.active_error,
        })
    }

    /// Makes `version` the one predictions come from: promote a newer version or roll back
    /// to an earlier one. `reason` is recorded with who and when (see `activations`). Admins.
    async fn activate_prediction_model(
        &self,
        ctx: &Context<'_>,
        version: i64,
        reason: String,
    ) -> GqlResult<ModelObject> {
        let model = prediction::activate_as(app(ctx), principal(ctx), version, &reason)
            .await
            .gql()?;
        let activations = prediction::activations(app(ctx), principal(ctx))
            .await
            .gql()?;
        Ok(ModelObject::with_activations(model, &activations))
    }
}
