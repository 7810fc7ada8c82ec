//! An athlete's wellness samples on SQLite and PostgreSQL: stored once however often a source
//! sends them, read back by kind and time range in order, erased with the athlete's data.

use podium_domain::ports::{WellnessOutcome, WellnessRepository};
use podium_domain::timing::Timestamp;
use podium_domain::wellness::{
    Activity, Bmq, BmqMoment, Measurement, SampleKind, Sleep, WellnessSample,
};
use podium_persistence::{testing, SeaRepository};
use uuid::Uuid;

async fn repo() -> SeaRepository {
    SeaRepository::new(testing::fresh_database().await.expect("test database"))
        .await
        .unwrap()
}

const DAY: i64 = 86_400_000;

fn bmq(day: i64, value: f64) -> WellnessSample {
    WellnessSample::new(
        Timestamp(day * DAY + 7 * 3_600_000),
        &format!("bmq-{day}"),
        Measurement::Bmq(Bmq {
            value,
            moment: BmqMoment::Morning,
        }),
    )
    .unwrap()
}

fn run(day: i64) -> WellnessSample {
    WellnessSample::new(
        Timestamp(day * DAY + 18 * 3_600_000),
        &format!("garmin-{day}"),
        Measurement::Activity(Activity {
            sport: "run".into(),
            duration_s: 3_600.0,
            distance_m: Some(12_000.0),
            average_hr: Some(150.0),
            rpe: Some(6.0),
            ..Default::default()
        }),
    )
    .unwrap()
}

#[tokio::test]
async fn samples_are_stored_once_and_read_back_by_kind_and_range() {
    let repo = repo().await;
    let (athlete, other) = (Uuid::now_v7(), Uuid::now_v7());
    let batch: Vec<WellnessSample> = (0..10).flat_map(|d| [bmq(d, 5.0), run(d)]).collect();
    let first = repo.record_wellness(athlete, batch.clone()).await.unwrap();
    assert_eq!(
        first,
        WellnessOutcome {
            accepted: 20,
            duplicates: 0
        }
    );
    // The same batch again, plus one new night: only the night is new.
    let mut again = batch.clone();
    again.push(
        WellnessSample::new(
            Timestamp(10 * DAY),
            "oura-10",
            Measurement::Sleep(Sleep {
                total_minutes: 455.0,
                rem_pct: Some(21.0),
                ..Default::default()
            }),
        )
        .unwrap(),
    );
    let second = repo.record_wellness(athlete, again).await.unwrap();
    assert_eq!(
        second,
        WellnessOutcome {
            accepted: 1,
            duplicates: 20
        }
    );
    repo.record_wellness(other, vec![bmq(3, 9.0)])
        .await
        .unwrap();

    let runs = repo
        .wellness(
            athlete,
            &[SampleKind::Activity],
            Timestamp(2 * DAY),
            Timestamp(5 * DAY),
        )
        .await
        .unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(
        runs,
        vec![run(2), run(3), run(4)],
        "oldest first, as stored"
    );
    let all = repo
        .wellness(athlete, &[], Timestamp(0), Timestamp(11 * DAY))
        .await
        .unwrap();
    assert_eq!(all.len(), 21);
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    let theirs = repo
        .wellness(other, &[SampleKind::Bmq], Timestamp(0), Timestamp(11 * DAY))
        .await
        .unwrap();
    assert_eq!(theirs, vec![bmq(3, 9.0)], "scoped to the athlete");

    assert_eq!(repo.erase_wellness(athlete).await.unwrap(), 21);
    assert!(repo
        .wellness(athlete, &[], Timestamp(0), Timestamp(11 * DAY))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        repo.wellness(other, &[], Timestamp(0), Timestamp(11 * DAY))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_data_version_changes_with_every_recorded_or_erased_sample() {
    let repo = repo().await;
    let athlete = Uuid::now_v7();
    let empty = repo.wellness_version(athlete).await.unwrap();
    assert_eq!((empty.samples, empty.last_recorded), (0, None));
    repo.record_wellness(athlete, vec![bmq(1, 5.0), run(1)])
        .await
        .unwrap();
    let two = repo.wellness_version(athlete).await.unwrap();
    assert_eq!(two.samples, 2);
    assert!(two.last_recorded.is_some());
    // A duplicate changes nothing; a new sample does.
    repo.record_wellness(athlete, vec![bmq(1, 5.0)])
        .await
        .unwrap();
    assert_eq!(repo.wellness_version(athlete).await.unwrap(), two);
    repo.record_wellness(athlete, vec![bmq(2, 6.0)])
        .await
        .unwrap();
    let three = repo.wellness_version(athlete).await.unwrap();
    assert_eq!(three.samples, 3);
    assert_ne!(three, two);
    repo.erase_wellness(athlete).await.unwrap();
    assert_eq!(repo.wellness_version(athlete).await.unwrap().samples, 0);
}

#[tokio::test]
async fn athletes_with_ratings_come_most_recently_measured_first() {
    let repo = repo().await;
    let (early, late, runner) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    repo.record_wellness(early, vec![bmq(1, 5.0), bmq(3, 5.0)])
        .await
        .unwrap();
    repo.record_wellness(late, vec![bmq(2, 5.0), bmq(9, 4.0)])
        .await
        .unwrap();
    repo.record_wellness(runner, vec![run(20)]).await.unwrap();
    let rated = repo
        .athletes_with_wellness(SampleKind::Bmq, 10)
        .await
        .unwrap();
    assert_eq!(
        rated,
        vec![(late, bmq(9, 4.0).at), (early, bmq(3, 5.0).at),],
        "the runner never rated"
    );
    let first = repo
        .athletes_with_wellness(SampleKind::Bmq, 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
}

fn session(day: i64, hour: i64, minutes: f64, rpe: Option<f64>) -> WellnessSample {
    WellnessSample::new(
        Timestamp(day * DAY + hour * 3_600_000),
        &format!("s-{day}-{hour}"),
        Measurement::Activity(Activity {
            sport: "bike".into(),
            duration_s: minutes * 60.0,
            rpe,
            ..Default::default()
        }),
    )
    .unwrap()
}

/// TimescaleDB's `wellness_daily` rollup gives each UTC day's session-RPE load and its unrated
/// sessions, as summing the raw samples here says — before the rollup is materialised (real
/// time), after a refresh, with a sample added to a materialised day, and after an erasure;
/// elsewhere there is no rollup and the caller reads the raw samples.
#[tokio::test]
async fn the_daily_rollup_sums_each_days_sessions_as_the_raw_samples_do() {
    let repo = repo().await;
    let athlete = Uuid::new_v4();
    let (from, to) = (Timestamp(20_000 * DAY), Timestamp(20_010 * DAY));
    if !testing::on_timescale(repo.connection(), "the wellness_daily rollup").await {
        assert_eq!(repo.activity_days(athlete, from, to).await.unwrap(), None);
        return;
    }
    let mut samples = vec![
        session(20_001, 6, 45.0, Some(7.0)),
        session(20_001, 18, 30.0, Some(4.5)),
        // RPE over the scale counts as 10, as `session_rpe_load` clamps it.
        session(20_003, 23, 50.0, Some(10.0)),
        session(20_004, 0, 60.0, None),
        session(20_004, 12, 20.0, Some(3.0)),
        session(20_012, 12, 20.0, Some(3.0)),
        bmq(20_002, 6.0),
    ];
    samples.push(run(20_006));
    repo.record_wellness(athlete, samples.clone())
        .await
        .unwrap();
    // What the raw samples say, summed here by UTC day.
    let expected = |samples: &[WellnessSample]| {
        let mut days: std::collections::BTreeMap<chrono::NaiveDate, (f64, u64)> =
            Default::default();
        for s in samples {
            if s.at < from || s.at >= to {
                continue;
            }
            if let Measurement::Activity(a) = &s.measurement {
                let day = days.entry(s.at.to_chrono().date_naive()).or_default();
                match a.rpe {
                    Some(rpe) => day.0 += rpe.clamp(0.0, 10.0) * a.duration_s / 60.0,
                    None => day.1 += 1,
                }
            }
        }
        days
    };
    let check = |got: Vec<podium_domain::wellness::ActivityDay>, samples: &[WellnessSample]| {
        let want = expected(samples);
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (day, (date, (load, unrated))) in got.iter().zip(want) {
            assert_eq!(day.date, date);
            assert!(
                (day.rpe_load - load).abs() < 1e-9,
                "{date}: {day:?} against {load}"
            );
            assert_eq!(day.unrated, unrated, "{date}");
        }
    };
    check(
        repo.activity_days(athlete, from, to)
            .await
            .unwrap()
            .unwrap(),
        &samples,
    );
    sea_orm::ConnectionTrait::execute_unprepared(
        repo.connection(),
        "CALL refresh_continuous_aggregate('wellness_daily', NULL, NULL)",
    )
    .await
    .unwrap();
    check(
        repo.activity_days(athlete, from, to)
            .await
            .unwrap()
            .unwrap(),
        &samples,
    );
    let late = session(20_001, 20, 15.0, Some(5.0));
    repo.record_wellness(athlete, vec![late.clone()])
        .await
        .unwrap();
    samples.push(late);
    check(
        repo.activity_days(athlete, from, to)
            .await
            .unwrap()
            .unwrap(),
        &samples,
    );
    // Erased, the athlete leaves no daily sums behind, materialised or not.
    repo.erase_wellness(athlete).await.unwrap();
    assert_eq!(
        repo.activity_days(athlete, from, to).await.unwrap(),
        Some(vec![])
    );
}
