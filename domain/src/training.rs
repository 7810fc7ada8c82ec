//! Training load and form, after the models coaches already read:
//!
//! - **Session load**: Foster's session RPE (RPE × minutes) when the athlete rated the session,
//!   else Banister's TRIMP from heart rate (minutes × ΔHR × 0.64·e^(1.92·ΔHR) for men,
//!   0.86·e^(1.67·ΔHR) for women, ΔHR the heart-rate reserve fraction).
//! - **Fitness, fatigue, form** (TrainingPeaks' Performance Management Chart): CTL and ATL are
//!   exponentially weighted daily loads with time constants 42 and 7 days, updated as
//!   `x += k·(load − x)` with GoldenCheetah's `k = 1 − e^(−1/τ)`; a day's TSB is the form the
//!   athlete brings into it, the day before's CTL − ATL.
//! - **Acute:chronic workload ratio**, uncoupled: an EWMA of the last week's loads
//!   (λ = 2/(7+1)) over an EWMA of the 28 days before it (λ = 2/(28+1)) — the chronic average
//!   leaves the acute week out, so the two do not correlate by construction.
//! - **The load for a target form**: the load to do today so that tomorrow's TSB is the one
//!   asked for (the PMC's update solved for today's load).
//! - **Readiness** (after HRV4Training, Oura, Garmin, WHOOP): the last 7 days' mean of
//!   ln rMSSD against the athlete's 60-day baseline in smallest worthwhile changes (half a
//!   standard deviation), resting heart rate against its 28-day mean in beats, last night's
//!   sleep against its 28-day mean in hours, and the uncoupled ACWR against its safe band
//!   0.8–1.3. Each part scores 75 at the athlete's normal (100 at best, 0 at worst); the score
//!   is their mean, and a part whose baseline is too short is left out and named.
//!
//! Pure functions over daily series, oldest first; the caller turns sessions into days.

/// Time constant of fitness (CTL), days.
pub const CTL_DAYS: f64 = 42.0;
/// Time constant of fatigue (ATL), days.
pub const ATL_DAYS: f64 = 7.0;
/// Window of the acute load (ACWR), days.
pub const ACUTE_DAYS: usize = 7;
/// Window of the chronic load (ACWR), days.
pub const CHRONIC_DAYS: usize = 28;

/// The daily update weight of an exponentially weighted load with time constant `tau` days.
pub fn decay(tau: f64) -> f64 {
    1.0 - (-1.0 / tau).exp()
}

/// The EWMA weight of a window of `days` days: λ = 2/(N+1).
pub fn ewma_weight(days: usize) -> f64 {
    2.0 / (days as f64 + 1.0)
}

/// Foster's session RPE load: the session's rating (0–10) times its minutes.
pub fn session_rpe_load(rpe: f64, minutes: f64) -> f64 {
    rpe.clamp(0.0, 10.0) * minutes.max(0.0)
}

/// Sex for the TRIMP weighting (Banister's coefficients differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimpSex {
    Male,
    Female,
}

/// Banister's TRIMP of a session of `minutes` at `average_hr`, for an athlete resting at
/// `resting_hr` with a maximum of `max_hr`. `None` when the heart rates make no reserve.
pub fn trimp(
    minutes: f64,
    average_hr: f64,
    resting_hr: f64,
    max_hr: f64,
    sex: TrimpSex,
) -> Option<f64> {
    if max_hr <= resting_hr || minutes < 0.0 {
        return None;
    }
    let reserve = ((average_hr - resting_hr) / (max_hr - resting_hr)).clamp(0.0, 1.0);
    let (a, b) = match sex {
        TrimpSex::Male => (0.64, 1.92),
        TrimpSex::Female => (0.86, 1.67),
    };
    Some(minutes * reserve * a * (b * reserve).exp())
}

/// One day of the Performance Management Chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FormDay {
    pub load: f64,
    /// Fitness after the day's load.
    pub ctl: f64,
    /// Fatigue after the day's load.
    pub atl: f64,
    /// Form going into the day: the day before's CTL − ATL.
    pub tsb: f64,
    /// Uncoupled acute:chronic workload ratio after the day; `None` until there are
    /// `ACUTE_DAYS + CHRONIC_DAYS` days, or while the chronic load is zero.
    pub acwr: Option<f64>,
}

/// Where fitness and fatigue stood before the first day (zero for a new athlete).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Start {
    pub ctl: f64,
    pub atl: f64,
}

/// The chart of consecutive days' loads, oldest first.
pub fn form(loads: &[f64], start: Start) -> Vec<FormDay> {
    let (k_ctl, k_atl) = (decay(CTL_DAYS), decay(ATL_DAYS));
    let (l_acute, l_chronic) = (ewma_weight(ACUTE_DAYS), ewma_weight(CHRONIC_DAYS));
    let (mut ctl, mut atl) = (start.ctl, start.atl);
    let (mut acute, mut chronic) = (0.0, 0.0);
    let mut days = Vec::with_capacity(loads.len());
    for (i, &load) in loads.iter().enumerate() {
        let tsb = ctl - atl;
        ctl += k_ctl * (load - ctl);
        atl += k_atl * (load - atl);
        acute += l_acute * (load - acute);
        // The chronic average takes each day once it has left the acute week.
        if i >= ACUTE_DAYS {
            chronic += l_chronic * (loads[i - ACUTE_DAYS] - chronic);
        }
        let known = i + 1 >= ACUTE_DAYS + CHRONIC_DAYS;
        days.push(FormDay {
            load,
            ctl,
            atl,
            tsb,
            acwr: (known && chronic > 0.0).then(|| acute / chronic),
        });
    }
    days
}

/// The load to do today, after a day that ended at `yesterday`'s CTL and ATL, so that
/// tomorrow's TSB (today's CTL − ATL) is `target_tsb`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadFor {
    /// The load; 0 when even a rest day leaves the form below the target.
    pub load: f64,
    /// Whether that load reaches the target (false: rest, and the form stays below it).
    pub reachable: bool,
    /// Tomorrow's TSB after a rest day, for comparison.
    pub tsb_after_rest: f64,
}

pub fn load_for(yesterday_ctl: f64, yesterday_atl: f64, target_tsb: f64) -> LoadFor {
    let (k_ctl, k_atl) = (decay(CTL_DAYS), decay(ATL_DAYS));
    // Tomorrow's TSB = ctl·(1−k_ctl) − atl·(1−k_atl) + load·(k_ctl − k_atl), and
    // k_atl > k_ctl: every unit of load lowers tomorrow's form.
    let tsb_after_rest = yesterday_ctl * (1.0 - k_ctl) - yesterday_atl * (1.0 - k_atl);
    let load = (tsb_after_rest - target_tsb) / (k_atl - k_ctl);
    LoadFor {
        load: load.max(0.0),
        reachable: load >= 0.0,
        tsb_after_rest,
    }
}

/// One point of a recorded track (an activity file's samples).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrackPoint {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Degrees.
    pub position: Option<(f64, f64)>,
    pub elevation_m: Option<f64>,
    pub heart_rate: Option<f64>,
    /// Distance from the start as the device measured it (wheel, accelerometer, GPS).
    pub distance_m: Option<f64>,
}

/// What a track adds up to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackSummary {
    pub start_ms: i64,
    pub duration_s: f64,
    /// The device's distance when it recorded one, else the sum of great-circle steps.
    pub distance_m: Option<f64>,
    /// The sum of climbs between successive elevations.
    pub elevation_gain_m: Option<f64>,
    /// The mean of the heart-rate samples, each weighted by the time until the next one.
    pub average_hr: Option<f64>,
}

/// Great-circle distance between two positions in degrees (haversine, mean Earth radius).
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let (dlat, dlon) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// The summary of a track's points (in time order); `None` with fewer than two timed points.
pub fn summarize(points: &[TrackPoint]) -> Option<TrackSummary> {
    let (first, last) = (points.first()?, points.last()?);
    if points.len() < 2 || last.at_ms <= first.at_ms {
        return None;
    }
    let device = points.iter().rev().find_map(|p| p.distance_m);
    let positions: Vec<(f64, f64)> = points.iter().filter_map(|p| p.position).collect();
    let walked = (positions.len() >= 2).then(|| {
        positions
            .windows(2)
            .map(|w| haversine_m(w[0], w[1]))
            .sum::<f64>()
    });
    let elevations: Vec<f64> = points.iter().filter_map(|p| p.elevation_m).collect();
    let gain = (elevations.len() >= 2).then(|| {
        elevations
            .windows(2)
            .map(|w| (w[1] - w[0]).max(0.0))
            .sum::<f64>()
    });
    let (mut weighted, mut seconds) = (0.0, 0.0);
    for pair in points.windows(2) {
        if let Some(hr) = pair[0].heart_rate {
            let dt = (pair[1].at_ms - pair[0].at_ms) as f64 / 1000.0;
            weighted += hr * dt;
            seconds += dt;
        }
    }
    Some(TrackSummary {
        start_ms: first.at_ms,
        duration_s: (last.at_ms - first.at_ms) as f64 / 1000.0,
        distance_m: device.or(walked),
        elevation_gain_m: gain,
        average_hr: (seconds > 0.0).then(|| weighted / seconds),
    })
}

/// Days of the HRV baseline, and the fewest measured days it needs.
pub const HRV_BASELINE_DAYS: usize = 60;
pub const HRV_BASELINE_MIN: usize = 14;
/// Days of the rolling HRV mean, and the fewest measured days it needs.
pub const HRV_ROLLING_DAYS: usize = 7;
pub const HRV_ROLLING_MIN: usize = 3;
/// Days of the resting-heart-rate and sleep baselines, and the fewest measured days they need.
pub const BASELINE_DAYS: usize = 28;
pub const BASELINE_MIN: usize = 7;
/// The score of a part at the athlete's normal.
const NORMAL: f64 = 75.0;

/// One day's measurements for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WellnessDay {
    /// ln of the morning rMSSD (ms).
    pub ln_rmssd: Option<f64>,
    pub resting_hr: Option<f64>,
    /// The night before, in minutes.
    pub sleep_minutes: Option<f64>,
}

/// A day's readiness: 0–100 and each part's share; parts without enough history are left out
/// and named in `too_short`.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub score: Option<f64>,
    pub hrv: Option<f64>,
    pub resting_hr: Option<f64>,
    pub sleep: Option<f64>,
    pub load: Option<f64>,
    pub too_short: Vec<&'static str>,
}

/// The mean and sample standard deviation of `values` (not empty).
pub(crate) fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn score(x: f64) -> f64 {
    x.clamp(0.0, 100.0)
}

/// The readiness of the last day of `days` (oldest first), whose uncoupled ACWR is `acwr`.
pub fn readiness(days: &[WellnessDay], acwr: Option<f64>) -> Readiness {
    let last_n = |n: usize, pick: fn(&WellnessDay) -> Option<f64>| -> Vec<f64> {
        days[days.len().saturating_sub(n)..]
            .iter()
            .filter_map(pick)
            .collect()
    };
    let mut too_short = Vec::new();
    // HRV: the week's mean of ln rMSSD against the 60-day normal, in SWCs (half an SD).
    let baseline = last_n(HRV_BASELINE_DAYS, |d| d.ln_rmssd);
    let rolling = last_n(HRV_ROLLING_DAYS, |d| d.ln_rmssd);
    let hrv = if baseline.len() >= HRV_BASELINE_MIN && rolling.len() >= HRV_ROLLING_MIN {
        let (mean, sd) = mean_sd(&baseline);
        let week = rolling.iter().sum::<f64>() / rolling.len() as f64;
        let swc = (0.5 * sd).max(1e-6);
        Some(score(NORMAL + 25.0 * (week - mean) / swc))
    } else {
        too_short.push("hrv");
        None
    };
    // Resting heart rate: today's against the 28-day mean, 12.5 points a beat.
    let today = days.last().copied().unwrap_or_default();
    let before = &days[..days.len().saturating_sub(1)];
    let history = |pick: fn(&WellnessDay) -> Option<f64>| -> Vec<f64> {
        before[before.len().saturating_sub(BASELINE_DAYS)..]
            .iter()
            .filter_map(pick)
            .collect()
    };
    let resting = history(|d| d.resting_hr);
    let resting_hr = match today.resting_hr {
        Some(hr) if resting.len() >= BASELINE_MIN => {
            let (mean, _) = mean_sd(&resting);
            Some(score(NORMAL - 12.5 * (hr - mean)))
        }
        _ => {
            too_short.push("restingHr");
            None
        }
    };
    // Sleep: last night against the 28-day mean, 25 points an hour.
    let nights = history(|d| d.sleep_minutes);
    let sleep = match today.sleep_minutes {
        Some(minutes) if nights.len() >= BASELINE_MIN => {
            let (mean, _) = mean_sd(&nights);
            Some(score(NORMAL + 25.0 * (minutes - mean) / 60.0))
        }
        _ => {
            too_short.push("sleep");
            None
        }
    };
    // Load: 100 in the band 0.8–1.3; 0 at a ratio of 2; 50 at 0.3 (rest is not fatigue).
    let load = match acwr {
        Some(r) if r > 1.3 => Some(score(100.0 * (2.0 - r) / 0.7)),
        Some(r) if r < 0.8 => Some(score(100.0 - 50.0 * (0.8 - r) / 0.5)),
        Some(_) => Some(100.0),
        None => {
            too_short.push("load");
            None
        }
    };
    let parts: Vec<f64> = [hrv, resting_hr, sleep, load]
        .into_iter()
        .flatten()
        .collect();
    Readiness {
        score: (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / parts.len() as f64),
        hrv,
        resting_hr,
        sleep,
        load,
        too_short,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn the_decays_are_goldencheetahs() {
        // 1 − e^(−1/42) and 1 − e^(−1/7), by hand.
        assert!(close(decay(42.0), 0.023_528_313, 1e-9));
        assert!(close(decay(7.0), 0.133_122_100, 1e-9));
        assert!(close(ewma_weight(7), 0.25, 1e-12));
        assert!(close(ewma_weight(28), 2.0 / 29.0, 1e-12));
    }

    #[test]
    fn session_loads_by_rpe_and_by_heart_rate() {
        assert_eq!(session_rpe_load(7.0, 60.0), 420.0);
        assert_eq!(session_rpe_load(12.0, 10.0), 100.0, "RPE tops at 10");
        // 60 min at half the reserve: 60 × 0.5 × 0.64 × e^0.96 = 50.1446…
        let male = trimp(60.0, 125.0, 50.0, 200.0, TrimpSex::Male).unwrap();
        assert!(close(male, 50.1446, 1e-3), "{male}");
        // 60 × 0.5 × 0.86 × e^0.835 = 59.4642…
        let female = trimp(60.0, 125.0, 50.0, 200.0, TrimpSex::Female).unwrap();
        assert!(close(female, 59.4642, 1e-3), "{female}");
        assert_eq!(trimp(60.0, 120.0, 60.0, 60.0, TrimpSex::Male), None);
    }

    #[test]
    fn one_hard_day_then_rest_by_hand() {
        let days = form(&[100.0, 0.0], Start::default());
        // Day 1: CTL = 100·k42, ATL = 100·k7, coming in fresh.
        assert!(close(days[0].ctl, 2.352_831, 1e-5));
        assert!(close(days[0].atl, 13.312_210, 1e-5));
        assert_eq!(days[0].tsb, 0.0);
        // Day 2: both decay; the form is day 1's CTL − ATL.
        assert!(close(days[1].ctl, 2.352_831 * (1.0 - 0.023_528_313), 1e-5));
        assert!(close(days[1].atl, 13.312_210 * (1.0 - 0.133_122_100), 1e-5));
        assert!(close(days[1].tsb, 2.352_831 - 13.312_210, 1e-5));
        assert_eq!(days[1].acwr, None, "too short for a chronic load");
    }

    #[test]
    fn a_steady_load_converges_to_it_and_the_form_to_zero() {
        let days = form(&vec![80.0; 400], Start::default());
        let last = days.last().unwrap();
        assert!(close(last.ctl, 80.0, 1e-2) && close(last.atl, 80.0, 1e-9));
        assert!(close(last.tsb, 0.0, 1e-2));
        assert!(close(last.acwr.unwrap(), 1.0, 1e-6));
    }

    /// The uncoupled ACWR against its closed form for a constant load from day 0: the acute
    /// EWMA is L·(1 − 0.75^(t+1)), the chronic one L·(1 − (27/29)^(t−6)) (it takes day
    /// `t − 7` on day `t`).
    #[test]
    fn the_uncoupled_ratio_matches_its_closed_form() {
        let days = form(&[100.0; 60], Start::default());
        assert!(days[..34].iter().all(|d| d.acwr.is_none()));
        for (t, day) in days.iter().enumerate().skip(34) {
            let acute = 100.0 * (1.0 - 0.75f64.powi(t as i32 + 1));
            let chronic = 100.0 * (1.0 - (27.0f64 / 29.0).powi(t as i32 - 6));
            assert!(close(day.acwr.unwrap(), acute / chronic, 1e-9), "day {t}");
        }
        // A week of double load after a steady month is a spike the chronic average does
        // not soften: the acute week is not in it.
        let mut loads = vec![100.0; 56];
        loads.extend([200.0; 7]);
        let spike = form(&loads, Start::default()).last().unwrap().acwr.unwrap();
        assert!(spike > 1.8, "{spike}");
    }

    #[test]
    fn the_load_for_a_target_form_reaches_it() {
        // At a steady 50, a day of 50 keeps the form at zero.
        let steady = load_for(50.0, 50.0, 0.0);
        assert!(close(steady.load, 50.0, 1e-9) && steady.reachable);
        // Any start: doing the answer gives the target tomorrow.
        for (ctl, atl, target) in [(60.0, 70.0, -5.0), (40.0, 20.0, 10.0), (80.0, 95.0, -30.0)] {
            let answer = load_for(ctl, atl, target);
            assert!(answer.reachable);
            let tomorrow = form(&[answer.load, 0.0], Start { ctl, atl })[1].tsb;
            assert!(
                close(tomorrow, target, 1e-9),
                "{ctl} {atl} {target}: {tomorrow}"
            );
        }
        // Tired: even a rest day leaves the form below +20.
        let tired = load_for(50.0, 90.0, 20.0);
        assert_eq!((tired.load, tired.reachable), (0.0, false));
        assert!(tired.tsb_after_rest < 20.0);
    }

    fn steady(days: usize) -> Vec<WellnessDay> {
        (0..days)
            .map(|i| WellnessDay {
                // ln rMSSD alternating 4.0 / 4.2: mean 4.1, SD ≈ 0.1.
                ln_rmssd: Some(if i % 2 == 0 { 4.0 } else { 4.2 }),
                resting_hr: Some(50.0),
                sleep_minutes: Some(480.0),
            })
            .collect()
    }

    #[test]
    fn readiness_at_the_athletes_normal_by_hand() {
        let mut days = steady(60);
        // The last week (days 53–59: four odd days at 4.2, three even at 4.0) averages
        // 4.1143, a little above the normal 4.1.
        let got = readiness(&days, Some(1.0));
        let (mean, sd) = mean_sd(&days.iter().map(|d| d.ln_rmssd.unwrap()).collect::<Vec<_>>());
        assert!(close(mean, 4.1, 1e-12));
        let week = (3.0 * 4.0 + 4.0 * 4.2) / 7.0;
        let hrv = 75.0 + 25.0 * (week - mean) / (0.5 * sd);
        assert!(close(got.hrv.unwrap(), hrv, 1e-9), "{got:?}");
        assert_eq!(got.resting_hr, Some(75.0));
        assert_eq!(got.sleep, Some(75.0));
        assert_eq!(got.load, Some(100.0));
        assert!(close(
            got.score.unwrap(),
            (hrv + 75.0 + 75.0 + 100.0) / 4.0,
            1e-9
        ));
        assert!(got.too_short.is_empty());

        // Three beats up, an hour and a half short, a spike of load.
        let today = days.last_mut().unwrap();
        today.resting_hr = Some(53.0);
        today.sleep_minutes = Some(390.0);
        let worse = readiness(&days, Some(1.65));
        assert_eq!(worse.resting_hr, Some(37.5));
        assert_eq!(worse.sleep, Some(37.5));
        assert!(close(worse.load.unwrap(), 50.0, 1e-9));
        assert!(worse.score.unwrap() < got.score.unwrap());
    }

    #[test]
    fn a_falling_hrv_week_scores_low_and_short_histories_are_named() {
        let mut days = steady(60);
        for day in days.iter_mut().skip(53) {
            day.ln_rmssd = Some(3.8);
        }
        let low = readiness(&days, None);
        assert!(low.hrv.unwrap() < 25.0, "{low:?}");
        assert_eq!(low.too_short, ["load"]);

        let young = readiness(&steady(5), None);
        assert_eq!(young.score, None);
        assert_eq!(young.too_short, ["hrv", "restingHr", "sleep", "load"]);
    }

    #[test]
    fn a_track_sums_up_by_hand() {
        // A degree of latitude is 111.195 km on the mean sphere; three points 0.01° apart.
        let point = |s: i64, lat: f64, ele: f64, hr: f64| TrackPoint {
            at_ms: s * 1000,
            position: Some((lat, 10.0)),
            elevation_m: Some(ele),
            heart_rate: Some(hr),
            distance_m: None,
        };
        let track = [
            point(0, 50.00, 100.0, 120.0),
            point(60, 50.01, 110.0, 150.0),
            point(180, 50.02, 105.0, 170.0),
        ];
        let summary = summarize(&track).unwrap();
        assert_eq!(summary.duration_s, 180.0);
        let metre = 6_371_008.8 * std::f64::consts::PI / 180.0 * 0.02;
        assert!(
            close(summary.distance_m.unwrap(), metre, 1e-6),
            "{summary:?}"
        );
        assert_eq!(summary.elevation_gain_m, Some(10.0));
        // 120 for 60 s, 150 for 120 s.
        assert!(close(
            summary.average_hr.unwrap(),
            (120.0 * 60.0 + 150.0 * 120.0) / 180.0,
            1e-9
        ));
        // A device distance wins over the positions.
        let mut measured = track;
        measured[2].distance_m = Some(2_500.0);
        assert_eq!(summarize(&measured).unwrap().distance_m, Some(2_500.0));
        assert_eq!(summarize(&track[..1]), None);
    }
}
