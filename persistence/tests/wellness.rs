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
