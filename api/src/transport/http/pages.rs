//! Pages for people, a reference client of podium's own API: `/` (the events, live first),
//! `/events/{eventId}/live` (the big-screen leaderboard), `/events/{eventId}/athletes/{bib}`
//! (one athlete's race) and `/events/{eventId}/report` (the event's statistics), and GraphiQL.
//!
//! Each page is rendered on the server from podium's GraphQL schema as an anonymous caller
//! sees it (privacy is the API's), so it works without JavaScript as a snapshot; `live.js`
//! then follows the event over graphql-ws (`leaderboardUpdates` / `entryUpdates`, resumed by
//! `afterSeq`) and asks `/graphql` again. Every asset is built into the binary (no CDN) and
//! served under `/assets/`; the pages carry a strict `Content-Security-Policy` (scripts and
//! styles from podium only, no inline script).

use super::HttpState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::transport::graphql::limits::Meter;
use crate::transport::PeerIp;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt::Write;

/// The pages' policy: everything from podium itself, nothing inline, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// GraphiQL's: its stylesheet embeds fonts and images as data URIs and its editor sets styles.
const GRAPHIQL_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                            img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                            base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// An embedded asset: its bytes, media type, and whether they are stored gzip-compressed.
struct Asset {
    bytes: &'static [u8],
    media: &'static str,
    gzip: bool,
}

fn asset(name: &str) -> Option<Asset> {
    let (bytes, media, gzip): (&'static [u8], &str, bool) = match name {
        "site.css" => (
            include_bytes!("../../../assets/site.css"),
            "text/css",
            false,
        ),
        "favicon.svg" => (
            include_bytes!("../../../assets/favicon.svg"),
            "image/svg+xml",
            false,
        ),
        "live.js" => (
            include_bytes!("../../../assets/live.js"),
            "text/javascript",
            false,
        ),
        "graphiql-init.js" => (
            include_bytes!("../../../assets/graphiql-init.js"),
            "text/javascript",
            false,
        ),
        "graphql-ws.min.js" => (
            include_bytes!("../../../assets/vendor/graphql-ws.min.js.gz"),
            "text/javascript",
            true,
        ),
        "graphiql.min.js" => (
            include_bytes!("../../../assets/vendor/graphiql.min.js.gz"),
            "text/javascript",
            true,
        ),
        "graphiql.min.css" => (
            include_bytes!("../../../assets/vendor/graphiql.min.css.gz"),
            "text/css",
            true,
        ),
        "react.production.min.js" => (
            include_bytes!("../../../assets/vendor/react.production.min.js.gz"),
            "text/javascript",
            true,
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../../assets/vendor/react-dom.production.min.js.gz"),
            "text/javascript",
            true,
        ),
        _ => return None,
    };
    Some(Asset { bytes, media, gzip })
}

/// `GET /assets/{file}`: cached for a day (the files change only with podium).
pub async fn assets(Path(file): Path<String>) -> Result<Response, ApiError> {
    let Some(a) = asset(&file) else {
        return Err(ApiError::NotFound(format!("/assets/{file}")));
    };
    let mut response = a.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&format!("{}; charset=utf-8", a.media))
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if a.gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `m:ss` or `h:mm:ss` (the charts' format); empty for no time.
fn clock(ms: Option<i64>) -> String {
    ms.map(|ms| super::charts::short(ms as f64))
        .unwrap_or_default()
}

fn page(title: &str, body: &str, scripts: &[&str]) -> Response {
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · podium</title><link rel=\"icon\" href=\"/assets/favicon.svg\">\
         <link rel=\"stylesheet\" href=\"/assets/site.css\"></head>\
         <body>{body}",
        esc(title)
    );
    for script in scripts {
        let _ = write!(html, "<script src=\"/assets/{script}\"></script>");
    }
    html.push_str("</body></html>\n");
    html_response(html, CSP)
}

fn html_response(html: String, csp: &'static str) -> Response {
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Runs a query as an anonymous caller sees it, charged to the visitor's address like one.
async fn query(
    s: &HttpState,
    peer: Option<std::net::IpAddr>,
    text: &str,
    variables: Value,
) -> Result<Value, ApiError> {
    let principal = Principal::anonymous();
    let meter = Meter::new(&s.app.limits, &principal, peer);
    let request = async_graphql::Request::new(text)
        .variables(async_graphql::Variables::from_json(variables))
        .data(principal)
        .data(meter);
    let response = s.schema.execute(request).await;
    if let Some(error) = response.errors.first() {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|c| c.to_string())
            .unwrap_or_default();
        return Err(if code.contains("NOT_FOUND") {
            ApiError::NotFound(error.message.clone())
        } else {
            ApiError::BadRequest(error.message.clone())
        });
    }
    response
        .data
        .into_json()
        .map_err(|e| ApiError::Internal(e.into()))
}

fn status_badge(status: &str, live: bool) -> String {
    let state = if live { "reconnecting" } else { "static" };
    let text = if live { "connecting" } else { status };
    format!("<span id=\"status\" class=\"status {state}\" role=\"status\" aria-live=\"polite\">{}</span>", esc(text))
}

/// `GET /`: the events, live ones first.
pub async fn index(State(s): State<HttpState>, PeerIp(peer): PeerIp) -> Result<Response, ApiError> {
    let data = query(
        &s,
        peer,
        "{ events(first: 200) { id name startsAt status } }",
        json!({}),
    )
    .await?;
    let mut events: Vec<&Value> = data["events"].as_array().into_iter().flatten().collect();
    let order = |status: &str| match status {
        "LIVE" => 0,
        "PROVISIONAL" => 1,
        "SCHEDULED" => 2,
        "OFFICIAL" => 3,
        _ => 4,
    };
    events.sort_by_key(|e| order(e["status"].as_str().unwrap_or("")));
    let mut body = String::from(
        "<header><h1>podium</h1><span class=\"muted\">live results and race analytics</span>\
         <a href=\"/graphql\">GraphiQL</a></header><main><h2>Events</h2><ul class=\"events\">",
    );
    if events.is_empty() {
        body.push_str("<li>No events yet.</li>");
    }
    for e in events {
        let id = esc(e["id"].as_str().unwrap_or(""));
        let _ = write!(
            body,
            "<li><strong>{}</strong> <span class=\"muted\">{} · {}</span><br>\
             <a href=\"/events/{id}/live\">live leaderboard</a> · \
             <a href=\"/events/{id}/report\">report</a></li>",
            esc(e["name"].as_str().unwrap_or("")),
            esc(e["status"].as_str().unwrap_or("")),
            esc(e["startsAt"].as_str().unwrap_or("")),
        );
    }
    body.push_str("</ul></main>");
    Ok(page("Events", &body, &[]))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    category: Option<String>,
    gender: Option<String>,
    first: Option<u32>,
}

const DIVISIONS: [(&str, &str, &str); 6] = [
    ("All", "", ""),
    ("Open men", "OPEN", "MEN"),
    ("Open women", "OPEN", "WOMEN"),
    ("Pro men", "PRO", "MEN"),
    ("Pro women", "PRO", "WOMEN"),
    ("Doubles", "DOUBLES", ""),
];

const BOARD: &str = "query($e: ID!, $c: Category, $g: Gender, $n: Int) { event(id: $e) { name seq status } leaderboard(eventId: $e, category: $c, gender: $g, first: $n) { edges { node { rank bib status netTimeMs elapsedMs lastTimingPoint athlete { name } prediction { finishMs lowMs highMs } } } } }";

/// `GET /events/{eventId}/live[?category=&gender=&first=]`: the big-screen leaderboard.
pub async fn live(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path(event): Path<String>,
    params: Result<Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let first = params.first.unwrap_or(20).clamp(1, 100);
    let category = params.category.unwrap_or_default();
    let gender = params.gender.unwrap_or_default();
    let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let data = query(
        &s,
        peer,
        BOARD,
        json!({ "e": event, "c": some(&category), "g": some(&gender), "n": first }),
    )
    .await?;
    let ev = &data["event"];
    let id = esc(&event);
    let mut body = format!(
        "<header><h1>{}</h1>{}<span class=\"muted\">step <span id=\"seq\">{}</span></span>\
         <a href=\"/events/{id}/report\">report</a><a href=\"/\">all events</a></header><main \
         data-live=\"board\" data-event=\"{id}\" data-category=\"{}\" data-gender=\"{}\" \
         data-first=\"{first}\" data-seq=\"{}\"><nav class=\"tabs\" aria-label=\"Divisions\">",
        esc(ev["name"].as_str().unwrap_or("")),
        status_badge(ev["status"].as_str().unwrap_or(""), true),
        ev["seq"],
        esc(&category),
        esc(&gender),
        ev["seq"],
    );
    for (name, c, g) in DIVISIONS {
        let current = c == category && g == gender;
        let _ = write!(
            body,
            "<a href=\"/events/{id}/live?category={c}&amp;gender={g}&amp;first={first}\"{}>{name}</a>",
            if current { " aria-current=\"page\"" } else { "" }
        );
    }
    body.push_str(
        "</nav><table class=\"board\"><caption>Leaderboard</caption><thead><tr>\
         <th scope=\"col\" class=\"num\">Rank</th><th scope=\"col\" class=\"num\">Bib</th>\
         <th scope=\"col\">Name</th><th scope=\"col\" class=\"hide-narrow\">Last point</th>\
         <th scope=\"col\" class=\"num\">Time</th>\
         <th scope=\"col\" class=\"num hide-narrow\">Predicted finish</th></tr></thead><tbody id=\"rows\">",
    );
    for edge in data["leaderboard"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let n = &edge["node"];
        let rank = n["rank"].as_i64().map_or_else(
            || n["status"].as_str().unwrap_or("").to_owned(),
            |r| r.to_string(),
        );
        let time = n["netTimeMs"].as_i64().or(n["elapsedMs"].as_i64());
        let predicted = match (&n["prediction"], n["netTimeMs"].is_null()) {
            (p, true) if p.is_object() => format!(
                "{} ({}–{})",
                clock(p["finishMs"].as_i64()),
                clock(p["lowMs"].as_i64()),
                clock(p["highMs"].as_i64())
            ),
            _ => String::new(),
        };
        let _ = write!(
            body,
            "<tr data-bib=\"{bib}\" data-rank=\"{rank_attr}\"><td class=\"num\">{}</td><td class=\"num\">{bib}</td>\
             <td class=\"name\"><a href=\"/events/{id}/athletes/{bib}\">{}</a></td><td class=\"small hide-narrow\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num small hide-narrow\">{}</td></tr>",
            esc(&rank),
            esc(n["athlete"]["name"].as_str().unwrap_or("")),
            esc(n["lastTimingPoint"].as_str().unwrap_or("")),
            clock(time),
            predicted,
            bib = esc(n["bib"].as_str().unwrap_or("")),
            rank_attr = n["rank"].as_i64().map(|r| r.to_string()).unwrap_or_default(),
        );
    }
    body.push_str("</tbody></table></main>");
    Ok(page(
        ev["name"].as_str().unwrap_or("Live"),
        &body,
        &["graphql-ws.min.js", "live.js"],
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FragmentQuery {
    fragment: Option<u8>,
}

const RESULT: &str = "query($e: ID!, $b: String!) { event(id: $e) { name seq status course { timingPoints } } result(eventId: $e, bib: $b) { bib status netTimeMs elapsedMs lastTimingPoint category gender athlete { name } ranks { overall gender ageGroup } prediction { finishMs lowMs highMs projectedRank } splits { segment durationMs estimated } } }";

/// `GET /events/{eventId}/athletes/{bib}`: one athlete's race as it happens; `?fragment=1`
/// answers the part that changes (what the page's script fetches).
pub async fn athlete(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path((event, bib)): Path<(String, String)>,
    params: Result<Query<FragmentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let data = query(&s, peer, RESULT, json!({ "e": event, "b": bib })).await?;
    let r = &data["result"];
    if r.is_null() {
        return Err(ApiError::NotFound(format!("bib {bib} in event {event}")));
    }
    let id = esc(&event);
    let mut fragment = String::new();
    let finished = r["status"] == "FINISHED";
    // Where on the course: the last mat passed, as a bar of the course's timing points.
    let points: Vec<&str> = data["event"]["course"]["timingPoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let passed = r["lastTimingPoint"]
        .as_str()
        .and_then(|p| points.iter().position(|q| *q == p))
        .map_or(0, |i| i + 1);
    if !points.is_empty() {
        let _ = write!(
            fragment,
            "<p><label for=\"course\">On the course: {passed} of {} timing points</label> \
             <progress id=\"course\" max=\"{}\" value=\"{passed}\">{passed} of {}</progress></p>",
            points.len(),
            points.len(),
            points.len()
        );
    }
    let _ = write!(
        fragment,
        "<p><strong>{}</strong> · {} · {} {}</p>",
        esc(r["status"].as_str().unwrap_or("")),
        esc(r["lastTimingPoint"].as_str().unwrap_or("not started")),
        clock(r["netTimeMs"].as_i64().or(r["elapsedMs"].as_i64())),
        r["ranks"]["gender"]
            .as_i64()
            .map(|rank| format!(
                "· rank {rank} of {}",
                esc(r["gender"].as_str().unwrap_or("")).to_lowercase()
            ))
            .unwrap_or_default(),
    );
    if let Some(p) = r["prediction"].as_object().filter(|_| !finished) {
        let _ = write!(
            fragment,
            "<p>Predicted finish <strong>{}</strong> (80 %: {}–{})</p>",
            clock(p.get("finishMs").and_then(Value::as_i64)),
            clock(p.get("lowMs").and_then(Value::as_i64)),
            clock(p.get("highMs").and_then(Value::as_i64)),
        );
    }
    fragment.push_str(
        "<table><caption>Splits</caption><thead><tr><th scope=\"col\">Segment</th>\
         <th scope=\"col\" class=\"num\">Time</th></tr></thead><tbody>",
    );
    let splits = r["splits"].as_array().cloned().unwrap_or_default();
    if splits.is_empty() {
        fragment.push_str("<tr><td colspan=\"2\">No split yet.</td></tr>");
    }
    for split in &splits {
        let _ = write!(
            fragment,
            "<tr><td>{}</td><td class=\"num\">{}{}</td></tr>",
            esc(split["segment"].as_str().unwrap_or("")),
            clock(split["durationMs"].as_i64()),
            if split["estimated"] == true {
                " (est.)"
            } else {
                ""
            },
        );
    }
    fragment.push_str("</tbody></table>");
    if finished {
        let b = esc(&bib);
        let _ = write!(
            fragment,
            "<h2>Race report</h2><img class=\"chart\" src=\"/v1/events/{id}/results/{b}/report.svg\" \
             alt=\"Race report of bib {b}: percentile per segment against the division\">"
        );
    }
    if params.fragment == Some(1) {
        return Ok(html_response(fragment, CSP));
    }
    let ev = &data["event"];
    let body = format!(
        "<header><h1>{} <span class=\"muted\">#{}</span></h1>{}<a href=\"/events/{id}/live\">leaderboard</a>\
         <a href=\"/\">all events</a></header><main data-live=\"entry\" data-event=\"{id}\" \
         data-bib=\"{}\" data-seq=\"{}\"><p class=\"muted\">{} · {} {}</p><div id=\"fragment\">{fragment}</div></main>",
        esc(r["athlete"]["name"].as_str().unwrap_or("")),
        esc(&bib),
        status_badge(ev["status"].as_str().unwrap_or(""), true),
        esc(&bib),
        ev["seq"],
        esc(ev["name"].as_str().unwrap_or("")),
        esc(r["category"].as_str().unwrap_or("")),
        esc(r["gender"].as_str().unwrap_or("")),
    );
    Ok(page(
        r["athlete"]["name"].as_str().unwrap_or("Athlete"),
        &body,
        &["graphql-ws.min.js", "live.js"],
    ))
}

/// `GET /events/{eventId}/report`: the segment distributions of the event (`segmentStats`)
/// with their charts.
pub async fn report(
    State(s): State<HttpState>,
    PeerIp(peer): PeerIp,
    Path(event): Path<String>,
) -> Result<Response, ApiError> {
    let data = query(&s, peer,
        "query($e: ID!) { event(id: $e) { name status } segmentStats(eventId: $e) { segment count medianMs p10Ms p90Ms } }",
        json!({ "e": event }),
    )
    .await?;
    let id = esc(&event);
    let ev = &data["event"];
    let mut body = format!(
        "<header><h1>{} — report</h1>{}<a href=\"/events/{id}/live\">leaderboard</a><a href=\"/\">all events</a></header>\
         <main><table><caption>Segments, every finisher measured</caption><thead><tr>\
         <th scope=\"col\">Segment</th><th scope=\"col\" class=\"num\">Measured</th>\
         <th scope=\"col\" class=\"num\">Fastest 10 %</th><th scope=\"col\" class=\"num\">Median</th>\
         <th scope=\"col\" class=\"num\">Slowest 10 %</th></tr></thead><tbody>",
        esc(ev["name"].as_str().unwrap_or("")),
        status_badge(ev["status"].as_str().unwrap_or(""), false),
    );
    let stats = data["segmentStats"].as_array().cloned().unwrap_or_default();
    let ms = |v: &Value| v.as_f64().map(|f| f as i64);
    for d in &stats {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(d["segment"].as_str().unwrap_or("")),
            d["count"],
            clock(ms(&d["p10Ms"])),
            clock(ms(&d["medianMs"])),
            clock(ms(&d["p90Ms"])),
        );
    }
    body.push_str("</tbody></table><h2>Distributions</h2><div class=\"charts\">");
    for d in &stats {
        let segment = esc(d["segment"].as_str().unwrap_or(""));
        let _ = write!(
            body,
            "<img src=\"/v1/events/{id}/charts/{segment}.svg\" alt=\"Distribution of {segment} times\" loading=\"lazy\">"
        );
    }
    body.push_str("</div></main>");
    Ok(page(
        &format!("{} report", ev["name"].as_str().unwrap_or("")),
        &body,
        &[],
    ))
}

/// GraphiQL on `/graphql`, from the embedded assets.
pub fn graphiql() -> Response {
    html_response(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>podium · GraphiQL</title>\
         <link rel=\"icon\" href=\"/assets/favicon.svg\">\
         <link rel=\"stylesheet\" href=\"/assets/graphiql.min.css\"></head>\
         <body style=\"margin:0\"><div id=\"graphiql\" style=\"height:100vh\"></div>\
         <script src=\"/assets/react.production.min.js\"></script>\
         <script src=\"/assets/react-dom.production.min.js\"></script>\
         <script src=\"/assets/graphiql.min.js\"></script>\
         <script src=\"/assets/graphiql-init.js\"></script></body></html>\n"
            .to_owned(),
        GRAPHIQL_CSP,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            esc("<b onclick=\"x\">O'Neil & co</b>"),
            "&lt;b onclick=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/b&gt;"
        );
    }

    #[test]
    fn every_embedded_asset_is_there_and_compressed_ones_are_gzip() {
        for name in [
            "site.css",
            "favicon.svg",
            "live.js",
            "graphiql-init.js",
            "graphql-ws.min.js",
            "graphiql.min.js",
            "graphiql.min.css",
            "react.production.min.js",
            "react-dom.production.min.js",
        ] {
            let a = asset(name).unwrap_or_else(|| panic!("{name}"));
            assert!(!a.bytes.is_empty());
            assert_eq!(a.gzip, a.bytes.starts_with(&[0x1f, 0x8b]), "{name}");
        }
        assert!(asset("../Cargo.toml").is_none());
    }
}
