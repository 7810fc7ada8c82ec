//! Corrections: officials' decisions about an entry, kept as an append-only record.
//!
//! A correction never changes raw data. The entry's outcome is a pure function of its raw
//! reads and its corrections (`Ruling::of`), so any correction, and its undo, recomputes to
//! exactly what the record says.

use crate::course::{Course, TimingPointCode};
use crate::division::string_enum;
use crate::engine::{Adjustments, EntryStatus, Timeline};
use crate::error::InvalidInput;
use crate::lineage::RawRead;
use crate::timing::{Bib, DurationMs, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

string_enum!(
    /// The kinds of correction an official can make.
    CorrectionKind, "kind" {
        TimePenalty => "TIME_PENALTY",
        Dsq => "DSQ",
        Dnf => "DNF",
        Dns => "DNS",
        ManualRead => "MANUAL_READ",
        IgnoreRead => "IGNORE_READ",
        Undo => "UNDO",
    }
);

/// The longest time penalty podium accepts (longer would be a disqualification).
pub const MAX_PENALTY: DurationMs = DurationMs(3600 * 1000);
/// The longest reason podium stores.
pub const MAX_REASON_CHARS: usize = 500;

/// What a correction does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CorrectionAction {
    /// Adds time to the entry's net time.
    TimePenalty(DurationMs),
    /// Decides the entry's status: DSQ, DNF or DNS.
    Decide(EntryStatus),
    /// A read the mats missed, entered by hand.
    ManualRead {
        point: TimingPointCode,
        at: Timestamp,
    },
    /// Stops a read (raw or manual) from counting; the read itself stays stored.
    IgnoreRead {
        point: TimingPointCode,
        at: Timestamp,
    },
    /// Reverts an earlier correction.
    Undo(Uuid),
}

impl CorrectionAction {
    pub fn kind(&self) -> CorrectionKind {
        match self {
            CorrectionAction::TimePenalty(_) => CorrectionKind::TimePenalty,
            CorrectionAction::Decide(EntryStatus::Dnf) => CorrectionKind::Dnf,
            CorrectionAction::Decide(EntryStatus::Dns) => CorrectionKind::Dns,
            CorrectionAction::Decide(_) => CorrectionKind::Dsq,
            CorrectionAction::ManualRead { .. } => CorrectionKind::ManualRead,
            CorrectionAction::IgnoreRead { .. } => CorrectionKind::IgnoreRead,
            CorrectionAction::Undo(_) => CorrectionKind::Undo,
        }
    }

    /// Checks a request against the course: each kind needs its own fields and no others.
    pub fn parse(
        course: &Course,
        kind: CorrectionKind,
        penalty_ms: Option<i64>,
        point: Option<&str>,
        at: Option<Timestamp>,
        target: Option<Uuid>,
    ) -> Result<Self, InvalidInput> {
        let read = || -> Result<(TimingPointCode, Timestamp), InvalidInput> {
            let point = point.ok_or_else(|| {
                InvalidInput::new("timingPoint", format!("is required for {kind}"))
            })?;
            let code = TimingPointCode::parse(point)?;
            if course.index_of(code.as_str()).is_none() {
                return Err(InvalidInput::new(
                    "timingPoint",
                    format!("`{code}` is not a timing point of course {}", course.code()),
                ));
            }
            let at =
                at.ok_or_else(|| InvalidInput::new("at", format!("is required for {kind}")))?;
            Ok((code, at))
        };
        let unexpected = |field: &str, present: bool| {
            if present {
                Err(InvalidInput::new(
                    field,
                    format!("does not apply to {kind}"),
                ))
            } else {
                Ok(())
            }
        };
        unexpected(
            "penaltyMs",
            penalty_ms.is_some() && kind != CorrectionKind::TimePenalty,
        )?;
        unexpected("targetId", target.is_some() && kind != CorrectionKind::Undo)?;
        let takes_read = matches!(
            kind,
            CorrectionKind::ManualRead | CorrectionKind::IgnoreRead
        );
        unexpected("timingPoint", point.is_some() && !takes_read)?;
        unexpected("at", at.is_some() && !takes_read)?;
        Ok(match kind {
            CorrectionKind::TimePenalty => {
                let ms = penalty_ms.ok_or_else(|| {
                    InvalidInput::new("penaltyMs", "is required for TIME_PENALTY")
                })?;
                if ms <= 0 || ms > MAX_PENALTY.0 {
                    return Err(InvalidInput::new(
                        "penaltyMs",
                        format!(
                            "must be between 1 and {} (1 hour); use DSQ beyond that",
                            MAX_PENALTY.0
                        ),
                    ));
                }
                CorrectionAction::TimePenalty(DurationMs(ms))
            }
            CorrectionKind::Dsq => CorrectionAction::Decide(EntryStatus::Dsq),
            CorrectionKind::Dnf => CorrectionAction::Decide(EntryStatus::Dnf),
            CorrectionKind::Dns => CorrectionAction::Decide(EntryStatus::Dns),
            CorrectionKind::ManualRead => {
                let (point, at) = read()?;
                CorrectionAction::ManualRead { point, at }
            }
            CorrectionKind::IgnoreRead => {
                let (point, at) = read()?;
                CorrectionAction::IgnoreRead { point, at }
            }
            CorrectionKind::Undo => CorrectionAction::Undo(
                target.ok_or_else(|| InvalidInput::new("targetId", "is required for UNDO"))?,
            ),
        })
    }
}

/// Checks a correction's reason: trimmed, 1 to 500 characters.
pub fn parse_reason(raw: &str) -> Result<String, InvalidInput> {
    crate::error::check_text("reason", raw, true)?;
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(InvalidInput::new(
            "reason",
            "is required: say why the result changes",
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(InvalidInput::new(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(reason.to_owned())
}

/// One stored correction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub id: Uuid,
    pub event_id: Uuid,
    pub entry_id: Uuid,
    pub bib: Bib,
    pub action: CorrectionAction,
    pub reason: String,
    /// Who made it (the token's subject).
    pub author: String,
    pub created_at: Timestamp,
    /// The event `seq` the correction produced.
    pub seq: i64,
    /// Made after the results were official (an admin's amendment).
    pub amendment: bool,
}

/// What an entry's corrections add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruling {
    pub adjustments: Adjustments,
    /// Reads that do not count, by point index and instant, with the correction that says so.
    pub ignored: HashMap<(usize, Timestamp), Uuid>,
    /// Manual reads by point index and instant, with their correction.
    pub manual: Vec<(usize, Timestamp, Uuid)>,
    /// Corrections reverted, with the undo that reverted them.
    pub undone: HashMap<Uuid, Uuid>,
    /// The time penalties in force.
    pub penalties: Vec<Uuid>,
    /// The correction that decided the status, if one is in force.
    pub decided_by: Option<Uuid>,
}

impl Ruling {
    /// Folds an entry's corrections, oldest first. The latest status decision in force wins;
    /// penalties add up; an undone correction has no effect.
    pub fn of(course: &Course, corrections: &[Correction]) -> Self {
        let mut ruling = Ruling {
            undone: undone_by(corrections),
            ..Default::default()
        };
        for c in corrections
            .iter()
            .filter(|c| !ruling.undone.contains_key(&c.id))
        {
            match &c.action {
                CorrectionAction::TimePenalty(ms) => {
                    ruling.adjustments.penalty = ruling.adjustments.penalty + *ms;
                    ruling.penalties.push(c.id);
                }
                CorrectionAction::Decide(status) => {
                    ruling.adjustments.status = Some(*status);
                    ruling.decided_by = Some(c.id);
                }
                CorrectionAction::ManualRead { point, at } => {
                    if let Some(i) = course.index_of(point.as_str()) {
                        ruling.manual.push((i, *at, c.id));
                    }
                }
                CorrectionAction::IgnoreRead { point, at } => {
                    if let Some(i) = course.index_of(point.as_str()) {
                        ruling.ignored.insert((i, *at), c.id);
                    }
                }
                CorrectionAction::Undo(_) => {}
            }
        }
        ruling
    }

    /// The entry's effective timeline: its raw reads and manual reads, minus ignored ones.
    pub fn timeline(&self, course: &Course, raw: &[(usize, Timestamp)]) -> Timeline {
        self.timeline_with(course, raw.iter().map(|&(i, at)| (i, at, false)))
    }

    /// The same from stored raw reads, which say whether they are estimated
    /// (`Detection::estimated`).
    pub fn timeline_of_reads<'a>(
        &self,
        course: &Course,
        reads: impl IntoIterator<Item = &'a RawRead>,
    ) -> Timeline {
        let raw = reads.into_iter().map(|r| (r.point, r.at, r.estimated));
        self.timeline_with(course, raw)
    }

    fn timeline_with(
        &self,
        course: &Course,
        raw: impl Iterator<Item = (usize, Timestamp, bool)>,
    ) -> Timeline {
        let mut timeline = Timeline::new(course);
        let manual = self.manual.iter().map(|(i, t, _)| (*i, *t, false));
        for (i, at, estimated) in raw.chain(manual) {
            if !self.ignored.contains_key(&(i, at)) {
                timeline.record_read(i, at, estimated);
            }
        }
        timeline
    }
}

/// Which corrections were undone, and by which undo.
pub fn undone_by(corrections: &[Correction]) -> HashMap<Uuid, Uuid> {
    corrections
        .iter()
        .filter_map(|c| match c.action {
            CorrectionAction::Undo(target) => Some((target, c.id)),
            _ => None,
        })
        .collect()
}

/// Checks that `target` may be undone: it exists among the entry's corrections, is not an
/// undo itself, and is not undone already.
pub fn check_undo(corrections: &[Correction], target: Uuid) -> Result<(), InvalidInput> {
    let Some(original) = corrections.iter().find(|c| c.id == target) else {
        return Err(InvalidInput::new(
            "targetId",
            format!("no correction {target} for this entry"),
        ));
    };
    if matches!(original.action, CorrectionAction::Undo(_)) {
        return Err(InvalidInput::new(
            "targetId",
            "an undo cannot be undone; make the correction again instead",
        ));
    }
    if undone_by(corrections).contains_key(&target) {
        return Err(InvalidInput::new(
            "targetId",
            format!("correction {target} is already undone"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_773_478_800_000;

    fn correction(n: u128, action: CorrectionAction) -> Correction {
        Correction {
            id: Uuid::from_u128(n),
            event_id: Uuid::nil(),
            entry_id: Uuid::nil(),
            bib: Bib::parse("7").unwrap(),
            action,
            reason: "test".into(),
            author: "official".into(),
            created_at: Timestamp(T0),
            seq: n as i64,
            amendment: false,
        }
    }

    fn point(code: &str) -> TimingPointCode {
        TimingPointCode::parse(code).unwrap()
    }

    #[test]
    fn penalties_add_up_and_the_latest_decision_wins_until_undone() {
        let course = Course::hyrox_standard();
        let list = vec![
            correction(1, CorrectionAction::TimePenalty(DurationMs(30_000))),
            correction(2, CorrectionAction::TimePenalty(DurationMs(60_000))),
            correction(3, CorrectionAction::Decide(EntryStatus::Dnf)),
            correction(4, CorrectionAction::Decide(EntryStatus::Dsq)),
            correction(5, CorrectionAction::Undo(Uuid::from_u128(2))),
        ];
        let r = Ruling::of(&course, &list);
        assert_eq!(r.adjustments.penalty, DurationMs(30_000));
        assert_eq!(r.adjustments.status, Some(EntryStatus::Dsq));
        assert_eq!(r.decided_by, Some(Uuid::from_u128(4)));
        let mut more = list.clone();
        more.push(correction(6, CorrectionAction::Undo(Uuid::from_u128(4))));
        let r = Ruling::of(&course, &more);
        assert_eq!(r.adjustments.status, Some(EntryStatus::Dnf));
        more.push(correction(7, CorrectionAction::Undo(Uuid::from_u128(3))));
        assert_eq!(Ruling::of(&course, &more).adjustments.status, None);
    }

    #[test]
    fn ignored_reads_fall_back_to_the_next_read_and_manual_reads_fill_gaps() {
        let course = Course::hyrox_standard();
        let raw = [(1, Timestamp(T0 + 100)), (1, Timestamp(T0 + 300))];
        let list = vec![
            correction(
                1,
                CorrectionAction::IgnoreRead {
                    point: point("RUN1"),
                    at: Timestamp(T0 + 100),
                },
            ),
            correction(
                2,
                CorrectionAction::ManualRead {
                    point: point("SKIERG_IN"),
                    at: Timestamp(T0 + 400),
                },
            ),
        ];
        let r = Ruling::of(&course, &list);
        let t = r.timeline(&course, &raw);
        assert_eq!(t.at(1), Some(Timestamp(T0 + 300)));
        assert_eq!(t.at(2), Some(Timestamp(T0 + 400)));
        // Undoing both restores the raw picture.
        let mut undone = list.clone();
        undone.push(correction(3, CorrectionAction::Undo(Uuid::from_u128(1))));
        undone.push(correction(4, CorrectionAction::Undo(Uuid::from_u128(2))));
        let t = Ruling::of(&course, &undone).timeline(&course, &raw);
        assert_eq!(t.at(1), Some(Timestamp(T0 + 100)));
        assert_eq!(t.at(2), None);
    }

    #[test]
    fn requests_need_the_fields_of_their_kind() {
        let course = Course::hyrox_standard();
        let parse = |kind, penalty, point: Option<&str>, at, target| {
            CorrectionAction::parse(&course, kind, penalty, point, at, target)
        };
        assert_eq!(
            parse(CorrectionKind::TimePenalty, Some(30_000), None, None, None).unwrap(),
            CorrectionAction::TimePenalty(DurationMs(30_000))
        );
        let e = parse(CorrectionKind::TimePenalty, None, None, None, None).unwrap_err();
        assert_eq!(e.field, "penaltyMs");
        let e = parse(CorrectionKind::TimePenalty, Some(0), None, None, None).unwrap_err();
        assert_eq!(e.field, "penaltyMs");
        let e = parse(CorrectionKind::Dsq, Some(5), None, None, None).unwrap_err();
        assert!(e.message.contains("does not apply to DSQ"));
        let e = parse(
            CorrectionKind::ManualRead,
            None,
            Some("RUN9"),
            Some(Timestamp(T0)),
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("RUN9"));
        let e = parse(CorrectionKind::IgnoreRead, None, Some("RUN1"), None, None).unwrap_err();
        assert_eq!(e.field, "at");
        let e = parse(CorrectionKind::Undo, None, None, None, None).unwrap_err();
        assert_eq!(e.field, "targetId");
        assert!(parse_reason("  ").is_err());
        assert_eq!(parse_reason(" late start ").unwrap(), "late start");
    }

    #[test]
    fn only_live_corrections_can_be_undone_once() {
        let list = vec![
            correction(1, CorrectionAction::Decide(EntryStatus::Dsq)),
            correction(2, CorrectionAction::Undo(Uuid::from_u128(1))),
        ];
        assert!(check_undo(&list, Uuid::from_u128(1))
            .unwrap_err()
            .message
            .contains("already undone"));
        assert!(check_undo(&list, Uuid::from_u128(2)).is_err());
        assert!(check_undo(&list, Uuid::from_u128(9)).is_err());
        assert!(check_undo(&list[..1], Uuid::from_u128(1)).is_ok());
    }
}
