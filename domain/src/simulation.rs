//! A race simulator with realistic HYROX split distributions, for `podium demo`, tests and
//! load generators. Deterministic for a given seed.
//!
//! Median Open-men segment times are taken from public HYROX results (runs 280–410 s, SkiErg
//! 272 s, sled push 135 s, sled pull 271 s, burpee broad jumps 342 s, row 292 s, farmers carry
//! 127 s, sandbag lunges 308 s, wall balls 466 s, roxzone 513 s in total). Each athlete has an
//! ability factor (log-normal, σ = 0.2, so p10/p90 ≈ −23 %/+29 %) and each segment its own
//! noise (σ = 0.1); divisions shift the medians.

use crate::course::{Course, SegmentLimits};
use crate::division::{Category, Gender};
use crate::timing::Timestamp;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

const RUN_MEDIANS_S: [f64; 8] = [280.0, 300.0, 310.0, 320.0, 330.0, 345.0, 360.0, 410.0];
const STATION_MEDIANS_S: [f64; 8] = [272.0, 135.0, 271.0, 342.0, 292.0, 127.0, 308.0, 466.0];
const ROXZONE_TOTAL_S: f64 = 513.0;

/// Median time in seconds of each segment of the standard course (Open men).
pub fn standard_medians_s() -> Vec<f64> {
    (0..8)
        .flat_map(|n| {
            [
                RUN_MEDIANS_S[n],
                ROXZONE_TOTAL_S / 8.0,
                STATION_MEDIANS_S[n],
            ]
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub entries: usize,
    /// Event start (first wave).
    pub starts_at: Timestamp,
    pub entries_per_wave: usize,
    pub wave_interval_s: i64,
    /// Share of reads lost by the mats (0.02 = 2 %).
    pub miss_rate: f64,
    /// Share of reads sent twice.
    pub duplicate_rate: f64,
    /// Share of athletes who stop before the finish.
    pub dropout_rate: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            entries: 300,
            starts_at: Timestamp(1_773_478_800_000),
            entries_per_wave: 30,
            wave_interval_s: 600,
            miss_rate: 0.02,
            duplicate_rate: 0.05,
            dropout_rate: 0.01,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEntry {
    pub bib: String,
    pub first_name: String,
    pub last_name: String,
    pub category: Category,
    pub gender: Gender,
    pub birth_year: i32,
    pub wave_start: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRead {
    pub bib: String,
    pub point: String,
    pub at: Timestamp,
    pub read_id: String,
}

#[derive(Debug, Clone)]
pub struct SimRace {
    pub course: Course,
    pub entries: Vec<SimEntry>,
    /// True crossing time of every point each athlete reached (before mats miss any).
    pub truth: Vec<Vec<Timestamp>>,
    /// What the mats report: reads missing, duplicated, in shuffled order.
    pub reads: Vec<SimRead>,
}

const FIRST_NAMES: [&str; 16] = [
    "Anna", "Ben", "Chloe", "David", "Elena", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Kira",
    "Lars", "Mia", "Noah", "Olivia", "Paul",
];
const LAST_NAMES: [&str; 16] = [
    "Schmidt", "Jones", "Garcia", "Müller", "Rossi", "Dubois", "Nowak", "Smith", "Kowalski",
    "Berg", "Larsen", "Novak", "Silva", "Meyer", "Brown", "Costa",
];

fn division_factor(category: Category, gender: Gender) -> f64 {
    let c = match category {
        Category::Pro => 0.93,
        Category::Doubles => 0.85,
        Category::Relay => 0.75,
        Category::Adaptive => 1.25,
        Category::Open => 1.0,
    };
    let g = match gender {
        Gender::Men => 1.0,
        Gender::Women => 1.12,
        Gender::Mixed => 1.06,
    };
    c * g
}

/// Keeps a sampled duration well inside the segment's plausibility limits: real athletes do
/// not beat physics, and the tails of the log-normal model would.
fn plausible(sampled_ms: i64, limits: SegmentLimits) -> i64 {
    let floor = limits.min.0 * 5 / 4;
    let ceiling = limits.max.map_or(i64::MAX, |m| m.0 * 4 / 5);
    sampled_ms.clamp(floor, ceiling.max(floor))
}

/// Simulates a race on the standard course.
pub fn simulate(config: &SimConfig) -> SimRace {
    let course = Course::hyrox_standard();
    let medians = standard_medians_s();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let ability = LogNormal::new(0.0, 0.2).expect("valid sigma");
    let noise = LogNormal::new(0.0, 0.1).expect("valid sigma");
    let categories = [
        (Category::Open, 70u32),
        (Category::Pro, 12),
        (Category::Doubles, 14),
        (Category::Relay, 3),
        (Category::Adaptive, 1),
    ];
    let total_weight: u32 = categories.iter().map(|(_, w)| w).sum();

    let mut entries = Vec::with_capacity(config.entries);
    let mut truth = Vec::with_capacity(config.entries);
    let mut reads = Vec::new();
    for n in 0..config.entries {
        let mut pick = rng.gen_range(0..total_weight);
        let category = categories
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= *w;
                    false
                }
            })
            .map(|(c, _)| *c)
            .unwrap_or(Category::Open);
        let gender = match (category, rng.gen_range(0..10)) {
            (Category::Doubles | Category::Relay, 0..=2) => Gender::Mixed,
            (_, 0..=5) => Gender::Men,
            _ => Gender::Women,
        };
        let wave = (n / config.entries_per_wave.max(1)) as i64;
        let wave_start = Timestamp(config.starts_at.0 + wave * config.wave_interval_s * 1000);
        let bib = (n + 1).to_string();
        entries.push(SimEntry {
            bib: bib.clone(),
            first_name: FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())].to_owned(),
            last_name: LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())].to_owned(),
            category,
            gender,
            birth_year: rng.gen_range(1956..=2008),
            wave_start,
        });

        let factor = ability.sample(&mut rng) * division_factor(category, gender);
        // Crossing the start mat happens a few seconds after the gun.
        let mut t = wave_start.0 + rng.gen_range(0..20_000);
        let stops_at = if rng.gen_bool(config.dropout_rate) {
            rng.gen_range(1..course.finish_index())
        } else {
            course.finish_index()
        };
        let mut crossings = vec![Timestamp(t)];
        for (median, segment) in medians.iter().zip(course.segments()).take(stops_at) {
            let sampled = (median * factor * noise.sample(&mut rng) * 1000.0).round() as i64;
            t += plausible(sampled, segment.limits);
            crossings.push(Timestamp(t));
        }
        for (i, at) in crossings.iter().enumerate() {
            if rng.gen_bool(config.miss_rate) {
                continue;
            }
            let read = SimRead {
                bib: bib.clone(),
                point: course.points()[i].to_string(),
                at: *at,
                read_id: format!("mat{i}-{bib}"),
            };
            if rng.gen_bool(config.duplicate_rate) {
                reads.push(read.clone());
            }
            reads.push(read);
        }
        truth.push(crossings);
    }
    reads.shuffle(&mut rng);
    SimRace {
        course,
        entries,
        truth,
        reads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_races_are_deterministic_and_realistic() {
        let config = SimConfig {
            entries: 200,
            ..Default::default()
        };
        let a = simulate(&config);
        let b = simulate(&config);
        assert_eq!(a.reads, b.reads);
        assert_eq!(a.entries.len(), 200);
        let finish_times: Vec<i64> = a
            .truth
            .iter()
            .filter(|t| t.len() == 25)
            .map(|t| t[24].0 - t[0].0)
            .collect();
        let mut sorted = finish_times.clone();
        sorted.sort_unstable();
        let median_min = sorted[sorted.len() / 2] as f64 / 60_000.0;
        // Open-men medians sum to ~87 min; the field mixes divisions.
        assert!(
            (70.0..110.0).contains(&median_min),
            "median {median_min} min"
        );
        let expected = 200.0 * 25.0;
        let reads = a.reads.len() as f64;
        assert!(
            reads > expected * 0.9 && reads < expected * 1.1,
            "{reads} reads"
        );
    }
}
