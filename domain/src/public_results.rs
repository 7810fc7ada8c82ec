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
        // `Last, First (NAT)`; the nationality and the comma may be missing.
        let (name, nationality) = match raw.name.trim().strip_suffix(')') {
            Some(rest) => match rest.rsplit_once('(') {
                Some((name, nat)) => (name.trim(), Some(nat.trim().to_owned())),
                None => (raw.name.trim(), None),
            },
            None => (raw.name.trim(), None),
        };
        let (last, first) = match name.split_once(',') {
            Some((last, first)) => (last.trim(), first.trim()),
            None => match name.rsplit_once(' ') {
                Some((first, last)) => (last.trim(), first.trim()),
                None => (name, ""),
            },
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
            last_name: last.to_owned(),
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

    /// How the result's parts compare with its official total, and where the mats go.
    ///
    /// Runs and stations are kept exactly as published. The eight roxzone transitions are
    /// known only as a sum, so each gets an estimated share; the official total is the net
    /// time, and whatever the parts leave of it lands in the roxzone: when all sixteen parts
    /// are known, the roxzone is what the total leaves after them (the difference from the
    /// published roxzone total is `difference_ms`), shared evenly; when that leaves less than
    /// the roxzone's minimum (the parts overshoot the total), the published shares are used and
    /// the last transition takes the whole difference, where the engine sees it (a read out of
    /// order or too fast, set aside and flagged). With a part unknown, the mats are placed
    /// forward from the start while parts are known and backward from the finish after the
    /// last unknown part, so an unknown part takes the difference and mats between two unknown
    /// parts stay missed. A mat that would fall outside the race is listed apart (`outside`).
    pub fn placement(&self, course: &Course, wave_start: Timestamp) -> Placement {
        let Some(total) = self.total_ms else {
            return Placement::default();
        };
        let finish_index = course.finish_index();
        let is_roxzone = |k: usize| k % 3 == 1;
        let roxzone_min = course.segments()[1].limits.min.0;
        let parts_sum: Option<i64> = self.parts_ms.iter().copied().sum();
        let published_share = self.roxzone_ms.map(|r| r / 8);
        let mut shares: [Option<i64>; 8] = [published_share; 8];
        let mut absorber = None;
        let mut difference_ms = None;
        if let Some(parts) = parts_sum {
            let left = total - parts;
            difference_ms = self.roxzone_ms.map(|r| left - r);
            if left >= 8 * roxzone_min {
                for (i, share) in shares.iter_mut().enumerate() {
                    *share = Some(left * (i as i64 + 1) / 8 - left * i as i64 / 8);
                }
            } else {
                let share = published_share.unwrap_or(roxzone_min);
                shares = [Some(share); 8];
                absorber = Some(3 * 7 + 1);
            }
        }
        let mut segments = [None; 24];
        for n in 0..8 {
            segments[3 * n] = self.parts_ms[n];
            segments[3 * n + 1] = shares[n];
            segments[3 * n + 2] = self.parts_ms[8 + n];
        }
        let start = wave_start.0;
        let finish = start + total;
        let mut at: Vec<Option<i64>> = vec![None; finish_index + 1];
        at[0] = Some(start);
        at[finish_index] = Some(finish);
        let mut t = start;
        for k in 0..finish_index - 1 {
            let Some(d) = segments[k].filter(|_| absorber != Some(k)) else {
                break;
            };
            t += d;
            at[k + 1] = Some(t);
        }
        let mut t = finish;
        for k in (1..finish_index).rev() {
            if at[k].is_some() {
                break;
            }
            let Some(d) = segments[k] else { break };
            t -= d;
            at[k] = Some(t);
        }
        let estimated =
            |p: usize| is_roxzone(p - 1) || segments[p - 1].is_none() || absorber == Some(p - 1);
        let mut placement = Placement {
            difference_ms,
            overshoot: absorber.is_some(),
            ..Placement::default()
        };
        for (p, t) in at.iter().enumerate() {
            let Some(t) = *t else { continue };
            let inside = p == 0 || p == finish_index || (start < t && t < finish);
            if inside {
                let estimated = p != 0 && p != finish_index && estimated(p);
                placement.reads.push((p, Timestamp(t), estimated));
            } else {
                placement.outside.push((p, Timestamp(t)));
            }
        }
        placement
    }

    /// The mat reads a timing system would have sent for this result on the standard course,
    /// as `(point index, instant)` (see [`PublicResult::placement`]).
    pub fn reads(&self, course: &Course, wave_start: Timestamp) -> Vec<(usize, Timestamp)> {
        self.placement(course, wave_start)
            .reads
            .into_iter()
            .map(|(p, t, _)| (p, t))
            .collect()
    }
}

/// Where a published result's mats go on the course (see [`PublicResult::placement`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// `(point index, instant, estimated)`: estimated when the time since the previous mat is
    /// a share of a sum or a remainder, not a published split.
    pub reads: Vec<(usize, Timestamp, bool)>,
    /// What the official total leaves for the roxzone minus the published roxzone total, when
    /// every part and the roxzone total are published: the source's inconsistency, put in the
    /// roxzone.
    pub difference_ms: Option<i64>,
    /// The parts leave less than the roxzone's minimum of the total: they cannot all be
    /// placed as published.
    pub overshoot: bool,
    /// Reads that would fall outside the race (at or before the start, at or after the
    /// finish), as `(point index, instant)`: not among `reads`.
    pub outside: Vec<(usize, Timestamp)>,
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

    const RUNS: [i64; 8] = [223, 233, 248, 257, 262, 240, 236, 289];
    const STATIONS: [i64; 8] = [236, 80, 175, 197, 259, 81, 161, 238];

    /// The duration of each segment between two consecutive placed reads, by segment index.
    fn durations(reads: &[(usize, Timestamp, bool)]) -> BTreeMap<usize, (i64, bool)> {
        reads
            .windows(2)
            .filter(|w| w[1].0 == w[0].0 + 1)
            .map(|w| (w[0].0, (w[1].1 .0 - w[0].1 .0, w[1].2)))
            .collect()
    }

    #[test]
    fn runs_and_stations_stay_exact_and_the_roxzone_takes_what_the_total_leaves() {
        let r = PublicResult::parse_line(LINE).unwrap();
        let course = Course::hyrox_standard();
        let placed = r.placement(&course, Timestamp(0));
        assert_eq!(placed.reads.len(), 25);
        assert_eq!(placed.reads[0], (0, Timestamp(0), false));
        assert_eq!(placed.reads[24], (24, Timestamp(3_699_000), false));
        assert!(placed.reads.windows(2).all(|w| w[0].1 < w[1].1));
        let parts: i64 = RUNS.iter().chain(&STATIONS).sum();
        let roxzone = 3_699 - parts;
        // The parts leave 7 s less for the roxzone than the source's own roxzone total says.
        assert_eq!(placed.difference_ms, Some((roxzone - 291) * 1000));
        assert!(!placed.overshoot && placed.outside.is_empty());
        let d = durations(&placed.reads);
        for n in 0..8 {
            assert_eq!(d[&(3 * n)], (RUNS[n] * 1000, false), "run {}", n + 1);
            assert_eq!(
                d[&(3 * n + 2)],
                (STATIONS[n] * 1000, false),
                "station {}",
                n + 1
            );
            assert!(d[&(3 * n + 1)].1, "roxzone {} is estimated", n + 1);
        }
        let transitions: i64 = (0..8).map(|n| d[&(3 * n + 1)].0).sum();
        assert_eq!(transitions, roxzone * 1000);
    }

    #[test]
    fn parts_that_overshoot_the_total_break_the_chain_in_the_last_transition_only() {
        let course = Course::hyrox_standard();
        // Run 3 published 250 s too long: the parts leave less than the roxzone minimum.
        let long = LINE.replace("\"03_Running 3\": 248.0", "\"03_Running 3\": 498.0");
        let placed = PublicResult::parse_line(&long)
            .unwrap()
            .placement(&course, Timestamp(0));
        assert!(placed.overshoot);
        assert_eq!(placed.reads.len(), 25);
        assert_eq!(placed.reads[24].1, Timestamp(3_699_000));
        let d = durations(&placed.reads);
        let mut runs = RUNS;
        runs[2] = 498;
        for n in 0..8 {
            assert_eq!(d[&(3 * n)].0, runs[n] * 1000, "run {}", n + 1);
            assert_eq!(d[&(3 * n + 2)].0, STATIONS[n] * 1000, "station {}", n + 1);
        }
        for n in 0..7 {
            assert_eq!(d[&(3 * n + 1)], (291_000 / 8, true));
        }
        // The last transition takes the difference: negative, so its reads are out of order.
        let parts: i64 = runs.iter().chain(&STATIONS).sum::<i64>() * 1000;
        assert_eq!(d[&22].0, 3_699_000 - parts - 7 * (291_000 / 8));
        assert!(d[&22].0 < 0 && d[&22].1);
    }

    #[test]
    fn unknown_splits_leave_mats_out_and_wrong_ones_never_pass_the_finish() {
        let course = Course::hyrox_standard();
        // One unknown split: the official total places every mat, and the unknown run is
        // what the rest leaves, estimated.
        let one = LINE.replace("\"03_Running 3\": 248.0", "\"03_Running 3\": null");
        let placed = PublicResult::parse_line(&one)
            .unwrap()
            .placement(&course, Timestamp(0));
        assert_eq!(placed.reads.len(), 25);
        assert_eq!(placed.difference_ms, None);
        let others: i64 = RUNS.iter().chain(&STATIONS).sum::<i64>() - 248;
        let d = durations(&placed.reads);
        assert_eq!(d[&6], ((3_699 - others) * 1000 - 8 * (291_000 / 8), true));
        assert_eq!(d[&8], (STATIONS[2] * 1000, false));
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
        let placed = PublicResult::parse_line(&wrong)
            .unwrap()
            .placement(&course, Timestamp(0));
        assert!(placed.overshoot);
        assert!(!placed.outside.is_empty());
        assert!(placed
            .reads
            .iter()
            .all(|(p, t, _)| *p == 0 || *p == 24 || (0 < t.0 && t.0 < 3_699_000)));
        assert_eq!(
            placed.reads.last(),
            Some(&(24, Timestamp(3_699_000), false))
        );
    }

    #[test]
    fn names_read_with_or_without_comma_and_nationality() {
        let name = |n: &str| {
            let r = PublicResult::parse_line(&LINE.replace("Schroeder, Tim (GER)", n)).unwrap();
            (r.first_name, r.last_name, r.nationality)
        };
        let tim = (
            "Tim".to_owned(),
            "Schroeder".to_owned(),
            Some("GER".to_owned()),
        );
        assert_eq!(name("Schroeder, Tim (GER)"), tim);
        assert_eq!(name("Tim Schroeder (GER)"), tim);
        assert_eq!(
            name("Schroeder, Tim"),
            ("Tim".into(), "Schroeder".into(), None)
        );
        assert_eq!(name("Madonna"), ("".into(), "Madonna".into(), None));
    }

    #[test]
    fn bad_lines_are_named() {
        let err = PublicResult::parse_file(&format!("{LINE}\n{{\"x\":1}}\n")).unwrap_err();
        assert_eq!(err.field, "line 2");
        let twice = PublicResult::parse_file(&format!("{LINE}\n{LINE}\n")).unwrap();
        assert_eq!(twice.len(), 1);
    }
}
