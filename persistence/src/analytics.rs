//! Cross-event analytics over `segment_times` and the entry states (the `AnalyticsRepository`
//! port): segment efforts for leaderboards, an athlete's standings race by race, competition
//! figures. Counting and medians run in the database where it can (PostgreSQL's
//! `percentile_cont`); SQLite, which has no ordered-set aggregates, sends the sorted times.

use crate::convert::unexpected;
use crate::entities::{entries, entry_states, events, segment_times};
use crate::repository::SeaRepository;
use async_trait::async_trait;
use podium_domain::ports::{
    AnalyticsRepository, CompetitionQuery, EffortQuery, RaceStandings, RepoError,
};
use podium_domain::records::{CompetitionFigures, Effort, Standing};
use podium_domain::stats::Distribution;
use podium_domain::timing::Timestamp;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use std::collections::HashMap;
use uuid::Uuid;

const MEASURED: &str = "MEASURED";

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
struct SegmentCount {
    event_id: Uuid,
    segment: String,
    duration_ms: i64,
    slower: i64,
    equal: i64,
    n: i64,
}

#[derive(FromQueryResult)]
struct NetCount {
    slower: i64,
    equal: i64,
    n: i64,
}

#[derive(FromQueryResult)]
struct Median {
    segment: String,
    n: i64,
    median: Option<f64>,
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
        let mut find = segment_times::Entity::find()
            .select_only()
            .column(segment_times::Column::AthleteId)
            .column(segment_times::Column::EventId)
            .column(segment_times::Column::Bib)
            .column(segment_times::Column::DurationMs)
            .column(segment_times::Column::EndedAt)
            .filter(segment_times::Column::Segment.eq(&query.segment))
            .filter(segment_times::Column::Course.eq(&query.course))
            .filter(segment_times::Column::Kind.eq(MEASURED))
            .filter(segment_times::Column::EventId.is_in(query.event_ids.iter().copied()));
        if let Some(c) = query.category {
            find = find.filter(segment_times::Column::Category.eq(c.as_str()));
        }
        if let Some(g) = query.gender {
            find = find.filter(segment_times::Column::Gender.eq(g.as_str()));
        }
        if let Some(a) = query.age_group {
            find = find.filter(segment_times::Column::AgeGroup.eq(a.label()));
        }
        let rows = find
            .into_tuple::<(Uuid, Uuid, String, i64, chrono::DateTime<chrono::Utc>)>()
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(rows
            .into_iter()
            .map(
                |(athlete_id, event_id, bib, duration_ms, ended_at)| Effort {
                    athlete_id,
                    event_id,
                    bib,
                    duration_ms,
                    ended_at: Timestamp::from_chrono(ended_at),
                },
            )
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
        // Each measured segment of the athlete against the same segment of their division in
        // that event: one slice of the division index per segment and race.
        let counts = SegmentCount::find_by_statement(statement(
            backend,
            "SELECT a.event_id AS event_id, a.segment AS segment, a.duration_ms AS duration_ms, \
               SUM(CASE WHEN o.duration_ms > a.duration_ms THEN 1 ELSE 0 END) AS slower, \
               SUM(CASE WHEN o.duration_ms = a.duration_ms THEN 1 ELSE 0 END) AS equal, \
               COUNT(*) AS n \
             FROM segment_times a JOIN segment_times o \
               ON o.segment = a.segment AND o.category = a.category AND o.gender = a.gender \
              AND o.event_id = a.event_id AND o.kind = 'MEASURED' \
             WHERE a.entry_id IN (SELECT id FROM entries WHERE athlete_id = $1) \
               AND a.kind = 'MEASURED' \
             GROUP BY a.event_id, a.segment, a.duration_ms",
            vec![athlete_id.into()],
        ))
        .all(db)
        .await
        .map_err(unexpected)?;
        let mut by_event: HashMap<Uuid, Vec<(String, Standing)>> = HashMap::new();
        for c in counts {
            by_event.entry(c.event_id).or_default().push((
                c.segment,
                Standing {
                    value: c.duration_ms,
                    slower: c.slower as u64,
                    equal: c.equal as u64,
                    count: c.n as u64,
                },
            ));
        }
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

/// Per segment: the measured times counted and their median.
async fn segment_medians(
    repo: &SeaRepository,
    query: &CompetitionQuery,
) -> Result<Vec<(String, u64, Option<f64>)>, RepoError> {
    let db = repo.connection();
    let mut condition = sea_orm::Condition::all()
        .add(segment_times::Column::EventId.is_in(query.event_ids.iter().copied()))
        .add(segment_times::Column::Kind.eq(MEASURED));
    if let Some(c) = query.category {
        condition = condition.add(segment_times::Column::Category.eq(c.as_str()));
    }
    if let Some(g) = query.gender {
        condition = condition.add(segment_times::Column::Gender.eq(g.as_str()));
    }
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let select = Query::select()
            .column(segment_times::Column::Segment)
            .expr_as(Expr::cust("COUNT(*)"), sea_orm::sea_query::Alias::new("n"))
            .expr_as(
                Expr::cust("percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)"),
                sea_orm::sea_query::Alias::new("median"),
            )
            .from(segment_times::Entity)
            .cond_where(condition)
            .group_by_col(segment_times::Column::Segment)
            .to_owned();
        let rows = Median::find_by_statement(db.get_database_backend().build(&select))
            .all(db)
            .await
            .map_err(unexpected)?;
        return Ok(rows
            .into_iter()
            .map(|m| (m.segment, m.n as u64, m.median))
            .collect());
    }
    let rows: Vec<(String, i64)> = segment_times::Entity::find()
        .select_only()
        .column(segment_times::Column::Segment)
        .column(segment_times::Column::DurationMs)
        .filter(condition)
        .order_by_asc(segment_times::Column::Segment)
        .order_by_asc(segment_times::Column::DurationMs)
        .into_tuple()
        .all(db)
        .await
        .map_err(unexpected)?;
    let mut out: Vec<(String, u64, Option<f64>)> = Vec::new();
    let mut current = Distribution {
        segment: String::new(),
        sorted: Vec::new(),
    };
    let mut flush = |d: &mut Distribution| {
        if !d.sorted.is_empty() {
            out.push((d.segment.clone(), d.count() as u64, d.percentile(50.0)));
        }
        d.sorted.clear();
    };
    for (segment, ms) in rows {
        if segment != current.segment {
            flush(&mut current);
            current.segment = segment;
        }
        current.sorted.push(ms);
    }
    flush(&mut current);
    Ok(out)
}
