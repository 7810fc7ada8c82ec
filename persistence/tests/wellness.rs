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
