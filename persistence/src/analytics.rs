//! Cross-event analytics over `result_splits` and the entry states (the `AnalyticsRepository`
//! port): segment efforts for leaderboards, an athlete's standings race by race, competition
//! figures. Counting runs in the database; a season's medians are taken here from the packed
//! measured durations of its rows (`segments::Measured`), which both backends read faster than
//! any per-split SQL over them.

use crate::convert::unexpected;
use crate::entities::{entries, entry_states, events, result_splits};
use crate::repository::SeaRepository;
use crate::segments::{Kind, Measured, SplitCell};
use async_trait::async_trait;
use podium_domain::ports::{
    AnalyticsRepository, CompetitionQuery, EffortQuery, RaceStandings, RepoError,
};
use podium_domain::records::{CompetitionFigures, Effort, Standing};
use podium_domain::stats::Distribution;
use podium_domain::timing::Timestamp;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use std::collections::HashMap;
use uuid::Uuid;

/// `sql` with `$n` placeholders, for the connection's backend (SQLite numbers them `?n`).
fn statement(backend: DatabaseBackend, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    let sql = if backend == DatabaseBackend::Sqlite {
        sql.replace('$', "?")
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

#[derive(FromQueryResult)]
struct EffortRow {
    athlete_id: Uuid,
    event_id: Uuid,
    bib: String,
    started_ms: i64,
    ms: i64,
    elapsed_ms: i64,
}

#[derive(FromQueryResult)]
struct NetCount {
    slower: i64,
    equal: i64,
    n: i64,
}

#[async_trait]
impl AnalyticsRepository for SeaRepository {
    async fn official_steps(&self, course: &str) -> Result<Vec<(Uuid, i64)>, RepoError> {
        events::Entity::find()
            .select_only()
            .column(events::Column::Id)
            .column(events::Column::Seq)
            .filter(events::Column::Status.eq("OFFICIAL"))
            .filter(events::Column::CourseCode.eq(course))
            .order_by_asc(events::Column::Id)
            .into_tuple()
            .all(self.connection())
            .await
            .map_err(unexpected)
    }

    async fn segment_efforts(&self, query: &EffortQuery) -> Result<Vec<Effort>, RepoError> {
        if query.event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.connection();
        // One key of each row's splits: the database reads it without expanding the others.
        // (`$`/`?`: where sea-query puts the segment's code as a parameter.)
        let mark = match db.get_database_backend() {
            DatabaseBackend::Postgres => "$",
            _ => "?",
        };
        let cell = |element: usize| {
            Expr::cust_with_values(
                format!("CAST(splits -> {mark} ->> {element} AS BIGINT)"),
                [query.segment.clone()],
            )
        };
        let select = Query::select()
            .column(result_splits::Column::AthleteId)
            .column(result_splits::Column::EventId)
            .column(result_splits::Column::Bib)
            .column(result_splits::Column::StartedMs)
            .expr_as(cell(3), Alias::new("ms"))
            .expr_as(cell(4), Alias::new("elapsed_ms"))
            .from(result_splits::Entity)
            .cond_where(division_condition(
                &query.event_ids,
                query.category,
                query.gender,
            ))
            .and_where(result_splits::Column::Course.eq(&query.course))
            .and_where(Expr::cust_with_values(
                format!("splits -> {mark} ->> 2 = 'M'"),
                [query.segment.clone()],
            ))
            .and_where_option(
                query
                    .age_group
                    .map(|a| result_splits::Column::AgeGroup.eq(a.label())),
            )
            .to_owned();
        let rows = EffortRow::find_by_statement(db.get_database_backend().build(&select))
            .all(db)
            .await
            .map_err(unexpected)?;
        Ok(rows
            .into_iter()
            .map(|r| Effort {
                athlete_id: r.athlete_id,
                event_id: r.event_id,
                bib: r.bib,
                duration_ms: r.ms,
                ended_at: Timestamp(r.started_ms + r.elapsed_ms),
            })
            .collect())
    }

    async fn race_standings(&self, athlete_id: Uuid) -> Result<Vec<RaceStandings>, RepoError> {
        let db = self.connection();
        let backend = db.get_database_backend();
        let races = entries::Entity::find()
            .filter(entries::Column::AthleteId.eq(athlete_id))
            .all(db)
            .await
            .map_err(unexpected)?;
        let states: HashMap<Uuid, entry_states::Model> = entry_states::Entity::find()
            .filter(entry_states::Column::EntryId.is_in(races.iter().map(|r| r.id)))
            .filter(entry_states::Column::Status.eq("FINISHED"))
            .all(db)
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(|s| (s.entry_id, s))
            .collect();
        let segments = segment_standings(self, athlete_id).await?;
        let mut by_event: HashMap<Uuid, Vec<(String, Standing)>> = segments.into_iter().collect();
        let mut out = Vec::with_capacity(states.len());
        for entry in &races {
            let Some(state) = states.get(&entry.id) else {
                continue;
            };
            let net = match state.net_time_ms {
                Some(net) => NetCount::find_by_statement(statement(
                    backend,
                    "SELECT SUM(CASE WHEN s.net_time_ms > $1 THEN 1 ELSE 0 END) AS slower, \
                       SUM(CASE WHEN s.net_time_ms = $2 THEN 1 ELSE 0 END) AS equal, \
                       COUNT(*) AS n \
                     FROM entry_states s JOIN entries e ON e.id = s.entry_id \
                     WHERE s.event_id = $3 AND s.status = 'FINISHED' \
                       AND e.category = $4 AND e.gender = $5",
                    vec![
                        net.into(),
                        net.into(),
                        entry.event_id.into(),
                        entry.category.clone().into(),
                        entry.gender.clone().into(),
                    ],
                ))
                .one(db)
                .await
                .map_err(unexpected)?
                .map(|c| Standing {
                    value: net,
                    slower: c.slower as u64,
                    equal: c.equal as u64,
                    count: c.n as u64,
                }),
                None => None,
            };
            out.push(RaceStandings {
                event_id: entry.event_id,
                net,
                segments: by_event.remove(&entry.event_id).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    async fn competition(&self, query: &CompetitionQuery) -> Result<CompetitionFigures, RepoError> {
        let db = self.connection();
        let mut figures = CompetitionFigures {
            events: query.event_ids.len(),
            entries: 0,
            finishers: 0,
            dnf: 0,
            dns: 0,
            dsq: 0,
            finish_times: Distribution {
                segment: podium_domain::stats::TOTAL.to_owned(),
                sorted: Vec::new(),
            },
            segment_medians: Vec::new(),
        };
        if query.event_ids.is_empty() {
            return Ok(figures);
        }
        // The states of the division's entries in those events.
        let statuses: Vec<(String, Option<i64>)> = entry_states::Entity::find()
            .select_only()
            .column(entry_states::Column::Status)
            .column(entry_states::Column::NetTimeMs)
            .filter(
                entry_states::Column::EntryId.in_subquery(
                    Query::select()
                        .column(entries::Column::Id)
                        .from(entries::Entity)
                        .cond_where(in_division_condition(query))
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(db)
            .await
            .map_err(unexpected)?;
        for (status, net) in statuses {
            figures.entries += 1;
            match status.as_str() {
                "FINISHED" => {
                    figures.finishers += 1;
                    figures.finish_times.sorted.extend(net);
                }
                "DNF" => figures.dnf += 1,
                "DNS" => figures.dns += 1,
                "DSQ" => figures.dsq += 1,
                _ => {}
            }
        }
        figures.finish_times.sorted.sort_unstable();
        figures.segment_medians = segment_medians(self, query).await?;
        Ok(figures)
    }
}

/// `result_splits` rows of `event_ids` in a division.
fn division_condition(
    event_ids: &[Uuid],
    category: Option<podium_domain::division::Category>,
    gender: Option<podium_domain::division::Gender>,
) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(result_splits::Column::EventId.is_in(event_ids.iter().copied()))
        .add_option(category.map(|c| result_splits::Column::Category.eq(c.as_str())))
        .add_option(gender.map(|g| result_splits::Column::Gender.eq(g.as_str())))
}

/// The measured splits of a row, by segment code.
fn measured(splits: serde_json::Value) -> Result<Vec<(String, i64)>, RepoError> {
    let cells: HashMap<String, SplitCell> =
        serde_json::from_value(splits).map_err(|e| RepoError::Unexpected(e.into()))?;
    Ok(cells
        .into_iter()
        .filter(|(_, cell)| cell.kind == Kind::Measured)
        .map(|(segment, cell)| (segment, cell.ms))
        .collect())
}

/// Each measured segment of the athlete's official races against the same segment of their
/// division in that event, by event: every race's division read once (one slice of the
/// division index each).
async fn segment_standings(
    repo: &SeaRepository,
    athlete_id: Uuid,
) -> Result<Vec<(Uuid, Vec<(String, Standing)>)>, RepoError> {
    let db = repo.connection();
    let own = result_splits::Entity::find()
        .filter(result_splits::Column::AthleteId.eq(athlete_id))
        .all(db)
        .await
        .map_err(unexpected)?;
    let mut out = Vec::with_capacity(own.len());
    for chunk in own.chunks(100) {
        let mut divisions = sea_orm::Condition::any();
        for race in chunk {
            divisions = divisions.add(
                sea_orm::Condition::all()
                    .add(result_splits::Column::EventId.eq(race.event_id))
                    .add(result_splits::Column::Category.eq(&race.category))
                    .add(result_splits::Column::Gender.eq(&race.gender)),
            );
        }
        let field: Vec<(Uuid, String, String, serde_json::Value)> = result_splits::Entity::find()
            .select_only()
            .column(result_splits::Column::EventId)
            .column(result_splits::Column::Category)
            .column(result_splits::Column::Gender)
            .column(result_splits::Column::Splits)
            .filter(divisions)
            .into_tuple()
            .all(db)
            .await
            .map_err(unexpected)?;
        // Every measured time of each (event, division, segment).
        let mut times: HashMap<(Uuid, String, String, String), Vec<i64>> = HashMap::new();
        for (event_id, category, gender, splits) in field {
            for (segment, ms) in measured(splits)? {
                times
                    .entry((event_id, category.clone(), gender.clone(), segment))
                    .or_default()
                    .push(ms);
            }
        }
        for race in chunk {
            let mut standings: Vec<(String, Standing)> = measured(race.splits.clone())?
                .into_iter()
                .filter_map(|(segment, ms)| {
                    let key = (
                        race.event_id,
                        race.category.clone(),
                        race.gender.clone(),
                        segment,
                    );
                    let group = times.get(&key)?;
                    Some((key.3, Standing::among(ms, group)))
                })
                .collect();
            standings.sort_by(|a, b| a.0.cmp(&b.0));
            out.push((race.event_id, standings));
        }
    }
    Ok(out)
}

/// `entries` of the query's events and division.
fn in_division_condition(query: &CompetitionQuery) -> sea_orm::Condition {
    let mut condition = sea_orm::Condition::all()
        .add(entries::Column::EventId.is_in(query.event_ids.iter().copied()));
    if let Some(c) = query.category {
        condition = condition.add(entries::Column::Category.eq(c.as_str()));
    }
    if let Some(g) = query.gender {
        condition = condition.add(entries::Column::Gender.eq(g.as_str()));
    }
    condition
}

/// Per segment code: the measured times counted and their median, from the packed durations
/// (`segments::Measured`) of the division's rows, each index named by its event's course.
async fn segment_medians(
    repo: &SeaRepository,
    query: &CompetitionQuery,
) -> Result<Vec<(String, u64, Option<f64>)>, RepoError> {
    let db = repo.connection();
    let mut codes: HashMap<Uuid, Vec<String>> = HashMap::with_capacity(query.event_ids.len());
    let mut times: HashMap<String, Vec<i64>> = HashMap::new();
    for ids in query.event_ids.chunks(500) {
        let events = events::Entity::find()
            .filter(events::Column::Id.is_in(ids.iter().copied()))
            .all(db)
            .await
            .map_err(unexpected)?;
        for model in events {
            let event = podium_domain::model::Event::try_from(model)?;
            let named = event.course.segments().iter().map(|s| s.code.clone());
            codes.insert(event.id, named.collect());
        }
        let rows: Vec<(Uuid, Option<Vec<u8>>)> = result_splits::Entity::find()
            .select_only()
            .column(result_splits::Column::EventId)
            .column(result_splits::Column::Measured)
            .filter(division_condition(ids, query.category, query.gender))
            .into_tuple()
            .all(db)
            .await
            .map_err(unexpected)?;
        for (event_id, measured) in rows {
            let (Some(codes), Some(measured)) = (codes.get(&event_id), measured) else {
                continue;
            };
            for (index, ms) in Measured::unpack(&measured) {
                if let Some(code) = codes.get(index) {
                    // Found by reference first: one allocation per segment, not per split.
                    match times.get_mut(code.as_str()) {
                        Some(list) => list.push(ms),
                        None => {
                            times.insert(code.clone(), vec![ms]);
                        }
                    }
                }
            }
        }
    }
    Ok(times
        .into_iter()
        .map(|(segment, mut sorted)| {
            sorted.sort_unstable();
            let distribution = Distribution { segment, sorted };
            let median = distribution.percentile(50.0);
            let count = distribution.count() as u64;
            (distribution.segment, count, median)
        })
        .collect())
}
