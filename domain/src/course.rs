//! Courses: the ordered timing points of a race and the segments between them.

use crate::error::InvalidInput;
use crate::field::OutlierRule;
use crate::timing::DurationMs;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The code of a timing point (a mat), e.g. `START`, `RUN3`, `ROW_IN`, `FINISH`.
/// Upper-case ASCII letters, digits and `_`, 1 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimingPointCode(String);

impl TimingPointCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let valid = !raw.is_empty()
            && raw.len() <= 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput::new(
                "timingPoint",
                format!(
                    "`{raw}` is not a timing point code (A-Z, 0-9 and _, at most 32 characters)"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TimingPointCode {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TimingPointCode> for String {
    fn from(value: TimingPointCode) -> Self {
        value.0
    }
}

impl fmt::Display for TimingPointCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One segment of a course: the stretch between two consecutive timing points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub code: String,
    /// Index of the timing point the segment starts at; it ends at `from + 1`.
    pub from: usize,
    /// The plausibility limits of the segment.
    pub limits: SegmentLimits,
}

/// How long a segment can plausibly take. A read that would make a segment faster than `min`
/// is flagged and set aside (the neighbouring splits merge); a segment slower than `max` is
/// flagged and kept (athletes do walk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SegmentLimits {
    pub min: DurationMs,
    pub max: Option<DurationMs>,
}

/// The longest limit podium accepts: a segment is never expected to take more than a day.
const LIMIT_CEILING_MS: i64 = 24 * 3600 * 1000;

/// A per-event override of one segment's limits, by segment code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverride {
    pub segment: String,
    pub min_ms: i64,
    pub max_ms: Option<i64>,
}

/// Default plausibility limits of the standard course, in seconds: `(segment, min, max)`.
///
/// Minimums sit below the fastest the movement has ever been done, so only impossible reads
/// trip them: 1 km on foot under 2:00 (the 1,000 m world record is 2:11.96); 1,000 m on the
/// SkiErg or the rower under 2:30 (the Concept2 world records are slower than that); 50 m of
/// sled push under 30 s and of sled pull under 45 s (elite HYROX splits are 1:45–3:00 at
/// competition weights); 80 m of burpee broad jumps under 60 s (about 25 jumps at well over
/// one per 2 s, elite splits are 2:30+); 200 m of farmers carry under 30 s (a sprint with two
/// 24 kg kettlebells, elite splits are ~1:00); 100 m of sandbag lunges under 60 s (about 70
/// lunges, elite splits are ~3:00); 100 wall balls under 75 s (more than one rep per 0.75 s);
/// a roxzone transfer under 5 s. Maximums are sanity bounds (45 min for a run or a station,
/// 15 min in a roxzone): slower is possible but worth a look.
const HYROX_LIMITS_S: [(&str, i64, i64); 10] = [
    ("RUN", 120, 2700),
    ("ROXZONE", 5, 900),
    ("SKIERG", 150, 2700),
    ("SLED_PUSH", 30, 2700),
    ("SLED_PULL", 45, 2700),
    ("BURPEE_BROAD_JUMP", 60, 2700),
    ("ROW", 150, 2700),
    ("FARMERS_CARRY", 30, 2700),
    ("SANDBAG_LUNGES", 60, 2700),
    ("WALL_BALLS", 75, 2700),
];

fn hyrox_limits(kind: &str) -> SegmentLimits {
    let (_, min, max) = HYROX_LIMITS_S
        .iter()
        .find(|(k, _, _)| *k == kind)
        .copied()
        .unwrap_or(("", 0, LIMIT_CEILING_MS / 1000));
    SegmentLimits {
        min: DurationMs(min * 1000),
        max: Some(DurationMs(max * 1000)),
    }
}

/// The eight HYROX stations, in race order.
pub const HYROX_STATIONS: [&str; 8] = [
    "SKIERG",
    "SLED_PUSH",
    "SLED_PULL",
    "BURPEE_BROAD_JUMP",
    "ROW",
    "FARMERS_CARRY",
    "SANDBAG_LUNGES",
    "WALL_BALLS",
];

pub const START: &str = "START";
pub const FINISH: &str = "FINISH";
pub const HYROX_STANDARD: &str = "HYROX_STANDARD";
pub const CUSTOM: &str = "CUSTOM";

/// A course: timing points in race order (the first is `START`, the last `FINISH`) and the
/// segments between consecutive points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Course {
    code: String,
    points: Vec<TimingPointCode>,
    segments: Vec<Segment>,
    #[serde(default)]
    outliers: OutlierRule,
}

impl Course {
    /// The built-in HYROX course: 25 timing points, 24 segments.
    pub fn hyrox_standard() -> Self {
        let mut points = vec![START.to_owned()];
        let mut segments = Vec::with_capacity(24);
        for (i, station) in HYROX_STATIONS.iter().enumerate() {
            let n = i + 1;
            let base = points.len() - 1;
            points.push(format!("RUN{n}"));
            points.push(format!("{station}_IN"));
            points.push(if n == 8 {
                FINISH.to_owned()
            } else {
                format!("{station}_OUT")
            });
            segments.push(Segment {
                code: format!("RUN_{n}"),
                from: base,
                limits: hyrox_limits("RUN"),
            });
            segments.push(Segment {
                code: format!("ROXZONE_{n}"),
                from: base + 1,
                limits: hyrox_limits("ROXZONE"),
            });
            segments.push(Segment {
                code: (*station).to_owned(),
                from: base + 2,
                limits: hyrox_limits(station),
            });
        }
        Self {
            code: HYROX_STANDARD.to_owned(),
            points: points.into_iter().map(TimingPointCode).collect(),
            segments,
            outliers: OutlierRule::default(),
        }
    }

    /// A custom course from its timing points in order. It must start at `START`, end at
    /// `FINISH`, and name each point once. Segments are named `<FROM>__<TO>` and have no
    /// plausibility limits until the event sets some.
    pub fn custom(points: &[String]) -> Result<Self, InvalidInput> {
        let field = "course.points";
        if points.len() < 2 {
            return Err(InvalidInput::new(
                field,
                "a course needs at least START and FINISH",
            ));
        }
        if points.len() > 200 {
            return Err(InvalidInput::new(
                field,
                "a course has at most 200 timing points",
            ));
        }
        let parsed = points
            .iter()
            .map(|p| TimingPointCode::parse(p).map_err(|e| InvalidInput::new(field, e.message)))
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.first().map(TimingPointCode::as_str) != Some(START) {
            return Err(InvalidInput::new(
                field,
                "the first timing point must be START",
            ));
        }
        if parsed.last().map(TimingPointCode::as_str) != Some(FINISH) {
            return Err(InvalidInput::new(
                field,
                "the last timing point must be FINISH",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for p in &parsed {
            if !seen.insert(p.as_str()) {
                return Err(InvalidInput::new(
                    field,
                    format!("timing point `{p}` appears twice"),
                ));
            }
        }
        let segments = parsed
            .windows(2)
            .enumerate()
            .map(|(from, w)| Segment {
                code: format!("{}__{}", w[0], w[1]),
                from,
                limits: SegmentLimits::default(),
            })
            .collect();
        Ok(Self {
            code: CUSTOM.to_owned(),
            points: parsed,
            segments,
            outliers: OutlierRule::default(),
        })
    }

    /// Rebuilds a stored course: the standard template by its code, a custom one by its points.
    pub fn restore(code: &str, points: &[String]) -> Result<Self, InvalidInput> {
        if code == HYROX_STANDARD {
            Ok(Self::hyrox_standard())
        } else {
            Self::custom(points)
        }
    }

    /// The course with some segments' limits replaced. Each override names a segment of this
    /// course once; `min` is at least 0 and below `max`; both at most 24 h.
    pub fn with_limits(mut self, overrides: &[LimitOverride]) -> Result<Self, InvalidInput> {
        let field = "segmentLimits";
        let mut seen = std::collections::HashSet::new();
        for o in overrides {
            let Some(segment) = self.segments.iter_mut().find(|s| s.code == o.segment) else {
                return Err(InvalidInput::new(
                    field,
                    format!("`{}` is not a segment of course {}", o.segment, self.code),
                ));
            };
            if !seen.insert(o.segment.as_str()) {
                return Err(InvalidInput::new(
                    field,
                    format!("segment `{}` appears twice", o.segment),
                ));
            }
            if !(0..=LIMIT_CEILING_MS).contains(&o.min_ms) {
                return Err(InvalidInput::new(
                    field,
                    format!("{}: minMs must be between 0 and 86400000", o.segment),
                ));
            }
            if let Some(max) = o.max_ms {
                if max <= o.min_ms || max > LIMIT_CEILING_MS {
                    return Err(InvalidInput::new(
                        field,
                        format!(
                            "{}: maxMs must be above minMs and at most 86400000",
                            o.segment
                        ),
                    ));
                }
            }
            segment.limits = SegmentLimits {
                min: DurationMs(o.min_ms),
                max: o.max_ms.map(DurationMs),
            };
        }
        Ok(self)
    }

    /// Every segment's limits as overrides, for storage.
    pub fn limits(&self) -> Vec<LimitOverride> {
        self.segments
            .iter()
            .map(|s| LimitOverride {
                segment: s.code.clone(),
                min_ms: s.limits.min.0,
                max_ms: s.limits.max.map(|m| m.0),
            })
            .collect()
    }

    /// The least time an athlete can take from point `from` to point `to` (sum of minimums).
    pub fn min_between(&self, from: usize, to: usize) -> DurationMs {
        DurationMs(
            self.segments
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .map(|s| s.limits.min.0)
                .sum(),
        )
    }

    /// Cumulative minimums: `prefix[j] - prefix[i]` is `min_between(i, j)` in O(1), for the
    /// engine's quadratic loops.
    pub fn min_prefix(&self) -> Vec<i64> {
        let mut prefix = Vec::with_capacity(self.points.len());
        prefix.push(0);
        for s in &self.segments {
            prefix.push(prefix.last().copied().unwrap_or(0) + s.limits.min.0);
        }
        prefix
    }

    /// The most time that is plausible from `from` to `to`, if every segment has a maximum.
    pub fn max_between(&self, from: usize, to: usize) -> Option<DurationMs> {
        self.segments
            .get(from..to)?
            .iter()
            .map(|s| s.limits.max.map(|m| m.0))
            .sum::<Option<i64>>()
            .map(DurationMs)
    }

    /// Human names of the segments from point `from` to point `to`, joined with `+`.
    pub fn describe_span(&self, from: usize, to: usize) -> String {
        let names: Vec<&str> = self
            .segments
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .map(|s| s.code.as_str())
            .collect();
        format!(
            "{} ({} → {})",
            names.join(" + "),
            self.points[from],
            self.points[to]
        )
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn points(&self) -> &[TimingPointCode] {
        &self.points
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Position of a timing point on this course, or `None` if the course has no such point.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.points.iter().position(|p| p.as_str() == code)
    }

    /// When a measured split is an outlier against its field (see `field`).
    pub fn outlier_rule(&self) -> &OutlierRule {
        &self.outliers
    }

    /// The course with another outlier rule (a per-event override).
    pub fn with_outlier_rule(mut self, rule: OutlierRule) -> Self {
        self.outliers = rule;
        self
    }

    pub fn finish_index(&self) -> usize {
        self.points.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_course_has_25_points_and_24_segments() {
        let course = Course::hyrox_standard();
        assert_eq!(course.points().len(), 25);
        assert_eq!(course.segments().len(), 24);
        assert_eq!(course.points()[0].as_str(), "START");
        assert_eq!(course.points()[1].as_str(), "RUN1");
        assert_eq!(course.points()[2].as_str(), "SKIERG_IN");
        assert_eq!(course.points()[3].as_str(), "SKIERG_OUT");
        assert_eq!(course.points()[23].as_str(), "WALL_BALLS_IN");
        assert_eq!(course.points()[24].as_str(), "FINISH");
        assert!(course.index_of("WALL_BALLS_OUT").is_none());
    }

    #[test]
    fn standard_segments_are_run_roxzone_station_in_order() {
        let course = Course::hyrox_standard();
        let codes: Vec<_> = course.segments().iter().map(|s| s.code.as_str()).collect();
        assert_eq!(
            &codes[..6],
            &[
                "RUN_1",
                "ROXZONE_1",
                "SKIERG",
                "RUN_2",
                "ROXZONE_2",
                "SLED_PUSH"
            ]
        );
        assert_eq!(&codes[21..], &["RUN_8", "ROXZONE_8", "WALL_BALLS"]);
        for (i, s) in course.segments().iter().enumerate() {
            assert_eq!(s.from, i);
        }
    }

    #[test]
    fn a_custom_course_must_start_at_start_and_end_at_finish() {
        let ok = Course::custom(&["START".into(), "KM5".into(), "FINISH".into()]).unwrap();
        assert_eq!(ok.segments()[0].code, "START__KM5");
        assert!(Course::custom(&["KM5".into(), "FINISH".into()]).is_err());
        assert!(Course::custom(&["START".into(), "KM5".into()]).is_err());
        let err =
            Course::custom(&["START".into(), "A".into(), "A".into(), "FINISH".into()]).unwrap_err();
        assert!(err.message.contains("twice"));
        assert!(Course::custom(&["START".into(), "bad point".into(), "FINISH".into()]).is_err());
    }

    #[test]
    fn standard_limits_sum_over_merged_segments_and_can_be_overridden() {
        let course = Course::hyrox_standard();
        // RUN_1 + ROXZONE_1 + SKIERG
        assert_eq!(course.min_between(0, 3), DurationMs((120 + 5 + 150) * 1000));
        assert_eq!(course.max_between(1, 2), Some(DurationMs(900_000)));
        let row = |min_ms, max_ms| LimitOverride {
            segment: "ROW".into(),
            min_ms,
            max_ms,
        };
        let custom = course.clone().with_limits(&[row(100_000, None)]).unwrap();
        let i = custom.index_of("ROW_IN").unwrap();
        assert_eq!(custom.min_between(i, i + 1), DurationMs(100_000));
        assert_eq!(custom.max_between(i, i + 1), None);
        let restored = Course::hyrox_standard()
            .with_limits(&custom.limits())
            .unwrap();
        assert_eq!(restored, custom);

        let unknown = course
            .clone()
            .with_limits(&[LimitOverride {
                segment: "SWIM".into(),
                min_ms: 0,
                max_ms: None,
            }])
            .unwrap_err();
        assert!(unknown.message.contains("SWIM"));
        assert!(course.clone().with_limits(&[row(-1, None)]).is_err());
        assert!(course.clone().with_limits(&[row(10, Some(5))]).is_err());
        assert!(course
            .clone()
            .with_limits(&[row(10, None), row(20, None)])
            .is_err());
    }

    #[test]
    fn custom_courses_have_no_limits_by_default() {
        let course = Course::custom(&["START".into(), "KM5".into(), "FINISH".into()]).unwrap();
        assert_eq!(course.min_between(0, 2), DurationMs(0));
        assert_eq!(course.max_between(0, 2), None);
        assert_eq!(
            course.describe_span(0, 2),
            "START__KM5 + KM5__FINISH (START → FINISH)"
        );
    }
}
