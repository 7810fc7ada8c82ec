//! Activity files — GPX (the `gpx` crate), TCX (Garmin's XML, read with `roxmltree`) and FIT
//! (`fitparser`) — read into track points and a sport, recognised by their content. The
//! summary is `podium_domain::training::summarize`'s.

use podium_domain::training::TrackPoint;

/// A file's track and the sport it names, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityFile {
    pub format: &'static str,
    pub sport: Option<String>,
    pub points: Vec<TrackPoint>,
}

/// Reads an activity file, telling the format from its content; the error says what is wrong.
pub fn read(bytes: &[u8]) -> Result<ActivityFile, String> {
    if bytes.len() >= 12 && &bytes[8..12] == b".FIT" {
        return read_fit(bytes);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the file is neither FIT nor UTF-8 XML (GPX, TCX)".to_owned())?;
    if text.contains("<TrainingCenterDatabase") {
        read_tcx(text)
    } else if text.contains("<gpx") {
        read_gpx(text)
    } else {
        Err("the file is not GPX, TCX or FIT".into())
    }
}

fn read_gpx(text: &str) -> Result<ActivityFile, String> {
    let gpx = gpx::read(text.as_bytes()).map_err(|e| format!("GPX: {e}"))?;
    let sport = gpx.tracks.iter().find_map(|t| t.type_.clone());
    let mut points = Vec::new();
    for segment in gpx.tracks.iter().flat_map(|t| &t.segments) {
        for waypoint in &segment.points {
            let Some(time) = waypoint.time else {
                continue;
            };
            let text = time.format().map_err(|e| format!("GPX: time: {e}"))?;
            let at = chrono::DateTime::parse_from_rfc3339(&text)
                .map_err(|e| format!("GPX: time `{text}`: {e}"))?;
            let position = waypoint.point();
            points.push(TrackPoint {
                at_ms: at.timestamp_millis(),
                position: Some((position.y(), position.x())),
                elevation_m: waypoint.elevation,
                heart_rate: None,
                distance_m: None,
            });
        }
    }
    // The `gpx` crate leaves extensions unread; devices put heart rate there
    // (Garmin's TrackPointExtension `<gpxtpx:hr>`): read it from the same timed points.
    let heart_rates = gpx_heart_rates(text)?;
    if heart_rates.len() == points.len() {
        for (point, hr) in points.iter_mut().zip(heart_rates) {
            point.heart_rate = hr;
        }
    }
    Ok(ActivityFile {
        format: "GPX",
        sport,
        points,
    })
}

/// Each timed track point's heart rate from its extensions, in file order.
fn gpx_heart_rates(text: &str) -> Result<Vec<Option<f64>>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("GPX: {e}"))?;
    Ok(doc
        .descendants()
        .filter(|n| n.tag_name().name() == "trkpt")
        .filter(|n| n.children().any(|c| c.tag_name().name() == "time"))
        .map(|point| {
            point
                .descendants()
                .find(|n| n.tag_name().name() == "hr")
                .and_then(|n| n.text())
                .and_then(|t| t.trim().parse::<f64>().ok())
        })
        .collect())
}

fn read_tcx(text: &str) -> Result<ActivityFile, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("TCX: {e}"))?;
    let child = |node: roxmltree::Node, name: &str| {
        node.children()
            .find(|c| c.tag_name().name() == name)
            .and_then(|c| c.text())
            .and_then(|t| t.trim().parse::<f64>().ok())
    };
    let sport = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Activity")
        .and_then(|n| n.attribute("Sport"))
        .map(str::to_owned);
    let mut points = Vec::new();
    for point in doc
        .descendants()
        .filter(|n| n.tag_name().name() == "Trackpoint")
    {
        let Some(time) = point
            .children()
            .find(|c| c.tag_name().name() == "Time")
            .and_then(|c| c.text())
        else {
            continue;
        };
        let at = chrono::DateTime::parse_from_rfc3339(time.trim())
            .map_err(|e| format!("TCX: Time `{time}`: {e}"))?;
        let position = point
            .children()
            .find(|c| c.tag_name().name() == "Position")
            .and_then(|p| Some((child(p, "LatitudeDegrees")?, child(p, "LongitudeDegrees")?)));
        let heart_rate = point
            .children()
            .find(|c| c.tag_name().name() == "HeartRateBpm")
            .and_then(|h| child(h, "Value"));
        points.push(TrackPoint {
            at_ms: at.timestamp_millis(),
            position,
            elevation_m: child(point, "AltitudeMeters"),
            heart_rate,
            distance_m: child(point, "DistanceMeters"),
        });
    }
    Ok(ActivityFile {
        format: "TCX",
        sport,
        points,
    })
}

fn read_fit(bytes: &[u8]) -> Result<ActivityFile, String> {
    use fitparser::profile::MesgNum;
    let records = fitparser::from_bytes(bytes).map_err(|e| format!("FIT: {e}"))?;
    let number = |record: &fitparser::FitDataRecord, name: &str| {
        record
            .fields()
            .iter()
            .find(|f| f.name() == name)
            .and_then(|f| TryInto::<f64>::try_into(f.value().clone()).ok())
    };
    // Positions are in semicircles: 2^31 of them make 180°.
    let degrees = |semicircles: f64| semicircles * 180.0 / 2f64.powi(31);
    let mut sport = None;
    let mut points = Vec::new();
    for record in &records {
        match record.kind() {
            MesgNum::Sport | MesgNum::Session if sport.is_none() => {
                sport = record
                    .fields()
                    .iter()
                    .find(|f| f.name() == "sport")
                    .map(|f| f.value().to_string());
            }
            MesgNum::Record => {
                let Some(time) = record.fields().iter().find_map(|f| match f.value() {
                    fitparser::Value::Timestamp(t) if f.name() == "timestamp" => Some(*t),
                    _ => None,
                }) else {
                    continue;
                };
                let position = number(record, "position_lat")
                    .zip(number(record, "position_long"))
                    .map(|(lat, lon)| (degrees(lat), degrees(lon)));
                points.push(TrackPoint {
                    at_ms: time.timestamp_millis(),
                    position,
                    elevation_m: number(record, "enhanced_altitude")
                        .or_else(|| number(record, "altitude")),
                    heart_rate: number(record, "heart_rate"),
                    distance_m: number(record, "distance"),
                });
            }
            _ => {}
        }
    }
    Ok(ActivityFile {
        format: "FIT",
        sport,
        points,
    })
}
