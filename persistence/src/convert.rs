//! Conversions between SeaORM models and domain types, and database error mapping.

use crate::entities::{athletes, entries, entry_states, events};
use anyhow::{anyhow, Context};
use podium_domain::course::{Course, LimitOverride};
use podium_domain::engine::{EntryStatus, Timeline, TimelineParts};
use podium_domain::field::OutlierRule;
use podium_domain::model::{Entry, Event, EventStatus};
use podium_domain::ports::RepoError;
use podium_domain::timing::{Bib, Timestamp};
use sea_orm::{DbErr, SqlErr};

pub(crate) fn unexpected(e: DbErr) -> RepoError {
    if is_unavailable(&e) {
        return RepoError::Unavailable(e.to_string());
    }
    if is_lock_conflict(&e) {
        return RepoError::Busy(e.to_string());
    }
    RepoError::Unexpected(anyhow!(e).context("database error"))
}

/// The driver's error behind a failed connection, statement or query.
fn sqlx_error(e: &DbErr) -> Option<&sea_orm::sqlx::Error> {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// Whether the database answered with a SQLSTATE that `matches`.
fn sqlstate_is(e: &DbErr, matches: impl Fn(&str) -> bool) -> bool {
    matches!(sqlx_error(e), Some(sea_orm::sqlx::Error::Database(db))
        if db.code().is_some_and(|c| matches(&c)))
}

/// Whether an error means the database cannot be reached, rather than that a statement
/// failed: no connection in time, a broken connection, or a server shutting down or starting
/// up (SQLSTATE class 08, 57P01–57P03).
pub(crate) fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    if matches!(e, DbErr::ConnectionAcquire(_)) {
        return true;
    }
    matches!(
        sqlx_error(e),
        Some(Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::Io(_) | Sqlx::Tls(_))
    ) || sqlstate_is(e, |c| {
        c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03")
    })
}

/// Whether PostgreSQL broke a lock conflict by aborting this transaction: a deadlock
/// (40P01) or a serialization failure (40001). The transaction wrote nothing; running it again
/// may succeed.
pub(crate) fn is_lock_conflict(e: &DbErr) -> bool {
    sqlstate_is(e, |c| matches!(c, "40P01" | "40001"))
}

/// Runs a write transaction again (it must be idempotent and commit or roll back whole) when
/// the database broke a lock conflict, up to `ATTEMPTS` times with a short, growing, jittered
/// pause; then the conflict stands as `RepoError::Busy`. Idempotent ingest by read id and
/// content key makes a repeated batch store nothing twice.
pub(crate) async fn retry_on_conflict<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, RepoError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RepoError>>,
{
    const ATTEMPTS: u32 = 5;
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(RepoError::Busy(cause)) if tried < ATTEMPTS => {
                let pause =
                    10u64 * (1 << tried) + rand::Rng::gen_range(&mut rand::thread_rng(), 0..=20);
                tracing::info!(%cause, tried, pause_ms = pause, "{what}: lock conflict, trying again");
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                tried += 1;
            }
            other => return other,
        }
    }
}

/// Maps a unique violation to `Duplicate(what)`, anything else to `Unexpected`.
pub(crate) fn on_unique(e: DbErr, what: impl FnOnce() -> String) -> RepoError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => RepoError::Duplicate(what()),
        _ => unexpected(e),
    }
}

pub(crate) fn corrupt(e: impl std::fmt::Display, what: &str) -> RepoError {
    RepoError::Unexpected(anyhow!("stored {what} is invalid: {e}"))
}

impl TryFrom<events::Model> for Event {
    type Error = RepoError;
    fn try_from(m: events::Model) -> Result<Self, Self::Error> {
        let points: Vec<String> = serde_json::from_str(&m.course_points)
            .context("course points")
            .map_err(RepoError::Unexpected)?;
        let mut course =
            Course::restore(&m.course_code, &points).map_err(|e| corrupt(e, "course"))?;
        if let Some(limits) = &m.segment_limits {
            let limits: Vec<LimitOverride> = serde_json::from_str(limits)
                .context("segment limits")
                .map_err(RepoError::Unexpected)?;
            course = course
                .with_limits(&limits)
                .map_err(|e| corrupt(e, "segment limits"))?;
        }
        if let Some(rule) = &m.outlier_rule {
            let rule: OutlierRule = serde_json::from_str(rule)
                .context("outlier rule")
                .map_err(RepoError::Unexpected)?;
            course = course.with_outlier_rule(rule);
        }
        Ok(Event {
            id: m.id,
            venue_id: m.venue_id,
            name: m.name,
            starts_at: Timestamp::from_chrono(m.starts_at),
            timezone: m.timezone,
            course,
            status: m
                .status
                .parse::<EventStatus>()
                .map_err(|e| corrupt(e, "event status"))?,
            seq: m.seq,
        })
    }
}

pub(crate) fn entry_from(
    e: &entries::Model,
    athlete: &athletes::Model,
    state: &entry_states::Model,
) -> Result<Entry, RepoError> {
    Ok(Entry {
        id: e.id,
        event_id: e.event_id,
        athlete_id: e.athlete_id,
        bib: Bib::parse(&e.bib).map_err(|x| corrupt(x, "bib"))?,
        first_name: athlete.first_name.clone(),
        last_name: athlete.last_name.clone(),
        category: e.category.parse().map_err(|x| corrupt(x, "category"))?,
        gender: e.gender.parse().map_err(|x| corrupt(x, "gender"))?,
        age_group: e
            .age_group
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|x| corrupt(x, "age group"))?,
        birth_year: athlete.birth_year,
        wave_start: Timestamp(state.wave_start_ms),
        athlete_private: athlete.is_private,
    })
}

/// How `entry_states.point_times` stores a timeline: an object with its parts. A bare array
/// of earliest reads per point is the form stored before every finish read was kept; it still
/// reads back (`Timeline::from_earliest`).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredTimeline {
    earliest: Vec<Option<i64>>,
    finishes: Vec<i64>,
    #[serde(rename = "lastCourseRead")]
    last_course_read: Option<(i64, usize)>,
    /// Points whose earliest read is estimated; absent when none is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    estimated: Vec<usize>,
}

pub(crate) fn timeline_json(timeline: &Timeline) -> String {
    let parts = timeline.parts();
    serde_json::to_string(&StoredTimeline {
        earliest: parts.earliest,
        finishes: parts.finishes,
        last_course_read: parts.last_course_read,
        estimated: parts.estimated,
    })
    .unwrap_or_else(|_| "[]".into())
}

pub(crate) fn timeline_from(
    course: &Course,
    state: &entry_states::Model,
) -> Result<Timeline, RepoError> {
    let raw = state.point_times.trim_start();
    // Told apart by the first byte rather than an untagged enum, which would buffer every
    // timeline before parsing it (this runs for every entry of every batch).
    let timeline = if raw.starts_with('[') {
        let earliest: Vec<Option<i64>> = serde_json::from_str(raw)
            .context("entry timeline")
            .map_err(RepoError::Unexpected)?;
        Timeline::from_earliest(course, &earliest)
    } else {
        let stored: StoredTimeline = serde_json::from_str(raw)
            .context("entry timeline")
            .map_err(RepoError::Unexpected)?;
        Timeline::from_parts(
            course,
            TimelineParts {
                earliest: stored.earliest,
                finishes: stored.finishes,
                last_course_read: stored.last_course_read,
                estimated: stored.estimated,
            },
        )
    };
    timeline.map_err(|e| corrupt(e, "timeline"))
}

pub(crate) fn status_from(raw: &str) -> Result<EntryStatus, RepoError> {
    raw.parse().map_err(|e| corrupt(e, "entry status"))
}
