//! The per-event change log: one durable step per `seq`, written with the change itself, so a
//! client can replay exactly what it missed.

use podium_domain::corrections::CorrectionAction;
use podium_domain::course::Course;
use podium_domain::division::{Category, Gender};
use podium_domain::engine::EntryStatus;
use podium_domain::live::{first_gap, ChangeKind};
use podium_domain::model::{EventStatus, NewEntry, NewEvent};
use podium_domain::ports::{IndexedDetection, NewCorrection, RaceRepository};
use podium_domain::timing::{Bib, Detection, DurationMs, Timestamp};
use podium_persistence::{testing, SeaRepository};
use std::sync::Arc;

const T0: i64 = 1_773_478_800_000;

async fn setup(bibs: usize) -> (Arc<SeaRepository>, podium_domain::model::Event) {
    let repo = SeaRepository::new(testing::fresh_database().await.expect("test database"))
        .await
        .unwrap();
    let event = repo
        .create_event(NewEvent {
            venue_id: None,
            name: "Berlin".into(),
            starts_at: Timestamp(T0),
            timezone: "Europe/Berlin".into(),
            course: Course::hyrox_standard(),
        })
        .await
        .unwrap();
    let entries = (1..=bibs)
        .map(|b| NewEntry {
            nationality: None,
            bib: Bib::parse(&b.to_string()).unwrap(),
            athlete_id: None,
            first_name: "Jo".into(),
            last_name: format!("R{b}"),
            category: Category::Open,
            gender: Gender::Men,
            age_group: None,
            birth_year: Some(1985),
            wave_start: Timestamp(T0),
        })
        .collect();
    repo.add_entries(&event, entries).await.unwrap();
    let event = repo.event(event.id).await.unwrap().unwrap();
    (Arc::new(repo), event)
}

fn reads(bib: usize, points: std::ops::Range<usize>) -> Vec<IndexedDetection> {
    let course = Course::hyrox_standard();
    points
        .map(|i| IndexedDetection {
            index: i,
            point_index: i,
            detection: Detection {
                bib: Bib::parse(&bib.to_string()).unwrap(),
                point: course.points()[i].clone(),
                at: Timestamp(T0 + 10_000 + i as i64 * 300_000),
                read_id: None,
                device_id: None,
                estimated: false,
            },
        })
        .collect()
}

#[tokio::test]
async fn every_seq_has_one_step_saying_what_changed() {
    let (repo, event) = setup(2).await;
    repo.ingest(&event, reads(1, 0..5)).await.unwrap();
    repo.apply_correction(
        &event,
        NewCorrection {
            bib: Bib::parse("1").unwrap(),
            action: CorrectionAction::TimePenalty(DurationMs(10_000)),
            reason: "cut the course".into(),
            author: "op".into(),
            may_amend: false,
        },
    )
    .await
    .unwrap();
    repo.transition_event(event.id, EventStatus::Provisional)
        .await
        .unwrap();

    let log = repo.changes(event.id, 0, 100).await.unwrap();
    let kinds: Vec<ChangeKind> = log.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::EntriesAdded,
            ChangeKind::Detections,
            ChangeKind::Correction,
            ChangeKind::Status
        ]
    );
    assert_eq!(first_gap(0, &log), None);
    assert_eq!(
        log.last().unwrap().seq,
        repo.event_seq(event.id).await.unwrap().unwrap()
    );
    assert_eq!(log[0].entries.len(), 2);
    let racing = &log[1].entries;
    assert_eq!(racing.len(), 1);
    assert_eq!(racing[0].bib.as_str(), "1");
    assert_eq!(racing[0].status, EntryStatus::Racing);
    assert_eq!(racing[0].last_point, Some(4));
    assert_eq!(log[1].status, EventStatus::Live);
    assert_eq!(log[2].entries[0].penalty_ms, 10_000);
    assert_eq!(log[3].status, EventStatus::Provisional);

    // Replay from a seq, and in pages.
    let tail = repo.changes(event.id, 2, 100).await.unwrap();
    assert_eq!(tail.iter().map(|c| c.seq).collect::<Vec<_>>(), [3, 4]);
    let page = repo.changes(event.id, 0, 2).await.unwrap();
    assert_eq!(page.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2]);

    // Duplicates change nothing and log nothing.
    repo.ingest(&event, reads(1, 0..5)).await.unwrap();
    assert_eq!(repo.changes(event.id, 4, 100).await.unwrap(), []);
}

#[tokio::test]
async fn concurrent_writers_leave_a_gapless_log() {
    let (repo, event) = setup(8).await;
    let mut tasks = Vec::new();
    for bib in 1..=8 {
        let (repo, event) = (repo.clone(), event.clone());
        tasks.push(tokio::spawn(async move {
            for chunk in reads(bib, 0..25).chunks(5) {
                repo.ingest(&event, chunk.to_vec()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let log = repo.changes(event.id, 0, 1_000).await.unwrap();
    assert_eq!(first_gap(0, &log), None);
    assert_eq!(log.len(), 1 + 8 * 5);
    // The last step of each bib holds its final state.
    for bib in 1..=8 {
        let last = log
            .iter()
            .rev()
            .flat_map(|c| &c.entries)
            .find(|e| e.bib.as_str() == bib.to_string())
            .unwrap();
        assert_eq!(last.status, EntryStatus::Finished);
        assert_eq!(last.net_time_ms, Some(24 * 300_000));
    }
}
