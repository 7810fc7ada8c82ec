//! Across events: segment leaderboards (each athlete's best measured time on a segment, ranked
//! like Strava's), an athlete's trend race by race, and the figures of a competition (season,
//! venue). Adapters supply the rows (`ports::AnalyticsRepository`); the rules are here.

use crate::engine::EntryStatus;
use crate::error::InvalidInput;
use crate::model::Event;
use crate::stats::Distribution;
use crate::timing::Timestamp;
use uuid::Uuid;

/// The day a season starts (`MM-DD`): season N runs from that day of year N to the day before
/// it in year N + 1, by the event's local start date. `01-01` (the default) makes seasons
/// calendar years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeasonStart {
    month: u32,
    day: u32,
}

impl SeasonStart {
    pub const CALENDAR: SeasonStart = SeasonStart { month: 1, day: 1 };

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let bad = || {
            InvalidInput::new(
                "season_start",
                format!("`{raw}` is not a day as MM-DD, e.g. 09-01"),
            )
        };
        let (m, d) = raw.split_once('-').ok_or_else(bad)?;
        let (month, day) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        // Any year where the day exists: a leap year, so 02-29 is allowed.
        chrono::NaiveDate::from_ymd_opt(2024, month, day).ok_or_else(bad)?;
        Ok(Self { month, day })
    }

    /// The season `event` belongs to.
    pub fn season_of(&self, event: &Event) -> i32 {
        use chrono::Datelike;
        let start = event.starts_at.to_chrono();
        let local = match event.timezone.parse::<chrono_tz::Tz>() {
            Ok(tz) => start.with_timezone(&tz).date_naive(),
            Err(_) => start.date_naive(),
        };
        if (local.month(), local.day()) >= (self.month, self.day) {
            local.year()
        } else {
            local.year() - 1
        }
    }
}

/// One measured time on a segment: an athlete's effort in one race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effort {
    pub athlete_id: Uuid,
    pub event_id: Uuid,
    pub bib: String,
    pub duration_ms: i64,
    /// When the segment was done (its end read).
    pub ended_at: Timestamp,
}

/// An athlete's best effort with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedEffort {
    /// Equal times share a rank (1, 2, 2, 4).
    pub rank: u32,
    pub effort: Effort,
}

/// Each athlete's best effort (of equal times, the earlier one), fastest first; equal times
/// share a rank and list the earlier result first.
pub fn segment_board(efforts: Vec<Effort>) -> Vec<RankedEffort> {
    let order = |e: &Effort| (e.duration_ms, e.ended_at, e.event_id, e.athlete_id);
    let mut best: std::collections::HashMap<Uuid, Effort> = Default::default();
    for e in efforts {
        match best.get(&e.athlete_id) {
            Some(kept) if order(kept) <= order(&e) => {}
            _ => {
                best.insert(e.athlete_id, e);
            }
        }
    }
    let mut board: Vec<Effort> = best.into_values().collect();
    board.sort_by_key(order);
    let mut ranked: Vec<RankedEffort> = Vec::with_capacity(board.len());
    for (n, effort) in board.into_iter().enumerate() {
        let rank = match ranked.last() {
            Some(prev) if prev.effort.duration_ms == effort.duration_ms => prev.rank,
            _ => n as u32 + 1,
        };
        ranked.push(RankedEffort { rank, effort });
    }
    ranked
}

/// Where a time stood among its comparison group: how many were slower, how many equal (the
/// time itself included) and how many in all (itself included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub value: i64,
    pub slower: u64,
    pub equal: u64,
    pub count: u64,
}

impl Standing {
    /// Where `value` stands among `group` (which includes it).
    pub fn among(value: i64, group: &[i64]) -> Self {
        let (mut slower, mut equal) = (0, 0);
        for &other in group {
            if other > value {
                slower += 1;
            } else if other == value {
                equal += 1;
            }
        }
        Self {
            value,
            slower,
            equal,
            count: group.len() as u64,
        }
    }

    /// `100 × (slower + (equal − 1) / 2) / (count − 1)`: the share of the others beaten, ties
    /// counting half (see `report::percentile_among`); `None` alone.
    pub fn percentile(&self) -> Option<f64> {
        (self.count > 1).then(|| {
            100.0 * (self.slower as f64 + (self.equal.saturating_sub(1)) as f64 / 2.0)
                / (self.count - 1) as f64
        })
    }
}

/// One race of an athlete as its trend shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRace {
    pub event_id: Uuid,
    pub event_name: String,
    pub starts_at: Timestamp,
    pub bib: String,
    pub status: EntryStatus,
    pub net_time_ms: Option<i64>,
    /// The net time's percentile in the division of that event.
    pub division_percentile: Option<f64>,
    /// Each measured segment: code, time, percentile in the division of that event.
    pub segments: Vec<(String, i64, Option<f64>)>,
}

/// A race with its change against the previous finished race.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub race: TrendRace,
    /// Net time minus the previous finish's (negative: faster).
    pub net_change_ms: Option<i64>,
    pub percentile_change: Option<f64>,
    /// Per segment of this race: percentile minus the previous finish's on that segment.
    pub segment_changes: Vec<(String, Option<f64>)>,
}

/// The races in the order they were raced, each compared with the finished race before it.
pub fn trend(mut races: Vec<TrendRace>) -> Vec<TrendPoint> {
    races.sort_by_key(|r| (r.starts_at, r.event_id));
    let mut previous: Option<TrendRace> = None;
    let mut out = Vec::with_capacity(races.len());
    for race in races {
        let finished = race.status == EntryStatus::Finished;
        let before = previous.as_ref().filter(|_| finished);
        let net_change_ms = before.and_then(|p| Some(race.net_time_ms? - p.net_time_ms?));
        let percentile_change =
            before.and_then(|p| Some(race.division_percentile? - p.division_percentile?));
        let segment_changes = race
            .segments
            .iter()
            .map(|(code, _, pct)| {
                let change = before.and_then(|p| {
                    let (_, _, earlier) = p.segments.iter().find(|(c, _, _)| c == code)?;
                    Some((*pct)? - (*earlier)?)
                });
                (code.clone(), change)
            })
            .collect();
        if finished {
            previous = Some(race.clone());
        }
        out.push(TrendPoint {
            race,
            net_change_ms,
            percentile_change,
            segment_changes,
        });
    }
    out
}

/// What a competition (a season, a venue, a division — any of them) adds up to.
#[derive(Debug, Clone, PartialEq)]
pub struct CompetitionFigures {
    pub events: usize,
    pub entries: u64,
    pub finishers: u64,
    pub dnf: u64,
    pub dns: u64,
    pub dsq: u64,
    /// Net times of the finishers.
    pub finish_times: Distribution,
    /// Per segment: measured times counted and their median.
    pub segment_medians: Vec<(String, u64, Option<f64>)>,
}

impl CompetitionFigures {
    /// `part / entries`, `None` without entries.
    pub fn rate(&self, part: u64) -> Option<f64> {
        (self.entries > 0).then(|| part as f64 / self.entries as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effort(athlete: u128, ms: i64, at: i64) -> Effort {
        Effort {
            athlete_id: Uuid::from_u128(athlete),
            event_id: Uuid::from_u128(at as u128),
            bib: athlete.to_string(),
            duration_ms: ms,
            ended_at: Timestamp(at),
        }
    }

    #[test]
    fn seasons_are_calendar_years_unless_they_start_on_another_day() {
        let event = |day: &str| Event {
            id: Uuid::nil(),
            venue_id: None,
            name: "E".into(),
            // 23:30 UTC is already the next day in Berlin.
            starts_at: Timestamp::from_chrono(
                chrono::DateTime::parse_from_rfc3339(&format!("{day}T23:30:00Z"))
                    .unwrap()
                    .into(),
            ),
            timezone: "Europe/Berlin".into(),
            course: crate::course::Course::hyrox_standard(),
            status: crate::model::EventStatus::Official,
            seq: 0,
        };
        assert_eq!(SeasonStart::CALENDAR.season_of(&event("2025-12-31")), 2026);
        assert_eq!(SeasonStart::CALENDAR.season_of(&event("2025-12-30")), 2025);
        let autumn = SeasonStart::parse("09-01").unwrap();
        assert_eq!(autumn.season_of(&event("2026-08-30")), 2025);
        assert_eq!(autumn.season_of(&event("2026-08-31")), 2026);
        assert!(SeasonStart::parse("13-01").is_err());
        assert!(SeasonStart::parse("0901").is_err());
        assert!(SeasonStart::parse("02-29").is_ok());
    }

    #[test]
    fn a_segment_board_keeps_each_athletes_best_and_ties_share_a_rank_earlier_first() {
        let board = segment_board(vec![
            effort(1, 300, 10),
            effort(1, 280, 20), // athlete 1's best
            effort(2, 290, 30),
            effort(3, 290, 5), // ties athlete 2, raced earlier
            effort(4, 310, 1),
            effort(4, 310, 0), // equal to their other: the earlier counts
        ]);
        let got: Vec<(u32, u128, i64)> = board
            .iter()
            .map(|r| (r.rank, r.effort.athlete_id.as_u128(), r.effort.ended_at.0))
            .collect();
        assert_eq!(got, [(1, 1, 20), (2, 3, 5), (2, 2, 30), (4, 4, 0)]);
    }

    #[test]
    fn a_standing_counts_half_the_ties_against_the_others() {
        // Others 10, 20, 30 against 20: one slower, one tie (itself not counted).
        let s = Standing {
            value: 20,
            slower: 1,
            equal: 2,
            count: 4,
        };
        assert_eq!(s.percentile(), Some(50.0));
        assert_eq!(
            crate::report::percentile_among(20, &[10, 20, 30]),
            s.percentile()
        );
        let alone = Standing {
            value: 1,
            slower: 0,
            equal: 1,
            count: 1,
        };
        assert_eq!(alone.percentile(), None);
    }

    #[test]
    fn a_trend_compares_each_finish_with_the_finish_before_it() {
        let race = |day: i64, status: EntryStatus, net: Option<i64>, pct: Option<f64>| TrendRace {
            event_id: Uuid::from_u128(day as u128),
            event_name: format!("Race {day}"),
            starts_at: Timestamp(day),
            bib: "1".into(),
            status,
            net_time_ms: net,
            division_percentile: pct,
            segments: net
                .map(|_| vec![("RUN_1".to_owned(), 300_000, pct)])
                .unwrap_or_default(),
        };
        let points = trend(vec![
            race(3, EntryStatus::Finished, Some(5_000), Some(70.0)),
            race(1, EntryStatus::Finished, Some(5_400), Some(50.0)),
            race(2, EntryStatus::Dnf, None, None),
        ]);
        let brief: Vec<(i64, Option<i64>, Option<f64>)> = points
            .iter()
            .map(|p| (p.race.starts_at.0, p.net_change_ms, p.percentile_change))
            .collect();
        // The DNF is skipped as a reference: race 3 compares with race 1.
        assert_eq!(
            brief,
            [
                (1, None, None),
                (2, None, None),
                (3, Some(-400), Some(20.0))
            ]
        );
        assert_eq!(
            points[2].segment_changes,
            [("RUN_1".to_owned(), Some(20.0))]
        );
    }
}
