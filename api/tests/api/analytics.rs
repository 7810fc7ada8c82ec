//! Race analytics: `segmentStats` against a plain sort-and-interpolate over the same races,
//! computed here from the reads themselves (a segment counts when both of its mats were read
//! and the entry finished), for a division and for the whole field.

use crate::helpers::{error_code, read, TestApp};
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

/// Per entry of a simulated race: bib, gender, then the instant (s) of each point read (None:
/// the mat missed it).
type Race = (String, &'static str, Vec<Option<i64>>);

/// An event of 60 OPEN entries (every third WOMEN) racing with random splits, a few missed
/// mats and a few who stop; its reads ingested.
async fn simulated_race(app: &TestApp) -> (String, Vec<Race>) {
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
    let mut races: Vec<Race> = Vec::new();
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
        let gender = if *gender == "WOMEN" { "WOMEN" } else { "MEN" };
        races.push((bib.to_string(), gender, at));
    }
    for batch in reads.chunks(500) {
        let report = app.ingest_json(&event, Value::Array(batch.to_vec())).await;
        assert_eq!(report["rejected"], json!([]), "{report}");
    }
    (event, races)
}

/// A race's measured segment times (ms): both mats read.
fn measured(at: &[Option<i64>]) -> Vec<Option<i64>> {
    at.windows(2)
        .map(|w| Some((w[1]? - w[0]?) * 1000))
        .collect()
}

#[tokio::test]
async fn segment_stats_equal_a_plain_computation_over_the_measured_splits() {
    let app = TestApp::spawn().await;
    let (event, races) = simulated_race(&app).await;
    let segments: Vec<String> = Course::hyrox_standard()
        .segments()
        .iter()
        .map(|s| s.code.clone())
        .collect();

    for gender in [None, Some("WOMEN")] {
        // Seconds → milliseconds, per segment, then the totals.
        let mut expected: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (_, g, at) in &races {
            if gender.is_some_and(|want| want != *g) || at.last().unwrap().is_none() {
                continue;
            }
            let measured = measured(at);
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

/// The median of ascending values, interpolated.
fn median(v: &[i64]) -> Option<f64> {
    (!v.is_empty()).then(|| percentile(v, 50.0))
}

const REPORT: &str = "query($id: ID!, $bib: String!) { raceReport(eventId: $id, bib: $bib) {
    bib status netTimeMs overallPercentile athlete { name }
    segments { segment durationMs fieldCount fieldMedianMs deltaMs percentile rank cohortMedianMs }
    cohort { size lowMs highMs windowPercent }
    runDegradation { ratio fieldMedian cohortMedian }
    roxzone { totalMs percentile }
    strengths { segment percentile versusOverall } weaknesses { segment percentile versusOverall }
    potentialGains { segment gainMs } pacing { runCv bestRun { segment durationMs } }
    previous { eventId } } }";

#[tokio::test]
async fn race_reports_equal_a_plain_computation_over_the_division() {
    let app = TestApp::spawn().await;
    let (event, races) = simulated_race(&app).await;
    let segments: Vec<String> = Course::hyrox_standard()
        .segments()
        .iter()
        .map(|s| s.code.clone())
        .collect();
    let finished: Vec<&Race> = races
        .iter()
        .filter(|r| r.2.last().unwrap().is_some())
        .collect();
    let mut checked = 0;
    for (bib, gender, at) in finished.iter().step_by(7) {
        let report =
            app.gql(REPORT, json!({ "id": event, "bib": bib })).await["raceReport"].clone();
        let net = at.last().unwrap().unwrap() * 1000;
        assert_eq!(report["netTimeMs"], net);
        let others: Vec<&Race> = finished
            .iter()
            .copied()
            .filter(|r| r.1 == *gender && r.0 != *bib)
            .collect();
        let nets: Vec<i64> = others
            .iter()
            .map(|r| r.2.last().unwrap().unwrap() * 1000)
            .collect();
        // The cohort: ±10 %, or ±15 % below 30 peers.
        let within = |pct: i64| {
            let (low, high) = (net * (100 - pct) / 100, (net * (100 + pct) + 99) / 100);
            nets.iter().filter(|t| low <= **t && **t <= high).count()
        };
        let (window, size) = if within(10) >= 30 {
            (10, within(10))
        } else {
            (15, within(15))
        };
        assert_eq!(
            report["cohort"]["size"], size,
            "{bib}: {}",
            report["cohort"]
        );
        assert_eq!(report["cohort"]["windowPercent"], window);
        let low = net * (100 - window as i64) / 100;
        let high = (net * (100 + window as i64) + 99) / 100;
        let in_cohort = |r: &&&Race| {
            let t = r.2.last().unwrap().unwrap() * 1000;
            low <= t && t <= high
        };

        let own = measured(at);
        let mut gains = Vec::new();
        for (k, code) in segments.iter().enumerate() {
            let row = &report["segments"][k];
            assert_eq!(row["segment"], *code);
            let mut field: Vec<i64> = others.iter().filter_map(|r| measured(&r.2)[k]).collect();
            field.sort_unstable();
            let mut cohort: Vec<i64> = others
                .iter()
                .filter(in_cohort)
                .filter_map(|r| measured(&r.2)[k])
                .collect();
            cohort.sort_unstable();
            match own[k] {
                None => {
                    assert_eq!(row["durationMs"], Value::Null, "{bib} {code}");
                    assert_eq!(row["percentile"], Value::Null, "{bib} {code}");
                }
                Some(d) => {
                    assert_eq!(row["durationMs"], d, "{bib} {code}");
                    let slower = field.iter().filter(|o| **o > d).count() as f64;
                    let ties = field.iter().filter(|o| **o == d).count() as f64;
                    let pct = 100.0 * (slower + ties / 2.0) / field.len() as f64;
                    assert!(
                        close(&row["percentile"], pct),
                        "{bib} {code}: {row} vs {pct}"
                    );
                    let faster = field.iter().filter(|o| **o < d).count();
                    assert_eq!(row["rank"], faster + 1, "{bib} {code}");
                    let mut all = field.clone();
                    all.push(d);
                    all.sort_unstable();
                    assert_eq!(row["fieldCount"], all.len());
                    assert!(close(&row["fieldMedianMs"], median(&all).unwrap()), "{row}");
                    assert!(
                        close(&row["deltaMs"], d as f64 - median(&all).unwrap()),
                        "{row}"
                    );
                    if let Some(m) = median(&cohort) {
                        assert!(close(&row["cohortMedianMs"], m), "{bib} {code}: {row}");
                        if d as f64 > m {
                            gains.push((code.clone(), (d as f64 - m).round() as i64));
                        }
                    }
                }
            }
        }
        gains.sort_by_key(|g| std::cmp::Reverse(g.1));
        let got: Vec<(String, i64)> = report["potentialGains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["segment"].as_str().unwrap().to_owned(),
                    g["gainMs"].as_i64().unwrap(),
                )
            })
            .collect();
        let got_amounts: Vec<i64> = got.iter().map(|g| g.1).collect();
        let expected_amounts: Vec<i64> = gains.iter().map(|g| g.1).collect();
        assert_eq!(got_amounts, expected_amounts, "{bib}");

        // Net time percentile, degradation, roxzone.
        let slower = nets.iter().filter(|t| **t > net).count() as f64;
        let ties = nets.iter().filter(|t| **t == net).count() as f64;
        let overall = 100.0 * (slower + ties / 2.0) / nets.len() as f64;
        assert!(close(&report["overallPercentile"], overall), "{report}");
        let runs = |m: &[Option<i64>]| Some(m[21]? as f64 / m[0]? as f64 - 1.0);
        match runs(&own) {
            Some(r) => assert!(close(&report["runDegradation"]["ratio"], r)),
            None => assert_eq!(report["runDegradation"]["ratio"], Value::Null),
        }
        let roxzone: Option<i64> = (0..8).map(|n| own[3 * n + 1]).sum();
        assert_eq!(report["roxzone"]["totalMs"], json!(roxzone));
        for s in report["strengths"].as_array().unwrap() {
            assert!(s["percentile"].as_f64().unwrap() > overall, "{s}");
        }
        for s in report["weaknesses"].as_array().unwrap() {
            assert!(s["percentile"].as_f64().unwrap() < overall, "{s}");
        }
        assert_eq!(report["previous"], json!([]));
        checked += 1;
    }
    assert!(checked >= 5, "reports checked: {checked}");

    // A bib that is not registered has no report.
    let none = app.gql(REPORT, json!({ "id": event, "bib": "999" })).await;
    assert_eq!(none["raceReport"], Value::Null);
}

#[tokio::test]
async fn a_private_athletes_report_is_theirs_their_coaches_and_admins() {
    let app = TestApp::spawn().await;
    let (event, _) = simulated_race(&app).await;
    let ids = app.athlete_ids(&event).await;
    let token = app.athlete_token(&ids["2"]);
    let (_, body) = app
        .graphql_as(
            Some(&token),
            "mutation { setAthletePrivacy(private: true) { private } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["setAthletePrivacy"]["private"], true, "{body}");
    let vars = json!({ "id": event, "bib": "2" });
    let (_, anonymous) = app.graphql_as(None, REPORT, vars.clone()).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{anonymous}");
    let coach = app.token(podium_api::auth::Role::Coach, vec![]);
    let (_, stranger) = app.graphql_as(Some(&coach), REPORT, vars.clone()).await;
    assert_eq!(error_code(&stranger), "FORBIDDEN", "{stranger}");
    let (_, own) = app.graphql_as(Some(&token), REPORT, vars.clone()).await;
    assert_eq!(own["data"]["raceReport"]["bib"], "2", "{own}");
    let admin = app.gql(REPORT, vars).await;
    assert_eq!(admin["raceReport"]["bib"], "2");
    // A public athlete's report is public like their result.
    let (_, public) = app
        .graphql_as(None, REPORT, json!({ "id": event, "bib": "3" }))
        .await;
    assert_eq!(public["data"]["raceReport"]["bib"], "3", "{public}");
}

#[tokio::test]
async fn compared_results_line_up_segments_and_cumulative_gaps() {
    let app = TestApp::spawn().await;
    let (event, races) = simulated_race(&app).await;
    let picked: Vec<&Race> = races.iter().take(3).collect();
    let bibs: Vec<&str> = picked.iter().map(|r| r.0.as_str()).collect();
    let data = app
        .gql(
            "query($id: ID!, $bibs: [String!]!) { compareResults(eventId: $id, bibs: $bibs) {
                entries { bib netTimeMs } segments { segment durationsMs cumulativeMs gapsMs } } }",
            json!({ "id": event, "bibs": bibs }),
        )
        .await["compareResults"]
        .clone();
    assert_eq!(data["entries"].as_array().unwrap().len(), 3);
    for (k, row) in data["segments"].as_array().unwrap().iter().enumerate() {
        let cumulative: Vec<Option<i64>> = picked
            .iter()
            .map(|r| r.2[k + 1].map(|t| t * 1000))
            .collect();
        let leader = cumulative.iter().flatten().min().copied();
        for (n, race) in picked.iter().enumerate() {
            assert_eq!(row["durationsMs"][n], json!(measured(&race.2)[k]), "{row}");
            assert_eq!(row["cumulativeMs"][n], json!(cumulative[n]), "{row}");
            let gap = cumulative[n].zip(leader).map(|(c, l)| c - l);
            assert_eq!(row["gapsMs"][n], json!(gap), "{row}");
        }
    }
    let (_, one) = app
        .graphql_as(
            None,
            "query($id: ID!) { compareResults(eventId: $id, bibs: [\"1\"]) { segments { segment } } }",
            json!({ "id": event }),
        )
        .await;
    assert_eq!(error_code(&one), "BAD_USER_INPUT", "{one}");
}

#[tokio::test]
async fn stats_exports_list_every_division_as_segment_stats_shows_it() {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    let app = TestApp::spawn().await;
    let (event, _) = simulated_race(&app).await;
    let get = |path: String, etag: Option<String>| {
        let mut request = Request::get(path);
        if let Some(tag) = etag {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        app.request(request.body(Body::empty()).unwrap())
    };
    let (status, headers, body) = get(format!("/v1/events/{event}/stats.json"), None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let json: Value = serde_json::from_slice(&body).unwrap();
    let lines = json["stats"].as_array().unwrap();
    for gender in ["MEN", "WOMEN"] {
        let expected = app
            .gql(
                "query($id: ID!, $g: Gender) { segmentStats(eventId: $id, category: OPEN, gender: $g) {
                    segment count meanMs medianMs p90Ms minMs maxMs } }",
                json!({ "id": event, "g": gender }),
            )
            .await["segmentStats"]
            .clone();
        let got: Vec<&Value> = lines.iter().filter(|l| l["gender"] == gender).collect();
        assert_eq!(got.len(), expected.as_array().unwrap().len(), "{gender}");
        for (line, row) in got.iter().zip(expected.as_array().unwrap()) {
            assert_eq!(line["category"], "OPEN");
            for key in [
                "segment", "count", "meanMs", "medianMs", "p90Ms", "minMs", "maxMs",
            ] {
                assert_eq!(line[key], row[key], "{gender} {key}: {line} vs {row}");
            }
        }
    }
    assert_eq!(json["event"]["final"], false);

    let (status, _, csv) = get(format!("/v1/events/{event}/stats.csv?gender=WOMEN"), None).await;
    assert_eq!(status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        &header[..5],
        ["category", "gender", "ageGroup", "segment", "count"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 28, "one division: 24 segments and 4 totals");
    assert!(records.iter().all(|r| &r[1] == "WOMEN"));

    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let (status, _, _) = get(format!("/v1/events/{event}/stats.json"), Some(etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, body) = get(format!("/v1/events/{event}/stats.json?gender=X"), None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );
}

/// GET `path` as `token` (anonymous without): status, content type, body.
async fn get_as(app: &TestApp, token: Option<&str>, path: &str) -> (u16, String, String) {
    use axum::body::Body;
    use axum::http::{header, Request};
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, headers, body) = app.request(request.body(Body::empty()).unwrap()).await;
    let kind = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status.as_u16(), kind, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn charts_are_svg_documents_with_the_athlete_marked_and_follow_privacy() {
    let app = TestApp::spawn().await;
    let (event, races) = simulated_race(&app).await;
    let (bib, _, _) = races
        .iter()
        .find(|r| r.1 == "MEN" && r.2.last().unwrap().is_some() && measured(&r.2)[8].is_some())
        .unwrap();
    let report = app.gql(REPORT, json!({ "id": event, "bib": bib })).await["raceReport"].clone();
    let skierg = &report["segments"][2];
    assert_eq!(skierg["segment"], "SKIERG");

    let path = format!("/v1/events/{event}/charts/SKIERG.svg?category=OPEN&gender=MEN&bib={bib}");
    let (status, kind, svg) = get_as(&app, None, &path).await;
    assert_eq!((status, kind.as_str()), (200, "image/svg+xml"), "{svg}");
    let doc = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let marker = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("athlete-marker"))
        .expect("the athlete is marked");
    assert_eq!(marker.tag_name().name(), "line");
    let label: String = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("athlete-label"))
        .unwrap()
        .text()
        .unwrap()
        .to_owned();
    let seconds = (skierg["durationMs"].as_f64().unwrap() / 1000.0).round() as i64;
    assert!(
        label.contains(&format!("#{bib}: {}:{:02}", seconds / 60, seconds % 60)),
        "{label}"
    );
    let pct = format!("{:.0} %", skierg["percentile"].as_f64().unwrap());
    assert!(label.contains(&pct), "{label} vs {pct}");
    // One bar per histogram bucket holding a value: as many finishers as measured it.
    let bars = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rect" && n.attribute("fill") == Some("#4c78a8"))
        .count();
    assert!(bars > 1 && bars <= 24, "{bars} bars");

    let (status, kind, svg) = get_as(
        &app,
        None,
        &format!("/v1/events/{event}/results/{bib}/report.svg"),
    )
    .await;
    assert_eq!((status, kind.as_str()), (200, "image/svg+xml"), "{svg}");
    let doc = roxmltree::Document::parse(&svg).expect("the report is well-formed XML");
    assert!(doc
        .descendants()
        .any(|n| n.attribute("id") == Some("athlete-marker")));
    let labels: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(
        labels.contains(&"WALL_BALLS") && labels.contains(&"RUN_1"),
        "{labels:?}"
    );
    let measured_bars = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("percentile"))
        .count();
    let with_percentile = report["segments"].as_array().unwrap()[..24]
        .iter()
        .filter(|s| !s["percentile"].is_null())
        .count();
    assert_eq!(measured_bars, with_percentile);

    // Unknown segment; a private athlete marked only for those who may see their analytics.
    let (status, _, body) = get_as(&app, None, &format!("/v1/events/{event}/charts/SKI.svg")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("SKIERG"), "names the segments: {body}");
    let ids = app.athlete_ids(&event).await;
    let token = app.athlete_token(&ids[bib.as_str()]);
    app.graphql_as(
        Some(&token),
        "mutation { setAthletePrivacy(private: true) { private } }",
        json!({}),
    )
    .await;
    let (status, _, _) = get_as(&app, None, &path).await;
    assert_eq!(status, 401);
    let (status, _, svg) = get_as(&app, Some(&token), &path).await;
    assert_eq!(status, 200, "{svg}");
    let (status, _, svg) = get_as(
        &app,
        None,
        &format!("/v1/events/{event}/charts/SKIERG.svg?gender=MEN"),
    )
    .await;
    assert_eq!(status, 200, "the distribution stays public: {svg}");
    assert!(!svg.contains("athlete-marker"));
}
