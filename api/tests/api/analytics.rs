//! Race analytics: `segmentStats` against a plain sort-and-interpolate over the same races,
//! computed here from the reads themselves (a segment counts when both of its mats were read
//! and the entry finished), for a division and for the whole field.

use crate::helpers::{read, TestApp};
use podium_domain::course::Course;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const STATS: &str = "query($id: ID!, $g: Gender) { segmentStats(eventId: $id, gender: $g) {
    segment count meanMs stddevMs minMs p10Ms p25Ms medianMs p75Ms p90Ms maxMs
    histogram(buckets: 5) { fromMs toMs count } } }";

/// The `p`-th percentile of ascending `v`, interpolated between the closest ranks.
fn percentile(v: &[i64], p: f64) -> f64 {
    let rank = p / 100.0 * (v.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    v[low] as f64 + (v[high] - v[low]) as f64 * (rank - rank.floor())
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|a| (a - b).abs() < 1e-6 * b.abs().max(1.0))
}

#[tokio::test]
async fn segment_stats_equal_a_plain_computation_over_the_measured_splits() {
    let app = TestApp::spawn().await;
    let event = app.create_event(None).await;
    let course = Course::hyrox_standard();
    let points: Vec<String> = course.points().iter().map(|p| p.to_string()).collect();
    let segments: Vec<String> = course.segments().iter().map(|s| s.code.clone()).collect();
    let bibs: Vec<String> = (1..=60).map(|n| n.to_string()).collect();
    let entries: Vec<(&str, &str, &str, i32)> = bibs
        .iter()
        .enumerate()
        .map(|(n, bib)| {
            let gender = if n % 3 == 0 { "WOMEN" } else { "MEN" };
            (bib.as_str(), "OPEN", gender, 1980 + (n % 20) as i32)
        })
        .collect();
    app.add_entries(&event, &entries).await;

    let mut rng = StdRng::seed_from_u64(16);
    // Per entry: gender, then the instant of each point read (None: the mat missed it).
    let mut races: Vec<(&str, Vec<Option<i64>>)> = Vec::new();
    let mut reads = Vec::new();
    for (bib, _, gender, _) in &entries {
        let mut t = 0i64;
        let mut at = vec![Some(0)];
        for code in &segments {
            let (low, high) = if code.starts_with("RUN_") {
                (200, 420)
            } else if code.starts_with("ROXZONE_") {
                (20, 70)
            } else {
                (150, 400)
            };
            t += rng.gen_range(low..high);
            at.push(Some(t));
        }
        // A few missed mats (never the start or the finish) and a few who stop racing.
        if rng.gen_bool(0.3) {
            let missed = rng.gen_range(1..points.len() - 1);
            at[missed] = None;
        }
        if rng.gen_bool(0.1) {
            let stop = rng.gen_range(5..points.len() - 1);
            for slot in at.iter_mut().skip(stop) {
                *slot = None;
            }
        }
        for (point, t) in points.iter().zip(&at) {
            if let Some(t) = t {
                reads.push(read(bib, point, *t));
            }
        }
        races.push((gender, at));
    }
    for batch in reads.chunks(500) {
        let report = app.ingest_json(&event, Value::Array(batch.to_vec())).await;
        assert_eq!(report["rejected"], json!([]), "{report}");
    }

    for gender in [None, Some("WOMEN")] {
        // Seconds → milliseconds, per segment, then the totals.
        let mut expected: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (g, at) in &races {
            if gender.is_some_and(|want| want != *g) || at.last().unwrap().is_none() {
                continue;
            }
            let measured: Vec<Option<i64>> = at
                .windows(2)
                .map(|w| Some((w[1]? - w[0]?) * 1000))
                .collect();
            for (code, d) in segments.iter().zip(&measured) {
                if let Some(d) = d {
                    expected.entry(code.clone()).or_default().push(*d);
                }
            }
            for (total, prefix) in [("RUNS", "RUN_"), ("ROXZONE", "ROXZONE_")] {
                let parts: Option<i64> = segments
                    .iter()
                    .zip(&measured)
                    .filter(|(c, _)| c.starts_with(prefix))
                    .map(|(_, d)| *d)
                    .sum();
                if let Some(sum) = parts {
                    expected.entry(total.into()).or_default().push(sum);
                }
            }
            let stations: Option<i64> = segments
                .iter()
                .zip(&measured)
                .filter(|(c, _)| !c.starts_with("RUN_") && !c.starts_with("ROXZONE_"))
                .map(|(_, d)| *d)
                .sum();
            if let Some(sum) = stations {
                expected.entry("STATIONS".into()).or_default().push(sum);
            }
            expected
                .entry("TOTAL".into())
                .or_default()
                .push(at.last().unwrap().unwrap() * 1000);
        }
        let stats =
            app.gql(STATS, json!({ "id": event, "g": gender })).await["segmentStats"].clone();
        let rows = stats.as_array().unwrap();
        assert_eq!(
            rows.len(),
            segments.len() + 4,
            "every segment and the totals"
        );
        for row in rows {
            let segment = row["segment"].as_str().unwrap();
            let mut v = expected.get(segment).cloned().unwrap_or_default();
            v.sort_unstable();
            assert_eq!(row["count"], v.len(), "{segment}");
            if v.is_empty() {
                continue;
            }
            let n = v.len() as f64;
            let mean = v.iter().sum::<i64>() as f64 / n;
            assert!(close(&row["meanMs"], mean), "{segment}: {row}");
            if v.len() > 1 {
                let var = v.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
                assert!(close(&row["stddevMs"], var.sqrt()), "{segment}: {row}");
            }
            assert_eq!(row["minMs"], v[0]);
            assert_eq!(row["maxMs"], *v.last().unwrap());
            for (field, p) in [
                ("p10Ms", 10.0),
                ("p25Ms", 25.0),
                ("medianMs", 50.0),
                ("p75Ms", 75.0),
                ("p90Ms", 90.0),
            ] {
                assert!(
                    close(&row[field], percentile(&v, p)),
                    "{segment} {field}: {row}"
                );
            }
            let histogram = row["histogram"].as_array().unwrap();
            let counted: u64 = histogram.iter().map(|b| b["count"].as_u64().unwrap()).sum();
            assert_eq!(counted as usize, v.len(), "{segment}");
            assert_eq!(histogram[0]["fromMs"], v[0]);
            assert_eq!(histogram.last().unwrap()["toMs"], *v.last().unwrap());
        }
    }
}
