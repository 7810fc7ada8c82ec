//! Charts as SVG, drawn server-side with the `svg` crate so they embed in an e-mail or a results
//! page: `GET /v1/events/{eventId}/charts/{segment}.svg?category=&gender=&ageGroup=&bib=` (the
//! segment's distribution in the division, the athlete marked) and
//! `GET /v1/events/{eventId}/results/{bib}/report.svg` (a one-page race report: percentile per
//! segment against the overall one, cohort, run degradation). The data and its privacy rules
//! are the GraphQL fields' (`segmentStats`, `raceReport`); `ETag` per event `seq` and viewer.
//! `GET /v1/athletes/{athleteId}/charts/load.svg?from=&to=` is an athlete's performance
//! management chart (CTL, ATL, TSB, daily BMQ), under `trainingLoad`'s access rules; `ETag`
//! per version of their data and viewer.

use crate::app::analytics::{race_report_of, segment_stats, ReportView};
use crate::app::athletes::shown_athlete;
use crate::app::exports::clock;
use crate::app::race;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::transport::http::exports::{export_response, not_modified};
use crate::transport::http::HttpState;
use crate::transport::PeerIp;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use podium_domain::division::{AgeGroup, Category, Gender};
use podium_domain::standings::LeaderboardFilter;
use serde::Deserialize;
use svg::node::element::{Circle, Line, Path as SvgPath, Rectangle, Text};
use svg::Document;

const WIDTH: f64 = 640.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const BAR: &str = "#4c78a8";
const MARK: &str = "#e45756";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChartQuery {
    category: Option<String>,
    gender: Option<String>,
    age_group: Option<String>,
    bib: Option<String>,
}

/// `m:ss` of a duration (`h:mm:ss` from an hour).
pub(super) fn short(ms: f64) -> String {
    let s = (ms / 1000.0).round() as i64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn text(x: f64, y: f64, size: u32, content: impl Into<String>) -> Text {
    Text::new(content.into())
        .set("x", x)
        .set("y", y)
        .set("font-family", FONT)
        .set("font-size", size)
        .set("fill", "#222")
}

/// An empty chart `height` pixels high, on white.
fn canvas(height: f64) -> Document {
    Document::new()
        .set("viewBox", (0, 0, WIDTH, height))
        .set("width", WIDTH)
        .set("height", height)
        .set("role", "img")
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "#fff"),
        )
}

async fn answer(
    s: &HttpState,
    principal: &Principal,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    etag: String,
    draw: impl std::future::Future<Output = Result<Document, ApiError>>,
) -> Result<Response, ApiError> {
    let decision = s.app.limits.charge_caller(principal, peer, 1).await;
    if !decision.allowed() {
        return Ok(super::error::rate_limited(&decision));
    }
    if let Some(unchanged) = not_modified(&etag, headers, &decision) {
        return Ok(unchanged);
    }
    let body = draw.await?.to_string().into_bytes();
    Ok(export_response(
        "image/svg+xml",
        &etag,
        "private, no-cache",
        body,
        &decision,
    ))
}

/// `GET /v1/events/{eventId}/charts/{segment}.svg`.
pub async fn segment_chart(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path((event, file)): Path<(String, String)>,
    query: Result<Query<ChartQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = crate::transport::principal(&s.app, &headers).await?;
    principal.require(Scope::ResultsRead)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let Some(segment) = file.strip_suffix(".svg") else {
        return Err(ApiError::NotFound(format!(
            "/v1/events/{event}/charts/{file} (charts are <segment>.svg)"
        )));
    };
    let filter = LeaderboardFilter {
        category: query
            .category
            .as_deref()
            .map(str::parse::<Category>)
            .transpose()?,
        gender: query
            .gender
            .as_deref()
            .map(str::parse::<Gender>)
            .transpose()?,
        age_group: query
            .age_group
            .as_deref()
            .map(str::parse::<AgeGroup>)
            .transpose()?,
    };
    let event_id = super::event_id(&event)?;
    let current = race::load_event(&s.app, event_id).await?;
    let etag = format!(
        "\"{}-{}-{}-{segment}-{:?}-{}\"",
        current.id.simple(),
        current.seq,
        principal.subject(),
        filter,
        query.bib.as_deref().unwrap_or("")
    )
    .replace(['{', '}', ' ', ':', ','], "");
    let draw = async {
        let stats = segment_stats(&s.app, event_id, filter).await?;
        let Some(d) = stats.iter().find(|d| d.segment == segment) else {
            let codes: Vec<&str> = stats.iter().map(|d| d.segment.as_str()).collect();
            return Err(ApiError::NotFound(format!(
                "segment `{segment}` (this course has {})",
                codes.join(", ")
            )));
        };
        let marker = match &query.bib {
            Some(bib) => {
                let Some(view) = race_report_of(&s.app, &principal, event_id, bib).await? else {
                    return Err(ApiError::NotFound(format!("bib {bib} in event {event_id}")));
                };
                let row = view.report.segments.iter().find(|r| r.segment == segment);
                Some((
                    bib.clone(),
                    row.and_then(|r| Some((r.duration_ms?, r.percentile))),
                ))
            }
            None => None,
        };
        let division = [
            filter.category.map(|c| c.as_str()),
            filter.gender.map(|g| g.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let title = format!(
            "{segment} — {} · {} finishers measured",
            if division.is_empty() {
                "all entries"
            } else {
                division.as_str()
            },
            d.count()
        );
        Ok(histogram(&title, d, marker))
    };
    answer(&s, &principal, peer, &headers, etag, draw).await
}

/// The athlete to mark: bib, and their time and percentile on the segment when measured.
type Marker = (String, Option<(i64, Option<f64>)>);

/// The distribution as bars, the athlete's time as a marked line.
fn histogram(
    title: &str,
    d: &podium_domain::stats::Distribution,
    marker: Option<Marker>,
) -> Document {
    let (height, left, right, top, bottom) = (360.0, 48.0, 16.0, 56.0, 300.0);
    let mut doc = canvas(height).add(text(left, 28.0, 18, title).set("font-weight", "600"));
    let buckets = d.histogram(24);
    let (Some(min), Some(max)) = (d.min(), d.max()) else {
        return doc.add(text(left, 160.0, 14, "No measured time yet."));
    };
    let peak = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let span = (max - min).max(1) as f64;
    let x = |ms: f64| left + (ms - min as f64) / span * (WIDTH - left - right);
    for b in &buckets {
        let h = b.count as f64 / peak * (bottom - top);
        let (x0, x1) = (
            x(b.from_ms as f64),
            x(b.to_ms as f64).max(x(b.from_ms as f64) + 2.0),
        );
        doc = doc.add(
            Rectangle::new()
                .set("x", x0 + 0.5)
                .set("y", bottom - h)
                .set("width", (x1 - x0 - 1.0).max(1.0))
                .set("height", h)
                .set("fill", BAR),
        );
    }
    doc = doc
        .add(
            Line::new()
                .set("x1", left)
                .set("x2", WIDTH - right)
                .set("y1", bottom)
                .set("y2", bottom)
                .set("stroke", "#444"),
        )
        .add(text(left, bottom + 18.0, 12, short(min as f64)))
        .add(text(
            WIDTH - right - 40.0,
            bottom + 18.0,
            12,
            short(max as f64),
        ))
        .add(text(8.0, top + 4.0, 12, format!("{}", peak as u64)));
    if let Some(median) = d.percentile(50.0) {
        doc = doc.add(
            text(
                x(median) - 40.0,
                bottom + 36.0,
                12,
                format!("median {}", short(median)),
            )
            .set("fill", "#555"),
        );
    }
    if let Some((bib, time)) = marker {
        let label = match time {
            Some((ms, percentile)) => {
                let mx = x(ms as f64);
                doc = doc.add(
                    Line::new()
                        .set("id", "athlete-marker")
                        .set("x1", mx)
                        .set("x2", mx)
                        .set("y1", top - 6.0)
                        .set("y2", bottom)
                        .set("stroke", MARK)
                        .set("stroke-width", 3),
                );
                match percentile {
                    Some(p) => format!(
                        "#{bib}: {} — faster than {p:.0} % of the others",
                        short(ms as f64)
                    ),
                    None => format!("#{bib}: {}", short(ms as f64)),
                }
            }
            None => format!("#{bib}: no measured time on this segment"),
        };
        doc = doc.add(
            text(left, 48.0, 13, label)
                .set("id", "athlete-label")
                .set("fill", MARK),
        );
    }
    doc
}

/// `GET /v1/events/{eventId}/results/{bib}/report.svg`.
pub async fn report_chart(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path((event, bib, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if file != "report.svg" {
        return Err(ApiError::NotFound(format!(
            "/v1/events/{event}/results/{bib}/{file} (the race report is report.svg)"
        )));
    }
    let principal = crate::transport::principal(&s.app, &headers).await?;
    principal.require(Scope::ResultsRead)?;
    let event_id = super::event_id(&event)?;
    let current = race::load_event(&s.app, event_id).await?;
    let etag = format!(
        "\"{}-{}-{}-{}\"",
        current.id.simple(),
        current.seq,
        principal.subject(),
        bib.replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    let draw = async {
        let Some(view) = race_report_of(&s.app, &principal, event_id, &bib).await? else {
            return Err(ApiError::NotFound(format!("bib {bib} in event {event_id}")));
        };
        Ok(report(&principal, &view))
    };
    answer(&s, &principal, peer, &headers, etag, draw).await
}

/// Percentile per segment as horizontal bars, the overall percentile as a line.
fn report(viewer: &Principal, view: &ReportView) -> Document {
    let r = &view.report;
    let e = &view.entry;
    let segments = view.event.course.segments().len();
    let (left, right, top, row) = (172.0, 24.0, 112.0, 18.0);
    let height = top + row * segments as f64 + 40.0;
    let shown = shown_athlete(viewer, e.athlete_id, e.athlete_name(), e.athlete_private);
    let mut doc = canvas(height).add(
        text(
            16.0,
            28.0,
            18,
            format!("{} · #{} · {}", shown.name, e.bib, view.event.name),
        )
        .set("font-weight", "600")
        .set("id", "athlete-label"),
    );
    let net = r.net_time_ms.map_or("not finished".to_owned(), clock);
    let overall = r.overall_percentile.map_or(String::new(), |p| {
        format!(" · faster than {p:.0} % of the division")
    });
    doc = doc.add(text(
        16.0,
        50.0,
        13,
        format!(
            "{} {} · net {net}{overall}",
            e.category.as_str(),
            e.gender.as_str()
        ),
    ));
    let cohort = match (r.cohort.low_ms, r.cohort.high_ms) {
        (Some(low), Some(high)) => format!(
            "cohort: {} peers finishing {}–{} (±{} %)",
            r.cohort.size,
            short(low as f64),
            short(high as f64),
            r.cohort.window_percent
        ),
        _ => "cohort: none until the finish".to_owned(),
    };
    let degradation = r.run_degradation.ratio.map_or(String::new(), |d| {
        format!(
            " · last run vs first {:+.0} % (division {})",
            d * 100.0,
            r.run_degradation
                .field_median
                .map_or("—".to_owned(), |m| format!("{:+.0} %", m * 100.0))
        )
    });
    doc = doc.add(text(16.0, 70.0, 13, format!("{cohort}{degradation}")));
    doc = doc.add(text(left, top - 10.0, 11, "0").set("fill", "#555"));
    doc = doc.add(text(WIDTH - right - 20.0, top - 10.0, 11, "100").set("fill", "#555"));
    let width = WIDTH - left - right;
    for (k, seg) in r.segments.iter().take(segments).enumerate() {
        let y = top + row * k as f64;
        doc = doc.add(text(16.0, y + 12.0, 12, seg.segment.clone()));
        doc = doc.add(
            Rectangle::new()
                .set("x", left)
                .set("y", y + 2.0)
                .set("width", width)
                .set("height", row - 4.0)
                .set("fill", "#eee"),
        );
        if seg.percentile.is_none() {
            doc = doc.add(text(left + 6.0, y + 12.0, 11, "not measured").set("fill", "#777"));
        }
        if let Some(p) = seg.percentile {
            doc = doc.add(
                Rectangle::new()
                    .set("class", "percentile")
                    .set("x", left)
                    .set("y", y + 2.0)
                    .set("width", width * p / 100.0)
                    .set("height", row - 4.0)
                    .set("fill", BAR),
            );
        }
    }
    if let Some(p) = r.overall_percentile {
        let x = left + width * p / 100.0;
        doc = doc.add(
            Line::new()
                .set("id", "athlete-marker")
                .set("x1", x)
                .set("x2", x)
                .set("y1", top - 4.0)
                .set("y2", top + row * segments as f64)
                .set("stroke", MARK)
                .set("stroke-width", 2),
        );
    }
    doc.add(
        text(16.0, height - 14.0, 11, "bars: percentile on each segment in the division (higher is faster); red line: overall")
            .set("fill", "#555"),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LoadChartQuery {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

/// `GET /v1/athletes/{athleteId}/charts/load.svg?from=&to=`: the last 16 weeks by default.
pub async fn load_chart(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path((athlete, file)): Path<(String, String)>,
    query: Result<Query<LoadChartQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = crate::transport::principal(&s.app, &headers).await?;
    principal.require(Scope::TrainingRead)?;
    if file != "load.svg" {
        return Err(ApiError::NotFound(format!(
            "/v1/athletes/{athlete}/charts/{file} (the athlete's chart is load.svg)"
        )));
    }
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let athlete_id = super::athlete_id(&athlete)?;
    crate::app::training::may_read(&s.app, &principal, athlete_id).await?;
    let to = query.to.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = query.from.unwrap_or(to - chrono::Duration::days(111));
    let version = s.app.wellness.wellness_version(athlete_id).await?;
    let etag = format!(
        "\"{}-{}-{}-{from}-{to}-{}\"",
        athlete_id.simple(),
        version.samples,
        version.last_recorded.map_or(0, |t| t.0),
        principal.subject(),
    )
    .replace(['{', '}', ' ', ':', ','], "");
    let draw = async {
        let days =
            crate::app::training::training_load(&s.app, &principal, athlete_id, from, to).await?;
        let bmq = crate::app::training::daily_bmq(&s.app, athlete_id, from, to).await?;
        Ok(load_svg(from, to, &days, &bmq))
    };
    answer(&s, &principal, peer, &headers, etag, draw).await
}

const CTL_COLOUR: &str = "#4c78a8";
const ATL_COLOUR: &str = "#e45756";
const TSB_COLOUR: &str = "#f2a93b";
const BMQ_COLOUR: &str = "#54a24b";

/// The performance management chart: CTL, ATL and TSB as lines on the left axis, the day's
/// mean BMQ as dots on the right axis (1–10).
fn load_svg(
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    days: &[crate::app::training::TrainingDay],
    bmq: &[(chrono::NaiveDate, f64)],
) -> Document {
    let (height, left, right, top, bottom) = (380.0, 52.0, WIDTH - 44.0, 64.0, 330.0);
    let mut doc = canvas(height).add(
        text(left, 28.0, 18, format!("Training load {from} – {to}")).set("font-weight", "600"),
    );
    let legend = [
        ("CTL (fitness)", CTL_COLOUR),
        ("ATL (fatigue)", ATL_COLOUR),
        ("TSB (form)", TSB_COLOUR),
        ("BMQ (right axis)", BMQ_COLOUR),
    ];
    for (i, (name, colour)) in legend.iter().enumerate() {
        let x = left + 140.0 * i as f64;
        doc = doc
            .add(
                Rectangle::new()
                    .set("x", x)
                    .set("y", 40.0)
                    .set("width", 12)
                    .set("height", 12)
                    .set("fill", *colour),
            )
            .add(text(x + 16.0, 50.0, 12, *name));
    }
    if days.is_empty() {
        return doc.add(text(left, 180.0, 14, "No training recorded in this range."));
    }
    let span = ((to - from).num_days().max(1)) as f64;
    let x_of = |d: chrono::NaiveDate| left + (right - left) * (d - from).num_days() as f64 / span;
    let values = days.iter().flat_map(|d| [d.day.ctl, d.day.atl, d.day.tsb]);
    let (low, high) = values.fold((0.0_f64, 10.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let y_of = |v: f64| bottom - (bottom - top) * (v - low) / (high - low);
    let bmq_y = |v: f64| bottom - (bottom - top) * (v - 1.0) / 9.0;
    // Axes: zero line, left ticks, right ticks.
    doc = doc.add(
        Line::new()
            .set("x1", left)
            .set("x2", right)
            .set("y1", y_of(0.0))
            .set("y2", y_of(0.0))
            .set("stroke", "#999"),
    );
    for i in 0..=4 {
        let v = low + (high - low) * f64::from(i) / 4.0;
        doc = doc
            .add(text(4.0, y_of(v) + 4.0, 11, format!("{v:.0}")))
            .add(text(
                right + 8.0,
                bmq_y(1.0 + 9.0 * f64::from(i) / 4.0) + 4.0,
                11,
                format!("{:.1}", 1.0 + 9.0 * f64::from(i) / 4.0),
            ));
    }
    doc = doc
        .add(text(left, bottom + 20.0, 11, from.to_string()))
        .add(text(right - 62.0, bottom + 20.0, 11, to.to_string()));
    let line = |pick: fn(&crate::app::training::TrainingDay) -> f64, colour: &str| {
        let d = days
            .iter()
            .enumerate()
            .map(|(i, day)| {
                format!(
                    "{}{:.1},{:.1}",
                    if i == 0 { "M" } else { "L" },
                    x_of(day.date),
                    y_of(pick(day))
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        SvgPath::new()
            .set("d", d)
            .set("fill", "none")
            .set("stroke", colour)
            .set("stroke-width", 2)
    };
    doc = doc
        .add(line(|d| d.day.ctl, CTL_COLOUR))
        .add(line(|d| d.day.atl, ATL_COLOUR))
        .add(line(|d| d.day.tsb, TSB_COLOUR));
    for (date, value) in bmq {
        doc = doc.add(
            Circle::new()
                .set("cx", format!("{:.1}", x_of(*date)))
                .set("cy", format!("{:.1}", bmq_y(*value)))
                .set("r", 3)
                .set("fill", BMQ_COLOUR)
                .set("class", "bmq"),
        );
    }
    doc
}
