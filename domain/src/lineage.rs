//! Lineage: which raw reads and corrections each split and the net time came from, and what
//! became of every other read. It answers "why is my time 1:12:03?".

use crate::corrections::Ruling;
use crate::engine::{Progress, SetAsideReason};
use crate::timing::{DurationMs, Timestamp};
use uuid::Uuid;

/// One stored raw read of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRead {
    pub id: Uuid,
    pub point: usize,
    pub at: Timestamp,
    pub read_id: Option<String>,
    pub device_id: Option<String>,
    pub received_at: Timestamp,
    /// Placed by an import, not read (see `Detection::estimated`).
    pub estimated: bool,
}

/// Where the time at an accepted point comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A raw detection, by id.
    Detection(Uuid),
    /// A manual read, by the correction that entered it.
    ManualRead(Uuid),
    /// No `START` read: the entry's wave start.
    WaveStart,
}

/// The time at one accepted point, with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointTime {
    pub point: usize,
    pub at: Timestamp,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitLineage {
    pub from: PointTime,
    pub to: PointTime,
    pub duration: DurationMs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetTimeLineage {
    pub start: PointTime,
    pub finish: PointTime,
    /// `FINISH − start`, before penalties.
    pub gross: DurationMs,
    /// The time penalties in force, by correction.
    pub penalties: Vec<Uuid>,
    pub penalty: DurationMs,
    pub net: DurationMs,
}

/// What became of one raw read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadUse {
    /// It is the time at its point.
    Used,
    /// An earlier read at the same point counts instead.
    Superseded,
    /// A correction said it does not count.
    Ignored(Uuid),
    /// The engine set it aside (and flagged it).
    SetAside(SetAsideReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLineage {
    pub read: RawRead,
    pub usage: ReadUse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    pub splits: Vec<SplitLineage>,
    pub net_time: Option<NetTimeLineage>,
    /// The correction that decided the entry's status (DSQ, DNF, DNS), if any.
    pub status_decided_by: Option<Uuid>,
    /// Every raw read of the entry, oldest first, with what became of it.
    pub reads: Vec<ReadLineage>,
}

/// Traces an evaluated entry back to its reads and corrections. `progress` must come from the
/// timeline `ruling` builds from `reads` (see `Ruling::timeline`).
pub fn trace(reads: &[RawRead], ruling: &Ruling, progress: &Progress) -> Lineage {
    let source_of = |point: usize, at: Timestamp| -> Source {
        if point == 0 && progress.start_from_wave {
            return Source::WaveStart;
        }
        let counts = |r: &&RawRead| {
            r.point == point && r.at == at && !ruling.ignored.contains_key(&(point, at))
        };
        if let Some(read) = reads.iter().find(counts) {
            return Source::Detection(read.id);
        }
        ruling
            .manual
            .iter()
            .find(|(p, t, _)| *p == point && *t == at)
            .map(|(_, _, id)| Source::ManualRead(*id))
            .unwrap_or(Source::WaveStart)
    };
    let time_at = |&(point, at): &(usize, Timestamp)| PointTime {
        point,
        at,
        source: source_of(point, at),
    };
    let passed: Vec<PointTime> = progress.passed.iter().map(time_at).collect();
    let splits = passed
        .windows(2)
        .map(|w| SplitLineage {
            from: w[0],
            to: w[1],
            duration: w[1].at.since(w[0].at),
        })
        .collect();
    let net_time = progress.net_time.and_then(|net| {
        let start = *passed.first()?;
        let finish = *passed.last()?;
        Some(NetTimeLineage {
            start,
            finish,
            gross: finish.at.since(start.at),
            penalties: ruling.penalties.clone(),
            penalty: progress.penalty,
            net,
        })
    });

    let mut ordered: Vec<&RawRead> = reads.iter().collect();
    ordered.sort_by_key(|r| (r.at, r.point));
    let reads = ordered
        .into_iter()
        .map(|read| {
            let usage = if let Some(by) = ruling.ignored.get(&(read.point, read.at)) {
                ReadUse::Ignored(*by)
            } else if let Some(aside) = progress
                .set_aside
                .iter()
                .find(|a| a.point == read.point && a.at == read.at)
            {
                ReadUse::SetAside(aside.reason)
            } else if progress
                .passed
                .iter()
                .any(|(p, t)| *p == read.point && *t == read.at)
            {
                ReadUse::Used
            } else {
                ReadUse::Superseded
            };
            ReadLineage {
                read: read.clone(),
                usage,
            }
        })
        .collect();

    Lineage {
        splits,
        net_time,
        status_decided_by: ruling.decided_by,
        reads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrections::{Correction, CorrectionAction};
    use crate::course::{Course, TimingPointCode};
    use crate::engine::evaluate;
    use crate::timing::Bib;

    const T0: i64 = 1_773_478_800_000;

    fn raw(n: u128, point: usize, s: i64) -> RawRead {
        RawRead {
            id: Uuid::from_u128(n),
            point,
            at: Timestamp(T0 + s * 1000),
            read_id: None,
            device_id: Some("mat".into()),
            received_at: Timestamp(T0),
            estimated: false,
        }
    }

    fn correction(n: u128, action: CorrectionAction) -> Correction {
        Correction {
            id: Uuid::from_u128(n),
            event_id: Uuid::nil(),
            entry_id: Uuid::nil(),
            bib: Bib::parse("1").unwrap(),
            action,
            reason: "r".into(),
            author: "a".into(),
            created_at: Timestamp(T0),
            seq: 1,
            amendment: false,
        }
    }

    #[test]
    fn every_split_and_the_net_time_name_their_sources() {
        // A two-point course: START, KM5, FINISH.
        let course = Course::custom(&["START".into(), "KM5".into(), "FINISH".into()]).unwrap();
        let reads = vec![
            raw(1, 0, 0),
            raw(2, 1, 1_000),
            raw(3, 1, 1_010), // a second read at KM5: superseded
            raw(4, 2, 1_500), // a bogus FINISH read, ignored by correction 100
        ];
        let corrections = vec![
            correction(
                100,
                CorrectionAction::IgnoreRead {
                    point: TimingPointCode::parse("FINISH").unwrap(),
                    at: Timestamp(T0 + 1_500_000),
                },
            ),
            correction(
                101,
                CorrectionAction::ManualRead {
                    point: TimingPointCode::parse("FINISH").unwrap(),
                    at: Timestamp(T0 + 2_000_000),
                },
            ),
            correction(102, CorrectionAction::TimePenalty(DurationMs(60_000))),
        ];
        let ruling = Ruling::of(&course, &corrections);
        let raw_points: Vec<(usize, Timestamp)> = reads.iter().map(|r| (r.point, r.at)).collect();
        let timeline = ruling.timeline(&course, &raw_points);
        let progress = evaluate(&course, &timeline, None, &ruling.adjustments);
        let lineage = trace(&reads, &ruling, &progress);

        assert_eq!(lineage.splits.len(), 2);
        assert_eq!(
            lineage.splits[0].from.source,
            Source::Detection(Uuid::from_u128(1))
        );
        assert_eq!(
            lineage.splits[0].to.source,
            Source::Detection(Uuid::from_u128(2))
        );
        assert_eq!(
            lineage.splits[1].to.source,
            Source::ManualRead(Uuid::from_u128(101))
        );
        let net = lineage.net_time.unwrap();
        assert_eq!(net.gross, DurationMs(2_000_000));
        assert_eq!(net.penalties, vec![Uuid::from_u128(102)]);
        assert_eq!(net.net, DurationMs(2_060_000));
        let usage: Vec<ReadUse> = lineage.reads.iter().map(|r| r.usage).collect();
        assert_eq!(
            usage,
            vec![
                ReadUse::Used,
                ReadUse::Used,
                ReadUse::Superseded,
                ReadUse::Ignored(Uuid::from_u128(100))
            ]
        );
    }

    #[test]
    fn a_missing_start_is_traced_to_the_wave_start() {
        let course = Course::hyrox_standard();
        let reads = vec![raw(1, 1, 300)];
        let ruling = Ruling::default();
        let timeline = ruling.timeline(&course, &[(1, reads[0].at)]);
        let progress = evaluate(&course, &timeline, Some(Timestamp(T0)), &ruling.adjustments);
        let lineage = trace(&reads, &ruling, &progress);
        assert_eq!(lineage.splits[0].from.source, Source::WaveStart);
        assert_eq!(lineage.net_time, None);
    }
}
