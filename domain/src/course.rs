//! Courses: the ordered timing points of a race and the segments between them.

use crate::error::InvalidInput;
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
            });
            segments.push(Segment {
                code: format!("ROXZONE_{n}"),
                from: base + 1,
            });
            segments.push(Segment {
                code: (*station).to_owned(),
                from: base + 2,
            });
        }
        Self {
            code: HYROX_STANDARD.to_owned(),
            points: points.into_iter().map(TimingPointCode).collect(),
            segments,
        }
    }

    /// A custom course from its timing points in order. It must start at `START`, end at
    /// `FINISH`, and name each point once. Segments are named `<FROM>__<TO>`.
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
            })
            .collect();
        Ok(Self {
            code: CUSTOM.to_owned(),
            points: parsed,
            segments,
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
}
