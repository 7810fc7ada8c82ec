//! Live finish prediction: nearest neighbours on the split profile.
//!
//! An athlete last seen at timing point `P` after `E` ms is compared with every finished
//! effort on the course that was timed at `P` — in their division when it has enough of them,
//! else on the whole course. The distance between two efforts is the time-weighted root mean
//! square of the log-ratios of their chunks (the times between the athlete's consecutive
//! passed points: runs, roxzones and stations separately), plus the log-ratio of the elapsed
//! times at `P`: someone strong on runs and weak on stations is compared with efforts shaped
//! the same way, at the same level. The `NEIGHBOURS` nearest give the remaining-time ratios
//! `ρ = (finish − E′) / E′`; the prediction is `E × (1 + median ρ)` and the 80 % interval
//! `E × (1 + median ± c · spread)`, where the spread is the distance from the median to the
//! 10th/90th percentile of the neighbours' ratios, widened when there are few of them, and
//! `c` a calibration per timing point fitted so that the intervals cover 80 % of held-out
//! finishes (see [`backtest`]). Live, the event's own earlier finishers then correct for the
//! venue ([`Finishers`], [`Model::predict_in_event`]).
//!
//! Everything here is deterministic for a given set of references and calibration: a model
//! version is exactly that.

use crate::course::Course;
use crate::division::{Category, Division, Gender};
use crate::simulation::{simulate, SimConfig};
use std::collections::HashMap;

/// Neighbours behind a prediction.
pub const NEIGHBOURS: usize = 50;
/// Candidates (closest elapsed time at the point) whose distance is computed.
const CANDIDATES: usize = 400;
/// Fewer efforts than this at a point in a division: the whole course is used.
const MIN_DIVISION_EFFORTS: usize = NEIGHBOURS * 2;
/// The interval's nominal coverage.
pub const COVERAGE: f64 = 0.8;

/// A finished effort on the course: the elapsed time (ms from its start) at every timing
/// point it was timed at (`None` where a mat missed it or the course had no mat there).
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Which training event it comes from (an index the caller keeps).
    pub event: u32,
    pub division: Division,
    pub elapsed: Vec<Option<i64>>,
    /// Its start (Unix ms), when known: the backtest's same-event offset needs to know which
    /// efforts of an event had finished when another reached a mat.
    pub started_ms: Option<i64>,
}

impl Reference {
    pub fn finish(&self) -> Option<i64> {
        self.elapsed.last().copied().flatten()
    }

    /// The points it was timed at, with the elapsed time there.
    fn passed(&self) -> Vec<(usize, i64)> {
        self.elapsed
            .iter()
            .enumerate()
            .filter_map(|(p, e)| e.map(|e| (p, e)))
            .collect()
    }
}

/// What is known of a racing athlete: the elapsed time at each passed point, in course order
/// (`(point index, ms since the start)`, the start itself at 0 ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub division: Division,
    pub passed: Vec<(usize, i64)>,
}

/// How the prediction was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// From this many comparable efforts of real results.
    Efforts(usize),
    /// From the simulator's distributions: there is no history on the course yet.
    Prior,
}

/// A predicted net time with its 80 % interval (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prediction {
    pub finish_ms: i64,
    pub low_ms: i64,
    pub high_ms: i64,
    pub basis: Basis,
    /// The point the prediction is made from.
    pub point: usize,
}

/// A fitted model: its references, indexed per timing point, and its calibration.
#[derive(Debug, Clone)]
pub struct Model {
    points: usize,
    references: Vec<Reference>,
    /// Per point: references timed there, sorted by their elapsed time at it — per division,
    /// and (under `None`) all of them.
    by_point: Vec<HashMap<Option<Division>, Vec<u32>>>,
    /// Per point: the factor applied to the neighbours' spread for an 80 % interval.
    calibration: Vec<f64>,
    prior: bool,
}

impl Model {
    /// A model of `references` on `course` (efforts without a finish are left out), with a
    /// calibration of 1 everywhere until [`Model::calibrated`].
    pub fn new(course: &Course, references: Vec<Reference>) -> Self {
        let points = course.points().len();
        let references: Vec<Reference> = references
            .into_iter()
            .filter(|r| r.elapsed.len() == points && r.finish().is_some_and(|f| f > 0))
            .collect();
        let mut by_point: Vec<HashMap<Option<Division>, Vec<u32>>> = vec![HashMap::new(); points];
        for (i, r) in references.iter().enumerate() {
            for (point, at) in r.elapsed.iter().enumerate() {
                if at.is_some() {
                    let index = &mut by_point[point];
                    index.entry(None).or_default().push(i as u32);
                    index.entry(Some(r.division)).or_default().push(i as u32);
                }
            }
        }
        for (point, index) in by_point.iter_mut().enumerate() {
            for list in index.values_mut() {
                list.sort_by_key(|&i| (references[i as usize].elapsed[point], i));
            }
        }
        Self {
            points,
            references,
            by_point,
            calibration: vec![1.0; points],
            prior: false,
        }
    }

    /// The prior: the same model over a simulated race of `entries` (seeded, so always the
    /// same), for a course with no finished results yet.
    pub fn prior(course: &Course) -> Self {
        let race = simulate(&SimConfig {
            seed: 7,
            entries: 2_000,
            miss_rate: 0.0,
            duplicate_rate: 0.0,
            dropout_rate: 0.0,
            ..SimConfig::default()
        });
        let references = race
            .entries
            .iter()
            .zip(&race.truth)
            .enumerate()
            .map(|(n, (entry, truth))| Reference {
                // Four simulated events, so the calibration has events to leave out.
                event: (n % 4) as u32,
                division: Division {
                    category: entry.category,
                    gender: entry.gender,
                },
                elapsed: truth.iter().map(|t| Some(t.0 - truth[0].0)).collect(),
                started_ms: None,
            })
            .collect();
        let mut model = Self::new(course, references);
        model.prior = true;
        model.calibration = calibrate(&model, None);
        model
    }

    /// This model with its calibration fitted on its own references (leave one event out).
    pub fn calibrated(mut self) -> Self {
        self.calibration = calibrate(&self, None);
        self
    }

    pub fn with_calibration(mut self, calibration: Vec<f64>) -> Self {
        if calibration.len() == self.points {
            self.calibration = calibration;
        }
        self
    }

    pub fn calibration(&self) -> &[f64] {
        &self.calibration
    }

    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    pub fn is_prior(&self) -> bool {
        self.prior
    }

    /// The predicted finish of `observed`, or `None` when it has finished, has not started or
    /// nothing on the course is comparable.
    pub fn predict(&self, observed: &Observed) -> Option<Prediction> {
        let raw = self.neighbours(observed, None)?;
        Some(raw.interval(self.calibration[raw.point], self.prior))
    }

    /// [`Model::predict`] for an athlete who started at `started_ms` in an event whose
    /// finishers so far are `finishers`: the prediction is shifted by how much the model
    /// missed, at the same point, the finishes of those who had finished when the athlete
    /// reached it (see [`Finishers::offset`]).
    pub fn predict_in_event(
        &self,
        observed: &Observed,
        started_ms: i64,
        finishers: &Finishers,
    ) -> Option<Prediction> {
        let mut raw = self.neighbours(observed, None)?;
        raw.shift(finishers.offset(raw.point, started_ms + raw.reached()));
        Some(raw.interval(self.calibration[raw.point], self.prior))
    }

    /// How much the model missed a finished effort (`passed` ends at its finish) at every
    /// point it was timed at before it, predicted from its own splits up to there:
    /// `(point, ln(finish / predicted))`.
    pub fn residuals(&self, division: Division, passed: &[(usize, i64)]) -> Vec<(usize, f64)> {
        let finish_point = self.points.saturating_sub(1);
        let Some(&(last, finish)) = passed.last() else {
            return Vec::new();
        };
        if last != finish_point || finish <= 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for k in 1..passed.len() {
            let point = passed[k - 1].0;
            if point == 0 {
                continue;
            }
            let observed = Observed {
                division,
                passed: passed[..k].to_vec(),
            };
            if let Some(raw) = self
                .neighbours(&observed, None)
                .filter(|r| r.point == point)
            {
                out.push((point, (finish as f64 / raw.finish()).ln()));
            }
        }
        out
    }

    /// The neighbours' ratios behind a prediction, leaving the references of `held_out` out.
    fn neighbours(&self, observed: &Observed, held_out: Option<u32>) -> Option<Raw> {
        let finish = self.points.checked_sub(1)?;
        let passed: Vec<(usize, i64)> = observed
            .passed
            .iter()
            .copied()
            .filter(|&(point, _)| point < self.points)
            .collect();
        if passed.is_empty() || passed.iter().any(|&(point, _)| point == finish) {
            return None;
        }
        // The latest passed point with enough efforts timed there (a course's roxzone mats
        // may be missing from older results).
        for &(point, elapsed) in passed.iter().rev() {
            let pool = self.pool(point, observed.division, held_out);
            let Some((list, available)) = pool else {
                continue;
            };
            if point == 0 || elapsed <= 0 {
                return self.finish_distribution(list, held_out, available);
            }
            let upto: Vec<(usize, i64)> = passed
                .iter()
                .copied()
                .filter(|&(p, _)| p <= point)
                .collect();
            return Some(self.nearest(list, &upto, point, elapsed, held_out));
        }
        None
    }

    /// The references timed at `point` to compare with (the division's when it has enough),
    /// with how many there are.
    fn pool(
        &self,
        point: usize,
        division: Division,
        held_out: Option<u32>,
    ) -> Option<(&[u32], usize)> {
        let index = &self.by_point[point];
        let count = |list: &Vec<u32>| match held_out {
            None => list.len(),
            Some(e) => list
                .iter()
                .filter(|&&i| self.references[i as usize].event != e)
                .count(),
        };
        if let Some(list) = index.get(&Some(division)) {
            let n = count(list);
            if n >= MIN_DIVISION_EFFORTS {
                return Some((list, n));
            }
        }
        let list = index.get(&None)?;
        let n = count(list);
        (n >= NEIGHBOURS / 5).then_some((list.as_slice(), n))
    }

    /// Before any split: the finish times of the pool, as ratios to their median.
    fn finish_distribution(
        &self,
        list: &[u32],
        held_out: Option<u32>,
        available: usize,
    ) -> Option<Raw> {
        let mut finishes: Vec<f64> = list
            .iter()
            .map(|&i| &self.references[i as usize])
            .filter(|r| Some(r.event) != held_out)
            .filter_map(|r| r.finish())
            .map(|f| f as f64)
            .collect();
        finishes.sort_by(f64::total_cmp);
        let median = quantile(&finishes, 0.5)?;
        Some(Raw {
            point: 0,
            base: median,
            ratios: finishes.iter().map(|f| f / median - 1.0).collect(),
            efforts: available,
        })
    }

    fn nearest(
        &self,
        list: &[u32],
        upto: &[(usize, i64)],
        point: usize,
        elapsed: i64,
        held_out: Option<u32>,
    ) -> Raw {
        // The candidates closest in elapsed time at the point, walking out from it.
        let at = |i: u32| self.references[i as usize].elapsed[point].unwrap_or(0);
        let split = list.partition_point(|&i| at(i) < elapsed);
        let (mut below, mut above) = (split, split);
        let mut candidates = Vec::with_capacity(CANDIDATES);
        while candidates.len() < CANDIDATES && (below > 0 || above < list.len()) {
            let take_below = match (below > 0, above < list.len()) {
                (true, true) => elapsed - at(list[below - 1]) <= at(list[above]) - elapsed,
                (true, false) => true,
                _ => false,
            };
            let i = if take_below {
                below -= 1;
                list[below]
            } else {
                above += 1;
                list[above - 1]
            };
            if Some(self.references[i as usize].event) != held_out {
                candidates.push(i);
            }
        }
        let mut scored: Vec<(f64, u32)> = candidates
            .into_iter()
            .map(|i| (distance(upto, &self.references[i as usize]), i))
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        scored.truncate(NEIGHBOURS);
        let mut ratios: Vec<f64> = scored
            .iter()
            .map(|&(_, i)| {
                let r = &self.references[i as usize];
                let e = r.elapsed[point].unwrap_or(1) as f64;
                (r.finish().unwrap_or(0) as f64 - e) / e
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let efforts = ratios.len();
        Raw {
            point,
            base: elapsed as f64,
            // Ratios of the remaining time to the elapsed: the finish is `base × (1 + ρ)`.
            ratios,
            efforts,
        }
    }
}

/// The distance between an athlete's profile so far and a reference: the log-ratio of the
/// elapsed times at the last point, and the time-weighted RMS of the log-ratios of the chunks
/// between the athlete's consecutive passed points that the reference was timed at too.
fn distance(upto: &[(usize, i64)], reference: &Reference) -> f64 {
    let (last, elapsed) = upto[upto.len() - 1];
    let Some(theirs) = reference.elapsed[last] else {
        return f64::INFINITY;
    };
    let level = (elapsed.max(1) as f64 / theirs.max(1) as f64).ln();
    let (mut weighted, mut weights) = (0.0, 0.0);
    for pair in upto.windows(2) {
        let ((a, at_a), (b, at_b)) = (pair[0], pair[1]);
        let (Some(ref_a), Some(ref_b)) = (reference.elapsed[a], reference.elapsed[b]) else {
            continue;
        };
        let (mine, theirs) = (at_b - at_a, ref_b - ref_a);
        if mine <= 0 || theirs <= 0 {
            continue;
        }
        let w = mine as f64;
        weighted += w * (mine as f64 / theirs as f64).ln().powi(2);
        weights += w;
    }
    let shape = if weights > 0.0 {
        weighted / weights
    } else {
        0.0
    };
    (level * level + shape).sqrt()
}

/// With `n` residuals behind it, the same-event offset is `n / (n + OFFSET_SHRINK)` of their
/// median: a handful of early finishers move a prediction little.
const OFFSET_SHRINK: f64 = 10.0;

/// An event's finishers so far, as the model saw them: for each, when it finished and how
/// much the model missed its finish at each point it passed ([`Model::residuals`]).
///
/// Venues differ (a longer run lap, a slower floor), and a model trained on other events
/// cannot know it; the event's own earlier finishers can. Measured on the four real events
/// (leave one event out), this took the mean error at `ROW_IN` from 2.79 to 2.67 % (see
/// docs/architecture.md).
#[derive(Debug, Clone, Default)]
pub struct Finishers {
    /// Per point: `(finish instant in Unix ms, ln(finish / predicted))`.
    by_point: HashMap<usize, Vec<(i64, f64)>>,
}

impl Finishers {
    pub fn add(&mut self, finished_at_ms: i64, residuals: &[(usize, f64)]) {
        for &(point, r) in residuals {
            if r.is_finite() {
                self.by_point
                    .entry(point)
                    .or_default()
                    .push((finished_at_ms, r));
            }
        }
    }

    /// The log-offset for a prediction made at `point` at the instant `at_ms`: the median
    /// residual at that point of the finishers who had finished by then, shrunk towards 0
    /// by their number; 0 with none.
    pub fn offset(&self, point: usize, at_ms: i64) -> f64 {
        let residuals: Vec<f64> = self
            .by_point
            .get(&point)
            .into_iter()
            .flatten()
            .filter(|(finished, _)| *finished < at_ms)
            .map(|(_, r)| *r)
            .collect();
        shrunk_median(residuals)
    }
}

/// The median of `values` times `n / (n + OFFSET_SHRINK)`; 0 for none.
fn shrunk_median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    quantile(&values, 0.5).map_or(0.0, |m| m * n / (n + OFFSET_SHRINK))
}

/// The neighbours' ratios at a point, before calibration.
#[derive(Debug, Clone)]
struct Raw {
    point: usize,
    /// The elapsed time at the point (or, from the start, the pool's median finish).
    base: f64,
    /// Sorted.
    ratios: Vec<f64>,
    efforts: usize,
}

impl Raw {
    fn median(&self) -> f64 {
        quantile(&self.ratios, 0.5).unwrap_or(0.0)
    }

    /// The distances from the median ratio down to the 10th and up to the 90th percentile,
    /// widened when there are few neighbours (a small sample's percentiles understate the
    /// spread).
    fn spread(&self) -> (f64, f64) {
        let median = self.median();
        let low = median - quantile(&self.ratios, 0.1).unwrap_or(median);
        let high = quantile(&self.ratios, 0.9).unwrap_or(median) - median;
        let widen = 1.0 + 2.0 / (self.ratios.len().max(1) as f64).sqrt();
        (low * widen, high * widen)
    }

    fn finish(&self) -> f64 {
        self.base * (1.0 + self.median())
    }

    /// The elapsed time at the point (0 before any split).
    fn reached(&self) -> i64 {
        if self.point == 0 {
            0
        } else {
            self.base.round() as i64
        }
    }

    /// Scales everything predicted from here by `e^offset`.
    fn shift(&mut self, offset: f64) {
        self.base *= offset.exp();
    }

    fn interval(&self, calibration: f64, prior: bool) -> Prediction {
        let median = self.median();
        let (low, high) = self.spread();
        let at = |ratio: f64| (self.base * (1.0 + ratio)).round() as i64;
        Prediction {
            finish_ms: at(median),
            low_ms: at(median - calibration * low),
            high_ms: at(median + calibration * high),
            basis: if prior {
                Basis::Prior
            } else {
                Basis::Efforts(self.efforts)
            },
            point: self.point,
        }
    }

    /// How many spreads away `finish` is from the predicted one (on its side).
    fn score(&self, finish: f64) -> f64 {
        let (low, high) = self.spread();
        let ratio = finish / self.base - 1.0;
        let median = self.median();
        let spread = if ratio < median { low } else { high };
        if spread <= 0.0 {
            return if (ratio - median).abs() < 1e-12 {
                0.0
            } else {
                f64::INFINITY
            };
        }
        (ratio - median).abs() / spread
    }
}

/// `q`-quantile of sorted `values` by linear interpolation between closest ranks.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

/// One held-out prediction of the backtest.
#[derive(Debug, Clone, Copy)]
struct Trial {
    event: u32,
    point: usize,
    finish: f64,
    predicted: f64,
    score: f64,
    elapsed: f64,
    median_fraction: Option<f64>,
}

/// References the calibration predicts at most (evenly spread over all of them): enough for
/// the 80th percentile of the scores at each point, and a calibration in about a second.
const CALIBRATION_SAMPLE: usize = 1_000;

/// Per point, the factor `c` for which `c × spread` covers 80 % of the held-out finishes of
/// the references (leave one event out), leaving the events of `except` out of the fit.
fn calibrate(model: &Model, except: Option<u32>) -> Vec<f64> {
    let every = model.references.len().div_ceil(CALIBRATION_SAMPLE).max(1);
    let trials = trials(model, &[], every);
    calibration_of(model.points, &trials, except)
}

fn calibration_of(points: usize, trials: &[Trial], except: Option<u32>) -> Vec<f64> {
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); points];
    for t in trials.iter().filter(|t| Some(t.event) != except) {
        scores[t.point].push(t.score);
    }
    scores
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            quantile(&s, COVERAGE)
                .filter(|c| c.is_finite())
                .unwrap_or(1.0)
        })
        .collect()
}

/// Every `every`th reference predicted at every point it was timed at before the finish, from
/// its own splits up to there, with its own event left out (limited to `events` when not
/// empty).
fn trials(model: &Model, events: &[u32], every: usize) -> Vec<Trial> {
    let fractions = median_fractions(model);
    let efforts: Vec<&Reference> = model
        .references
        .iter()
        .step_by(every.max(1))
        .filter(|r| events.is_empty() || events.contains(&r.event))
        .collect();
    held_out(model, &efforts, true)
        .into_iter()
        .map(|h| Trial {
            event: h.effort.event,
            point: h.raw.point,
            finish: h.finish,
            predicted: h.raw.finish(),
            score: h.raw.score(h.finish),
            elapsed: h.elapsed as f64,
            median_fraction: fractions
                .get(&(h.effort.event, h.effort.division, h.raw.point))
                .or_else(|| fractions.get(&(h.effort.event, ANY, h.raw.point)))
                .copied(),
        })
        .collect()
}

/// A prediction of a finished effort made as if it were still racing.
struct HeldOut<'a> {
    effort: &'a Reference,
    finish: f64,
    /// The elapsed time at the point.
    elapsed: i64,
    /// Shifted by the same-event offset.
    raw: Raw,
}

/// `efforts` predicted at every point each was timed at before its finish, from its own
/// splits up to there (with its own event left out of the references when `own_event_out`),
/// each shifted as live by the residuals of the efforts of its event that had finished when
/// it reached the point ([`Finishers`]; only efforts with a known start take part).
fn held_out<'a>(model: &Model, efforts: &[&'a Reference], own_event_out: bool) -> Vec<HeldOut<'a>> {
    let mut made: Vec<HeldOut<'a>> = Vec::new();
    for &effort in efforts {
        let Some(finish) = effort.finish() else {
            continue;
        };
        let passed = effort.passed();
        for k in 1..passed.len() {
            let point = passed[k - 1].0;
            if point == 0 {
                continue;
            }
            let observed = Observed {
                division: effort.division,
                passed: passed[..k].to_vec(),
            };
            let raw = model.neighbours(&observed, own_event_out.then_some(effort.event));
            if let Some(raw) = raw.filter(|raw| raw.point == point) {
                made.push(HeldOut {
                    effort,
                    finish: finish as f64,
                    elapsed: passed[k - 1].1,
                    raw,
                });
            }
        }
    }
    let mut finishers: HashMap<u32, Finishers> = HashMap::new();
    for h in &made {
        if let Some(started) = h.effort.started_ms {
            finishers.entry(h.effort.event).or_default().add(
                started + h.finish as i64,
                &[(h.raw.point, (h.finish / h.raw.finish()).ln())],
            );
        }
    }
    for h in &mut made {
        if let (Some(started), Some(event)) = (h.effort.started_ms, finishers.get(&h.effort.event))
        {
            h.raw.shift(event.offset(h.raw.point, started + h.elapsed));
        }
    }
    made
}

/// A stand-in division for "the whole course" in [`median_fractions`].
const ANY: Division = Division {
    category: Category::Adaptive,
    gender: Gender::Mixed,
};

/// The median-fraction baseline's divisor for each (held-out event, division, point): the
/// median of `elapsed at the point / finish` over the other events' efforts of the division
/// (under `ANY`: of the whole course).
fn median_fractions(model: &Model) -> HashMap<(u32, Division, usize), f64> {
    let events: Vec<u32> = {
        let mut e: Vec<u32> = model.references.iter().map(|r| r.event).collect();
        e.sort_unstable();
        e.dedup();
        e
    };
    let mut out = HashMap::new();
    for point in 1..model.points.saturating_sub(1) {
        // Per division (and ANY): every fraction with its event.
        let mut all: HashMap<Division, Vec<(u32, f64)>> = HashMap::new();
        for r in &model.references {
            let (Some(at), Some(finish)) = (r.elapsed[point], r.finish()) else {
                continue;
            };
            let f = at as f64 / finish as f64;
            all.entry(r.division).or_default().push((r.event, f));
            all.entry(ANY).or_default().push((r.event, f));
        }
        for (division, fractions) in all {
            for &event in &events {
                let mut others: Vec<f64> = fractions
                    .iter()
                    .filter(|(e, _)| *e != event)
                    .map(|(_, f)| *f)
                    .collect();
                if others.len() < 10 {
                    continue;
                }
                others.sort_by(f64::total_cmp);
                if let Some(m) = quantile(&others, 0.5) {
                    out.insert((event, division, point), m);
                }
            }
        }
    }
    out
}

/// The backtest's figures at one timing point.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointMetrics {
    pub point: usize,
    /// Predictions made (held-out efforts timed at the point).
    pub predictions: usize,
    /// Mean absolute error, in % of the finish time.
    pub mae_pct: f64,
    /// Share of held-out finishes inside the 80 % interval (0–1).
    pub coverage80: f64,
    /// The same for "the finish is twice the elapsed time".
    pub baseline_naive_pct: f64,
    /// The same for "the elapsed time divided by the division's median elapsed fraction at
    /// the point on the other events".
    pub baseline_median_fraction_pct: f64,
}

/// Leave-one-event-out backtest of `model`'s references: each effort is predicted at every
/// point it was timed at from its own splits up to there, by the other events' efforts, with
/// intervals calibrated on the other events only. Limited to `events` when not empty.
pub fn backtest(model: &Model, events: &[u32]) -> Vec<PointMetrics> {
    backtest_every(model, events, 1)
}

/// [`backtest`] over every `every`th reference (a large history is sampled evenly).
pub fn backtest_every(model: &Model, events: &[u32], every: usize) -> Vec<PointMetrics> {
    metrics_of(model, &trials(model, &[], every), events)
}

/// `model` calibrated on every `every`th reference (leave one event out) and its backtest,
/// both from the same held-out predictions (what a training needs, made once).
pub fn calibrated_with_backtest(model: Model, every: usize) -> (Model, Vec<PointMetrics>) {
    let all = trials(&model, &[], every);
    let metrics = metrics_of(&model, &all, &[]);
    let calibration = calibration_of(model.points, &all, None);
    (model.with_calibration(calibration), metrics)
}

/// The backtest's figures per point from held-out predictions `all` (limited to `events`
/// when not empty), each event's intervals calibrated on the other events.
fn metrics_of(model: &Model, all: &[Trial], events: &[u32]) -> Vec<PointMetrics> {
    let held: Vec<u32> = {
        let mut e: Vec<u32> = all.iter().map(|t| t.event).collect();
        e.sort_unstable();
        e.dedup();
        e
    };
    // Each event's calibration is fitted without it.
    let calibrations: HashMap<u32, Vec<f64>> = held
        .iter()
        .map(|&e| (e, calibration_of(model.points, all, Some(e))))
        .collect();
    let mut out = Vec::new();
    // `point` selects trials; it also indexes each event's calibration.
    #[allow(clippy::needless_range_loop)]
    for point in 1..model.points.saturating_sub(1) {
        let at: Vec<&Trial> = all
            .iter()
            .filter(|t| t.point == point)
            .filter(|t| events.is_empty() || events.contains(&t.event))
            .filter(|t| t.median_fraction.is_some())
            .collect();
        if at.is_empty() {
            continue;
        }
        let n = at.len() as f64;
        let pct = |predicted: f64, t: &Trial| 100.0 * (predicted - t.finish).abs() / t.finish;
        let mae = at.iter().map(|t| pct(t.predicted, t)).sum::<f64>() / n;
        let naive = at.iter().map(|t| pct(2.0 * t.elapsed, t)).sum::<f64>() / n;
        let fraction = at
            .iter()
            .map(|t| pct(t.elapsed / t.median_fraction.unwrap_or(1.0), t))
            .sum::<f64>()
            / n;
        let covered = at
            .iter()
            .filter(|t| t.score <= calibrations[&t.event][point])
            .count();
        out.push(PointMetrics {
            point,
            predictions: at.len(),
            mae_pct: mae,
            coverage80: covered as f64 / n,
            baseline_naive_pct: naive,
            baseline_median_fraction_pct: fraction,
        });
    }
    out
}

/// The mean absolute error, in % of the finish time, of `model` predicting `efforts` at every
/// point each was timed at before its finish (every `every`th effort). With `own_event_out`
/// each effort's own event is left out of the references (when `model` was fitted on them).
/// `None` when nothing could be predicted.
pub fn mean_error(
    model: &Model,
    efforts: &[Reference],
    own_event_out: bool,
    every: usize,
) -> Option<f64> {
    let efforts: Vec<&Reference> = efforts.iter().step_by(every.max(1)).collect();
    let made = held_out(model, &efforts, own_event_out);
    let sum: f64 = made
        .iter()
        .map(|h| 100.0 * (h.raw.finish() - h.finish).abs() / h.finish)
        .sum();
    (!made.is_empty()).then(|| sum / made.len() as f64)
}

/// A pre-race prediction from an athlete's own finishes on the course (most recent last):
/// the median of the last three, with the 10th–90th percentile of the race-to-race changes
/// seen on the course (`repeat_changes`, ratios next/previous − 1; when there are none, the
/// spread of the athlete's own finishes). `None` without a finish.
pub fn pre_race(own: &[i64], repeat_changes: &[f64]) -> Option<Prediction> {
    let recent: Vec<f64> = own.iter().rev().take(3).map(|&f| f as f64).collect();
    let mut sorted = recent.clone();
    sorted.sort_by(f64::total_cmp);
    let median = quantile(&sorted, 0.5)?;
    let (low, high) = if repeat_changes.len() >= 10 {
        let mut changes = repeat_changes.to_vec();
        changes.sort_by(f64::total_cmp);
        (
            quantile(&changes, 0.1).unwrap_or(0.0),
            quantile(&changes, 0.9).unwrap_or(0.0),
        )
    } else {
        (
            sorted[0] / median - 1.0,
            sorted[sorted.len() - 1] / median - 1.0,
        )
    };
    Some(Prediction {
        finish_ms: median.round() as i64,
        low_ms: (median * (1.0 + low.min(0.0))).round() as i64,
        high_ms: (median * (1.0 + high.max(0.0))).round() as i64,
        basis: Basis::Efforts(recent.len()),
        point: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_men() -> Division {
        Division {
            category: Category::Open,
            gender: Gender::Men,
        }
    }

    /// Efforts whose every segment is `level ×` a fixed profile, for `events` events.
    fn fixed_profile(levels: &[f64], events: u32) -> Vec<Reference> {
        let profile = crate::simulation::standard_medians_s();
        let mut out = Vec::new();
        for event in 0..events {
            for &level in levels {
                let mut t = 0i64;
                let mut elapsed = vec![Some(0)];
                for s in &profile {
                    t += (s * level * 1000.0).round() as i64;
                    elapsed.push(Some(t));
                }
                out.push(Reference {
                    event,
                    division: open_men(),
                    elapsed,
                    started_ms: None,
                });
            }
        }
        out
    }

    fn observed(reference: &Reference, upto: usize) -> Observed {
        Observed {
            division: reference.division,
            passed: (0..=upto)
                .map(|p| (p, reference.elapsed[p].unwrap()))
                .collect(),
        }
    }

    #[test]
    fn an_athlete_on_a_fixed_profile_is_predicted_within_a_tight_band() {
        let course = Course::hyrox_standard();
        let levels: Vec<f64> = (0..200).map(|i| 0.7 + i as f64 * 0.004).collect();
        let model = Model::new(&course, fixed_profile(&levels, 3)).calibrated();
        let athlete = &fixed_profile(&[1.1], 1)[0];
        let finish = athlete.finish().unwrap();
        for point in 1..24 {
            let p = model.predict(&observed(athlete, point)).unwrap();
            let error = (p.finish_ms - finish).abs() as f64 / finish as f64;
            assert!(error < 0.005, "at point {point}: {p:?} for {finish}");
            assert!(p.low_ms <= finish && finish <= p.high_ms, "{p:?}");
            assert_eq!(p.basis, Basis::Efforts(NEIGHBOURS));
        }
    }

    #[test]
    fn the_shape_of_the_splits_matters_not_only_the_elapsed_time() {
        // Two kinds of athletes reach the fourth station's mat at the same time: runners
        // (fast runs, slow stations) and the reverse; the rest of their race differs.
        let course = Course::hyrox_standard();
        let profile = crate::simulation::standard_medians_s();
        let athlete = |run: f64, station: f64, event: u32| {
            let mut t = 0i64;
            let mut elapsed = vec![Some(0)];
            for (i, s) in profile.iter().enumerate() {
                let f = if i % 3 == 0 { run } else { station };
                t += (s * f * 1000.0).round() as i64;
                elapsed.push(Some(t));
            }
            Reference {
                event,
                division: open_men(),
                elapsed,
                started_ms: None,
            }
        };
        let mut references = Vec::new();
        for event in 0..4 {
            for k in 0..60 {
                let jitter = 1.0 + k as f64 * 0.0005;
                references.push(athlete(0.8 * jitter, 1.2 * jitter, event));
                references.push(athlete(1.2 * jitter, 0.8 * jitter, event));
            }
        }
        let model = Model::new(&course, references);
        for (run, station) in [(0.8, 1.2), (1.2, 0.8)] {
            let target = athlete(run, station, 9);
            let p = model.predict(&observed(&target, 12)).unwrap();
            let finish = target.finish().unwrap();
            let error = (p.finish_ms - finish).abs() as f64 / finish as f64;
            assert!(error < 0.01, "{run}/{station}: {p:?} for {finish}");
        }
    }

    #[test]
    fn the_interval_widens_when_few_efforts_are_comparable() {
        let course = Course::hyrox_standard();
        let noisy = |n: usize, seed: u64| {
            let race = simulate(&SimConfig {
                seed,
                entries: n,
                miss_rate: 0.0,
                duplicate_rate: 0.0,
                dropout_rate: 0.0,
                ..SimConfig::default()
            });
            race.truth
                .iter()
                .map(|t| Reference {
                    event: 0,
                    division: open_men(),
                    elapsed: t.iter().map(|x| Some(x.0 - t[0].0)).collect(),
                    started_ms: None,
                })
                .collect::<Vec<_>>()
        };
        let many = Model::new(&course, noisy(2_000, 1));
        let few = Model::new(&course, noisy(12, 1));
        let target = &noisy(1, 99)[0];
        let width = |m: &Model| {
            let p = m.predict(&observed(target, 10)).unwrap();
            (p.high_ms - p.low_ms, p.basis)
        };
        let (wide, few_basis) = width(&few);
        let (narrow, many_basis) = width(&many);
        assert_eq!(few_basis, Basis::Efforts(12));
        assert_eq!(many_basis, Basis::Efforts(NEIGHBOURS));
        assert!(wide > narrow, "{wide} vs {narrow}");
    }

    /// A calibrated model of two simulated events (noisy efforts, the real spread).
    static SIMULATED: std::sync::LazyLock<Model> = std::sync::LazyLock::new(|| {
        let course = Course::hyrox_standard();
        let mut references = Vec::new();
        for event in 0..2u32 {
            let race = simulate(&SimConfig {
                seed: 7 + u64::from(event),
                entries: 600,
                miss_rate: 0.0,
                duplicate_rate: 0.0,
                dropout_rate: 0.0,
                ..SimConfig::default()
            });
            references.extend(race.truth.iter().map(|t| Reference {
                event,
                division: open_men(),
                elapsed: t.iter().map(|x| Some(x.0 - t[0].0)).collect(),
                started_ms: None,
            }));
        }
        Model::new(&course, references).calibrated()
    });

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// At every read of a race, the interval is no wider than the 10–90 % spread of the
        /// comparable efforts allows (widened for a small sample, times the point's
        /// calibration), and holds the predicted finish.
        #[test]
        fn no_read_widens_the_interval_beyond_the_spread_of_comparable_efforts(
            level in 0.8f64..1.25,
            last in 1usize..24,
        ) {
            let model = &*SIMULATED;
            let mut athlete = fixed_profile(&[level], 1).remove(0);
            athlete.event = 9;
            for point in 1..=last {
                let seen = observed(&athlete, point);
                let raw = model.neighbours(&seen, None).unwrap();
                let p = model.predict(&seen).unwrap();
                let q = |at: f64| quantile(&raw.ratios, at).unwrap();
                let widen = 1.0 + 2.0 / (raw.ratios.len() as f64).sqrt();
                let allowed = model.calibration()[raw.point] * widen * (q(0.9) - q(0.1)) * raw.base;
                proptest::prop_assert!(
                    (p.high_ms - p.low_ms) as f64 <= allowed + 2.0,
                    "at point {point}: {p:?} wider than {allowed}"
                );
                proptest::prop_assert!(p.low_ms <= p.finish_ms && p.finish_ms <= p.high_ms);
            }
        }
    }

    #[test]
    fn predictions_are_deterministic_and_none_after_the_finish() {
        let course = Course::hyrox_standard();
        let model = Model::prior(&course);
        assert!(model.is_prior());
        let athlete = &fixed_profile(&[1.0], 1)[0];
        let a = model.predict(&observed(athlete, 8)).unwrap();
        let b = Model::prior(&course)
            .predict(&observed(athlete, 8))
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.basis, Basis::Prior);
        assert_eq!(model.predict(&observed(athlete, 24)), None);
    }

    #[test]
    fn the_backtest_beats_both_baselines_on_simulated_events_and_covers_80_percent() {
        let course = Course::hyrox_standard();
        let mut references = Vec::new();
        for event in 0..4u32 {
            let race = simulate(&SimConfig {
                seed: 100 + event as u64,
                entries: 600,
                miss_rate: 0.0,
                duplicate_rate: 0.0,
                dropout_rate: 0.0,
                ..SimConfig::default()
            });
            for (entry, t) in race.entries.iter().zip(&race.truth) {
                references.push(Reference {
                    event,
                    division: Division {
                        category: entry.category,
                        gender: entry.gender,
                    },
                    elapsed: t.iter().map(|x| Some(x.0 - t[0].0)).collect(),
                    started_ms: None,
                });
            }
        }
        let model = Model::new(&course, references);
        let metrics = backtest(&model, &[]);
        let row_in = course.index_of("ROW_IN").unwrap();
        let m = metrics.iter().find(|m| m.point == row_in).unwrap();
        assert!(m.mae_pct < m.baseline_median_fraction_pct, "{m:?}");
        assert!(m.mae_pct < m.baseline_naive_pct, "{m:?}");
        assert!((0.75..=0.85).contains(&m.coverage80), "{m:?}");
    }

    #[test]
    fn the_offset_is_the_shrunk_median_residual_of_those_finished_before() {
        let mut finishers = Finishers::default();
        finishers.add(1_000, &[(5, 0.1), (6, 0.5)]);
        finishers.add(2_000, &[(5, 0.3)]);
        finishers.add(3_000, &[(5, 0.2), (5, f64::NAN)]);
        finishers.add(9_000, &[(5, 9.0)]);
        // At 5,000 ms three finishers count at point 5: median 0.2, shrunk by 3 / (3 + 10).
        let expected = 0.2 * 3.0 / 13.0;
        assert!((finishers.offset(5, 5_000) - expected).abs() < 1e-12);
        // Only those finished strictly before; none at all gives no offset.
        assert!((finishers.offset(5, 1_500) - 0.1 / 11.0).abs() < 1e-12);
        assert_eq!(finishers.offset(5, 1_000), 0.0);
        assert_eq!(finishers.offset(7, 5_000), 0.0);
    }

    /// Efforts on the fixed profile whose second half (from point 13) is `slow ×` slower.
    fn venue(levels: &[f64], event: u32, slow: f64, start_every_ms: i64) -> Vec<Reference> {
        let profile = crate::simulation::standard_medians_s();
        levels
            .iter()
            .enumerate()
            .map(|(n, &level)| {
                let mut t = 0i64;
                let mut elapsed = vec![Some(0)];
                for (i, s) in profile.iter().enumerate() {
                    let f = if i >= 13 { slow } else { 1.0 };
                    t += (s * level * f * 1000.0).round() as i64;
                    elapsed.push(Some(t));
                }
                Reference {
                    event,
                    division: open_men(),
                    elapsed,
                    started_ms: Some(n as i64 * start_every_ms),
                }
            })
            .collect()
    }

    #[test]
    fn an_events_earlier_finishers_correct_what_other_venues_cannot_tell() {
        // The references' venues are alike; this event's second half is 10 % slower.
        let course = Course::hyrox_standard();
        let levels: Vec<f64> = (0..200).map(|i| 0.7 + i as f64 * 0.004).collect();
        let model = Model::new(&course, fixed_profile(&levels, 3));
        let here: Vec<Reference> = venue(&[0.9, 0.95, 1.0, 1.05, 1.1], 9, 1.1, 60_000);
        let mut finishers = Finishers::default();
        for r in &here {
            let passed = r.passed();
            finishers.add(
                r.started_ms.unwrap() + r.finish().unwrap(),
                &model.residuals(r.division, &passed),
            );
        }
        // An athlete starting after all of them have finished.
        let athlete = &venue(&[1.02], 9, 1.1, 0)[0];
        let started = 10_000_000;
        let finish = athlete.finish().unwrap();
        let seen = observed(athlete, 14);
        let plain = model.predict(&seen).unwrap();
        let corrected = model.predict_in_event(&seen, started, &finishers).unwrap();
        let error = |p: Prediction| (p.finish_ms - finish).abs() as f64 / finish as f64;
        assert!(error(plain) > 0.03, "{plain:?} for {finish}");
        // Five finishers move it 5 / 15 of the way (the shrinkage).
        assert!(
            error(corrected) < error(plain) * 0.75,
            "{corrected:?} for {finish}"
        );
        assert!(
            corrected.low_ms <= corrected.finish_ms && corrected.finish_ms <= corrected.high_ms
        );
        // An athlete who reached the mat before anyone finished is not moved.
        assert_eq!(
            model.predict_in_event(&seen, -10_000_000, &finishers),
            Some(plain)
        );
    }

    #[test]
    fn a_pre_race_prediction_comes_from_the_athletes_own_finishes() {
        assert_eq!(pre_race(&[], &[]), None);
        let p = pre_race(&[5_000_000, 4_800_000, 4_700_000, 4_900_000], &[]).unwrap();
        assert_eq!(p.finish_ms, 4_800_000);
        assert_eq!((p.low_ms, p.high_ms), (4_700_000, 4_900_000));
        let changes: Vec<f64> = (0..=20).map(|i| -0.1 + i as f64 * 0.01).collect();
        let p = pre_race(&[4_000_000], &changes).unwrap();
        assert_eq!(
            (p.low_ms, p.finish_ms, p.high_ms),
            (3_680_000, 4_000_000, 4_320_000)
        );
        assert_eq!(p.basis, Basis::Efforts(1));
    }
}
