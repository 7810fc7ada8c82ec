//! Simulated training blocks for the demo and the benchmarks: an athlete's weeks before a race
//! (three building weeks and a lighter one, rising, then a two-week taper), with sleep, HRV,
//! resting heart rate and nutrition that answer to the load, and perceived fatigue (BMQ) that
//! answers to both, with noise.
//!
//! The simulator's fatigue is deliberately not the forecast's model: a hidden fatigue that
//! decays with a 5-day time constant (not the PMC's 7 and 42), a sleep debt that builds up over
//! nights, day-to-day illness-like swings (AR(1), ρ = 0.7), and integer ratings with noise.
//! What the forecast learns of it, it must learn from the data.

use crate::timing::Timestamp;
use crate::wellness::{
    Activity, Bmq, BmqMoment, Health, Measurement, Nutrition, Sleep, WellnessSample,
};
use chrono::{Datelike, NaiveDate, Weekday};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// An athlete's training block ending on race day.
#[derive(Debug, Clone, Copy)]
pub struct TrainingBlock {
    pub seed: u64,
    /// The race day (the block ends the day before).
    pub race_day: NaiveDate,
    pub weeks: u32,
    /// Scales every session's duration (0.6–1.4 across a population).
    pub volume: f64,
    /// Whether to record ratings of perceived fatigue.
    pub bmq: bool,
}

fn at(date: NaiveDate, hour: u32, minute: u32) -> Timestamp {
    Timestamp::from_chrono(
        date.and_hms_opt(hour, minute, 0)
            .unwrap_or_default()
            .and_utc(),
    )
}

/// A session's minutes and RPE on `weekday` of week `week` (0-based) of `weeks`.
fn session(week: u32, weeks: u32, weekday: Weekday) -> Option<(f64, f64)> {
    let (minutes, rpe) = match weekday {
        Weekday::Mon => return None,
        Weekday::Tue => (60.0, 7.5),
        Weekday::Wed => (45.0, 4.0),
        Weekday::Thu => (70.0, 7.0),
        Weekday::Fri => (40.0, 3.5),
        Weekday::Sat => (95.0, 6.5),
        Weekday::Sun => (35.0, 3.0),
    };
    let taper_from = weeks.saturating_sub(2);
    let scale = if week >= taper_from {
        // The taper: 65 %, then 40 % of the volume.
        if week == taper_from {
            0.65
        } else {
            0.4
        }
    } else if week % 4 == 3 {
        0.6
    } else {
        // Each block of four weeks starts higher; each week of it adds more.
        0.8 + 0.08 * f64::from(week / 4) + 0.1 * f64::from(week % 4)
    };
    Some((minutes * scale, rpe))
}

/// The block's samples, oldest first.
pub fn training_block(block: &TrainingBlock) -> Vec<WellnessSample> {
    let mut rng = StdRng::seed_from_u64(block.seed);
    let gauss = |sd: f64| Normal::new(0.0, sd).expect("a positive standard deviation");
    let sensitivity = rng.gen_range(0.7..1.3);
    let base_bmq = rng.gen_range(2.5..4.5);
    let sleep_need = 450.0 + gauss(25.0).sample(&mut rng);
    let rmssd = rng.gen_range(40.0..95.0_f64);
    let resting = rng.gen_range(44.0..60.0);
    let weight = rng.gen_range(55.0..95.0);
    let days = block.weeks as i64 * 7;
    let first = block.race_day - chrono::Duration::days(days);
    let (mut fatigue, mut debt, mut swing) = (0.0_f64, 0.0_f64, 0.0_f64);
    let mut samples = Vec::new();
    let mut push = |at: Timestamp, source_id: String, measurement: Measurement| {
        samples.push(WellnessSample {
            at,
            source_id,
            measurement,
        })
    };
    for i in 0..days {
        let date = first + chrono::Duration::days(i);
        let week = (i / 7) as u32;
        let planned = session(week, block.weeks, date.weekday());
        // Sleep answers to yesterday's fatigue; debt builds over short nights.
        let slept =
            (sleep_need - 40.0 * fatigue + gauss(35.0).sample(&mut rng)).clamp(240.0, 660.0);
        debt = 0.7 * debt + (sleep_need - slept).max(-60.0) / 60.0;
        swing = 0.7 * swing + gauss(0.35).sample(&mut rng);
        let id = |kind: &str| format!("sim-{kind}-{date}");
        let rem = (21.0 + gauss(2.0).sample(&mut rng))
            .clamp(10.0, 30.0)
            .round();
        push(
            at(date, 6, 30),
            id("sleep"),
            Measurement::Sleep(Sleep {
                total_minutes: slept.round(),
                rem_pct: Some(rem),
                light_pct: Some(77.0 - rem),
                deep_pct: Some(17.0),
                awake_pct: Some(6.0),
            }),
        );
        let morning_state = fatigue + 0.35 * debt + swing;
        push(
            at(date, 7, 0),
            id("health"),
            Measurement::Health(Health {
                calories_burned: None,
                average_hr: None,
                resting_hr: Some(
                    (resting + 1.5 * morning_state + gauss(1.2).sample(&mut rng)).round(),
                ),
                hrv_rmssd_ms: Some(
                    (rmssd * (-0.1 * morning_state + gauss(0.07).sample(&mut rng)).exp())
                        .clamp(5.0, 250.0)
                        .round(),
                ),
                steps: Some((8000.0 + gauss(2500.0).sample(&mut rng)).max(500.0).round()),
                elevation_m: None,
                weight_kg: Some(((weight + gauss(0.4).sample(&mut rng)) * 10.0).round() / 10.0),
            }),
        );
        let load = planned.map_or(0.0, |(minutes, rpe)| {
            let minutes = (minutes * block.volume * (1.0 + gauss(0.1).sample(&mut rng))).max(15.0);
            let rpe = (rpe + 0.4 * fatigue + gauss(0.5).sample(&mut rng)).clamp(1.0, 10.0);
            let hr = (resting + (185.0 - resting) * (0.45 + 0.045 * rpe)).min(200.0);
            push(
                at(date, 17, 30),
                id("activity"),
                Measurement::Activity(Activity {
                    sport: if date.weekday() == Weekday::Sat {
                        "hyrox".into()
                    } else {
                        "run".into()
                    },
                    duration_s: (minutes * 60.0).round(),
                    distance_m: Some((minutes * 60.0 / 330.0 * 1000.0).round()),
                    average_hr: Some(hr.round()),
                    elevation_gain_m: Some((minutes * 1.5).round()),
                    average_pace_s_per_km: Some(330.0),
                    rpe: Some((rpe * 2.0).round() / 2.0),
                }),
            );
            rpe * minutes
        });
        push(
            at(date, 21, 0),
            id("nutrition"),
            Measurement::Nutrition(Nutrition {
                calories: (2200.0 + 1.6 * load + gauss(180.0).sample(&mut rng)).round(),
                carbohydrates_pct: Some(52.0),
                proteins_pct: Some(22.0),
                fats_pct: Some(26.0),
            }),
        );
        if block.bmq {
            let moments = [
                (BmqMoment::Morning, 7, 0.2 + morning_state),
                (BmqMoment::PreWorkout, 17, morning_state - 0.1),
                (
                    BmqMoment::PostWorkout,
                    19,
                    morning_state + sensitivity * load / 300.0,
                ),
                (
                    BmqMoment::Evening,
                    22,
                    morning_state + 0.3 + sensitivity * load / 500.0,
                ),
            ];
            for (moment, hour, state) in moments {
                let skipped = rng.gen_bool(0.1)
                    || (planned.is_none()
                        && matches!(moment, BmqMoment::PreWorkout | BmqMoment::PostWorkout));
                let value = base_bmq + state + gauss(0.6).sample(&mut rng);
                if !skipped {
                    push(
                        at(date, hour, 0),
                        format!("sim-bmq-{date}-{moment:?}"),
                        Measurement::Bmq(Bmq {
                            value: value.round().clamp(1.0, 10.0),
                            moment,
                        }),
                    );
                }
            }
        }
        // The day's load turns into fatigue that decays with a 5-day time constant.
        fatigue = fatigue * (-1.0_f64 / 5.0).exp() + sensitivity * load / 900.0;
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wellness::SampleKind;

    #[test]
    fn a_block_builds_then_tapers_and_every_sample_is_valid() {
        let race_day = NaiveDate::from_ymd_opt(2026, 6, 20).unwrap();
        let block = TrainingBlock {
            seed: 7,
            race_day,
            weeks: 16,
            volume: 1.0,
            bmq: true,
        };
        let samples = training_block(&block);
        assert_eq!(samples, training_block(&block), "deterministic by seed");
        assert!(samples.iter().all(|s| s.measurement.check().is_ok()));
        assert!(samples
            .iter()
            .all(|s| s.at.to_chrono().date_naive() < race_day));
        let minutes_in_week = |w: i64| -> f64 {
            samples
                .iter()
                .filter_map(|s| match &s.measurement {
                    Measurement::Activity(a) => Some((s.at.to_chrono().date_naive(), a.duration_s)),
                    _ => None,
                })
                .filter(|(d, _)| {
                    (*d - (race_day - chrono::Duration::days(112))).num_days() / 7 == w
                })
                .map(|(_, s)| s / 60.0)
                .sum()
        };
        assert!(minutes_in_week(10) > minutes_in_week(8), "building");
        assert!(minutes_in_week(15) < 0.6 * minutes_in_week(13), "the taper");
        let ratings = samples
            .iter()
            .filter(|s| s.kind() == SampleKind::Bmq)
            .count();
        assert!((300..448).contains(&ratings), "{ratings}");
    }
}
