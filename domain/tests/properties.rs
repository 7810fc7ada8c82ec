//! Property tests: the outcome of a race depends on the set of reads, never on their arrival
//! order or on duplicates.

use podium_domain::course::Course;
use podium_domain::engine::{evaluate, Adjustments, Progress, Timeline};
use podium_domain::standings::rank_by;
use podium_domain::timing::Timestamp;
use proptest::prelude::*;

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_permutation_with_duplicates_gives_the_same_progress(
        reads in reads(),
        shuffle_seed in any::<u64>(),
        dup_mask in prop::collection::vec(any::<bool>(), 40),
    ) {
        let course = Course::hyrox_standard();
        let expected = progress(&course, &reads);

        let mut replayed: Vec<(usize, i64)> = reads.clone();
        for (read, dup) in reads.iter().zip(&dup_mask) {
            if *dup {
                replayed.push(*read);
            }
        }
        let mut state = shuffle_seed | 1;
        for i in (1..replayed.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            replayed.swap(i, (state % (i as u64 + 1)) as usize);
        }
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
}
