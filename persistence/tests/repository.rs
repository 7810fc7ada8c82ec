//! Repository tests: run on in-memory SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set.

use podium_domain::course::{Course, TimingPointCode};
use podium_domain::division::{Category, Gender};
use podium_domain::engine::EntryStatus;
use podium_domain::model::{EventStatus, NewEntry, NewEvent, NewVenue};
use podium_domain::ports::{IndexedDetection, RaceRepository, RepoError};
use podium_domain::timing::{Bib, Detection, ReadId, Timestamp};
use podium_persistence::{testing, SeaRepository};
use sea_orm::ConnectionTrait;

const T0: i64 = 1_773_478_800_000;

async fn repo() -> SeaRepository {
    SeaRepository::new(testing::fresh_database().await.expect("test database"))
        .await
        .unwrap()
}

async fn event_with_entries(repo: &SeaRepository, bibs: &[&str]) -> podium_domain::model::Event {
    let event = repo
        .create_event(NewEvent {
            venue_id: None,
            name: "Hamburg".into(),
            starts_at: Timestamp(T0),
            timezone: "Europe/Berlin".into(),
            course: Course::hyrox_standard(),
        })
        .await
        .unwrap();
    let entries = bibs
        .iter()
        .map(|b| NewEntry {
            nationality: None,
            bib: Bib::parse(b).unwrap(),
            athlete_id: None,
            first_name: "Ana".into(),
            last_name: format!("Runner{b}"),
            category: Category::Open,
            gender: Gender::Women,
            age_group: None,
            birth_year: Some(1990),
            wave_start: Timestamp(T0),
        })
        .collect();
    repo.add_entries(&event, entries).await.unwrap();
    repo.event(event.id).await.unwrap().unwrap()
}

fn read(
    index: usize,
    bib: &str,
    point: &str,
    offset_s: i64,
    read_id: Option<&str>,
) -> IndexedDetection {
    let course = Course::hyrox_standard();
    IndexedDetection {
        index,
        point_index: course.index_of(point).unwrap(),
        detection: Detection {
            bib: Bib::parse(bib).unwrap(),
            point: TimingPointCode::parse(point).unwrap(),
            at: Timestamp(T0 + offset_s * 1000),
            read_id: read_id.map(|r| ReadId::parse(r).unwrap()),
            device_id: None,
            estimated: false,
        },
    }
}

#[tokio::test]
async fn events_round_trip_with_their_course() {
    let repo = repo().await;
    let venue = repo
        .create_venue(NewVenue {
            name: "Messe".into(),
        })
        .await
        .unwrap();
    let custom = Course::custom(&["START".into(), "KM5".into(), "FINISH".into()]).unwrap();
    let created = repo
        .create_event(NewEvent {
            venue_id: Some(venue.id),
            name: "5k".into(),
            starts_at: Timestamp(T0),
            timezone: "UTC".into(),
            course: custom.clone(),
        })
        .await
        .unwrap();
    let loaded = repo.event(created.id).await.unwrap().unwrap();
    assert_eq!(loaded, created);
    assert_eq!(loaded.course, custom);
    assert_eq!(repo.events(10).await.unwrap().len(), 1);
    assert!(repo.event(uuid::Uuid::new_v4()).await.unwrap().is_none());
}

#[tokio::test]
async fn an_event_at_an_unknown_venue_is_not_found() {
    let repo = repo().await;
    let err = repo
        .create_event(NewEvent {
            venue_id: Some(uuid::Uuid::new_v4()),
            name: "x".into(),
            starts_at: Timestamp(T0),
            timezone: "UTC".into(),
            course: Course::hyrox_standard(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::NotFound(_)));
}

#[tokio::test]
async fn a_bib_can_be_registered_once_per_event() {
    let repo = repo().await;
    let event = event_with_entries(&repo, &["1", "2"]).await;
    let again = NewEntry {
        nationality: None,
        bib: Bib::parse("2").unwrap(),
        athlete_id: None,
        first_name: "B".into(),
        last_name: "C".into(),
        category: Category::Pro,
        gender: Gender::Men,
        age_group: None,
        birth_year: None,
        wave_start: Timestamp(T0),
    };
    let err = repo.add_entries(&event, vec![again]).await.unwrap_err();
    assert!(
        matches!(&err, RepoError::Duplicate(what) if what.contains("bib 2")),
        "{err}"
    );
    assert_eq!(repo.standings(event.id).await.unwrap().len(), 2);
    let waves = repo.waves(event.id).await.unwrap();
    assert_eq!(waves.len(), 1);
    assert_eq!(waves[0].entries, 2);
}

#[tokio::test]
async fn ingest_stores_new_reads_and_counts_duplicates_and_unknown_bibs() {
    let repo = repo().await;
    let event = event_with_entries(&repo, &["1", "2"]).await;
    let outcome = repo
        .ingest(
            &event,
            vec![
                read(0, "1", "START", 5, Some("a")),
                read(1, "1", "RUN1", 300, Some("b")),
                read(2, "1", "RUN1", 300, Some("b")), // same read id in the batch
                read(3, "9", "RUN1", 300, None),      // unknown bib
                read(4, "2", "START", 6, None),
                read(5, "2", "START", 6, None), // same content in the batch
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcome.accepted, 3);
    assert_eq!(outcome.duplicates, 2);
    assert_eq!(outcome.unknown_bibs, vec![3]);
    assert_eq!(outcome.seq, event.seq + 1);
    assert_eq!(
        repo.event(event.id).await.unwrap().unwrap().status,
        EventStatus::Live
    );

    // Re-sending: same read id with other content, and same content with a new read id.
    let event = repo.event(event.id).await.unwrap().unwrap();
    let again = repo
        .ingest(
            &event,
            vec![
                read(0, "1", "RUN1", 999, Some("b")),
                read(1, "2", "START", 6, Some("new")),
            ],
        )
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 2));
    assert_eq!(again.seq, event.seq, "nothing changed, so seq stays");
    assert_eq!(repo.detection_count(event.id).await.unwrap(), 3);

    let record = repo
        .entry_record(&event, &Bib::parse("1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.timeline.at(1), Some(Timestamp(T0 + 300_000)));
    let rows = repo.standings(event.id).await.unwrap();
    let one = rows.iter().find(|r| r.bib.as_str() == "1").unwrap();
    assert_eq!(one.status, EntryStatus::Racing);
    assert_eq!(one.last_point, Some(1));
    assert_eq!(one.elapsed_ms, Some(295_000));
    assert_eq!(
        repo.detections(event.id, &Bib::parse("1").unwrap())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_finished_entry_gets_its_net_time() {
    let repo = repo().await;
    let event = event_with_entries(&repo, &["7"]).await;
    let course = Course::hyrox_standard();
    let reads: Vec<_> = course
        .points()
        .iter()
        .enumerate()
        .rev()
        .map(|(i, p)| read(i, "7", p.as_str(), 10 + i as i64 * 200, None))
        .collect();
    let outcome = repo.ingest(&event, reads).await.unwrap();
    assert_eq!(outcome.accepted, 25);
    let rows = repo.standings(event.id).await.unwrap();
    assert_eq!(rows[0].status, EntryStatus::Finished);
    assert_eq!(rows[0].net_time_ms, Some(24 * 200_000));
}

#[tokio::test]
async fn concurrent_ingests_into_one_event_lose_nothing() {
    let repo = repo().await;
    let bibs: Vec<String> = (1..=20).map(|b| b.to_string()).collect();
    let bib_refs: Vec<&str> = bibs.iter().map(String::as_str).collect();
    let event = event_with_entries(&repo, &bib_refs).await;
    let course = Course::hyrox_standard();
    let mut tasks = Vec::new();
    for (n, point) in course.points().iter().take(5).enumerate() {
        let repo = repo.clone();
        let event = event.clone();
        let batch: Vec<_> = bibs
            .iter()
            .enumerate()
            .map(|(i, b)| read(i, b, point.as_str(), 10 + n as i64 * 100, None))
            .collect();
        tasks.push(tokio::spawn(
            async move { repo.ingest(&event, batch).await },
        ));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap().unwrap().accepted;
    }
    assert_eq!(accepted, 100);
    let rows = repo.standings(event.id).await.unwrap();
    assert!(
        rows.iter().all(|r| r.last_point == Some(4)),
        "every entry saw all five points"
    );
    assert_eq!(repo.event_seq(event.id).await.unwrap(), Some(event.seq + 5));
}

/// The number a PostgreSQL query returns as `n`.
async fn count(db: &sea_orm::DatabaseConnection, query: &str) -> i64 {
    db.query_one(sea_orm::Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        query,
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap()
}

/// TimescaleDB is used as the `timescaledb` setting says (`PODIUM_TIMESCALEDB` in the suite):
/// `off` leaves plain tables with the plain read-id index even where the server could; `auto`
/// on a server with TimescaleDB makes both tables hypertables, keys read ids apart, keeps no
/// foreign key on the hypertable, and (community edition) sets up compression, its jobs and
/// the `wellness_daily` rollup.
#[tokio::test]
async fn timescaledb_is_used_as_the_setting_says() {
    use podium_migrations::timescale;
    let db = testing::fresh_database().await.expect("test database");
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        assert!(!podium_migrations::read_ids_keyed_apart(&db).await.unwrap());
        return;
    }
    if testing::timescale_mode() == timescale::Mode::Off {
        assert!(!timescale::installed(&db).await.unwrap());
        assert!(!podium_migrations::read_ids_keyed_apart(&db).await.unwrap());
        return;
    }
    if !testing::on_timescale(&db, "hypertables, compression and the rollup").await {
        assert!(!podium_migrations::read_ids_keyed_apart(&db).await.unwrap());
        return;
    }
    assert!(podium_migrations::read_ids_keyed_apart(&db).await.unwrap());
    assert!(timescale::wellness_is_hypertable(&db).await.unwrap());
    let n = |q: &'static str| count(&db, q);
    assert_eq!(
        n("SELECT count(*) AS n FROM pg_constraint WHERE conrelid = 'detections'::regclass AND contype = 'f'").await,
        0,
        "no foreign key on the hypertable"
    );
    if timescale::edition(&db).await.unwrap() == timescale::Edition::Community {
        assert_eq!(
            n("SELECT count(*) AS n FROM timescaledb_information.hypertables WHERE compression_enabled").await,
            2
        );
        assert_eq!(
            n("SELECT count(*) AS n FROM timescaledb_information.jobs WHERE proc_name IN ('policy_compression', 'podium_compress_official_detections', 'policy_refresh_continuous_aggregate')").await,
            3
        );
        assert!(timescale::has_wellness_rollup(&db).await.unwrap());
    }
}

/// A TimescaleDB database as the last release left it — a foreign key from the detections
/// hypertable to `events`, the `wellness_daily` rollup of its first shape refreshed over 400
/// days, and without this release's migration — with a race in it: the next start drops the
/// key, makes the rollup again in its current shape with a refresh from the beginning of
/// time, records the migration, keeps every row, and then takes concurrent ingests.
#[tokio::test]
async fn a_timescaledb_database_of_the_last_release_is_brought_up_to_date() {
    use podium_migrations::timescale;
    use sea_orm::ConnectionTrait;
    let db = testing::fresh_database().await.expect("test database");
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres
        || testing::timescale_mode() == timescale::Mode::Off
        || !testing::on_timescale(&db, "an upgrade from the last release's schema").await
    {
        return;
    }
    let repo = SeaRepository::new(db.clone()).await.unwrap();
    let event = event_with_entries(&repo, &["1", "2", "3"]).await;
    let course = Course::hyrox_standard();
    let batch: Vec<_> = ["1", "2", "3"]
        .iter()
        .enumerate()
        .map(|(i, b)| read(i, b, course.points()[0].as_str(), 30, None))
        .collect();
    repo.ingest(&event, batch).await.unwrap();
    // The last release's differences.
    for statement in [
        "ALTER TABLE detections ADD CONSTRAINT detections_event_id_fkey FOREIGN KEY (event_id) REFERENCES events (id)",
        "DROP MATERIALIZED VIEW wellness_daily",
        "CREATE MATERIALIZED VIEW wellness_daily WITH (timescaledb.continuous) AS \
         SELECT athlete_id, kind, time_bucket(INTERVAL '1 day', at) AS day, count(*) AS samples, \
         avg(((data::jsonb) -> 'bmq' ->> 'value')::double precision) AS bmq_mean \
         FROM wellness_samples GROUP BY athlete_id, kind, time_bucket(INTERVAL '1 day', at) WITH NO DATA",
        "SELECT add_continuous_aggregate_policy('wellness_daily', start_offset => INTERVAL '400 days', \
         end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour')",
        "DELETE FROM seaql_migrations WHERE version = 'm20261207_000001_hypertable_without_foreign_key'",
    ] {
        db.execute_unprepared(statement).await.unwrap();
    }
    let n = |q: &'static str| count(&db, q);
    const FOREIGN_KEYS: &str = "SELECT count(*) AS n FROM pg_constraint WHERE conrelid = 'detections'::regclass AND contype = 'f'";
    assert_eq!(n(FOREIGN_KEYS).await, 1);

    podium_persistence::prepare_and_migrate(&db, timescale::Mode::Auto, Default::default())
        .await
        .unwrap();
    assert_eq!(n(FOREIGN_KEYS).await, 0);
    assert_eq!(
        n("SELECT count(*) AS n FROM seaql_migrations WHERE version = 'm20261207_000001_hypertable_without_foreign_key'").await,
        1
    );
    assert_eq!(
        n("SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'wellness_daily' AND column_name IN ('rpe_load', 'unrated_activities')").await,
        2
    );
    assert_eq!(
        n("SELECT count(*) AS n FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate' AND config ->> 'start_offset' IS NULL").await,
        1,
        "one refresh policy, from the beginning of time"
    );
    assert_eq!(n("SELECT count(*) AS n FROM detections").await, 3);
    let repo = SeaRepository::new(db.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for (k, point) in course.points().iter().enumerate().skip(1).take(4) {
        let (repo, event) = (repo.clone(), event.clone());
        let batch: Vec<_> = ["1", "2", "3"]
            .iter()
            .enumerate()
            .map(|(i, b)| read(i + 3 * k, b, point.as_str(), 30 + 300 * k as i64, None))
            .collect();
        tasks.push(tokio::spawn(
            async move { repo.ingest(&event, batch).await },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().accepted, 3);
    }
    assert_eq!(n("SELECT count(*) AS n FROM detections").await, 15);
}
