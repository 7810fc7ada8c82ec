//! Field-relative plausibility: a split compared with the typical split of comparable athletes.
//!
//! Physical minimums catch only the impossible; a misread usually gives a split that is merely
//! absurd for the field — a 73 s sandbag-lunge leg where the division's median is five
//! minutes. Following timing-data practice (OpenSplitTime marks a segment bad below 0.4× or
//! above 2.5× the typical time), a measured segment is a `SEGMENT_OUTLIER` when it is below
//! `low` × or above `high` × the median of the same segment among the event's entries of the
//! same category and gender, once at least `min_field` of them have measured it. Merged splits
//! (over a missed mat) are never compared: how they divide is unknown.
//!
//! A [`Field`] keeps, per division and segment, the sorted measured durations with their
//! entries, so a median is a lookup and the entries beyond a threshold are a range. When a
//! batch of entries changes, [`Field::apply`] returns the other entries whose outlier status
//! the moved medians changed, and only those are re-flagged.

use crate::course::Course;
use crate::division::{Category, Gender};
use crate::engine::Progress;
use crate::error::InvalidInput;
use crate::flags::{Flag, FlagKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// When a measured split is an outlier against its field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierRule {
    /// Below this share of the median is an outlier (default 0.4).
    pub low: f64,
    /// Above this multiple of the median is an outlier (default 2.5).
    pub high: f64,
    /// Entries that must have measured the segment before any is compared (default 20).
    pub min_field: u32,
}

// The constructor refuses NaN, so equality is total.
impl Eq for OutlierRule {}

impl Default for OutlierRule {
    fn default() -> Self {
        Self {
            low: 0.4,
            high: 2.5,
            min_field: 20,
        }
    }
}

impl OutlierRule {
    /// Checks a rule: `0 < low < 1 < high ≤ 100`, `min_field` at least 3 (a median of fewer
    /// is no field).
    pub fn new(low: f64, high: f64, min_field: u32) -> Result<Self, InvalidInput> {
        if !(low > 0.0 && low < 1.0) {
            return Err(InvalidInput::new(
                "outlierLow",
                format!("must be above 0 and below 1, not {low}"),
            ));
        }
        if !(high > 1.0 && high <= 100.0) {
            return Err(InvalidInput::new(
                "outlierHigh",
                format!("must be above 1 and at most 100, not {high}"),
            ));
        }
        if min_field < 3 {
            return Err(InvalidInput::new(
                "outlierMinField",
                format!("must be at least 3, not {min_field}"),
            ));
        }
        Ok(Self {
            low,
            high,
            min_field,
        })
    }

    fn is_outlier(&self, duration: i64, median: i64) -> bool {
        let (d, m) = (duration as f64, median as f64);
        d < self.low * m || d > self.high * m
    }
}

/// A field of comparable entries.
pub type Division = (Category, Gender);

/// The measured durations of one segment in one division, ascending, with their entries.
#[derive(Debug, Clone, Default)]
struct SegmentField {
    sorted: Vec<(i64, Uuid)>,
}

impl SegmentField {
    fn insert(&mut self, value: (i64, Uuid)) {
        let at = self.sorted.partition_point(|v| *v < value);
        self.sorted.insert(at, value);
    }

    fn remove(&mut self, value: (i64, Uuid)) {
        if let Ok(at) = self.sorted.binary_search(&value) {
            self.sorted.remove(at);
        }
    }

    /// The median once the field is large enough: the middle value, or the mean of the two
    /// middle values (rounded down) for an even count.
    fn median(&self, rule: &OutlierRule) -> Option<i64> {
        let n = self.sorted.len();
        if n == 0 || n < rule.min_field as usize {
            return None;
        }
        Some(if n % 2 == 1 {
            self.sorted[n / 2].0
        } else {
            (self.sorted[n / 2 - 1].0 + self.sorted[n / 2].0).div_euclid(2)
        })
    }

    /// The entries whose duration is an outlier: the two tails beyond the thresholds.
    fn outliers(&self, rule: &OutlierRule) -> Vec<Uuid> {
        let Some(median) = self.median(rule) else {
            return Vec::new();
        };
        let low_end = self
            .sorted
            .partition_point(|(d, _)| rule.is_outlier(*d, median) && (*d as f64) < median as f64);
        let high_start = self
            .sorted
            .partition_point(|(d, _)| !rule.is_outlier(*d, median) || (*d as f64) < median as f64);
        self.sorted[..low_end]
            .iter()
            .chain(&self.sorted[high_start..])
            .map(|(_, e)| *e)
            .collect()
    }
}

/// One entry's measured (neither merged nor estimated) segment durations, by segment index.
pub fn measured(progress: &Progress, segments: usize) -> Vec<Option<i64>> {
    let mut out = vec![None; segments];
    for split in progress.splits.iter().filter(|s| s.is_measured()) {
        if let Some(slot) = out.get_mut(split.from_point) {
            *slot = Some(split.duration.0);
        }
    }
    out
}

/// The measured splits of an event's entries, by division and segment.
#[derive(Debug, Clone)]
pub struct Field {
    rule: OutlierRule,
    segments: usize,
    /// Per division, its segments' fields. An event has a handful of divisions: a list
    /// searched in place costs less than hashing on every split of every entry.
    divisions: Vec<(Division, Vec<SegmentField>)>,
    entries: HashMap<Uuid, (Division, Vec<Option<i64>>)>,
}

impl Field {
    pub fn new(course: &Course) -> Self {
        Self {
            rule: *course.outlier_rule(),
            segments: course.segments().len(),
            divisions: Vec::new(),
            entries: HashMap::new(),
        }
    }

    fn fields(&self, division: Division) -> Option<&[SegmentField]> {
        self.divisions
            .iter()
            .find(|(d, _)| *d == division)
            .map(|(_, f)| f.as_slice())
    }

    fn fields_mut(&mut self, division: Division) -> &mut Vec<SegmentField> {
        let at = match self.divisions.iter().position(|(d, _)| *d == division) {
            Some(at) => at,
            None => {
                self.divisions
                    .push((division, vec![SegmentField::default(); self.segments]));
                self.divisions.len() - 1
            }
        };
        &mut self.divisions[at].1
    }

    /// Records entries' measured segments (see [`measured`]), replacing what they had, and
    /// returns the entries whose outlier status in some segment changed because a median
    /// moved or a field reached its minimum size — those that are not among `updates`, whose
    /// flags the caller recomputes anyway. Each entry appears in `updates` at most once.
    pub fn apply(&mut self, updates: Vec<(Uuid, Division, Vec<Option<i64>>)>) -> BTreeSet<Uuid> {
        // What moves, per entry and segment: its old and its new (division, duration). Only
        // those move in the sorted fields (usually one or two segments per entry and batch).
        let mut moves = Vec::new();
        for (entry, division, measured) in &updates {
            let before = self.entries.get(entry);
            for k in 0..self.segments {
                let old = before.and_then(|(d, m)| Some((*d, m.get(k).copied().flatten()?)));
                let new = measured.get(k).copied().flatten().map(|n| (*division, n));
                if old != new {
                    moves.push((*entry, k, old, new));
                }
            }
        }
        let touched: BTreeSet<(Division, usize)> = moves
            .iter()
            .flat_map(|&(_, k, old, new)| {
                [old, new].into_iter().flatten().map(move |(d, _)| (d, k))
            })
            .collect();
        let outliers_before: HashMap<(Division, usize), Vec<Uuid>> = touched
            .iter()
            .map(|&(d, k)| ((d, k), self.outliers(d, k)))
            .collect();
        for (entry, k, old, new) in moves {
            if let Some((d, value)) = old {
                if let Some(field) = self.fields_mut(d).get_mut(k) {
                    field.remove((value, entry));
                }
            }
            if let Some((d, value)) = new {
                self.fields_mut(d)[k].insert((value, entry));
            }
        }
        let updated: BTreeSet<Uuid> = updates.iter().map(|(e, _, _)| *e).collect();
        for (entry, division, measured) in updates {
            self.entries.insert(entry, (division, measured));
        }
        let mut changed = BTreeSet::new();
        for ((d, k), before) in outliers_before {
            let after: BTreeSet<Uuid> = self.outliers(d, k).into_iter().collect();
            let before: BTreeSet<Uuid> = before.into_iter().collect();
            changed.extend(before.symmetric_difference(&after).copied());
        }
        changed.retain(|e| !updated.contains(e));
        changed
    }

    /// The division an entry was recorded in.
    pub fn division(&self, entry: Uuid) -> Option<Division> {
        self.entries.get(&entry).map(|(d, _)| *d)
    }

    fn outliers(&self, division: Division, segment: usize) -> Vec<Uuid> {
        self.fields(division)
            .and_then(|f| f.get(segment))
            .map(|f| f.outliers(&self.rule))
            .unwrap_or_default()
    }

    /// The median of a segment in a division, once enough entries have measured it.
    pub fn median(&self, division: Division, segment: usize) -> Option<i64> {
        self.fields(division)?.get(segment)?.median(&self.rule)
    }

    /// The `SEGMENT_OUTLIER` flags of an entry recorded in this field, from its progress.
    pub fn flags(&self, course: &Course, entry: Uuid, progress: &Progress) -> Vec<Flag> {
        let Some((division, _)) = self.entries.get(&entry) else {
            return Vec::new();
        };
        let Some(fields) = self.fields(*division) else {
            return Vec::new();
        };
        let at = |point: usize| {
            progress
                .passed
                .iter()
                .find(|(p, _)| *p == point)
                .map(|(_, t)| *t)
        };
        let mut flags = Vec::new();
        for split in progress.splits.iter().filter(|s| s.is_measured()) {
            let k = split.from_point;
            let Some(field) = fields.get(k) else {
                continue;
            };
            let Some(median) = field.median(&self.rule) else {
                continue;
            };
            let d = split.duration.0;
            if !self.rule.is_outlier(d, median) {
                continue;
            }
            flags.push(Flag {
                kind: FlagKind::SegmentOutlier,
                point: split.to_point,
                at: at(split.to_point),
                related: at(k).map(|t| (k, t)),
                detail: format!(
                    "{} took {:.1} s, {:.2}× the median {:.1} s of the {} {} {} entries that had measured it then (outside {}× to {}×)",
                    course.describe_span(k, split.to_point),
                    d as f64 / 1000.0,
                    d as f64 / median as f64,
                    median as f64 / 1000.0,
                    field.sorted.len(),
                    division.0,
                    division.1,
                    self.rule.low,
                    self.rule.high,
                ),
            });
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_MEN: Division = (Category::Open, Gender::Men);

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn one_segment(durations: &[i64]) -> Vec<(Uuid, Division, Vec<Option<i64>>)> {
        durations
            .iter()
            .enumerate()
            .map(|(n, d)| (id(n as u128), OPEN_MEN, vec![Some(*d)]))
            .collect()
    }

    fn field(rule: OutlierRule) -> Field {
        Field {
            rule,
            segments: 1,
            divisions: Vec::new(),
            entries: HashMap::new(),
        }
    }

    /// Outliers by the definition, computed without the sorted index.
    fn brute_outliers(rule: &OutlierRule, durations: &[(Uuid, i64)]) -> BTreeSet<Uuid> {
        if durations.len() < rule.min_field as usize {
            return BTreeSet::new();
        }
        let mut v: Vec<i64> = durations.iter().map(|(_, d)| *d).collect();
        v.sort();
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2] as f64
        } else {
            ((v[n / 2 - 1] + v[n / 2]) / 2) as f64
        };
        durations
            .iter()
            .filter(|(_, d)| (*d as f64) < rule.low * median || (*d as f64) > rule.high * median)
            .map(|(e, _)| *e)
            .collect()
    }

    #[test]
    fn a_split_far_from_the_median_is_an_outlier_once_the_field_is_large_enough() {
        let rule = OutlierRule::default();
        let mut f = field(rule);
        let mut durations: Vec<i64> = (0..18).map(|n| 300_000 + n * 1_000).collect();
        durations.push(73_000); // a 73 s sandbag-lunge leg
        assert!(f.apply(one_segment(&durations)).is_empty());
        assert_eq!(f.median(OPEN_MEN, 0), None, "19 entries are no field yet");
        // The 20th entry makes the field: the 73 s leg becomes an outlier.
        let changed = f.apply(vec![(id(100), OPEN_MEN, vec![Some(310_000)])]);
        assert_eq!(changed, BTreeSet::from([id(18)]));
        assert_eq!(f.outliers(OPEN_MEN, 0), vec![id(18)]);
    }

    #[test]
    fn medians_move_with_the_field_and_flags_follow() {
        let rule = OutlierRule::new(0.4, 2.5, 3).unwrap();
        let mut f = field(rule);
        f.apply(one_segment(&[100, 100, 100, 45]));
        assert!(
            f.outliers(OPEN_MEN, 0).is_empty(),
            "45 is not below 0.4 × 100"
        );
        // Slow entries arrive: the median rises to 120, and 45 falls below 48.
        let changed = f.apply(vec![
            (id(10), OPEN_MEN, vec![Some(120)]),
            (id(11), OPEN_MEN, vec![Some(130)]),
            (id(12), OPEN_MEN, vec![Some(140)]),
            (id(13), OPEN_MEN, vec![Some(150)]),
            (id(14), OPEN_MEN, vec![Some(160)]),
        ]);
        assert_eq!(f.median(OPEN_MEN, 0), Some(120));
        assert_eq!(changed, BTreeSet::from([id(3)]));
        // An entry's own change replaces its old value.
        let changed = f.apply(vec![(id(3), OPEN_MEN, vec![Some(110)])]);
        assert!(changed.is_empty());
        assert!(f.outliers(OPEN_MEN, 0).is_empty());
    }

    #[test]
    fn divisions_are_separate_fields() {
        let rule = OutlierRule::new(0.4, 2.5, 3).unwrap();
        let mut f = field(rule);
        f.apply(one_segment(&[100, 100, 100]));
        f.apply(vec![(
            id(50),
            (Category::Pro, Gender::Women),
            vec![Some(30)],
        )]);
        assert!(f.outliers((Category::Pro, Gender::Women), 0).is_empty());
        assert!(f.outliers(OPEN_MEN, 0).is_empty());
    }

    #[test]
    fn bad_rules_are_refused() {
        assert_eq!(
            OutlierRule::new(1.2, 2.5, 20).unwrap_err().field,
            "outlierLow"
        );
        assert_eq!(
            OutlierRule::new(0.4, 0.9, 20).unwrap_err().field,
            "outlierHigh"
        );
        assert_eq!(
            OutlierRule::new(0.4, 2.5, 1).unwrap_err().field,
            "outlierMinField"
        );
    }

    proptest::proptest! {
        #[test]
        fn outliers_and_changes_match_a_recount_from_scratch(
            batches in proptest::collection::vec(
                proptest::collection::vec((0u128..40, 1i64..1_000), 1..12), 1..8),
            min_field in 3u32..12,
        ) {
            let rule = OutlierRule::new(0.4, 2.5, min_field).unwrap();
            let mut f = field(rule);
            let mut current: HashMap<Uuid, i64> = HashMap::new();
            for batch in batches {
                let before = brute_outliers(&rule, &current.iter().map(|(e, d)| (*e, *d)).collect::<Vec<_>>());
                let mut updates = Vec::new();
                let mut in_batch = BTreeSet::new();
                for (e, d) in batch {
                    if in_batch.insert(id(e)) {
                        updates.push((id(e), OPEN_MEN, vec![Some(d)]));
                        current.insert(id(e), d);
                    }
                }
                let changed = f.apply(updates);
                let after = brute_outliers(&rule, &current.iter().map(|(e, d)| (*e, *d)).collect::<Vec<_>>());
                let got: BTreeSet<Uuid> = f.outliers(OPEN_MEN, 0).into_iter().collect();
                proptest::prop_assert_eq!(&got, &after);
                let expected: BTreeSet<Uuid> = before
                    .symmetric_difference(&after)
                    .filter(|e| !in_batch.contains(e))
                    .copied()
                    .collect();
                proptest::prop_assert_eq!(changed, expected);
            }
        }
    }
}
