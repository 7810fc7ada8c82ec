//! The perceived-fatigue forecast of an athlete (`podium_domain::fatigue`), and the fatigue
//! alert webhook.
//!
//! A forecast reads the athlete's last year of samples, fits their model (their own after 28
//! days of ratings, the population prior before) and forecasts the coming days with the
//! planned loads. The fitted model and the history it needs are cached per athlete, origin
//! day and data version (how many samples, and when the last was recorded): a second forecast
//! of unchanged data costs one small query. The population prior is fitted on the most
//! recently active athletes' ratings and kept for an hour.

use crate::app::training::{chart, heart_profile, load_of, may_read, midnight};
use crate::app::AppState;
use crate::auth::Principal;
use crate::cache::Recent;
use crate::error::ApiError;
use chrono::NaiveDate;
use podium_domain::fatigue::{self, Day, Fit, FitKind, Predicted};
use podium_domain::ports::WellnessVersion;
use podium_domain::wellness::{BmqMoment, SampleKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// History read for a forecast, days.
const HISTORY_DAYS: i64 = 365;
/// Longest forecast, days.
pub const MAX_DAYS: usize = 28;
/// Athletes the population prior learns from, and the days of each it reads.
const PRIOR_ATHLETES: u64 = 40;
const PRIOR_DAYS: i64 = 180;
/// How long a population prior is used before it is fitted again.
const PRIOR_TTL: Duration = Duration::from_secs(3600);
/// Models kept in memory (the least recently used go first).
const MAX_CACHED: usize = 10_000;
/// Days whose mean load is the plan when none is given.
const USUAL_DAYS: usize = 28;

/// An athlete's fitted model with the history it forecasts from.
struct Fitted {
    fit: Fit,
    history: Vec<Day>,
}

/// Fitted models by athlete, origin day and data version, and the population prior.
pub struct FatigueCache {
    models: Recent<(Uuid, NaiveDate, WellnessVersion), Arc<Fitted>>,
    prior: Mutex<Option<(Instant, Option<Arc<Fit>>)>>,
}

impl Default for FatigueCache {
    fn default() -> Self {
        Self {
            models: Recent::new(MAX_CACHED),
            prior: Mutex::default(),
        }
    }
}

/// One forecast rating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastPoint {
    pub date: NaiveDate,
    pub moment: BmqMoment,
    pub bmq: f64,
    pub low: f64,
    pub high: f64,
}

/// A forecast and what it stands on.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub model: FitKind,
    /// Days with ratings the model knows of the athlete.
    pub rated_days: usize,
    /// The loads forecast with, one per day.
    pub planned_load: Vec<f64>,
    pub points: Vec<ForecastPoint>,
}

/// The athlete's forecast BMQ for `days` days from `from`, with `planned` loads (the mean
/// daily load of their last four weeks for the days not given).
pub async fn forecast(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    from: NaiveDate,
    days: usize,
    planned: Option<Vec<f64>>,
) -> Result<Forecast, ApiError> {
    may_read(state, viewer, athlete_id).await?;
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::BadRequest(format!(
            "days: {days} is not within 1–{MAX_DAYS}"
        )));
    }
    let planned = planned.unwrap_or_default();
    if planned.len() > days {
        return Err(ApiError::BadRequest(format!(
            "plannedLoad: {} loads for {days} days",
            planned.len()
        )));
    }
    if let Some((i, load)) = planned
        .iter()
        .enumerate()
        .find(|(_, l)| !(l.is_finite() && (0.0..=5000.0).contains(*l)))
    {
        return Err(ApiError::BadRequest(format!(
            "plannedLoad[{i}]: {load} is not a load within 0–5000"
        )));
    }
    let started = Instant::now();
    let fitted = fitted(state, athlete_id, from).await?;
    let usual = {
        let recent = &fitted.history[fitted.history.len().saturating_sub(USUAL_DAYS)..];
        recent.iter().map(|d| d.load).sum::<f64>() / recent.len().max(1) as f64
    };
    let mut plan = planned;
    plan.resize(days, usual);
    let points = fatigue::forecast(&fitted.fit, &fitted.history, &plan)
        .into_iter()
        .map(|p: Predicted| ForecastPoint {
            date: from + chrono::Duration::days(p.ahead as i64 - 1),
            moment: p.moment,
            bmq: p.bmq,
            low: p.low,
            high: p.high,
        })
        .collect();
    state
        .metrics
        .observe_fatigue_forecast(started.elapsed().as_secs_f64());
    Ok(Forecast {
        model: fitted.fit.kind,
        rated_days: fitted.fit.days,
        planned_load: plan,
        points,
    })
}

/// The athlete's model for forecasts from `from`: cached while their data is unchanged.
async fn fitted(
    state: &AppState,
    athlete_id: Uuid,
    from: NaiveDate,
) -> Result<Arc<Fitted>, ApiError> {
    let version = state.wellness.wellness_version(athlete_id).await?;
    let key = (athlete_id, from, version);
    if let Some(fitted) = state.fatigue.models.get(&key) {
        return Ok(fitted);
    }
    let history = history(state, athlete_id, from, HISTORY_DAYS).await?;
    let prior = prior(state).await?;
    let rows = fatigue::rows(0, 0, &history);
    let fit = fatigue::fit_athlete(&rows, prior.as_deref()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "athleteId: athlete {athlete_id} has no BMQ ratings before {from}: a forecast starts from at least one"
        ))
    })?;
    let fitted = Arc::new(Fitted { fit, history });
    state.fatigue.models.put(key, fitted.clone());
    Ok(fitted)
}

/// The athlete's days from `days` days before `until` to the day before it.
async fn history(
    state: &AppState,
    athlete_id: Uuid,
    until: NaiveDate,
    days: i64,
) -> Result<Vec<Day>, ApiError> {
    let first = until - chrono::Duration::days(days);
    let last = until - chrono::Duration::days(1);
    let samples = state
        .wellness
        .wellness(athlete_id, &[], midnight(first), midnight(until))
        .await?;
    // The profile reads only the health samples among them.
    let heart = heart_profile(state, athlete_id, &samples, last).await?;
    Ok(fatigue::days_from(&samples, first, last, |a| {
        load_of(a, &heart)
    }))
}

/// Where the athlete's recorded stretch begins: the empty days before it say nothing.
fn recorded_from(days: &[Day]) -> usize {
    days.iter()
        .position(|d| *d != Day::default())
        .unwrap_or(days.len())
}

/// The population prior, fitted at most once an hour on the ratings of the athletes who rated
/// most recently; `None` while nobody has rated.
async fn prior(state: &AppState) -> Result<Option<Arc<Fit>>, ApiError> {
    if let Some((at, prior)) = state.fatigue.prior.lock().expect("prior").as_ref() {
        if at.elapsed() < PRIOR_TTL {
            return Ok(prior.clone());
        }
    }
    let mut rows = Vec::new();
    let athletes = state
        .wellness
        .athletes_with_wellness(SampleKind::Bmq, PRIOR_ATHLETES)
        .await?;
    for (i, (athlete, last)) in athletes.into_iter().enumerate() {
        // Their last half year of ratings, wherever in time it lies.
        let until = last.to_chrono().date_naive() + chrono::Duration::days(1);
        let days = history(state, athlete, until, PRIOR_DAYS).await?;
        let start = recorded_from(&days);
        rows.extend(fatigue::rows(i as u32, start as i64, &days[start..]));
    }
    let prior = fatigue::fit_prior(&rows).map(Arc::new);
    *state.fatigue.prior.lock().expect("prior") = Some((Instant::now(), prior.clone()));
    Ok(prior)
}

/// Athletes the fatigue backtest reads at most.
const BACKTEST_ATHLETES: u64 = 10_000;

/// The rolling-origin backtest of the forecast on every athlete with ratings (the year up to
/// their last rating), origins every 7 days, 7 days ahead (`podium backtest --fatigue`).
pub async fn backtest(state: &AppState) -> Result<fatigue::Backtest, ApiError> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let mut histories = Vec::new();
    for (athlete, last) in state
        .wellness
        .athletes_with_wellness(SampleKind::Bmq, BACKTEST_ATHLETES)
        .await?
    {
        let until = last.to_chrono().date_naive() + chrono::Duration::days(1);
        let days = history(state, athlete, until, HISTORY_DAYS).await?;
        let start = recorded_from(&days);
        let first =
            until - chrono::Duration::days(HISTORY_DAYS) + chrono::Duration::days(start as i64);
        histories.push(fatigue::History {
            first_day: (first - epoch).num_days(),
            days: days[start..].to_vec(),
        });
    }
    if histories.is_empty() {
        return Err(ApiError::BadRequest(
            "no athlete has BMQ ratings to backtest (`podium demo --training` simulates some)"
                .into(),
        ));
    }
    tokio::task::spawn_blocking(move || fatigue::backtest(&histories, 7, 7))
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}

/// The fatigue backtest as a Markdown table, and whether the model beats both baselines.
pub fn backtest_table(result: &podium_domain::fatigue::Backtest) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "BMQ forecast, rolling origin: {} athletes, {} origins, 7 days ahead\n\n\
         | model used at the origin | ratings forecast | model MAE | last value MAE | athlete mean MAE | in 80 % interval |\n\
         |---|---:|---:|---:|---:|---:|\n",
        result.athletes, result.origins
    );
    for (name, score) in [
        ("all", &result.overall),
        ("personal (≥ 28 rated days)", &result.personal),
        ("population prior", &result.population),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.1} % |",
            score.forecasts,
            score.model_mae,
            score.last_value_mae,
            score.mean_mae,
            100.0 * score.coverage
        );
    }
    let verdict = if result.overall.beats_baselines() {
        "the forecast beats both baselines"
    } else {
        "the forecast does NOT beat both baselines"
    };
    let _ = writeln!(out, "\n{verdict} (mean absolute error, BMQ points).");
    out
}

/// Thresholds of the fatigue alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertBand {
    pub acwr_low: f64,
    pub acwr_high: f64,
    pub tsb_floor: f64,
}

/// Why a day is outside the band, if it is.
fn outside(band: &AlertBand, acwr: Option<f64>, tsb: f64) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    match acwr {
        Some(r) if r > band.acwr_high => reasons.push("ACWR_HIGH"),
        Some(r) if r < band.acwr_low => reasons.push("ACWR_LOW"),
        _ => {}
    }
    if tsb < band.tsb_floor {
        reasons.push("TSB_LOW");
    }
    reasons
}

/// After new activities: when `day` (the latest of them) crossed out of the band — outside it
/// where the day before was inside — sends `athlete.fatigue_alert` to the athlete's endpoints
/// and their coaches'. The message id is derived from the athlete, day and reason, so
/// recording the same day again sends nothing more.
pub async fn alert_if_crossed(
    state: &AppState,
    athlete_id: Uuid,
    day: NaiveDate,
) -> Result<u64, ApiError> {
    let band = AlertBand {
        acwr_low: state.settings.fatigue_alert_acwr_low,
        acwr_high: state.settings.fatigue_alert_acwr_high,
        tsb_floor: state.settings.fatigue_alert_tsb_floor,
    };
    let chart = chart(state, athlete_id, day - chrono::Duration::days(1), day).await?;
    let [yesterday, today] = chart.as_slice() else {
        return Ok(0);
    };
    // TSB is the form going into a day; the day's own load shows in the next day's.
    let next_tsb = today.day.ctl - today.day.atl;
    let before = outside(&band, yesterday.day.acwr, today.day.tsb);
    let now = outside(&band, today.day.acwr, next_tsb);
    let crossed: Vec<&str> = now.into_iter().filter(|r| !before.contains(r)).collect();
    if crossed.is_empty() {
        return Ok(0);
    }
    let coaches: Vec<String> = state
        .athletes
        .coach_grants(athlete_id)
        .await?
        .into_iter()
        .map(|g| g.coach)
        .collect();
    let at = chrono::Utc::now();
    let message_id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!(
            "podium:fatigue_alert:{athlete_id}:{day}:{}",
            crossed.join(",")
        )
        .as_bytes(),
    );
    let topic = podium_domain::model::TOPIC_ATHLETE_FATIGUE_ALERT;
    let payload = serde_json::json!({
        "type": topic,
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "athleteId": athlete_id,
            "date": day,
            "reasons": crossed,
            "acwr": today.day.acwr,
            "tsb": next_tsb,
            "ctl": today.day.ctl,
            "atl": today.day.atl,
            "band": { "acwrLow": band.acwr_low, "acwrHigh": band.acwr_high, "tsbFloor": band.tsb_floor },
        },
    })
    .to_string();
    Ok(state
        .webhooks
        .notify_athlete(
            athlete_id,
            &coaches,
            message_id,
            topic,
            payload,
            podium_domain::timing::Timestamp::from_chrono(at),
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_names_each_way_out() {
        let band = AlertBand {
            acwr_low: 0.8,
            acwr_high: 1.5,
            tsb_floor: -30.0,
        };
        assert!(outside(&band, Some(1.0), -10.0).is_empty());
        assert!(
            outside(&band, None, -10.0).is_empty(),
            "no ratio yet: no alert"
        );
        assert_eq!(outside(&band, Some(1.6), -31.0), ["ACWR_HIGH", "TSB_LOW"]);
        assert_eq!(outside(&band, Some(0.7), 0.0), ["ACWR_LOW"]);
        assert!(
            outside(&band, Some(1.5), -30.0).is_empty(),
            "the band's edges are inside"
        );
    }
}
