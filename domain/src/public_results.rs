//! Public results in the timing provider's format (one JSON object per line, see
//! `testdata/hyrox-results/README.md`): parsing, and turning a result's split table back into
//! the mat reads a timing system would have sent for it.
//!
//! The split table knows each run and station, and the roxzone only as a total. The reads are
//! placed forward from the start while splits are known and backward from the finish
//! (`start + total`) after the last unknown split; mats between two unknown splits, and any
//! read the split table would put after the finish (a wrong split: the timing system cannot
//! have read an athlete on the course after they finished), are left out as missed mats. The
//! roxzone total is shared evenly between the eight transitions; when it is unknown, what the
//! official total leaves after the runs and stations is.

use crate::course::Course;
use crate::division::{Category, Gender};
use crate::error::InvalidInput;
use crate::timing::{Bib, Timestamp};
use serde::Deserialize;
use std::collections::BTreeMap;

/// How a source's `division` and `category` words read as podium's categories and genders:
/// `regular → OPEN`, `pro → PRO`, `men → MEN`, `women → WOMEN`, `mixed → MIXED` unless told
/// otherwise; podium's own names are understood too. Words compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivisionWords(BTreeMap<String, String>);

impl Default for DivisionWords {
    fn default() -> Self {
        let pairs = [
            ("regular", "OPEN"),
            ("pro", "PRO"),
            ("men", "MEN"),
            ("women", "WOMEN"),
            ("mixed", "MIXED"),
        ];
        Self(
            pairs
                .iter()
                .map(|(from, to)| (from.to_string(), to.to_string()))
                .collect(),
        )
    }
}

impl DivisionWords {
    /// The defaults with `source → podium` pairs added or replaced, e.g. `elite=PRO`. Each
    /// target must be a podium category or gender.
    pub fn with(mut self, pairs: &[(String, String)]) -> Result<Self, InvalidInput> {
        for (from, to) in pairs {
            let to = to.trim().to_ascii_uppercase();
            if to.parse::<Category>().is_err() && to.parse::<Gender>().is_err() {
                return Err(InvalidInput::new(
                    "map",
                    format!("`{to}` is neither a podium category nor a gender"),
                ));
            }
            self.0.insert(from.trim().to_lowercase(), to);
        }
        Ok(self)
    }

    /// `word` (a source's `field`) as podium's `T`.
    fn podium<T: std::str::FromStr<Err = InvalidInput>>(
        &self,
        field: &str,
        word: &str,
    ) -> Result<T, InvalidInput> {
        let key = word.trim().to_lowercase();
        let podium = self
            .0
            .get(&key)
            .cloned()
            .unwrap_or_else(|| word.trim().to_ascii_uppercase());
        podium.parse().map_err(|_| {
            let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
            InvalidInput::new(
                field,
                format!(
                    "`{word}` is not a known word ({}); map it with --map {key}=<podium name>",
                    known.join(", ")
                ),
            )
        })
    }
}

/// One published result.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicResult {
    pub event: String,
    pub bib: Bib,
    pub first_name: String,
    pub last_name: String,
    pub nationality: Option<String>,
    pub category: Category,
    pub gender: Gender,
    /// The lower bound of the published age band (`U24` → 16), when published.
    pub age_from: Option<u32>,
    /// The wave's start, local time of the venue.
    pub wave_start_local: chrono::NaiveDateTime,
    /// The official net time, in milliseconds.
    pub total_ms: Option<i64>,
    /// The official rank within category × gender.
    pub place: Option<u32>,
    /// Runs 1–8 then stations 1–8 in course order, in milliseconds; `None` where unknown.
    pub parts_ms: [Option<i64>; 16],
    /// The sum of the eight roxzone transitions, when known.
    pub roxzone_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Line {
    event_occurrence: String,
    start_number: String,
    name: String,
    division: String,
    category: String,
    #[serde(default)]
    age_group: Option<String>,
    start_time: String,
    total_time: Option<f64>,
    place: Option<serde_json::Value>,
    splits: BTreeMap<String, Option<f64>>,
}

fn seconds_to_ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

impl PublicResult {
    /// Parses one line of the format, with the source's own division words.
    pub fn parse_line(line: &str) -> Result<Self, InvalidInput> {
        Self::parse_line_with(line, &DivisionWords::default())
    }

    /// Parses one line, reading its `division` and `category` words through `words`.
    pub fn parse_line_with(line: &str, words: &DivisionWords) -> Result<Self, InvalidInput> {
        let raw: Line = serde_json::from_str(line)
            .map_err(|e| InvalidInput::new("line", format!("is not a result object: {e}")))?;
        let bib = Bib::parse(&raw.start_number)?;
        let (last, rest) = raw.name.split_once(',').unwrap_or((raw.name.as_str(), ""));
        let (first, nationality) = match rest.trim().rsplit_once('(') {
            Some((first, nat)) if nat.ends_with(')') => (
                first.trim(),
                Some(nat.trim_end_matches(')').trim().to_owned()),
            ),
            _ => (rest.trim(), None),
        };
        let category: Category = words.podium("division", &raw.division)?;
        let gender: Gender = words.podium("category", &raw.category)?;
        let age_from = match raw.age_group.as_deref() {
            None | Some("") => None,
            Some("U24") => Some(16),
            Some(band) => Some(band.parse().map_err(|_| {
                InvalidInput::new("age_group", format!("`{band}` is not an age band"))
            })?),
        };
        let wave_start_local =
            chrono::NaiveDateTime::parse_from_str(&raw.start_time, "%Y-%m-%d %H:%M:%S").map_err(
                |e| {
                    InvalidInput::new(
                        "start_time",
                        format!("`{}` is not `YYYY-MM-DD hh:mm:ss` ({e})", raw.start_time),
                    )
                },
            )?;
        let place = match raw.place {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| n as u32),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        // Keys are numbered in course order: `01_Running 1` … `16_Wall Balls`, `17_Roxzone Time`.
        let mut parts_ms = [None; 16];
        let mut roxzone_ms = None;
        for (key, value) in &raw.splits {
            let number: usize = key
                .get(..2)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| InvalidInput::new("splits", format!("`{key}` is not numbered")))?;
            let ms = value.filter(|s| *s > 0.0).map(seconds_to_ms);
            match number {
                1..=16 => parts_ms[number - 1] = ms,
                17 => roxzone_ms = ms,
                _ => {
                    return Err(InvalidInput::new(
                        "splits",
                        format!("unknown split `{key}`"),
                    ))
                }
            }
        }
        Ok(Self {
            event: raw.event_occurrence,
            bib,
            first_name: first.to_owned(),
            last_name: last.trim().to_owned(),
            nationality,
            category,
            gender,
            age_from,
            wave_start_local,
            total_ms: raw.total_time.filter(|t| *t > 0.0).map(seconds_to_ms),
            place,
            parts_ms,
            roxzone_ms,
        })
    }

    /// Parses a whole file; a bib published twice keeps its first row (the provider's pages
    /// repeat some). Errors name the line.
    pub fn parse_file(text: &str) -> Result<Vec<Self>, InvalidInput> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let result = Self::parse_line(line).map_err(|e| {
                InvalidInput::new(
                    format!("line {}", n + 1),
                    format!("{}: {}", e.field, e.message),
                )
            })?;
            if seen.insert(result.bib.clone()) {
                out.push(result);
            }
        }
        Ok(out)
    }

    /// The duration of each of the standard course's 24 segments, where known.
    fn segment_ms(&self) -> [Option<i64>; 24] {
        let known: Option<i64> = self.parts_ms.iter().copied().sum();
        let roxzone = self
            .roxzone_ms
            .or_else(|| Some(self.total_ms? - known?))
            .filter(|r| *r > 0)
            .map(|r| r / 8);
        let mut out = [None; 24];
        for n in 0..8 {
            out[3 * n] = self.parts_ms[n];
            out[3 * n + 1] = roxzone;
            out[3 * n + 2] = self.parts_ms[8 + n];
        }
        out
    }

    /// The mat reads a timing system would have sent for this result on the standard course,
    /// as `(point index, instant)`, given the wave start as an instant. Empty without an
    /// official total (the entry did not finish).
    pub fn reads(&self, course: &Course, wave_start: Timestamp) -> Vec<(usize, Timestamp)> {
        let Some(total) = self.total_ms else {
            return Vec::new();
        };
        let finish_index = course.finish_index();
        let start = wave_start.0;
        let finish = start + total;
        let segments = self.segment_ms();
        let mut at: Vec<Option<i64>> = vec![None; finish_index + 1];
        at[0] = Some(start);
        at[finish_index] = Some(finish);
        let mut t = start;
        for (k, d) in segments.iter().enumerate().take(finish_index - 1) {
            let Some(d) = d else { break };
            t += d;
            if t >= finish {
                break;
            }
            at[k + 1] = Some(t);
        }
        let mut t = finish;
        for k in (1..finish_index).rev() {
            let Some(d) = segments[k] else { break };
            t -= d;
            if t <= start || at[k].is_some() {
                break;
            }
            at[k] = Some(t);
        }
        at.iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, Timestamp(t))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"age_group": "25", "category": "men", "division": "regular", "event": "Hyrox", "event_occurrence": "2019 Karlsruhe", "judges_bonus": null, "judges_penalty": null, "name": "Schroeder, Tim (GER)", "place": 1, "splits": {"01_Running 1": 223.0, "02_Running 2": 233.0, "03_Running 3": 248.0, "04_Running 4": 257.0, "05_Running 5": 262.0, "06_Running 6": 240.0, "07_Running 7": 236.0, "08_Running 8": 289.0, "09_1000m Ski Erg": 236.0, "10_2x25m Sled Push": 80.0, "11_2x25m Sled Pull": 175.0, "12_80m Burpee Broad Jump": 197.0, "13_1000m Ruder Erg": 259.0, "14_200m Farmers Carry": 81.0, "15_100m Sandbag Lunges": 161.0, "16_Wall Balls": 238.0, "17_Roxzone Time": 291.0}, "start_number": "123011", "start_time": "2019-03-30 12:30:00", "total_time": 3699.0, "url": "x"}"#;

    #[test]
    fn a_published_line_parses_into_its_parts() {
        let r = PublicResult::parse_line(LINE).unwrap();
        assert_eq!(r.bib.as_str(), "123011");
        assert_eq!(
            (r.first_name.as_str(), r.last_name.as_str()),
            ("Tim", "Schroeder")
        );
        assert_eq!(r.nationality.as_deref(), Some("GER"));
        assert_eq!((r.category, r.gender), (Category::Open, Gender::Men));
        assert_eq!(r.age_from, Some(25));
        assert_eq!(r.total_ms, Some(3_699_000));
        assert_eq!(r.place, Some(1));
        assert_eq!(r.parts_ms[0], Some(223_000));
        assert_eq!(r.parts_ms[15], Some(238_000));
        assert_eq!(r.roxzone_ms, Some(291_000));
    }

    #[test]
    fn complete_splits_place_every_mat_and_the_finish_at_the_official_total() {
        let r = PublicResult::parse_line(LINE).unwrap();
        let course = Course::hyrox_standard();
        let reads = r.reads(&course, Timestamp(0));
        assert_eq!(reads.len(), 25);
        assert_eq!(reads[0], (0, Timestamp(0)));
        assert_eq!(reads[1], (1, Timestamp(223_000)));
        assert_eq!(reads[2], (2, Timestamp(223_000 + 291_000 / 8)));
        assert_eq!(reads[24], (24, Timestamp(3_699_000)));
        assert!(reads.windows(2).all(|w| w[0].1 < w[1].1));
    }

    #[test]
    fn unknown_splits_leave_mats_out_and_wrong_ones_never_pass_the_finish() {
        let course = Course::hyrox_standard();
        // One unknown split: the official total places every mat.
        let one = LINE.replace("\"03_Running 3\": 248.0", "\"03_Running 3\": null");
        let reads = PublicResult::parse_line(&one)
            .unwrap()
            .reads(&course, Timestamp(0));
        assert_eq!(reads.len(), 25);
        let others: i64 = [
            223, 233, 257, 262, 240, 236, 289, 236, 80, 175, 197, 259, 81, 161, 238, 291,
        ]
        .iter()
        .sum();
        assert_eq!(reads[7].1 .0 - reads[6].1 .0, (3_699 - others) * 1000);
        // Two: the mats between them are unknown (RUN3 … RUN5 are points 7 … 13).
        let two = one.replace("\"05_Running 5\": 262.0", "\"05_Running 5\": null");
        let reads = PublicResult::parse_line(&two)
            .unwrap()
            .reads(&course, Timestamp(0));
        let points: Vec<usize> = reads.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            points,
            [0, 1, 2, 3, 4, 5, 6, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]
        );
        let wrong = LINE.replace("\"02_Running 2\": 233.0", "\"02_Running 2\": 4000.0");
        let r = PublicResult::parse_line(&wrong).unwrap();
        let reads = r.reads(&course, Timestamp(0));
        assert!(reads.iter().all(|(p, t)| *p == 24 || t.0 < 3_699_000));
        assert_eq!(reads.last(), Some(&(24, Timestamp(3_699_000))));
    }

    #[test]
    fn bad_lines_are_named() {
        let err = PublicResult::parse_file(&format!("{LINE}\n{{\"x\":1}}\n")).unwrap_err();
        assert_eq!(err.field, "line 2");
        let twice = PublicResult::parse_file(&format!("{LINE}\n{LINE}\n")).unwrap();
        assert_eq!(twice.len(), 1);
    }
}
