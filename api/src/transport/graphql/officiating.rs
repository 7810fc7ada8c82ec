//! GraphQL types of officiating: corrections, flags and lineage.

use crate::auth::Principal;
use crate::transport::graphql::types::time;
use async_graphql::{Enum, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::corrections::{undone_by, Correction, CorrectionAction};
use podium_domain::course::Course;
use podium_domain::engine::SetAsideReason;
use podium_domain::lineage::{Lineage, PointTime, ReadUse, Source};
use podium_domain::model::Event;
use podium_domain::ports::{FlagChange, StoredFlag};
use uuid::Uuid;

fn id(u: Uuid) -> ID {
    ID(u.to_string())
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(
    remote = "podium_domain::corrections::CorrectionKind",
    name = "CorrectionKind"
)]
pub enum CorrectionKindGql {
    /// Adds `penaltyMs` to the net time.
    TimePenalty,
    Dsq,
    Dnf,
    Dns,
    /// A read the mats missed, entered by hand (`timingPoint`, `at`).
    ManualRead,
    /// Stops the read at `timingPoint` and `at` from counting; it stays stored.
    IgnoreRead,
    /// Reverts the correction `targetId`.
    Undo,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "podium_domain::flags::FlagKind", name = "FlagKind")]
pub enum FlagKindGql {
    /// The read would make a segment faster than its minimum; it is not used.
    SegmentTooFast,
    /// A split took longer than the plausible maximum.
    SegmentTooSlow,
    /// The read contradicts the course order; it is not used.
    OutOfOrder,
    /// The read is earlier than the entry's wave start.
    BeforeWaveStart,
    /// No longer raised: a course read after a FINISH read now makes that read stray
    /// (`STRAY_FINISH`). Kept for flags recorded before.
    #[graphql(deprecation = "a course read after a FINISH read now raises STRAY_FINISH")]
    AfterFinish,
    /// A FINISH read after which the athlete was still read at course mats; it is not used
    /// (a later FINISH read counts).
    StrayFinish,
    /// A measured split far from the median of the same segment among the event's entries of
    /// the same category and gender (below `outlierRule.low` × or above `outlierRule.high` ×).
    SegmentOutlier,
    /// Two points far apart on the course read within seconds of each other.
    SimultaneousReads,
    /// The entry finished (or was decided) without a START read; its clock started at its
    /// wave start.
    MissingStart,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "podium_domain::flags::FlagStatus", name = "FlagStatus")]
pub enum FlagStatusGql {
    Open,
    /// The cause disappeared (a correction, a new read).
    Resolved,
    /// An official reviewed it and left the data as it is.
    Dismissed,
}

/// An official's decision on a flag.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum FlagAction {
    Dismiss,
    Reopen,
}

/// A correction, as the audit trail shows it.
#[derive(SimpleObject)]
#[graphql(name = "Correction")]
pub struct CorrectionObject {
    pub id: ID,
    pub event_id: ID,
    pub bib: String,
    pub kind: CorrectionKindGql,
    pub penalty_ms: Option<i64>,
    pub timing_point: Option<String>,
    pub at: Option<DateTime<Utc>>,
    /// For UNDO: the correction reverted.
    pub target_id: Option<ID>,
    pub reason: String,
    /// Who made it; shown to the event's managers only.
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The event `seq` it produced.
    pub seq: i64,
    /// Made after the results were official.
    pub amendment: bool,
    /// The UNDO that reverted this correction, if any.
    pub undone_by: Option<ID>,
}

impl CorrectionObject {
    /// Shapes a correction; `undone_by` comes from the entry's other corrections.
    pub fn new(c: &Correction, undone_by: Option<Uuid>, show_author: bool) -> Self {
        let (penalty_ms, point, at, target) = match &c.action {
            CorrectionAction::TimePenalty(ms) => (Some(ms.0), None, None, None),
            CorrectionAction::Decide(_) => (None, None, None, None),
            CorrectionAction::ManualRead { point, at }
            | CorrectionAction::IgnoreRead { point, at } => {
                (None, Some(point.to_string()), Some(time(*at)), None)
            }
            CorrectionAction::Undo(target) => (None, None, None, Some(id(*target))),
        };
        Self {
            id: id(c.id),
            event_id: id(c.event_id),
            bib: c.bib.to_string(),
            kind: c.action.kind().into(),
            penalty_ms,
            timing_point: point,
            at,
            target_id: target,
            reason: c.reason.clone(),
            author: show_author.then(|| c.author.clone()),
            created_at: time(c.created_at),
            seq: c.seq,
            amendment: c.amendment,
            undone_by: undone_by.map(id),
        }
    }

    /// Shapes a list of corrections, linking each to the undo that reverted it.
    pub fn list(corrections: &[Correction], viewer: &Principal, event: &Event) -> Vec<Self> {
        let show_author = viewer.may_manage_event(event).is_ok();
        let undone = undone_by(corrections);
        corrections
            .iter()
            .map(|c| Self::new(c, undone.get(&c.id).copied(), show_author))
            .collect()
    }
}

#[derive(SimpleObject)]
#[graphql(name = "FlagChange")]
pub struct FlagChangeObject {
    pub status: FlagStatusGql,
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `engine` for automatic changes, else the official.
    pub by: String,
    pub note: String,
}

impl From<FlagChange> for FlagChangeObject {
    fn from(c: FlagChange) -> Self {
        Self {
            status: c.status.into(),
            seq: c.seq,
            at: time(c.at),
            by: c.by,
            note: c.note,
        }
    }
}

/// A plausibility flag on an entry's reads.
#[derive(SimpleObject)]
#[graphql(name = "Flag")]
pub struct FlagObject {
    pub id: ID,
    pub event_id: ID,
    pub bib: String,
    pub kind: FlagKindGql,
    pub status: FlagStatusGql,
    /// The timing point of the read concerned.
    pub timing_point: String,
    /// The read concerned; null when the flag is about a missing read.
    pub at: Option<DateTime<Utc>>,
    /// The other read involved, if any.
    pub related_timing_point: Option<String>,
    pub related_at: Option<DateTime<Utc>>,
    /// What is wrong, with the numbers.
    pub detail: String,
    /// The event `seq` at which it was first raised.
    pub raised_seq: i64,
    pub updated_seq: i64,
    /// Every status change, oldest first.
    pub history: Vec<FlagChangeObject>,
}

impl From<StoredFlag> for FlagObject {
    fn from(f: StoredFlag) -> Self {
        Self {
            id: id(f.id),
            event_id: id(f.event_id),
            bib: f.bib.to_string(),
            kind: f.kind.into(),
            status: f.status.into(),
            timing_point: f.point.to_string(),
            at: f.at.map(time),
            related_timing_point: f.related.as_ref().map(|(p, _)| p.to_string()),
            related_at: f.related.map(|(_, t)| time(t)),
            detail: f.detail,
            raised_seq: f.raised_seq,
            updated_seq: f.updated_seq,
            history: f.history.into_iter().map(Into::into).collect(),
        }
    }
}

/// Where the time at a point comes from.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TimeSource {
    /// A raw detection (`detectionId`).
    Detection,
    /// A manual read (`correctionId`).
    ManualRead,
    /// No START read: the entry's wave start.
    WaveStart,
}

#[derive(SimpleObject)]
#[graphql(name = "PointTime")]
pub struct PointTimeObject {
    pub timing_point: String,
    pub at: DateTime<Utc>,
    pub source: TimeSource,
    pub detection_id: Option<ID>,
    pub correction_id: Option<ID>,
}

impl PointTimeObject {
    fn new(course: &Course, p: PointTime) -> Self {
        let (source, detection_id, correction_id) = match p.source {
            Source::Detection(d) => (TimeSource::Detection, Some(id(d)), None),
            Source::ManualRead(c) => (TimeSource::ManualRead, None, Some(id(c))),
            Source::WaveStart => (TimeSource::WaveStart, None, None),
        };
        Self {
            timing_point: course.points()[p.point].to_string(),
            at: time(p.at),
            source,
            detection_id,
            correction_id,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "SplitLineage")]
pub struct SplitLineageObject {
    /// The segment code, or the covered codes joined by `+`.
    pub segment: String,
    pub from: PointTimeObject,
    pub to: PointTimeObject,
    pub duration_ms: i64,
}

#[derive(SimpleObject)]
#[graphql(name = "NetTimeLineage")]
pub struct NetTimeLineageObject {
    pub start: PointTimeObject,
    pub finish: PointTimeObject,
    /// FINISH − start.
    pub gross_ms: i64,
    pub penalty_ms: i64,
    /// The time penalties in force.
    pub penalty_correction_ids: Vec<ID>,
    /// grossMs + penaltyMs.
    pub net_time_ms: i64,
}

/// What became of a raw read.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ReadUsage {
    /// It is the time at its point.
    Used,
    /// An earlier read at the same point counts.
    Superseded,
    /// A correction (`ignoredBy`) said it does not count.
    Ignored,
    /// Set aside: contradicts the course order.
    OutOfOrder,
    /// Set aside: would make a segment (for FINISH: the race) faster than its minimum.
    TooFast,
    /// Set aside: a FINISH read followed by reads at course mats.
    StrayFinish,
}

#[derive(SimpleObject)]
#[graphql(name = "ReadLineage")]
pub struct ReadLineageObject {
    pub detection_id: ID,
    pub timing_point: String,
    pub at: DateTime<Utc>,
    pub read_id: Option<String>,
    pub device_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Placed by an import, not read: the source gave the time since the previous mat only as
    /// part of a sum (the roxzone total), so the split ending here is an estimate and is left
    /// out of per-segment statistics.
    pub estimated: bool,
    pub usage: ReadUsage,
    pub ignored_by: Option<ID>,
}

/// Why a result is what it is: the reads and corrections behind every split and the net time.
#[derive(SimpleObject)]
#[graphql(name = "Lineage")]
pub struct LineageObject {
    pub splits: Vec<SplitLineageObject>,
    /// Null until the entry finished.
    pub net_time: Option<NetTimeLineageObject>,
    /// The correction that decided the status (DSQ, DNF, DNS), if any.
    pub status_decided_by: Option<ID>,
    /// Every raw read of the entry, oldest first, with what became of it.
    pub reads: Vec<ReadLineageObject>,
    /// The entry's corrections, oldest first, undone ones included.
    pub corrections: Vec<CorrectionObject>,
}

impl LineageObject {
    pub fn new(course: &Course, lineage: Lineage, corrections: Vec<CorrectionObject>) -> Self {
        let point = |p| PointTimeObject::new(course, p);
        Self {
            splits: lineage
                .splits
                .into_iter()
                .map(|s| SplitLineageObject {
                    segment: course.segments()[s.from.point..s.to.point]
                        .iter()
                        .map(|seg| seg.code.as_str())
                        .collect::<Vec<_>>()
                        .join("+"),
                    from: point(s.from),
                    to: point(s.to),
                    duration_ms: s.duration.0,
                })
                .collect(),
            net_time: lineage.net_time.map(|n| NetTimeLineageObject {
                start: point(n.start),
                finish: point(n.finish),
                gross_ms: n.gross.0,
                penalty_ms: n.penalty.0,
                penalty_correction_ids: n.penalties.into_iter().map(id).collect(),
                net_time_ms: n.net.0,
            }),
            status_decided_by: lineage.status_decided_by.map(id),
            reads: lineage
                .reads
                .into_iter()
                .map(|r| {
                    let (usage, ignored_by) = match r.usage {
                        ReadUse::Used => (ReadUsage::Used, None),
                        ReadUse::Superseded => (ReadUsage::Superseded, None),
                        ReadUse::Ignored(by) => (ReadUsage::Ignored, Some(id(by))),
                        ReadUse::SetAside(SetAsideReason::OutOfOrder) => {
                            (ReadUsage::OutOfOrder, None)
                        }
                        ReadUse::SetAside(SetAsideReason::StrayFinish) => {
                            (ReadUsage::StrayFinish, None)
                        }
                        ReadUse::SetAside(SetAsideReason::TooFast) => (ReadUsage::TooFast, None),
                    };
                    ReadLineageObject {
                        detection_id: id(r.read.id),
                        timing_point: course.points()[r.read.point].to_string(),
                        at: time(r.read.at),
                        read_id: r.read.read_id,
                        device_id: r.read.device_id,
                        received_at: time(r.read.received_at),
                        estimated: r.read.estimated,
                        usage,
                        ignored_by,
                    }
                })
                .collect(),
            corrections,
        }
    }
}
