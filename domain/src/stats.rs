//! Segment statistics of a field of entries: over **measured** segment durations only (a
//! segment between two accepted reads of a `FINISHED` entry, neither merged over a missed mat
//! nor estimated). Percentiles interpolate linearly between the closest ranks (PostgreSQL's
//! `percentile_cont`, numpy's default); the standard deviation is the sample one
//! (`stddev_samp`, n − 1).

use crate::course::Course;
use crate::engine::{EntryStatus, Progress};

/// The totals every course's statistics end with, after its segments.
pub const RUNS: &str = "RUNS";
pub const STATIONS: &str = "STATIONS";
pub const ROXZONE: &str = "ROXZONE";
pub const TOTAL: &str = "TOTAL";

/// The distribution of one segment (or total) over a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    pub segment: String,
    /// Ascending durations, in milliseconds.
    pub sorted: Vec<i64>,
}

/// One bucket of a histogram: `[from, to)`, the last one closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub from_ms: i64,
    pub to_ms: i64,
    pub count: usize,
}

impl Distribution {
    pub fn count(&self) -> usize {
        self.sorted.len()
    }

    pub fn min(&self) -> Option<i64> {
        self.sorted.first().copied()
    }

    pub fn max(&self) -> Option<i64> {
        self.sorted.last().copied()
    }

    pub fn mean(&self) -> Option<f64> {
        let n = self.sorted.len();
        (n > 0).then(|| self.sorted.iter().map(|&v| v as f64).sum::<f64>() / n as f64)
    }

    /// The sample standard deviation; `None` below two values.
    pub fn stddev(&self) -> Option<f64> {
        let n = self.sorted.len();
        if n < 2 {
            return None;
        }
        let mean = self.mean()?;
        let squares: f64 = self.sorted.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
        Some((squares / (n - 1) as f64).sqrt())
    }

    /// The `p`-th percentile (0–100), interpolated linearly between the closest ranks.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
        let low = rank.floor() as usize;
        let high = rank.ceil() as usize;
        let (a, b) = (self.sorted[low] as f64, self.sorted[high] as f64);
        Some(a + (b - a) * (rank - low as f64))
    }

    /// `buckets` equal-width buckets from the minimum to the maximum (one bucket when they are
    /// equal); empty without values.
    pub fn histogram(&self, buckets: usize) -> Vec<Bucket> {
        let (Some(min), Some(max)) = (self.min(), self.max()) else {
            return Vec::new();
        };
        let buckets = if max == min { 1 } else { buckets.max(1) };
        let width = ((max - min) as f64 / buckets as f64).max(1.0);
        let edge = |k: usize| {
            if k == buckets {
                max
            } else {
                min + (width * k as f64).round() as i64
            }
        };
        let mut out: Vec<Bucket> = (0..buckets)
            .map(|k| Bucket {
                from_ms: edge(k),
                to_ms: edge(k + 1),
                count: 0,
            })
            .collect();
        for &v in &self.sorted {
            let k = out.iter().position(|b| v < b.to_ms).unwrap_or(buckets - 1);
            out[k].count += 1;
        }
        out
    }
}

/// The names of the rows statistics have for `course`: its segments, then `RUNS`,
/// `STATIONS`, `ROXZONE` and `TOTAL`.
pub fn row_names(course: &Course) -> Vec<String> {
    course
        .segments()
        .iter()
        .map(|s| s.code.clone())
        .chain([RUNS, STATIONS, ROXZONE, TOTAL].map(String::from))
        .collect()
}

/// Which total (`RUNS`, `STATIONS`, `ROXZONE`) each segment of `course` adds to; stations are
/// known only on the standard course.
fn total_of(course: &Course) -> Vec<Option<&'static str>> {
    course
        .segments()
        .iter()
        .map(|s| {
            if s.code.starts_with("RUN_") {
                Some(RUNS)
            } else if s.code.starts_with("ROXZONE_") {
                Some(ROXZONE)
            } else if course.code() == crate::course::HYROX_STANDARD {
                Some(STATIONS)
            } else {
                None
            }
        })
        .collect()
}

/// One entry's values in the rows of [`row_names`]: each measured segment, each total whose
/// parts are all measured, and the net time; `None` where unknown. An entry that has not
/// finished has no values (statistics are over finished entries).
pub fn entry_values(course: &Course, progress: &Progress) -> Vec<Option<i64>> {
    let segments = course.segments().len();
    let mut values = vec![None; segments + 4];
    if progress.status != EntryStatus::Finished {
        return values;
    }
    values[..segments].copy_from_slice(&crate::field::measured(progress, segments));
    let kinds = total_of(course);
    for (t, total) in [RUNS, STATIONS, ROXZONE].iter().enumerate() {
        let parts: Vec<Option<i64>> = (0..segments)
            .filter(|&k| kinds[k] == Some(*total))
            .map(|k| values[k])
            .collect();
        if !parts.is_empty() {
            values[segments + t] = parts.into_iter().sum::<Option<i64>>();
        }
    }
    values[segments + 3] = progress.net_time.map(|d| d.0);
    values
}

/// The distributions of every segment of `course` and of the totals (`RUNS`, `STATIONS`,
/// `ROXZONE`: an entry counts in a total when each of its segments is measured; `TOTAL`: the
/// net time), over the `FINISHED` entries among `field`.
pub fn segment_distributions<'a>(
    course: &Course,
    field: impl IntoIterator<Item = &'a Progress>,
) -> Vec<Distribution> {
    let names = row_names(course);
    let mut values: Vec<Vec<i64>> = vec![Vec::new(); names.len()];
    for progress in field {
        for (k, v) in entry_values(course, progress).into_iter().enumerate() {
            if let Some(v) = v {
                values[k].push(v);
            }
        }
    }
    names
        .into_iter()
        .zip(values)
        .map(|(segment, mut sorted)| {
            sorted.sort_unstable();
            Distribution { segment, sorted }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(values: &[i64]) -> Distribution {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        Distribution {
            segment: "X".into(),
            sorted,
        }
    }

    #[test]
    fn percentiles_interpolate_like_percentile_cont() {
        // numpy.percentile([1, 2, 3, 4], [10, 25, 50, 75, 90]) = 1.3, 1.75, 2.5, 3.25, 3.7
        let d = dist(&[4, 1, 3, 2]);
        let got: Vec<f64> = [10.0, 25.0, 50.0, 75.0, 90.0]
            .iter()
            .map(|p| d.percentile(*p).unwrap())
            .collect();
        for (g, e) in got.iter().zip([1.3, 1.75, 2.5, 3.25, 3.7]) {
            assert!((g - e).abs() < 1e-9, "{got:?}");
        }
        assert_eq!(d.mean(), Some(2.5));
        // Sample standard deviation of 1..4: sqrt(5/3).
        assert!((d.stddev().unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(dist(&[7]).stddev(), None);
        assert_eq!(dist(&[]).percentile(50.0), None);
    }

    #[test]
    fn histograms_cover_every_value_once() {
        let d = dist(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let h = d.histogram(4);
        assert_eq!(h.len(), 4);
        assert_eq!(h.iter().map(|b| b.count).sum::<usize>(), 11);
        assert_eq!((h[0].from_ms, h[3].to_ms), (0, 10));
        assert!(h.windows(2).all(|w| w[0].to_ms == w[1].from_ms));
        assert_eq!(dist(&[5, 5]).histogram(20).len(), 1);
        assert!(dist(&[]).histogram(20).is_empty());
    }
}
