//! An athlete's training and wellness data: one sample per kind and time — an activity,
//! a day's nutrition, a night's sleep, health readings, and perceived fatigue (the "Beast
//! Mode Quotient", BMQ, 1–10, four times a day). Each sample comes from a source with its own
//! id, which makes recording idempotent; a sample that cannot be true is refused with the
//! field that is wrong.

use crate::timing::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a sample measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SampleKind {
    Activity,
    Nutrition,
    Sleep,
    Health,
    Bmq,
}

impl SampleKind {
    pub const ALL: [SampleKind; 5] = [
        SampleKind::Activity,
        SampleKind::Nutrition,
        SampleKind::Sleep,
        SampleKind::Health,
        SampleKind::Bmq,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SampleKind::Activity => "ACTIVITY",
            SampleKind::Nutrition => "NUTRITION",
            SampleKind::Sleep => "SLEEP",
            SampleKind::Health => "HEALTH",
            SampleKind::Bmq => "BMQ",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for SampleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When in the day a BMQ was rated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BmqMoment {
    Morning,
    PreWorkout,
    PostWorkout,
    Evening,
}

/// A training session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Activity {
    /// `run`, `bike`, `hyrox`, `strength`, … (free text, lowercased).
    pub sport: String,
    pub duration_s: f64,
    pub distance_m: Option<f64>,
    pub average_hr: Option<f64>,
    pub elevation_gain_m: Option<f64>,
    /// Seconds per kilometre.
    pub average_pace_s_per_km: Option<f64>,
    /// The session's rating of perceived exertion, 0–10 (Foster's session RPE).
    pub rpe: Option<f64>,
}

/// One UTC day's training sessions, as a daily rollup keeps them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivityDay {
    pub date: chrono::NaiveDate,
    /// Session RPE × minutes of the day's rated sessions.
    pub rpe_load: f64,
    /// Sessions without an RPE (their load is TRIMP, from the athlete's heart profile).
    pub unrated: u64,
}

/// A day's intake.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Nutrition {
    pub calories: f64,
    pub carbohydrates_pct: Option<f64>,
    pub proteins_pct: Option<f64>,
    pub fats_pct: Option<f64>,
}

/// A night's sleep.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sleep {
    pub total_minutes: f64,
    pub rem_pct: Option<f64>,
    pub light_pct: Option<f64>,
    pub deep_pct: Option<f64>,
    pub awake_pct: Option<f64>,
}

/// A day's health readings, as a device gives them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Health {
    pub calories_burned: Option<f64>,
    pub average_hr: Option<f64>,
    pub resting_hr: Option<f64>,
    /// Morning rMSSD, ms.
    pub hrv_rmssd_ms: Option<f64>,
    pub steps: Option<f64>,
    pub elevation_m: Option<f64>,
    pub weight_kg: Option<f64>,
}

/// Perceived fatigue (the Beast Mode Quotient), 1–10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bmq {
    pub value: f64,
    pub moment: BmqMoment,
}

/// What one sample says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Measurement {
    Activity(Activity),
    Nutrition(Nutrition),
    Sleep(Sleep),
    Health(Health),
    Bmq(Bmq),
}

impl Measurement {
    pub fn kind(&self) -> SampleKind {
        match self {
            Measurement::Activity(_) => SampleKind::Activity,
            Measurement::Nutrition(_) => SampleKind::Nutrition,
            Measurement::Sleep(_) => SampleKind::Sleep,
            Measurement::Health(_) => SampleKind::Health,
            Measurement::Bmq(_) => SampleKind::Bmq,
        }
    }

    /// Refuses what cannot be true, naming the field.
    pub fn check(&self) -> Result<(), String> {
        let within = |field: &str, value: f64, low: f64, high: f64| {
            if value.is_finite() && (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(format!("{field}: {value} is not within {low}–{high}"))
            }
        };
        let maybe = |field: &str, value: Option<f64>, low: f64, high: f64| match value {
            Some(v) => within(field, v, low, high),
            None => Ok(()),
        };
        let shares = |fields: &[(&str, Option<f64>)]| {
            for (field, value) in fields {
                maybe(field, *value, 0.0, 100.0)?;
            }
            let sum: f64 = fields.iter().filter_map(|(_, v)| *v).sum();
            if sum > 100.5 {
                return Err(format!(
                    "{}: the shares add up to {sum:.1} %, more than 100 %",
                    fields
                        .iter()
                        .map(|(f, _)| *f)
                        .collect::<Vec<_>>()
                        .join(" + ")
                ));
            }
            Ok(())
        };
        match self {
            Measurement::Activity(a) => {
                if a.sport.trim().is_empty() {
                    return Err("sport: empty".into());
                }
                within("durationS", a.duration_s, 1.0, 7.0 * 24.0 * 3600.0)?;
                maybe("distanceM", a.distance_m, 0.0, 1_000_000.0)?;
                maybe("averageHr", a.average_hr, 25.0, 250.0)?;
                maybe("elevationGainM", a.elevation_gain_m, 0.0, 50_000.0)?;
                maybe("averagePaceSPerKm", a.average_pace_s_per_km, 60.0, 3600.0)?;
                maybe("rpe", a.rpe, 0.0, 10.0)
            }
            Measurement::Nutrition(n) => {
                within("calories", n.calories, 0.0, 20_000.0)?;
                shares(&[
                    ("carbohydratesPct", n.carbohydrates_pct),
                    ("proteinsPct", n.proteins_pct),
                    ("fatsPct", n.fats_pct),
                ])
            }
            Measurement::Sleep(s) => {
                within("totalMinutes", s.total_minutes, 0.0, 24.0 * 60.0)?;
                shares(&[
                    ("remPct", s.rem_pct),
                    ("lightPct", s.light_pct),
                    ("deepPct", s.deep_pct),
                    ("awakePct", s.awake_pct),
                ])
            }
            Measurement::Health(h) => {
                maybe("caloriesBurned", h.calories_burned, 0.0, 20_000.0)?;
                maybe("averageHr", h.average_hr, 25.0, 250.0)?;
                maybe("restingHr", h.resting_hr, 25.0, 150.0)?;
                maybe("hrvRmssdMs", h.hrv_rmssd_ms, 1.0, 500.0)?;
                maybe("steps", h.steps, 0.0, 200_000.0)?;
                maybe("elevationM", h.elevation_m, -500.0, 9_000.0)?;
                maybe("weightKg", h.weight_kg, 20.0, 400.0)
            }
            Measurement::Bmq(b) => within("value", b.value, 1.0, 10.0),
        }
    }
}

/// One sample of an athlete's data.
#[derive(Debug, Clone, PartialEq)]
pub struct WellnessSample {
    /// When it was measured (an activity's start, a night's end, a day's date at midnight UTC).
    pub at: Timestamp,
    /// The source's own id: the same sample sent again is recognised.
    pub source_id: String,
    pub measurement: Measurement,
}

impl WellnessSample {
    /// A checked sample (source id present and short, measurement possible).
    pub fn new(at: Timestamp, source_id: &str, measurement: Measurement) -> Result<Self, String> {
        let source_id = source_id.trim();
        if source_id.is_empty() || source_id.len() > 200 {
            return Err("sourceId: must be 1–200 characters".into());
        }
        measurement.check()?;
        Ok(Self {
            at,
            source_id: source_id.to_owned(),
            measurement,
        })
    }

    pub fn kind(&self) -> SampleKind {
        self.measurement.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleep(total: f64, rem: Option<f64>, deep: Option<f64>) -> Measurement {
        Measurement::Sleep(Sleep {
            total_minutes: total,
            rem_pct: rem,
            deep_pct: deep,
            ..Default::default()
        })
    }

    #[test]
    fn impossible_samples_are_refused_by_field() {
        let at = Timestamp(0);
        assert!(WellnessSample::new(at, "s1", sleep(450.0, Some(22.0), Some(18.0))).is_ok());
        let why = |m: Measurement| WellnessSample::new(at, "s1", m).unwrap_err();
        assert!(why(sleep(1500.0, None, None)).starts_with("totalMinutes"));
        assert!(why(sleep(450.0, Some(70.0), Some(40.0))).contains("more than 100 %"));
        assert!(why(Measurement::Bmq(Bmq {
            value: 11.0,
            moment: BmqMoment::Morning
        }))
        .starts_with("value"));
        assert!(why(Measurement::Health(Health {
            resting_hr: Some(f64::NAN),
            ..Default::default()
        }))
        .starts_with("restingHr"));
        assert!(why(Measurement::Activity(Activity {
            sport: "run".into(),
            duration_s: 3600.0,
            rpe: Some(12.0),
            ..Default::default()
        }))
        .starts_with("rpe"));
        assert_eq!(
            WellnessSample::new(at, " ", sleep(450.0, None, None)).unwrap_err(),
            "sourceId: must be 1–200 characters"
        );
    }

    #[test]
    fn measurements_round_trip_as_json_with_their_kind() {
        let m = Measurement::Bmq(Bmq {
            value: 6.0,
            moment: BmqMoment::PreWorkout,
        });
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "bmq": { "value": 6.0, "moment": "PRE_WORKOUT" } })
        );
        assert_eq!(serde_json::from_value::<Measurement>(json).unwrap(), m);
        assert_eq!(m.kind(), SampleKind::Bmq);
        for kind in SampleKind::ALL {
            assert_eq!(SampleKind::parse(kind.as_str()), Some(kind));
        }
        let unknown = serde_json::from_value::<Measurement>(
            serde_json::json!({ "sleep": { "totalMinutes": 400, "snoring": 3 } }),
        );
        assert!(unknown.unwrap_err().to_string().contains("snoring"));
    }
}
