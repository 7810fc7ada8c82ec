//! Property tests: the outcome of a race depends on the set of reads, never on their arrival
//! order or on duplicates.

use podium_domain::corrections::{Correction, CorrectionAction, Ruling};
use podium_domain::course::Course;
use podium_domain::engine::{evaluate, Adjustments, Progress, Timeline};
use podium_domain::flags::{self, Flag};
use podium_domain::standings::rank_by;
use podium_domain::timing::Timestamp;
use podium_domain::timing::{Bib, DurationMs};
use proptest::prelude::*;
use uuid::Uuid;

const T0: i64 = 1_773_478_800_000;

/// Reads of one entry: (point index, offset ms), including out-of-order and repeated points.
fn reads() -> impl Strategy<Value = Vec<(usize, i64)>> {
    prop::collection::vec((0usize..25, 0i64..6_000_000), 0..40)
}

fn progress(course: &Course, reads: &[(usize, i64)]) -> Progress {
    let mut timeline = Timeline::new(course);
    for (point, offset) in reads {
        timeline.record(*point, Timestamp(T0 + offset));
    }
    evaluate(
        course,
        &timeline,
        Some(Timestamp(T0 - 5_000)),
        &Adjustments::default(),
    )
}

/// A plausible race of one entry with some mats missed and a few bogus reads mixed in:
/// `(point, offset ms)` per read, in the order the athlete produced them.
fn messy_race() -> impl Strategy<Value = Vec<(usize, i64)>> {
    let course = Course::hyrox_standard();
    let mins: Vec<i64> = course.segments().iter().map(|s| s.limits.min.0).collect();
    (
        prop::collection::vec(11u32..40, 24),
        prop::collection::vec(any::<bool>(), 25),
        prop::collection::vec((0usize..25, 0i64..7_200_000), 0..4),
        1usize..=24,
    )
        .prop_map(move |(factors, missed, bogus, reached)| {
            let mut t = 2_000;
            let mut reads = vec![(0, t)];
            for (k, f) in factors.iter().enumerate().take(reached) {
                t += mins[k] * i64::from(*f) / 10;
                reads.push((k + 1, t));
            }
            // Miss roughly one mat in eight (never all of them).
            let mut kept: Vec<(usize, i64)> = reads
                .iter()
                .zip(&missed)
                .enumerate()
                .filter(|(n, (_, m))| !**m || n % 8 != 0)
                .map(|(_, (r, _))| *r)
                .collect();
            kept.extend(bogus);
            kept
        })
}

/// An entry's progress and flags, folding `arrivals` one batch at a time, as ingest does.
fn outcome(course: &Course, batches: &[Vec<(usize, i64)>]) -> (Progress, Vec<Flag>) {
    let wave = Some(Timestamp(T0));
    let mut timeline = Timeline::new(course);
    for batch in batches {
        for (point, offset) in batch {
            timeline.record(*point, Timestamp(T0 + offset));
        }
    }
    let p = evaluate(course, &timeline, wave, &Adjustments::default());
    let f = flags::derive(course, &timeline, wave, &p);
    (p, f)
}

fn correction(n: u128, action: CorrectionAction) -> Correction {
    Correction {
        id: Uuid::from_u128(n),
        event_id: Uuid::nil(),
        entry_id: Uuid::nil(),
        bib: Bib::parse("1").unwrap(),
        action,
        reason: "property".into(),
        author: "official".into(),
        created_at: Timestamp(T0),
        seq: n as i64,
        amendment: false,
    }
}

/// `reads` in a shuffled order with some repeated (`dups[i]`: read `i` arrives twice), as a
/// venue network delivers them.
fn replay(reads: &[(usize, i64)], seed: u64, dups: &[bool]) -> Vec<(usize, i64)> {
    let mut replayed: Vec<(usize, i64)> = reads.to_vec();
    for (read, dup) in reads.iter().zip(dups) {
        if *dup {
            replayed.push(*read);
        }
    }
    let mut state = seed | 1;
    for i in (1..replayed.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        replayed.swap(i, (state % (i as u64 + 1)) as usize);
    }
    replayed
}

/// The timeline of `reads` recorded in the order `replay` gives them.
fn shuffled_timeline(
    course: &Course,
    reads: &[(usize, i64)],
    seed: u64,
    dups: &[bool],
) -> Timeline {
    let mut timeline = Timeline::new(course);
    for (point, offset) in replay(reads, seed, dups) {
        timeline.record(point, Timestamp(T0 + offset));
    }
    timeline
}

/// The least time the whole standard course takes, in ms.
fn race_minimum(course: &Course) -> i64 {
    course.min_between(0, course.finish_index()).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_offline_device_uploading_late_changes_nothing(
        race in messy_race(),
        offline in prop::collection::vec(any::<bool>(), 25),
        batch_size in 1usize..8,
    ) {
        let course = Course::hyrox_standard();
        let mut in_order = race.clone();
        in_order.sort_by_key(|(_, t)| *t);
        let expected = outcome(&course, &[in_order.clone()]);

        // Mats whose device was offline hold their reads and upload them in one batch an
        // hour later; the others stream in small batches as they happen.
        let (held, live): (Vec<_>, Vec<_>) =
            in_order.iter().partition(|(point, _)| offline[*point]);
        let upload_at = held.first().map_or(i64::MAX, |(_, t)| t + 3_600_000);
        let mut batches: Vec<Vec<(usize, i64)>> = Vec::new();
        let mut uploaded = false;
        for chunk in live.chunks(batch_size) {
            if !uploaded && chunk[0].1 >= upload_at {
                batches.push(held.clone());
                uploaded = true;
            }
            batches.push(chunk.to_vec());
        }
        if !uploaded {
            batches.push(held.clone());
        }
        prop_assert_eq!(outcome(&course, &batches), expected);
    }

    #[test]
    fn corrections_applied_mid_stream_equal_a_rebuild_from_all_reads(
        race in messy_race(),
        cut in 0usize..30,
        ignore in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        manual in prop::option::of((1usize..24, 0i64..7_200_000)),
    ) {
        let course = Course::hyrox_standard();
        let mut raw: Vec<(usize, Timestamp)> =
            race.iter().map(|(p, t)| (*p, Timestamp(T0 + t))).collect();
        raw.sort();
        raw.dedup();
        let cut = cut.min(raw.len());
        let (before, after) = raw.split_at(cut);

        // Corrections made after `cut` reads arrived: ignore some of those reads, add one
        // manual read.
        let mut list = Vec::new();
        if !before.is_empty() {
            for (n, i) in ignore.iter().enumerate() {
                let (point, at) = before[i.index(before.len())];
                list.push(correction(n as u128, CorrectionAction::IgnoreRead {
                    point: course.points()[point].clone(),
                    at,
                }));
            }
        }
        if let Some((point, offset)) = manual {
            list.push(correction(99, CorrectionAction::ManualRead {
                point: course.points()[point].clone(),
                at: Timestamp(T0 + offset),
            }));
        }
        let ruling = Ruling::of(&course, &list);

        // Incremental, as storage does it: rebuild at the correction, then merge new reads.
        let mut incremental = ruling.timeline(&course, before);
        for (point, at) in after {
            incremental.record(*point, *at);
        }
        prop_assert_eq!(&incremental, &ruling.timeline(&course, &raw));
        let p = evaluate(&course, &incremental, Some(Timestamp(T0)), &ruling.adjustments);
        for w in p.passed.windows(2) {
            prop_assert!(w[1].1.since(w[0].1) >= course.min_between(w[0].0, w[1].0));
        }
        prop_assert!(p.splits.iter().all(|s| s.duration >= DurationMs(0)));
    }

    #[test]
    fn any_permutation_with_duplicates_gives_the_same_progress(
        reads in reads(),
        shuffle_seed in any::<u64>(),
        dup_mask in prop::collection::vec(any::<bool>(), 40),
    ) {
        let course = Course::hyrox_standard();
        let expected = progress(&course, &reads);

        let replayed = replay(&reads, shuffle_seed, &dup_mask);
        prop_assert_eq!(progress(&course, &replayed), expected);
    }

    #[test]
    fn accepted_points_never_go_back_in_time_and_splits_add_up(reads in reads()) {
        let course = Course::hyrox_standard();
        let p = progress(&course, &reads);
        for w in p.passed.windows(2) {
            prop_assert!(w[0].0 < w[1].0);
            prop_assert!(w[0].1 <= w[1].1);
        }
        let total: i64 = p.splits.iter().map(|s| s.duration.0).sum();
        if let (Some(first), Some(last)) = (p.passed.first(), p.passed.last()) {
            prop_assert_eq!(total, last.1.0 - first.1.0);
        }
        if let Some(net) = p.net_time {
            prop_assert_eq!(Some(net), p.elapsed);
        }
    }

    #[test]
    fn ranks_are_competition_ranks_whatever_the_input_order(mut times in prop::collection::vec(0i64..50, 0..60)) {
        let ranked = rank_by(&times, |t| Some(*t), |_| 0);
        for (pos, (index, rank)) in ranked.iter().enumerate() {
            let better = times.iter().filter(|t| **t < times[*index]).count() as u32;
            prop_assert_eq!(rank.unwrap(), better + 1);
            if pos > 0 {
                prop_assert!(times[ranked[pos - 1].0] <= times[*index]);
            }
        }
        let before: Vec<Option<u32>> = {
            let mut by_value: Vec<(i64, Option<u32>)> = ranked.iter().map(|(i, r)| (times[*i], *r)).collect();
            by_value.sort();
            by_value.into_iter().map(|(_, r)| r).collect()
        };
        times.reverse();
        let again = rank_by(&times, |t| Some(*t), |_| 0);
        let mut by_value: Vec<(i64, Option<u32>)> = again.iter().map(|(i, r)| (times[*i], *r)).collect();
        by_value.sort();
        let after: Vec<Option<u32>> = by_value.into_iter().map(|(_, r)| r).collect();
        prop_assert_eq!(before, after);
    }

    #[test]
    fn intermediate_reads_before_a_plausible_finish_never_change_the_result(
        start in 0i64..60_000,
        race in 0i64..7_200_000,
        intermediate in prop::collection::vec((1usize..24, -3_600_000i64..1), 0..40),
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<bool>(), 42),
        with_start_read in any::<bool>(),
    ) {
        let course = Course::hyrox_standard();
        let finish = start + race_minimum(&course) + race;
        let mut reads = vec![(24, finish)];
        if with_start_read {
            reads.push((0, start));
        }
        // Any points, any times before the finish (offsets are relative to it).
        reads.extend(intermediate.iter().map(|(p, back)| (*p, finish - 1 + back.min(&0))));
        let wave = Timestamp(T0 + start);
        let timeline = shuffled_timeline(&course, &reads, seed, &dups);
        let p = evaluate(&course, &timeline, Some(wave), &Adjustments::default());
        prop_assert_eq!(p.status, podium_domain::engine::EntryStatus::Finished);
        prop_assert_eq!(p.net_time, Some(DurationMs(finish - start)));
        prop_assert!(p.set_aside.iter().all(|a| a.point != 24));
        prop_assert_eq!(p.passed.last().copied(), Some((24, Timestamp(T0 + finish))));
    }

    #[test]
    fn a_stray_finish_followed_by_course_reads_never_finishes_and_the_real_one_counts(
        stray in 0i64..7_200_000,
        after in prop::collection::vec((1usize..24, 1i64..3_600_000), 1..10),
        before in prop::collection::vec((1usize..24, 0i64..7_200_000), 0..20),
        real_after in 0i64..600_000,
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<bool>(), 32),
    ) {
        let course = Course::hyrox_standard();
        let mut reads = vec![(0, 0), (24, stray)];
        reads.extend(before.iter().filter(|(_, t)| *t < stray));
        // At least one course read after the stray FINISH read.
        reads.extend(after.iter().map(|(p, later)| (*p, stray + later)));
        let wave = Some(Timestamp(T0));
        let timeline = shuffled_timeline(&course, &reads, seed, &dups);
        let p = evaluate(&course, &timeline, wave, &Adjustments::default());
        prop_assert_ne!(p.status, podium_domain::engine::EntryStatus::Finished);
        prop_assert_eq!(p.net_time, None);
        prop_assert!(p.set_aside.iter().any(|a| a.point == 24 && a.at == Timestamp(T0 + stray)));

        // The real finish: after every course read, and plausible against the start.
        let last_course = reads.iter().filter(|(p, _)| *p != 0 && *p != 24).map(|(_, t)| *t).max().unwrap();
        let real = last_course.max(race_minimum(&course)) + real_after;
        reads.push((24, real));
        let timeline = shuffled_timeline(&course, &reads, seed.rotate_left(7), &dups);
        let p = evaluate(&course, &timeline, wave, &Adjustments::default());
        prop_assert_eq!(p.status, podium_domain::engine::EntryStatus::Finished);
        prop_assert_eq!(p.net_time, Some(DurationMs(real)));
    }
}

/// A finished race from its 24 segment durations (seconds), with the mats at `missed` not read.
fn race_of(course: &Course, seconds: &[i64], missed: &[usize]) -> Progress {
    let mut timeline = Timeline::new(course);
    let mut t = T0;
    timeline.record(0, Timestamp(t));
    for (k, s) in seconds.iter().enumerate() {
        t += s * 1000;
        if !missed.contains(&(k + 1)) {
            timeline.record(k + 1, Timestamp(t));
        }
    }
    evaluate(
        course,
        &timeline,
        Some(Timestamp(T0)),
        &Adjustments::default(),
    )
}

/// A division of finished races: 24 segment times each (seconds, above every minimum of the course) and one mat missed
/// now and then (never the start or the finish).
fn division() -> impl Strategy<Value = Vec<(Vec<i64>, Option<usize>)>> {
    prop::collection::vec(
        (
            prop::collection::vec(160i64..400, 24),
            prop::option::weighted(0.2, 1usize..24),
        ),
        2..40,
    )
}

fn report_of(course: &Course, races: &[Progress], who: usize) -> podium_domain::report::RaceReport {
    use podium_domain::report::{race_report, Member};
    let bibs: Vec<String> = (0..races.len()).map(|n| n.to_string()).collect();
    let members: Vec<Member<'_>> = races
        .iter()
        .zip(&bibs)
        .map(|(progress, bib)| Member {
            bib,
            age_group: None,
            progress,
        })
        .collect();
    race_report(course, members[who], &members)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Percentiles are monotone: of two times against the same group, the faster one never
    /// has the lower percentile.
    #[test]
    fn a_faster_time_never_has_a_lower_percentile(
        mut others in prop::collection::vec(0i64..1000, 1..50),
        a in 0i64..1000,
        b in 0i64..1000,
    ) {
        use podium_domain::report::percentile_among;
        others.sort_unstable();
        let (fast, slow) = (a.min(b), a.max(b));
        prop_assert!(percentile_among(fast, &others) >= percentile_among(slow, &others));
    }

    /// A race report's segment rows equal a plain count over the division, merged splits are
    /// never counted, and a faster split never lowers the athlete's percentile on it.
    #[test]
    fn race_report_rows_equal_a_plain_count_and_reward_a_faster_split(
        field in division(),
        who in 0usize..40,
        segment in 0usize..24,
    ) {
        let course = Course::hyrox_standard();
        let who = who % field.len();
        let races: Vec<Progress> = field
            .iter()
            .map(|(s, missed)| race_of(&course, s, &missed.map(|m| vec![m]).unwrap_or_default()))
            .collect();
        let report = report_of(&course, &races, who);
        // A missed mat merges the two segments around it: neither is measured.
        let measured = |n: usize, k: usize| -> Option<i64> {
            let missed = field[n].1;
            (missed != Some(k) && missed != Some(k + 1)).then_some(field[n].0[k] * 1000)
        };
        for k in 0..24 {
            let row = &report.segments[k];
            let values: Vec<i64> = (0..field.len()).filter_map(|n| measured(n, k)).collect();
            prop_assert_eq!(row.field_count, values.len());
            prop_assert_eq!(row.duration_ms, measured(who, k));
            if let Some(own) = measured(who, k) {
                let others: Vec<i64> =
                    (0..field.len()).filter(|n| *n != who).filter_map(|n| measured(n, k)).collect();
                let slower = others.iter().filter(|o| **o > own).count() as f64;
                let ties = others.iter().filter(|o| **o == own).count() as f64;
                let expected = (!others.is_empty())
                    .then(|| 100.0 * (slower + ties / 2.0) / others.len() as f64);
                prop_assert_eq!(row.percentile, expected);
                prop_assert_eq!(
                    row.rank,
                    Some(1 + others.iter().filter(|o| **o < own).count() as u32)
                );
            } else {
                prop_assert_eq!(row.percentile, None);
            }
        }

        // The same race with one split 30 s faster (and the next 30 s slower, so the mats
        // around keep their order and the finish its time).
        if segment < 23 && field[who].0[segment] > 190 {
            let mut faster = field[who].0.clone();
            faster[segment] -= 30;
            faster[segment + 1] += 30;
            let mut improved = races.clone();
            improved[who] = race_of(&course, &faster, &field[who].1.map(|m| vec![m]).unwrap_or_default());
            let after = report_of(&course, &improved, who);
            prop_assert!(
                after.segments[segment].percentile >= report.segments[segment].percentile,
                "{:?} → {:?}", report.segments[segment], after.segments[segment]
            );
        }
    }
}
