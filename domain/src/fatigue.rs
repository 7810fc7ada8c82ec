//! The perceived-fatigue (BMQ) forecast: a linear model of an athlete's BMQ, rated four times a
//! day, on what they did and how they slept, fitted on their own history once there are
//! [`MIN_PERSONAL_DAYS`] days of ratings and taken from the population before.
//!
//! - **Features** of a day and moment: an intercept per moment; the day's load (after the
//!   workout only), the day before's load, fitness and fatigue going into the day (CTL and ATL,
//!   whose difference is TSB), the uncoupled ACWR, last
//!   night's sleep against the athlete's 28-day mean, the morning's ln rMSSD against their
//!   60-day baseline (in standard deviations), and the day before's calories against their
//!   28-day mean. Baselines use only days before the one described, so a fit never sees the
//!   future.
//! - **Fit**: the population prior is ridge regression over the pooled ratings of other
//!   athletes; an athlete's own model is ridge regression shrunk towards that prior (the
//!   penalty is on the distance from the prior's coefficients, so few days stay close to it).
//!   With fewer than [`MIN_PERSONAL_DAYS`] days the prior is used, its intercepts moved
//!   towards the athlete's own mean by `n / (n + 10)`.
//! - **Errors** carry over from day to day: the last observed day's mean residual decays by
//!   the residuals' lag-1 autocorrelation φ (regression with AR(1) errors), which is what a
//!   bad night or a cold does to the next days.
//! - **Forecast**: the coming days with the planned loads; sleep, HRV and nutrition are taken
//!   at the athlete's normal (they are not known yet). The interval is the 80 % band of the
//!   residuals, clamped to the scale 1–10.
//!
//! [`backtest`] is the rolling-origin evaluation against the two baselines any forecast must
//! beat: the last value of the same moment, and the athlete's mean so far.

use crate::training::{form, Start};
use crate::wellness::{Activity, BmqMoment, Measurement, WellnessSample};
use chrono::NaiveDate;
use nalgebra::{DMatrix, DVector};

/// Days with ratings before an athlete gets a model of their own.
pub const MIN_PERSONAL_DAYS: usize = 28;
/// The moments of the day, in feature order.
pub const MOMENTS: [BmqMoment; 4] = [
    BmqMoment::Morning,
    BmqMoment::PreWorkout,
    BmqMoment::PostWorkout,
    BmqMoment::Evening,
];
/// Coefficients: four intercepts and eight slopes.
pub const FEATURES: usize = 12;
/// Ridge penalty of the population prior's slopes (intercepts are nearly free).
const PRIOR_RIDGE: f64 = 1.0;
/// Ridge penalty pulling an athlete's slopes towards the prior's, in rating-rows; their
/// level (the intercepts) is their own and is held only lightly.
const PERSONAL_RIDGE: f64 = 20.0;
const PERSONAL_LEVEL_RIDGE: f64 = 2.0;
/// Shrinkage of a young history's mean towards the prior: `n / (n + SHRINK)`.
const SHRINK: f64 = 10.0;
/// z of the two-sided 80 % interval.
const Z80: f64 = 1.2816;

pub fn moment_index(moment: BmqMoment) -> usize {
    MOMENTS.iter().position(|m| *m == moment).unwrap_or(0)
}

/// What an athlete did and felt on one day.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Day {
    /// The day's training load (session RPE × minutes, or TRIMP).
    pub load: f64,
    /// The night before, minutes.
    pub sleep_minutes: Option<f64>,
    /// ln of the morning rMSSD (ms).
    pub ln_rmssd: Option<f64>,
    /// Calories eaten.
    pub calories: Option<f64>,
    /// The day's BMQ per moment (the mean when rated twice).
    pub bmq: [Option<f64>; 4],
}

/// The days `first..=last` of an athlete's samples (by UTC date), each activity counted by
/// `load_of`. A night counts for the day it ends on; two ratings of one moment average.
pub fn days_from(
    samples: &[WellnessSample],
    first: NaiveDate,
    last: NaiveDate,
    load_of: impl Fn(&Activity) -> f64,
) -> Vec<Day> {
    let len = (last - first).num_days() + 1;
    let mut days = vec![Day::default(); len.max(0) as usize];
    let mut ratings = vec![[(0.0, 0u32); 4]; days.len()];
    for sample in samples {
        let index = (sample.at.to_chrono().date_naive() - first).num_days();
        let Some(day) = usize::try_from(index).ok().and_then(|i| days.get_mut(i)) else {
            continue;
        };
        match &sample.measurement {
            Measurement::Activity(a) => day.load += load_of(a),
            Measurement::Sleep(s) => day.sleep_minutes = Some(s.total_minutes),
            Measurement::Health(h) => {
                day.ln_rmssd = h.hrv_rmssd_ms.map(f64::ln).or(day.ln_rmssd);
            }
            Measurement::Nutrition(n) => {
                day.calories = Some(day.calories.unwrap_or(0.0) + n.calories);
            }
            Measurement::Bmq(b) => {
                let slot = &mut ratings[index as usize][moment_index(b.moment)];
                slot.0 += b.value;
                slot.1 += 1;
            }
        }
    }
    for (day, rated) in days.iter_mut().zip(ratings) {
        for (m, (sum, n)) in rated.into_iter().enumerate() {
            day.bmq[m] = (n > 0).then(|| sum / f64::from(n));
        }
    }
    days
}

/// One rating with its features.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Which athlete (any label; residuals are chained within one).
    pub series: u32,
    /// Day number (consecutive days differ by one).
    pub day: i64,
    pub moment: usize,
    pub x: [f64; FEATURES],
    pub y: f64,
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    (!values.is_empty()).then(|| crate::training::mean_sd(values))
}

/// The day-level covariates of each day of `days` followed by `planned` future loads:
/// `[load, load the day before, ctl, atl, acwr − 1, sleep, hrv, calories]` (CTL and ATL the
/// day before's: their difference is the day's TSB), scaled.
fn covariates(days: &[Day], planned: &[f64]) -> Vec<[f64; 8]> {
    let loads: Vec<f64> = days
        .iter()
        .map(|d| d.load)
        .chain(planned.iter().copied())
        .collect();
    let chart = form(&loads, Start::default());
    let window = |i: usize, n: usize, pick: fn(&Day) -> Option<f64>| -> Vec<f64> {
        days[i.saturating_sub(n)..i.min(days.len())]
            .iter()
            .filter_map(pick)
            .collect()
    };
    (0..loads.len())
        .map(|i| {
            let today = days.get(i);
            let sleep = today
                .and_then(|d| d.sleep_minutes)
                .zip(mean(&window(i, 28, |d| d.sleep_minutes)).filter(|_| i >= 7))
                .map_or(0.0, |(s, m)| (s - m) / 60.0);
            let hrv = today
                .and_then(|d| d.ln_rmssd)
                .zip(
                    Some(window(i, 60, |d| d.ln_rmssd))
                        .filter(|w| w.len() >= 14)
                        .and_then(|w| mean_sd(&w)),
                )
                .map_or(0.0, |(v, (m, sd))| {
                    ((v - m) / sd.max(1e-6)).clamp(-4.0, 4.0)
                });
            let calories = i
                .checked_sub(1)
                .and_then(|y| days.get(y))
                .and_then(|d| d.calories)
                .zip(mean(&window(i - i.min(1), 28, |d| d.calories)))
                .map_or(0.0, |(c, m)| (c - m) / 1000.0);
            [
                loads[i] / 100.0,
                i.checked_sub(1).map_or(0.0, |y| loads[y] / 100.0),
                i.checked_sub(1).map_or(0.0, |y| chart[y].ctl / 100.0),
                i.checked_sub(1).map_or(0.0, |y| chart[y].atl / 100.0),
                chart[i.saturating_sub(1)]
                    .acwr
                    .map_or(0.0, |r| (r - 1.0).clamp(-1.0, 2.0)),
                sleep,
                hrv,
                calories,
            ]
        })
        .collect()
}

fn features(c: &[f64; 8], moment: usize) -> [f64; FEATURES] {
    let mut x = [0.0; FEATURES];
    x[moment] = 1.0;
    // The day's own load weighs on the ratings given after it.
    let after = moment >= moment_index(BmqMoment::PostWorkout);
    x[4] = if after { c[0] } else { 0.0 };
    x[5..].copy_from_slice(&c[1..]);
    x
}

/// The rows of every rating in `days` (the first day numbered `first_day`).
pub fn rows(series: u32, first_day: i64, days: &[Day]) -> Vec<Row> {
    let cov = covariates(days, &[]);
    let mut rows = Vec::new();
    for (i, day) in days.iter().enumerate() {
        for (m, value) in day.bmq.iter().enumerate() {
            if let Some(y) = value {
                rows.push(Row {
                    series,
                    day: first_day + i as i64,
                    moment: m,
                    x: features(&cov[i], m),
                    y: *y,
                });
            }
        }
    }
    rows
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub beta: [f64; FEATURES],
    /// The residuals' standard deviation.
    pub sigma: f64,
    /// The lag-1 autocorrelation of the daily mean residuals, 0–0.9.
    pub phi: f64,
    /// Days with ratings it was fitted on (the athlete's own for a personal model).
    pub days: usize,
    pub kind: FitKind,
}

/// Where a model's coefficients come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitKind {
    /// The athlete's own history (≥ [`MIN_PERSONAL_DAYS`] days), shrunk towards the prior.
    Personal,
    /// The population's, centred on the athlete's mean so far.
    Population,
    /// No other athlete to learn from: the athlete's own mean per moment.
    OwnMean,
}

impl FitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FitKind::Personal => "PERSONAL",
            FitKind::Population => "POPULATION",
            FitKind::OwnMean => "OWN_MEAN",
        }
    }
}

fn predict_row(beta: &[f64; FEATURES], x: &[f64; FEATURES]) -> f64 {
    beta.iter().zip(x).map(|(b, x)| b * x).sum()
}

/// Solves `(XᵀX + Λ) β = Xᵀy + Λ β₀` with `Λ = diag(penalty)`.
fn ridge(rows: &[Row], penalty: &[f64; FEATURES], towards: &[f64; FEATURES]) -> [f64; FEATURES] {
    let mut xtx = DMatrix::<f64>::zeros(FEATURES, FEATURES);
    let mut xty = DVector::<f64>::zeros(FEATURES);
    for row in rows {
        for i in 0..FEATURES {
            xty[i] += row.x[i] * row.y;
            for j in 0..FEATURES {
                xtx[(i, j)] += row.x[i] * row.x[j];
            }
        }
    }
    for i in 0..FEATURES {
        xtx[(i, i)] += penalty[i];
        xty[i] += penalty[i] * towards[i];
    }
    let mut beta = *towards;
    if let Some(solution) = xtx.cholesky().map(|c| c.solve(&xty)) {
        beta.copy_from_slice(solution.as_slice());
    }
    beta
}

/// The residuals' standard deviation and their day-to-day autocorrelation.
fn residual_structure(rows: &[Row], beta: &[f64; FEATURES], parameters: usize) -> (f64, f64) {
    let residuals: Vec<f64> = rows.iter().map(|r| r.y - predict_row(beta, &r.x)).collect();
    let dof = (rows.len() as f64 - parameters as f64).max(1.0);
    let sigma = (residuals.iter().map(|e| e * e).sum::<f64>() / dof).sqrt();
    // Daily mean residuals per series, then the correlation of consecutive days.
    let mut daily: std::collections::BTreeMap<(u32, i64), (f64, f64)> = Default::default();
    for (row, e) in rows.iter().zip(&residuals) {
        let entry = daily.entry((row.series, row.day)).or_default();
        entry.0 += e;
        entry.1 += 1.0;
    }
    let (mut num, mut den) = (0.0, 0.0);
    for (&(series, day), &(sum, n)) in &daily {
        let e = sum / n;
        den += e * e;
        if let Some(&(prev_sum, prev_n)) = daily.get(&(series, day - 1)) {
            num += e * prev_sum / prev_n;
        }
    }
    let phi = if den > 0.0 { num / den } else { 0.0 };
    (sigma.max(0.1), phi.clamp(0.0, 0.9))
}

fn distinct_days(rows: &[Row]) -> usize {
    let mut days: Vec<(u32, i64)> = rows.iter().map(|r| (r.series, r.day)).collect();
    days.sort_unstable();
    days.dedup();
    days.len()
}

/// The population prior: ridge regression over the pooled ratings of several athletes.
/// `None` without any.
pub fn fit_prior(rows: &[Row]) -> Option<Fit> {
    if rows.is_empty() {
        return None;
    }
    let mut penalty = [PRIOR_RIDGE; FEATURES];
    penalty[..4].fill(1e-6);
    let beta = ridge(rows, &penalty, &[0.0; FEATURES]);
    let (sigma, phi) = residual_structure(rows, &beta, FEATURES);
    Some(Fit {
        beta,
        sigma,
        phi,
        days: distinct_days(rows),
        kind: FitKind::Population,
    })
}

/// The model of one athlete from their rows: their own (shrunk towards `prior`) once they
/// rated on [`MIN_PERSONAL_DAYS`] days, else the prior centred on their mean, else (no prior)
/// their mean per moment. `None` when they never rated.
pub fn fit_athlete(rows: &[Row], prior: Option<&Fit>) -> Option<Fit> {
    if rows.is_empty() {
        return None;
    }
    let days = distinct_days(rows);
    let Some(prior) = prior else {
        let all: Vec<f64> = rows.iter().map(|r| r.y).collect();
        let overall = mean(&all)?;
        let mut beta = [0.0; FEATURES];
        for (m, b) in beta.iter_mut().take(4).enumerate() {
            let own: Vec<f64> = rows.iter().filter(|r| r.moment == m).map(|r| r.y).collect();
            *b = mean(&own).unwrap_or(overall);
        }
        let (sigma, phi) = residual_structure(rows, &beta, 4);
        return Some(Fit {
            beta,
            sigma,
            phi,
            days,
            kind: FitKind::OwnMean,
        });
    };
    if days >= MIN_PERSONAL_DAYS {
        let mut penalty = [PERSONAL_RIDGE; FEATURES];
        penalty[..4].fill(PERSONAL_LEVEL_RIDGE);
        let beta = ridge(rows, &penalty, &prior.beta);
        let (sigma, phi) = residual_structure(rows, &beta, FEATURES);
        return Some(Fit {
            beta,
            sigma,
            phi,
            days,
            kind: FitKind::Personal,
        });
    }
    let residuals: Vec<f64> = rows
        .iter()
        .map(|r| r.y - predict_row(&prior.beta, &r.x))
        .collect();
    let shift = mean(&residuals).unwrap_or(0.0) * days as f64 / (days as f64 + SHRINK);
    let mut beta = prior.beta;
    beta[..4].iter_mut().for_each(|b| *b += shift);
    Some(Fit {
        beta,
        sigma: prior.sigma,
        phi: prior.phi,
        days,
        kind: FitKind::Population,
    })
}

/// One forecast rating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Predicted {
    /// Days after the last day of the history (1: the first forecast day).
    pub ahead: usize,
    pub moment: BmqMoment,
    pub bmq: f64,
    /// The 80 % interval.
    pub low: f64,
    pub high: f64,
}

/// The ratings of the `planned.len()` days after `days`, with those days' planned loads.
pub fn forecast(fit: &Fit, days: &[Day], planned: &[f64]) -> Vec<Predicted> {
    let cov = covariates(days, planned);
    // The last rated day's mean residual, carried forward with decay φ per day.
    let last = days.iter().enumerate().rev().find_map(|(i, d)| {
        let errors: Vec<f64> = d
            .bmq
            .iter()
            .enumerate()
            .filter_map(|(m, y)| y.map(|y| y - predict_row(&fit.beta, &features(&cov[i], m))))
            .collect();
        mean(&errors).map(|e| (i, e))
    });
    let mut out = Vec::with_capacity(planned.len() * 4);
    for ahead in 1..=planned.len() {
        let i = days.len() + ahead - 1;
        let carried = last.map_or(0.0, |(at, e)| e * fit.phi.powi((i - at) as i32));
        for (m, moment) in MOMENTS.iter().enumerate() {
            let bmq = (predict_row(&fit.beta, &features(&cov[i], m)) + carried).clamp(1.0, 10.0);
            out.push(Predicted {
                ahead,
                moment: *moment,
                bmq,
                low: (bmq - Z80 * fit.sigma).max(1.0),
                high: (bmq + Z80 * fit.sigma).min(10.0),
            });
        }
    }
    out
}

/// An athlete's history for the backtest.
#[derive(Debug, Clone)]
pub struct History {
    /// Day number of `days[0]`.
    pub first_day: i64,
    pub days: Vec<Day>,
}

/// Mean absolute errors of the model and the baselines over the same forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    pub forecasts: usize,
    pub model_mae: f64,
    /// The last rating of the same moment before the origin.
    pub last_value_mae: f64,
    /// The athlete's mean rating before the origin.
    pub mean_mae: f64,
    /// Share of ratings inside the 80 % interval.
    pub coverage: f64,
}

/// The backtest's scores: overall and by the model used at the origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backtest {
    pub overall: Score,
    pub personal: Score,
    pub population: Score,
    pub athletes: usize,
    pub origins: usize,
}

#[derive(Default)]
struct Sums {
    n: usize,
    model: f64,
    last: f64,
    mean: f64,
    inside: usize,
}

impl Score {
    /// Whether the model's error is below both baselines'.
    pub fn beats_baselines(&self) -> bool {
        self.forecasts > 0 && self.model_mae < self.last_value_mae && self.model_mae < self.mean_mae
    }
}

impl Sums {
    fn score(&self) -> Score {
        let n = self.n.max(1) as f64;
        Score {
            forecasts: self.n,
            model_mae: self.model / n,
            last_value_mae: self.last / n,
            mean_mae: self.mean / n,
            coverage: self.inside as f64 / n,
        }
    }
}

/// Rolling-origin backtest: for each athlete, every `step` days from their 8th day on, the
/// model is fitted on what was known before the origin (their days before it, and the other
/// athletes' days before it for the prior) and forecasts the next `horizon` days with the
/// loads they then did as the plan; each rating is compared with the forecast and with the
/// two baselines of that origin.
pub fn backtest(athletes: &[History], horizon: usize, step: usize) -> Backtest {
    let all_rows: Vec<Vec<Row>> = athletes
        .iter()
        .enumerate()
        .map(|(i, h)| rows(i as u32, h.first_day, &h.days))
        .collect();
    let (mut overall, mut personal, mut population) =
        (Sums::default(), Sums::default(), Sums::default());
    let mut origins = 0;
    for (a, history) in athletes.iter().enumerate() {
        let mut origin = 7;
        while origin < history.days.len() {
            let day = history.first_day + origin as i64;
            let known = &history.days[..origin];
            let seen: Vec<(usize, f64)> = known
                .iter()
                .flat_map(|d| {
                    d.bmq
                        .iter()
                        .enumerate()
                        .filter_map(|(m, y)| y.map(|y| (m, y)))
                })
                .collect();
            if seen.is_empty() {
                origin += step;
                continue;
            }
            let others: Vec<Row> = all_rows
                .iter()
                .enumerate()
                .filter(|(b, _)| *b != a)
                .flat_map(|(_, r)| r.iter().filter(|r| r.day < day).copied())
                .collect();
            let prior = fit_prior(&others);
            let own: Vec<Row> = all_rows[a]
                .iter()
                .filter(|r| r.day < day)
                .copied()
                .collect();
            let Some(fit) = fit_athlete(&own, prior.as_ref()) else {
                origin += step;
                continue;
            };
            let end = (origin + horizon).min(history.days.len());
            let planned: Vec<f64> = history.days[origin..end].iter().map(|d| d.load).collect();
            let athlete_mean =
                mean(&seen.iter().map(|(_, y)| *y).collect::<Vec<_>>()).unwrap_or(5.0);
            let last_of = |m: usize| {
                seen.iter()
                    .rev()
                    .find(|(k, _)| *k == m)
                    .or(seen.last())
                    .map_or(athlete_mean, |(_, y)| *y)
            };
            origins += 1;
            for p in forecast(&fit, known, &planned) {
                let m = moment_index(p.moment);
                let Some(actual) = history.days[origin + p.ahead - 1].bmq[m] else {
                    continue;
                };
                let bucket = if fit.kind == FitKind::Personal {
                    &mut personal
                } else {
                    &mut population
                };
                for sums in [&mut overall, bucket] {
                    sums.n += 1;
                    sums.model += (p.bmq - actual).abs();
                    sums.last += (last_of(m) - actual).abs();
                    sums.mean += (athlete_mean - actual).abs();
                    sums.inside += usize::from(p.low <= actual && actual <= p.high);
                }
            }
            origin += step;
        }
    }
    Backtest {
        overall: overall.score(),
        personal: personal.score(),
        population: population.score(),
        athletes: athletes.len(),
        origins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(load: f64, bmq: f64) -> Day {
        Day {
            load,
            bmq: [Some(bmq); 4],
            ..Day::default()
        }
    }

    #[test]
    fn features_follow_the_definitions() {
        // A constant 100 a day for 40 days, then 300: the last day's features by hand.
        let mut days: Vec<Day> = (0..40).map(|_| rated(100.0, 5.0)).collect();
        days.push(rated(300.0, 5.0));
        days[40].sleep_minutes = Some(420.0);
        for d in &mut days[12..40] {
            d.sleep_minutes = Some(480.0);
        }
        let cov = covariates(&days, &[]);
        let chart = form(
            &days.iter().map(|d| d.load).collect::<Vec<_>>(),
            Start::default(),
        );
        let c = cov[40];
        assert_eq!(c[0], 3.0);
        assert_eq!(c[1], 1.0);
        assert!((c[2] - c[3] - chart[40].tsb / 100.0).abs() < 1e-12);
        assert!((c[3] - chart[39].atl / 100.0).abs() < 1e-12);
        assert!((c[4] - (chart[39].acwr.unwrap() - 1.0)).abs() < 1e-12);
        assert!(
            (c[5] - (-1.0)).abs() < 1e-12,
            "an hour short of the 28-day mean"
        );
        assert_eq!((c[6], c[7]), (0.0, 0.0), "no HRV or nutrition recorded");
        let morning = features(&c, 0);
        let evening = features(&c, 3);
        assert_eq!(
            morning[4], 0.0,
            "the day's load only weighs after the workout"
        );
        assert_eq!(evening[4], 3.0);
        assert_eq!((morning[0], evening[3]), (1.0, 1.0));
    }

    #[test]
    fn ridge_recovers_a_known_linear_model_and_shrinks_towards_the_prior() {
        // y = 4 + 0.5·x4 − 0.3·x5 exactly, with the other features varying independently.
        let mut rows = Vec::new();
        for i in 0..400 {
            let mut x = [0.0; FEATURES];
            x[i % 4] = 1.0;
            for (k, v) in x.iter_mut().enumerate().skip(4) {
                *v = ((i * (k + 3)) % 17) as f64 / 4.0 - 2.0 + (i % (k + 2)) as f64 * 0.1;
            }
            let y = 4.0 + 0.5 * x[4] - 0.3 * x[5];
            rows.push(Row {
                series: 0,
                day: i as i64 / 4,
                moment: i % 4,
                x,
                y,
            });
        }
        let beta = ridge(&rows, &[1e-9; FEATURES], &[0.0; FEATURES]);
        for m in 0..4 {
            assert!((beta[m] - 4.0).abs() < 1e-6, "{beta:?}");
        }
        assert!((beta[4] - 0.5).abs() < 1e-6 && (beta[5] + 0.3).abs() < 1e-6);
        // An infinite penalty returns the prior.
        let prior = [1.0; FEATURES];
        let held = ridge(&rows, &[1e12; FEATURES], &prior);
        assert!(held.iter().all(|b| (b - 1.0).abs() < 1e-3), "{held:?}");
    }

    #[test]
    fn a_young_history_takes_the_prior_moved_towards_its_own_mean() {
        let prior = Fit {
            beta: [5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            sigma: 1.0,
            phi: 0.5,
            days: 500,
            kind: FitKind::Population,
        };
        // Ten days rated 7: the intercepts move by (7 − 5) · 10 / (10 + 10) = 1.
        let days: Vec<Day> = (0..10).map(|_| rated(0.0, 7.0)).collect();
        let fit = fit_athlete(&rows(0, 0, &days), Some(&prior)).unwrap();
        assert_eq!(fit.kind, FitKind::Population);
        assert!((fit.beta[0] - 6.0).abs() < 1e-9, "{:?}", fit.beta);
        // 28 days: a personal model, much closer to 7.
        let days: Vec<Day> = (0..28).map(|_| rated(0.0, 7.0)).collect();
        let fit = fit_athlete(&rows(0, 0, &days), Some(&prior)).unwrap();
        assert_eq!(fit.kind, FitKind::Personal);
        assert!(fit.beta[0] > 6.5, "{:?}", fit.beta);
        // Without a prior, the own mean per moment.
        let fit = fit_athlete(&rows(0, 0, &days), None).unwrap();
        assert_eq!((fit.kind, fit.beta[2]), (FitKind::OwnMean, 7.0));
        assert!(fit_athlete(&[], Some(&prior)).is_none());
    }

    #[test]
    fn the_last_residual_decays_by_phi_and_intervals_stay_on_the_scale() {
        let fit = Fit {
            beta: [5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            sigma: 2.0,
            phi: 0.5,
            days: 40,
            kind: FitKind::Personal,
        };
        let days = vec![rated(0.0, 7.0)];
        let out = forecast(&fit, &days, &[0.0, 0.0]);
        assert_eq!(out.len(), 8);
        // Residual +2 carried: 5 + 2·0.5 the next day, 5 + 2·0.25 the day after.
        assert!((out[0].bmq - 6.0).abs() < 1e-9);
        assert!((out[4].bmq - 5.5).abs() < 1e-9);
        assert!((out[0].low - (6.0 - Z80 * 2.0)).abs() < 1e-9);
        let high = forecast(
            &Fit {
                beta: [9.5; FEATURES],
                ..fit
            },
            &days,
            &[0.0],
        );
        assert!(high
            .iter()
            .all(|p| p.bmq <= 10.0 && p.high <= 10.0 && p.low >= 1.0));
    }

    #[test]
    fn residual_autocorrelation_matches_a_direct_computation() {
        // Residuals alternate +1, −1 by day: φ = −1, clamped to 0; a slow wave is near 1.
        let beta = [0.0; FEATURES];
        let row = |day: i64, y: f64| Row {
            series: 0,
            day,
            moment: 0,
            x: [0.0; FEATURES],
            y,
        };
        let alternating: Vec<Row> = (0..20)
            .map(|d| row(d, if d % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        assert_eq!(residual_structure(&alternating, &beta, 0).1, 0.0);
        let wave: Vec<Row> = (0..200).map(|d| row(d, (d as f64 / 15.0).sin())).collect();
        let (_, phi) = residual_structure(&wave, &beta, 0);
        let e: Vec<f64> = (0..200).map(|d| (d as f64 / 15.0).sin()).collect();
        let direct =
            e.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / e.iter().map(|v| v * v).sum::<f64>();
        assert!((phi - direct.min(0.9)).abs() < 1e-12);
    }

    fn simulated(athletes: u64, bmq_noise_only: bool) -> Vec<History> {
        use crate::training_simulation::{training_block, TrainingBlock};
        use rand::{Rng, SeedableRng};
        let race_day = NaiveDate::from_ymd_opt(2026, 6, 20).unwrap();
        let first = race_day - chrono::Duration::days(16 * 7);
        let mut noise = rand::rngs::StdRng::seed_from_u64(99);
        (0..athletes)
            .map(|seed| {
                let samples = training_block(&TrainingBlock {
                    seed,
                    race_day,
                    weeks: 16,
                    volume: 0.7 + 0.1 * (seed % 7) as f64,
                    bmq: true,
                });
                let mut days =
                    days_from(&samples, first, race_day - chrono::Duration::days(1), |a| {
                        crate::training::session_rpe_load(a.rpe.unwrap_or(0.0), a.duration_s / 60.0)
                    });
                if bmq_noise_only {
                    // Ratings that answer to nothing: the athlete's level and noise.
                    let level = 3.0 + seed as f64 % 4.0;
                    for d in &mut days {
                        for y in d.bmq.iter_mut().flatten() {
                            *y = (level + noise.gen_range(-2.0..2.0_f64)).round();
                        }
                    }
                }
                History { first_day: 0, days }
            })
            .collect()
    }

    #[test]
    fn days_group_samples_by_date_and_moment() {
        let history = simulated(1, false);
        let days = &history[0].days;
        assert_eq!(days.len(), 112);
        // Mondays are rest days in the block: no load; other days carry RPE × minutes.
        let loads = days.iter().filter(|d| d.load > 0.0).count();
        assert_eq!(loads, 96);
        assert!(days
            .iter()
            .all(|d| d.sleep_minutes.is_some() && d.calories.is_some()));
    }

    #[test]
    fn on_simulated_blocks_the_forecast_beats_both_baselines_out_of_sample() {
        let result = backtest(&simulated(10, false), 7, 7);
        println!("{result:#?}");
        let o = result.overall;
        assert!(o.forecasts > 3000, "{result:?}");
        assert!(o.beats_baselines(), "{result:?}");
        assert!(result.personal.beats_baselines(), "{result:?}");
        assert!(
            (0.6..0.95).contains(&o.coverage),
            "80 % intervals: {result:?}"
        );
    }

    #[test]
    fn ratings_that_answer_to_nothing_are_not_forecast_better_than_the_mean() {
        let result = backtest(&simulated(10, true), 7, 7);
        let o = result.overall;
        assert!(o.model_mae > 0.97 * o.mean_mae, "{result:?}");
    }

    #[test]
    fn the_backtests_baselines_match_a_direct_computation() {
        // One athlete, no prior: the model is the own mean per moment, which for one moment
        // equals the mean baseline; the last value is the previous day's.
        let days: Vec<Day> = [4.0, 6.0, 5.0, 7.0, 3.0, 6.0, 8.0, 2.0, 9.0]
            .iter()
            .map(|y| Day {
                bmq: [Some(*y), None, None, None],
                ..Day::default()
            })
            .collect();
        let r = backtest(&[History { first_day: 0, days }], 1, 1);
        // Origins 7 (predict day 7 = 2.0) and 8 (predict day 8 = 9.0).
        let mean7 = (4.0 + 6.0 + 5.0 + 7.0 + 3.0 + 6.0 + 8.0) / 7.0;
        let mean8 = (mean7 * 7.0 + 2.0) / 8.0;
        let expected_mean = ((mean7 - 2.0_f64).abs() + (mean8 - 9.0_f64).abs()) / 2.0;
        let expected_last = ((8.0 - 2.0_f64).abs() + (2.0 - 9.0_f64).abs()) / 2.0;
        assert_eq!(r.origins, 2);
        assert!((r.overall.mean_mae - expected_mean).abs() < 1e-9, "{r:?}");
        assert!(
            (r.overall.last_value_mae - expected_last).abs() < 1e-9,
            "{r:?}"
        );
    }
}
