//! Race reports and comparisons: one entry's race set against its division and its cohort of
//! peers, and several entries side by side.
//!
//! Statistics are over measured segment durations of finished entries (`stats::entry_values`).
//! An athlete's **percentile** on a row is `100 × (others slower + others equal / 2) / others`
//! — the share of the comparison group (themself included) they beat, ties counting half;
//! higher is better, and it is undefined when nobody else has the row. The **cohort** is the
//! division's other finishers within ±10 % of the athlete's net time, widened to ±15 % when
//! that holds fewer than [`COHORT_MIN`].

use crate::course::Course;
use crate::division::AgeGroup;
use crate::engine::Progress;
use crate::stats::{entry_values, row_names, Distribution, ROXZONE, TOTAL};

/// Below this many peers the cohort widens from ±10 % to ±15 %.
pub const COHORT_MIN: usize = 30;

/// The percentile of `value` against `others` (ascending), ties counting half.
pub fn percentile_among(value: i64, others: &[i64]) -> Option<f64> {
    if others.is_empty() {
        return None;
    }
    let faster_or_equal = others.partition_point(|&o| o <= value);
    let faster = others.partition_point(|&o| o < value);
    let slower = others.len() - faster_or_equal;
    let equal = faster_or_equal - faster;
    Some(100.0 * (slower as f64 + equal as f64 / 2.0) / others.len() as f64)
}

/// One plus the number of `others` (ascending) strictly faster than `value`.
pub fn rank_among(value: i64, others: &[i64]) -> u32 {
    others.partition_point(|&o| o < value) as u32 + 1
}

/// The median of ascending values, interpolated; `None` when empty.
fn median(sorted: &[i64]) -> Option<f64> {
    Distribution {
        segment: String::new(),
        sorted: sorted.to_vec(),
    }
    .percentile(50.0)
}

fn median_f64(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (values.len() - 1) as f64 / 2.0;
    let (low, high) = (values[rank.floor() as usize], values[rank.ceil() as usize]);
    Some(low + (high - low) * (rank - rank.floor()))
}

/// One member of the comparison group: an entry of the division, its age group and race.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub bib: &'a str,
    pub age_group: Option<AgeGroup>,
    pub progress: &'a Progress,
}

/// One row (a segment of the course or a total) of a race report.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentReport {
    pub segment: String,
    /// The athlete's measured time; `None` when the row was not measured for them.
    pub duration_ms: Option<i64>,
    /// The division's finishers who measured the row (the athlete included).
    pub field_count: usize,
    pub field_median_ms: Option<f64>,
    /// `duration − field median`: negative is faster.
    pub delta_ms: Option<f64>,
    pub percentile: Option<f64>,
    /// Place on this row within the division (1 + those strictly faster).
    pub rank: Option<u32>,
    pub cohort_median_ms: Option<f64>,
}

/// The peers an athlete is compared with: the net-time window and how many fall in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cohort {
    pub size: usize,
    pub low_ms: Option<i64>,
    pub high_ms: Option<i64>,
    /// The window's half-width in percent (10, or 15 when widened).
    pub window_percent: u32,
}

/// Last run over first run, minus one: how much the running slowed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunDegradation {
    pub ratio: Option<f64>,
    pub field_median: Option<f64>,
    pub cohort_median: Option<f64>,
}

/// A segment where the athlete stands apart from their overall percentile.
#[derive(Debug, Clone, PartialEq)]
pub struct Standout {
    pub segment: String,
    pub percentile: f64,
    /// Segment percentile minus overall percentile.
    pub versus_overall: f64,
}

/// Time to the cohort median on a segment where the athlete was slower.
#[derive(Debug, Clone, PartialEq)]
pub struct Gain {
    pub segment: String,
    pub gain_ms: i64,
}

/// One entry's race against its division.
#[derive(Debug, Clone, PartialEq)]
pub struct RaceReport {
    pub net_time_ms: Option<i64>,
    /// Percentile of the net time in the division, and in the athlete's age group of it.
    pub overall_percentile: Option<f64>,
    pub age_group_percentile: Option<f64>,
    /// Course segments, then `RUNS`, `STATIONS`, `ROXZONE`, `TOTAL`.
    pub segments: Vec<SegmentReport>,
    pub cohort: Cohort,
    pub run_degradation: RunDegradation,
    pub roxzone_ms: Option<i64>,
    pub roxzone_percentile: Option<f64>,
    /// Course segments above the overall percentile, furthest first.
    pub strengths: Vec<Standout>,
    /// Course segments below the overall percentile, furthest first.
    pub weaknesses: Vec<Standout>,
    /// Course segments slower than the cohort median, largest gain first.
    pub potential_gains: Vec<Gain>,
    /// Coefficient of variation (sample standard deviation ÷ mean) of the runs, when every run
    /// was measured.
    pub run_cv: Option<f64>,
    /// The fastest measured run.
    pub best_run: Option<(String, i64)>,
}

/// The report of `athlete` against `division` (every entry of the athlete's division; the
/// athlete may be among them, they are never compared with themself).
pub fn race_report(course: &Course, athlete: Member<'_>, division: &[Member<'_>]) -> RaceReport {
    let names = row_names(course);
    let segments = course.segments().len();
    let own = entry_values(course, athlete.progress);
    let others: Vec<(Member<'_>, Vec<Option<i64>>)> = division
        .iter()
        .filter(|m| m.bib != athlete.bib)
        .map(|m| (*m, entry_values(course, m.progress)))
        .filter(|(_, v)| v.iter().any(Option::is_some))
        .collect();
    let total = names.len() - 1;
    let net = own[total];

    let cohort = cohort_of(net, others.iter().filter_map(|(_, v)| v[total]));
    let in_cohort = |v: &[Option<i64>]| match (cohort.low_ms, cohort.high_ms, v[total]) {
        (Some(low), Some(high), Some(t)) => low <= t && t <= high,
        _ => false,
    };
    let column = |k: usize, pick: &dyn Fn(&Member<'_>, &[Option<i64>]) -> bool| {
        let mut out: Vec<i64> = others
            .iter()
            .filter(|(m, v)| pick(m, v))
            .filter_map(|(_, v)| v[k])
            .collect();
        out.sort_unstable();
        out
    };

    let rows: Vec<SegmentReport> = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let field = column(k, &|_, _| true);
            let peers = column(k, &|_, v| in_cohort(v));
            let mut all = field.clone();
            if let Some(v) = own[k] {
                let at = all.partition_point(|&o| o < v);
                all.insert(at, v);
            }
            let field_median = median(&all);
            SegmentReport {
                segment: name.clone(),
                duration_ms: own[k],
                field_count: all.len(),
                field_median_ms: field_median,
                delta_ms: own[k].zip(field_median).map(|(v, m)| v as f64 - m),
                percentile: own[k].and_then(|v| percentile_among(v, &field)),
                rank: own[k].map(|v| rank_among(v, &field)),
                cohort_median_ms: median(&peers),
            }
        })
        .collect();

    let overall_percentile = rows[total].percentile;
    let age_group_percentile = net.and_then(|v| {
        percentile_among(
            v,
            &column(total, &|m, _| {
                athlete.age_group.is_some() && m.age_group == athlete.age_group
            }),
        )
    });

    let runs: Vec<usize> = (0..segments)
        .filter(|&k| course.segments()[k].code.starts_with("RUN_"))
        .collect();
    let degradation = |v: &[Option<i64>]| -> Option<f64> {
        let (first, last) = (*runs.first()?, *runs.last()?);
        if first == last {
            return None;
        }
        Some(v[last]? as f64 / v[first]? as f64 - 1.0)
    };
    let mut field_ratios: Vec<f64> = others.iter().filter_map(|(_, v)| degradation(v)).collect();
    field_ratios.extend(degradation(&own));
    let mut cohort_ratios: Vec<f64> = others
        .iter()
        .filter(|(_, v)| in_cohort(v))
        .filter_map(|(_, v)| degradation(v))
        .collect();

    let (mut strengths, mut weaknesses) = (Vec::new(), Vec::new());
    if let Some(overall) = overall_percentile {
        for row in &rows[..segments] {
            if let Some(p) = row.percentile {
                let standout = Standout {
                    segment: row.segment.clone(),
                    percentile: p,
                    versus_overall: p - overall,
                };
                if p > overall {
                    strengths.push(standout);
                } else if p < overall {
                    weaknesses.push(standout);
                }
            }
        }
    }
    strengths.sort_by(|a, b| b.versus_overall.total_cmp(&a.versus_overall));
    weaknesses.sort_by(|a, b| a.versus_overall.total_cmp(&b.versus_overall));

    let mut potential_gains: Vec<Gain> = rows[..segments]
        .iter()
        .filter_map(|row| {
            let gain = row.duration_ms? as f64 - row.cohort_median_ms?;
            (gain > 0.0).then(|| Gain {
                segment: row.segment.clone(),
                gain_ms: gain.round() as i64,
            })
        })
        .collect();
    potential_gains.sort_by_key(|g| std::cmp::Reverse(g.gain_ms));

    let run_times: Option<Vec<i64>> = runs.iter().map(|&k| own[k]).collect();
    let run_cv = run_times.filter(|t| t.len() > 1).map(|t| {
        let d = Distribution {
            segment: String::new(),
            sorted: t,
        };
        d.stddev().unwrap_or(0.0) / d.mean().unwrap_or(1.0)
    });
    let best_run = runs
        .iter()
        .filter_map(|&k| Some((names[k].clone(), own[k]?)))
        .min_by_key(|(_, t)| *t);

    let roxzone = names.iter().position(|n| n == ROXZONE);
    debug_assert_eq!(names[total], TOTAL);
    RaceReport {
        net_time_ms: net,
        overall_percentile,
        age_group_percentile,
        cohort,
        run_degradation: RunDegradation {
            ratio: degradation(&own),
            field_median: median_f64(&mut field_ratios),
            cohort_median: median_f64(&mut cohort_ratios),
        },
        roxzone_ms: roxzone.and_then(|k| own[k]),
        roxzone_percentile: roxzone.and_then(|k| rows[k].percentile),
        strengths,
        weaknesses,
        potential_gains,
        run_cv,
        best_run,
        segments: rows,
    }
}

/// The cohort window around `net` over the other finishers' net times.
fn cohort_of(net: Option<i64>, others: impl Iterator<Item = i64> + Clone) -> Cohort {
    let Some(net) = net else {
        return Cohort::default();
    };
    let window = |percent: i64| {
        let (low, high) = (
            net * (100 - percent) / 100,
            (net * (100 + percent) + 99) / 100,
        );
        let size = others.clone().filter(|t| low <= *t && *t <= high).count();
        Cohort {
            size,
            low_ms: Some(low),
            high_ms: Some(high),
            window_percent: percent as u32,
        }
    };
    let narrow = window(10);
    if narrow.size >= COHORT_MIN {
        narrow
    } else {
        window(15)
    }
}

/// One segment of a comparison: each entry's time on it and where each stood at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedSegment {
    pub segment: String,
    /// Each entry's measured time on the segment (`None`: merged over a missed mat, estimated,
    /// or not raced).
    pub durations_ms: Vec<Option<i64>>,
    /// Each entry's elapsed time at the segment's end mat, when it was read there.
    pub cumulative_ms: Vec<Option<i64>>,
    /// Each entry's cumulative time minus the fastest cumulative time at that mat.
    pub gaps_ms: Vec<Option<i64>>,
}

/// Entries of one course side by side, segment by segment, with cumulative gaps.
pub fn compare(course: &Course, entries: &[&Progress]) -> Vec<ComparedSegment> {
    let segments = course.segments();
    let at_point = |p: &Progress, point: usize| -> Option<i64> {
        let start = p.start?;
        let (_, t) = p.passed.iter().find(|(k, _)| *k == point)?;
        Some(t.0 - start.0)
    };
    let measured: Vec<Vec<Option<i64>>> = entries
        .iter()
        .map(|p| crate::field::measured(p, segments.len()))
        .collect();
    segments
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let cumulative: Vec<Option<i64>> =
                entries.iter().map(|p| at_point(p, s.from + 1)).collect();
            let leader = cumulative.iter().flatten().min().copied();
            ComparedSegment {
                segment: s.code.clone(),
                durations_ms: measured.iter().map(|m| m[k]).collect(),
                gaps_ms: cumulative
                    .iter()
                    .map(|c| Some(c.as_ref()? - leader?))
                    .collect(),
                cumulative_ms: cumulative,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_counts_those_slower_and_half_the_ties() {
        // Others: 10, 20, 20, 30. At 20: one slower, two equal → (1 + 1) / 4.
        assert_eq!(percentile_among(20, &[10, 20, 20, 30]), Some(50.0));
        assert_eq!(percentile_among(5, &[10, 20]), Some(100.0));
        assert_eq!(percentile_among(50, &[10, 20]), Some(0.0));
        assert_eq!(percentile_among(50, &[]), None);
        assert_eq!(rank_among(20, &[10, 20, 20, 30]), 2);
        assert_eq!(rank_among(5, &[10]), 1);
    }

    #[test]
    fn the_cohort_widens_to_fifteen_percent_below_thirty_peers() {
        let net = 3_600_000;
        // 29 peers within 10 %, a few more within 15 %.
        let narrow = (0..29).map(|k| net - 100_000 + k * 1000);
        let wide = [net + 500_000, net - 500_000];
        let all: Vec<i64> = narrow.chain(wide).collect();
        let cohort = cohort_of(Some(net), all.iter().copied());
        assert_eq!((cohort.size, cohort.window_percent), (31, 15));
        assert_eq!(cohort.low_ms, Some(3_060_000));
        assert_eq!(cohort.high_ms, Some(4_140_000));
        let more: Vec<i64> = (0..30).map(|k| net + k * 1000).chain(wide).collect();
        let cohort = cohort_of(Some(net), more.iter().copied());
        assert_eq!((cohort.size, cohort.window_percent), (30, 10));
        assert_eq!(cohort_of(None, more.iter().copied()), Cohort::default());
    }
}
