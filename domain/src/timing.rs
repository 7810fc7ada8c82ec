//! Raw timing values: bibs, instants, durations and detections (one mat read each).

use crate::course::TimingPointCode;
use crate::error::InvalidInput;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A race number. 1 to 16 characters of ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bib(String);

impl Bib {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        let valid = !raw.is_empty()
            && raw.len() <= 16
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput::new(
                "bib",
                format!("`{raw}` is not a bib (1-16 letters, digits, - or _)"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Bib {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Bib> for String {
    fn from(value: Bib) -> Self {
        value.0
    }
}

impl fmt::Display for Bib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An instant, in milliseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_chrono(t: chrono::DateTime<chrono::Utc>) -> Self {
        Self(t.timestamp_millis())
    }

    pub fn to_chrono(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// Parses an RFC 3339 / ISO-8601 instant with an offset, e.g. `2026-03-14T09:00:00.250Z`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        chrono::DateTime::parse_from_rfc3339(raw.trim())
            .map(|t| Self(t.timestamp_millis()))
            .map_err(|e| {
                InvalidInput::new(
                    "timestamp",
                    format!("`{raw}` is not an ISO-8601 instant with offset ({e})"),
                )
            })
    }

    pub fn since(self, earlier: Timestamp) -> DurationMs {
        DurationMs(self.0 - earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_chrono()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    }
}

/// A duration in whole milliseconds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
pub struct DurationMs(pub i64);

impl std::ops::Add for DurationMs {
    type Output = DurationMs;
    fn add(self, rhs: Self) -> Self {
        DurationMs(self.0 + rhs.0)
    }
}

/// An identifier a timing system gives one read; optional. Up to 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReadId(String);

impl ReadId {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.is_empty() || raw.len() > 128 {
            return Err(InvalidInput::new("readId", "must be 1 to 128 characters"));
        }
        crate::error::check_text("readId", raw, false)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One raw read of a bib at a timing point.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Detection {
    pub bib: Bib,
    pub point: TimingPointCode,
    pub at: Timestamp,
    pub read_id: Option<ReadId>,
    pub device_id: Option<String>,
    /// The instant was placed, not read: the time since the previous mat is an estimate (an
    /// import whose source gives that stretch only as part of a sum, like the roxzone total).
    /// The split ending at such a read is excluded from per-segment statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

impl Detection {
    /// The content key: two reads with the same bib, point and instant are the same read.
    pub fn content_key(&self) -> (&Bib, &TimingPointCode, Timestamp) {
        (&self.bib, &self.point, self.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bibs_are_trimmed_and_checked() {
        assert_eq!(Bib::parse(" 123 ").unwrap().as_str(), "123");
        assert!(Bib::parse("").is_err());
        assert!(Bib::parse("12 3").is_err());
        assert!(Bib::parse("12345678901234567").is_err());
    }

    #[test]
    fn timestamps_need_an_offset_and_keep_milliseconds() {
        let t = Timestamp::parse("2026-03-14T09:00:00.250+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-03-14T08:00:00.250Z");
        assert!(Timestamp::parse("2026-03-14T09:00:00").is_err());
        assert!(Timestamp::parse("yesterday")
            .unwrap_err()
            .message
            .contains("ISO-8601"));
    }
}
