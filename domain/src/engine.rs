//! The race engine for one entry: its reads → accepted points → splits, status and net time.
//!
//! The engine keeps, per timing point, the earliest read of the entry (a `Timeline`). Merging a
//! read is a per-point minimum, so it is commutative, associative and idempotent: the outcome
//! never depends on arrival order or on duplicates. Everything else is a pure function of the
//! timeline (`evaluate`).

use crate::course::Course;
use crate::division::string_enum;
use crate::error::InvalidInput;
use crate::timing::{DurationMs, Timestamp};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

string_enum!(
    /// Where an entry stands in the race.
    EntryStatus, "status" {
        Registered => "REGISTERED",
        Racing => "RACING",
        Finished => "FINISHED",
        Dnf => "DNF",
        Dns => "DNS",
        Dsq => "DSQ",
    }
);

impl EntryStatus {
    /// Whether the status was set by an official rather than derived from reads.
    pub fn is_official_decision(self) -> bool {
        matches!(self, EntryStatus::Dnf | EntryStatus::Dns | EntryStatus::Dsq)
    }
}

/// What the engine keeps of an entry's reads: the earliest read at each timing point, every
/// distinct read at the finish mat, and the latest read at any course mat in between.
///
/// Each part merges by a minimum, a set union or a maximum, so recording reads is commutative,
/// associative and idempotent: the outcome never depends on arrival order or on duplicates.
/// The finish needs more than its earliest read because a stray `FINISH` read (a chip read
/// passing the finish area while the athlete is still on the course) must not hide the real,
/// later one; the latest course read is what proves a `FINISH` read stray.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    times: Vec<Option<Timestamp>>,
    /// Per point, whether its earliest read is estimated (see `Detection::estimated`): with
    /// `times`, the least `(instant, estimated)` pair, so a read and an estimate at the same
    /// instant count as read.
    estimated: Vec<bool>,
    finishes: Vec<Timestamp>,
    last_course_read: Option<(Timestamp, usize)>,
}

impl Timeline {
    pub fn new(course: &Course) -> Self {
        Self {
            times: vec![None; course.points().len()],
            estimated: vec![false; course.points().len()],
            finishes: Vec::new(),
            last_course_read: None,
        }
    }

    /// Rebuilds a timeline from its stored parts (see [`Timeline::parts`]). `finishes` may be
    /// in any order and repeat.
    pub fn from_parts(course: &Course, parts: TimelineParts) -> Result<Self, InvalidInput> {
        let points = course.points().len();
        if parts.earliest.len() != points {
            return Err(InvalidInput::new(
                "timeline",
                format!("has {} points, the course {points}", parts.earliest.len()),
            ));
        }
        if let Some((_, point)) = parts.last_course_read {
            if point == 0 || point + 1 >= points {
                return Err(InvalidInput::new(
                    "timeline",
                    format!("point {point} is not between the start and the finish"),
                ));
            }
        }
        let mut finishes: Vec<Timestamp> = parts.finishes.into_iter().map(Timestamp).collect();
        finishes.sort_unstable();
        finishes.dedup();
        let mut estimated = vec![false; points];
        for &point in &parts.estimated {
            match estimated.get_mut(point) {
                Some(slot) if parts.earliest[point].is_some() => *slot = true,
                _ => {
                    return Err(InvalidInput::new(
                        "timeline",
                        format!("estimated point {point} has no read"),
                    ))
                }
            }
        }
        Ok(Self {
            times: parts.earliest.iter().map(|t| t.map(Timestamp)).collect(),
            estimated,
            finishes,
            last_course_read: parts
                .last_course_read
                .map(|(at, point)| (Timestamp(at), point)),
        })
    }

    /// Rebuilds a timeline stored by an earlier version, which kept only the earliest read per
    /// point: that read stands for every part.
    pub fn from_earliest(course: &Course, stored: &[Option<i64>]) -> Result<Self, InvalidInput> {
        let finish = course.finish_index();
        let finishes: Vec<i64> = stored.get(finish).copied().flatten().into_iter().collect();
        let last = stored
            .iter()
            .enumerate()
            .take(finish)
            .skip(1)
            .filter_map(|(i, t)| t.map(|t| (t, i)))
            .max();
        Self::from_parts(
            course,
            TimelineParts {
                earliest: stored.to_vec(),
                finishes,
                last_course_read: last,
                estimated: Vec::new(),
            },
        )
    }

    /// The parts to store.
    pub fn parts(&self) -> TimelineParts {
        TimelineParts {
            earliest: self.times.iter().map(|t| t.map(|t| t.0)).collect(),
            finishes: self.finishes.iter().map(|t| t.0).collect(),
            last_course_read: self.last_course_read.map(|(t, p)| (t.0, p)),
            estimated: (0..self.times.len())
                .filter(|&p| self.estimated[p])
                .collect(),
        }
    }

    /// Records a read at point `index`; returns whether the timeline changed.
    pub fn record(&mut self, index: usize, at: Timestamp) -> bool {
        self.record_read(index, at, false)
    }

    /// Records a read at point `index`, `estimated` when its instant was placed rather than
    /// read (see `Detection::estimated`); returns whether the timeline changed.
    pub fn record_read(&mut self, index: usize, at: Timestamp, estimated: bool) -> bool {
        let finish = self.times.len().saturating_sub(1);
        let mut changed = match (self.times.get_mut(index), self.estimated.get_mut(index)) {
            (Some(slot @ None), Some(flag)) => {
                *slot = Some(at);
                *flag = estimated;
                true
            }
            (Some(Some(current)), Some(flag)) if (at, estimated) < (*current, *flag) => {
                *current = at;
                *flag = estimated;
                true
            }
            _ => false,
        };
        if index == finish && index > 0 {
            if let Err(position) = self.finishes.binary_search(&at) {
                self.finishes.insert(position, at);
                changed = true;
            }
        } else if index > 0 && index < finish && self.last_course_read < Some((at, index)) {
            self.last_course_read = Some((at, index));
            changed = true;
        }
        changed
    }

    /// The earliest read at point `index`.
    pub fn at(&self, index: usize) -> Option<Timestamp> {
        self.times.get(index).copied().flatten()
    }

    /// Whether the earliest read at point `index` is estimated.
    pub fn is_estimated(&self, index: usize) -> bool {
        self.estimated.get(index).copied().unwrap_or(false)
    }

    /// Every distinct read at the finish mat, earliest first.
    pub fn finishes(&self) -> &[Timestamp] {
        &self.finishes
    }

    /// The latest read at a course mat between the start and the finish, with its point.
    pub fn last_course_read(&self) -> Option<(usize, Timestamp)> {
        self.last_course_read.map(|(t, p)| (p, t))
    }

    pub fn has_reads(&self) -> bool {
        self.times.iter().any(Option::is_some)
    }
}

/// A timeline in plain numbers, for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineParts {
    /// The earliest read per point, in ms since the epoch.
    pub earliest: Vec<Option<i64>>,
    /// Every distinct finish read, ascending, in ms.
    pub finishes: Vec<i64>,
    /// The latest course read as `(instant ms, point)`.
    pub last_course_read: Option<(i64, usize)>,
    /// The points whose earliest read is estimated.
    pub estimated: Vec<usize>,
}

/// Decisions by officials that change an entry's outcome (see the officiating issue).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adjustments {
    pub status: Option<EntryStatus>,
    pub penalty: DurationMs,
}

/// A known duration between two accepted timing points. When mats in between were missed it
/// spans several segments: the duration is known, how it splits is not, and nothing is invented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub from_point: usize,
    pub to_point: usize,
    pub duration: DurationMs,
    /// The read at `to_point` was placed, not read: the duration is an estimate.
    #[serde(default)]
    pub estimated: bool,
}

impl Split {
    /// Indices of the course segments this split covers (segment `k` runs from point `k`).
    pub fn segments(&self) -> std::ops::Range<usize> {
        self.from_point..self.to_point
    }

    pub fn is_merged(&self) -> bool {
        self.to_point - self.from_point > 1
    }

    /// A segment's time between two reads, neither merged over a missed mat nor estimated:
    /// what per-segment statistics count.
    pub fn is_measured(&self) -> bool {
        !self.is_merged() && !self.estimated
    }
}

/// Why a read was not used for an entry's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SetAsideReason {
    /// The read would make the athlete go back in time.
    OutOfOrder,
    /// The read is in order but would make a segment (for a `FINISH` read: the whole race)
    /// faster than the course's minimum.
    TooFast,
    /// A `FINISH` read after which the athlete was still read at course mats: a chip read
    /// passing the finish area, not the finish.
    StrayFinish,
}

/// A read the engine did not use, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    pub point: usize,
    pub at: Timestamp,
    pub reason: SetAsideReason,
}

/// The evaluated state of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub status: EntryStatus,
    /// The instant the entry's clock starts: its `START` read, else its wave start.
    pub start: Option<Timestamp>,
    /// True when `START` was not read and the wave start was used instead.
    pub start_from_wave: bool,
    /// Accepted timing points in course order, with their times.
    pub passed: Vec<(usize, Timestamp)>,
    /// Reads that are not used because they contradict the course order, the course's
    /// physical minimums or the finish; each becomes a flag for officials to review.
    pub set_aside: Vec<SetAside>,
    pub splits: Vec<Split>,
    /// Furthest accepted point reached by a real read.
    pub last_point: Option<usize>,
    /// Elapsed time from the start to `last_point`.
    pub elapsed: Option<DurationMs>,
    /// `FINISH − start + penalties`, for finished entries.
    pub net_time: Option<DurationMs>,
    pub penalty: DurationMs,
}

/// Evaluates an entry from its timeline.
///
/// **The finish mat decides.** The entry's finish is the earliest `FINISH` read that comes at
/// least the course's minimum for the whole race after the start and after which the athlete
/// was not read at any course mat (see [`finish_of`]); the entry is then finished, whatever the
/// reads in between say. The accepted points are the longest chain of reads from the start to
/// that finish (or, without one, from the start on) that respects the course in time: each
/// accepted read comes after the previous one by at least the course's minimum for the segments
/// between them. A read that would make the athlete go back in time, or faster than physically
/// possible, is set aside (and flagged by `flags::derive`), never trusted, and the splits
/// around it merge; so is a `FINISH` read that is not the finish. A missing `START` read falls
/// back to `wave_start` and is flagged by `start_from_wave`.
pub fn evaluate(
    course: &Course,
    timeline: &Timeline,
    wave_start: Option<Timestamp>,
    adjustments: &Adjustments,
) -> Progress {
    let finish_index = course.finish_index();
    let start_read = timeline.at(0);
    let start_from_wave = start_read.is_none() && wave_start.is_some();
    let start = start_read.or(wave_start);
    let finish = finish_of(course, timeline, start);

    let mut candidates: Vec<(usize, Timestamp)> = Vec::new();
    candidates.extend(start.map(|s| (0, s)));
    candidates.extend((1..finish_index).filter_map(|i| timeline.at(i).map(|t| (i, t))));
    candidates.extend(finish.map(|f| (finish_index, f)));
    let passed = longest_plausible_chain(course, &candidates, start.is_some(), finish.is_some());

    let mut set_aside: Vec<SetAside> = candidates
        .iter()
        .filter(|(i, _)| !passed.iter().any(|(p, _)| p == i))
        .map(|&(point, at)| SetAside {
            point,
            at,
            reason: set_aside_reason(&passed, point, at),
        })
        .collect();
    let race_minimum = course.min_between(0, finish_index);
    set_aside.extend(
        timeline
            .finishes()
            .iter()
            .take_while(|f| finish.is_none_or(|finish| **f < finish))
            .map(|&at| SetAside {
                point: finish_index,
                at,
                reason: match start {
                    Some(s) if at < s => SetAsideReason::OutOfOrder,
                    Some(s) if at.since(s) < race_minimum => SetAsideReason::TooFast,
                    _ => SetAsideReason::StrayFinish,
                },
            }),
    );

    let splits = passed
        .windows(2)
        .map(|w| Split {
            from_point: w[0].0,
            to_point: w[1].0,
            duration: w[1].1.since(w[0].1),
            estimated: w[1].0 < finish_index && timeline.is_estimated(w[1].0),
        })
        .collect();

    let real_reads: Vec<&(usize, Timestamp)> = passed
        .iter()
        .filter(|(i, _)| *i != 0 || start_read.is_some())
        .collect();
    let last = real_reads.last().map(|(i, t)| (*i, *t));
    let last_point = last.map(|(i, _)| i);
    let start = passed.first().filter(|(i, _)| *i == 0).map(|(_, t)| *t);
    let elapsed = match (last, start) {
        (Some((_, t)), Some(s)) => Some(t.since(s)),
        _ => None,
    };
    let net_time = match (finish, start) {
        (Some(f), Some(s)) => Some(f.since(s) + adjustments.penalty),
        _ => None,
    };

    let status = match adjustments.status {
        Some(decided) => decided,
        None if finish.is_some() => EntryStatus::Finished,
        None if timeline.has_reads() => EntryStatus::Racing,
        None => EntryStatus::Registered,
    };

    Progress {
        status,
        start,
        start_from_wave,
        passed,
        set_aside,
        splits,
        last_point,
        elapsed,
        net_time: if status == EntryStatus::Finished {
            net_time
        } else {
            None
        },
        penalty: adjustments.penalty,
    }
}

/// The entry's finish: the earliest `FINISH` read at least the course's minimum for the whole
/// race after `start`, and not before the latest read at a course mat (a read at a course mat
/// after a `FINISH` read proves that read stray). Reads at the finish mat after it are repeats.
pub fn finish_of(
    course: &Course,
    timeline: &Timeline,
    start: Option<Timestamp>,
) -> Option<Timestamp> {
    let race_minimum = course.min_between(0, course.finish_index());
    let last_course_read = timeline.last_course_read().map(|(_, t)| t);
    timeline.finishes().iter().copied().find(|&f| {
        start.is_none_or(|s| f >= s && f.since(s) >= race_minimum)
            && last_course_read.is_none_or(|seen| f >= seen)
    })
}

/// Why a read at `point` is not in the accepted chain `passed`: it contradicts the accepted
/// reads around it in time, or it fits between them but would make a segment impossibly fast.
fn set_aside_reason(passed: &[(usize, Timestamp)], point: usize, at: Timestamp) -> SetAsideReason {
    let before = passed.iter().rev().find(|(p, _)| *p < point);
    let after = passed.iter().find(|(p, _)| *p > point);
    let in_order = before.is_none_or(|(_, t)| *t <= at) && after.is_none_or(|(_, t)| at <= *t);
    if in_order {
        SetAsideReason::TooFast
    } else {
        SetAsideReason::OutOfOrder
    }
}

/// The longest subsequence of `candidates` (sorted by point index) in which every read comes
/// at least the course's minimum after the previous one. With `anchored`, the chain must begin
/// at the first candidate (the start); with `to_last`, it must end at the last one (the
/// finish). Ties prefer the chain reaching the furthest point, then the later predecessor; all
/// choices depend only on the candidates, never on arrival order.
fn longest_plausible_chain(
    course: &Course,
    candidates: &[(usize, Timestamp)],
    anchored: bool,
    to_last: bool,
) -> Vec<(usize, Timestamp)> {
    let n = candidates.len();
    if n == 0 {
        return Vec::new();
    }
    let prefix = course.min_prefix();
    let reachable = |(from, t0): (usize, Timestamp), (to, t1): (usize, Timestamp)| {
        t1.0 - t0.0 >= prefix[to] - prefix[from]
    };
    // length[j]: longest valid chain ending at j (0 = unreachable); prev[j]: predecessor.
    let mut length = vec![0usize; n];
    let mut prev = vec![None; n];
    for j in 0..n {
        if !anchored || j == 0 {
            length[j] = 1;
        }
        for i in 0..j {
            if length[i] > 0
                && reachable(candidates[i], candidates[j])
                && length[i] + 1 >= length[j]
            {
                length[j] = length[i] + 1;
                prev[j] = Some(i);
            }
        }
    }
    let end = if to_last {
        Some(n - 1).filter(|&j| length[j] > 0)
    } else {
        (0..n)
            .filter(|&j| length[j] > 0)
            .max_by_key(|&j| (length[j], j))
    };
    let Some(end) = end else {
        return Vec::new();
    };
    let mut chain = vec![candidates[end]];
    let mut cursor = prev[end];
    while let Some(i) = cursor {
        chain.push(candidates[i]);
        cursor = prev[i];
    }
    chain.reverse();
    chain
}

/// How an entry sorts in live standings: finished by net time, then racing entries by the
/// furthest point reached and the earliest elapsed time there. Entries without a key (not
/// started, DNF, DNS, DSQ) are unranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RankKey {
    Finished {
        net_ms: i64,
    },
    Racing {
        furthest: Reverse<usize>,
        elapsed_ms: i64,
    },
}

impl Progress {
    pub fn rank_key(&self) -> Option<RankKey> {
        rank_key(
            self.status,
            self.last_point,
            self.elapsed.map(|d| d.0),
            self.net_time.map(|d| d.0),
        )
    }
}

/// The rank key from an entry's summarised state (as stored for fast reads).
pub fn rank_key(
    status: EntryStatus,
    last_point: Option<usize>,
    elapsed_ms: Option<i64>,
    net_ms: Option<i64>,
) -> Option<RankKey> {
    match status {
        EntryStatus::Finished => Some(RankKey::Finished {
            net_ms: net_ms.unwrap_or(i64::MAX),
        }),
        EntryStatus::Racing => last_point.map(|p| RankKey::Racing {
            furthest: Reverse(p),
            elapsed_ms: elapsed_ms.unwrap_or(i64::MAX),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_773_478_800_000; // 2026-03-14T09:00:00Z

    fn course() -> Course {
        Course::hyrox_standard()
    }

    fn timeline(reads: &[(&str, i64)]) -> Timeline {
        let course = course();
        let mut t = Timeline::new(&course);
        for (point, offset_s) in reads {
            t.record(
                course.index_of(point).unwrap(),
                Timestamp(T0 + offset_s * 1000),
            );
        }
        t
    }

    fn full_race() -> Vec<(String, i64)> {
        course()
            .points()
            .iter()
            .enumerate()
            .map(|(i, p)| (p.to_string(), i as i64 * 300))
            .collect()
    }

    #[test]
    fn an_entry_without_reads_is_registered() {
        let p = evaluate(
            &course(),
            &timeline(&[]),
            Some(Timestamp(T0)),
            &Adjustments::default(),
        );
        assert_eq!(p.status, EntryStatus::Registered);
        assert_eq!(p.last_point, None);
        assert_eq!(p.rank_key(), None);
    }

    #[test]
    fn net_time_is_finish_minus_start_plus_penalties() {
        let reads = full_race();
        let reads: Vec<(&str, i64)> = reads.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let adj = Adjustments {
            status: None,
            penalty: DurationMs(30_000),
        };
        let p = evaluate(&course(), &timeline(&reads), None, &adj);
        assert_eq!(p.status, EntryStatus::Finished);
        assert_eq!(p.net_time, Some(DurationMs(7_200_000 + 30_000)));
        assert_eq!(p.splits.len(), 24);
        assert!(p
            .splits
            .iter()
            .all(|s| s.duration == DurationMs(300_000) && !s.is_merged()));
    }

    #[test]
    fn a_missed_mat_merges_the_neighbouring_splits() {
        let p = evaluate(
            &course(),
            &timeline(&[
                ("START", 0),
                ("RUN1", 300),
                ("SKIERG_OUT", 600),
                ("RUN2", 900),
            ]),
            None,
            &Adjustments::default(),
        );
        assert_eq!(p.status, EntryStatus::Racing);
        assert_eq!(p.splits.len(), 3);
        let merged = &p.splits[1];
        assert!(merged.is_merged());
        assert_eq!(merged.segments(), 1..3); // ROXZONE_1 + SKIERG
        assert_eq!(merged.duration, DurationMs(300_000));
        assert_eq!(p.last_point, Some(4));
        assert_eq!(p.elapsed, Some(DurationMs(900_000)));
    }

    #[test]
    fn a_missing_start_falls_back_to_the_wave_start_and_is_flagged() {
        let p = evaluate(
            &course(),
            &timeline(&[("RUN1", 300)]),
            Some(Timestamp(T0 - 10_000)),
            &Adjustments::default(),
        );
        assert!(p.start_from_wave);
        assert_eq!(p.elapsed, Some(DurationMs(310_000)));
        assert_eq!(p.splits[0].duration, DurationMs(310_000));
    }

    #[test]
    fn a_read_that_goes_back_in_time_is_set_aside() {
        // RUN2 read before SKIERG_OUT: one of them is wrong; the longest consistent chain wins.
        let p = evaluate(
            &course(),
            &timeline(&[
                ("START", 0),
                ("RUN1", 300),
                ("SKIERG_IN", 320),
                ("SKIERG_OUT", 600),
                ("RUN2", 50),
                ("SLED_PUSH_IN", 950),
            ]),
            None,
            &Adjustments::default(),
        );
        assert_eq!(p.set_aside.len(), 1);
        assert_eq!(p.set_aside[0].point, 4);
        assert_eq!(p.set_aside[0].reason, SetAsideReason::OutOfOrder);
        assert_eq!(p.last_point, Some(5));
    }

    #[test]
    fn an_impossibly_fast_read_is_set_aside_and_the_splits_around_it_merge() {
        // A 42 s row: ROW_OUT read far too early. RUN6 after it is sound.
        let row_in = course().index_of("ROW_IN").unwrap();
        let mut reads: Vec<(String, i64)> = full_race().into_iter().take(row_in + 3).collect();
        reads[row_in].1 = reads[row_in - 1].1 + 20; // a 20 s roxzone
        let row_out_at = reads[row_in].1 + 42;
        reads[row_in + 1].1 = row_out_at;
        let reads: Vec<(&str, i64)> = reads.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let p = evaluate(&course(), &timeline(&reads), None, &Adjustments::default());
        assert_eq!(
            p.set_aside,
            vec![SetAside {
                point: row_in + 1,
                at: Timestamp(T0 + row_out_at * 1000),
                reason: SetAsideReason::TooFast,
            }]
        );
        let merged = p.splits.iter().find(|s| s.is_merged()).unwrap();
        assert_eq!(merged.segments(), row_in..row_in + 2); // ROW + RUN_6
        assert_eq!(merged.duration, DurationMs(880_000));
        assert_eq!(p.last_point, Some(row_in + 2));
    }

    #[test]
    fn a_finish_read_followed_by_course_reads_is_stray() {
        let mut reads = full_race();
        reads[5].1 = 99_999; // SLED_PUSH_IN long after the FINISH read (7,200 s)
        let reads: Vec<(&str, i64)> = reads.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let p = evaluate(&course(), &timeline(&reads), None, &Adjustments::default());
        assert_eq!(p.status, EntryStatus::Racing);
        assert_eq!(p.net_time, None);
        assert!(p.set_aside.contains(&SetAside {
            point: 24,
            at: Timestamp(T0 + 7_200_000),
            reason: SetAsideReason::StrayFinish,
        }));
    }

    #[test]
    fn the_finish_mat_decides_over_impossible_intermediate_reads() {
        // As seen in real results: plausible START and FINISH 75 min apart, but the source's
        // intermediate times put runs of 11 to 16 minutes in, impossible given the finish.
        let mut reads = vec![("START", 0)];
        let course = course();
        let points: Vec<String> = course.points().iter().map(|p| p.to_string()).collect();
        let mut t = 0;
        for (i, point) in points.iter().enumerate().take(24).skip(1) {
            t += if point.starts_with("RUN") {
                660 + 30 * i as i64
            } else {
                60
            };
            if t >= 4_500 {
                break;
            }
            reads.push((point.as_str(), t));
        }
        // The chain through those reads cannot reach the finish 75 minutes in.
        let (last, at) = *reads.last().unwrap();
        let to_finish = course.min_between(course.index_of(last).unwrap(), 24);
        assert!(4_500_000 - at * 1000 < to_finish.0);
        reads.push(("FINISH", 4_500));
        let p = evaluate(&course, &timeline(&reads), None, &Adjustments::default());
        assert_eq!(p.status, EntryStatus::Finished);
        assert_eq!(p.net_time, Some(DurationMs(4_500_000)));
        assert_eq!(p.passed.last(), Some(&(24, Timestamp(T0 + 4_500_000))));
        assert!(p.set_aside.iter().all(|a| a.point != 24));
        assert!(
            !p.set_aside.is_empty(),
            "the contradicting reads are set aside"
        );
        let total: i64 = p.splits.iter().map(|s| s.duration.0).sum();
        assert_eq!(total, 4_500_000);
    }

    #[test]
    fn a_stray_finish_read_does_not_hide_the_real_finish() {
        let mut reads = full_race(); // FINISH at 7,200 s
        reads.push(("FINISH".into(), 3_000)); // a chip read passing the finish area
        let reads: Vec<(&str, i64)> = reads.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let p = evaluate(&course(), &timeline(&reads), None, &Adjustments::default());
        assert_eq!(p.status, EntryStatus::Finished);
        assert_eq!(p.net_time, Some(DurationMs(7_200_000)));
        assert_eq!(
            p.set_aside,
            vec![SetAside {
                point: 24,
                at: Timestamp(T0 + 3_000_000),
                reason: SetAsideReason::StrayFinish,
            }]
        );
        // Before the course reads after it arrive, the stray read finishes the entry: the
        // finish mat decides on what it knows.
        let early = timeline(&[("START", 0), ("RUN3", 2_000), ("FINISH", 3_000)]);
        let p = evaluate(&course(), &early, None, &Adjustments::default());
        assert_eq!(p.status, EntryStatus::Finished);
    }

    #[test]
    fn a_finish_too_soon_after_the_start_is_set_aside() {
        let p = evaluate(
            &course(),
            &timeline(&[("START", 0), ("RUN1", 300), ("FINISH", 900)]),
            None,
            &Adjustments::default(),
        );
        assert_eq!(p.status, EntryStatus::Racing);
        assert_eq!(p.set_aside[0].reason, SetAsideReason::TooFast);
        assert_eq!(p.last_point, Some(1));
    }

    #[test]
    fn timelines_keep_every_finish_read_and_the_latest_course_read() {
        let course = course();
        let mut t = timeline(&[
            ("START", 0),
            ("FINISH", 5_000),
            ("RUN2", 900),
            ("RUN1", 400),
        ]);
        assert!(t.record(24, Timestamp(T0 + 4_000_000)));
        assert!(!t.record(24, Timestamp(T0 + 5_000_000)));
        assert_eq!(
            t.finishes(),
            &[Timestamp(T0 + 4_000_000), Timestamp(T0 + 5_000_000)]
        );
        assert_eq!(t.last_course_read(), Some((4, Timestamp(T0 + 900_000))));
        let parts = t.parts();
        assert_eq!(Timeline::from_parts(&course, parts.clone()).unwrap(), t);
        let earliest = parts.earliest.clone();
        // A timeline stored before finishes were kept reads back with its earliest reads.
        let legacy = Timeline::from_earliest(&course, &earliest).unwrap();
        assert_eq!(legacy.finishes(), &[Timestamp(T0 + 4_000_000)]);
        assert_eq!(legacy.last_course_read(), t.last_course_read());
        let bad = TimelineParts {
            last_course_read: Some((0, 24)),
            ..parts
        };
        assert!(Timeline::from_parts(&course, bad).is_err());
    }

    #[test]
    fn an_estimated_read_marks_the_split_ending_at_it_in_any_order_and_a_real_read_wins() {
        let course = course();
        let at = |s: i64| Timestamp(T0 + s * 1000);
        let reads = [(0, at(0), false), (1, at(300), false), (2, at(330), true)];
        let mut forward = Timeline::new(&course);
        let mut backward = Timeline::new(&course);
        for &(i, t, e) in &reads {
            forward.record_read(i, t, e);
        }
        for &(i, t, e) in reads.iter().rev() {
            backward.record_read(i, t, e);
        }
        assert_eq!(forward, backward);
        assert!(forward.is_estimated(2) && !forward.is_estimated(1));
        assert_eq!(
            Timeline::from_parts(&course, forward.parts()).unwrap(),
            forward
        );
        let p = evaluate(&course, &forward, None, &Adjustments::default());
        let flags: Vec<(usize, bool, bool)> = p
            .splits
            .iter()
            .map(|s| (s.from_point, s.estimated, s.is_measured()))
            .collect();
        assert_eq!(flags, [(0, false, true), (1, true, false)]);
        // Only measured splits count in per-segment statistics.
        let measured = crate::field::measured(&p, course.segments().len());
        assert_eq!(measured[0], Some(300_000));
        assert_eq!(measured[1], None);
        // A real read at the same instant counts as read, whichever came first.
        assert!(forward.record_read(2, at(330), false));
        assert!(!forward.is_estimated(2));
        assert!(!forward.record_read(2, at(330), true));
        assert!(!forward.is_estimated(2));
        // An estimate for a point without a read is refused when stored parts are read back.
        let bad = TimelineParts {
            estimated: vec![5],
            ..forward.parts()
        };
        assert!(Timeline::from_parts(&course, bad).is_err());
    }

    #[test]
    fn the_earliest_read_at_a_point_counts() {
        let mut t = timeline(&[("START", 0), ("RUN1", 310)]);
        assert!(t.record(1, Timestamp(T0 + 300_000)));
        assert!(!t.record(1, Timestamp(T0 + 305_000)));
        assert_eq!(t.at(1), Some(Timestamp(T0 + 300_000)));
    }

    #[test]
    fn an_official_decision_overrides_the_derived_status_and_unranks() {
        let reads = full_race();
        let reads: Vec<(&str, i64)> = reads.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let adj = Adjustments {
            status: Some(EntryStatus::Dsq),
            penalty: DurationMs(0),
        };
        let p = evaluate(&course(), &timeline(&reads), None, &adj);
        assert_eq!(p.status, EntryStatus::Dsq);
        assert_eq!(p.net_time, None);
        assert_eq!(p.rank_key(), None);
    }

    #[test]
    fn finished_sorts_ahead_of_racing_and_further_ahead_of_earlier() {
        let finished = rank_key(
            EntryStatus::Finished,
            Some(24),
            Some(5_000_000),
            Some(5_000_000),
        );
        let far = rank_key(EntryStatus::Racing, Some(20), Some(1_000), None);
        let near_fast = rank_key(EntryStatus::Racing, Some(10), Some(10), None);
        let near_slow = rank_key(EntryStatus::Racing, Some(10), Some(20), None);
        assert!(finished < far && far < near_fast && near_fast < near_slow);
    }
}
