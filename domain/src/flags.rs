//! Plausibility flags: what about an entry's reads deserves an official's look.
//!
//! Flags are derived, like everything else, from the entry's effective timeline (raw reads
//! minus ignored ones plus manual ones) and its evaluated progress, so they never depend on
//! arrival order. The engine flags and never drops: a flagged read stays stored, and whether
//! it counts is visible in the result (`Progress::set_aside`) and its lineage.

use crate::course::Course;
use crate::division::string_enum;
use crate::engine::{EntryStatus, Progress, SetAsideReason, Timeline};
use crate::timing::{DurationMs, Timestamp};
use serde::{Deserialize, Serialize};

string_enum!(
    /// What a flag says about a read.
    FlagKind, "kind" {
        SegmentTooFast => "SEGMENT_TOO_FAST",
        SegmentTooSlow => "SEGMENT_TOO_SLOW",
        OutOfOrder => "OUT_OF_ORDER",
        BeforeWaveStart => "BEFORE_WAVE_START",
        AfterFinish => "AFTER_FINISH",
        StrayFinish => "STRAY_FINISH",
        SegmentOutlier => "SEGMENT_OUTLIER",
        SimultaneousReads => "SIMULTANEOUS_READS",
        MissingStart => "MISSING_START",
    }
);

string_enum!(
    /// Where a flag is in review. A flag whose cause disappears (a correction ignored the read,
    /// a missing read arrived) is resolved automatically; an official may dismiss one that is
    /// fine as it is. Flags are never deleted.
    FlagStatus, "status" {
        Open => "OPEN",
        Resolved => "RESOLVED",
        Dismissed => "DISMISSED",
    }
);

/// Two reads of one bib closer together than this at points that are far apart on the course
/// (see `SIMULTANEOUS_MIN_SEPARATION`) suggest a tag read twice or swapped bibs.
pub const SIMULTANEOUS_WINDOW: DurationMs = DurationMs(5_000);
/// Points count as far apart when the course's minimum between them is at least this.
pub const SIMULTANEOUS_MIN_SEPARATION: DurationMs = DurationMs(60_000);

/// One plausibility flag on an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub kind: FlagKind,
    /// The timing point of the read concerned (`START` for a missing start).
    pub point: usize,
    /// The instant of the read concerned; `None` when the flag is about a missing read.
    pub at: Option<Timestamp>,
    /// The other read involved, if any: the segment's other end, or the simultaneous read.
    pub related: Option<(usize, Timestamp)>,
    /// What is wrong, in words, with the numbers.
    pub detail: String,
}

impl Flag {
    /// The flag's identity within its entry: the same cause always yields the same key, so a
    /// recomputation recognises a flag it has raised before.
    pub fn key(&self) -> String {
        match self.at {
            Some(at) => format!("{}:{}:{}", self.kind, self.point, at.0),
            None => format!("{}:{}", self.kind, self.point),
        }
    }
}

fn seconds(d: DurationMs) -> String {
    format!("{:.1} s", d.0 as f64 / 1000.0)
}

/// Every flag the entry's reads raise.
pub fn derive(
    course: &Course,
    timeline: &Timeline,
    wave_start: Option<Timestamp>,
    progress: &Progress,
) -> Vec<Flag> {
    let points = course.points();
    let reads: Vec<(usize, Timestamp)> = (0..points.len())
        .filter_map(|i| timeline.at(i).map(|t| (i, t)))
        .collect();
    let mut flags = Vec::new();

    // Only once the entry is done: during the race START may still arrive (a late upload),
    // and the result already says `startFromWave`.
    let done = !matches!(
        progress.status,
        EntryStatus::Racing | EntryStatus::Registered
    );
    if done && timeline.has_reads() && timeline.at(0).is_none() {
        flags.push(Flag {
            kind: FlagKind::MissingStart,
            point: 0,
            at: None,
            related: None,
            detail: match wave_start {
                Some(w) => format!("no START read; the clock starts at the wave start {w}"),
                None => "no START read and no wave start".to_owned(),
            },
        });
    }

    if let Some(wave) = wave_start {
        for &(point, at) in reads.iter().filter(|(_, at)| *at < wave) {
            flags.push(Flag {
                kind: FlagKind::BeforeWaveStart,
                point,
                at: Some(at),
                related: None,
                detail: format!(
                    "{} read at {at}, {} before the wave start {wave}",
                    points[point],
                    seconds(wave.since(at))
                ),
            });
        }
    }

    for aside in &progress.set_aside {
        let before = progress.passed.iter().rev().find(|(p, _)| *p < aside.point);
        let after = progress.passed.iter().find(|(p, _)| *p > aside.point);
        let (kind, related, detail) = match aside.reason {
            SetAsideReason::OutOfOrder => (
                FlagKind::OutOfOrder,
                before.or(after).copied(),
                format!(
                    "{} read at {} contradicts the course order; not used",
                    points[aside.point], aside.at
                ),
            ),
            SetAsideReason::StrayFinish => {
                let seen = timeline.last_course_read();
                (
                    FlagKind::StrayFinish,
                    seen,
                    match seen {
                        Some((point, at)) => format!(
                            "{} read at {}, but {} was read later, at {at}: the athlete was still on the course; not used",
                            points[aside.point], aside.at, points[point]
                        ),
                        None => format!("{} read at {} not used", points[aside.point], aside.at),
                    },
                )
            }
            SetAsideReason::TooFast => {
                // The segment that would be impossibly fast: towards the accepted read before,
                // else towards the one after.
                let start = progress.start.map(|s| (0, s));
                let finish_read = aside.point == course.finish_index();
                let (from, to) = match before {
                    // A finish too soon after the start: the whole race would be too fast.
                    _ if finish_read && start.is_some() => {
                        (start.unwrap_or((0, aside.at)), (aside.point, aside.at))
                    }
                    Some(&(p, t)) if aside.at.since(t) < course.min_between(p, aside.point) => {
                        ((p, t), (aside.point, aside.at))
                    }
                    _ => match after {
                        Some(&(p, t)) => ((aside.point, aside.at), (p, t)),
                        None => (
                            before.copied().unwrap_or((0, aside.at)),
                            (aside.point, aside.at),
                        ),
                    },
                };
                let other = if from.0 == aside.point { to } else { from };
                (
                    FlagKind::SegmentTooFast,
                    Some(other),
                    format!(
                        "{} would take {}; the minimum is {}; read not used",
                        course.describe_span(from.0, to.0),
                        seconds(to.1.since(from.1)),
                        seconds(course.min_between(from.0, to.0))
                    ),
                )
            }
        };
        flags.push(Flag {
            kind,
            point: aside.point,
            at: Some(aside.at),
            related,
            detail,
        });
    }

    for split in &progress.splits {
        let Some(max) = course.max_between(split.from_point, split.to_point) else {
            continue;
        };
        if split.duration > max {
            let from_at = progress
                .passed
                .iter()
                .find(|(p, _)| *p == split.from_point)
                .map(|(_, t)| *t);
            let to_at = progress
                .passed
                .iter()
                .find(|(p, _)| *p == split.to_point)
                .map(|(_, t)| *t);
            flags.push(Flag {
                kind: FlagKind::SegmentTooSlow,
                point: split.to_point,
                at: to_at,
                related: from_at.map(|t| (split.from_point, t)),
                detail: format!(
                    "{} took {}; more than the plausible maximum of {}",
                    course.describe_span(split.from_point, split.to_point),
                    seconds(split.duration),
                    seconds(max)
                ),
            });
        }
    }

    let prefix = course.min_prefix();
    for (n, &(i, ti)) in reads.iter().enumerate() {
        for &(j, tj) in &reads[n + 1..] {
            let gap = DurationMs((tj.0 - ti.0).abs());
            if gap <= SIMULTANEOUS_WINDOW && prefix[j] - prefix[i] >= SIMULTANEOUS_MIN_SEPARATION.0
            {
                flags.push(Flag {
                    kind: FlagKind::SimultaneousReads,
                    point: j,
                    at: Some(tj),
                    related: Some((i, ti)),
                    detail: format!(
                        "{} and {} read {} apart, but at least {} lie between them",
                        points[i],
                        points[j],
                        seconds(gap),
                        seconds(course.min_between(i, j))
                    ),
                });
            }
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{evaluate, Adjustments};

    const T0: i64 = 1_773_478_800_000;

    fn flags_for(reads: &[(&str, i64)], wave_offset_s: i64) -> Vec<Flag> {
        let course = Course::hyrox_standard();
        let mut timeline = Timeline::new(&course);
        for (point, s) in reads {
            timeline.record(course.index_of(point).unwrap(), Timestamp(T0 + s * 1000));
        }
        let wave = Some(Timestamp(T0 + wave_offset_s * 1000));
        let progress = evaluate(&course, &timeline, wave, &Adjustments::default());
        derive(&course, &timeline, wave, &progress)
    }

    fn kinds(flags: &[Flag]) -> Vec<FlagKind> {
        flags.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_clean_race_raises_nothing() {
        let reads = [
            ("START", 5),
            ("RUN1", 300),
            ("SKIERG_IN", 330),
            ("SKIERG_OUT", 600),
        ];
        assert!(flags_for(&reads, 0).is_empty());
    }

    #[test]
    fn an_impossible_station_time_is_flagged_with_its_numbers() {
        // 11 s of sandbag lunges.
        let reads = [
            ("START", 0),
            ("RUN1", 300),
            ("SKIERG_IN", 330),
            ("SKIERG_OUT", 341),
            ("RUN2", 900),
        ];
        let flags = flags_for(&reads, 0);
        assert_eq!(kinds(&flags), vec![FlagKind::SegmentTooFast]);
        let f = &flags[0];
        assert_eq!(f.point, 3);
        assert_eq!(f.related, Some((2, Timestamp(T0 + 330_000))));
        assert!(f
            .detail
            .contains("SKIERG (SKIERG_IN → SKIERG_OUT) would take 11.0 s"));
        assert!(f.detail.contains("minimum is 150.0 s"));
    }

    #[test]
    fn out_of_order_a_stray_finish_and_before_wave_are_flagged() {
        let course = Course::hyrox_standard();
        let mut reads: Vec<(String, i64)> = course
            .points()
            .iter()
            .enumerate()
            .map(|(i, p)| (p.to_string(), 60 + i as i64 * 300))
            .collect();
        reads[4].1 = 200; // RUN2 before RUN1 + SkiErg: out of order
        reads[7].1 = 99_000; // RUN3 long after the FINISH read: that read is stray
        reads[0].1 = -30; // START 30 s before the wave
        let reads: Vec<(&str, i64)> = reads.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let flags = flags_for(&reads, 0);
        assert_eq!(
            kinds(&flags),
            vec![
                FlagKind::BeforeWaveStart,
                FlagKind::OutOfOrder,
                FlagKind::OutOfOrder,
                FlagKind::StrayFinish
            ]
        );
        assert_eq!(flags[0].point, 0);
        assert_eq!(flags[1].point, 4);
        assert_eq!(flags[2].point, 7);
        assert_eq!(flags[3].point, 24);
        assert_eq!(flags[3].related, Some((7, Timestamp(T0 + 99_000_000))));
        assert!(flags[3].detail.contains("RUN3 was read later"));
    }

    #[test]
    fn a_finish_too_soon_after_the_start_names_the_whole_race() {
        let flags = flags_for(&[("START", 0), ("RUN1", 300), ("FINISH", 900)], 0);
        assert_eq!(kinds(&flags), vec![FlagKind::SegmentTooFast]);
        assert_eq!(flags[0].related, Some((0, Timestamp(T0))));
        assert!(flags[0]
            .detail
            .contains("(START → FINISH) would take 900.0 s"));
    }

    #[test]
    fn a_missing_start_and_a_very_slow_segment_are_flagged() {
        // While racing, a missing START may still arrive: only the slow run is flagged.
        let flags = flags_for(&[("RUN1", 3_000)], 0);
        assert_eq!(kinds(&flags), vec![FlagKind::SegmentTooSlow]);
        assert!(flags[0].detail.contains("RUN_1"));
        // Finished without START: flagged.
        let course = Course::hyrox_standard();
        let reads: Vec<(String, i64)> = course.points()[1..]
            .iter()
            .enumerate()
            .map(|(i, p)| (p.to_string(), 300 + i as i64 * 300))
            .collect();
        let reads: Vec<(&str, i64)> = reads.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let flags = flags_for(&reads, 0);
        assert_eq!(kinds(&flags), vec![FlagKind::MissingStart]);
        assert_eq!(flags[0].at, None);
    }

    #[test]
    fn two_distant_points_read_within_seconds_are_flagged() {
        let reads = [("START", 0), ("RUN1", 300), ("ROW_IN", 302)];
        let flags = flags_for(&reads, 0);
        assert!(kinds(&flags).contains(&FlagKind::SimultaneousReads));
        assert!(kinds(&flags).contains(&FlagKind::SegmentTooFast));
        let simultaneous = flags
            .iter()
            .find(|f| f.kind == FlagKind::SimultaneousReads)
            .unwrap();
        assert_eq!(simultaneous.related.map(|r| r.0), Some(1));
    }

    #[test]
    fn flag_keys_are_stable_and_distinct() {
        let reads = [("START", 0), ("RUN1", 300), ("ROW_IN", 302)];
        let a = flags_for(&reads, 0);
        let b = flags_for(&reads, 0);
        let keys: Vec<String> = a.iter().map(Flag::key).collect();
        assert_eq!(keys, b.iter().map(Flag::key).collect::<Vec<_>>());
        let unique: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }
}
