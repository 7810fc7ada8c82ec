//! Training and wellness over GraphQL: `recordWellness`, `trainingLoad`, `readiness`,
//! `loadFor`, `fatigueForecast` (`training:read` / `training:write`; see `app::training` for
//! who may).

use crate::app::training::{self, RawSample};
use crate::auth::Scope;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::RejectedObject;
use crate::transport::graphql::{app, parse_id, principal, RequireScope};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use podium_domain::wellness::SampleKind;
use serde::Serialize;

/// What a sample measures.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum WellnessKind {
    Activity,
    Nutrition,
    Sleep,
    Health,
    Bmq,
}

/// When in the day a BMQ was rated.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BmqMoment {
    Morning,
    PreWorkout,
    PostWorkout,
    Evening,
}

impl From<podium_domain::wellness::BmqMoment> for BmqMoment {
    fn from(m: podium_domain::wellness::BmqMoment) -> Self {
        use podium_domain::wellness::BmqMoment as M;
        match m {
            M::Morning => BmqMoment::Morning,
            M::PreWorkout => BmqMoment::PreWorkout,
            M::PostWorkout => BmqMoment::PostWorkout,
            M::Evening => BmqMoment::Evening,
        }
    }
}

/// A training session.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityInput {
    pub sport: String,
    pub duration_s: f64,
    pub distance_m: Option<f64>,
    pub average_hr: Option<f64>,
    pub elevation_gain_m: Option<f64>,
    /// Seconds per kilometre.
    pub average_pace_s_per_km: Option<f64>,
    /// Session RPE, 0–10.
    pub rpe: Option<f64>,
}

/// A day's intake.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NutritionInput {
    pub calories: f64,
    pub carbohydrates_pct: Option<f64>,
    pub proteins_pct: Option<f64>,
    pub fats_pct: Option<f64>,
}

/// A night's sleep.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepInput {
    pub total_minutes: f64,
    pub rem_pct: Option<f64>,
    pub light_pct: Option<f64>,
    pub deep_pct: Option<f64>,
    pub awake_pct: Option<f64>,
}

/// A day's health readings.
#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthInput {
    pub calories_burned: Option<f64>,
    pub average_hr: Option<f64>,
    pub resting_hr: Option<f64>,
    /// Morning rMSSD, ms.
    pub hrv_rmssd_ms: Option<f64>,
    pub steps: Option<f64>,
    pub elevation_m: Option<f64>,
    pub weight_kg: Option<f64>,
}

/// Perceived fatigue, 1–10.
#[derive(InputObject, Serialize)]
pub struct BmqInput {
    pub value: f64,
    pub moment: BmqMoment,
}

/// One sample: its kind, when, the source's id (the same sample sent again is recognised), and
/// the fields of its kind.
#[derive(InputObject)]
pub struct WellnessSampleInput {
    pub kind: WellnessKind,
    pub at: DateTime<Utc>,
    pub source_id: String,
    pub activity: Option<ActivityInput>,
    pub nutrition: Option<NutritionInput>,
    pub sleep: Option<SleepInput>,
    pub health: Option<HealthInput>,
    pub bmq: Option<BmqInput>,
}

impl WellnessSampleInput {
    /// The sample as the REST body would carry it; the one object given must be its kind's.
    fn into_raw(self) -> Result<RawSample, String> {
        let given: Vec<(SampleKind, serde_json::Value)> = [
            (
                SampleKind::Activity,
                self.activity.map(serde_json::to_value),
            ),
            (
                SampleKind::Nutrition,
                self.nutrition.map(serde_json::to_value),
            ),
            (SampleKind::Sleep, self.sleep.map(serde_json::to_value)),
            (SampleKind::Health, self.health.map(serde_json::to_value)),
            (SampleKind::Bmq, self.bmq.map(serde_json::to_value)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.and_then(Result::ok).map(|v| (k, v)))
        .collect();
        let kind = match self.kind {
            WellnessKind::Activity => SampleKind::Activity,
            WellnessKind::Nutrition => SampleKind::Nutrition,
            WellnessKind::Sleep => SampleKind::Sleep,
            WellnessKind::Health => SampleKind::Health,
            WellnessKind::Bmq => SampleKind::Bmq,
        };
        let fields = match given.as_slice() {
            [(k, serde_json::Value::Object(fields))] if *k == kind => fields.clone(),
            _ => {
                let field = kind.as_str().to_ascii_lowercase();
                return Err(format!(
                    "{field}: a {kind} sample gives its fields in `{field}` and nothing else"
                ));
            }
        };
        // Absent optional fields are left out rather than sent as null.
        let fields = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
        Ok(RawSample {
            kind: kind.as_str().to_owned(),
            at: self.at,
            source_id: self.source_id,
            fields,
        })
    }
}

/// What recording a batch did: each refused sample by its index, with the reason.
#[derive(SimpleObject)]
pub struct WellnessReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<RejectedObject>,
}

/// A day of the Performance Management Chart.
#[derive(SimpleObject)]
pub struct TrainingLoadDay {
    pub date: NaiveDate,
    /// The day's load: session RPE × minutes, else TRIMP from heart rate.
    pub load: f64,
    /// Fitness (42-day exponentially weighted load) after the day.
    pub ctl: f64,
    /// Fatigue (7-day) after the day.
    pub atl: f64,
    /// Form going into the day: the day before's CTL − ATL.
    pub tsb: f64,
    /// Uncoupled acute:chronic workload ratio; null until 35 days of history.
    pub acwr: Option<f64>,
}

/// Each part of a readiness score, 0–100 (75: the athlete's normal); null when its baseline
/// is too short.
#[derive(SimpleObject)]
pub struct ReadinessComponents {
    pub hrv: Option<f64>,
    pub resting_hr: Option<f64>,
    pub sleep: Option<f64>,
    pub load: Option<f64>,
}

#[derive(SimpleObject)]
pub struct ReadinessObject {
    pub date: NaiveDate,
    /// The mean of the parts there are; null when none has a baseline yet.
    pub score: Option<f64>,
    pub components: ReadinessComponents,
    /// The parts whose baseline is too short (`hrv`, `restingHr`, `sleep`, `load`).
    pub too_short: Vec<String>,
}

/// The load to do on a day to come into the next at a target form.
#[derive(SimpleObject)]
pub struct LoadForObject {
    pub load: f64,
    /// False: even a rest day leaves the form below the target (`load` is then 0).
    pub reachable: bool,
    /// The next day's TSB after a rest day.
    pub tsb_after_rest: f64,
}

/// Where a forecast's model comes from.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum FatigueModel {
    /// The athlete's own history (28 days of ratings or more), shrunk towards the population.
    Personal,
    /// The population's, centred on the athlete's ratings so far.
    Population,
    /// Nobody else to learn from: the athlete's own mean per moment.
    OwnMean,
}

/// A forecast perceived fatigue (BMQ, 1–10) at one moment of a coming day.
#[derive(SimpleObject)]
pub struct FatigueForecastPoint {
    pub date: NaiveDate,
    pub moment: BmqMoment,
    pub bmq: f64,
    /// The 80 % interval.
    pub low: f64,
    pub high: f64,
    /// The load of the day it was forecast with.
    pub planned_load: f64,
    pub model: FatigueModel,
    /// Days with ratings the model knows of the athlete.
    pub rated_days: u32,
}

#[derive(Default)]
pub struct TrainingQuery;

#[Object]
impl TrainingQuery {
    /// An athlete's training load, fitness, fatigue, form and ACWR per day from `from` to
    /// `to` (at most 366 days).
    #[graphql(guard = "RequireScope(Scope::TrainingRead)")]
    async fn training_load(
        &self,
        ctx: &Context<'_>,
        athlete_id: ID,
        from: NaiveDate,
        to: NaiveDate,
    ) -> GqlResult<Vec<TrainingLoadDay>> {
        let id = parse_id("athleteId", &athlete_id)?;
        let days = training::training_load(app(ctx), principal(ctx), id, from, to)
            .await
            .gql()?;
        Ok(days
            .into_iter()
            .map(|d| TrainingLoadDay {
                date: d.date,
                load: d.day.load,
                ctl: d.day.ctl,
                atl: d.day.atl,
                tsb: d.day.tsb,
                acwr: d.day.acwr,
            })
            .collect())
    }

    /// How ready the athlete is on `date`, against their own baselines: HRV (7-day ln rMSSD
    /// against 60 days), resting heart rate, sleep, and load (ACWR).
    #[graphql(guard = "RequireScope(Scope::TrainingRead)")]
    async fn readiness(
        &self,
        ctx: &Context<'_>,
        athlete_id: ID,
        date: NaiveDate,
    ) -> GqlResult<ReadinessObject> {
        let id = parse_id("athleteId", &athlete_id)?;
        let r = training::readiness(app(ctx), principal(ctx), id, date)
            .await
            .gql()?;
        Ok(ReadinessObject {
            date,
            score: r.score,
            components: ReadinessComponents {
                hrv: r.hrv,
                resting_hr: r.resting_hr,
                sleep: r.sleep,
                load: r.load,
            },
            too_short: r.too_short.into_iter().map(str::to_owned).collect(),
        })
    }

    /// The athlete's perceived fatigue (BMQ) at each moment of the `days` days from `from`
    /// (today by default), if they do `plannedLoad` (one load per day; the days not given
    /// take their mean daily load of the last four weeks). Sleep, HRV and nutrition of the
    /// coming days are taken at the athlete's normal. Their own model once they rated on 28
    /// days, the population's before; `podium backtest --fatigue` measures it.
    #[graphql(guard = "RequireScope(Scope::TrainingRead)")]
    async fn fatigue_forecast(
        &self,
        ctx: &Context<'_>,
        athlete_id: ID,
        #[graphql(default = 7)] days: i32,
        planned_load: Option<Vec<f64>>,
        from: Option<NaiveDate>,
    ) -> GqlResult<Vec<FatigueForecastPoint>> {
        use podium_domain::fatigue::FitKind;
        let id = parse_id("athleteId", &athlete_id)?;
        let from = from.unwrap_or_else(|| Utc::now().date_naive());
        let days = usize::try_from(days).unwrap_or(0);
        let forecast =
            crate::app::fatigue::forecast(app(ctx), principal(ctx), id, from, days, planned_load)
                .await
                .gql()?;
        let model = match forecast.model {
            FitKind::Personal => FatigueModel::Personal,
            FitKind::Population => FatigueModel::Population,
            FitKind::OwnMean => FatigueModel::OwnMean,
        };
        Ok(forecast
            .points
            .iter()
            .map(|p| FatigueForecastPoint {
                date: p.date,
                moment: BmqMoment::from(p.moment),
                bmq: p.bmq,
                low: p.low,
                high: p.high,
                planned_load: forecast.planned_load[(p.date - from).num_days().max(0) as usize],
                model,
                rated_days: forecast.rated_days as u32,
            })
            .collect())
    }

    /// The load to do on `date` so that the next day's form (TSB) is `targetTsb`.
    #[graphql(guard = "RequireScope(Scope::TrainingRead)")]
    async fn load_for(
        &self,
        ctx: &Context<'_>,
        athlete_id: ID,
        date: NaiveDate,
        target_tsb: f64,
    ) -> GqlResult<LoadForObject> {
        let id = parse_id("athleteId", &athlete_id)?;
        let answer = training::load_for_target(app(ctx), principal(ctx), id, date, target_tsb)
            .await
            .gql()?;
        Ok(LoadForObject {
            load: answer.load,
            reachable: answer.reachable,
            tsb_after_rest: answer.tsb_after_rest,
        })
    }
}

#[derive(Default)]
pub struct TrainingMutation;

#[Object]
impl TrainingMutation {
    /// Records an athlete's samples; one already recorded (its kind, source id and time) is
    /// counted as a duplicate, each invalid one named by its index, the rest kept.
    #[graphql(guard = "RequireScope(Scope::TrainingWrite)")]
    async fn record_wellness(
        &self,
        ctx: &Context<'_>,
        athlete_id: ID,
        samples: Vec<WellnessSampleInput>,
    ) -> GqlResult<WellnessReport> {
        let id = parse_id("athleteId", &athlete_id)?;
        let rows = samples
            .into_iter()
            .map(|s| s.into_raw().and_then(RawSample::into_sample))
            .collect();
        let report = training::record(app(ctx), principal(ctx), id, rows)
            .await
            .gql()?;
        Ok(WellnessReport {
            accepted: report.accepted,
            duplicates: report.duplicates,
            rejected: report
                .rejected
                .into_iter()
                .map(|r| RejectedObject {
                    index: r.index as u32,
                    reason: r.reason,
                })
                .collect(),
        })
    }
}
