//! Officiating storage: corrections and their undo, flags kept in step with the engine,
//! lifecycle transitions with their outbox messages. SQLite, and PostgreSQL when
//! `TEST_DATABASE_URL` is set.

use podium_domain::corrections::{Correction, CorrectionAction};
use podium_domain::course::{Course, LimitOverride, TimingPointCode};
use podium_domain::division::{Category, Gender};
use podium_domain::engine::EntryStatus;
use podium_domain::field::OutlierRule;
use podium_domain::flags::{FlagKind, FlagStatus};
use podium_domain::model::{Event, EventStatus, NewEntry, NewEvent};
use podium_domain::ports::{
    FlagFilter, FlagReview, IndexedDetection, NewCorrection, RaceRepository, RepoError,
};
use podium_domain::standings::StandingRow;
use podium_domain::timing::{Bib, Detection, DurationMs, Timestamp};
use podium_persistence::{testing, SeaRepository};

const T0: i64 = 1_773_478_800_000;

async fn repo() -> SeaRepository {
    SeaRepository::new(testing::fresh_database().await.expect("test database"))
        .await
        .unwrap()
}

async fn event(repo: &SeaRepository, course: Course) -> Event {
    let event = repo
        .create_event(NewEvent {
            venue_id: None,
            name: "Vienna".into(),
            starts_at: Timestamp(T0),
            timezone: "Europe/Vienna".into(),
            course,
        })
        .await
        .unwrap();
    let entries = ["1", "2"]
        .iter()
        .map(|b| NewEntry {
            nationality: None,
            bib: Bib::parse(b).unwrap(),
            athlete_id: None,
            first_name: "Eva".into(),
            last_name: format!("Athlete{b}"),
            category: Category::Open,
            gender: Gender::Women,
            age_group: None,
            birth_year: Some(1992),
            wave_start: Timestamp(T0),
        })
        .collect();
    repo.add_entries(&event, entries).await.unwrap();
    repo.event(event.id).await.unwrap().unwrap()
}

fn at(s: i64) -> Timestamp {
    Timestamp(T0 + s * 1000)
}

fn point(code: &str) -> TimingPointCode {
    TimingPointCode::parse(code).unwrap()
}

/// A full, plausible race for `bib`: START at 10 s, then a point every 300 s.
fn full_race(bib: &str, offset_s: i64) -> Vec<IndexedDetection> {
    Course::hyrox_standard()
        .points()
        .iter()
        .enumerate()
        .map(|(i, p)| IndexedDetection {
            index: i,
            point_index: i,
            detection: Detection {
                bib: Bib::parse(bib).unwrap(),
                point: p.clone(),
                at: at(10 + offset_s + i as i64 * 300),
                read_id: None,
                device_id: Some("mat".into()),
                estimated: false,
            },
        })
        .collect()
}

async fn row(repo: &SeaRepository, event: &Event, bib: &str) -> StandingRow {
    repo.standings(event.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.bib.as_str() == bib)
        .unwrap()
}

async fn correct(
    repo: &SeaRepository,
    event: &Event,
    bib: &str,
    action: CorrectionAction,
) -> Result<Correction, RepoError> {
    repo.apply_correction(
        event,
        NewCorrection {
            bib: Bib::parse(bib).unwrap(),
            action,
            reason: "reviewed by the chief timer".into(),
            author: "operator-1".into(),
            may_amend: false,
        },
    )
    .await
}

#[tokio::test]
async fn penalties_and_decisions_recompute_the_entry_and_undo_restores_it() {
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    repo.ingest(&event, full_race("1", 0)).await.unwrap();
    let net = row(&repo, &event, "1").await.net_time_ms.unwrap();
    assert_eq!(net, 24 * 300_000);

    let seq_before = repo.event_seq(event.id).await.unwrap().unwrap();
    let penalty = correct(
        &repo,
        &event,
        "1",
        CorrectionAction::TimePenalty(DurationMs(60_000)),
    )
    .await
    .unwrap();
    assert_eq!(penalty.seq, seq_before + 1);
    assert_eq!(
        row(&repo, &event, "1").await.net_time_ms,
        Some(net + 60_000)
    );

    for status in [EntryStatus::Dsq, EntryStatus::Dnf, EntryStatus::Dns] {
        let decision = correct(&repo, &event, "1", CorrectionAction::Decide(status))
            .await
            .unwrap();
        let r = row(&repo, &event, "1").await;
        assert_eq!(r.status, status);
        assert_eq!(r.net_time_ms, None);
        correct(&repo, &event, "1", CorrectionAction::Undo(decision.id))
            .await
            .unwrap();
    }
    assert_eq!(row(&repo, &event, "1").await.status, EntryStatus::Finished);

    correct(&repo, &event, "1", CorrectionAction::Undo(penalty.id))
        .await
        .unwrap();
    assert_eq!(row(&repo, &event, "1").await.net_time_ms, Some(net));
    let again = correct(&repo, &event, "1", CorrectionAction::Undo(penalty.id)).await;
    assert!(matches!(again, Err(RepoError::Invalid(e)) if e.message.contains("already undone")));

    // The audit trail keeps everything, in order: 1 penalty, 3 decisions + 3 undos, 1 undo.
    let trail = repo.corrections(&event, None).await.unwrap();
    assert_eq!(trail.len(), 8);
    assert!(trail.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(trail
        .iter()
        .all(|c| c.author == "operator-1" && !c.amendment));
}

#[tokio::test]
async fn an_impossible_read_is_flagged_ignoring_it_resolves_the_flag_and_undo_reopens_it() {
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    let mut reads = full_race("1", 0);
    let row_out = reads
        .iter()
        .position(|r| r.detection.point.as_str() == "ROW_OUT")
        .unwrap();
    // A 20 s roxzone, then a 42 s row: only ROW_OUT can be wrong.
    let row_in_at = Timestamp(reads[row_out - 2].detection.at.0 + 20_000);
    reads[row_out - 1].detection.at = row_in_at;
    reads[row_out].detection.at = Timestamp(row_in_at.0 + 42_000);
    // The mat also read the athlete properly a little later.
    let mut real = reads[row_out].clone();
    real.detection.at = Timestamp(row_in_at.0 + 290_000);
    repo.ingest(&event, reads).await.unwrap();

    let open = FlagFilter {
        status: Some(FlagStatus::Open),
        ..Default::default()
    };
    let flags = repo.flags(event.id, &open).await.unwrap();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0].kind, FlagKind::SegmentTooFast);
    assert_eq!(flags[0].point.as_str(), "ROW_OUT");
    assert!(flags[0].detail.contains("42.0 s"), "{}", flags[0].detail);
    // The result does not use the impossible read: ROW and RUN_6 merge.
    assert_eq!(row(&repo, &event, "1").await.status, EntryStatus::Finished);
    assert_eq!(
        row(&repo, &event, "1").await.net_time_ms,
        Some(24 * 300_000)
    );

    // The later, real read arrives; the earliest still wins, so the flag stays.
    repo.ingest(&event, vec![real.clone()]).await.unwrap();
    assert_eq!(repo.flags(event.id, &open).await.unwrap().len(), 1);

    let ignore = correct(
        &repo,
        &event,
        "1",
        CorrectionAction::IgnoreRead {
            point: point("ROW_OUT"),
            at: Timestamp(row_in_at.0 + 42_000),
        },
    )
    .await
    .unwrap();
    assert!(repo.flags(event.id, &open).await.unwrap().is_empty());
    let all = repo.flags(event.id, &FlagFilter::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, FlagStatus::Resolved);
    assert_eq!(all[0].history.len(), 2);
    let timeline = repo
        .entry_record(&event, &Bib::parse("1").unwrap())
        .await
        .unwrap()
        .unwrap()
        .timeline;
    assert_eq!(timeline.at(row_out), Some(real.detection.at));

    // Raw data is never deleted: the ignored read is still stored.
    assert_eq!(
        repo.raw_reads(&event, &Bib::parse("1").unwrap())
            .await
            .unwrap()
            .len(),
        26
    );

    correct(&repo, &event, "1", CorrectionAction::Undo(ignore.id))
        .await
        .unwrap();
    let reopened = repo.flags(event.id, &open).await.unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].id, all[0].id);
    assert_eq!(reopened[0].history.len(), 3);

    // Ignoring a read that does not exist names what is wrong.
    let missing = correct(
        &repo,
        &event,
        "1",
        CorrectionAction::IgnoreRead {
            point: point("ROW_OUT"),
            at: at(1),
        },
    )
    .await;
    assert!(matches!(missing, Err(RepoError::Invalid(e)) if e.message.contains("no read")));
}

#[tokio::test]
async fn a_dismissed_flag_stays_dismissed_and_can_be_reopened() {
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    // RUN1 only, no START: MISSING_START.
    let mut reads = full_race("2", 0);
    reads.remove(0);
    repo.ingest(&event, reads).await.unwrap();
    let flags = repo.flags(event.id, &FlagFilter::default()).await.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0].kind, FlagKind::MissingStart);
    assert_eq!(row(&repo, &event, "2").await.status, EntryStatus::Finished);

    let dismissed = repo
        .review_flag(
            event.id,
            flags[0].id,
            FlagReview::Dismiss,
            "chief",
            "wave start is right",
        )
        .await
        .unwrap();
    assert_eq!(dismissed.status, FlagStatus::Dismissed);
    assert_eq!(dismissed.history.last().unwrap().by, "chief");
    // A recomputation that still sees the cause leaves it dismissed.
    correct(
        &repo,
        &event,
        "2",
        CorrectionAction::TimePenalty(DurationMs(1_000)),
    )
    .await
    .unwrap();
    let after = repo.flags(event.id, &FlagFilter::default()).await.unwrap();
    assert_eq!(after[0].status, FlagStatus::Dismissed);
    let twice = repo
        .review_flag(event.id, flags[0].id, FlagReview::Dismiss, "chief", "again")
        .await;
    assert!(matches!(twice, Err(RepoError::Invalid(_))));
    let reopened = repo
        .review_flag(
            event.id,
            flags[0].id,
            FlagReview::Reopen,
            "chief",
            "look again",
        )
        .await
        .unwrap();
    assert_eq!(reopened.status, FlagStatus::Open);
}

#[tokio::test]
async fn a_manual_read_fills_a_missed_mat_and_finishes_the_entry() {
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    let mut reads = full_race("1", 0);
    let finish = reads.pop().unwrap();
    repo.ingest(&event, reads).await.unwrap();
    assert_eq!(row(&repo, &event, "1").await.status, EntryStatus::Racing);
    correct(
        &repo,
        &event,
        "1",
        CorrectionAction::ManualRead {
            point: point("FINISH"),
            at: finish.detection.at,
        },
    )
    .await
    .unwrap();
    let r = row(&repo, &event, "1").await;
    assert_eq!(r.status, EntryStatus::Finished);
    assert_eq!(r.net_time_ms, Some(24 * 300_000));
    // The raw read arriving later changes nothing (same instant).
    repo.ingest(&event, vec![finish]).await.unwrap();
    assert_eq!(
        row(&repo, &event, "1").await.net_time_ms,
        Some(24 * 300_000)
    );
}

#[tokio::test]
async fn the_lifecycle_writes_its_domain_events_to_the_outbox() {
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    assert_eq!(event.status, EventStatus::Scheduled);
    repo.ingest(&event, full_race("1", 0)).await.unwrap();
    let live = repo.event(event.id).await.unwrap().unwrap();
    assert_eq!(live.status, EventStatus::Live);

    let refused = repo.transition_event(event.id, EventStatus::Official).await;
    assert!(matches!(refused, Err(RepoError::Invalid(e)) if e.message.contains("PROVISIONAL")));
    repo.transition_event(event.id, EventStatus::Provisional)
        .await
        .unwrap();
    // Late uploads from an offline device are still welcome while provisional.
    let late = repo.ingest(&live, full_race("2", 60)).await.unwrap();
    assert_eq!(late.accepted, 25);
    let official = repo
        .transition_event(event.id, EventStatus::Official)
        .await
        .unwrap();

    // Official: detections are refused even by a caller holding a stale event.
    let refused = repo.ingest(&live, full_race("2", 61)).await;
    assert!(matches!(refused, Err(RepoError::Conflict(_))));
    // Only an amendment changes results now.
    let refused = correct(
        &repo,
        &official,
        "1",
        CorrectionAction::Decide(EntryStatus::Dsq),
    )
    .await;
    assert!(matches!(refused, Err(RepoError::Conflict(e)) if e.contains("only an admin")));
    let amendment = repo
        .apply_correction(
            &official,
            NewCorrection {
                bib: Bib::parse("1").unwrap(),
                action: CorrectionAction::TimePenalty(DurationMs(30_000)),
                reason: "missed burpee line, video review".into(),
                author: "admin-1".into(),
                may_amend: true,
            },
        )
        .await
        .unwrap();
    assert!(amendment.amendment);

    let outbox = repo.pending_outbox(event.id).await.unwrap();
    let topics: Vec<&str> = outbox.iter().map(|m| m.topic.as_str()).collect();
    // Both finishers raced for the first time: each result is a personal best.
    assert_eq!(
        topics,
        vec![
            "event.live",
            "event.provisional",
            "event.official",
            "athlete.personal_best",
            "athlete.personal_best",
            "event.analytics_ready",
            "result.amended"
        ]
    );
    assert!(outbox.windows(2).all(|w| w[0].seq <= w[1].seq));
    for (message, bib) in outbox[3..5].iter().zip(["1", "2"]) {
        let payload: serde_json::Value = serde_json::from_str(&message.payload).unwrap();
        assert_eq!(payload["bib"], bib);
        assert_eq!(payload["previousBestMs"], serde_json::Value::Null);
        assert_eq!(message.seq, outbox[2].seq, "written with the OFFICIAL step");
    }
    let ready: serde_json::Value = serde_json::from_str(&outbox[5].payload).unwrap();
    assert_eq!(
        outbox[5].seq, outbox[2].seq,
        "statistics final with the OFFICIAL step"
    );
    assert_eq!(ready["divisions"][0]["finishers"], 2, "{ready}");
    let payload: serde_json::Value = serde_json::from_str(&outbox[6].payload).unwrap();
    assert_eq!(payload["bib"], "1");
    assert_eq!(payload["correctionId"], amendment.id.to_string());
    assert_eq!(payload["kind"], "TIME_PENALTY");

    // Nothing leaves OFFICIAL.
    for to in EventStatus::ALL {
        assert!(repo.transition_event(event.id, *to).await.is_err());
    }
}

#[tokio::test]
async fn a_cancelled_event_takes_no_corrections() {
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    let cancelled = repo
        .transition_event(event.id, EventStatus::Cancelled)
        .await
        .unwrap();
    let refused = correct(
        &repo,
        &cancelled,
        "1",
        CorrectionAction::Decide(EntryStatus::Dns),
    )
    .await;
    assert!(matches!(refused, Err(RepoError::Conflict(_))));
    let topics: Vec<String> = repo
        .pending_outbox(event.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.topic)
        .collect();
    assert_eq!(topics, vec!["event.cancelled"]);
}

#[tokio::test]
async fn per_event_segment_limits_are_stored_and_applied() {
    let repo = repo().await;
    let course = Course::hyrox_standard()
        .with_limits(&[LimitOverride {
            segment: "RUN_1".into(),
            min_ms: 400_000,
            max_ms: None,
        }])
        .unwrap();
    let event = event(&repo, course.clone()).await;
    assert_eq!(event.course, course);
    // RUN1 300 s after START is now too fast for this event.
    repo.ingest(&event, full_race("1", 0)).await.unwrap();
    let flags = repo.flags(event.id, &FlagFilter::default()).await.unwrap();
    assert!(flags
        .iter()
        .any(|f| f.kind == FlagKind::SegmentTooFast && f.point.as_str() == "RUN1"));
}

/// `START` at 0 s and `RUN1` after `run_s` for each `(bib, run_s)`.
fn first_runs(runs: &[(&str, i64)]) -> Vec<IndexedDetection> {
    let mut out = Vec::new();
    for (bib, run_s) in runs {
        for (point_index, s) in [(0, 0), (1, *run_s)] {
            out.push(IndexedDetection {
                index: out.len(),
                point_index,
                detection: Detection {
                    bib: Bib::parse(bib).unwrap(),
                    point: Course::hyrox_standard().points()[point_index].clone(),
                    at: at(s),
                    read_id: None,
                    device_id: None,
                    estimated: false,
                },
            });
        }
    }
    out
}

#[tokio::test]
async fn outliers_against_the_field_appear_and_resolve_as_the_median_moves() {
    let repo = repo().await;
    let rule = OutlierRule::new(0.4, 2.5, 5).unwrap();
    let event = event(&repo, Course::hyrox_standard().with_outlier_rule(rule)).await;
    assert_eq!(event.course.outlier_rule(), &rule, "the rule is stored");
    let more = (3..=8)
        .map(|n| NewEntry {
            nationality: None,
            bib: Bib::parse(&n.to_string()).unwrap(),
            athlete_id: None,
            first_name: "Eva".into(),
            last_name: format!("Athlete{n}"),
            category: Category::Open,
            gender: Gender::Women,
            age_group: None,
            birth_year: Some(1990),
            wave_start: Timestamp(T0),
        })
        .collect();
    repo.add_entries(&event, more).await.unwrap();
    let outliers = |bib: &str| FlagFilter {
        status: None,
        kind: Some(FlagKind::SegmentOutlier),
        bib: Some(Bib::parse(bib).unwrap()),
    };

    // Four entries: no field yet, whatever the times.
    repo.ingest(
        &event,
        first_runs(&[("1", 750), ("2", 750), ("3", 750), ("4", 2250)]),
    )
    .await
    .unwrap();
    assert!(repo
        .flags(event.id, &outliers("4"))
        .await
        .unwrap()
        .is_empty());
    // The fifth makes the field (median 750 s): a 250 s run and the 2,250 s one are outliers —
    // the latter on an entry this batch did not touch.
    let outcome = repo
        .ingest(&event, first_runs(&[("5", 250)]))
        .await
        .unwrap();
    let five = repo.flags(event.id, &outliers("5")).await.unwrap();
    assert_eq!(five.len(), 1);
    assert_eq!(five[0].status, FlagStatus::Open);
    assert_eq!(five[0].point.as_str(), "RUN1");
    assert!(
        five[0].detail.contains("0.33× the median 750.0 s"),
        "{}",
        five[0].detail
    );
    let four = repo.flags(event.id, &outliers("4")).await.unwrap();
    assert_eq!(four.len(), 1);
    assert_eq!(
        outcome.changed_entries.len(),
        2,
        "bib 4 changed with the field"
    );
    repo.review_flag(
        event.id,
        four[0].id,
        FlagReview::Dismiss,
        "chief",
        "slow, not wrong",
    )
    .await
    .unwrap();

    // Fast entries arrive: the median falls to 500 s; 250 s is no longer an outlier, 2,250 s
    // still is and stays dismissed.
    let outcome = repo
        .ingest(&event, first_runs(&[("6", 225), ("7", 225), ("8", 225)]))
        .await
        .unwrap();
    let five = repo.flags(event.id, &outliers("5")).await.unwrap();
    assert_eq!(five[0].status, FlagStatus::Resolved);
    assert_eq!(
        repo.flags(event.id, &outliers("4")).await.unwrap()[0].status,
        FlagStatus::Dismissed
    );
    assert_eq!(
        outcome.changed_entries.len(),
        4,
        "bib 5 changed with the field"
    );
    assert!(repo
        .flags(event.id, &outliers("6"))
        .await
        .unwrap()
        .is_empty());

    // A correction that moves the median is followed too, even made by another instance:
    // ignoring bib 3's RUN1 leaves 225, 225, 225, 250, 750, 750, 2,250 (median 250 s) — 750 s
    // is 3×, flagged on 1 and 2.
    let other = SeaRepository::new(repo.connection().clone()).await.unwrap();
    correct(
        &other,
        &event,
        "3",
        CorrectionAction::IgnoreRead {
            point: point("RUN1"),
            at: at(750),
        },
    )
    .await
    .unwrap();
    for bib in ["1", "2"] {
        let flags = repo.flags(event.id, &outliers(bib)).await.unwrap();
        assert_eq!(flags.len(), 1, "bib {bib}");
        assert_eq!(flags[0].status, FlagStatus::Open);
    }
    // This instance's field is older than the event now: the next write rebuilds it rather
    // than judge bib 1 against a median that included bib 3's ignored read.
    let mut skierg_in = first_runs(&[("1", 810)]);
    skierg_in.remove(0);
    skierg_in[0].point_index = 2;
    skierg_in[0].detection.point = point("SKIERG_IN");
    repo.ingest(&event, skierg_in).await.unwrap();
    let one = repo.flags(event.id, &outliers("1")).await.unwrap();
    assert_eq!(one[0].status, FlagStatus::Open);
}

#[tokio::test]
async fn a_timeline_stored_before_finishes_were_kept_reads_back() {
    use sea_orm::{ConnectionTrait, Statement};
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    repo.ingest(&event, full_race("1", 0)).await.unwrap();
    let before = row(&repo, &event, "1").await;
    assert_eq!(before.status, EntryStatus::Finished);
    // The form stored by earlier versions: the earliest read per point, as a bare array.
    let earliest: Vec<i64> = (0..25).map(|i| at(10 + i * 300).0).collect();
    let db = repo.connection();
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!(
            "UPDATE entry_states SET point_times = '{}' WHERE bib = '1'",
            serde_json::to_string(&earliest).unwrap()
        ),
    ))
    .await
    .unwrap();
    // A later read at the finish mat is a repeat: the finish and net time stand.
    let mut repeat = full_race("1", 0).pop().unwrap();
    repeat.detection.at = at(10 + 24 * 300 + 40);
    repeat.index = 0;
    repo.ingest(&event, vec![repeat]).await.unwrap();
    let after = row(&repo, &event, "1").await;
    assert_eq!(after.status, EntryStatus::Finished);
    assert_eq!(after.net_time_ms, before.net_time_ms);
}

/// `(segment, span, kind, duration)` of an entry's splits in the `segment_times` view, in
/// course order.
async fn segment_rows(
    repo: &SeaRepository,
    event: &Event,
    bib: &str,
) -> Vec<(String, i32, String, i64)> {
    use podium_persistence::entities::{entries, segment_times};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let entry = entries::Entity::find()
        .filter(entries::Column::EventId.eq(event.id))
        .filter(entries::Column::Bib.eq(bib))
        .one(repo.connection())
        .await
        .unwrap()
        .unwrap();
    segment_times::Entity::find()
        .filter(segment_times::Column::EntryId.eq(entry.id))
        .order_by_asc(segment_times::Column::SegIndex)
        .all(repo.connection())
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(
                (r.event_id, r.athlete_id, r.season),
                (event.id, entry.athlete_id, 2026)
            );
            assert_eq!((r.category.as_str(), r.gender.as_str()), ("OPEN", "WOMEN"));
            (r.segment, r.span, r.kind, r.duration_ms)
        })
        .collect()
}

/// An admin's amendment of an official result.
async fn amend(
    repo: &SeaRepository,
    event: &Event,
    bib: &str,
    action: CorrectionAction,
) -> Result<Correction, RepoError> {
    let event = repo.event(event.id).await.unwrap().unwrap();
    repo.apply_correction(
        &event,
        NewCorrection {
            bib: Bib::parse(bib).unwrap(),
            action,
            reason: "video review".into(),
            author: "admin-1".into(),
            may_amend: true,
        },
    )
    .await
}

async fn make_official(repo: &SeaRepository, event: &Event) {
    for status in [EventStatus::Provisional, EventStatus::Official] {
        repo.transition_event(event.id, status).await.unwrap();
    }
}

#[tokio::test]
async fn the_segment_table_holds_official_results_and_follows_every_amendment() {
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    // Bib 1 finishes in order; bib 2's reads arrive late and backwards, a few at a time (its
    // FINISH read first).
    repo.ingest(&event, full_race("1", 0)).await.unwrap();
    let mut late = full_race("2", 5);
    late.reverse();
    for batch in late.chunks(3) {
        let event = repo.event(event.id).await.unwrap().unwrap();
        repo.ingest(&event, batch.to_vec()).await.unwrap();
    }
    assert!(
        segment_rows(&repo, &event, "1").await.is_empty(),
        "a live event's analytics come from its entries, not from the table"
    );
    make_official(&repo, &event).await;
    let codes: Vec<String> = Course::hyrox_standard()
        .segments()
        .iter()
        .map(|s| s.code.clone())
        .collect();
    let every: Vec<(String, i32, String, i64)> = codes
        .iter()
        .map(|c| (c.clone(), 1, "MEASURED".to_owned(), 300_000))
        .collect();
    assert_eq!(segment_rows(&repo, &event, "1").await, every);
    assert_eq!(segment_rows(&repo, &event, "2").await, every);

    // Ignoring the RUN3 read merges RUN_3 and ROXZONE_3 into one split.
    let run3 = Course::hyrox_standard().index_of("RUN3").unwrap() as i64;
    amend(
        &repo,
        &event,
        "1",
        CorrectionAction::IgnoreRead {
            point: point("RUN3"),
            at: at(10 + run3 * 300),
        },
    )
    .await
    .unwrap();
    let rows = segment_rows(&repo, &event, "1").await;
    assert_eq!(rows.len(), 23);
    let merged = rows.iter().find(|r| r.0 == "RUN_3").unwrap();
    assert_eq!(
        merged,
        &("RUN_3".to_owned(), 2, "MERGED".to_owned(), 600_000)
    );
    assert!(!rows.iter().any(|r| r.0 == "ROXZONE_3"));
    assert_eq!(
        segment_rows(&repo, &event, "2").await,
        every,
        "bib 2 untouched"
    );

    // Undoing it brings the two measured splits back.
    let corrections = repo
        .corrections(&event, Some(&Bib::parse("1").unwrap()))
        .await
        .unwrap();
    amend(
        &repo,
        &event,
        "1",
        CorrectionAction::Undo(corrections[0].id),
    )
    .await
    .unwrap();
    assert_eq!(segment_rows(&repo, &event, "1").await, every);

    // A disqualified entry is no longer finished: its rows go.
    amend(
        &repo,
        &event,
        "1",
        CorrectionAction::Decide(EntryStatus::Dsq),
    )
    .await
    .unwrap();
    assert!(segment_rows(&repo, &event, "1").await.is_empty());
}

#[tokio::test]
async fn a_database_from_before_the_segment_table_is_filled_once() {
    use podium_persistence::entities::result_splits;
    use sea_orm::{ConnectionTrait, EntityTrait};
    let repo = repo().await;
    let event = event(&repo, Course::hyrox_standard()).await;
    repo.ingest(&event, full_race("1", 0)).await.unwrap();
    make_official(&repo, &event).await;
    let before = segment_rows(&repo, &event, "1").await;
    assert_eq!(before.len(), 24);
    // As a database migrated from before the table: no rows, the official event listed.
    result_splits::Entity::delete_many()
        .exec(repo.connection())
        .await
        .unwrap();
    let list = sea_orm::sea_query::Query::insert()
        .into_table(sea_orm::sea_query::Alias::new("segment_times_pending"))
        .columns([sea_orm::sea_query::Alias::new("event_id")])
        .values_panic([event.id.into()])
        .to_owned();
    let db = repo.connection();
    db.execute(db.get_database_backend().build(&list))
        .await
        .unwrap();
    assert_eq!(repo.backfill_segment_times().await.unwrap(), 1);
    assert_eq!(segment_rows(&repo, &event, "1").await, before);
    assert_eq!(repo.backfill_segment_times().await.unwrap(), 0, "only once");
}
