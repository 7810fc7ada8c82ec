//! Training and wellness: an athlete's samples in (idempotent, each bad row named), and the
//! models over them (`podium_domain::training`): daily load, fitness, fatigue, form and the
//! acute:chronic ratio; readiness; the load for a target form. Only the athlete, coaches they
//! granted access and admins read them (scope `training:read`); only the athlete (or an
//! integration acting for them, its token naming the athlete) and admins write
//! (`training:write`). Nothing here is ever public.

use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use chrono::{Datelike, NaiveDate};
use podium_domain::division::Gender;
use podium_domain::ports::WellnessOutcome;
use podium_domain::timing::Timestamp;
use podium_domain::training::{
    form, load_for, readiness as readiness_of, session_rpe_load, trimp, FormDay, LoadFor,
    Readiness, Start, TrimpSex, WellnessDay,
};
use podium_domain::wellness::{Measurement, SampleKind, WellnessSample};
use std::collections::BTreeMap;
use uuid::Uuid;

/// History read before the first day asked for, so fitness (τ = 42 days) has settled.
const WARM_UP_DAYS: i64 = 180;
/// Longest range of one `trainingLoad` answer.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Resting and maximum heart rate when the athlete's data does not say (TRIMP).
const DEFAULT_RESTING_HR: f64 = 60.0;
const DEFAULT_MAX_HR: f64 = 190.0;

/// The athlete themself, a coach they granted access, or an admin, with `training:read`.
pub async fn may_read(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
) -> Result<(), ApiError> {
    crate::app::athletes::may_read_as_granted(state, viewer, athlete_id, Scope::TrainingRead).await
}

/// The athlete themself (or an integration whose token names them), or an admin, with
/// `training:write`.
pub fn may_write(viewer: &Principal, athlete_id: Uuid) -> Result<(), ApiError> {
    viewer.require(Scope::TrainingWrite)?;
    if viewer.is_admin() || viewer.athlete_id() == Some(athlete_id) {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "only the athlete (or an integration acting for them) and admins record training data"
            .into(),
    ))
}

async fn athlete_exists(state: &AppState, athlete_id: Uuid) -> Result<(), ApiError> {
    match state.athletes.athlete(athlete_id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!("athlete {athlete_id}"))),
    }
}

/// One refused row of a batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
}

/// What recording a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WellnessReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejection>,
}

/// Records `athlete_id`'s samples; rows that could not be read arrive as `Err(reason)` and
/// are named in the report, the good ones kept.
pub async fn record(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    rows: Vec<Result<WellnessSample, String>>,
) -> Result<WellnessReport, ApiError> {
    may_write(viewer, athlete_id)?;
    if rows.len() > state.settings.max_batch {
        return Err(ApiError::BadRequest(format!(
            "a batch holds at most {} samples, this one {}",
            state.settings.max_batch,
            rows.len()
        )));
    }
    athlete_exists(state, athlete_id).await?;
    let mut report = WellnessReport::default();
    let mut valid = Vec::with_capacity(rows.len());
    for (index, row) in rows.into_iter().enumerate() {
        match row {
            Ok(sample) => valid.push(sample),
            Err(reason) => report.rejected.push(Rejection { index, reason }),
        }
    }
    let latest_activity = latest_activity_day(&valid);
    let WellnessOutcome {
        accepted,
        duplicates,
    } = state.wellness.record_wellness(athlete_id, valid).await?;
    report.accepted = accepted;
    report.duplicates = duplicates;
    if accepted > 0 {
        alert_after_activities(state, athlete_id, latest_activity).await;
    }
    Ok(report)
}

fn latest_activity_day(samples: &[WellnessSample]) -> Option<NaiveDate> {
    samples
        .iter()
        .filter(|s| s.kind() == SampleKind::Activity)
        .map(|s| s.at.to_chrono().date_naive())
        .max()
}

/// Sends `athlete.fatigue_alert` when the day of the latest new activity left the safe band;
/// a failure to is logged, not the recording's (the samples are stored).
async fn alert_after_activities(state: &AppState, athlete_id: Uuid, day: Option<NaiveDate>) {
    let Some(day) = day else {
        return;
    };
    if let Err(e) = crate::app::fatigue::alert_if_crossed(state, athlete_id, day).await {
        tracing::warn!(error = %e, athlete = %athlete_id, %day, "fatigue alert");
    }
}

/// A sample as a client sends it: `kind`, `at`, `sourceId` and the kind's fields, e.g.
/// `{"kind":"SLEEP","at":"2026-03-14T06:30:00Z","sourceId":"oura-123","totalMinutes":455}`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawSample {
    pub kind: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub source_id: String,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl RawSample {
    /// The checked sample, or what is wrong with it (the field named).
    pub fn into_sample(self) -> Result<WellnessSample, String> {
        let kind = SampleKind::parse(&self.kind).ok_or_else(|| {
            format!(
                "kind: `{}` is not one of ACTIVITY, NUTRITION, SLEEP, HEALTH, BMQ",
                self.kind
            )
        })?;
        let tagged = serde_json::json!({ kind.as_str().to_ascii_lowercase(): self.fields });
        let measurement: Measurement =
            serde_json::from_value(tagged).map_err(|e| format!("{kind}: {e}"))?;
        WellnessSample::new(
            Timestamp::from_chrono(self.at),
            &self.source_id,
            measurement,
        )
    }
}

/// What recording an activity file did, and what podium read from it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityFileReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub format: &'static str,
    pub at: chrono::DateTime<chrono::Utc>,
    pub activity: podium_domain::wellness::Activity,
}

/// Records an activity file (GPX, TCX or FIT) as one `ACTIVITY` sample summarised from its
/// track; the file's SHA-256 is the source id, so the same file sent again is a duplicate.
/// `sport` wins over the file's own.
pub async fn record_activity_file(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    bytes: &[u8],
    sport: Option<String>,
) -> Result<ActivityFileReport, ApiError> {
    use sha2::Digest;
    may_write(viewer, athlete_id)?;
    athlete_exists(state, athlete_id).await?;
    let file = crate::app::activity_files::read(bytes).map_err(ApiError::BadRequest)?;
    let summary = podium_domain::training::summarize(&file.points).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "the {} file holds fewer than two timed track points",
            file.format
        ))
    })?;
    let pace = summary
        .distance_m
        .filter(|d| *d > 0.0)
        .map(|d| summary.duration_s / (d / 1000.0))
        .filter(|p| (60.0..=3600.0).contains(p));
    let activity = podium_domain::wellness::Activity {
        sport: sport
            .or(file.sport)
            .map_or_else(|| "other".to_owned(), |s| s.trim().to_lowercase()),
        duration_s: summary.duration_s,
        distance_m: summary.distance_m,
        average_hr: summary.average_hr,
        elevation_gain_m: summary.elevation_gain_m,
        average_pace_s_per_km: pace,
        rpe: None,
    };
    let digest = hex::encode(sha2::Sha256::digest(bytes));
    let at = Timestamp(summary.start_ms);
    let sample = WellnessSample::new(
        at,
        &format!("file:{}", &digest[..32]),
        Measurement::Activity(activity.clone()),
    )
    .map_err(|e| ApiError::BadRequest(format!("the {} file's summary: {e}", file.format)))?;
    let day = latest_activity_day(std::slice::from_ref(&sample));
    let outcome = state
        .wellness
        .record_wellness(athlete_id, vec![sample])
        .await?;
    if outcome.accepted > 0 {
        alert_after_activities(state, athlete_id, day).await;
    }
    Ok(ActivityFileReport {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        format: file.format,
        at: at.to_chrono(),
        activity,
    })
}

/// A day of the training-load chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingDay {
    pub date: NaiveDate,
    pub day: FormDay,
}

pub(crate) fn midnight(date: NaiveDate) -> Timestamp {
    Timestamp::from_chrono(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// How the athlete's heart rate turns into TRIMP: sex, resting and maximum.
pub(crate) struct HeartProfile {
    sex: TrimpSex,
    resting: f64,
    max: f64,
}

pub(crate) async fn heart_profile(
    state: &AppState,
    athlete_id: Uuid,
    health: &[WellnessSample],
    on: NaiveDate,
) -> Result<HeartProfile, ApiError> {
    let athlete = state.athletes.athlete(athlete_id).await?;
    let sex = match athlete.as_ref().map(|a| a.gender) {
        Some(Gender::Women) => TrimpSex::Female,
        _ => TrimpSex::Male,
    };
    let max = athlete
        .and_then(|a| a.birth_year)
        .map_or(DEFAULT_MAX_HR, |year| 220.0 - f64::from(on.year() - year));
    let mut resting: Vec<f64> = health
        .iter()
        .filter_map(|s| match &s.measurement {
            Measurement::Health(h) => h.resting_hr,
            _ => None,
        })
        .collect();
    resting.sort_by(f64::total_cmp);
    let resting = resting
        .get(resting.len() / 2)
        .copied()
        .unwrap_or(DEFAULT_RESTING_HR);
    Ok(HeartProfile { sex, resting, max })
}

/// A session's load: session RPE × minutes when the session was rated, else TRIMP from its
/// average heart rate; a session with neither counts nothing.
pub(crate) fn load_of(a: &podium_domain::wellness::Activity, heart: &HeartProfile) -> f64 {
    let minutes = a.duration_s / 60.0;
    match (a.rpe, a.average_hr) {
        (Some(rpe), _) => session_rpe_load(rpe, minutes),
        (None, Some(hr)) => trimp(minutes, hr, heart.resting, heart.max, heart.sex).unwrap_or(0.0),
        (None, None) => 0.0,
    }
}

/// The daily loads of `activities`, by UTC date (see [`load_of`]).
fn daily_loads(activities: &[WellnessSample], heart: &HeartProfile) -> BTreeMap<NaiveDate, f64> {
    let mut days = BTreeMap::new();
    for sample in activities {
        let Measurement::Activity(a) = &sample.measurement else {
            continue;
        };
        let load = load_of(a, heart);
        *days
            .entry(sample.at.to_chrono().date_naive())
            .or_insert(0.0) += load;
    }
    days
}

/// The daily loads of `[start, end)` from the database's daily rollup, where it keeps one and
/// every session of the stretch was rated (session RPE × minutes, summed per UTC day as
/// [`daily_loads`] does); `None` otherwise — a session without RPE needs the heart profile and
/// the raw samples.
async fn rolled_up_loads(
    state: &AppState,
    athlete_id: Uuid,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Option<BTreeMap<NaiveDate, f64>>, ApiError> {
    let Some(days) = state
        .wellness
        .activity_days(athlete_id, midnight(start), midnight(end))
        .await?
    else {
        return Ok(None);
    };
    if days.iter().any(|d| d.unrated > 0) {
        return Ok(None);
    }
    Ok(Some(
        days.into_iter().map(|d| (d.date, d.rpe_load)).collect(),
    ))
}

/// The training-load chart of `athlete_id` from `from` to `to` (inclusive), computed from the
/// athlete's history since up to 180 days before `from`.
pub async fn training_load(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<TrainingDay>, ApiError> {
    may_read(state, viewer, athlete_id).await?;
    if to < from || (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(ApiError::BadRequest(format!(
            "from, to: {from} to {to} is not a range of 1 to {MAX_RANGE_DAYS} days"
        )));
    }
    chart(state, athlete_id, from, to).await
}

pub(crate) async fn chart(
    state: &AppState,
    athlete_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<TrainingDay>, ApiError> {
    let start = from - chrono::Duration::days(WARM_UP_DAYS);
    let end = to + chrono::Duration::days(1);
    let loads = match rolled_up_loads(state, athlete_id, start, end).await? {
        Some(loads) => loads,
        None => {
            let samples = state
                .wellness
                .wellness(
                    athlete_id,
                    &[SampleKind::Activity, SampleKind::Health],
                    midnight(start),
                    midnight(end),
                )
                .await?;
            let (activities, health): (Vec<_>, Vec<_>) = samples
                .into_iter()
                .partition(|s| s.kind() == SampleKind::Activity);
            let heart = heart_profile(state, athlete_id, &health, to).await?;
            daily_loads(&activities, &heart)
        }
    };
    // The chart starts at the first day with a load (fitness and fatigue at zero before it).
    let first = loads.keys().next().copied().unwrap_or(from).min(from);
    let dates: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= to).collect();
    let series: Vec<f64> = dates
        .iter()
        .map(|d| loads.get(d).copied().unwrap_or(0.0))
        .collect();
    Ok(dates
        .into_iter()
        .zip(form(&series, Start::default()))
        .filter(|(date, _)| *date >= from)
        .map(|(date, day)| TrainingDay { date, day })
        .collect())
}

/// The mean BMQ of each day from `from` to `to` with ratings (the caller checked access).
pub async fn daily_bmq(
    state: &AppState,
    athlete_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, f64)>, ApiError> {
    let samples = state
        .wellness
        .wellness(
            athlete_id,
            &[SampleKind::Bmq],
            midnight(from),
            midnight(to + chrono::Duration::days(1)),
        )
        .await?;
    let mut days: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
    for sample in &samples {
        if let Measurement::Bmq(b) = &sample.measurement {
            let day = days.entry(sample.at.to_chrono().date_naive()).or_default();
            day.0 += b.value;
            day.1 += 1.0;
        }
    }
    Ok(days.into_iter().map(|(d, (sum, n))| (d, sum / n)).collect())
}

/// The athlete's readiness on `date`, against their own baselines.
pub async fn readiness(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    date: NaiveDate,
) -> Result<Readiness, ApiError> {
    may_read(state, viewer, athlete_id).await?;
    let acwr = chart(state, athlete_id, date, date)
        .await?
        .last()
        .and_then(|d| d.day.acwr);
    readiness_on(state, athlete_id, date, acwr).await
}

/// Readiness on `date` from the athlete's health and sleep samples, and that day's ACWR.
async fn readiness_on(
    state: &AppState,
    athlete_id: Uuid,
    date: NaiveDate,
    acwr: Option<f64>,
) -> Result<Readiness, ApiError> {
    let days = podium_domain::training::HRV_BASELINE_DAYS as i64;
    let first = date - chrono::Duration::days(days - 1);
    let samples = state
        .wellness
        .wellness(
            athlete_id,
            &[SampleKind::Health, SampleKind::Sleep],
            midnight(first),
            midnight(date + chrono::Duration::days(1)),
        )
        .await?;
    let mut by_day: BTreeMap<NaiveDate, WellnessDay> = first
        .iter_days()
        .take_while(|d| *d <= date)
        .map(|d| (d, WellnessDay::default()))
        .collect();
    for sample in &samples {
        let Some(day) = by_day.get_mut(&sample.at.to_chrono().date_naive()) else {
            continue;
        };
        match &sample.measurement {
            Measurement::Health(h) => {
                day.ln_rmssd = h.hrv_rmssd_ms.map(f64::ln).or(day.ln_rmssd);
                day.resting_hr = h.resting_hr.or(day.resting_hr);
            }
            // A night counts for the day it ends on.
            Measurement::Sleep(s) => day.sleep_minutes = Some(s.total_minutes),
            _ => {}
        }
    }
    let days: Vec<WellnessDay> = by_day.into_values().collect();
    Ok(readiness_of(&days, acwr))
}

/// The load to do on `date` to come into the next day at `target_tsb`.
pub async fn load_for_target(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    date: NaiveDate,
    target_tsb: f64,
) -> Result<LoadFor, ApiError> {
    may_read(state, viewer, athlete_id).await?;
    if !target_tsb.is_finite() {
        return Err(ApiError::BadRequest("targetTsb: not a number".into()));
    }
    let yesterday = date - chrono::Duration::days(1);
    let chart = chart(state, athlete_id, yesterday, yesterday).await?;
    let (ctl, atl) = chart.last().map_or((0.0, 0.0), |d| (d.day.ctl, d.day.atl));
    Ok(load_for(ctl, atl, target_tsb))
}

/// How an athlete came into a race.
#[derive(Debug, Clone, PartialEq)]
pub struct PreRace {
    /// Fitness and fatigue at the end of the day before.
    pub ctl: f64,
    pub atl: f64,
    /// Form going into race day.
    pub tsb: f64,
    /// The readiness score of race day, when its baselines allow one.
    pub readiness: Option<f64>,
    /// The last perceived fatigue (BMQ) rated on race day before the start, if any.
    pub bmq: Option<f64>,
}

/// How `athlete_id` came into a race starting at `start`, from their training data; `None`
/// when they recorded none in the 60 days before it. Never public: only who may read the
/// athlete's training data gets it.
pub async fn pre_race(
    state: &AppState,
    viewer: &Principal,
    athlete_id: Uuid,
    start: Timestamp,
) -> Result<Option<PreRace>, ApiError> {
    may_read(state, viewer, athlete_id).await?;
    let race_day = start.to_chrono().date_naive();
    let window = midnight(race_day - chrono::Duration::days(60));
    let recent = state
        .wellness
        .wellness(athlete_id, &[], window, start)
        .await?;
    if recent.is_empty() {
        return Ok(None);
    }
    let days = chart(
        state,
        athlete_id,
        race_day - chrono::Duration::days(1),
        race_day,
    )
    .await?;
    let [yesterday, today] = days.as_slice() else {
        return Ok(None);
    };
    let bmq = recent
        .iter()
        .rev()
        .filter(|s| s.at.to_chrono().date_naive() == race_day)
        .find_map(|s| match &s.measurement {
            Measurement::Bmq(b) => Some(b.value),
            _ => None,
        });
    let readiness = readiness_on(state, athlete_id, race_day, today.day.acwr)
        .await?
        .score;
    Ok(Some(PreRace {
        ctl: yesterday.day.ctl,
        atl: yesterday.day.atl,
        tsb: today.day.tsb,
        readiness,
        bmq,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use podium_domain::wellness::Activity;

    fn session(day: u32, rpe: Option<f64>, hr: Option<f64>) -> WellnessSample {
        let at = NaiveDate::from_ymd_opt(2026, 3, day)
            .unwrap()
            .and_hms_opt(18, 0, 0)
            .unwrap()
            .and_utc();
        WellnessSample {
            at: Timestamp::from_chrono(at),
            source_id: format!("s{day}{rpe:?}{hr:?}"),
            measurement: Measurement::Activity(Activity {
                sport: "run".into(),
                duration_s: 3600.0,
                rpe,
                average_hr: hr,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn raw_samples_become_checked_samples_or_say_what_is_wrong() {
        let raw = |v: serde_json::Value| {
            serde_json::from_value::<RawSample>(v)
                .map_err(|e| e.to_string())
                .and_then(RawSample::into_sample)
        };
        let sleep = raw(serde_json::json!({
            "kind": "SLEEP", "at": "2026-03-14T06:30:00Z", "sourceId": "oura-1",
            "totalMinutes": 455, "remPct": 21
        }))
        .unwrap();
        assert_eq!(sleep.kind(), SampleKind::Sleep);
        let err = |v| raw(v).unwrap_err();
        assert!(err(
            serde_json::json!({ "kind": "NAP", "at": "2026-03-14T06:30:00Z", "sourceId": "x" })
        )
        .starts_with("kind: `NAP`"));
        assert!(err(serde_json::json!({ "kind": "BMQ", "at": "2026-03-14T06:30:00Z", "sourceId": "x", "value": 4 }))
            .contains("moment"));
        assert!(err(serde_json::json!({ "kind": "BMQ", "at": "2026-03-14T06:30:00Z", "sourceId": "x", "value": 0, "moment": "MORNING" }))
            .starts_with("value"));
        assert!(err(serde_json::json!({ "kind": "SLEEP", "at": "2026-03-14T06:30:00Z", "sourceId": "x", "totalMinutes": 400, "snoring": 2 }))
            .contains("snoring"));
    }

    #[test]
    fn a_days_load_sums_its_sessions_by_rpe_else_heart_rate() {
        let heart = HeartProfile {
            sex: TrimpSex::Male,
            resting: 50.0,
            max: 200.0,
        };
        let loads = daily_loads(
            &[
                session(2, Some(6.0), Some(160.0)),
                session(2, None, Some(125.0)),
                session(3, None, None),
            ],
            &heart,
        );
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        // 6 × 60, plus TRIMP at half the reserve for an hour (50.1446…).
        assert!((loads[&day(2)] - (360.0 + 50.1446)).abs() < 1e-3);
        assert_eq!(loads[&day(3)], 0.0);
    }
}
