//! Venues, events, athletes and entries, and the checks a detection must pass for an event.

use crate::course::Course;
use crate::division::{string_enum, AgeGroup, Category, Gender};
use crate::error::InvalidInput;
use crate::timing::{Bib, Detection, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

string_enum!(
    /// The lifecycle of an event.
    EventStatus, "status" {
        Scheduled => "SCHEDULED",
        Live => "LIVE",
        Provisional => "PROVISIONAL",
        Official => "OFFICIAL",
        Cancelled => "CANCELLED",
    }
);

/// Whether an event in a given status takes corrections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrectionPolicy {
    /// Timing crews and admins may correct.
    Open,
    /// Results are official: only an admin may correct, and it is recorded as an amendment.
    AmendmentsOnly,
    /// Nothing changes any more (a cancelled event).
    Closed,
}

impl EventStatus {
    /// Whether raw detections are still accepted (late uploads are welcome until official).
    pub fn accepts_detections(self) -> bool {
        matches!(
            self,
            EventStatus::Scheduled | EventStatus::Live | EventStatus::Provisional
        )
    }

    pub fn correction_policy(self) -> CorrectionPolicy {
        match self {
            EventStatus::Scheduled | EventStatus::Live | EventStatus::Provisional => {
                CorrectionPolicy::Open
            }
            EventStatus::Official => CorrectionPolicy::AmendmentsOnly,
            EventStatus::Cancelled => CorrectionPolicy::Closed,
        }
    }

    /// The lifecycle: `SCHEDULED → LIVE → PROVISIONAL → OFFICIAL`, and `CANCELLED` from any
    /// status before official. Nothing leaves `OFFICIAL` or `CANCELLED`.
    pub fn can_become(self, next: EventStatus) -> bool {
        use EventStatus::*;
        matches!(
            (self, next),
            (Scheduled, Live)
                | (Live, Provisional)
                | (Provisional, Official)
                | (Scheduled | Live | Provisional, Cancelled)
        )
    }

    /// Checks a transition; the error names what is allowed from here.
    pub fn transition(self, next: EventStatus) -> Result<EventStatus, InvalidInput> {
        if self.can_become(next) {
            return Ok(next);
        }
        let allowed: Vec<&str> = EventStatus::ALL
            .iter()
            .filter(|s| self.can_become(**s))
            .map(|s| s.as_str())
            .collect();
        Err(InvalidInput::new(
            "status",
            if allowed.is_empty() {
                format!("an event that is {self} cannot change status")
            } else {
                format!(
                    "an event that is {self} cannot become {next}; it can become {}",
                    allowed.join(" or ")
                )
            },
        ))
    }

    /// The domain event announcing that an event entered this status (outbox topic).
    pub fn topic(self) -> Option<&'static str> {
        match self {
            EventStatus::Scheduled => None,
            EventStatus::Live => Some(TOPIC_EVENT_LIVE),
            EventStatus::Provisional => Some(TOPIC_EVENT_PROVISIONAL),
            EventStatus::Official => Some(TOPIC_EVENT_OFFICIAL),
            EventStatus::Cancelled => Some(TOPIC_EVENT_CANCELLED),
        }
    }

    /// Whether results of an event in this status are official.
    pub fn results_official(self) -> bool {
        self == EventStatus::Official
    }
}

/// Outbox topics (domain events for webhook delivery).
pub const TOPIC_EVENT_LIVE: &str = "event.live";
pub const TOPIC_EVENT_PROVISIONAL: &str = "event.provisional";
pub const TOPIC_EVENT_OFFICIAL: &str = "event.official";
pub const TOPIC_EVENT_CANCELLED: &str = "event.cancelled";
pub const TOPIC_RESULT_AMENDED: &str = "result.amended";
/// A result that became official is its athlete's best finish on the course so far (public
/// athletes only: a private athlete's bests are never told).
pub const TOPIC_ATHLETE_PERSONAL_BEST: &str = "athlete.personal_best";
/// An event became official and its statistics are final (with links to the exports).
pub const TOPIC_EVENT_ANALYTICS_READY: &str = "event.analytics_ready";
/// One of the owner's webhook endpoints was disabled by podium (it answered 410 Gone, or failed
/// for the whole retry window).
pub const TOPIC_WEBHOOK_ENDPOINT_DISABLED: &str = "webhook.endpoint_disabled";
/// An athlete's training left the safe band (ACWR outside its band, or TSB below its floor).
/// Private: only the athlete's own endpoints and their coaches' receive it.
pub const TOPIC_ATHLETE_FATIGUE_ALERT: &str = "athlete.fatigue_alert";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub venue_id: Option<Uuid>,
    pub name: String,
    pub starts_at: Timestamp,
    /// IANA time zone name of the venue, e.g. `Europe/Berlin`.
    pub timezone: String,
    pub course: Course,
    pub status: EventStatus,
    /// Monotonically increasing version of the event's results: bumped by every change.
    pub seq: i64,
}

/// How far from the event's start a read may be before it is rejected as out of range: a
/// device clock at 1970 or a read from another day is a configuration error, not a result.
pub const READ_WINDOW_BEFORE_MS: i64 = 12 * 3600 * 1000;
pub const READ_WINDOW_AFTER_MS: i64 = 36 * 3600 * 1000;

impl Event {
    /// The season the event belongs to: the calendar year of its start in its time zone (UTC
    /// when the zone is unknown).
    pub fn season(&self) -> i32 {
        use chrono::Datelike;
        let start = self.starts_at.to_chrono();
        match self.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => start.with_timezone(&tz).year(),
            Err(_) => start.year(),
        }
    }

    /// Checks a detection against this event; returns the timing point's index on the course.
    pub fn check_detection(&self, detection: &Detection) -> Result<usize, InvalidInput> {
        let index = self
            .course
            .index_of(detection.point.as_str())
            .ok_or_else(|| {
                InvalidInput::new(
                    "timingPoint",
                    format!(
                        "`{}` is not a timing point of course {}",
                        detection.point,
                        self.course.code()
                    ),
                )
            })?;
        let earliest = self.starts_at.0 - READ_WINDOW_BEFORE_MS;
        let latest = self.starts_at.0 + READ_WINDOW_AFTER_MS;
        if !(earliest..=latest).contains(&detection.at.0) {
            return Err(InvalidInput::new(
                "timestamp",
                format!(
                    "{} is out of range: reads must fall between {} and {} (12 h before to 36 h after the event start)",
                    detection.at,
                    Timestamp(earliest),
                    Timestamp(latest)
                ),
            ));
        }
        Ok(index)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVenue {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub venue_id: Option<Uuid>,
    pub name: String,
    pub starts_at: Timestamp,
    pub timezone: String,
    pub course: Course,
}

/// Checks a display name: trimmed, 1 to 200 characters.
pub fn parse_name(field: &str, raw: &str) -> Result<String, InvalidInput> {
    crate::error::check_text(field, raw, false)?;
    let name = raw.trim();
    if name.is_empty() {
        return Err(InvalidInput::new(field, "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(InvalidInput::new(field, "must be at most 200 characters"));
    }
    Ok(name.to_owned())
}

/// A registration to add to an event (validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub bib: Bib,
    /// Links the entry to an existing athlete; otherwise a new athlete is created.
    pub athlete_id: Option<Uuid>,
    pub first_name: String,
    pub last_name: String,
    pub category: Category,
    pub gender: Gender,
    pub age_group: Option<AgeGroup>,
    pub birth_year: Option<i32>,
    pub wave_start: Timestamp,
    /// The athlete's nationality when the source gives it (a new athlete keeps it).
    pub nationality: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: Uuid,
    pub event_id: Uuid,
    pub athlete_id: Uuid,
    pub bib: Bib,
    pub first_name: String,
    pub last_name: String,
    pub category: Category,
    pub gender: Gender,
    pub age_group: Option<AgeGroup>,
    pub birth_year: Option<i32>,
    pub wave_start: Timestamp,
    pub athlete_private: bool,
}

impl Entry {
    pub fn athlete_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A wave: a start group of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    pub id: Uuid,
    pub starts_at: Timestamp,
    pub entries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::TimingPointCode;

    fn event() -> Event {
        Event {
            id: Uuid::nil(),
            venue_id: None,
            name: "Test".into(),
            starts_at: Timestamp(1_773_478_800_000),
            timezone: "Europe/Berlin".into(),
            course: Course::hyrox_standard(),
            status: EventStatus::Scheduled,
            seq: 0,
        }
    }

    fn detection(point: &str, at: i64) -> Detection {
        Detection {
            bib: Bib::parse("1").unwrap(),
            point: TimingPointCode::parse(point).unwrap(),
            at: Timestamp(at),
            read_id: None,
            device_id: None,
            estimated: false,
        }
    }

    #[test]
    fn detections_must_name_a_point_of_the_course_and_fall_near_the_event() {
        let e = event();
        assert_eq!(
            e.check_detection(&detection("RUN1", e.starts_at.0))
                .unwrap(),
            1
        );
        let unknown = e
            .check_detection(&detection("RUN9", e.starts_at.0))
            .unwrap_err();
        assert!(unknown.message.contains("RUN9"));
        let ancient = e.check_detection(&detection("RUN1", 0)).unwrap_err();
        assert_eq!(ancient.field, "timestamp");
    }

    #[test]
    fn only_the_lifecycle_transitions_are_allowed() {
        use EventStatus::*;
        let allowed = [
            (Scheduled, Live),
            (Live, Provisional),
            (Provisional, Official),
            (Scheduled, Cancelled),
            (Live, Cancelled),
            (Provisional, Cancelled),
        ];
        for from in EventStatus::ALL {
            for to in EventStatus::ALL {
                assert_eq!(
                    from.can_become(*to),
                    allowed.contains(&(*from, *to)),
                    "{from} -> {to}"
                );
            }
        }
        let e = Live.transition(Official).unwrap_err();
        assert!(
            e.message.contains("PROVISIONAL or CANCELLED"),
            "{}",
            e.message
        );
        let e = Official.transition(Live).unwrap_err();
        assert!(e.message.contains("cannot change status"));
        assert_eq!(
            Official.correction_policy(),
            CorrectionPolicy::AmendmentsOnly
        );
        assert_eq!(Cancelled.correction_policy(), CorrectionPolicy::Closed);
    }

    #[test]
    fn names_are_trimmed_and_required() {
        assert_eq!(parse_name("firstName", "  Ana ").unwrap(), "Ana");
        assert!(parse_name("firstName", "   ").is_err());
    }
}
