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
        }
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
