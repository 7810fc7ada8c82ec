//! Import of past results in the public results format (`testdata/hyrox-results/README.md`):
//! one podium event per source event, created with its entries and made `OFFICIAL`. Each
//! result's split table becomes the mat reads a timing system would have sent for it
//! (`PublicResult::reads`), ingested through the same engine and storage as timed reads, with
//! `deviceId = import:<file>:<line>` so lineage names the line behind every time.
//!
//! Importing the same source event again finds it (by source name) and changes nothing. Bad
//! rows never stop the good ones: they are listed with their line and reason.

use crate::app::AppState;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use chrono::TimeZone;
use podium_domain::corrections::CorrectionAction;
use podium_domain::course::{Course, HYROX_STANDARD};
use podium_domain::division::AgeGroup;
use podium_domain::matching::{match_athlete, name_key, Identity, Match};
use podium_domain::model::{Event, EventStatus, NewEntry, NewEvent};
use podium_domain::ports::{IndexedDetection, NewCorrection};
use podium_domain::public_results::{DivisionWords, Placement, PublicResult};
use podium_domain::standings::{EventStandings, LeaderboardFilter};
use podium_domain::timing::{Bib, Detection, Timestamp};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Rows per registration and reads per ingest transaction.
const CHUNK: usize = 1_000;
/// Source events whose reads are ingested at the same time.
const EVENTS_AT_ONCE: usize = 3;
/// Reads per ingest transaction: a whole event, as a rule (one change-log step for it).
const READS_PER_INGEST: usize = 100_000;

/// How to read a source.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The venue the events are held at (a venue operator imports only for their own).
    pub venue_id: Option<Uuid>,
    /// The time zone of the source's local start times (IANA name).
    pub timezone: chrono_tz::Tz,
    /// The course template; the public format describes `HYROX_STANDARD`.
    pub course: String,
    pub words: DivisionWords,
}

impl ImportOptions {
    /// Options from their text: the time zone's IANA name, the course template, and `map`
    /// pairs `word=NAME` (the source's division and category words as podium's).
    pub fn new(
        venue_id: Option<Uuid>,
        timezone: &str,
        course: &str,
        map: &[&str],
    ) -> Result<Self, ApiError> {
        let timezone = timezone.parse().map_err(|_| {
            ApiError::BadRequest(format!("timezone: `{timezone}` is not an IANA time zone"))
        })?;
        let pairs = map
            .iter()
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| {
                pair.split_once('=')
                    .map(|(from, to)| (from.trim().to_owned(), to.trim().to_owned()))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("map: `{pair}` is not `word=NAME`"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            venue_id,
            timezone,
            course: course.to_owned(),
            words: DivisionWords::default().with(&pairs)?,
        })
    }
}

/// One result of a source, as a line of the JSON format, numbered like the source file.
pub struct SourceLine<'a> {
    pub line: usize,
    pub text: Cow<'a, str>,
}

/// The results of a source text: JSON lines as they are, or CSV (see `csv_as_json_lines`).
pub fn source_lines(text: &str, csv: bool) -> Result<Vec<SourceLine<'_>>, ApiError> {
    if csv {
        return Ok(csv_as_json_lines(text)?
            .into_iter()
            .map(|(line, text)| SourceLine {
                line,
                text: Cow::Owned(text),
            })
            .collect());
    }
    Ok(text
        .lines()
        .enumerate()
        .map(|(n, text)| SourceLine {
            line: n + 1,
            text: Cow::Borrowed(text),
        })
        .collect())
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedRow {
    pub source: String,
    pub line: usize,
    pub reason: String,
}

/// A result whose rank podium computes differently from the source's `place`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankDifference {
    pub bib: String,
    pub place: u32,
    pub rank: Option<u32>,
    /// Why, when it can be seen in the source.
    pub reason: Option<String>,
}

/// What happened to one source event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventImport {
    pub source_event: String,
    pub event_id: Uuid,
    /// False when the event had been imported before: nothing changed.
    pub created: bool,
    pub entries: usize,
    pub finishers: usize,
    pub rank_differences: Vec<RankDifference>,
    pub parts_vs_total: PartsVsTotal,
    pub athletes: AthleteMatches,
}

/// Who the event's results were attached to (the rule: `podium_domain::matching`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AthleteMatches {
    /// Results that created an athlete (ambiguous ones included).
    pub created: usize,
    /// Results attached to an athlete podium knew.
    pub matched: usize,
    /// Results several known athletes fit: attached to none of them (a new athlete holds the
    /// result until an admin merges it).
    pub ambiguous: Vec<AmbiguousAthlete>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmbiguousAthlete {
    pub bib: String,
    pub line: usize,
    pub name: String,
    /// The athletes the result fits.
    pub candidates: Vec<Uuid>,
}

/// How the published parts of the event's results agree with their official totals. The
/// total is the net time and runs and stations stay as published; the difference goes to the
/// roxzone (see `PublicResult::placement`), and is told here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartsVsTotal {
    /// Results whose parts and roxzone total add up exactly to the official total.
    pub exact: usize,
    /// Results whose roxzone was set to what the total leaves after the runs and stations,
    /// different from the published roxzone total.
    pub roxzone_adjusted: usize,
    /// The largest such adjustment, in milliseconds (either way).
    pub largest_adjustment_ms: i64,
    /// Results whose runs and stations leave less than the roxzone's minimum of the total:
    /// placed as published, with the last transition taking the difference (its reads are
    /// set aside and flagged by the engine, and their lineage keeps them).
    pub overshooting: Vec<Overshoot>,
}

/// A result whose parts do not fit in its official total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overshoot {
    pub bib: String,
    pub line: usize,
    /// The runs, stations and published roxzone total added up, in milliseconds.
    pub parts_ms: i64,
    pub total_ms: i64,
    /// Timing points whose read falls outside the race: stored (lineage shows them) and
    /// ignored by a correction that names the import, so the result still counts.
    pub outside_race: Vec<String>,
}

impl PartsVsTotal {
    fn of(rows: &[(usize, PublicResult)], course: &Course) -> Self {
        let mut out = Self::default();
        for (line, r) in rows {
            out.add(*line, r, &r.placement(course, Timestamp(0)), course);
        }
        out
    }

    fn add(&mut self, line: usize, r: &PublicResult, placement: &Placement, course: &Course) {
        if placement.overshoot {
            let parts: i64 = r.parts_ms.iter().flatten().sum::<i64>() + r.roxzone_ms.unwrap_or(0);
            self.overshooting.push(Overshoot {
                bib: r.bib.to_string(),
                line,
                parts_ms: parts,
                total_ms: r.total_ms.unwrap_or_default(),
                outside_race: placement
                    .outside
                    .iter()
                    .map(|&(p, _)| course.points()[p].to_string())
                    .collect(),
            });
            return;
        }
        match placement.difference_ms {
            Some(0) => self.exact += 1,
            Some(d) => {
                self.roxzone_adjusted += 1;
                self.largest_adjustment_ms = self.largest_adjustment_ms.max(d.abs());
            }
            None => {}
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub events: Vec<EventImport>,
    pub rejected: Vec<RejectedRow>,
}

/// The lines of a CSV source (a header row, then one result per row: the JSON format's field
/// names as columns, one column per split named like the JSON keys, `01_Running 1` …
/// `17_Roxzone Time`; an empty cell is unknown) as JSON lines, numbered like the file.
fn csv_as_json_lines(text: &str) -> Result<Vec<(usize, String)>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ApiError::BadRequest(format!("CSV header: {e}")))?
        .clone();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ApiError::BadRequest(format!("CSV: {e}")))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let mut object = serde_json::Map::new();
        let mut splits = serde_json::Map::new();
        for (name, cell) in headers.iter().zip(record.iter()) {
            let cell = cell.trim();
            let number = |cell: &str| -> serde_json::Value {
                cell.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(serde_json::Value::String(cell.to_owned()), Into::into)
            };
            if name
                .get(..2)
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            {
                let value = if cell.is_empty() {
                    serde_json::Value::Null
                } else {
                    number(cell)
                };
                splits.insert(name.to_owned(), value);
            } else if cell.is_empty() {
                object.insert(name.to_owned(), serde_json::Value::Null);
            } else if name == "total_time" {
                object.insert(name.to_owned(), number(cell));
            } else {
                object.insert(name.to_owned(), serde_json::Value::String(cell.to_owned()));
            }
        }
        object.insert("splits".into(), serde_json::Value::Object(splits));
        out.push((line, serde_json::Value::Object(object).to_string()));
    }
    Ok(out)
}

/// The stable name of a source event, unique among imported events.
fn source_key(source_event: &str) -> String {
    format!("import:{}", source_event.trim())
}

/// Imports the lines of `source` (a file name, shown in reports and lineage). `progress` hears
/// how many rows each source event took, as the events finish.
pub async fn import_results(
    state: &AppState,
    principal: &Principal,
    source: &str,
    lines: Vec<SourceLine<'_>>,
    options: &ImportOptions,
    report: &mut ImportReport,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<(), ApiError> {
    principal.require_at_venue(Scope::EventsManage, options.venue_id)?;
    if options.course != HYROX_STANDARD {
        return Err(ApiError::BadRequest(format!(
            "course: `{}` cannot be imported; the public results format describes {HYROX_STANDARD}",
            options.course
        )));
    }
    if let Some(venue) = options.venue_id {
        if state.repo.venue(venue).await?.is_none() {
            return Err(ApiError::NotFound(format!("venue {venue}")));
        }
    }
    let reject = |line: usize, reason: String| RejectedRow {
        source: source.to_owned(),
        line,
        reason,
    };
    // Source events in order of first appearance; a bib seen twice keeps its first row.
    let mut events: Vec<(String, Vec<(usize, PublicResult)>)> = Vec::new();
    let mut first_row: HashMap<(String, Bib), usize> = HashMap::new();
    for SourceLine { line, text } in lines {
        if text.trim().is_empty() {
            continue;
        }
        let result = match PublicResult::parse_line_with(&text, &options.words) {
            Ok(result) => result,
            Err(e) => {
                report.rejected.push(reject(line, e.to_string()));
                continue;
            }
        };
        let key = (result.event.clone(), result.bib.clone());
        if let Some(kept) = first_row.get(&key) {
            report.rejected.push(reject(
                line,
                format!(
                    "bib {} appears twice in {}; the row of line {kept} is kept",
                    result.bib, result.event
                ),
            ));
            continue;
        }
        first_row.insert(key, line);
        match events.iter_mut().find(|(name, _)| *name == result.event) {
            Some((_, rows)) => rows.push((line, result)),
            None => events.push((result.event.clone(), vec![(line, result)])),
        }
    }
    // In the order they were raced, so each result meets the athlete's earlier ones (matching,
    // personal bests). A few events at a time: registered one after the other (matching sees
    // the athletes the previous one created), their reads ingested together while the batch
    // before is made official one event after the other (a personal best needs only the
    // reads of earlier events, which are in by then).
    events.sort_by_key(|(_, rows)| rows.iter().map(|(_, r)| r.wave_start_local).min());
    let mut events = events.into_iter().peekable();
    let mut previous: Vec<(Step, usize)> = Vec::new();
    loop {
        let mut batch = Vec::new();
        for (name, rows) in events.by_ref().take(EVENTS_AT_ONCE) {
            let count = rows.len();
            batch.push((
                prepare(state, principal, source, &name, rows, options).await?,
                count,
            ));
        }
        let ingests = futures::future::join_all(batch.iter_mut().map(|(step, _)| {
            let work = match step {
                Step::Pending(pending) => {
                    Some((pending.event_id, std::mem::take(&mut pending.reads)))
                }
                Step::Done(_) => None,
            };
            async move {
                match work {
                    Some((event_id, reads)) => ingest_reads(state, event_id, reads).await,
                    None => Ok(()),
                }
            }
        }));
        let (finished, ingested) = futures::future::join(
            finish_all(state, principal, std::mem::take(&mut previous)),
            ingests,
        )
        .await;
        for (imported, count) in finished? {
            report.events.push(imported);
            progress(count);
        }
        for result in ingested {
            result?;
        }
        if batch.is_empty() {
            // New history for the finish prediction model.
            if report.events.iter().any(|e| e.created) && state.settings.prediction_retrain {
                crate::app::prediction::retrain_later(state.clone());
            }
            return Ok(());
        }
        previous = batch;
    }
}

/// Makes a batch of events official, one after the other.
async fn finish_all(
    state: &AppState,
    principal: &Principal,
    batch: Vec<(Step, usize)>,
) -> Result<Vec<(EventImport, usize)>, ApiError> {
    let mut out = Vec::with_capacity(batch.len());
    for (step, count) in batch {
        let imported = match step {
            Step::Done(imported) => imported,
            Step::Pending(pending) => finish(state, principal, pending).await?,
        };
        out.push((imported, count));
    }
    Ok(out)
}

/// An event as `prepare` leaves it: imported before (nothing to do), or registered with its
/// reads to ingest.
enum Step {
    Done(EventImport),
    Pending(Pending),
}

struct Pending {
    name: String,
    event_id: Uuid,
    rows: Vec<(usize, PublicResult)>,
    reads: Vec<IndexedDetection>,
    /// Reads placed outside the race, `(bib, point, instant)`: ingested, then ignored.
    outside: Vec<(Bib, usize, Timestamp)>,
    parts_vs_total: PartsVsTotal,
    athletes: AthleteMatches,
}

/// Finds or creates the podium event of source event `name`, registers its entries (matching
/// their athletes) and places their reads.
async fn prepare(
    state: &AppState,
    principal: &Principal,
    source: &str,
    name: &str,
    rows: Vec<(usize, PublicResult)>,
    options: &ImportOptions,
) -> Result<Step, ApiError> {
    let key = source_key(name);
    let found = state.repo.event_by_source(&key).await?;
    if let Some(event) = &found {
        principal.may_manage_event(event)?;
        if event.status == EventStatus::Official {
            let standings = EventStandings::build(state.repo.standings(event.id).await?);
            return Ok(Step::Done(EventImport {
                source_event: name.to_owned(),
                event_id: event.id,
                created: false,
                entries: standings.len(),
                finishers: finishers(&rows),
                rank_differences: rank_differences(&standings, &rows),
                parts_vs_total: PartsVsTotal::of(&rows, &event.course),
                athletes: AthleteMatches::default(),
            }));
        }
        // An import that stopped half way (the database went away): finish it. Registering
        // and ingesting again are idempotent, so only what is missing is written.
    }
    let wave_start = |r: &PublicResult| -> Result<Timestamp, ApiError> {
        options
            .timezone
            .from_local_datetime(&r.wave_start_local)
            .earliest()
            .map(|t| Timestamp::from_chrono(t.to_utc()))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "start_time {} does not exist in {}",
                    r.wave_start_local, options.timezone
                ))
            })
    };
    let mut starts = Vec::with_capacity(rows.len());
    for (_, r) in &rows {
        starts.push(wave_start(r)?);
    }
    let first_start = starts
        .iter()
        .min()
        .copied()
        .ok_or_else(|| ApiError::BadRequest(format!("{name}: no results")))?;
    let resumed = found.is_some();
    let event = match found {
        Some(event) => event,
        None => {
            state
                .repo
                .create_imported_event(
                    NewEvent {
                        venue_id: options.venue_id,
                        name: podium_domain::model::parse_name("event_occurrence", name)?,
                        starts_at: first_start,
                        timezone: options.timezone.name().to_owned(),
                        course: Course::hyrox_standard(),
                    },
                    &key,
                )
                .await?
        }
    };
    let registered: std::collections::HashSet<Bib> = if resumed {
        state
            .repo
            .standings(event.id)
            .await?
            .into_iter()
            .map(|row| row.bib)
            .collect()
    } else {
        Default::default()
    };
    let new_rows: Vec<(&(usize, PublicResult), &Timestamp)> = rows
        .iter()
        .zip(&starts)
        .filter(|((_, r), _)| !registered.contains(&r.bib))
        .collect();
    let identities: Vec<Identity> = new_rows
        .iter()
        .map(|((_, r), _)| Identity {
            name_key: name_key(&r.first_name, &r.last_name),
            gender: r.gender,
            nationality: r.nationality.clone(),
            birth_year: None,
        })
        .collect();
    let mut keys: Vec<String> = identities.iter().map(|i| i.name_key.clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    let known = state.athletes.known_athletes(&keys).await?;
    let mut athletes = AthleteMatches::default();
    let entries: Vec<NewEntry> = new_rows
        .iter()
        .zip(&identities)
        .map(|(((line, r), start), identity)| {
            let athlete_id = match match_athlete(identity, &known) {
                Match::Existing(id) => {
                    athletes.matched += 1;
                    Some(id)
                }
                Match::New => {
                    athletes.created += 1;
                    None
                }
                Match::Ambiguous(candidates) => {
                    athletes.created += 1;
                    athletes.ambiguous.push(AmbiguousAthlete {
                        bib: r.bib.to_string(),
                        line: *line,
                        name: format!("{} {}", r.first_name, r.last_name),
                        candidates,
                    });
                    None
                }
            };
            NewEntry {
                bib: r.bib.clone(),
                athlete_id,
                first_name: r.first_name.clone(),
                last_name: r.last_name.clone(),
                category: r.category,
                gender: r.gender,
                age_group: r.age_from.and_then(AgeGroup::for_age),
                birth_year: None,
                wave_start: **start,
                nationality: r.nationality.clone(),
            }
        })
        .collect();
    for chunk in entries.chunks(CHUNK) {
        state.repo.add_entries(&event, chunk.to_vec()).await?;
    }
    let device = |line: usize| {
        let file: String = source.chars().take(100).collect();
        format!("import:{file}:{line}")
    };
    let mut reads = Vec::new();
    let mut parts_vs_total = PartsVsTotal::default();
    let mut outside = Vec::new();
    for ((line, r), start) in rows.iter().zip(&starts) {
        let placement = r.placement(&event.course, *start);
        parts_vs_total.add(*line, r, &placement, &event.course);
        for &(point, at) in &placement.outside {
            outside.push((r.bib.clone(), point, at));
        }
        let outside_reads = placement.outside.iter().map(|&(p, at)| (p, at, true));
        for (point_index, at, estimated) in placement.reads.into_iter().chain(outside_reads) {
            reads.push(IndexedDetection {
                index: reads.len(),
                point_index,
                detection: Detection {
                    bib: r.bib.clone(),
                    point: event.course.points()[point_index].clone(),
                    at,
                    read_id: None,
                    device_id: Some(device(*line)),
                    estimated,
                },
            });
        }
    }
    Ok(Step::Pending(Pending {
        name: name.to_owned(),
        event_id: event.id,
        rows,
        reads,
        outside,
        parts_vs_total,
        athletes,
    }))
}

/// Ingests the event's reads, unless a resumed import is past that point (the event left
/// LIVE after its reads went in).
async fn ingest_reads(
    state: &AppState,
    event_id: Uuid,
    mut reads: Vec<IndexedDetection>,
) -> Result<(), ApiError> {
    let mut current: Event = state
        .repo
        .event(event_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {event_id}")))?;
    if matches!(current.status, EventStatus::Scheduled | EventStatus::Live) {
        while !reads.is_empty() {
            let rest = reads.split_off(reads.len().min(READS_PER_INGEST));
            let outcome = state.repo.ingest(&current, reads).await?;
            current.seq = outcome.seq;
            reads = rest;
        }
    }
    Ok(())
}

/// Makes the event OFFICIAL (the first read made it LIVE) and reports on it.
async fn finish(
    state: &AppState,
    principal: &Principal,
    pending: Pending,
) -> Result<EventImport, ApiError> {
    let id = pending.event_id;
    let mut now = state
        .repo
        .event(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {id}")))?;
    // A read outside the race would undo the finish (a mat read after it proves it stray):
    // it stays stored, for lineage, and a correction says why it does not count.
    if !now.status.results_official() {
        let ignored: std::collections::HashSet<(Bib, usize, Timestamp)> =
            if pending.outside.is_empty() {
                Default::default()
            } else {
                state
                    .repo
                    .corrections(&now, None)
                    .await?
                    .into_iter()
                    .filter_map(|c| match c.action {
                        CorrectionAction::IgnoreRead { point, at } => {
                            Some((c.bib, now.course.index_of(point.as_str())?, at))
                        }
                        _ => None,
                    })
                    .collect()
            };
        for outside in &pending.outside {
            if ignored.contains(outside) {
                continue;
            }
            let (bib, point, at) = outside;
            state
                .repo
                .apply_correction(
                    &now,
                    NewCorrection {
                        bib: bib.clone(),
                        action: CorrectionAction::IgnoreRead {
                            point: now.course.points()[*point].clone(),
                            at: *at,
                        },
                        reason: "import: the published splits put this mat outside the race \
                                 (they add up to more than the official total)"
                            .into(),
                        author: principal.subject().to_owned(),
                        may_amend: false,
                    },
                )
                .await?;
        }
        now = state
            .repo
            .event(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("event {id}")))?;
    }
    for to in [
        EventStatus::Live,
        EventStatus::Provisional,
        EventStatus::Official,
    ] {
        if now.status.can_become(to) {
            now = crate::app::officiating::transition(state, principal, id, to).await?;
        }
    }
    let standings = EventStandings::build(state.repo.standings(id).await?);
    Ok(EventImport {
        source_event: pending.name,
        event_id: id,
        created: true,
        entries: pending.rows.len(),
        finishers: finishers(&pending.rows),
        rank_differences: rank_differences(&standings, &pending.rows),
        parts_vs_total: pending.parts_vs_total,
        athletes: pending.athletes,
    })
}

fn finishers(rows: &[(usize, PublicResult)]) -> usize {
    rows.iter().filter(|(_, r)| r.total_ms.is_some()).count()
}

/// Results whose podium rank (within category × gender) differs from the source's place,
/// with the reason when the source shows it: a tie at the published precision that the source
/// broke with times it does not publish, or a place the source skipped.
fn rank_differences(
    standings: &EventStandings,
    rows: &[(usize, PublicResult)],
) -> Vec<RankDifference> {
    let mut divisions: BTreeMap<(&str, &str), Vec<&PublicResult>> = BTreeMap::new();
    for (_, r) in rows {
        divisions
            .entry((r.category.as_str(), r.gender.as_str()))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for members in divisions.values() {
        let first = members[0];
        let filter = LeaderboardFilter {
            category: Some(first.category),
            gender: Some(first.gender),
            age_group: None,
        };
        let ranks: HashMap<&Bib, Option<u32>> = standings
            .ranked_rows(filter, |_| true)
            .into_iter()
            .map(|(rank, row)| (&row.bib, rank))
            .collect();
        let mut places: Vec<u32> = members.iter().filter_map(|r| r.place).collect();
        places.sort_unstable();
        for r in members {
            let Some(place) = r.place else { continue };
            let rank = ranks.get(&r.bib).copied().flatten();
            if rank == Some(place) {
                continue;
            }
            let tied = members
                .iter()
                .any(|o| o.bib != r.bib && o.total_ms.is_some() && o.total_ms == r.total_ms);
            let skipped = (1..place).any(|p| places.binary_search(&p).is_err());
            let reason = if tied {
                Some("tied at whole seconds with another result; the source broke the tie with times it does not publish".to_owned())
            } else if skipped {
                Some("the source skipped a place before this one".to_owned())
            } else {
                None
            };
            out.push(RankDifference {
                bib: r.bib.to_string(),
                place,
                rank,
                reason,
            });
        }
    }
    out.sort_by(|a, b| a.bib.cmp(&b.bib));
    out
}
