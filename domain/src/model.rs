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

impl EventStatus {
    /// Whether raw detections are still accepted (late uploads are welcome until official).
    pub fn accepts_detections(self) -> bool {
        matches!(
            self,
            EventStatus::Scheduled | EventStatus::Live | EventStatus::Provisional
        )
    }
}

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
    fn names_are_trimmed_and_required() {
        assert_eq!(parse_name("firstName", "  Ana ").unwrap(), "Ana");
        assert!(parse_name("firstName", "   ").is_err());
    }
}
