//! Athletes across events: history, privacy steps in every event they entered, coach grants.

use podium_domain::course::Course;
use podium_domain::division::{Category, Gender};
use podium_domain::live::ChangeKind;
use podium_domain::model::{NewEntry, NewEvent};
use podium_domain::ports::{AthleteRepository, CoachGrant, RaceRepository};
use podium_domain::timing::{Bib, Timestamp};
use podium_persistence::{testing, SeaRepository};
use uuid::Uuid;

const T0: i64 = 1_773_478_800_000;

async fn repo() -> SeaRepository {
    SeaRepository::new(testing::fresh_database().await.expect("test database"))
        .await
        .unwrap()
}

/// An event on `day` where `athlete` (or a new athlete) runs with bib `bib`; returns the
/// event id and the athlete id.
async fn race(repo: &SeaRepository, day: i64, bib: &str, athlete: Option<Uuid>) -> (Uuid, Uuid) {
    let event = repo
        .create_event(NewEvent {
            venue_id: None,
            name: format!("Race {day}"),
            starts_at: Timestamp(T0 + day * 86_400_000),
            timezone: "Europe/Berlin".into(),
            course: Course::hyrox_standard(),
        })
        .await
        .unwrap();
    let entry = NewEntry {
        nationality: None,
        bib: Bib::parse(bib).unwrap(),
        athlete_id: athlete,
        first_name: "Jo".into(),
        last_name: "Runner".into(),
        category: Category::Open,
        gender: Gender::Women,
        age_group: None,
        birth_year: Some(1990),
        wave_start: Timestamp(T0 + day * 86_400_000),
    };
    let added = repo.add_entries(&event, vec![entry]).await.unwrap();
    (event.id, added[0].athlete_id)
}

#[tokio::test]
async fn privacy_takes_a_step_in_every_event_the_athlete_entered() {
    let repo = repo().await;
    let (second, athlete) = race(&repo, 2, "7", None).await;
    let (first, _) = race(&repo, 1, "12", Some(athlete)).await;
    let history = repo.athlete_results(athlete).await.unwrap();
    assert_eq!(
        history.iter().map(|r| r.event_id).collect::<Vec<_>>(),
        [first, second],
        "oldest race first"
    );
    let before = repo.event_seq(first).await.unwrap().unwrap();
    let changes = repo.set_athlete_privacy(athlete, true).await.unwrap();
    assert_eq!(changes.len(), 2);
    for change in &changes {
        assert_eq!(change.kind, ChangeKind::Privacy);
        assert_eq!(change.entries.len(), 1);
        assert_eq!(change.entries[0].athlete_private, Some(true));
    }
    assert_eq!(repo.event_seq(first).await.unwrap(), Some(before + 1));
    let logged = repo.changes(first, before, 10).await.unwrap();
    assert_eq!(logged.last().unwrap().kind, ChangeKind::Privacy);
    assert!(repo.standings(first).await.unwrap()[0].athlete_private);
    assert!(repo.athlete(athlete).await.unwrap().unwrap().private);
    assert!(
        repo.set_athlete_privacy(athlete, true)
            .await
            .unwrap()
            .is_empty(),
        "no change, no step"
    );
    assert!(repo
        .set_athlete_privacy(Uuid::new_v4(), true)
        .await
        .is_err());
}

#[tokio::test]
async fn coach_grants_are_idempotent_and_revocable() {
    let repo = repo().await;
    let (_, athlete) = race(&repo, 1, "1", None).await;
    let grant = |at| CoachGrant {
        athlete_id: athlete,
        coach: "coach-anna".into(),
        granted_at: Timestamp(at),
    };
    assert_eq!(
        repo.grant_coach(grant(1_000)).await.unwrap().granted_at,
        Timestamp(1_000)
    );
    assert_eq!(
        repo.grant_coach(grant(5_000)).await.unwrap().granted_at,
        Timestamp(1_000),
        "an existing grant keeps its time"
    );
    assert!(repo.coach_may_read(athlete, "coach-anna").await.unwrap());
    assert!(!repo.coach_may_read(athlete, "coach-bob").await.unwrap());
    assert_eq!(repo.coach_grants(athlete).await.unwrap().len(), 1);
    assert!(repo.revoke_coach(athlete, "coach-anna").await.unwrap());
    assert!(!repo.revoke_coach(athlete, "coach-anna").await.unwrap());
    assert!(!repo.coach_may_read(athlete, "coach-anna").await.unwrap());
    let unknown = CoachGrant {
        athlete_id: Uuid::new_v4(),
        ..grant(1)
    };
    assert!(repo.grant_coach(unknown).await.is_err());
}

#[tokio::test]
async fn erasing_an_athlete_keeps_results_and_drops_personal_data_everywhere() {
    let repo = repo().await;
    let (event, athlete) = race(&repo, 1, "7", None).await;
    repo.grant_coach(CoachGrant {
        athlete_id: athlete,
        coach: "coach-anna".into(),
        granted_at: Timestamp(1),
    })
    .await
    .unwrap();
    let changes = repo.erase_athlete(athlete).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Privacy);
    let entry = &changes[0].entries[0];
    assert_eq!(entry.athlete_private, Some(true));
    assert_eq!(
        entry.athlete_name.as_deref(),
        Some(podium_domain::ports::ERASED_NAME)
    );
    let profile = repo.athlete(athlete).await.unwrap().unwrap();
    assert_eq!(
        (
            profile.first_name.as_str(),
            profile.last_name.as_str(),
            profile.birth_year,
            profile.private
        ),
        ("Erased", "athlete", None, true)
    );
    assert!(repo.coach_grants(athlete).await.unwrap().is_empty());
    let row = &repo.standings(event).await.unwrap()[0];
    assert_eq!(row.athlete_name, podium_domain::ports::ERASED_NAME);
    assert_eq!(
        repo.athlete_results(athlete).await.unwrap().len(),
        1,
        "results stay"
    );
    assert!(repo.erase_athlete(Uuid::new_v4()).await.is_err());
}
