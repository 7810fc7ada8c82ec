//! Per-athlete analytics over their results history.

use crate::division::{Category, Gender};
use crate::engine::EntryStatus;
use crate::timing::Timestamp;
use uuid::Uuid;

/// One race of an athlete, as their history lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthleteResult {
    pub event_id: Uuid,
    pub event_name: String,
    pub starts_at: Timestamp,
    pub bib: String,
    pub category: Category,
    pub gender: Gender,
    pub status: EntryStatus,
    pub net_time_ms: Option<i64>,
    /// The event's course template (`HYROX_STANDARD` …): bests compare like with like.
    pub course: String,
    /// The measured segment times (neither merged over a missed mat nor estimated), in
    /// course order.
    pub segments: Vec<SegmentTime>,
}

/// One measured segment of a race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTime {
    pub segment: String,
    pub duration_ms: i64,
    /// When the segment was done (its end read).
    pub ended_at: Timestamp,
}

/// An athlete's best measured time on one segment of a course template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalBest {
    pub segment: String,
    pub duration_ms: i64,
    pub event_id: Uuid,
    pub bib: String,
    pub achieved_at: Timestamp,
}

fn finished_on<'a>(
    results: &'a [AthleteResult],
    course: &'a str,
) -> impl Iterator<Item = &'a AthleteResult> {
    results
        .iter()
        .filter(move |r| r.status == EntryStatus::Finished && r.course == course)
}

/// The best measured time per segment over the athlete's finished races on `course`, in
/// course order; of equal times, the first achieved.
pub fn personal_bests(results: &[AthleteResult], course: &str) -> Vec<PersonalBest> {
    let mut bests: Vec<PersonalBest> = Vec::new();
    for r in finished_on(results, course) {
        for s in &r.segments {
            let candidate = PersonalBest {
                segment: s.segment.clone(),
                duration_ms: s.duration_ms,
                event_id: r.event_id,
                bib: r.bib.clone(),
                achieved_at: s.ended_at,
            };
            match bests.iter_mut().find(|b| b.segment == s.segment) {
                None => bests.push(candidate),
                Some(best) => {
                    if (s.duration_ms, s.ended_at) < (best.duration_ms, best.achieved_at) {
                        *best = candidate;
                    }
                }
            }
        }
    }
    bests
}

/// The athlete's best net time on `course`.
pub fn best_net_time(results: &[AthleteResult], course: &str) -> Option<i64> {
    finished_on(results, course)
        .filter_map(|r| r.net_time_ms)
        .min()
}

/// Whether the race in `event_id` was the athlete's best finish on its course when it was
/// raced: finished, and faster than every finish of an event that started before it (the
/// first finish is one; equalling the best is not).
pub fn is_personal_best(results: &[AthleteResult], event_id: Uuid) -> bool {
    let Some(this) = results
        .iter()
        .find(|r| r.event_id == event_id && r.status == EntryStatus::Finished)
    else {
        return false;
    };
    let Some(net) = this.net_time_ms else {
        return false;
    };
    finished_on(results, &this.course)
        .filter(|r| r.starts_at < this.starts_at)
        .filter_map(|r| r.net_time_ms)
        .all(|earlier| net < earlier)
}

/// What an athlete's history adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AthleteSummary {
    pub races: usize,
    pub finishes: usize,
    pub best_net_time_ms: Option<i64>,
    /// Mean net time of finished races, rounded down to the millisecond.
    pub average_net_time_ms: Option<i64>,
    /// Net time of the latest finished race minus the one before it (negative: faster).
    pub last_change_ms: Option<i64>,
}

pub fn summarise(results: &[AthleteResult]) -> AthleteSummary {
    let mut finished: Vec<(Timestamp, i64)> = results
        .iter()
        .filter(|r| r.status == EntryStatus::Finished)
        .filter_map(|r| Some((r.starts_at, r.net_time_ms?)))
        .collect();
    finished.sort();
    let times: Vec<i64> = finished.iter().map(|(_, t)| *t).collect();
    AthleteSummary {
        races: results.len(),
        finishes: times.len(),
        best_net_time_ms: times.iter().copied().min(),
        average_net_time_ms: (!times.is_empty())
            .then(|| times.iter().sum::<i64>() / times.len() as i64),
        last_change_ms: match times.as_slice() {
            [.., before, last] => Some(last - before),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn race(day: i64, status: EntryStatus, net: Option<i64>) -> AthleteResult {
        AthleteResult {
            event_id: Uuid::new_v4(),
            event_name: format!("Race {day}"),
            starts_at: Timestamp(day * 86_400_000),
            bib: "1".into(),
            category: Category::Open,
            gender: Gender::Women,
            status,
            net_time_ms: net,
            course: "HYROX_STANDARD".into(),
            segments: Vec::new(),
        }
    }

    fn split(segment: &str, duration_s: i64, day: i64) -> SegmentTime {
        SegmentTime {
            segment: segment.into(),
            duration_ms: duration_s * 1000,
            ended_at: Timestamp(day * 86_400_000 + duration_s * 1000),
        }
    }

    #[test]
    fn personal_bests_are_the_fastest_measured_segments_per_course() {
        let mut first = race(1, EntryStatus::Finished, Some(5_400_000));
        first.segments = vec![split("RUN_1", 300, 1), split("SKIERG", 280, 1)];
        let mut second = race(2, EntryStatus::Finished, Some(5_000_000));
        second.segments = vec![split("RUN_1", 290, 2), split("SKIERG", 280, 2)];
        // A DNF's splits and another course's do not count.
        let mut dnf = race(3, EntryStatus::Dnf, None);
        dnf.segments = vec![split("RUN_1", 200, 3)];
        let mut other = race(4, EntryStatus::Finished, Some(1_000_000));
        other.course = "SHORT".into();
        other.segments = vec![split("RUN_1", 100, 4)];
        let history = [second.clone(), first.clone(), dnf, other];
        let bests = personal_bests(&history, "HYROX_STANDARD");
        let brief: Vec<(&str, i64, Uuid)> = bests
            .iter()
            .map(|b| (b.segment.as_str(), b.duration_ms, b.event_id))
            .collect();
        // RUN_1 from the second race; SKIERG equalled, so the first race keeps it.
        assert_eq!(
            brief,
            [
                ("RUN_1", 290_000, second.event_id),
                ("SKIERG", 280_000, first.event_id)
            ]
        );
        assert_eq!(best_net_time(&history, "HYROX_STANDARD"), Some(5_000_000));
        assert_eq!(best_net_time(&history, "SHORT"), Some(1_000_000));
    }

    #[test]
    fn a_personal_best_beats_every_earlier_finish_and_a_tie_does_not() {
        let first = race(1, EntryStatus::Finished, Some(5_400_000));
        let slower = race(2, EntryStatus::Finished, Some(5_500_000));
        let tie = race(3, EntryStatus::Finished, Some(5_400_000));
        let faster = race(4, EntryStatus::Finished, Some(5_300_000));
        let dnf = race(5, EntryStatus::Dnf, None);
        let history = [
            faster.clone(),
            tie.clone(),
            first.clone(),
            slower.clone(),
            dnf.clone(),
        ];
        let pb: Vec<bool> = [&first, &slower, &tie, &faster, &dnf]
            .iter()
            .map(|r| is_personal_best(&history, r.event_id))
            .collect();
        assert_eq!(pb, [true, false, false, true, false]);
    }

    #[test]
    fn finished_races_make_the_summary_in_date_order() {
        let history = [
            race(3, EntryStatus::Finished, Some(5_000_000)),
            race(1, EntryStatus::Finished, Some(5_400_000)),
            race(2, EntryStatus::Dnf, None),
        ];
        let summary = summarise(&history);
        assert_eq!(summary.races, 3);
        assert_eq!(summary.finishes, 2);
        assert_eq!(summary.best_net_time_ms, Some(5_000_000));
        assert_eq!(summary.average_net_time_ms, Some(5_200_000));
        assert_eq!(summary.last_change_ms, Some(-400_000));
        assert_eq!(summarise(&[]), AthleteSummary::default());
    }
}
