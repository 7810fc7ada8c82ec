//! The per-event change log behind live results: every change of an event's results has a
//! `seq` (strictly increasing by one, durable) and one `EventChange` saying what changed, so a
//! client that saw `seq = n` can be given exactly what happened after `n`, in order.

use crate::division::string_enum;
use crate::engine::EntryStatus;
use crate::model::EventStatus;
use crate::timing::Bib;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

string_enum!(
    /// What made an event's `seq` move.
    ChangeKind, "kind" {
        EntriesAdded => "ENTRIES_ADDED",
        Detections => "DETECTIONS",
        Correction => "CORRECTION",
        Status => "STATUS",
        FlagReview => "FLAG_REVIEW",
        Privacy => "PRIVACY",
    }
);

/// Where an entry was timed so far: its start (Unix ms) and the elapsed time at each accepted
/// timing point, in course order — what a finish prediction reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub start_ms: i64,
    /// `(point index, ms since the start)`, the start itself at 0.
    pub passed: Vec<(usize, i64)>,
}

impl Profile {
    pub fn of(progress: &crate::engine::Progress) -> Self {
        let Some(start) = progress.start else {
            return Self::default();
        };
        Self {
            start_ms: start.0,
            passed: progress
                .passed
                .iter()
                .map(|(point, at)| (*point, at.0 - start.0))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.passed.is_empty()
    }
}

/// An entry's state after a change, as live views need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryChange {
    pub entry_id: Uuid,
    pub bib: Bib,
    pub status: EntryStatus,
    pub last_point: Option<usize>,
    pub elapsed_ms: Option<i64>,
    pub net_time_ms: Option<i64>,
    pub penalty_ms: i64,
    pub open_flags: i32,
    /// The start mat missed this entry; its clock started at its wave start.
    #[serde(default)]
    pub start_from_wave: bool,
    /// Set when the athlete's privacy changed with this step (public views anonymise them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athlete_private: Option<bool>,
    /// Set when the athlete's name changed with this step (their data was erased, or two
    /// athletes were merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athlete_name: Option<String>,
    /// Set when the entry moved to another athlete with this step (a merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athlete_id: Option<Uuid>,
    /// Where the entry was timed so far, when this step recomputed it (steps that only
    /// changed who the athlete is leave it out, as did steps written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

/// One step of an event's change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventChange {
    pub event_id: Uuid,
    pub seq: i64,
    pub kind: ChangeKind,
    /// The event's status after the change.
    pub status: EventStatus,
    /// Entries whose results changed, in their new state.
    pub entries: Vec<EntryChange>,
}

/// Checks that `changes` continue `after` without a gap: seqs `after + 1, after + 2, …`.
/// Returns the first missing seq, if any.
pub fn first_gap(after: i64, changes: &[EventChange]) -> Option<i64> {
    changes
        .iter()
        .zip(after + 1..)
        .find(|(c, expected)| c.seq != *expected)
        .map(|(_, expected)| expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: i64) -> EventChange {
        EventChange {
            event_id: Uuid::nil(),
            seq,
            kind: ChangeKind::Detections,
            status: EventStatus::Live,
            entries: vec![],
        }
    }

    #[test]
    fn gaps_are_found() {
        assert_eq!(first_gap(3, &[change(4), change(5)]), None);
        assert_eq!(first_gap(3, &[change(4), change(6)]), Some(5));
        assert_eq!(first_gap(3, &[change(5)]), Some(4));
        assert_eq!(first_gap(3, &[]), None);
    }
}
